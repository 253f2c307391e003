"""Two-stage detector kinds: Faster / Mask R-CNN's RPN, proposals, RoIAlign, heads.

The RoI stage folds the regions into the batch: ``MultiLevelRoIAlign`` turns
``B`` images with ``N`` boxes each into ``B·N`` crops ``(s, s, C)``, so the box
and mask heads are plain ``Flatten``/``Dense``/``Conv2D`` nodes, and the counts
the analysis gives for those nodes are *per region* (their "sample" is one RoI).
``RCNNDetections`` and ``RCNNMasks`` unfold them again using the static ``N``
(or ``D``) of the boxes they were cropped with.

Boxes are ``(y1, x1, y2, x2)`` normalised to [0, 1]; class index 0 of the heads
is the background, as in torchvision (see /work/notes/rcnn.md).

Multiply-adds per sample:

* RPNHead: its three convolutions on every level,
  ``Σ H·W·(9·C·C + C·A + C·4A)``.
* MultiLevelRoIAlign: each output element averages ``r²`` bilinear samples
  (``r`` = sampling ratio) of 4 multiply-adds each: ``4·r²`` per element.
* Proposals, RCNNDetections, RCNNMasks: decoding, sorting and NMS are not
  multiply-adds of a layer and are not counted (0), as pooling's comparisons
  are not.
"""

from __future__ import annotations

import math

from builder.blocks.params import pair
from builder.blocks.rules import expect_rank, fmt_shape
from builder.blocks.spec import BlockSpec, LayerCall, Param, ShapeIssue, WeightSpec
from builder.core.graph import PortSpec


def _ratios(value) -> list[float]:
    return [float(value)] if isinstance(value, (int, float)) else [float(v) for v in value]


def _levels(shapes, kind: str, what: str = "feature maps") -> int:
    """Checks FPN levels: image tensors with one known channel count; returns it."""
    if not shapes:
        raise ShapeIssue(f"{kind} expects one or more {what} (P2, P3, ...). Received: none",
                         fix="Connect the FPN outputs, finest first.")
    channels = set()
    for x in shapes:
        expect_rank(x, 4, kind, "FPN feature maps (height, width, channels)")
        channels.add(x[3])
    if None in channels or len(channels) != 1:
        raise ShapeIssue(
            f"{kind} needs {what} with one known channel count (the FPN width). "
            f"Received: {', '.join(fmt_shape(x) for x in shapes)}",
            fix="Give every FPN output the same number of filters.")
    return channels.pop()


# -- RPNHead ------------------------------------------------------------------

def _rpn_shape(p, ins, notes):
    _levels(ins, "RPNHead")
    a = p["anchors"]
    cells = [None if x[1] is None or x[2] is None else x[1] * x[2] for x in ins]
    total = None if None in cells else sum(cells) * a
    return [(ins[0][0], total), (ins[0][0], total, 4)]


def _rpn_weights(p, ins, outs):
    c, a = ins[0][3], p["anchors"]
    # One set of weights, shared by every level (torchvision's RPNHead).
    return [WeightSpec("conv_kernel", (3, 3, c, c)), WeightSpec("conv_bias", (c,)),
            WeightSpec("objectness_kernel", (1, 1, c, a)),
            WeightSpec("objectness_bias", (a,)),
            WeightSpec("deltas_kernel", (1, 1, c, 4 * a)),
            WeightSpec("deltas_bias", (4 * a,))]


def _rpn_flops(p, ins, outs):
    c, a = ins[0][3], p["anchors"]
    cells = sum((x[1] or 0) * (x[2] or 0) for x in ins)
    return cells * (9 * c * c + c * a + c * 4 * a)


RPN_HEAD = BlockSpec(
    kind="RPNHead",
    category="Detection",
    doc="Region proposal network head, shared by every FPN level: 3×3 conv + ReLU, then "
        "1×1 convs giving A objectness logits and 4A box deltas per location, flattened "
        "level by level ((y, x, anchor) row-major).",
    params=(
        Param("anchors", "int", 3,
              "A: anchors per location (one size per level × the aspect ratios).", min=1),
    ),
    inputs=(PortSpec("in", multiple=True, doc="FPN feature maps, finest (P2) first"),),
    outputs=(PortSpec("objectness", doc="(total anchors,) logits"),
             PortSpec("deltas", doc="(total anchors, 4) box deltas (dy, dx, dh, dw)")),
    shape=_rpn_shape,
    weights=_rpn_weights,
    flops=_rpn_flops,
    keras=lambda p: [LayerCall("RPNHead", {"anchors": p["anchors"]})],
    label=lambda p: f"RPN ×{p['anchors']}",
)


# -- Proposals ----------------------------------------------------------------

def anchor_grid(p) -> list[tuple[int, int, int]]:
    """``(rows, cols, anchors per location)`` of each level of a Proposals node.

    A level of stride ``s`` has ``ceil(H / s) × ceil(W / s)`` locations (the
    size "same"-padded stride-2 layers and P6's 1×1/2 max pool give), each with
    one anchor per aspect ratio.
    """
    h, w = pair(p["image_size"])
    a = len(_ratios(p["ratios"]))
    return [(-(-h // s), -(-w // s), a) for s in p["strides"]]


def _proposals_shape(p, ins, notes):
    if len(ins) != 2:
        raise ShapeIssue("Proposals expects 2 inputs: the RPN's objectness and deltas. "
                         f"Received: {len(ins)} input(s)",
                         fix="Connect the RPNHead's two ports to 'objectness' and 'deltas'.")
    scores = expect_rank(ins[0], 2, "Proposals", "objectness logits (anchors,)")
    deltas = expect_rank(ins[1], 3, "Proposals", "box deltas (anchors, 4)")
    if deltas[2] != 4 or (None not in (scores[1], deltas[1]) and scores[1] != deltas[1]):
        raise ShapeIssue("Proposals needs one objectness logit and 4 deltas per anchor. "
                         f"Received: objectness {fmt_shape(scores)} and deltas "
                         f"{fmt_shape(deltas)}")
    if len(p["sizes"]) != len(p["strides"]):
        raise ShapeIssue("Proposals needs one anchor size per level (stride). Received: "
                         f"sizes {p['sizes']} and strides {p['strides']}", field="sizes")
    grid = anchor_grid(p)
    expected = sum(r * c * a for r, c, a in grid)
    if scores[1] is not None and scores[1] != expected:
        levels = ", ".join(f"{r}x{c}x{a}" for r, c, a in grid)
        raise ShapeIssue(
            f"Proposals' anchors ({levels} = {expected} for image_size "
            f"{list(pair(p['image_size']))} and strides {p['strides']}) must match the RPN's "
            f"outputs. Received: {scores[1]} anchors",
            fix="Set image_size to the Input's size and one stride per RPN level "
                "(RPNHead anchors = number of ratios).", field="image_size")
    candidates = sum(min(p["pre_nms_top_n"], r * c * a) for r, c, a in grid)
    if candidates < p["post_nms_top_n"]:
        notes.warn(f"Proposals keeps at most {candidates} candidates (pre_nms_top_n "
                   f"{p['pre_nms_top_n']} per level), fewer than post_nms_top_n "
                   f"{p['post_nms_top_n']}: the last rows are always zero padding.",
                   fix="Lower post_nms_top_n or raise pre_nms_top_n.",
                   field="post_nms_top_n")
    return [(scores[0], p["post_nms_top_n"], 4)]


PROPOSALS = BlockSpec(
    kind="Proposals",
    category="Detection",
    doc="Region proposals: decodes the RPN's deltas on the FPN anchors, keeps the "
        "pre_nms_top_n best per level, clips, removes tiny boxes, NMS, keeps the "
        "post_nms_top_n best (zero boxes pad). No weights, no gradient.",
    params=(
        Param("image_size", "int_or_pair", 800,
              "Input height and width in pixels (anchor sizes are in pixels)", min=1),
        Param("sizes", "int_list", [32, 64, 128, 256, 512],
              "Anchor size in pixels on each level (one per stride)."),
        Param("ratios", "float_list", [0.5, 1.0, 2.0], "Anchor aspect ratios h/w."),
        Param("strides", "int_list", [4, 8, 16, 32, 64],
              "Stride in pixels of each RPN level, finest first."),
        Param("pre_nms_top_n", "int", 1000, "Best proposals kept per level before NMS.",
              min=1),
        Param("post_nms_top_n", "int", 1000, "P: proposals kept per image after NMS.",
              min=1),
        Param("nms_iou", "float", 0.7, "IoU above which NMS drops the weaker box.",
              min=0.0, max=1.0),
        Param("min_size", "float", 1e-3,
              "Smallest box side kept (normalised to the image).", min=0.0),
    ),
    inputs=(PortSpec("objectness", doc="RPN objectness logits (anchors,)"),
            PortSpec("deltas", doc="RPN box deltas (anchors, 4)")),
    shape=_proposals_shape,
    keras=lambda p: [LayerCall("Proposals", {
        "image_size": list(pair(p["image_size"])), "sizes": list(p["sizes"]),
        "ratios": _ratios(p["ratios"]), "strides": list(p["strides"]),
        "pre_nms_top_n": p["pre_nms_top_n"], "post_nms_top_n": p["post_nms_top_n"],
        "nms_iou": p["nms_iou"], "min_size": p["min_size"]})],
    label=lambda p: f"proposals {p['post_nms_top_n']}",
)


# -- MultiLevelRoIAlign -------------------------------------------------------

def _roi_align_shape(p, ins, notes):
    if len(ins) < 2:
        raise ShapeIssue("MultiLevelRoIAlign expects feature maps and boxes. Received: "
                         f"{len(ins)} input(s)",
                         fix="Connect P2.. to 'features' and the boxes to 'boxes'.")
    c = _levels(ins[:-1], "MultiLevelRoIAlign")
    boxes = expect_rank(ins[-1], 3, "MultiLevelRoIAlign", "boxes (N, 4)")
    if boxes[2] != 4 or boxes[1] is None:
        raise ShapeIssue("MultiLevelRoIAlign needs a known number N of boxes of 4 "
                         f"coordinates each. Received: boxes {fmt_shape(boxes)}")
    s = p["output_size"]
    batch = ins[0][0]
    return [(None if batch is None else batch * boxes[1], s, s, c)]


ROI_ALIGN = BlockSpec(
    kind="MultiLevelRoIAlign",
    category="Detection",
    doc="RoIAlign on an FPN: each box is read from the level its size picks "
        "(k = ⌊k0 + log2(√(wh)/224)⌋), bilinearly sampled into s×s bins; the N boxes of "
        "each image are folded into the batch: (B·N, s, s, C).",
    params=(
        Param("output_size", "int", 7, "s: bins per side (box head 7, mask head 14).",
              min=1),
        Param("sampling_ratio", "int", 2, "Bilinear samples per bin per side.", min=1),
        Param("min_level", "int", 2, "FPN level of the first feature map (P2).", min=0),
        Param("canonical_size", "int", 224, "Box size (pixels) read from canonical_level.",
              min=1),
        Param("canonical_level", "int", 4, "k0: level of a canonical_size box.", min=0),
        Param("aligned", "bool", False,
              "Shift sampling points by half a pixel (torchvision's MultiScaleRoIAlign "
              "does not: false)."),
    ),
    inputs=(PortSpec("features", multiple=True, doc="FPN feature maps, finest first"),
            PortSpec("boxes", doc="(N, 4) normalised boxes per image")),
    shape=_roi_align_shape,
    flops=lambda p, ins, outs: 4 * p["sampling_ratio"] ** 2 * math.prod(outs[0][1:]),
    keras=lambda p: [LayerCall("MultiLevelRoIAlign", {
        "output_size": p["output_size"], "sampling_ratio": p["sampling_ratio"],
        "min_level": p["min_level"], "canonical_size": p["canonical_size"],
        "canonical_level": p["canonical_level"], "aligned": p["aligned"]})],
    label=lambda p: f"RoIAlign {p['output_size']}x{p['output_size']}",
)


# -- RCNNDetections -----------------------------------------------------------

def _detections_shape(p, ins, notes):
    if len(ins) != 3:
        raise ShapeIssue("RCNNDetections expects 3 inputs: class logits, box deltas and "
                         f"the RoIs. Received: {len(ins)} input(s)")
    logits = expect_rank(ins[0], 2, "RCNNDetections", "class logits (classes + 1,)")
    deltas = expect_rank(ins[1], 2, "RCNNDetections", "box deltas (4·(classes + 1),)")
    rois = expect_rank(ins[2], 3, "RCNNDetections", "RoIs (N, 4)")
    if None in (logits[1], deltas[1], rois[1]) or deltas[1] != 4 * logits[1] or \
            rois[2] != 4:
        raise ShapeIssue(
            "RCNNDetections needs K class logits, 4K box deltas per RoI and a known "
            f"number N of RoIs. Received: logits {fmt_shape(logits)}, deltas "
            f"{fmt_shape(deltas)}, RoIs {fmt_shape(rois)}",
            fix="Give box_reg 4 × the units of box_cls.")
    d = p["max_detections"]
    return [(rois[0], d, 4), (rois[0], d), (rois[0], d)]


RCNN_DETECTIONS = BlockSpec(
    kind="RCNNDetections",
    category="Detection",
    doc="Final boxes of a Faster R-CNN: softmax scores, class-specific box decoding "
        "(weights 10, 10, 5, 5) on the RoIs, score threshold, per-class NMS, the "
        "max_detections best per image (classes 0..C-1, -1 pads).",
    params=(
        Param("score_threshold", "float", 0.05, "Smallest class score kept.",
              min=0.0, max=1.0),
        Param("nms_iou", "float", 0.5, "Per-class NMS IoU threshold.", min=0.0, max=1.0),
        Param("max_detections", "int", 100, "D: detections kept per image.", min=1),
    ),
    inputs=(PortSpec("class_logits", doc="(B·N, classes + 1) logits, 0 = background"),
            PortSpec("box_deltas", doc="(B·N, 4·(classes + 1)) deltas"),
            PortSpec("rois", doc="(B, N, 4) the boxes the heads saw")),
    outputs=(PortSpec("boxes", doc="(D, 4) normalised boxes"),
             PortSpec("scores", doc="(D,) class scores"),
             PortSpec("classes", doc="(D,) class 0..C-1, -1 for padding")),
    shape=_detections_shape,
    keras=lambda p: [LayerCall("RCNNDetections", {
        "score_threshold": p["score_threshold"], "nms_iou": p["nms_iou"],
        "max_detections": p["max_detections"]})],
    label=lambda p: f"detections {p['max_detections']}",
)


# -- RCNNMasks ----------------------------------------------------------------

def _masks_shape(p, ins, notes):
    if len(ins) != 2:
        raise ShapeIssue("RCNNMasks expects 2 inputs: the mask logits and the detected "
                         f"classes. Received: {len(ins)} input(s)")
    logits = expect_rank(ins[0], 4, "RCNNMasks", "mask logits (m, m, classes + 1)")
    classes = expect_rank(ins[1], 2, "RCNNMasks", "detected classes (D,)")
    if classes[1] is None:
        raise ShapeIssue("RCNNMasks needs a known number D of detections. Received: "
                         f"classes {fmt_shape(classes)}")
    return [(classes[0], classes[1], logits[1], logits[2])]


RCNN_MASKS = BlockSpec(
    kind="RCNNMasks",
    category="Detection",
    doc="Mask R-CNN's masks: for each detection, the sigmoid of the mask logits of its "
        "own class (B·D, m, m, classes + 1) → (B, D, m, m) probabilities (zeros for "
        "padding).",
    params=(),
    inputs=(PortSpec("mask_logits", doc="(B·D, m, m, classes + 1) logits"),
            PortSpec("classes", doc="(B, D) detected classes, -1 pads")),
    shape=_masks_shape,
    keras=lambda p: [LayerCall("RCNNMasks", {})],
    label=lambda p: "masks",
)

SPECS = (RPN_HEAD, PROPOSALS, ROI_ALIGN, RCNN_DETECTIONS, RCNN_MASKS)

"""Two-stage detectors: Faster R-CNN and Mask R-CNN on a ResNet-FPN backbone.

Node ids are the Keras layer names builder.detection's R-CNN trainer looks up
(``image``, ``fpn_p2``.., ``rpn``, ``proposals``, ``box_roi_align``, ``box_fc6``,
``box_fc7``, ``box_cls``, ``box_reg``, ``detections``, ``mask_roi_align``,
``mask_fcn1``.., ``mask_deconv``, ``mask_logits``, ``masks``; see
/work/notes/rcnn.md). The full-size templates are torchvision's
``fasterrcnn_resnet50_fpn`` / ``maskrcnn_resnet50_fpn``; the small ones train on
64x64 `shapes` scenes on a CPU.
"""

from __future__ import annotations

from chain import Net

#: torchvision's parameter counts at 91 classes (BatchNorm frozen, so without it).
TORCHVISION = {"faster": 41_755_286, "mask": 44_401_393}

#: The small templates' RPN: levels P2..P4 of a 64x64 image.
SMALL_ANCHORS = {"sizes": [16, 32, 64], "ratios": [0.5, 1.0, 2.0], "strides": [4, 8, 16]}


def _wire(net: Net, kind: str, node_id: str, sources: list[tuple[str, str, str]],
          **params) -> str:
    """A node whose inputs come from named ports: ``(src, src_port, dst_port)``."""
    node = net.graph.add_node(kind, params, id=node_id)
    for src, src_port, dst_port in sources:
        net.graph.connect(src, node.id, src_port, dst_port)
    net.at = node.id
    return node.id


def _resnet50_body(net: Net) -> list[str]:
    """torchvision's ResNet-50 (v1.5: stride on the 3x3, no conv bias, BN eps 1e-5),
    every BatchNorm frozen (FrozenBatchNorm2d); returns the C2..C5 stage ids."""
    net.add("ZeroPadding2D", "conv1_pad", padding=3)
    net.conv("conv1_conv", 64, 7, strides=2, padding="valid", activation="linear",
             use_bias=False)
    net.add("BatchNormalization", "conv1_bn", epsilon=1e-5, trainable=False)
    net.add("Activation", "conv1_relu", activation="relu")
    net.add("ZeroPadding2D", "pool1_pad", padding=1)
    net.add("MaxPool2D", "pool1_pool", pool_size=3, strides=2)
    stages = []
    for stage, (blocks, width) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512]), start=2):
        first = {"shortcut": "projection"} if stage == 2 else \
            {"strides": 2, "shortcut": "projection"}
        stages.append(net.add(
            "Stage", f"conv{stage}", block="ResidualBottleneck", blocks=blocks,
            params={"filters": width, "use_bias": False, "epsilon": 1e-5,
                    "stride_at": "3x3", "bn_trainable": False},
            first=first))
    return stages


def _fpn(net: Net, stages: list[str], width: int, p6: bool) -> list[str]:
    """Lin et al.'s FPN: 1x1 lateral convs, top-down nearest 2x up-sampling and
    addition, 3x3 output convs; P6 = 1x1/2 max pool of P5 (LastLevelMaxPool)."""
    levels = list(range(2, 2 + len(stages)))
    top = None
    outputs = {}
    for level, stage in reversed(list(zip(levels, stages))):
        inner = net.conv(f"fpn_inner{level}", width, 1, activation="linear", after=stage)
        if top is not None:
            up = net.add("UpSampling2D", f"fpn_up{level + 1}", after=top, size=2)
            inner = net.add("Add", f"fpn_merge{level}", after=[inner, up])
        top = inner
        outputs[level] = net.conv(f"fpn_p{level}", width, 3, activation="linear",
                                  after=inner)
    maps = [outputs[k] for k in levels]
    if p6:
        maps.append(net.add("MaxPool2D", f"fpn_p{levels[-1] + 1}", after=maps[-1],
                            pool_size=1, strides=2))
    return maps


def _rcnn(net: Net, maps: list[str], roi_maps: list[str], *, classes: int,
          anchors: dict, image_size: int, proposals: dict, box_units: int,
          detections: dict, roi_align: dict, mask_convs: int | None,
          mask_width: int) -> None:
    """RPN, proposals, box head, detections and (if ``mask_convs``) the mask head."""
    a = len(anchors["ratios"])
    net.add("RPNHead", "rpn", after=maps, anchors=a)
    _wire(net, "Proposals", "proposals", [("rpn", "objectness", "objectness"),
                                          ("rpn", "deltas", "deltas")],
          image_size=image_size, **anchors, **proposals)
    _wire(net, "MultiLevelRoIAlign", "box_roi_align",
          [(m, "out", "features") for m in roi_maps] + [("proposals", "out", "boxes")],
          output_size=7, **roi_align)
    net.add("Flatten", "box_flatten")
    net.dense("box_fc6", box_units)
    fc7 = net.dense("box_fc7", box_units)
    net.dense("box_cls", classes + 1, activation="linear", after=fc7)
    net.dense("box_reg", 4 * (classes + 1), activation="linear", after=fc7)
    _wire(net, "RCNNDetections", "detections",
          [("box_cls", "out", "class_logits"), ("box_reg", "out", "box_deltas"),
           ("proposals", "out", "rois")], **detections)
    for port in ("boxes", "scores", "classes"):
        _wire(net, "Output", f"out_{port}", [("detections", port, "in")], loss="none",
              metrics=[])
    if mask_convs is None:
        return
    _wire(net, "MultiLevelRoIAlign", "mask_roi_align",
          [(m, "out", "features") for m in roi_maps] + [("detections", "boxes", "boxes")],
          output_size=14, **roi_align)
    for i in range(1, mask_convs + 1):
        net.conv(f"mask_fcn{i}", mask_width, 3)
    net.add("Conv2DTranspose", "mask_deconv", filters=mask_width, kernel_size=2, strides=2,
            padding="valid", activation="relu")
    net.conv("mask_logits", classes + 1, 1, activation="linear")
    _wire(net, "RCNNMasks", "masks", [("mask_logits", "out", "mask_logits"),
                                      ("detections", "classes", "classes")])
    net.output("out_masks", loss="none", metrics=[])


_PAPERS = {"mask": "He, Gkioxari, Dollar & Girshick 2017, 'Mask R-CNN'",
           "faster": "Ren, He, Girshick & Sun 2015, 'Faster R-CNN'"}
_HEADS = (
    " The RPN (one 3x3 conv + ReLU and 1x1 objectness / delta convs, shared by every "
    "level) scores {anchors} anchors per location; Proposals decodes them, keeps the "
    "{pre} best per level, applies NMS (IoU {rpn_iou}) and keeps {post} per image. "
    "MultiLevelRoIAlign reads each proposal from the FPN level its size picks "
    "(k = floor({k0} + log2(sqrt(wh)/{canonical}))) into 7x7 bins (sampling ratio 2), "
    "folding the proposals into the batch (so the summary's rows after it count one "
    "region, not one image), and the box head is plain layers: Flatten, "
    "two FC-{units} + ReLU (TwoMLPHead), then {k} class logits (index 0 = background) "
    "and {k}x4 class-specific box deltas. RCNNDetections decodes them (weights 10, 10, "
    "5, 5), drops scores under {thr}, runs per-class NMS (IoU 0.5) and keeps {dets} "
    "boxes per image. Boxes are (y1, x1, y2, x2) normalised to [0, 1].")
_MASK = (
    " Mask head: RoIAlign 14x14 on the detected boxes, {n} 3x3 conv-{w} + ReLU, a 2x2/2 "
    "transposed conv + ReLU to 28x28 and a 1x1 conv to {k} mask logits; RCNNMasks "
    "keeps the sigmoid of each detection's own class. Outputs: boxes, scores, classes "
    "(0..C-1, -1 pads) and masks (28x28 probabilities in the box, paste them into the "
    "image).")


def resnet50_fpn(mask: bool, classes: int = 90, size: int = 800):
    """torchvision's maskrcnn_resnet50_fpn / fasterrcnn_resnet50_fpn (v1)."""
    net = Net([size, size, 3], input_id="image")
    stages = _resnet50_body(net)
    maps = _fpn(net, stages, 256, p6=True)
    anchors = {"sizes": [32, 64, 128, 256, 512], "ratios": [0.5, 1.0, 2.0],
               "strides": [4, 8, 16, 32, 64]}
    proposals = {"pre_nms_top_n": 1000, "post_nms_top_n": 1000, "nms_iou": 0.7}
    detections = {"score_threshold": 0.05, "nms_iou": 0.5, "max_detections": 100}
    _rcnn(net, maps, maps[:4], classes=classes, anchors=anchors, image_size=size,
          proposals=proposals, box_units=1024, detections=detections, roi_align={},
          mask_convs=4 if mask else None, mask_width=256)
    name = "Mask R-CNN" if mask else "Faster R-CNN"
    key = "mask" if mask else "faster"
    text = (
        (_PAPERS["mask" if mask else "faster"])
        + f", with Lin et al.'s feature pyramid, as torchvision builds "
        f"{'maskrcnn' if mask else 'fasterrcnn'}_resnet50_fpn: ResNet-50 v1.5 (no conv "
        "bias, stride on the 3x3) whose BatchNorm layers are frozen (trainable false: "
        "torchvision's FrozenBatchNorm2d, so gamma/beta are not trained or counted), an "
        "FPN of width 256 on conv2..conv5 (1x1 lateral convs, nearest 2x up-sampling + "
        "add, 3x3 output convs P2..P5, P6 = 1x1/2 max pool of P5). At 91 classes (COCO's "
        f"90 categories + background) it has {TORCHVISION[key]:,} trainable "
        f"parameters, torchvision's count; the input is {size}x{size} (any static size "
        "that is a multiple of 32; set Proposals' image_size to match)."
        + _HEADS.format(anchors=3, pre=1000, rpn_iou=0.7, post=1000, k0=4, canonical=224,
                        units=1024, k=classes + 1, thr=0.05, dets=100)
        + (_MASK.format(n=4, w=256, k=classes + 1) if mask else ""))
    return net.project(f"{name} (ResNet-50-FPN)", text)


def small(mask: bool, classes: int = 3, size: int = 64):
    """A small R-CNN for 64x64 `shapes`: residual backbone to 16x16, FPN P2..P4 of 64."""
    net = Net([size, size, 3], input_id="image")
    net.conv("conv1_conv", 32, 3, strides=2, activation="linear", use_bias=False)
    net.add("BatchNormalization", "conv1_bn", epsilon=1e-5)
    net.add("Activation", "conv1_relu", activation="relu")
    stages = []
    for stage, width in zip((2, 3, 4), (32, 64, 128)):
        stages.append(net.add("Stage", f"conv{stage}", block="ResidualBasic", blocks=1,
                              params={"filters": width, "strides": 2, "epsilon": 1e-5}))
    maps = _fpn(net, stages, 64, p6=False)
    # 100 per level: 248 NMS candidates, which keeps proposals cheap on a CPU.
    proposals = {"pre_nms_top_n": 100, "post_nms_top_n": 50, "nms_iou": 0.7}
    detections = {"score_threshold": 0.05, "nms_iou": 0.5, "max_detections": 10}
    roi_align = {"canonical_size": 32, "canonical_level": 3}
    _rcnn(net, maps, maps, classes=classes, anchors=SMALL_ANCHORS, image_size=size,
          proposals=proposals, box_units=256, detections=detections, roi_align=roi_align,
          mask_convs=2 if mask else None, mask_width=64)
    name = "Mask R-CNN" if mask else "Faster R-CNN"
    text = (
        f"A small {name} for {size}x{size} images that trains on the built-in `shapes` "
        "scenes on a CPU: a conv-BN-ReLU stem and three residual stages (32, 64, 128 "
        "channels; stride 4, 8, 16; BatchNorm trained, since nothing is pre-trained), an "
        "FPN of width 64 giving P2..P4 (16x16, 8x8, 4x4), anchors of 16, 32 and 64 px "
        f"(one size per level) with ratios 0.5, 1, 2: 1,008 anchors. {classes} classes "
        "(circle, square, triangle) + background."
        + _HEADS.format(anchors=3, pre=100, rpn_iou=0.7, post=50, k0=3, canonical=32,
                        units=256, k=classes + 1, thr=0.05, dets=10)
        + (_MASK.format(n=2, w=64, k=classes + 1) if mask else ""))
    project = net.project(f"Small {name} (shapes)", text)
    # `builder train` settings: the shapes instance scenes (boxes + masks). No XLA:
    # on a CPU compiling these graphs takes 45-120 s and the steps are no faster.
    project.training = {"optimizer": {"name": "adam", "learning_rate": 0.002},
                        "epochs": 10, "batch_size": 16, "seed": 0, "jit_compile": False}
    project.dataset = {"name": "shapes", "task": "instances", "image_size": size,
                       "max_objects": 3, "samples": 2000, "validation_split": 0.2}
    return project


#: file stem -> function building the template (merged into make.py's TEMPLATES)
TEMPLATES = {
    "mask_rcnn_resnet50_fpn": lambda: resnet50_fpn(mask=True),
    "faster_rcnn_resnet50_fpn": lambda: resnet50_fpn(mask=False),
    "mask_rcnn_small": lambda: small(mask=True),
    "faster_rcnn_small": lambda: small(mask=False),
}

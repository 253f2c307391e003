"""Default boxes (SSD), IoU, and numpy references for matching, encoding and NMS.

numpy only: the GUI and the analysis can count default boxes without keras. The
``*_numpy`` functions are the plain-loop references the ``keras.ops`` versions in
:mod:`builder.detection.ops` are tested against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: SSD's variances: the box offsets are divided by these so that centre and
#: size targets have roughly unit variance (Liu et al. 2016, Caffe code).
VARIANCES = (0.1, 0.2)


@dataclass(frozen=True)
class AnchorConfig:
    """Where SSD puts its default boxes.

    Attributes:
        feature_sizes: side of each square feature map, finest first.
        aspect_ratios: per feature map, the extra ratios ``a`` (each gives
            ``a`` and ``1/a``); ratio 1 always gets two boxes, scale ``s_k``
            and ``sqrt(s_k * s_{k+1})``.
        min_scale: ``s_1``, box side of the finest map as a fraction of the image.
        max_scale: ``s_m`` of the coarsest map; scales are spaced linearly
            (paper eq. 4), and one more scale past ``max_scale`` gives the
            last map's ``s'``.
        scales: explicit scales (``len(feature_sizes) + 1`` of them) that
            override ``min_scale``/``max_scale``; SSD300 as trained on COCO
            uses 0.07 for conv4_3.
    """

    feature_sizes: tuple[int, ...]
    aspect_ratios: tuple[tuple[float, ...], ...]
    min_scale: float = 0.2
    max_scale: float = 0.9
    scales: tuple[float, ...] | None = field(default=None)

    def anchors_per_location(self) -> list[int]:
        """Boxes per feature-map cell: 2 for ratio 1 plus 2 per extra ratio."""
        return [2 + 2 * len(r) for r in self.aspect_ratios]

    def box_scales(self) -> list[float]:
        """``s_1 .. s_{m+1}`` (the last one only for the ``sqrt(s_m s_{m+1})`` box)."""
        if self.scales is not None:
            return list(self.scales)
        m = len(self.feature_sizes)
        if m == 1:
            return [self.min_scale, self.max_scale]
        step = (self.max_scale - self.min_scale) / (m - 1)
        return [self.min_scale + step * k for k in range(m + 1)]


#: SSD300 (torchvision's DefaultBoxGenerator for ssd300_vgg16: scales 0.07, 0.15,
#: ..., 1.05 and ratios [2], [2,3], [2,3], [2,3], [2], [2]): 8,732 boxes.
SSD300 = AnchorConfig(
    feature_sizes=(38, 19, 10, 5, 3, 1),
    aspect_ratios=((2,), (2, 3), (2, 3), (2, 3), (2,), (2,)),
    scales=(0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05),
)


def default_boxes(config: AnchorConfig, clip: bool = True) -> np.ndarray:
    """Every default box, in centre form ``(cy, cx, h, w)``, normalised.

    Order: feature map, then row, column, then box within the cell, which is
    the order a ``(H, W, A*4)`` head reshaped to ``(H*W*A, 4)`` produces.

    Args:
        config: feature maps, scales and ratios.
        clip: clip sizes to ``[0, 1]`` (as torchvision does).

    Returns:
        float32 array ``(total, 4)``.
    """
    scales = config.box_scales()
    out = []
    for k, (size, ratios) in enumerate(zip(config.feature_sizes, config.aspect_ratios)):
        s, s_next = scales[k], scales[k + 1]
        shapes = [(s, s), (math.sqrt(s * s_next),) * 2]
        for a in ratios:
            r = math.sqrt(a)
            shapes += [(s / r, s * r), (s * r, s / r)]  # (h, w): wide, then tall
        centres = (np.arange(size, dtype=np.float64) + 0.5) / size
        cy, cx = np.meshgrid(centres, centres, indexing="ij")
        hw = np.asarray(shapes, dtype=np.float64)
        boxes = np.concatenate([
            np.broadcast_to(np.stack([cy, cx], -1)[:, :, None, :], (size, size, len(hw), 2)),
            np.broadcast_to(hw, (size, size, len(hw), 2)),
        ], axis=-1)
        out.append(boxes.reshape(-1, 4))
    boxes = np.concatenate(out).astype(np.float32)
    if clip:
        boxes[:, 2:] = np.clip(boxes[:, 2:], 0.0, 1.0)
    return boxes


def centre_to_corners(boxes: np.ndarray) -> np.ndarray:
    """``(cy, cx, h, w)`` to ``(y1, x1, y2, x2)``."""
    boxes = np.asarray(boxes, dtype=np.float32)
    half = boxes[..., 2:] / 2
    return np.concatenate([boxes[..., :2] - half, boxes[..., :2] + half], axis=-1)


def corners_to_centre(boxes: np.ndarray) -> np.ndarray:
    """``(y1, x1, y2, x2)`` to ``(cy, cx, h, w)``."""
    boxes = np.asarray(boxes, dtype=np.float32)
    return np.concatenate([(boxes[..., :2] + boxes[..., 2:]) / 2,
                           boxes[..., 2:] - boxes[..., :2]], axis=-1)


def iou_numpy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a (N, 4)`` with every box of ``b (K, 4)``, corners.

    float32, in the same operation order as :func:`builder.detection.ops.pairwise_iou`,
    so that exact ties (two equal-area boxes inside one ground truth) break alike.
    """
    a = np.asarray(a, dtype=np.float32)[:, None, :]
    b = np.asarray(b, dtype=np.float32)[None, :, :]
    hi = np.minimum(a[..., 2:], b[..., 2:])
    lo = np.maximum(a[..., :2], b[..., :2])
    wh = np.maximum(hi - lo, 0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = np.maximum(a[..., 2] - a[..., 0], 0) * np.maximum(a[..., 3] - a[..., 1], 0)
    area_b = np.maximum(b[..., 2] - b[..., 0], 0) * np.maximum(b[..., 3] - b[..., 1], 0)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.maximum(union, np.float32(1e-12)), np.float32(0))


def match_numpy(anchors: np.ndarray, gt_boxes: np.ndarray, gt_classes: np.ndarray,
                threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """SSD matching for one image, written as loops (the reference).

    Each ground-truth box takes the default box that overlaps it most (the first
    ground truth wins if two want the same one); every other default box takes
    the ground truth it overlaps most if that IoU is at least ``threshold``.

    Args:
        anchors: ``(N, 4)`` default boxes, centre form.
        gt_boxes: ``(K, 4)`` corners; rows with class ``-1`` are padding.
        gt_classes: ``(K,)`` class indices, ``-1`` for padding.
        threshold: IoU for a positive match.

    Returns:
        ``labels (N,)`` (0 = background, class + 1 otherwise) and
        ``matched (N, 4)`` the matched ground-truth corners (zeros where background).
    """
    corners = centre_to_corners(anchors)
    n = len(anchors)
    labels = np.zeros(n, dtype=np.int32)
    matched = np.zeros((n, 4), dtype=np.float32)
    valid = [k for k in range(len(gt_classes)) if gt_classes[k] >= 0]
    if not valid:
        return labels, matched
    iou = iou_numpy(corners, gt_boxes[valid])
    for i in range(n):
        j = int(np.argmax(iou[i]))
        if iou[i, j] >= threshold:
            labels[i] = gt_classes[valid[j]] + 1
            matched[i] = gt_boxes[valid[j]]
    for j in reversed(range(len(valid))):  # reversed: the first ground truth wins
        i = int(np.argmax(iou[:, j]))
        labels[i] = gt_classes[valid[j]] + 1
        matched[i] = gt_boxes[valid[j]]
    return labels, matched


def encode_numpy(matched: np.ndarray, anchors: np.ndarray,
                 variances=VARIANCES) -> np.ndarray:
    """Offsets of corner boxes ``matched`` from centre-form ``anchors`` (SSD eq. 2)."""
    g = corners_to_centre(matched)
    a = np.asarray(anchors, dtype=np.float32)
    centre = (g[:, :2] - a[:, :2]) / (a[:, 2:] * variances[0])
    size = np.log(np.maximum(g[:, 2:], 1e-8) / a[:, 2:]) / variances[1]
    return np.concatenate([centre, size], axis=-1)


def decode_numpy(offsets: np.ndarray, anchors: np.ndarray,
                 variances=VARIANCES) -> np.ndarray:
    """Inverse of :func:`encode_numpy`: corner boxes."""
    a = np.asarray(anchors, dtype=np.float32)
    centre = offsets[:, :2] * variances[0] * a[:, 2:] + a[:, :2]
    size = np.exp(offsets[:, 2:] * variances[1]) * a[:, 2:]
    return centre_to_corners(np.concatenate([centre, size], axis=-1))


def nms_numpy(boxes: np.ndarray, scores: np.ndarray, threshold: float = 0.45) -> list[int]:
    """Greedy non-maximum suppression (one class): indices kept, best first."""
    order = list(np.argsort(-np.asarray(scores), kind="stable"))
    keep: list[int] = []
    while order:
        i = order.pop(0)
        keep.append(int(i))
        if order:
            ious = iou_numpy(boxes[[i]], boxes[order])[0]
            order = [o for o, v in zip(order, ious) if v <= threshold]
    return keep

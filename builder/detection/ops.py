"""SSD matching, encoding, MultiBox loss and post-processing in ``keras.ops``.

Every function works on a batch with static shapes: ground truth arrives padded
to ``K`` objects per image as ``y_true (B, K, 5)`` = ``(y1, x1, y2, x2, class)``
with class ``-1`` on padding rows, so the same code traces under TensorFlow and
JAX. The model's output is ``(B, N, 4 + 1 + C)``: box offsets, then background
and class logits for each of the ``N`` default boxes.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from builder.detection.anchors import VARIANCES


def centre_to_corners(boxes):
    """``(cy, cx, h, w)`` to ``(y1, x1, y2, x2)`` on the last axis."""
    half = boxes[..., 2:] / 2
    return ops.concatenate([boxes[..., :2] - half, boxes[..., :2] + half], axis=-1)


def corners_to_centre(boxes):
    """``(y1, x1, y2, x2)`` to ``(cy, cx, h, w)`` on the last axis."""
    return ops.concatenate([(boxes[..., :2] + boxes[..., 2:]) / 2,
                            boxes[..., 2:] - boxes[..., :2]], axis=-1)


def _area(x):
    return ops.maximum(x[..., 2] - x[..., 0], 0.0) * ops.maximum(x[..., 3] - x[..., 1], 0.0)


def pairwise_iou(a, b):
    """IoU of ``a (..., N, 4)`` with ``b (..., K, 4)`` corners: ``(..., N, K)``."""
    a = ops.expand_dims(a, -2)
    b = ops.expand_dims(b, -3)
    hi = ops.minimum(a[..., 2:], b[..., 2:])
    lo = ops.maximum(a[..., :2], b[..., :2])
    wh = ops.maximum(hi - lo, 0.0)
    inter = wh[..., 0] * wh[..., 1]
    union = _area(a) + _area(b) - inter
    return ops.where(union > 0, inter / ops.maximum(union, 1e-12), 0.0)


def match(anchors, y_true, threshold: float = 0.5):
    """SSD matching for a batch (see :func:`builder.detection.anchors.match_numpy`).

    Args:
        anchors: ``(N, 4)`` default boxes, centre form (a constant).
        y_true: ``(B, K, 5)`` padded ground truth.
        threshold: IoU for a positive match.

    Returns:
        ``labels (B, N)`` int32 (0 = background) and ``matched (B, N, 4)`` corners.
    """
    n = anchors.shape[0]
    gt_boxes = y_true[..., :4]
    gt_classes = ops.cast(y_true[..., 4], "int32")
    valid = gt_classes >= 0                                           # (B, K)
    iou = pairwise_iou(centre_to_corners(ops.convert_to_tensor(anchors)), gt_boxes)
    iou = ops.where(ops.expand_dims(valid, 1), iou, -1.0)             # (B, N, K)
    best_gt = ops.argmax(iou, axis=-1)                                # (B, N)
    best_iou = ops.max(iou, axis=-1)
    # Each valid ground truth claims its best default box (the first one wins).
    best_anchor = ops.argmax(iou, axis=1)                             # (B, K)
    claims = ops.one_hot(best_anchor, n, axis=1)                      # (B, N, K)
    claims = claims * ops.expand_dims(ops.cast(valid, claims.dtype), 1)
    claimed = ops.max(claims, axis=-1) > 0                            # (B, N)
    gt_index = ops.where(claimed, ops.argmax(claims, axis=-1), best_gt)
    positive = claimed | (best_iou >= threshold)
    classes = ops.take_along_axis(gt_classes, gt_index, axis=1)
    labels = ops.where(positive, classes + 1, 0)
    matched = ops.take_along_axis(gt_boxes, ops.expand_dims(gt_index, -1), axis=1)
    matched = ops.where(ops.expand_dims(positive, -1), matched, 0.0)
    return ops.cast(labels, "int32"), matched


def encode(matched, anchors, variances=VARIANCES):
    """Offsets ``(cy, cx, log h, log w)`` of corner boxes from centre-form anchors."""
    g = corners_to_centre(matched)
    a = ops.convert_to_tensor(anchors)
    centre = (g[..., :2] - a[..., :2]) / (a[..., 2:] * variances[0])
    size = ops.log(ops.maximum(g[..., 2:], 1e-8) / a[..., 2:]) / variances[1]
    return ops.concatenate([centre, size], axis=-1)


def decode(offsets, anchors, variances=VARIANCES):
    """Corner boxes from offsets (inverse of :func:`encode`)."""
    a = ops.convert_to_tensor(anchors)
    centre = offsets[..., :2] * variances[0] * a[..., 2:] + a[..., :2]
    size = ops.exp(ops.minimum(offsets[..., 2:] * variances[1], 10.0)) * a[..., 2:]
    return centre_to_corners(ops.concatenate([centre, size], axis=-1))


def smooth_l1(x, beta: float = 1.0):
    """Smooth L1, elementwise: ``0.5 x^2 / beta`` below ``beta``, ``|x| - beta / 2`` above.

    ``beta = 1`` (the default) is the Huber loss with delta 1; Faster R-CNN uses 1/9.
    """
    ax = ops.abs(x)
    return ops.where(ax < beta, 0.5 * x * x / beta, ax - 0.5 * beta)


@keras.saving.register_keras_serializable(package="keras_builder")
class MultiBoxLoss(keras.losses.Loss):
    """SSD's loss: smooth L1 on positives + softmax cross-entropy with 3:1 hard negatives.

    ``L = (L_conf + alpha * L_loc) / N_pos`` (Liu et al. 2016, eq. 1). Negatives
    are the default boxes matched to nothing; only the ``neg_pos_ratio * N_pos``
    of them with the highest background loss count (per image).

    Args:
        anchors: ``(N, 4)`` default boxes, centre form.
        threshold: matching IoU.
        neg_pos_ratio: negatives kept per positive.
        alpha: weight of the localisation term.
    """

    def __init__(self, anchors, threshold=0.5, neg_pos_ratio=3.0, alpha=1.0,
                 name="multibox_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.anchors = np.asarray(anchors, dtype=np.float32)
        self.threshold = float(threshold)
        self.neg_pos_ratio = float(neg_pos_ratio)
        self.alpha = float(alpha)

    def parts(self, y_true, y_pred):
        """``(conf_loss, loc_loss, num_pos)`` summed over the batch."""
        labels, matched = match(self.anchors, y_true, self.threshold)
        targets = encode(matched, self.anchors)
        positive = labels > 0
        pos_f = ops.cast(positive, y_pred.dtype)
        loc = ops.sum(smooth_l1(y_pred[..., :4] - targets), axis=-1)
        loc_loss = ops.sum(loc * pos_f)
        ce = keras.losses.sparse_categorical_crossentropy(
            labels, y_pred[..., 4:], from_logits=True)               # (B, N)
        num_pos = ops.sum(pos_f, axis=1, keepdims=True)               # (B, 1)
        # Rank negatives by their loss: a double argsort gives each one's rank.
        neg_loss = ops.where(positive, -1.0, ce)
        rank = ops.argsort(ops.argsort(-neg_loss, axis=1), axis=1)
        hard = ops.cast(rank, y_pred.dtype) < self.neg_pos_ratio * num_pos
        chosen = pos_f + ops.cast(hard & ~positive, y_pred.dtype)
        conf_loss = ops.sum(ce * chosen)
        return conf_loss, loc_loss, ops.sum(num_pos)

    def call(self, y_true, y_pred):
        conf_loss, loc_loss, num_pos = self.parts(y_true, y_pred)
        total = (conf_loss + self.alpha * loc_loss) / ops.maximum(num_pos, 1.0)
        # Keras averages the per-sample values it gets; one value per sample
        # that sum to the batch loss keeps the paper's normalisation by N_pos.
        batch = ops.shape(y_pred)[0]
        return ops.ones((batch,), dtype=y_pred.dtype) * total

    def get_config(self):
        config = super().get_config()
        config.update({"anchors": self.anchors.tolist(), "threshold": self.threshold,
                       "neg_pos_ratio": self.neg_pos_ratio, "alpha": self.alpha})
        return config


def batched_nms(boxes, scores, classes, iou_threshold: float = 0.45):
    """Per-class greedy NMS on ``(B, M, 4)`` candidates sorted by score.

    Boxes of different classes are moved apart (offset by ``2 * class``) so one
    suppression pass handles all classes (torchvision's ``batched_nms`` trick).

    Returns:
        ``keep (B, M)`` float mask.
    """
    offset = ops.expand_dims(ops.cast(classes, boxes.dtype) * 2.0, -1)
    iou = pairwise_iou(boxes + offset, boxes + offset)               # (B, M, M)
    m = boxes.shape[1]
    later = ops.arange(m)

    def body(i, keep):
        row = ops.take(iou, i, axis=1)                                # (B, M)
        kept_i = ops.take(keep, i, axis=1)                            # (B,)
        hit = ops.cast((row > iou_threshold) & (later > i), keep.dtype)
        return keep * (1.0 - hit * ops.expand_dims(kept_i, -1))

    keep = ops.cast(scores > 0, boxes.dtype)
    return ops.fori_loop(0, m, body, keep)


def select_detections(boxes, probs, score_threshold: float = 0.01,
                      iou_threshold: float = 0.45, pre_nms: int = 200,
                      max_detections: int = 100):
    """Best-scoring (box, class) pairs after per-class NMS, for any single-shot detector.

    Args:
        boxes: ``(B, N, 4)`` decoded corner boxes.
        probs: ``(B, N, C)`` class scores (background excluded).

    Returns:
        ``boxes (B, D, 4)``, ``scores (B, D)``, ``classes (B, D)`` int (0-based);
        padded rows have score 0.
    """
    n, c = probs.shape[1], probs.shape[2]
    flat = ops.reshape(probs, (-1, n * c))
    k = min(pre_nms, n * c)
    scores, index = ops.top_k(flat, k)
    anchor_idx, cls = index // c, index % c
    cand = ops.take_along_axis(boxes, ops.expand_dims(anchor_idx, -1), axis=1)
    scores = ops.where(scores >= score_threshold, scores, 0.0)
    keep = batched_nms(cand, scores, cls, iou_threshold)
    scores = scores * keep
    d = min(max_detections, k)
    top, order = ops.top_k(scores, d)
    return (ops.take_along_axis(cand, ops.expand_dims(order, -1), axis=1), top,
            ops.take_along_axis(cls, order, axis=1))


def postprocess(y_pred, anchors, **kwargs):
    """SSD detections of a batch: decode, softmax, per-class NMS (see :func:`select_detections`).

    Args:
        y_pred: ``(B, N, 4 + 1 + C)`` model output (offsets, logits).
        anchors: ``(N, 4)`` default boxes.
        **kwargs: thresholds and sizes of :func:`select_detections`.
    """
    boxes = decode(y_pred[..., :4], anchors)
    probs = ops.softmax(y_pred[..., 4:], axis=-1)[..., 1:]
    return select_detections(boxes, probs, **kwargs)

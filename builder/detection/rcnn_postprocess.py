"""Faster / Mask R-CNN inference outputs: detections, their masks, masks pasted into the image.

:func:`detect_boxes` follows torchvision's ``RoIHeads.postprocess_detections``:
softmax over the classes, each RoI decoded once per object class with that class's
deltas (weights 10, 10, 5, 5), clipped to the image; (RoI, class) pairs scoring
below ``score_threshold`` or with an empty box are dropped, NMS runs per class
(IoU > ``nms_iou`` suppressed) and the ``max_detections`` best remain. Static
shapes need one bound more than torchvision: only the ``pre_nms`` best pairs of an
image enter NMS. Padding rows (zero-area RoIs, e.g. padded proposals) never detect.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from builder.detection.proposals import greedy_nms
from builder.detection.rcnn_boxes import BOX_HEAD_WEIGHTS, decode_deltas


def detect_boxes(class_logits, box_deltas, rois, score_threshold=0.05, nms_iou=0.5,
                 max_detections=100, pre_nms=1000, min_size=1e-5):
    """Detections of a batch from the box head.

    Args:
        class_logits: ``(B, N, C + 1)`` logits (column 0 background).
        box_deltas: ``(B, N, (C + 1) * 4)`` class-specific deltas.
        rois: ``(B, N, 4)`` the RoIs (proposals) the head saw.
        score_threshold: lowest class probability kept.
        nms_iou: per-class NMS threshold.
        max_detections: detections per image ``D``.
        pre_nms: (RoI, class) pairs per image that enter NMS.
        min_size: smallest height and width of a kept box (normalised units).

    Returns:
        ``boxes (B, D, 4)``, ``scores (B, D)``, ``classes (B, D)`` int32 in ``0..C-1``;
        padded rows have a zero box, score 0 and class -1.
    """
    n, width = class_logits.shape[1], class_logits.shape[2]
    c = width - 1
    probs = ops.softmax(class_logits, axis=-1)[..., 1:]                  # (B, N, C)
    deltas = ops.reshape(box_deltas, (-1, n, width, 4))[:, :, 1:]        # (B, N, C, 4)
    rois = ops.cast(rois, deltas.dtype)
    boxes = decode_deltas(deltas, ops.expand_dims(rois, 2), BOX_HEAD_WEIGHTS)
    boxes = ops.clip(boxes, 0.0, 1.0)
    real = ((rois[..., 2] - rois[..., 0]) > 0) & ((rois[..., 3] - rois[..., 1]) > 0)
    big = ((boxes[..., 2] - boxes[..., 0]) >= min_size) & \
        ((boxes[..., 3] - boxes[..., 1]) >= min_size)
    keep = big & ops.expand_dims(real, -1) & (probs >= score_threshold)
    scores = ops.reshape(ops.where(keep, probs, 0.0), (-1, n * c))
    boxes = ops.reshape(boxes, (-1, n * c, 4))
    k = min(int(pre_nms), n * c)
    scores, index = ops.top_k(scores, k)
    cand = ops.take_along_axis(boxes, ops.expand_dims(index, -1), axis=1)
    cls = index % c
    scores = scores * greedy_nms(cand, scores, cls, nms_iou)
    d = int(max_detections)
    if k < d:   # fewer pairs than detections: pad so top_k can return D rows
        cand = ops.pad(cand, ((0, 0), (0, d - k), (0, 0)))
        scores = ops.pad(scores, ((0, 0), (0, d - k)))
        cls = ops.pad(cls, ((0, 0), (0, d - k)))
    top, order = ops.top_k(scores, d)
    found = top > 0
    out_boxes = ops.take_along_axis(cand, ops.expand_dims(order, -1), axis=1)
    out_boxes = ops.where(ops.expand_dims(found, -1), out_boxes, 0.0)
    out_cls = ops.where(found, ops.take_along_axis(cls, order, axis=1), -1)
    return out_boxes, top, ops.cast(out_cls, "int32")


def select_masks(mask_logits, classes):
    """Mask probabilities of each detection's own class.

    Args:
        mask_logits: ``(B, D, m, m, C + 1)`` logits (channel 0 background).
        classes: ``(B, D)`` detected classes ``0..C-1``, -1 for padding.

    Returns:
        ``(B, D, m, m)`` sigmoid probabilities (zeros on padding rows).
    """
    classes = ops.cast(classes, "int32")
    num = mask_logits.shape[-1]
    # Pick the class's channel first, then one sigmoid (not C + 1 of them).
    pick = ops.one_hot(ops.maximum(classes, 0) + 1, num, dtype=mask_logits.dtype)
    chosen = ops.sum(mask_logits * pick[:, :, None, None, :], axis=-1)
    real = ops.cast(classes >= 0, mask_logits.dtype)[:, :, None, None]
    return ops.sigmoid(chosen) * real


def paste_masks_numpy(masks, boxes, image_size, threshold=0.5) -> np.ndarray:
    """Masks of detections pasted into the image (numpy; for drawing and scoring).

    Each ``m x m`` mask covers its box; every image pixel whose centre lies in the
    box takes the bilinear interpolation of the mask at that point (mask cell
    ``i`` centred at ``(i + 0.5) / m`` of the box; beyond the outer cell centres
    the values fall towards a one-cell zero border, to half the edge cell's value
    at the box edge), and is on where that is ``>= threshold``. This is
    Detectron2's paste (``grid_sample``, ``align_corners=False``); torchvision's
    ``paste_masks_in_image`` differs by up to a pixel at the edges (integer boxes, +1).

    Args:
        masks: ``(D, m, m)`` probabilities.
        boxes: ``(D, 4)`` normalised corner boxes.
        image_size: ``int`` or ``(height, width)``.
        threshold: probability that turns a pixel on.

    Returns:
        ``(D, H, W)`` bool.
    """
    masks = np.asarray(masks, np.float64)
    boxes = np.asarray(boxes, np.float64)
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    out = np.zeros((len(masks), h, w), bool)
    for i, (mask, (y1, x1, y2, x2)) in enumerate(zip(masks, boxes)):
        if y2 - y1 <= 0 or x2 - x1 <= 0:
            continue
        mh, mw = mask.shape
        padded = np.pad(mask, 1)                       # zero border, as torchvision
        # Pixel centres in mask-cell units of the padded mask (cell i of the mask at i + 1).
        ys = ((np.arange(h) + 0.5) / h - y1) / (y2 - y1) * mh - 0.5 + 1
        xs = ((np.arange(w) + 0.5) / w - x1) / (x2 - x1) * mw - 0.5 + 1
        inside_y = (ys >= 0.5) & (ys <= mh + 0.5)
        inside_x = (xs >= 0.5) & (xs <= mw + 0.5)
        ys, xs = np.clip(ys, 0, mh + 1), np.clip(xs, 0, mw + 1)
        y0 = np.minimum(np.floor(ys).astype(int), mh)
        x0 = np.minimum(np.floor(xs).astype(int), mw)
        fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
        value = ((1 - fy) * (1 - fx) * padded[np.ix_(y0, x0)]
                 + (1 - fy) * fx * padded[np.ix_(y0, x0 + 1)]
                 + fy * (1 - fx) * padded[np.ix_(y0 + 1, x0)]
                 + fy * fx * padded[np.ix_(y0 + 1, x0 + 1)])
        out[i] = (value >= threshold) & inside_y[:, None] & inside_x[None, :]
    return out

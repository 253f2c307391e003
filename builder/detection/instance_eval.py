"""Scores of an instance-segmentation detector: box recall, mask IoU, mAP (numpy only).

- **Box recall@IoU**: the fraction of ground-truth objects that some detection
  (score > 0) overlaps with box IoU >= the threshold, whatever class it says
  (``class_aware=True`` asks for the right class too).
- **Mean mask IoU of matched instances**: each found object is matched to the
  detection whose box overlaps it most; the IoU of that detection's mask
  (pasted at image size) with the object's mask, averaged over found objects.
- **mAP@0.5**: :func:`builder.detection.evaluate.mean_average_precision` on the boxes.

Detections are per image ``(boxes (D, 4), scores (D,), classes (D,), masks (D, H, W))``
with score-0 rows as padding; ground truth per image ``(boxes (K, 4), classes (K,),
masks (K, H, W))`` with class ``-1`` as padding
(:func:`builder.detection.rcnn_data.ground_truth_instances` makes it).
Masks may be booleans or probabilities (thresholded at 0.5).
"""

from __future__ import annotations

import numpy as np

from builder.detection.anchors import iou_numpy
from builder.detection.evaluate import mean_average_precision


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two masks of one shape (0 when both are empty)."""
    a, b = _binary(a), _binary(b)
    if a.shape != b.shape:
        raise ValueError(f"Masks must have one shape to be compared. Received: {a.shape} "
                         f"and {b.shape}")
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def _binary(mask) -> np.ndarray:
    mask = np.asarray(mask)
    return mask if mask.dtype == bool else mask >= 0.5


def match_ground_truth(det_boxes, det_scores, det_classes, gt_boxes, gt_classes,
                       iou_threshold: float = 0.5, class_aware: bool = False) -> np.ndarray:
    """For each ground-truth object, the index of its best-overlapping detection, or -1.

    Args:
        det_boxes: ``(D, 4)`` detected boxes.
        det_scores: ``(D,)``; rows with score 0 are padding and never match.
        det_classes: ``(D,)`` detected classes.
        gt_boxes: ``(K, 4)`` ground-truth boxes.
        gt_classes: ``(K,)``; ``-1`` is padding and gets -1.
        iou_threshold: box IoU a match needs.
        class_aware: also require the detection's class to be the object's.

    Returns:
        ``(K,)`` int64 detection indices (-1: not found).
    """
    gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    gt_classes = np.asarray(gt_classes).reshape(-1)
    det_boxes = np.asarray(det_boxes, dtype=np.float64).reshape(-1, 4)
    det_scores = np.asarray(det_scores).reshape(-1)
    det_classes = np.asarray(det_classes).reshape(-1)
    found = np.full(len(gt_boxes), -1, dtype=np.int64)
    if len(gt_boxes) == 0 or len(det_boxes) == 0:
        return found
    iou = iou_numpy(gt_boxes, det_boxes)                         # (K, D)
    allowed = np.broadcast_to(det_scores > 0, iou.shape).copy()
    if class_aware:
        allowed &= gt_classes[:, None] == det_classes[None, :]
    iou = np.where(allowed, iou, -1.0)
    best = np.argmax(iou, axis=1)
    ok = (iou[np.arange(len(gt_boxes)), best] >= iou_threshold) & (gt_classes >= 0)
    found[ok] = best[ok]
    return found


def evaluate_instances(detections, ground_truth, num_classes: int,
                       iou_threshold: float = 0.5) -> dict:
    """Box recall, mean mask IoU of matched instances and mAP over a data set.

    Args:
        detections: per image ``(boxes, scores, classes, masks)``; ``masks`` may
            be ``None`` for a box-only detector (mask IoU is then ``nan``).
        ground_truth: per image ``(boxes, classes, masks)``.
        num_classes: object classes, for mAP.
        iou_threshold: box IoU for recall, mask matching and mAP.

    Returns:
        ``recall`` (class-agnostic), ``recall_class_aware``, ``mask_iou``
        (``nan`` when nothing matched or there are no masks), ``map50``, ``ap``
        (per class), ``objects`` (ground-truth count) and ``found``.
    """
    if len(detections) != len(ground_truth):
        raise ValueError(f"Expected one detection entry per image ({len(ground_truth)}). "
                         f"Received: {len(detections)}")
    objects = found = found_cls = 0
    ious = []
    for det, gt in zip(detections, ground_truth):
        boxes, scores, classes = det[:3]
        masks = det[3] if len(det) > 3 else None
        gt_boxes, gt_classes, gt_masks = gt
        gt_classes = np.asarray(gt_classes).reshape(-1)
        objects += int(np.sum(gt_classes >= 0))
        match = match_ground_truth(boxes, scores, classes, gt_boxes, gt_classes,
                                   iou_threshold)
        found += int(np.sum(match >= 0))
        found_cls += int(np.sum(match_ground_truth(boxes, scores, classes, gt_boxes,
                                                   gt_classes, iou_threshold,
                                                   class_aware=True) >= 0))
        if masks is not None:
            for k in np.nonzero(match >= 0)[0]:
                ious.append(mask_iou(masks[match[k]], gt_masks[k]))
    m, aps = mean_average_precision([d[:3] for d in detections],
                                    [g[:2] for g in ground_truth], num_classes,
                                    iou_threshold)
    return {"recall": found / objects if objects else float("nan"),
            "recall_class_aware": found_cls / objects if objects else float("nan"),
            "mask_iou": float(np.mean(ious)) if ious else float("nan"),
            "map50": m, "ap": aps, "objects": objects, "found": found}

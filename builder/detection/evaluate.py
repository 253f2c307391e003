"""mAP@0.5: average precision per class (all-point interpolation), then the mean.

numpy only. A detection is a true positive when it overlaps a not-yet-claimed
ground truth of its class with IoU >= ``iou_threshold`` (PASCAL VOC rule),
detections taken in order of falling score over the whole data set.
"""

from __future__ import annotations

import numpy as np

from builder.detection.anchors import iou_numpy


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope (VOC 2010+ all-point interpolation)."""
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def mean_average_precision(detections, ground_truth, num_classes: int,
                           iou_threshold: float = 0.5) -> tuple[float, list[float]]:
    """mAP over a data set.

    Args:
        detections: per image ``(boxes (D, 4), scores (D,), classes (D,))``;
            rows with score 0 are ignored (padding).
        ground_truth: per image ``(boxes (K, 4), classes (K,))``; class ``-1``
            is padding.
        num_classes: classes to average over (those with no ground truth
            anywhere are left out of the mean).
        iou_threshold: IoU for a true positive.

    Returns:
        ``(mAP, per-class AP)``; a class with no ground truth has AP ``nan``.
    """
    aps = []
    for c in range(num_classes):
        gts = []
        for boxes, classes in ground_truth:
            classes = np.asarray(classes)
            gts.append(np.asarray(boxes)[classes == c])
        total = sum(len(g) for g in gts)
        if total == 0:
            aps.append(float("nan"))
            continue
        entries = []
        for i, (boxes, scores, classes) in enumerate(detections):
            scores, classes = np.asarray(scores), np.asarray(classes)
            for j in np.nonzero((classes == c) & (scores > 0))[0]:
                entries.append((float(scores[j]), i, np.asarray(boxes)[j]))
        entries.sort(key=lambda e: -e[0])
        claimed = [np.zeros(len(g), dtype=bool) for g in gts]
        tp = np.zeros(len(entries))
        for n, (_, i, box) in enumerate(entries):
            if len(gts[i]) == 0:
                continue
            ious = iou_numpy(box[None], gts[i])[0]
            j = int(np.argmax(ious))
            if ious[j] >= iou_threshold and not claimed[i][j]:
                claimed[i][j] = True
                tp[n] = 1
        cum_tp = np.cumsum(tp)
        recall = cum_tp / total
        precision = cum_tp / np.arange(1, len(entries) + 1)
        aps.append(average_precision(recall, precision) if entries else 0.0)
    valid = [a for a in aps if not np.isnan(a)]
    return (float(np.mean(valid)) if valid else 0.0), aps

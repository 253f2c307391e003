"""RPN proposals (torchvision's ``RegionProposalNetwork.filter_proposals``) in ``keras.ops``.

Per image: on each FPN level keep the ``pre_nms_top_n`` anchors of highest
objectness, decode their deltas (weights ``(1, 1, 1, 1)``), clip to the image,
drop boxes smaller than ``min_size``, suppress overlaps (IoU > ``nms_iou``) within
each level, and keep the ``post_nms_top_n`` best of all levels, sorted by score
(the sigmoid of the objectness). Fewer survivors leave zero boxes with score 0
at the end, so the output shape is static.
"""

from __future__ import annotations

import math

import numpy as np
from keras import ops

from builder.detection.rcnn_boxes import DEFAULT_CLIP, decode_deltas


def self_iou(boxes):
    """IoU of every pair of ``(B, M, 4)`` corner boxes: ``(B, M, M)``.

    Works coordinate by coordinate on ``(B, M, M)`` planes, which is several times
    faster on CPU than broadcasting ``(..., 2)`` corner pairs (``ops.pairwise_iou``).
    """
    y1, x1, y2, x2 = (boxes[..., k] for k in range(4))
    area = ops.maximum(y2 - y1, 0.0) * ops.maximum(x2 - x1, 0.0)

    def col(t):
        return ops.expand_dims(t, -1)

    def row(t):
        return ops.expand_dims(t, -2)

    h = ops.maximum(ops.minimum(col(y2), row(y2)) - ops.maximum(col(y1), row(y1)), 0.0)
    w = ops.maximum(ops.minimum(col(x2), row(x2)) - ops.maximum(col(x1), row(x1)), 0.0)
    inter = h * w
    union = col(area) + row(area) - inter
    return ops.where(union > 0, inter / ops.maximum(union, 1e-12), 0.0)


def greedy_nms(boxes, scores, groups, iou_threshold: float):
    """Exact greedy NMS within groups, as a fixed point instead of a loop over boxes.

    Candidates must be sorted by descending score within each group. Box ``i`` is
    kept iff it is valid (score > 0) and no kept earlier box of its group overlaps
    it by IoU > ``iou_threshold``. That recurrence has one solution (greedy NMS's);
    iterating it from "all valid kept" fixes at least one more leading box per round
    and usually converges in a handful of rounds, each one matrix product, where
    :func:`builder.detection.ops.batched_nms` always runs one step per candidate.

    Args:
        boxes: ``(B, M, 4)`` corner boxes in ``[0, 1]``.
        scores: ``(B, M)``; rows with score <= 0 are never kept and suppress nothing.
        groups: ``(B, M)`` int; boxes of different groups never suppress each other.
        iou_threshold: IoU above which the later box is suppressed.

    Returns:
        ``keep (B, M)`` float mask.
    """
    boxes = ops.stop_gradient(boxes)
    offset = ops.expand_dims(ops.cast(groups, boxes.dtype) * 2.0, -1)
    moved = boxes + offset
    m = boxes.shape[1]
    earlier = np.arange(m)[:, None] < np.arange(m)[None, :]             # [j, i]: j before i
    suppress = ops.cast((self_iou(moved) > iou_threshold) & earlier, boxes.dtype)
    valid = ops.cast(ops.stop_gradient(scores) > 0, boxes.dtype)

    def changed(keep, previous):
        return ops.any(keep != previous)

    def step(keep, previous):
        hits = ops.squeeze(ops.matmul(ops.expand_dims(keep, 1), suppress), 1)
        return valid * ops.cast(hits < 0.5, keep.dtype), keep

    keep, _ = ops.while_loop(changed, step, (valid, ops.zeros_like(valid)),
                             maximum_iterations=m + 1)
    return keep


def generate_proposals(objectness, deltas, anchors, anchors_per_level, pre_nms_top_n=1000,
                       post_nms_top_n=1000, nms_iou=0.7, min_size=1e-3):
    """Proposals of the RPN for a batch (no gradient flows through them).

    Args:
        objectness: ``(B, A)`` logits, flattened level by level.
        deltas: ``(B, A, 4)`` ``(dy, dx, dh, dw)`` relative to the anchors.
        anchors: ``(A, 4)`` normalised corner anchors (:func:`rcnn_boxes.fpn_anchors`).
        anchors_per_level: anchors on each level (sums to ``A``).
        pre_nms_top_n: candidates kept per level before NMS.
        post_nms_top_n: proposals returned per image (``P``).
        nms_iou: IoU above which a lower-scoring box of the same level is dropped.
        min_size: smallest height and width kept (normalised units).

    Returns:
        ``boxes (B, P, 4)`` and ``scores (B, P)`` sorted by score, zero-padded.
    """
    counts = [int(n) for n in anchors_per_level]
    total = objectness.shape[1]
    if sum(counts) != total or len(anchors) != total:
        raise ValueError("generate_proposals: anchors_per_level must sum to the number of "
                         f"anchors and of objectness columns. Received: {counts} "
                         f"(sum {sum(counts)}), {len(anchors)} anchors, {total} columns")
    objectness = ops.stop_gradient(ops.convert_to_tensor(objectness))
    deltas = ops.stop_gradient(ops.convert_to_tensor(deltas, dtype=objectness.dtype))
    anchors = ops.convert_to_tensor(np.asarray(anchors, np.float32), dtype=objectness.dtype)
    logits, boxes, levels = [], [], []
    start = 0
    for level, count in enumerate(counts):
        k = min(int(pre_nms_top_n), count)
        top, index = ops.top_k(objectness[:, start:start + count], k)     # sorted
        index = index + start
        sel_deltas = ops.take_along_axis(deltas, ops.expand_dims(index, -1), axis=1)
        sel_anchors = ops.take(anchors, index, axis=0)                  # (B, k, 4)
        logits.append(top)
        boxes.append(decode_deltas(sel_deltas, sel_anchors, clip=DEFAULT_CLIP))
        levels.append(ops.zeros_like(index) + level)
        start += count
    logits = ops.concatenate(logits, axis=1)
    boxes = ops.clip(ops.concatenate(boxes, axis=1), 0.0, 1.0)
    levels = ops.concatenate(levels, axis=1)
    big = ((boxes[..., 2] - boxes[..., 0] >= min_size)
           & (boxes[..., 3] - boxes[..., 1] >= min_size))
    # Each level's candidates are already in descending order, which is all that
    # greedy NMS with per-level offsets needs.
    scores = ops.where(big, ops.sigmoid(logits), 0.0)
    keep = greedy_nms(boxes, scores, levels, nms_iou)
    scores = scores * keep
    m = boxes.shape[1]
    p = int(post_nms_top_n)
    if m < p:   # pad the candidates so top_k can return P rows
        boxes = ops.pad(boxes, ((0, 0), (0, p - m), (0, 0)))
        scores = ops.pad(scores, ((0, 0), (0, p - m)))
    scores, order = ops.top_k(scores, p)
    boxes = ops.take_along_axis(boxes, ops.expand_dims(order, -1), axis=1)
    boxes = ops.where(ops.expand_dims(scores > 0, -1), boxes, 0.0)
    return boxes, scores


def generate_proposals_numpy(objectness, deltas, anchors, anchors_per_level,
                             pre_nms_top_n=1000, post_nms_top_n=1000, nms_iou=0.7,
                             min_size=1e-3):
    """Reference of :func:`generate_proposals` for one image, with plain loops.

    Args:
        objectness: ``(A,)``; deltas ``(A, 4)``; the rest as the keras version.

    Returns:
        ``boxes (P, 4)``, ``scores (P,)``.
    """
    from builder.detection.rcnn_boxes import decode_deltas_numpy

    objectness = np.asarray(objectness, np.float64)
    kept = []                                  # (score, box)
    start = 0
    for count in anchors_per_level:
        logits = objectness[start:start + count]
        order = np.argsort(-logits, kind="stable")[:pre_nms_top_n] + start
        cands = []
        for i in order:
            box = np.clip(decode_deltas_numpy(deltas[i], anchors[i])[0], 0.0, 1.0)
            if box[2] - box[0] >= min_size and box[3] - box[1] >= min_size:
                cands.append((1.0 / (1.0 + math.exp(-objectness[i])), box))
        chosen = []
        for score, box in cands:                # already sorted by score
            if all(_iou(box, other) <= nms_iou for _, other in chosen):
                chosen.append((score, box))
        kept += chosen
        start += count
    kept.sort(key=lambda sb: -sb[0])
    kept = kept[:post_nms_top_n]
    boxes = np.zeros((post_nms_top_n, 4))
    scores = np.zeros(post_nms_top_n)
    for j, (score, box) in enumerate(kept):
        boxes[j], scores[j] = box, score
    return boxes, scores


def _iou(a, b) -> float:
    h = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    w = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = h * w
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0

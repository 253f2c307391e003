"""Training targets of Faster / Mask R-CNN in ``keras.ops`` (torchvision's rules, static shapes).

* :func:`rpn_targets` -- anchors matched to ground truth (IoU >= 0.7 foreground,
  < 0.3 background, in between ignored, plus every anchor that is some object's
  best match), then a balanced random sample of 256 anchors per image (at most
  half positive); the rest are ignored.
* :func:`sample_rois` -- proposals plus the ground-truth boxes themselves, matched at
  IoU 0.5, a random sample of 512 per image (at most a quarter positive), with the
  class, the box-head regression target (weights 10, 10, 5, 5) and the matched object.
* :func:`mask_targets` -- the matched instance mask cut out by RoIAlign at each RoI,
  ``size x size``, thresholded at 0.5.

Random sampling with static shapes: every candidate draws a uniform key
(``keras.random.uniform`` with ``seed``); a candidate is taken when its rank among
the eligible ones (a double ``argsort`` of the keys) is below the number wanted, so
exactly ``min(available, wanted)`` are taken, without ties and without dynamic
shapes. ``seed`` is what ``keras.random`` accepts: an int (the same keys on every
call -- reproducible tests), a ``keras.random.SeedGenerator`` (fresh keys on every
call; what a layer that trains should pass, and what JAX needs inside ``jit``), or
``None`` (Keras' global generator; not usable inside a JAX ``jit``).

Nothing here carries gradient: targets are constants of the loss.
"""

from __future__ import annotations

import keras
from keras import ops

from builder.detection.ops import pairwise_iou
from builder.detection.rcnn_boxes import BOX_HEAD_WEIGHTS, encode_deltas
from builder.detection.roi_align import roi_align


def _sample(eligible, wanted, keys):
    """At most ``wanted`` (int or ``(B, 1)``) eligible items of highest key, and how many."""
    key = ops.where(eligible, keys, -1.0)
    rank = ops.argsort(ops.argsort(-key, axis=1), axis=1)
    available = ops.sum(ops.cast(eligible, "int32"), axis=1, keepdims=True)
    take = ops.minimum(available, wanted)
    return eligible & (rank < take), take


def _match(boxes, y_true, candidate_valid=None):
    """Best ground truth of each box: ``(best_iou, best_gt, iou)`` with invalid rows at -1."""
    gt_valid = y_true[..., 4] >= 0                                       # (B, K)
    iou = pairwise_iou(boxes, y_true[..., :4])                           # (B, N, K)
    mask = ops.expand_dims(gt_valid, 1)
    if candidate_valid is not None:
        mask = mask & ops.expand_dims(candidate_valid, -1)
    iou = ops.where(mask, iou, -1.0)
    return ops.max(iou, axis=-1), ops.argmax(iou, axis=-1), iou


def _gather_rows(values, index):
    """``values (B, K, ...)`` at ``index (B, N)`` -> ``(B, N, ...)``."""
    index = ops.cast(index, "int32")
    if len(values.shape) == 3:
        index = ops.expand_dims(index, -1)
    return ops.take_along_axis(values, index, axis=1)


def rpn_targets(anchors, y_true, fg_iou=0.7, bg_iou=0.3, batch_size_per_image=256,
                positive_fraction=0.5, seed=None):
    """Objectness labels and regression targets of the RPN for a batch.

    Args:
        anchors: ``(A, 4)`` normalised corner anchors.
        y_true: ``(B, K, 5)`` padded ground truth (class ``-1`` = padding).
        fg_iou, bg_iou: matching thresholds (IoU >= fg positive, < bg negative).
        batch_size_per_image: anchors sampled per image.
        positive_fraction: at most this fraction of the sample is positive.
        seed: int, ``keras.random.SeedGenerator`` or ``None`` (see the module doc).

    Returns:
        ``labels (B, A)`` int32 (1 sampled positive, 0 sampled negative, -1 ignored)
        and ``deltas (B, A, 4)`` (weights 1; zero except on anchors matched positive,
        sampled or not).
    """
    y_true = ops.stop_gradient(ops.convert_to_tensor(y_true, "float32"))
    anchors = ops.convert_to_tensor(anchors, "float32")
    best_iou, best_gt, iou = _match(anchors, y_true)
    # Low-quality matches: each object's best anchors (ties included) are positive
    # even below fg_iou. An object that overlaps no anchor at all claims none.
    best_per_gt = ops.max(iou, axis=1, keepdims=True)                    # (B, 1, K)
    claimed = ops.any((iou == best_per_gt) & (best_per_gt > 0), axis=-1)
    positive = (best_iou >= fg_iou) | claimed
    negative = (best_iou < bg_iou) & ~positive
    keys = keras.random.uniform(ops.shape(best_iou), seed=seed)
    wanted_pos = int(batch_size_per_image * positive_fraction)
    sel_pos, n_pos = _sample(positive, wanted_pos, keys)
    sel_neg, _ = _sample(negative, batch_size_per_image - n_pos, keys)
    labels = ops.where(sel_pos, 1, ops.where(sel_neg, 0, -1))
    matched = _gather_rows(y_true[..., :4], best_gt)
    deltas = encode_deltas(matched, anchors)
    deltas = ops.where(ops.expand_dims(positive, -1), deltas, 0.0)
    return ops.cast(labels, "int32"), deltas


def sample_rois(proposals, y_true, num_samples=512, positive_fraction=0.25, fg_iou=0.5,
                bg_iou=0.5, add_gt=True, seed=None):
    """The RoIs the box and mask heads train on, with their targets.

    Candidates are the proposals with non-zero area (padding rows are not
    candidates) and, with ``add_gt``, the ground-truth boxes. Sampled positives
    come first, then sampled negatives; unfilled rows are zero boxes of class -1.

    Args:
        proposals: ``(B, P, 4)`` normalised corner boxes (zero rows = padding).
        y_true: ``(B, K, 5)`` padded ground truth.
        num_samples: RoIs per image ``S``.
        positive_fraction: at most this fraction of ``S`` is foreground.
        fg_iou, bg_iou: IoU >= fg is foreground, < bg background, between ignored.
        add_gt: add the ground-truth boxes to the candidates (torchvision does).
        seed: int, ``keras.random.SeedGenerator`` or ``None`` (see the module doc).

    Returns:
        dict with ``rois (B, S, 4)``, ``classes (B, S)`` int32 (0 background, c + 1
        for object class c, -1 unfilled), ``deltas (B, S, 4)`` (weights 10, 10, 5, 5;
        zero off positives) and ``gt_index (B, S)`` int32 (row of ``y_true`` of a
        positive, -1 elsewhere).
    """
    y_true = ops.stop_gradient(ops.convert_to_tensor(y_true, "float32"))
    cands = ops.stop_gradient(ops.convert_to_tensor(proposals, "float32"))
    valid = ((cands[..., 2] - cands[..., 0]) > 0) & ((cands[..., 3] - cands[..., 1]) > 0)
    if add_gt:
        cands = ops.concatenate([cands, y_true[..., :4]], axis=1)
        valid = ops.concatenate([valid, y_true[..., 4] >= 0], axis=1)
    short = num_samples - cands.shape[1]
    if short > 0:   # fewer candidates than rows: pad with invalid zero boxes
        cands = ops.pad(cands, ((0, 0), (0, short), (0, 0)))
        valid = ops.pad(ops.cast(valid, "float32"), ((0, 0), (0, short))) > 0
    best_iou, best_gt, _ = _match(cands, y_true, valid)
    positive = valid & (best_iou >= fg_iou)
    negative = valid & (best_iou < bg_iou) & ~positive
    keys = keras.random.uniform(ops.shape(best_iou), seed=seed)
    sel_pos, n_pos = _sample(positive, int(num_samples * positive_fraction), keys)
    sel_neg, _ = _sample(negative, num_samples - n_pos, keys)
    # Positives first, then negatives, then the rest (keys < 1 keep each group apart).
    order_key = keys + 2.0 * ops.cast(sel_pos, keys.dtype) + ops.cast(sel_neg, keys.dtype)
    _, order = ops.top_k(order_key, num_samples)
    pos = _gather_rows(sel_pos, order)
    neg = _gather_rows(sel_neg, order)
    rois = _gather_rows(cands, order)
    gt = _gather_rows(best_gt, order)
    gt_classes = ops.cast(y_true[..., 4], "int32")
    classes = ops.where(pos, _gather_rows(gt_classes, gt) + 1, ops.where(neg, 0, -1))
    deltas = encode_deltas(_gather_rows(y_true[..., :4], gt), rois, BOX_HEAD_WEIGHTS)
    deltas = ops.where(ops.expand_dims(pos, -1), deltas, 0.0)
    rois = ops.where(ops.expand_dims(pos | neg, -1), rois, 0.0)
    return {"rois": rois, "classes": ops.cast(classes, "int32"), "deltas": deltas,
            "gt_index": ops.cast(ops.where(pos, gt, -1), "int32")}


def mask_targets(masks, rois, gt_index, size=28, sampling_ratio=2):
    """Mask targets: each RoI's matched instance mask, RoIAligned to ``size x size``.

    Args:
        masks: ``(B, K, H, W)`` instance masks in ``{0, 1}`` at image resolution.
        rois: ``(B, S, 4)`` normalised corner boxes.
        gt_index: ``(B, S)`` matched row of ``masks`` (``-1``: no object -> zeros).
        size: output side ``m``.
        sampling_ratio: RoIAlign samples per bin along each axis.

    Returns:
        ``(B, S, m, m)`` float32 in ``{0, 1}`` (RoIAlign value >= 0.5).
    """
    masks = ops.stop_gradient(ops.convert_to_tensor(masks, "float32"))
    k = masks.shape[1]
    # Instances as channels: one RoIAlign cuts every instance, then the matched one
    # is picked, so no (B, S, H, W) copy of the masks is ever made.
    pooled = roi_align(ops.transpose(masks, (0, 2, 3, 1)), ops.stop_gradient(rois),
                       (size, size), sampling_ratio, aligned=True)       # (B, S, m, m, K)
    gt_index = ops.cast(gt_index, "int32")
    pick = ops.one_hot(ops.maximum(gt_index, 0), k, dtype=pooled.dtype)
    pick = pick * ops.expand_dims(ops.cast(gt_index >= 0, pooled.dtype), -1)
    chosen = ops.sum(pooled * pick[:, :, None, None, :], axis=-1)
    return ops.cast(chosen >= 0.5, "float32")

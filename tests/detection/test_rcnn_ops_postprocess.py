"""R-CNN detections, mask selection and mask pasting against references and hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

from builder.detection.rcnn_boxes import BOX_HEAD_WEIGHTS, decode_deltas_numpy  # noqa: E402
from builder.detection.rcnn_postprocess import (  # noqa: E402
    detect_boxes, paste_masks_numpy, select_masks)


def iou(a, b):
    h = max(min(a[2], b[2]) - max(a[0], b[0]), 0)
    w = max(min(a[3], b[3]) - max(a[1], b[1]), 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - h * w
    return h * w / union if union > 0 else 0


def detect_numpy(logits, deltas, rois, thr, nms_iou, d, pre):
    """One image: every (RoI, class) pair, threshold, best `pre`, per-class greedy NMS."""
    z = logits.astype(np.float64)
    probs = np.exp(z - z.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    c = logits.shape[1] - 1
    pairs = []
    for i, roi in enumerate(rois):
        if roi[2] <= roi[0] or roi[3] <= roi[1]:
            continue
        for k in range(c):
            box = np.clip(decode_deltas_numpy(deltas[i, 4 * (k + 1):4 * (k + 2)], roi,
                                              BOX_HEAD_WEIGHTS)[0], 0, 1)
            if probs[i, k + 1] >= thr and min(box[2] - box[0], box[3] - box[1]) >= 1e-5:
                pairs.append((probs[i, k + 1], k, box))
    pairs.sort(key=lambda p: -p[0])
    kept = []
    for p in pairs[:pre]:
        if all(q[1] != p[1] or iou(q[2], p[2]) <= nms_iou for q in kept):
            kept.append(p)
    return kept[:d]


def test_detect_boxes_matches_reference():
    rng = np.random.default_rng(0)
    b, n, c = 2, 12, 3
    centres, sizes = rng.uniform(0.3, 0.7, (b, n, 2)), rng.uniform(0.1, 0.4, (b, n, 2))
    rois = np.concatenate([centres - sizes / 2, centres + sizes / 2], -1).astype(np.float32)
    rois[1, -3:] = 0                                            # padded proposals
    logits = rng.normal(0, 2, (b, n, c + 1)).astype(np.float32)
    deltas = rng.normal(0, 1, (b, n, (c + 1) * 4)).astype(np.float32)
    boxes, scores, classes = (ops.convert_to_numpy(v) for v in detect_boxes(
        logits, deltas, rois, 0.1, 0.3, max_detections=15, pre_nms=25))
    assert boxes.shape == (b, 15, 4) and classes.dtype == np.int32
    for i in range(b):
        ref = detect_numpy(logits[i], deltas[i], rois[i], 0.1, 0.3, 15, 25)
        assert len(ref) == (scores[i] > 0).sum()
        np.testing.assert_allclose(scores[i, :len(ref)], [p[0] for p in ref], rtol=1e-5)
        assert classes[i, :len(ref)].tolist() == [p[1] for p in ref]
        np.testing.assert_allclose(boxes[i, :len(ref)], [p[2] for p in ref], atol=1e-5)
        assert (classes[i, len(ref):] == -1).all() and not boxes[i, len(ref):].any()


def test_detect_boxes_by_hand():
    rois = np.array([[[0.1, 0.1, 0.5, 0.5], [0.1, 0.1, 0.5, 0.52], [0.1, 0.1, 0.5, 0.5],
                      [0.6, 0.6, 0.9, 0.9]]], np.float32)
    logits = np.full((1, 4, 3), -10.0, np.float32)
    logits[0, 0, 1] = logits[0, 1, 1] = 10.0    # two near-identical class-0 boxes
    logits[0, 2, 2] = 10.0                      # the same box as class 1
    logits[0, 3, 0] = 10.0                      # background
    deltas = np.zeros((1, 4, 12), np.float32)
    boxes, scores, classes = (ops.convert_to_numpy(v) for v in detect_boxes(
        logits, deltas, rois, max_detections=4))
    assert classes[0].tolist() == [0, 1, -1, -1] or classes[0].tolist() == [1, 0, -1, -1]
    assert (scores[0, :2] > 0.99).all() and (scores[0, 2:] == 0).all()
    np.testing.assert_allclose(boxes[0, :2], rois[0, [0, 2]], atol=1e-6)


def test_select_masks_takes_the_detected_class():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(1, 3, 4, 4, 3)).astype(np.float32)
    got = ops.convert_to_numpy(select_masks(logits, np.array([[1, 0, -1]])))
    np.testing.assert_allclose(got[0, 0], 1 / (1 + np.exp(-logits[0, 0, ..., 2])), rtol=1e-5)
    np.testing.assert_allclose(got[0, 1], 1 / (1 + np.exp(-logits[0, 1, ..., 1])), rtol=1e-5)
    assert not got[0, 2].any()


def test_paste_masks_by_hand():
    full = np.ones((1, 28, 28))
    got = paste_masks_numpy(full, np.array([[0.25, 0.25, 0.75, 0.75]]), 64)
    want = np.zeros((64, 64), bool)
    want[16:48, 16:48] = True
    assert (got[0] == want).all()
    # The left half of the mask on: the left half of the box (x 16..31) on.
    half = np.zeros((1, 28, 28))
    half[0, :, :14] = 1
    got = paste_masks_numpy(half, np.array([[0.25, 0.25, 0.75, 0.75]]), (64, 64))
    want[:, 32:] = False
    assert (got[0] == want).all()
    # Non-square image, box touching the border, and an empty box.
    got = paste_masks_numpy(np.ones((2, 7, 7)), np.array([[0.5, 0.0, 1.0, 0.5], [0, 0, 0, 0]]),
                            (20, 40))
    assert got.shape == (2, 20, 40) and got[0, 10:, :20].all() and got[0].sum() == 200
    assert not got[1].any()

"""YOLO grid targets and sum-squared loss on hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

from builder.detection.yolo import YoloLoss, grid_targets, yolo_postprocess  # noqa: E402


def truth(*objects, k=3):
    y = np.zeros((1, k, 5), np.float32)
    y[..., 4] = -1
    for i, obj in enumerate(objects):
        y[0, i] = obj
    return y


def test_object_belongs_to_the_cell_of_its_centre():
    # centre (cy, cx) = (0.2, 0.3) in a 4x4 grid: row 0, column 1, at (x, y) =
    # (0.3*4 - 1, 0.2*4 - 0) = (0.2, 0.8) inside the cell.
    y = truth([0.1, 0.1, 0.3, 0.5, 2], [0.12, 0.26, 0.2, 0.3, 0])  # same cell: first wins
    obj, target, corners, cls = (ops.convert_to_numpy(t) for t in grid_targets(y, 4))
    assert obj[0].sum() == 1 and obj[0, 0, 1] == 1
    np.testing.assert_allclose(target[0, 0, 1], [0.2, 0.8, math.sqrt(0.4), math.sqrt(0.2)],
                               rtol=1e-5)
    assert cls[0, 0, 1] == 2
    np.testing.assert_allclose(corners[0, 0, 1], [0.1, 0.1, 0.3, 0.5])


def test_loss_terms_with_zero_logits():
    # Zero logits: every x, y, sqrt w, sqrt h and confidence is 0.5, classes 1/3.
    s, nb, c = 4, 2, 3
    y = truth([0.1, 0.1, 0.3, 0.5, 2])
    pred = np.zeros((1, s, s, nb * 5 + c), np.float32)
    loss = YoloLoss(boxes=nb, num_classes=c)
    coord, obj_conf, noobj_conf, cls = (float(v) for v in loss.parts(y, pred))
    target = np.array([0.2, 0.8, math.sqrt(0.4), math.sqrt(0.2)])
    assert coord == pytest.approx(np.sum((0.5 - target) ** 2), rel=1e-5)
    # Both boxes decode to the same box; the first is responsible. Its IoU with
    # the object: predicted box w = h = 0.25 centred at cell (0, 1)'s
    # (x, y) = (0.375, 0.125).
    pb = np.array([0.125 - 0.125, 0.375 - 0.125, 0.125 + 0.125, 0.375 + 0.125])
    gb = np.array([0.1, 0.1, 0.3, 0.5])
    inter = max(0, min(pb[2], gb[2]) - max(pb[0], gb[0])) * \
        max(0, min(pb[3], gb[3]) - max(pb[1], gb[1]))
    iou = inter / (0.25 * 0.25 + 0.2 * 0.4 - inter)
    assert obj_conf == pytest.approx((0.5 - iou) ** 2, rel=1e-4)
    assert noobj_conf == pytest.approx((s * s * nb - 1) * 0.25)
    assert cls == pytest.approx((1 - 1 / 3) ** 2 + 2 * (1 / 3) ** 2, rel=1e-5)
    total = float(ops.mean(loss(y, pred)))
    assert total == pytest.approx(5 * coord + obj_conf + 0.5 * noobj_conf + cls, rel=1e-5)


def test_postprocess_scores_confidence_times_class():
    s, nb, c = 2, 1, 3
    pred = np.full((1, s, s, nb * 5 + c), -9.0, np.float32)   # no confidence anywhere
    pred[0, 1, 0, :4] = 0.0                                   # centre of cell (1, 0), w=h=.25
    pred[0, 1, 0, 4] = 9.0                                    # confident ...
    pred[0, 1, 0, 5:] = [0.0, 9.0, 0.0]                       # ... of class 1
    boxes, scores, classes = (ops.convert_to_numpy(t) for t in
                              yolo_postprocess(ops.convert_to_tensor(pred), boxes=nb))
    assert classes[0, 0] == 1 and scores[0, 0] > 0.99
    np.testing.assert_allclose(boxes[0, 0], [0.75 - 0.125, 0.25 - 0.125, 0.875, 0.375],
                               atol=1e-5)
    assert scores[0, 1] < 1e-3

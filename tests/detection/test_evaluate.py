"""mAP@0.5 on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from builder.detection.evaluate import average_precision, mean_average_precision

GT = [(np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float), np.array([0, 1])),
      (np.array([[0, 0, 10, 10], [0, 0, 0, 0]], float), np.array([0, -1]))]


def test_perfect_detections_score_one():
    dets = [(GT[0][0], np.array([.9, .8]), np.array([0, 1])),
            (GT[1][0][:1], np.array([.7]), np.array([0]))]
    m, aps = mean_average_precision(dets, GT, 3)
    assert m == 1.0 and aps[:2] == [1.0, 1.0] and np.isnan(aps[2])


def test_false_positive_ranked_first_and_duplicates():
    # Class 0: a false positive (score .95), then the two true boxes, then a
    # duplicate of an already claimed box. Precision at recall .5 is 1/2, at
    # recall 1 is 2/3; the envelope gives AP = .5*(2/3) + .5*(2/3) = 2/3.
    dets = [(np.array([[50, 50, 60, 60], [0, 0, 10, 10], [0, 0, 10, 10.5]], float),
             np.array([.95, .9, .5]), np.array([0, 0, 0])),
            (np.array([[0, 0, 10, 11]], float), np.array([.8]), np.array([0]))]
    m, aps = mean_average_precision(dets, GT, 2)
    assert aps[0] == pytest.approx(2 / 3)
    assert aps[1] == 0.0                     # class 1 was never detected
    assert m == pytest.approx(1 / 3)


def test_low_iou_and_wrong_class_are_misses():
    # IoU of [0,0,10,10] with [5,0,15,10] is 1/3 < 0.5; a right box with the
    # wrong class does not count either.
    dets = [(np.array([[5, 0, 15, 10], [20, 20, 30, 30]], float), np.array([.9, .9]),
             np.array([0, 0])), (np.zeros((0, 4)), np.zeros(0), np.zeros(0))]
    m, aps = mean_average_precision(dets, GT, 2)
    assert aps == [0.0, 0.0] and m == 0.0


def test_average_precision_envelope():
    assert average_precision(np.array([.5, .5, 1.0]), np.array([1.0, .5, .6])) == \
        pytest.approx(.5 * 1.0 + .5 * .6)

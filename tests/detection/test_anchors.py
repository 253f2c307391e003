"""Default boxes and the numpy references (no keras needed)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from builder.detection.anchors import (
    SSD300, AnchorConfig, centre_to_corners, corners_to_centre, decode_numpy, default_boxes,
    encode_numpy, iou_numpy, match_numpy, nms_numpy)


def test_ssd300_has_8732_default_boxes():
    # Liu et al. 2016: 38^2*4 + 19^2*6 + 10^2*6 + 5^2*6 + 3^2*4 + 1*4 = 8,732.
    assert SSD300.anchors_per_location() == [4, 6, 6, 6, 4, 4]
    assert default_boxes(SSD300).shape == (8732, 4)
    assert 38 * 38 * 4 + 19 * 19 * 6 + 100 * 6 + 25 * 6 + 9 * 4 + 4 == 8732


def test_box_sizes_follow_scales_and_ratios():
    cfg = AnchorConfig(feature_sizes=(2, 1), aspect_ratios=((2,), ()), min_scale=0.2,
                       max_scale=0.6)
    assert cfg.box_scales() == pytest.approx([0.2, 0.6, 1.0])
    b = default_boxes(cfg)
    assert b.shape == (2 * 2 * 4 + 2, 4)
    first = b[:4]
    assert first[:, :2] == pytest.approx(np.full((4, 2), 0.25))
    assert first[0, 2:] == pytest.approx([0.2, 0.2])
    assert first[1, 2:] == pytest.approx([math.sqrt(0.12)] * 2)
    # Ratio 2: h = s/sqrt(2), w = s*sqrt(2), then its transpose; area stays s^2.
    assert first[2, 2:] == pytest.approx([0.2 / math.sqrt(2), 0.2 * math.sqrt(2)])
    assert first[3, 2:] == pytest.approx([0.2 * math.sqrt(2), 0.2 / math.sqrt(2)])
    assert b[4, :2] == pytest.approx([0.25, 0.75])   # row-major: next column
    assert b[-2, 2:] == pytest.approx([0.6, 0.6])
    assert b[-1, 2:] == pytest.approx([math.sqrt(0.6)] * 2)
    # torchvision's SSD300 scale 1.05 is clipped to the image.
    assert default_boxes(SSD300)[-3:, 2:].max() == 1.0


def test_corner_centre_round_trip_and_iou():
    box = np.array([[0.1, 0.2, 0.5, 0.4]])
    assert centre_to_corners(corners_to_centre(box)) == pytest.approx(box)
    a = np.array([[0, 0, 2, 2]], float)
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]], float)
    assert iou_numpy(a, b)[0] == pytest.approx([1 / 7, 1.0, 0.0])


def test_match_takes_best_anchor_even_below_threshold():
    anchors = corners_to_centre(np.array([[0, 0, .5, .5], [.5, .5, 1, 1], [0, 0, .45, .5]]))
    gt = np.array([[0, 0, .5, .5], [.6, .6, .8, .8], [0, 0, 0, 0]], np.float32)
    labels, matched = match_numpy(anchors, gt, np.array([2, 0, -1]))
    # anchor 0 is exact; anchor 2 overlaps gt 0 with IoU 0.9 >= 0.5; anchor 1 has
    # IoU 0.16 with gt 1 but is its best anchor, so it is forced positive.
    assert labels.tolist() == [3, 1, 3]
    assert matched[1] == pytest.approx(gt[1])


def test_encode_decode_round_trip_with_variances():
    anchors = np.array([[0.5, 0.5, 0.2, 0.4]], np.float32)
    gt = np.array([[0.45, 0.35, 0.65, 0.55]], np.float32)
    t = encode_numpy(gt, anchors)
    # centre (0.55, 0.45): dy = 0.05 / (0.2*0.1) = 2.5, dx = -0.05/(0.4*0.1) = -1.25
    assert t[0] == pytest.approx([2.5, -1.25, math.log(1.0) / 0.2, math.log(0.5) / 0.2],
                                 abs=1e-5)
    assert decode_numpy(t, anchors) == pytest.approx(gt, abs=1e-6)


def test_nms_reference_keeps_best_and_distinct():
    boxes = np.array([[0, 0, 1, 1], [0, 0, 1, .9], [0, 0, .2, .2], [.5, .5, 1, 1]], float)
    assert nms_numpy(boxes, np.array([.6, .9, .5, .4]), 0.45) == [1, 2, 3]


def test_anchors_and_evaluation_import_without_keras():
    code = ("import sys, builder.detection.anchors, builder.detection.evaluate, "
            "builder.detection.summary; assert 'keras' not in sys.modules, 'keras'")
    subprocess.run([sys.executable, "-c", code], check=True)

"""Box recall, mask IoU and the instance data on hand-made cases (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from builder.detection.instance_eval import evaluate_instances, mask_iou, match_ground_truth
from builder.detection.rcnn_data import (ground_truth_instances, instance_targets,
                                         shapes_instances)
from builder.training.datasets.shapes import ShapeScenes


def _mask(box, size=10):
    m = np.zeros((size, size), bool)
    y1, x1, y2, x2 = box
    m[y1:y2, x1:x2] = True
    return m


def test_mask_iou_by_hand():
    a, b = _mask((0, 0, 4, 4)), _mask((2, 0, 6, 4))        # 16 and 16 px, overlap 8
    assert mask_iou(a, b) == pytest.approx(8 / 24)
    assert mask_iou(a, a.astype(np.float32) * 0.7) == 1.0  # probabilities >= .5 are in
    assert mask_iou(np.zeros((3, 3)), np.zeros((3, 3))) == 0.0
    with pytest.raises(ValueError, match=r"Received: \(10, 10\) and \(3, 3\)"):
        mask_iou(a, np.zeros((3, 3)))


def test_match_takes_the_best_overlap_and_ignores_padding():
    gt = np.array([[0, 0, .4, .4], [.5, .5, 1, 1], [0, 0, 0, 0]])
    gt_cls = np.array([0, 1, -1])
    # det 0: IoU .75 with gt 0 (wrong class); det 1: exact gt 0; det 2: padding
    # row exactly on gt 1 (score 0); det 3: IoU 1/3 with gt 1.
    det = np.array([[0, 0, .4, .3], [0, 0, .4, .4], [.5, .5, 1, 1], [.5, .5, 1, .75 - 1 / 12]])
    scores, cls = np.array([.9, .8, 0, .7]), np.array([2, 0, 1, 1])
    assert match_ground_truth(det, scores, cls, gt, gt_cls).tolist() == [1, -1, -1]
    assert match_ground_truth(det[[0]], scores[[0]], cls[[0]], gt, gt_cls).tolist() == [0, -1, -1]
    assert match_ground_truth(det[[0]], scores[[0]], cls[[0]], gt, gt_cls,
                              class_aware=True).tolist() == [-1, -1, -1]
    assert match_ground_truth(np.zeros((0, 4)), [], [], gt, gt_cls).tolist() == [-1, -1, -1]


def test_evaluate_instances_by_hand():
    gt_masks = np.stack([_mask((0, 0, 4, 4)), _mask((5, 5, 10, 10)), np.zeros((10, 10), bool)])
    gt = [(np.array([[0, 0, .4, .4], [.5, .5, 1, 1], [0, 0, 0, 0]]), np.array([0, 1, -1]),
           gt_masks)]
    # Object 0 found with the right class and a mask covering half of it plus
    # nothing else (IoU 8/16); object 1 missed (box IoU 0.25).
    det_masks = np.stack([_mask((0, 0, 2, 4)), _mask((5, 5, 10, 10))]).astype(np.float32)
    dets = [(np.array([[0, 0, .4, .4], [.75, .75, 1, 1]]), np.array([.9, .6]),
             np.array([0, 1]), det_masks)]
    r = evaluate_instances(dets, gt, num_classes=3)
    assert (r["objects"], r["found"]) == (2, 1)
    assert r["recall"] == 0.5 and r["recall_class_aware"] == 0.5
    assert r["mask_iou"] == pytest.approx(0.5)
    assert r["ap"][0] == 1.0 and r["ap"][1] == 0.0 and np.isnan(r["ap"][2])
    assert r["map50"] == pytest.approx(0.5)
    # Wrong class: still recalled class-agnostically, not class-aware.
    wrong = [(dets[0][0], dets[0][1], np.array([2, 1]), det_masks)]
    r = evaluate_instances(wrong, gt, num_classes=3)
    assert r["recall"] == 0.5 and r["recall_class_aware"] == 0.0
    # Box-only detector: no mask IoU.
    r = evaluate_instances([d[:3] for d in dets], gt, num_classes=3)
    assert np.isnan(r["mask_iou"]) and r["recall"] == 0.5
    with pytest.raises(ValueError, match="one detection entry per image"):
        evaluate_instances(dets * 2, gt, 3)


def test_fully_hidden_objects_become_padding():
    masks = np.zeros((1, 2, 8, 8), bool)
    masks[0, 1, 2:6, 1:5] = True                  # object 0 is hidden entirely
    scenes = ShapeScenes(np.zeros((1, 8, 8, 3), np.float32), np.array([[2, 1]], np.int32),
                         np.array([[[0, 0, 0, 0], [2, 1, 6, 5]]], np.float32), masks)
    y_true, m = instance_targets(scenes)
    assert y_true.tolist() == [[[0, 0, 0, 0, -1], [.25, .125, .75, .625, 1]]]
    assert m.dtype == np.float32 and m[0, 0].sum() == 0 and m[0, 1].sum() == 16


def test_shapes_instances_agree_with_their_masks():
    data = shapes_instances(40, size=32, seed=5)
    assert data.images.shape == (40, 32, 32, 3)
    assert data.y_true.shape == (40, 3, 5) and data.masks.shape == (40, 3, 32, 32)
    assert set(np.unique(data.masks)) <= {0.0, 1.0}
    for boxes, classes, masks in ground_truth_instances(data.y_true, data.masks):
        assert 1 <= len(boxes) <= 3 and set(classes) <= {0, 1, 2}
        for box, mask in zip(boxes, masks):
            ys, xs = np.nonzero(mask)                # the box is the mask's tight box
            assert np.allclose(box * 32, [ys.min(), xs.min(), ys.max() + 1, xs.max() + 1])
    # Masks never overlap: each pixel belongs to at most one object.
    assert data.masks.sum(axis=1).max() <= 1
    assert len(data[:5]) == 5
    with pytest.raises(ValueError, match="Received: count=0"):
        shapes_instances(0)


def test_pack_and_unpack_instances():
    from builder.detection.rcnn_data import pack_instances, unpack_instances
    data = shapes_instances(4, size=16, seed=2)
    packed = pack_instances(data.y_true, data.masks)
    assert packed.shape == (4, 3, 5 + 256)
    y_true, masks = unpack_instances(packed[1:3], 16)
    assert np.array_equal(y_true, data.y_true[1:3]) and np.array_equal(masks, data.masks[1:3])
    with pytest.raises(ValueError, match=r"\(N, K, 1029\) for 32x32 images. Received: shape"):
        unpack_instances(packed, 32)

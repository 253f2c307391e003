"""RPN targets, RoI sampling and mask targets against loop references and hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

from builder.detection.rcnn_boxes import (  # noqa: E402
    BOX_HEAD_WEIGHTS, encode_deltas_numpy, fpn_anchors)
from builder.detection.rcnn_data import shapes_instances  # noqa: E402
from builder.detection.rcnn_targets import mask_targets, rpn_targets, sample_rois  # noqa: E402
from builder.detection.roi_align import roi_align_numpy  # noqa: E402


def iou_numpy(a, b):
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            h = max(min(p[2], q[2]) - max(p[0], q[0]), 0)
            w = max(min(p[3], q[3]) - max(p[1], q[1]), 0)
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - h * w
            out[i, j] = h * w / union if union > 0 else 0
    return out


def rpn_match_numpy(anchors, gt, fg=0.7, bg=0.3):
    """torchvision's Matcher with low-quality matches: labels 1/0/-1 and matched object."""
    if len(gt) == 0:
        return np.zeros(len(anchors), int), np.zeros(len(anchors), int)
    iou = iou_numpy(anchors, gt)
    best, match = iou.max(1), iou.argmax(1)
    labels = np.where(best >= fg, 1, np.where(best < bg, 0, -1))
    for j in range(len(gt)):
        if iou[:, j].max() > 0:
            labels[iou[:, j] == iou[:, j].max()] = 1
    return labels, match


def to_np(x):
    return ops.convert_to_numpy(x)


def test_rpn_targets_sample_from_the_reference_matching():
    data = shapes_instances(4, size=64, seed=1)
    anchors = fpn_anchors(64)
    labels, deltas = rpn_targets(anchors, data.y_true, batch_size_per_image=64, seed=3)
    labels, deltas = to_np(labels), to_np(deltas)
    assert labels.shape == (4, len(anchors)) and deltas.shape == (4, len(anchors), 4)
    for b in range(4):
        gt = data.y_true[b][data.y_true[b, :, 4] >= 0, :4]
        ref, match = rpn_match_numpy(anchors, gt)
        pos, neg = labels[b] == 1, labels[b] == 0
        assert (ref[pos] == 1).all() and (ref[neg] == 0).all()
        assert pos.sum() == min((ref == 1).sum(), 32)
        assert neg.sum() == min((ref == 0).sum(), 64 - pos.sum())
        np.testing.assert_allclose(deltas[b][pos],
                                   encode_deltas_numpy(gt[match[pos]], anchors[pos]),
                                   rtol=1e-4, atol=1e-5)
        assert not deltas[b][ref != 1].any()          # zero off (sampled or not) positives
    # The same int seed draws the same sample; another seed another one.
    again = to_np(rpn_targets(anchors, data.y_true, batch_size_per_image=64, seed=3)[0])
    other = to_np(rpn_targets(anchors, data.y_true, batch_size_per_image=64, seed=4)[0])
    assert (again == labels).all() and (other != labels).any()


def test_rpn_low_quality_match_and_empty_image():
    anchors = np.array([[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0], [0.0, 0.5, 0.5, 1.0]],
                       np.float32)
    # Object 0 overlaps anchor 0 with IoU 0.25 / 0.5 ... only below 0.7: still claims it.
    y = np.array([[[0.0, 0.0, 0.5, 0.25, 1], [0.5, 0.5, 1.0, 1.0, 0], [0, 0, 0, 0, -1]],
                  [[0, 0, 0, 0, -1]] * 3], np.float32)
    labels, deltas = rpn_targets(anchors, y, batch_size_per_image=8, seed=0)
    labels, deltas = to_np(labels), to_np(deltas)
    assert labels.tolist() == [[1, 1, 0], [0, 0, 0]]
    # Anchor 0 -> object 0: same top edge and height, half width, centre 1/8 to the left.
    np.testing.assert_allclose(deltas[0, 0], [0, -0.25, 0, math.log(0.5)], atol=1e-6)
    np.testing.assert_allclose(deltas[0, 1], 0, atol=1e-6)


def test_sample_rois_rows_match_their_reference_targets():
    data = shapes_instances(3, size=64, seed=2)
    rng = np.random.default_rng(0)
    # Proposals: jittered copies of the objects plus random boxes, and zero padding rows.
    props = np.zeros((3, 40, 4), np.float32)
    for b in range(3):
        gt = data.y_true[b][data.y_true[b, :, 4] >= 0, :4]
        jitter = gt[rng.integers(0, len(gt), 20)] + rng.normal(0, 0.03, (20, 4))
        c, s = rng.uniform(0.1, 0.9, (15, 2)), rng.uniform(0.05, 0.4, (15, 2))
        props[b, :35] = np.clip(np.concatenate(
            [np.sort(jitter.reshape(20, 2, 2), axis=1).reshape(20, 4)[:, [0, 1, 2, 3]],
             np.concatenate([c - s / 2, c + s / 2], 1)]), 0, 1)
    props[:, :20] = np.concatenate([np.minimum(props[:, :20, :2], props[:, :20, 2:]),
                                    np.maximum(props[:, :20, :2], props[:, :20, 2:])], -1)
    out = {k: to_np(v) for k, v in sample_rois(props, data.y_true, num_samples=24,
                                               positive_fraction=0.25, seed=5).items()}
    assert out["rois"].shape == (3, 24, 4) and out["classes"].shape == (3, 24)
    for b in range(3):
        keep = data.y_true[b, :, 4] >= 0
        gt, cls = data.y_true[b][keep, :4], data.y_true[b][keep, 4].astype(int)
        rows = np.flatnonzero(keep)
        cands = np.concatenate([props[b, :35], gt])
        best = iou_numpy(cands, gt).max(1)
        n_fg, n_bg = (best >= 0.5).sum(), (best < 0.5).sum()
        classes = out["classes"][b]
        n_pos = (classes > 0).sum()
        assert n_pos == min(n_fg, 6) and (classes == 0).sum() == min(n_bg, 24 - n_pos)
        assert (classes[:n_pos] > 0).all()                      # positives come first
        for roi, c, d, g in zip(out["rois"][b], classes, out["deltas"][b],
                                out["gt_index"][b]):
            if c < 0:
                assert not roi.any() and g == -1
                continue
            assert np.isclose(cands, roi, atol=1e-6).all(1).any()   # a real candidate
            iou = iou_numpy(roi[None], gt)[0]
            if c == 0:
                assert iou.max() < 0.5 and g == -1 and not d.any()
                continue
            j = iou.argmax()
            assert iou[j] >= 0.5 and g == rows[j] and c == cls[j] + 1
            np.testing.assert_allclose(d, encode_deltas_numpy(gt[j], roi, BOX_HEAD_WEIGHTS)[0],
                                       rtol=1e-4, atol=1e-4)


def test_sample_rois_adds_ground_truth_and_pads():
    y = np.array([[[0.1, 0.1, 0.4, 0.5, 2], [0.5, 0.5, 0.9, 0.8, 0], [0, 0, 0, 0, -1]]],
                 np.float32)
    props = np.array([[[0.0, 0.6, 0.2, 0.9], [0, 0, 0, 0]]], np.float32)  # far away, padding
    out = {k: to_np(v) for k, v in sample_rois(props, y, num_samples=6, positive_fraction=0.5,
                                                          seed=0).items()}
    # Only the two objects themselves are positive (as their own RoIs), one negative, and
    # the remaining rows are unfilled (the padding proposal and padding object are no RoIs).
    assert sorted(out["classes"][0].tolist()) == [-1, -1, -1, 0, 1, 3]
    pos = out["classes"][0] > 0
    got = out["rois"][0][pos]
    np.testing.assert_allclose(got[np.argsort(got[:, 0])], y[0, :2, :4], atol=1e-6)
    np.testing.assert_allclose(out["deltas"][0][pos], 0, atol=1e-5)
    assert sorted(out["gt_index"][0][pos].tolist()) == [0, 1]
    without = to_np(sample_rois(props, y, num_samples=6, positive_fraction=0.5, add_gt=False,
                                seed=0)["classes"])
    assert sorted(without[0].tolist()) == [-1] * 5 + [0]


def test_mask_targets_by_hand_and_against_reference():
    masks = np.zeros((1, 2, 64, 64), np.float32)
    masks[0, 0, 16:32, 8:40] = 1
    masks[0, 1, 40:60, 40:60] = 1
    rois = np.array([[[16 / 64, 8 / 64, 32 / 64, 40 / 64],   # exactly instance 0
                      [0.0, 0.0, 0.2, 0.1],                  # empty corner of instance 0
                      [16 / 64, 8 / 64, 32 / 64, 40 / 64],   # unmatched row
                      [0.55, 0.55, 0.99, 0.99]]], np.float32)  # around instance 1
    gt_index = np.array([[0, 0, -1, 1]], np.int32)
    got = to_np(mask_targets(masks, rois, gt_index, size=28))
    assert got.shape == (1, 4, 28, 28)
    assert got[0, 0].all() and not got[0, 1].any() and not got[0, 2].any()
    ref = roi_align_numpy(masks[0, 1][None, :, :, None], rois[:, 3:4], 28, 2)[0, 0, :, :, 0]
    np.testing.assert_array_equal(got[0, 3], (ref >= 0.5).astype(np.float32))
    assert 0 < got[0, 3].mean() < 1


def test_mask_targets_random_against_reference():
    data = shapes_instances(2, size=48, seed=7)
    rng = np.random.default_rng(1)
    c, s = rng.uniform(0.2, 0.8, (2, 5, 2)), rng.uniform(0.1, 0.6, (2, 5, 2))
    rois = np.concatenate([c - s / 2, c + s / 2], -1).astype(np.float32)
    gt_index = rng.integers(-1, 3, (2, 5)).astype(np.int32)
    got = to_np(mask_targets(data.masks, rois, gt_index, size=14))
    for b in range(2):
        for n in range(5):
            g = gt_index[b, n]
            if g < 0:
                assert not got[b, n].any()
                continue
            ref = roi_align_numpy(data.masks[b, g][None, :, :, None], rois[b, n][None, None],
                                  14, 2)[0, 0, :, :, 0]
            np.testing.assert_array_equal(got[b, n], ref >= 0.5)

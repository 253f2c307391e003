"""keras.ops matching, encoding, MultiBox loss and NMS against the numpy references."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

from builder.detection import ops as dops  # noqa: E402
from builder.detection.anchors import (  # noqa: E402
    AnchorConfig, decode_numpy, default_boxes, encode_numpy, match_numpy, nms_numpy)

CFG = AnchorConfig(feature_sizes=(4, 2, 1), aspect_ratios=((2,), (2, 3), ()),
                   min_scale=0.25, max_scale=0.8)


def random_truth(rng, batch=4, k=3):
    y = np.zeros((batch, k, 5), np.float32)
    y[..., 4] = -1
    for b in range(batch):
        for j in range(rng.integers(1, k + 1)):
            c = rng.uniform(0.15, 0.85, 2)
            hw = rng.uniform(0.1, 0.5, 2)
            y[b, j, :4] = np.clip(np.concatenate([c - hw / 2, c + hw / 2]), 0, 1)
            y[b, j, 4] = rng.integers(0, 3)
    return y


def test_match_and_encode_equal_numpy_reference():
    rng = np.random.default_rng(0)
    anchors = default_boxes(CFG)
    y = random_truth(rng, batch=6)
    labels, matched = dops.match(anchors, ops.convert_to_tensor(y))
    labels, matched = ops.convert_to_numpy(labels), ops.convert_to_numpy(matched)
    enc = ops.convert_to_numpy(dops.encode(ops.convert_to_tensor(matched), anchors))
    for b in range(len(y)):
        ref_labels, ref_matched = match_numpy(anchors, y[b, :, :4], y[b, :, 4].astype(int))
        assert labels[b].tolist() == ref_labels.tolist()
        np.testing.assert_allclose(matched[b], ref_matched, atol=1e-6)
        pos = ref_labels > 0
        assert pos.sum() >= (y[b, :, 4] >= 0).sum()
        np.testing.assert_allclose(enc[b][pos], encode_numpy(ref_matched[pos], anchors[pos]),
                                   rtol=1e-4, atol=1e-4)
        dec = ops.convert_to_numpy(dops.decode(ops.convert_to_tensor(enc[b]), anchors))
        np.testing.assert_allclose(dec[pos], ref_matched[pos], atol=1e-5)
        np.testing.assert_allclose(decode_numpy(enc[b][pos], anchors[pos]), ref_matched[pos],
                                   atol=1e-5)


def test_multibox_loss_counts_three_negatives_per_positive():
    rng = np.random.default_rng(1)
    anchors = default_boxes(CFG)
    n = len(anchors)
    y = random_truth(rng, batch=2)
    pred = rng.normal(0, 1, (2, n, 4 + 4)).astype(np.float32)
    loss = dops.MultiBoxLoss(anchors)
    conf, loc, num_pos = (float(v) for v in loss.parts(ops.convert_to_tensor(y),
                                                       ops.convert_to_tensor(pred)))
    # Reference: per image, positives plus the 3*P negatives of highest CE.
    ref_conf = ref_loc = ref_pos = 0.0
    for b in range(2):
        lab, m = match_numpy(anchors, y[b, :, :4], y[b, :, 4].astype(int))
        logits = pred[b, :, 4:]
        logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        ce = -logp[np.arange(n), lab]
        pos = lab > 0
        neg = np.sort(ce[~pos])[::-1][:3 * pos.sum()]
        ref_conf += ce[pos].sum() + neg.sum()
        d = pred[b, pos, :4] - encode_numpy(m[pos], anchors[pos])
        ref_loc += np.where(np.abs(d) < 1, 0.5 * d * d, np.abs(d) - 0.5).sum()
        ref_pos += pos.sum()
    assert num_pos == ref_pos
    assert conf == pytest.approx(ref_conf, rel=1e-4)
    assert loc == pytest.approx(ref_loc, rel=1e-4)
    total = float(loss(ops.convert_to_tensor(y), ops.convert_to_tensor(pred)))
    assert total == pytest.approx((ref_conf + ref_loc) / ref_pos, rel=1e-4)


def test_batched_nms_equals_per_class_reference():
    rng = np.random.default_rng(2)
    m = 40
    centres = rng.uniform(0.2, 0.8, (2, m, 2))
    sizes = rng.uniform(0.1, 0.3, (2, m, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], -1).astype(np.float32)
    scores = np.sort(rng.uniform(0.05, 1, (2, m)), axis=1)[:, ::-1].astype(np.float32)
    classes = rng.integers(0, 3, (2, m))
    keep = ops.convert_to_numpy(dops.batched_nms(
        ops.convert_to_tensor(boxes), ops.convert_to_tensor(scores),
        ops.convert_to_tensor(classes), 0.45))
    for b in range(2):
        ref = set()
        for c in range(3):
            idx = np.nonzero(classes[b] == c)[0]
            ref |= {int(idx[i]) for i in nms_numpy(boxes[b, idx], scores[b, idx], 0.45)}
        assert set(np.nonzero(keep[b])[0].tolist()) == ref
        assert len(ref) < m  # something was suppressed


def test_postprocess_recovers_an_encoded_box():
    anchors = default_boxes(CFG)
    n = len(anchors)
    gt = np.array([[0.2, 0.3, 0.6, 0.7]], np.float32)
    lab, m = match_numpy(anchors, gt, np.array([1]))
    pred = np.zeros((1, n, 4 + 3), np.float32)
    pred[0, :, 4] = 5.0                                  # background everywhere ...
    pred[0, lab > 0, :4] = encode_numpy(m[lab > 0], anchors[lab > 0])
    pred[0, lab > 0, 4], pred[0, lab > 0, 6] = 0.0, 8.0  # ... but class 1 where matched
    boxes, scores, classes = (ops.convert_to_numpy(t) for t in
                              dops.postprocess(ops.convert_to_tensor(pred), anchors))
    assert scores[0, 0] > 0.99 and classes[0, 0] == 1
    np.testing.assert_allclose(boxes[0, 0], gt[0], atol=1e-5)
    # all matched anchors decode to the same box: NMS leaves one class-1 box
    assert ((scores[0] > 0.5) & (classes[0] == 1)).sum() == 1


def test_iou_and_encoding_agree_with_keras_bounding_boxes():
    # keras.utils.bounding_boxes is the oracle for the per-box arithmetic (it has
    # no matching, mining or batched NMS, which are ours).
    from keras.utils import bounding_boxes as bb
    anchors = default_boxes(CFG)
    rng = np.random.default_rng(3)
    centre, hw = rng.uniform(.2, .8, (len(anchors), 2)), rng.uniform(.1, .4, (len(anchors), 2))
    gt = np.concatenate([centre - hw / 2, centre + hw / 2], -1).astype(np.float32)
    variance = [0.1, 0.1, 0.2, 0.2]
    ref = bb.encode_box_to_deltas(anchors, gt, anchor_format="center_yxhw", box_format="yxyx",
                                  encoding_format="center_yxhw", variance=variance)
    np.testing.assert_allclose(ops.convert_to_numpy(dops.encode(gt, anchors)),
                               ops.convert_to_numpy(ref), atol=1e-4)
    corners = ops.convert_to_numpy(dops.centre_to_corners(anchors))
    np.testing.assert_allclose(ops.convert_to_numpy(dops.pairwise_iou(corners, gt[:7])),
                               ops.convert_to_numpy(bb.compute_iou(corners, gt[:7], "yxyx")),
                               atol=1e-5)

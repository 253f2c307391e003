"""RPN proposals against a loop reference and hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

from builder.detection.ops import batched_nms, pairwise_iou  # noqa: E402
from builder.detection.proposals import (  # noqa: E402
    generate_proposals, generate_proposals_numpy, greedy_nms, self_iou)
from builder.detection.rcnn_boxes import FPNAnchors, anchors_per_level, fpn_anchors  # noqa: E402


def np_out(result):
    return tuple(ops.convert_to_numpy(v) for v in result)


@pytest.mark.parametrize("pre,post", [(60, 100), (1000, 1000), (20, 40)])
def test_matches_reference_on_random_predictions(pre, post):
    cfg = FPNAnchors()
    anchors, counts = fpn_anchors(48, cfg), anchors_per_level(48, cfg)
    rng = np.random.default_rng(pre)
    obj = rng.normal(size=(2, len(anchors))).astype(np.float32)
    deltas = rng.normal(0, 0.4, (2, len(anchors), 4)).astype(np.float32)
    boxes, scores = np_out(generate_proposals(obj, deltas, anchors, counts, pre, post, 0.7))
    assert boxes.shape == (2, post, 4) and scores.shape == (2, post)
    for b in range(2):
        ref_boxes, ref_scores = generate_proposals_numpy(obj[b], deltas[b], anchors, counts,
                                                         pre, post, 0.7)
        np.testing.assert_allclose(scores[b], ref_scores, atol=1e-6)
        np.testing.assert_allclose(boxes[b], ref_boxes, atol=1e-5)
    assert (np.diff(scores, axis=1) <= 0).all()
    assert boxes.min() >= 0 and boxes.max() <= 1


def test_hand_made_suppression_per_level_clipping_and_padding():
    anchors = np.array([[0.1, 0.1, 0.5, 0.5],        # level 0
                        [0.1, 0.1, 0.5, 0.52],       # level 0, IoU 0.95 with the first
                        [0.6, 0.6, 0.6005, 0.9],     # level 0, thinner than min_size
                        [0.1, 0.1, 0.5, 0.5],        # level 1: same box as the first
                        [0.7, 0.7, 1.3, 1.2]],       # level 1, sticks out of the image
                       np.float32)
    logits = np.array([[2.0, 3.0, 5.0, 1.0, 0.0]], np.float32)
    deltas = np.zeros((1, 5, 4), np.float32)
    boxes, scores = np_out(generate_proposals(logits, deltas, anchors, [3, 2], 10, 6, 0.7))
    sig = 1 / (1 + np.exp(-np.array([3.0, 1.0, 0.0])))
    # The 2.0 box loses to its overlapping 3.0 twin; the thin box is dropped; the level-1
    # copy survives (NMS is per level); the last is clipped; two rows of padding.
    np.testing.assert_allclose(scores[0], [sig[0], sig[1], sig[2], 0, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(boxes[0, :3], [[0.1, 0.1, 0.5, 0.52], [0.1, 0.1, 0.5, 0.5],
                                              [0.7, 0.7, 1.0, 1.0]], atol=1e-6)
    assert (boxes[0, 3:] == 0).all()


def test_no_gradient_and_static_shapes():
    import tensorflow as tf

    cfg = FPNAnchors(sizes=(16, 32), strides=(8, 16))
    anchors, counts = fpn_anchors(32, cfg), anchors_per_level(32, cfg)
    obj = tf.Variable(np.random.default_rng(0).normal(size=(1, len(anchors))), dtype="float32")
    with tf.GradientTape() as tape:
        boxes, scores = generate_proposals(obj, tf.zeros((1, len(anchors), 4)), anchors,
                                           counts, 20, 8)
        total = tf.reduce_sum(scores) + tf.reduce_sum(boxes)
    grad = tape.gradient(total, obj)
    assert grad is None or not np.any(grad.numpy())

    class Proposals(keras.layers.Layer):
        def call(self, objectness, deltas):
            return generate_proposals(objectness, deltas, anchors, counts, 20, 8)

    o = keras.Input((len(anchors),))
    d = keras.Input((len(anchors), 4))
    boxes, scores = Proposals()(o, d)
    assert tuple(boxes.shape) == (None, 8, 4) and tuple(scores.shape) == (None, 8)
    with pytest.raises(ValueError, match="anchors_per_level"):
        generate_proposals(obj, tf.zeros((1, len(anchors), 4)), anchors, [1, 2], 20, 8)


def test_fixed_point_nms_equals_the_greedy_loop():
    rng = np.random.default_rng(7)
    c, s = rng.uniform(0.2, 0.8, (3, 120, 2)), rng.uniform(0.05, 0.4, (3, 120, 2))
    boxes = np.clip(np.concatenate([c - s / 2, c + s / 2], -1), 0, 1).astype(np.float32)
    groups = rng.integers(0, 3, (3, 120)).astype(np.int32)
    scores = np.sort(rng.uniform(0, 1, (3, 120)))[:, ::-1].astype(np.float32)
    scores[:, 100:] = 0                                   # padding rows
    np.testing.assert_allclose(ops.convert_to_numpy(self_iou(boxes)),
                               ops.convert_to_numpy(pairwise_iou(boxes, boxes)), atol=1e-6)
    for thr in (0.2, 0.5):
        want = ops.convert_to_numpy(batched_nms(boxes, scores, groups, thr))
        got = ops.convert_to_numpy(greedy_nms(boxes, scores, groups, thr))
        np.testing.assert_array_equal(got, want)
        assert 0 < want.sum() < 300                       # some boxes are suppressed
    # A chain a > b > c where b suppresses c only if b survives: a kills b, so c stays.
    chain = np.array([[[0, 0, 1, 0.50], [0, 0.2, 1, 0.70], [0, 0.4, 1, 0.9]]], np.float32)
    keep = greedy_nms(chain, np.array([[3.0, 2.0, 1.0]]), np.zeros((1, 3), "int32"), 0.4)
    assert ops.convert_to_numpy(keep).tolist() == [[1.0, 0.0, 1.0]]

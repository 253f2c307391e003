"""The five R-CNN losses against loop references written from torchvision's definitions."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

from builder.detection.rcnn_losses import box_head_losses, mask_loss, rpn_losses  # noqa: E402


def sl1(x, beta=1 / 9):
    x = abs(x)
    return 0.5 * x * x / beta if x < beta else x - 0.5 * beta


def bce(logit, target):
    p = 1 / (1 + np.exp(-logit))
    return -(target * np.log(p) + (1 - target) * np.log(1 - p))


def test_rpn_losses_match_reference():
    rng = np.random.default_rng(0)
    b, a = 2, 30
    obj = rng.normal(size=(b, a)).astype(np.float32)
    deltas = rng.normal(0, 0.3, (b, a, 4)).astype(np.float32)
    target = rng.normal(0, 0.3, (b, a, 4)).astype(np.float32)
    labels = rng.choice([-1, 0, 1], size=(b, a), p=[0.5, 0.3, 0.2]).astype(np.int32)
    got = [float(v) for v in rpn_losses(obj, deltas, labels, target)]
    sampled = [(i, j) for i in range(b) for j in range(a) if labels[i, j] >= 0]
    ref_obj = sum(bce(obj[i, j], labels[i, j]) for i, j in sampled) / len(sampled)
    ref_box = sum(sl1(deltas[i, j, k] - target[i, j, k]) for i, j in sampled
                  if labels[i, j] == 1 for k in range(4)) / len(sampled)
    assert got == pytest.approx([ref_obj, ref_box], rel=1e-5)
    # Nothing sampled: both losses are 0, not NaN.
    none = [float(v) for v in rpn_losses(obj, deltas, np.full((b, a), -1), target)]
    assert none == [0.0, 0.0]


def test_box_head_losses_match_reference():
    rng = np.random.default_rng(1)
    b, s, c = 2, 8, 3
    logits = rng.normal(size=(b, s, c + 1)).astype(np.float32)
    deltas = rng.normal(size=(b, s, (c + 1) * 4)).astype(np.float32)
    target = rng.normal(size=(b, s, 4)).astype(np.float32)
    classes = rng.integers(-1, c + 1, (b, s)).astype(np.int32)
    cls_loss, reg_loss = (float(v) for v in box_head_losses(logits, deltas, classes, target))
    ref_cls = ref_reg = count = 0.0
    for i in range(b):
        for j in range(s):
            k = classes[i, j]
            if k < 0:
                continue
            count += 1
            z = logits[i, j].astype(np.float64)
            ref_cls += np.log(np.exp(z).sum()) - z[k]
            if k > 0:
                ref_reg += sum(sl1(deltas[i, j, 4 * k + t] - target[i, j, t]) for t in range(4))
    assert cls_loss == pytest.approx(ref_cls / count, rel=1e-5)
    assert reg_loss == pytest.approx(ref_reg / count, rel=1e-5)


def test_mask_loss_uses_the_own_class_channel_of_positives():
    rng = np.random.default_rng(2)
    b, s, m, c = 2, 5, 6, 3
    logits = rng.normal(size=(b, s, m, m, c + 1)).astype(np.float32)
    targets = (rng.uniform(size=(b, s, m, m)) > 0.5).astype(np.float32)
    classes = np.array([[2, 0, -1, 3, 1], [0, 0, 1, -1, 0]], np.int32)
    got = float(mask_loss(logits, classes, targets))
    total, n = 0.0, 0
    for i in range(b):
        for j in range(s):
            if classes[i, j] > 0:
                n += 1
                for y in range(m):
                    for x in range(m):
                        total += bce(float(logits[i, j, y, x, classes[i, j]]), targets[i, j, y, x])
    assert got == pytest.approx(total / (n * m * m), rel=1e-5)
    assert float(mask_loss(logits, np.zeros((b, s), np.int32), targets)) == 0.0


def test_losses_are_stable_and_differentiable():
    import tensorflow as tf

    # Extreme logits: BCE written with log1p(exp(-|x|)) stays finite.
    obj = tf.Variable([[80.0, -80.0, 3.0]])
    deltas = tf.Variable(tf.zeros((1, 3, 4)))
    with tf.GradientTape() as tape:
        o, b = rpn_losses(obj, deltas, tf.constant([[0, 1, -1]]), tf.ones((1, 3, 4)))
        total = o + b
    grads = tape.gradient(total, [obj, deltas])
    assert float(o) == pytest.approx(80.0, rel=1e-4)    # both sampled anchors are 80 off
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    assert grads[0].numpy()[0, 2] == 0 and ops.convert_to_numpy(grads[1])[0, 1].any()

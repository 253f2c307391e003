"""RoIAlign against the numpy reference, closed forms, gradients and the FPN level rule."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

from builder.detection.roi_align import (  # noqa: E402
    fpn_levels, multilevel_roi_align, roi_align, roi_align_numpy)


def random_boxes(rng, shape, lo=-0.2, hi=1.2):
    c = rng.uniform(lo, hi, shape + (2,))
    s = rng.uniform(0.01, 0.9, shape + (2,))
    return np.concatenate([c - s / 2, c + s / 2], axis=-1).astype(np.float32)


def run(*args, **kwargs):
    return ops.convert_to_numpy(roi_align(*args, **kwargs))


@pytest.mark.parametrize("method", ["dense", "gather"])
@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("ratio", [1, 3])
def test_matches_reference_on_random_maps_and_boxes(aligned, ratio, method):
    rng = np.random.default_rng(ratio + 10 * aligned)
    f = rng.normal(size=(2, 9, 11, 3)).astype(np.float32)
    boxes = random_boxes(rng, (2, 6))        # some partly or wholly outside the map
    got = run(f, boxes, (7, 5), ratio, aligned, method=method)
    assert got.shape == (2, 6, 7, 5, 3)
    np.testing.assert_allclose(got, roi_align_numpy(f, boxes, (7, 5), ratio, aligned),
                               atol=1e-5)


def test_constant_map_inside_and_outside():
    f = np.full((1, 8, 8, 2), 3.0, np.float32)
    boxes = np.array([[[0.1, 0.2, 0.7, 0.9],         # inside: every sample is 3
                       [1.5, 1.5, 2.0, 2.0],         # beyond y, x > H: every sample is 0
                       [-0.2, 0.2, 0.3, 0.6]]], np.float32)
    got = run(f, boxes, (4, 4), 2)
    np.testing.assert_allclose(got[0, 0], 3.0, rtol=1e-6)
    np.testing.assert_allclose(got[0, 1], 0.0)
    # Third box starts at y = -0.2 * 8 - 0.5 = -2.1 and is 4 cells tall: bins of 1 cell,
    # samples 0.5 apart; samples below -1 are zero, the rest 3 (clamped to row 0).
    ys = -2.1 + (np.arange(8) + 0.5) * 0.5
    assert (ys >= -1).sum() == 6
    per_bin = (ys >= -1).reshape(4, 2).mean(axis=1) * 3.0
    np.testing.assert_allclose(got[0, 2, :, 0, 0], per_bin, rtol=1e-6)


def test_linear_ramp_gives_bin_centres():
    # f[y, x] = 2 y + 3 x + 1 on cell indices; aligned sampling interpolates it exactly, and
    # the mean of a bin's symmetric samples is the ramp at the bin's centre.
    h, w = 12, 10
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    f = (2.0 * yy + 3.0 * xx + 1.0)[None, :, :, None].astype(np.float32)
    box = np.array([0.2, 0.15, 0.8, 0.9], np.float32)
    got = run(f, box[None, None], (3, 5), 2)[0, 0, :, :, 0]
    y0, x0 = box[0] * h - 0.5, box[1] * w - 0.5
    bh, bw = (box[2] - box[0]) * h / 3, (box[3] - box[1]) * w / 5
    cy = y0 + (np.arange(3) + 0.5) * bh
    cx = x0 + (np.arange(5) + 0.5) * bw
    np.testing.assert_allclose(got, 2 * cy[:, None] + 3 * cx[None, :] + 1, rtol=1e-5)


def test_box_on_the_pixel_grid_is_a_crop():
    # Box covering cells 2..3 (rows) and 3..5 (cols) with one bin and one sample per cell:
    # each sample sits on a cell centre, so RoIAlign returns the cells themselves.
    rng = np.random.default_rng(0)
    f = rng.normal(size=(2, 8, 8, 4)).astype(np.float32)
    boxes = np.array([[2 / 8, 3 / 8, 4 / 8, 6 / 8]] * 2, np.float32)[:, None]
    for method in ("dense", "gather"):
        got = run(f, boxes, (2, 3), 1, method=method)
        np.testing.assert_allclose(got[:, 0], f[:, 2:4, 3:6], atol=1e-6)


@pytest.mark.parametrize("method", ["dense", "gather"])
def test_gradient_reaches_the_features_as_the_adjoint(method):
    import tensorflow as tf

    rng = np.random.default_rng(1)
    f = tf.constant(rng.normal(size=(2, 6, 7, 3)).astype(np.float32))
    boxes = random_boxes(rng, (2, 4), 0.1, 0.9)
    g = rng.normal(size=(2, 4, 3, 3, 3)).astype(np.float32)
    with tf.GradientTape() as tape:
        tape.watch(f)
        loss = tf.reduce_sum(roi_align(f, boxes, (3, 3), 2, method=method) * g)
    grad = tape.gradient(loss, f).numpy()
    assert np.abs(grad).sum() > 0
    # RoIAlign is linear in the features: <roi_align(F), G> = <F, dL/dF> for any F.
    other = rng.normal(size=f.shape)
    np.testing.assert_allclose((roi_align_numpy(other, boxes, (3, 3), 2) * g).sum(),
                               (other * grad).sum(), rtol=1e-4)


def test_fpn_level_rule():
    # Square boxes of side s px in a 1000 px image: level floor(4 + log2(s / 224)), in 2..5.
    sides = np.array([10, 56, 111, 112, 224, 447, 448, 900], np.float32)
    boxes = np.stack([np.zeros(8), np.zeros(8), sides / 1000, sides / 1000], -1)[None]
    got = ops.convert_to_numpy(fpn_levels(boxes.astype(np.float32), 1000))
    assert got.tolist() == [[2, 2, 2, 3, 4, 4, 5, 5]]
    # Padding rows (zero boxes) go to the lowest level instead of failing on log(0).
    assert ops.convert_to_numpy(fpn_levels(np.zeros((1, 1, 4), np.float32), 64)).tolist() \
        == [[2]]


def test_multilevel_pools_each_box_on_its_level():
    rng = np.random.default_rng(2)
    image = 256
    feats = [rng.normal(size=(2, image // s, image // s, 3)).astype(np.float32)
             for s in (4, 8, 16, 32)]
    sides = np.array([20, 120, 200, 250], np.float32) / image     # levels 2, 3, 3, 4
    boxes = np.zeros((2, 4, 4), np.float32)
    boxes[..., 2:] = sides[:, None] + 0.0
    boxes[1] += 0.01
    got = ops.convert_to_numpy(multilevel_roi_align(feats, boxes, image, (5, 5), 2))
    levels = [2, 3, 3, 4]
    for n, level in enumerate(levels):
        ref = roi_align_numpy(feats[level - 2], boxes[:, n:n + 1], (5, 5), 2)
        np.testing.assert_allclose(got[:, n:n + 1], ref, atol=1e-5)
    with pytest.raises(ValueError, match="one feature map per level"):
        multilevel_roi_align(feats[:3], boxes, image)
    with pytest.raises(ValueError, match="sampling_ratio"):
        roi_align(feats[0], boxes, 7, sampling_ratio=0)
    with pytest.raises(ValueError, match="method"):
        roi_align(feats[0], boxes, 7, method="fast")


def test_static_shapes_in_a_functional_model():
    class Align(keras.layers.Layer):
        def call(self, features, boxes):
            return roi_align(features, boxes, (7, 7), 2)

    feats = keras.Input((16, 16, 8))
    boxes = keras.Input((5, 4))
    out = Align()(feats, boxes)
    assert tuple(out.shape) == (None, 5, 7, 7, 8)
    model = keras.Model([feats, boxes], out)
    rng = np.random.default_rng(4)
    f = rng.normal(size=(3, 16, 16, 8)).astype(np.float32)
    b = random_boxes(rng, (3, 5), 0.2, 0.8)
    np.testing.assert_allclose(model.predict([f, b], verbose=0),
                               roi_align_numpy(f, b, (7, 7), 2), atol=1e-5)


def test_auto_method_on_a_large_map_agrees_with_reference():
    from builder.detection.roi_align import DENSE_MAX_CELLS

    rng = np.random.default_rng(5)
    side = int(DENSE_MAX_CELLS ** 0.5) + 6           # above the dense limit: gathers
    f = rng.normal(size=(1, side, side, 2)).astype(np.float32)
    boxes = random_boxes(rng, (1, 3), 0.2, 0.8)
    np.testing.assert_allclose(run(f, boxes, (4, 4), 2), roi_align_numpy(f, boxes, (4, 4), 2),
                               atol=1e-5)

"""FPN anchors and the Faster R-CNN box coder against hand-made cases and numpy twins."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

from builder.detection.rcnn_boxes import (  # noqa: E402
    BOX_HEAD_WEIGHTS, DEFAULT_CLIP, FPNAnchors, anchors_per_level, decode_deltas,
    decode_deltas_numpy, encode_deltas, encode_deltas_numpy, feature_sizes, fpn_anchors)


def random_boxes(rng, n):
    c = rng.uniform(0.1, 0.9, (n, 2))
    s = rng.uniform(0.02, 0.6, (n, 2))
    return np.concatenate([c - s / 2, c + s / 2], axis=1).astype(np.float32)


def test_anchor_counts_follow_the_feature_map_sizes():
    cfg = FPNAnchors()
    assert feature_sizes(64, cfg) == [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    assert anchors_per_level(64, cfg) == [768, 192, 48, 12, 3]
    # 800 px: maps 200, 100, 50, 25, 13 (ceil) -> 3 * (40000 + 10000 + 2500 + 625 + 169).
    assert sum(anchors_per_level(800, cfg)) == 159_882
    assert fpn_anchors((64, 96), cfg).shape == (sum(anchors_per_level((64, 96), cfg)), 4)
    with pytest.raises(ValueError, match="one size per stride"):
        FPNAnchors(sizes=(32, 64), strides=(4,))


def test_anchor_order_and_geometry_by_hand():
    cfg = FPNAnchors()
    a = fpn_anchors(64, cfg) * 64
    # Level P2, cell (y=1, x=2), ratio index 1 (h/w = 1): centre (4, 8), side 32.
    np.testing.assert_allclose(a[(1 * 16 + 2) * 3 + 1], [4 - 16, 8 - 16, 4 + 16, 8 + 16])
    # Ratio 0.5 at cell (0, 0): h = 32 * sqrt(.5) = 22.6, w = 45.3 -> rounded half-sides 11, 23.
    np.testing.assert_allclose(a[0], [-11, -23, 11, 23])
    np.testing.assert_allclose(a[2], [-23, -11, 23, 11])
    # First anchor of P3 (stride 8, size 64) comes right after the 768 of P2.
    np.testing.assert_allclose(a[768 + 1], [-32, -32, 32, 32])
    # The last anchor: P6 (stride 64, size 512) cell (0, 0), ratio 2.
    h, w = 512 * math.sqrt(2), 512 / math.sqrt(2)
    np.testing.assert_allclose(a[-1], np.round([-h / 2, -w / 2, h / 2, w / 2]))
    # Non-square images normalise y by the height and x by the width.
    b = fpn_anchors((64, 128), cfg)
    np.testing.assert_allclose(b[(1 * 32 + 2) * 3 + 1] * [64, 128, 64, 128],
                               [4 - 16, 8 - 16, 4 + 16, 8 + 16], atol=1e-4)


def test_encode_decode_by_hand():
    box = np.array([[0.1, 0.2, 0.3, 0.6]], np.float32)
    ref = np.array([[0.0, 0.0, 0.2, 0.4]], np.float32)
    # Centres (0.2, 0.4) vs (0.1, 0.2), sizes equal: dy = 0.1 / 0.2, dx = 0.2 / 0.4.
    got = ops.convert_to_numpy(encode_deltas(box, ref))
    np.testing.assert_allclose(got, [[0.5, 0.5, 0.0, 0.0]], atol=1e-6)
    got = ops.convert_to_numpy(encode_deltas(box, ref, BOX_HEAD_WEIGHTS))
    np.testing.assert_allclose(got, [[5.0, 5.0, 0.0, 0.0]], atol=1e-5)
    # Doubling height: dh = log 2; decoding a huge dw stops at exp(log(1000 / 16)).
    dec = ops.convert_to_numpy(decode_deltas(np.array([[0, 0, math.log(2), 50]], np.float32),
                                             ref))
    w = 0.4 * 1000 / 16
    np.testing.assert_allclose(dec, [[-0.1, 0.2 - w / 2, 0.3, 0.2 + w / 2]], rtol=1e-5)


def test_coder_matches_numpy_twins_and_round_trips():
    rng = np.random.default_rng(3)
    boxes, ref = random_boxes(rng, 50), random_boxes(rng, 50)
    for weights in ((1, 1, 1, 1), BOX_HEAD_WEIGHTS):
        enc = ops.convert_to_numpy(encode_deltas(boxes, ref, weights))
        np.testing.assert_allclose(enc, encode_deltas_numpy(boxes, ref, weights),
                                   rtol=1e-4, atol=1e-5)
        dec = ops.convert_to_numpy(decode_deltas(enc, ref, weights))
        np.testing.assert_allclose(dec, boxes, atol=1e-5)
        np.testing.assert_allclose(decode_deltas_numpy(enc, ref, weights), boxes, atol=1e-5)
    deltas = rng.normal(0, 3, (50, 4)).astype(np.float32)
    np.testing.assert_allclose(ops.convert_to_numpy(decode_deltas(deltas, ref)),
                               decode_deltas_numpy(deltas, ref, clip=DEFAULT_CLIP),
                               rtol=1e-4, atol=1e-5)
    # Batched, broadcasting the reference: (B, N, 4) deltas on (N, 4) anchors.
    batched = ops.convert_to_numpy(decode_deltas(np.stack([deltas, deltas]), ref))
    assert batched.shape == (2, 50, 4)
    np.testing.assert_allclose(batched[1], decode_deltas_numpy(deltas, ref), rtol=1e-4,
                               atol=1e-5)


def test_anchor_functions_do_not_import_keras():
    # The analysis tier may count anchors; it must not pull in Keras or TensorFlow.
    code = ("import sys; from builder.detection import rcnn_boxes as r; "
            "assert sum(r.anchors_per_level(64)) == len(r.fpn_anchors(64)) == 1023; "
            "assert not {'keras', 'tensorflow', 'jax'} & set(sys.modules), sorted(sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-1000:]

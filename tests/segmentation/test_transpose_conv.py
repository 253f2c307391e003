"""The lecture's 1-D transpose convolution, numerically, with Keras' Conv2DTranspose.

Input (a, b), filter (x, y, z), stride 2: the output is the filter weighted by
each input, placed 2 apart and summed where they overlap: ax, ay, az + bx, by, bz.
"""

from __future__ import annotations

import numpy as np

import keras

from builder.blocks import CATALOG, Notes
from builder.compile import to_keras
from builder.core import Graph


def _lecture_output(a, b, x, y, z):
    return [a * x, a * y, a * z + b * x, b * y, b * z]


def test_the_lecture_s_1d_transpose_convolution():
    a, b = 2.0, -3.0
    x, y, z = 0.5, 7.0, -1.25
    # 1-D as a 1 x W image: one row, kernel 1 x 3, stride (1, 2), no padding.
    layer = keras.layers.Conv2DTranspose(1, (1, 3), strides=(1, 2), padding="valid",
                                         use_bias=False)
    layer.build((None, 1, 2, 1))
    layer.kernel.assign(np.array([x, y, z], np.float32).reshape(1, 3, 1, 1))
    out = keras.ops.convert_to_numpy(layer(np.array([a, b], np.float32).reshape(1, 1, 2, 1)))
    np.testing.assert_allclose(out.reshape(-1), _lecture_output(a, b, x, y, z), rtol=1e-6)


def test_the_catalogue_node_builds_that_layer():
    # The same example drawn as a Conv2DTranspose node: (W - 1) * S + F = 5 outputs.
    params = {"filters": 1, "kernel_size": [1, 3], "strides": [1, 2], "padding": "valid",
              "use_bias": False}
    spec = CATALOG.get("Conv2DTranspose")
    (shape,) = spec.shape({**spec.defaults(), **params}, [(None, 1, 2, 1)], Notes())
    assert shape == (None, 1, 5, 1)
    g = Graph()
    g.add_node("Input", {"shape": [1, 2, 1]}, id="ab")
    g.add_node("Conv2DTranspose", params, id="up")
    g.add_node("Output", {"loss": "mean_squared_error", "metrics": []}, id="out")
    g.connect("ab", "up")
    g.connect("up", "out")
    model = to_keras(g)
    rng = np.random.default_rng(3)
    xyz = rng.normal(size=3).astype(np.float32)
    model.get_layer("up").kernel.assign(xyz.reshape(1, 3, 1, 1))
    ab = rng.normal(size=2).astype(np.float32)
    got = model.predict(ab.reshape(1, 1, 2, 1), verbose=0).reshape(-1)
    np.testing.assert_allclose(got, _lecture_output(*ab, *xyz), rtol=1e-5, atol=1e-6)

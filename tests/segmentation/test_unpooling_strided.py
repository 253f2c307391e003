"""Argmax pooling and unpooling at sizes that are not multiples of the window and
with overlapping windows (stride < pool size), against a numpy reference, the
gradient of Keras' MaxPooling2D, and the catalogue's rules."""

from __future__ import annotations

import numpy as np
import pytest

import keras

from builder.analysis import analyze
from builder.blocks import CATALOG, Notes, ShapeIssue
from builder.compile import to_keras
from builder.compile.segmentation_layers import MaxPoolingWithArgmax2D, MaxUnpooling2D
from builder.core import Graph
from tests.compile.oracle import assert_matches_analysis, assert_same_models, \
    build_from_source


def pool_reference(x, pool, strides):
    """Loops over windows: values, in-window indices and absolute positions."""
    (kh, kw), (sh, sw) = pool, strides
    n, h, w, c = x.shape
    rows, cols = (h - kh) // sh + 1, (w - kw) // sw + 1
    values = np.zeros((n, rows, cols, c), x.dtype)
    index = np.zeros((n, rows, cols, c), np.int32)
    where = np.zeros((n, rows, cols, c, 2), np.int64)
    for b in range(n):
        for r in range(rows):
            for q in range(cols):
                for ch in range(c):
                    window = x[b, r * sh:r * sh + kh, q * sw:q * sw + kw, ch]
                    k = int(np.argmax(window))  # first maximum, row-major
                    values[b, r, q, ch] = window.flat[k]
                    index[b, r, q, ch] = k
                    where[b, r, q, ch] = (r * sh + k // kw, q * sw + k % kw)
    return values, index, where


def unpool_reference(values, where, size):
    out = np.zeros((values.shape[0], *size, values.shape[-1]), values.dtype)
    n, rows, cols, c = values.shape
    for b in range(n):
        for r in range(rows):
            for q in range(cols):
                for ch in range(c):
                    y, x = where[b, r, q, ch]
                    out[b, y, x, ch] += values[b, r, q, ch]  # overlaps add up
    return out


CASES = [((5, 5), (2, 2), None), ((7, 9), (3, 3), (2, 2)), ((6, 6), (3, 3), (1, 1)),
         ((5, 8), (2, 3), (1, 2)), ((4, 4), (2, 2), None)]


@pytest.mark.parametrize("size, pool, strides", CASES, ids=str)
def test_pool_and_unpool_match_the_numpy_reference(size, pool, strides):
    rng = np.random.default_rng(sum(size))
    x = rng.normal(size=(2, *size, 3)).astype(np.float32)
    steps = strides or pool
    values, indices = MaxPoolingWithArgmax2D(pool, strides)(x)
    ref_values, ref_index, where = pool_reference(x, pool, steps)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(values), ref_values)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(indices), ref_index)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(values),
        keras.ops.convert_to_numpy(keras.layers.MaxPooling2D(pool, strides)(x)))
    decoder = rng.normal(size=ref_values.shape).astype(np.float32)
    # Given the size, from the pooled tensor, or (for a size pooling reaches
    # fully) by the default rule: the same placement.
    layers = [MaxUnpooling2D(pool, strides, output_size=size)([decoder, indices]),
              MaxUnpooling2D(pool, strides)([decoder, indices, x])]
    for out in layers:
        np.testing.assert_allclose(keras.ops.convert_to_numpy(out),
                                   unpool_reference(decoder, where, size), rtol=1e-6,
                                   atol=1e-6)  # overlaps add in another order


def test_a_5x5_round_trip_puts_every_maximum_back_in_place():
    x = np.arange(25, dtype=np.float32).reshape(1, 5, 5, 1)[:, :, ::-1].copy()
    values, indices = MaxPoolingWithArgmax2D(2)(x)
    back = keras.ops.convert_to_numpy(MaxUnpooling2D(2, output_size=5)([values, indices]))
    expected = np.zeros((5, 5), np.float32)
    for r, q in ((1, 0), (1, 2), (3, 0), (3, 2)):  # each window's max: bottom-left
        expected[r, q] = x[0, r, q, 0]
    np.testing.assert_array_equal(back[0, :, :, 0], expected)
    # Without output_size the last row and column are not there to fill.
    assert MaxUnpooling2D(2)([values, indices]).shape == (1, 4, 4, 1)


def test_overlapping_unpooling_is_the_gradient_of_keras_max_pooling():
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the gradient oracle uses TensorFlow's tape")
    x = tf.constant(np.random.default_rng(3).normal(size=(2, 9, 7, 2)).astype(np.float32))
    pool = keras.layers.MaxPooling2D(3, strides=2)
    values, indices = MaxPoolingWithArgmax2D(3, 2)(x)
    upstream = np.random.default_rng(4).normal(size=values.shape).astype(np.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(pool(x) * upstream)
    grad = tape.gradient(total, x).numpy()
    ours = keras.ops.convert_to_numpy(MaxUnpooling2D(3, 2)([upstream, indices, x]))
    np.testing.assert_allclose(ours, grad, rtol=1e-5, atol=1e-6)
    # some pixel was the maximum of two overlapping windows, so the sum mattered
    _, _, where = pool_reference(x.numpy(), (3, 3), (2, 2))
    flat = [tuple(w) for w in where.reshape(-1, 2)]
    assert len(flat) > len(set(flat))


#: (kind, params, input shapes, our expected output shapes) checked against Keras.
ORACLE = [
    ("MaxPoolWithArgmax2D", {"pool_size": 3, "strides": 2}, [(9, 7, 2)]),
    ("MaxPoolWithArgmax2D", {"pool_size": 2}, [(5, 5, 1)]),
    ("MaxUnpool2D", {"pool_size": 3, "strides": 2}, [(4, 3, 2), (4, 3, 2)]),
    ("MaxUnpool2D", {"output_size": 5}, [(2, 2, 1), (2, 2, 1)]),
    ("MaxUnpool2D", {"pool_size": 3, "strides": 2, "output_size": [10, 8]},
     [(4, 3, 2), (4, 3, 2)]),
]


@pytest.mark.parametrize("kind, params, shapes", ORACLE, ids=str)
def test_rules_match_keras(kind, params, shapes):
    spec = CATALOG.get(kind)
    p = {**spec.defaults(), **params}
    assert CATALOG.validate_params(kind, p) == []
    ours = spec.shape(p, [(None, *s) for s in shapes], Notes())
    inputs = [keras.Input(shape=s, dtype=t) for s, t in zip(shapes, ("float32", "int32"))]
    (call,) = spec.keras(p)
    layer = keras.saving.get_registered_object(f"keras_builder>{call.class_name}")
    out = layer(**call.kwargs)(inputs if len(inputs) > 1 else inputs[0])
    outs = out if isinstance(out, (list, tuple)) else [out]
    assert ours == [tuple(t.shape) for t in outs]


def test_an_output_size_that_does_not_pool_back_is_refused_by_both():
    spec = CATALOG.get("MaxUnpool2D")
    p = {**spec.defaults(), "output_size": 7}
    with pytest.raises(ShapeIssue) as issue:
        spec.shape(p, [(None, 2, 2, 1)] * 2, Notes())
    assert "floor((7 - 2)/2) + 1 = 3" in issue.value.message
    assert "between 4 and 5" in issue.value.fix
    with pytest.raises(ValueError, match="cannot unpool"):
        MaxUnpooling2D(2, output_size=7)([keras.Input((2, 2, 1)),
                                          keras.Input((2, 2, 1), dtype="int32")])


def test_the_odd_size_warning_names_the_output_size_to_set():
    notes = Notes()
    CATALOG.get("MaxPoolWithArgmax2D").shape({"pool_size": 3, "strides": 2},
                                              [(None, 8, 9, 3)], notes)
    ((message, *_),) = notes.items
    assert "height 8" in message and "gives back 7, not 8" in message


def test_a_graph_with_odd_sizes_round_trips_through_keras_and_source(tmp_path):
    g = Graph()
    g.add_node("Input", {"shape": [9, 7, 2]}, id="image")
    g.add_node("MaxPoolWithArgmax2D", {"pool_size": 3, "strides": 2}, id="pool")
    g.add_node("MaxUnpool2D", {"pool_size": 3, "strides": 2, "output_size": [9, 7]},
               id="unpool")
    g.add_node("Output", {}, id="output")
    g.connect("image", "pool")
    g.connect("pool", "unpool")
    g.connect("pool", "unpool", src_port="indices", dst_port="indices")
    g.connect("unpool", "output")
    analysis = analyze(g)
    assert analysis.nodes["unpool"].output_shapes == [(None, 9, 7, 2)]
    assert CATALOG.get("MaxPoolWithArgmax2D").label({"pool_size": 3, "strides": 2}) \
        == "maxpool+idx3/2"
    model = to_keras(g)
    assert_matches_analysis(g, model)
    assert_same_models(model, build_from_source(g))
    x = np.random.default_rng(0).normal(size=(2, 9, 7, 2)).astype(np.float32)
    _, _, where = pool_reference(x, (3, 3), (2, 2))
    values = keras.ops.convert_to_numpy(keras.layers.MaxPooling2D(3, 2)(x))
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               unpool_reference(values, where, (9, 7)), rtol=1e-6)
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0))
    from builder.compile.from_keras import from_keras

    imported = from_keras(path).graph
    unpool = next(n for n in imported.nodes.values() if n.kind == "MaxUnpool2D")
    assert list(unpool.params["output_size"]) == [9, 7]
    assert list(unpool.params["strides"]) == [2, 2]

"""Max pooling with argmax and max unpooling: the lecture's example, the catalogue
rules against Keras, and the kinds through analysis, compile, source and saving."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import keras

from builder.analysis import analyze
from builder.blocks import CATALOG, Notes, ShapeIssue
from builder.compile import to_keras, to_source
from builder.compile.segmentation_layers import MaxPoolingWithArgmax2D, MaxUnpooling2D
from builder.core import Graph
from tests.compile.oracle import assert_matches_analysis, assert_same_models, \
    build_from_source

#: The lecture's slides "Max Pooling" / "Max Unpooling".
LECTURE_INPUT = [[1, 2, 6, 3], [3, 5, 2, 1], [1, 2, 2, 1], [7, 3, 4, 8]]
LECTURE_POOLED = [[5, 6], [7, 8]]
LECTURE_UNPOOL_INPUT = [[1, 2], [3, 4]]
LECTURE_UNPOOLED = [[0, 0, 2, 0], [0, 1, 0, 0], [0, 0, 0, 0], [3, 0, 0, 4]]


def _image(rows):
    return np.array(rows, np.float32).reshape(1, len(rows), len(rows[0]), 1)


def test_the_lecture_s_max_pooling_and_unpooling():
    values, indices = MaxPoolingWithArgmax2D(2)(_image(LECTURE_INPUT))
    assert keras.ops.convert_to_numpy(values)[0, :, :, 0].tolist() == LECTURE_POOLED
    unpooled = MaxUnpooling2D(2)([_image(LECTURE_UNPOOL_INPUT), indices])
    assert keras.ops.convert_to_numpy(unpooled)[0, :, :, 0].tolist() == LECTURE_UNPOOLED


def test_the_lecture_s_example_under_jax():
    pytest.importorskip("jax")
    script = textwrap.dedent(f"""
        import numpy as np, keras
        assert keras.backend.backend() == "jax"
        from builder.compile.segmentation_layers import (
            MaxPoolingWithArgmax2D, MaxUnpooling2D)
        x = np.array({LECTURE_INPUT}, np.float32).reshape(1, 4, 4, 1)
        v, i = MaxPoolingWithArgmax2D(2)(x)
        u = MaxUnpooling2D(2)([np.array({LECTURE_UNPOOL_INPUT},
                                        np.float32).reshape(1, 2, 2, 1), i])
        print(np.asarray(v, int)[0, :, :, 0].tolist(),
              np.asarray(u, int)[0, :, :, 0].tolist())
        # Gradients reach the values through unpooling on this backend too.
        inp = keras.Input((4, 4, 2))
        v, i = MaxPoolingWithArgmax2D(2)(keras.layers.Conv2D(2, 1)(inp))
        model = keras.Model(inp, MaxUnpooling2D(2)([v, i]))
        model.compile("sgd", "mse")
        data = np.random.default_rng(0).random((4, 4, 4, 2), dtype=np.float32)
        before = model.evaluate(data, data, verbose=0)
        model.fit(data, data, epochs=5, verbose=0)
        print(model.evaluate(data, data, verbose=0) < before)
    """)
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[-3:-1] == [f"{LECTURE_POOLED} {LECTURE_UNPOOLED}",
                                              "True"]


def test_pooled_values_equal_keras_max_pooling():
    x = np.random.default_rng(1).normal(size=(2, 9, 8, 3)).astype(np.float32)
    for size in ((2, 2), (3, 2)):
        ours, indices = MaxPoolingWithArgmax2D(size)(x)
        ref = keras.layers.MaxPooling2D(size)(x)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours),
                                      keras.ops.convert_to_numpy(ref))
        # Unpooling the values themselves keeps each maximum in place, zeros elsewhere.
        back = keras.ops.convert_to_numpy(MaxUnpooling2D(size)([ours, indices]))
        h, w = back.shape[1:3]
        crop = x[:, :h, :w]
        kept = back != 0
        np.testing.assert_array_equal(back[kept], crop[kept])
        assert kept.sum() == np.prod(keras.ops.shape(ours))


#: (kind, params, per-sample input shapes): our rules against Keras' shapes.
ORACLE = [
    ("MaxPoolWithArgmax2D", {}, [(8, 8, 3)]),
    ("MaxPoolWithArgmax2D", {"pool_size": [2, 3]}, [(7, 9, 2)]),
    ("MaxPoolWithArgmax2D", {"pool_size": 3}, [(None, None, 4)]),
    ("MaxUnpool2D", {}, [(4, 4, 3), (4, 4, 3)]),
    ("MaxUnpool2D", {"pool_size": [2, 3]}, [(3, 3, 2), (3, 3, 2)]),
    ("MaxUnpool2D", {}, [(None, None, 5), (None, None, 5)]),
]


@pytest.mark.parametrize("kind, params, shapes", ORACLE, ids=lambda v: str(v))
def test_rules_match_keras(kind, params, shapes):
    spec = CATALOG.get(kind)
    p = {**spec.defaults(), **params}
    assert CATALOG.validate_params(kind, p) == []
    ours = spec.shape(p, [(None, *s) for s in shapes], Notes())
    dtypes = ["float32", "int32"]
    inputs = [keras.Input(shape=s, dtype=dtypes[i]) for i, s in enumerate(shapes)]
    layers = [keras.saving.get_registered_object(f"keras_builder>{c.class_name}")(**c.kwargs)
              for c in spec.keras(p)]
    out = layers[0](inputs if len(inputs) > 1 else inputs[0])
    outs = out if isinstance(out, (list, tuple)) else [out]
    assert ours == [tuple(t.shape) for t in outs]
    assert spec.weights(p, [], ours) == [] and layers[0].weights == []
    assert spec.label(p)


@pytest.mark.parametrize("kind, params, shapes, words", [
    ("MaxPoolWithArgmax2D", {"pool_size": 5}, [(3, 3, 1)], "at least the pool size 5"),
    ("MaxPoolWithArgmax2D", {}, [(7,)], "expects an image tensor"),
    ("MaxUnpool2D", {}, [(4, 4, 3)], "expects 2 inputs"),
    ("MaxUnpool2D", {}, [(4, 4, 3), (2, 2, 3)], "values (4, 4, 3) and indices (2, 2, 3)"),
])
def test_refused_with_the_numbers(kind, params, shapes, words):
    spec = CATALOG.get(kind)
    with pytest.raises(ShapeIssue) as issue:
        spec.shape({**spec.defaults(), **params}, [(None, *s) for s in shapes], Notes())
    assert words in issue.value.message and "Received" in issue.value.message
    # Keras refuses them too, so a diagnostic never blocks a model Keras would build.
    inputs = [keras.Input(shape=s, dtype=t) for s, t in zip(shapes, ("float32", "int32"))]
    (call,) = spec.keras({**spec.defaults(), **params})
    layer = keras.saving.get_registered_object(f"keras_builder>{call.class_name}")
    with pytest.raises(Exception):  # noqa: B017 - ValueError or TypeError
        layer(**call.kwargs)(inputs if len(inputs) > 1 else inputs[0])


def test_an_odd_size_warns_that_unpooling_cannot_give_it_back():
    notes = Notes()
    CATALOG.get("MaxPoolWithArgmax2D").shape({"pool_size": 2}, [(None, 7, 8, 3)], notes)
    assert len(notes.items) == 1 and "7" in notes.items[0][0]


def _encoder_decoder() -> Graph:
    g = Graph()
    g.add_node("Input", {"shape": [8, 8, 3]}, id="image")
    g.add_node("Conv2D", {"filters": 4, "padding": "same"}, id="enc")
    g.add_node("MaxPoolWithArgmax2D", {}, id="pool")
    g.add_node("Conv2D", {"filters": 4, "padding": "same"}, id="mid")
    g.add_node("MaxUnpool2D", {}, id="unpool")
    g.add_node("Conv2D", {"filters": 2, "kernel_size": 1, "activation": "softmax"},
               id="classes")
    g.add_node("Output", {}, id="output")
    g.connect("image", "enc")
    g.connect("enc", "pool")
    g.connect("pool", "mid")
    g.connect("mid", "unpool")
    g.connect("pool", "unpool", src_port="indices", dst_port="indices")
    g.connect("unpool", "classes")
    g.connect("classes", "output")
    return g


def test_a_graph_wires_indices_from_pool_to_unpool(tmp_path):
    graph = _encoder_decoder()
    analysis = analyze(graph)
    assert analysis.ok, [str(d) for d in analysis.diagnostics]
    assert analysis.nodes["pool"].output_shapes == [(None, 4, 4, 4), (None, 4, 4, 4)]
    assert analysis.nodes["unpool"].input_shapes == [(None, 4, 4, 4), (None, 4, 4, 4)]
    assert analysis.nodes["unpool"].output_shapes == [(None, 8, 8, 4)]
    model = to_keras(graph)
    assert_matches_analysis(graph, model)
    # The generated script builds the same model, and the .keras file reloads.
    assert_same_models(model, build_from_source(graph))
    assert "MaxUnpooling2D" in to_source(graph)
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    x = np.random.default_rng(0).random((2, 8, 8, 3), dtype=np.float32)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


def test_unpooling_from_the_wrong_port_is_a_diagnostic():
    graph = _encoder_decoder()
    graph.disconnect(next(e for e in graph.in_edges("unpool") if e.dst_port == "indices"))
    found = analyze(graph).nodes["unpool"].diagnostics
    assert any("expects 2 inputs, one on each port ('in', 'indices'). Received: 1"
               in d.message for d in found)


def test_a_keras_file_with_unpooling_imports_with_its_ports(tmp_path):
    from builder.compile.from_keras import from_keras

    path = tmp_path / "segnet.keras"
    to_keras(_encoder_decoder()).save(path)
    graph = from_keras(path).graph
    assert analyze(graph).ok
    (edge,) = [e for e in graph.edges if e.dst_port == "indices"]
    assert (graph.nodes[edge.src].kind, edge.src_port, graph.nodes[edge.dst].kind) == \
        ("MaxPoolWithArgmax2D", "indices", "MaxUnpool2D")


def test_the_summary_counts_both_outputs_of_argmax_pooling():
    from builder.analysis.summary import format_table, summarize

    graph = _encoder_decoder()
    rows = {r.split()[0]: r for r in format_table(summarize(graph)).splitlines() if r}
    # Values and indices: two 4x4x4 maps.
    assert "2*4*4*4 = 128" in rows["pool"]
    assert "8*8*4 = 256" in rows["unpool"]

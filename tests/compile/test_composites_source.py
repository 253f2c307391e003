"""Composite blocks compile to the same model through to_source as through to_keras,
with keras.applications-style layer names from their hierarchical ids."""

from __future__ import annotations

import pytest

import builder.blocks  # noqa: F401
from builder.compile import to_keras, to_source
from builder.core import Graph
from tests.compile.oracle import assert_same_models, build_from_source

keras = pytest.importorskip("keras")


def mixed_graph() -> Graph:
    g = Graph()
    g.add_node("Input", {"shape": [16, 16, 3]}, id="in")
    chain = [("conv2", "Stage", {"block": "ResidualBottleneck", "blocks": 2,
                                 "params": {"filters": 2, "se_ratio": 2},
                                 "first": {"strides": 2}}),
             ("mixed0", "InceptionA", {"pool_features": 4}),
             ("fire", "Fire", {"squeeze": 2, "expand1x1": 2, "expand3x3": 2}),
             ("pad", "ResidualBasic", {"filters": 12, "strides": 2, "shortcut": "zero_pad"}),
             ("gap", "GlobalAvgPool2D", {}), ("fc", "Dense", {"units": 3})]
    x = "in"
    for node_id, kind, params in chain:
        g.add_node(kind, params, id=node_id)
        g.connect(x, node_id)
        x = node_id
    g.connect(x, g.add_node("Output", id="out").id)
    g.connect("mixed0", g.add_node("AuxClassifier", {"classes": 3, "units": 4,
                                                    "filters": 2}, id="aux").id)
    return g


def test_source_and_keras_build_the_same_model():
    graph = mixed_graph()
    expected = to_keras(graph)
    actual = build_from_source(graph)
    assert_same_models(expected, actual)
    assert len(expected.outputs) == 2  # the auxiliary head is a model output
    names = {layer.name for layer in expected.layers}
    assert {"conv2_block1_0_conv", "conv2_block2_se_scale", "mixed0_concat",
            "pad_0_pad", "aux_predictions"} <= names
    source = to_source(graph)
    assert "ChannelPad" in source and "class ChannelPad" in source
    # One helper per distinct block, called with the block's name prefix.
    assert "def stage(inputs, name):" in source
    assert 'x = residual_bottleneck(inputs, f"{name}_block1")' in source
    assert 'stage(inputs, "conv2")' in source
    compile(source, "<generated>", "exec")


def test_compiled_model_trains_one_step():
    model = to_keras(mixed_graph())
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy"] * 2,
                  loss_weights=[1.0, 0.3], run_eagerly=True)
    import numpy as np

    x = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32")
    y = np.array([0, 2])
    history = model.fit(x, [y, y], epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    keras.backend.clear_session()


GROUP = {"nodes": [{"id": "c", "kind": "Conv2D", "params": {"filters": 4}, "name": "conv"},
                   {"id": "a", "kind": "Add", "params": {}}],
         "edges": [{"from": "@in:0", "to": "c"}, {"from": "@in:1", "to": "a"},
                   {"from": "c", "to": "a"}],
         "outputs": {"out": ["a", "out"]}}


@pytest.mark.parametrize("kind, shapes, params", [
    ("Group", [(6, 6, 3), (6, 6, 4)], {"graph": GROUP}),
    ("InceptionE", [(3, 3, 8)], {}),
    ("DenseBlock", [(6, 6, 5)], {"layers": 2, "growth_rate": 2}),
    ("FractalBlock", [(6, 6, 3)], {"columns": 3, "filters": 2}),
    ("Transition", [(6, 6, 10)], {}),
    ("PreactBottleneck", [(8, 8, 8)], {"filters": 2, "strides": 2}),
])
def test_block_helpers_build_the_same_model(kind, shapes, params):
    from builder.compile.source_blocks import _snake
    from tests.blocks.composites.oracle import block_graph

    graph, _ = block_graph(kind, shapes, **params)
    assert f"def {_snake(kind)}(inputs, name):" in to_source(graph)
    assert_same_models(to_keras(graph), build_from_source(graph))


def test_stochastic_depth_is_the_identity_at_inference_and_drops_in_training():
    import numpy as np

    from tests.blocks.composites.oracle import block_graph

    dropping = to_keras(block_graph("ResidualBasic", [(4, 4, 3)], filters=3,
                                    survival=0.5)[0])
    plain = to_keras(block_graph("ResidualBasic", [(4, 4, 3)], filters=3)[0])
    for layer in plain.layers:
        dropping.get_layer(layer.name).set_weights(layer.get_weights())
    x = np.random.default_rng(1).normal(size=(64, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(dropping(x, training=False), plain(x, training=False),
                               rtol=1e-6, atol=1e-6)
    branch = keras.Model(dropping.inputs[0], dropping.get_layer("blk_drop_path").output)
    kept = np.asarray(branch(x, training=True)).reshape(64, -1)
    dropped = np.all(kept == 0, axis=1)
    assert 0 < dropped.sum() < 64  # whole samples dropped, others kept
    keras.backend.clear_session()

"""Graph → keras.Model: shapes and counts as the analysis says, names as drawn."""

import numpy as np
import pytest

import keras

from builder.analysis import analyze
from builder.blocks import CATALOG, BlockSpec, Catalog, LayerCall
from builder.compile import CompileError, layer_names, to_keras, to_source
from builder.core import Graph
from builder.core.errors import BuilderError

from .graphs import add, inception, residual, two_heads, vgg_like
from .oracle import assert_matches_analysis

GRAPHS = {"vgg_like": vgg_like, "residual": residual, "inception": inception,
          "two_heads": two_heads}


@pytest.mark.parametrize("make", GRAPHS.values(), ids=GRAPHS.keys())
def test_model_matches_the_analysis_node_by_node(make):
    g = make()
    model = to_keras(g)
    assert_matches_analysis(g, model)
    a = analyze(g)
    assert model.count_params() == a.totals.params
    # Every node that adds a layer is a layer named exactly as its label.
    names = [layer.name for layer in model.layers]
    for node in g.nodes.values():
        if node.kind != "Output":
            assert node.label in names


def test_vgg_like_chain_is_a_plain_sequence_with_the_lecture_counts():
    model = to_keras(vgg_like(), name="vgg_like")
    assert model.name == "vgg_like"
    assert [layer.name for layer in model.layers] == [
        "input", "block1_conv1", "block1_conv2", "block1_pool", "block2_conv1",
        "block2_conv2", "block2_pool", "flatten", "fc1", "drop1", "predictions"]
    # conv3-16 on 3 channels: 3*3*3*16 + 16 = 448 (the lecture's F·F·D·K + K).
    assert model.get_layer("block1_conv1").count_params() == 448
    assert model.get_layer("fc1").count_params() == 8 * 8 * 32 * 64 + 64
    assert model.output.shape == (None, 10)
    out = model(np.zeros((2, 32, 32, 3), "float32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.sum(out, axis=1)),
                               [1.0, 1.0], rtol=1e-5)


def test_residual_add_with_projection_feeds_add_in_connection_order():
    g = residual()
    model = to_keras(g)
    add_layer = model.get_layer("res_add")
    parents = [t._keras_history.operation.name for t in add_layer.input]
    assert parents == ["res_bn_b", "res_proj"]
    assert add_layer.output.shape == (None, 8, 8, 16)
    # BatchNormalization's moving statistics are the non-trainable parameters.
    a = analyze(g)
    assert a.totals.non_trainable == 2 * 2 * 16
    assert sum(np.prod(w.shape) for w in model.non_trainable_weights) == 64
    # An explicit P compiles to ZeroPadding2D + a valid conv, named after the node.
    assert model.get_layer("stem_pad").output.shape == (None, 18, 18, 8)
    assert model.get_layer("stem").get_config()["padding"] == "valid"


def test_concatenate_joins_branches_in_input_order():
    model = to_keras(inception())
    mixed = model.get_layer("mixed")
    assert [t._keras_history.operation.name for t in mixed.input] == [
        "branch1x1", "branch3x3", "branch5x5", "branch_pool_proj"]
    assert mixed.output.shape == (None, 16, 16, 4 + 6 + 3 + 2)
    assert type(model.get_layer("norm")).__name__ == "LocalResponseNormalization"


def test_two_heads_are_two_outputs_in_node_order():
    g = two_heads()
    model = to_keras(g)
    assert [t._keras_history.operation.name for t in model.outputs] == \
        ["aux_fc", "main_fc"]
    assert model.output_names == ["aux_fc", "main_fc"]
    outs = model(np.zeros((1, 24, 24, 3), "float32"))
    assert [tuple(o.shape) for o in outs] == [(1, 4), (1, 4)]


def test_several_inputs_in_node_order():
    g = Graph()
    a = add(g, "Input", params={"shape": [8]}, id="features")
    b = add(g, "Input", params={"shape": [4]}, id="extra")
    fa = add(g, "Dense", a, {"units": 4}, id="fa")
    m = add(g, "Multiply", [fa, b], id="gate")
    add(g, "Output", m, id="out")
    model = to_keras(g)
    assert [t.name for t in model.inputs] == ["features", "extra"]
    assert_matches_analysis(g, model)


def test_names_are_sanitized_and_made_unique_only_when_needed():
    g = Graph()
    x = add(g, "Input", params={"shape": [8, 8, 2]}, id="in", name="image in")
    x = add(g, "Conv2D", x, {"filters": 2, "padding": 1}, id="c1", name="conv1")
    x = add(g, "Conv2D", x, {"filters": 2}, id="c2", name="conv1_pad")
    x = add(g, "Conv2D", x, {"filters": 2}, id="c3", name="conv/3 (a)")
    x = add(g, "Conv2D", x, {"filters": 2}, id="c4", name="conv1")
    x = add(g, "Flatten", x, id="flatten")
    add(g, "Output", x, id="out")
    names = layer_names(g)
    assert names == {"in": "image_in", "c1": "conv1", "c2": "conv1_pad",
                     "c3": "conv_3__a_", "c4": "conv1_2", "flatten": "flatten"}
    model = to_keras(g)
    # The first conv's padding layer yields its name to the node called conv1_pad.
    assert [layer.name for layer in model.layers] == [
        "image_in", "conv1_pad_2", "conv1", "conv1_pad", "conv_3__a_", "conv1_2",
        "flatten"]
    assert_matches_analysis(g, model)
    model.compile(optimizer="sgd", loss="mse")  # TF scope names accept them
    model.fit(np.zeros((2, 8, 8, 2)), np.zeros((2, 128)), verbose=0)


def test_nodes_that_lead_to_no_output_are_left_out():
    g = vgg_like()
    stray = add(g, "Conv2D", "block1_pool", {"filters": 4}, id="stray")
    unused_input = add(g, "Input", params={"shape": [3]}, id="unused")
    add(g, "Dense", unused_input, {"units": 2}, id="unused_fc")
    a = analyze(g)
    assert a.ok and any(d.node == stray for d in a.warnings)
    model = to_keras(g)
    names = {layer.name for layer in model.layers}
    assert not names & {"stray", "unused", "unused_fc"}
    assert len(model.inputs) == 1
    assert model.count_params() == to_keras(vgg_like()).count_params()


def test_errors_refuse_to_compile_with_the_analysis_lines():
    g = Graph()
    x = add(g, "Input", params={"shape": [5, 5, 1]}, id="input")
    conv = add(g, "Conv2D", x, {"kernel_size": 7, "padding": "valid"}, id="big")
    wide = add(g, "Conv2D", x, {"filters": 128}, id="wide")
    narrow = add(g, "Conv2D", x, {"filters": 64}, id="narrow")
    s = add(g, "Add", [wide, narrow], id="sum")
    f = add(g, "Flatten", [conv], id="flatten")
    add(g, "Output", f, id="out1")
    add(g, "Output", s, id="out2")
    errors = analyze(g).errors
    assert len(errors) == 2
    for compile_fn in (to_keras, to_source):
        with pytest.raises(CompileError) as info:
            compile_fn(g)
        text = str(info.value)
        assert text.startswith("The graph cannot be compiled: the analysis found 2 errors.")
        assert text.splitlines()[1:] == [str(d) for d in errors]
        assert "(5 - 7 + 2·0)/1 + 1 = -1" in text
        assert info.value.diagnostics == errors
        assert isinstance(info.value, BuilderError)


def test_a_graph_without_output_is_refused():
    g = Graph()
    add(g, "Dense", add(g, "Input", params={"shape": [3]}), {"units": 2})
    with pytest.raises(CompileError, match="at least one Output"):
        to_keras(g)


def test_keras_refusing_a_node_is_a_compile_error_naming_it():
    bogus = BlockSpec(kind="Bogus", category="Dense", doc="", params=(),
                      shape=lambda p, ins, notes: [ins[0]],
                      keras=lambda p: [LayerCall("NoSuchLayer", {})],
                      label=lambda p: "bogus")
    kinds = Catalog([*CATALOG, bogus])
    g = Graph(kinds)
    x = add(g, "Input", params={"shape": [3]}, id="in")
    add(g, "Output", add(g, "Bogus", x, id="weird"), id="out")
    with pytest.raises(CompileError, match=r"Keras refused node 'weird' \(Bogus\)") as info:
        to_keras(g)
    assert info.value.node == "weird"
    assert "NoSuchLayer" in str(info.value)


def test_compiled_model_trains_and_saves(tmp_path):
    g = inception(shape=(8, 8, 3))
    model = to_keras(g)
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.random.rand(4, 8, 8, 3), np.random.rand(4, 3), verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = np.random.rand(2, 8, 8, 3).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)),
                               keras.ops.convert_to_numpy(model(x)), rtol=1e-5)


def test_multi_output_kinds_map_tensors_to_ports_in_order(monkeypatch):
    from builder.compile import custom_layers
    from builder.core.graph import PortSpec

    from .oracle import assert_same_models, build_from_source
    from .split_layer import SplitChannels

    monkeypatch.setitem(custom_layers.CUSTOM_LAYERS, "SplitChannels", SplitChannels)

    def halves(p, ins, notes):  # zero-padded by 1, then split
        b, h, w, c = ins[0]
        return [(b, h + 2, w + 2, c // 2), (b, h + 2, w + 2, c - c // 2)]

    split = BlockSpec(
        kind="Split", category="Reshape", doc="", params=(), shape=halves,
        keras=lambda p: [LayerCall("ZeroPadding2D", {"padding": (1, 1)}, suffix="_pad"),
                         LayerCall("SplitChannels", {})],
        label=lambda p: "split", outputs=(PortSpec("first"), PortSpec("rest")))
    g = Graph(Catalog([*CATALOG, split]))
    x = add(g, "Input", params={"shape": [4, 4, 5]}, id="in")
    s = add(g, "Split", x, id="split")
    heads = []
    for port, units in (("rest", 3), ("first", 2)):
        f = add(g, "Flatten", None, id=f"flat_{port}")
        g.connect(s, f, port)
        heads.append(add(g, "Dense", f, {"units": units}, id=f"fc_{port}"))
        add(g, "Output", heads[-1], id=f"out_{port}")
    a = analyze(g)
    assert a.nodes["fc_rest"].input_shapes == [(None, 6 * 6 * 3)]
    model = to_keras(g)
    assert_matches_analysis(g, model)
    assert [tuple(t.shape) for t in model.outputs] == [(None, 3), (None, 2)]
    source = to_source(g)
    assert "split_first, split_rest = SplitChannels(name='split')(split)" in \
        source.replace('"', "'")
    assert_same_models(model, build_from_source(g))

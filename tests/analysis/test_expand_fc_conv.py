"""FC <-> CONV (the lecture's FC-vs-CONV slide): the same parameters, the same
numbers, and undo gives the identical graph."""

from __future__ import annotations

import numpy as np
import pytest

import builder.blocks  # noqa: F401
from builder.analysis import analyze
from builder.analysis.fc_conv import FcConvError, conv_to_fc, fc_to_conv
from builder.core import Graph, History


def head_graph(h=3, w=2) -> Graph:
    """A volume, then FC -> FC with a merge downstream that cares about order."""
    g = Graph()
    g.add_node("Input", {"shape": [h, w, 4]}, id="in")
    g.add_node("Conv2D", {"filters": 5, "kernel_size": 1}, id="conv")
    g.add_node("Flatten", id="flat")
    g.add_node("Dense", {"units": 6, "activation": "relu"}, id="fc6", name="fc 6")
    g.add_node("Dense", {"units": 6}, id="fc7")
    g.add_node("Add", id="add")
    g.add_node("Output", id="out")
    for a, b in [("in", "conv"), ("conv", "flat"), ("flat", "fc6"), ("fc6", "fc7"),
                 ("fc7", "add"), ("fc6", "add"), ("add", "out")]:
        g.connect(a, b)
    return g


def test_fc_to_conv_keeps_the_counts_and_undo_restores_the_graph():
    g = head_graph()
    before, totals = g.to_dict(), analyze(g).totals
    history = History(g)
    history.push(fc_to_conv(g, "fc6"))
    node = g.nodes["fc6"]
    assert (node.kind, node.name, node.params["kernel_size"]) == ("Conv2D", "fc 6", [3, 2])
    assert [e.src for e in g.in_edges("fc6")] == ["conv"]
    assert [e.src for e in g.in_edges("flat")] == ["fc6"]
    assert [e.src for e in g.in_edges("add")] == ["fc7", "flat"]  # order kept
    a = analyze(g)
    assert a.ok, [str(d) for d in a.errors]
    assert a.nodes["fc6"].output_shape == (None, 1, 1, 6)
    assert (a.totals.trainable, a.totals.flops) == (totals.trainable, totals.flops)
    history.undo()
    assert g.to_dict() == before


def test_conv_to_fc_is_the_reverse():
    g = head_graph()
    original = g.to_dict()
    fc_to_conv(g, "fc6").redo()
    converted = g.to_dict()
    history = History(g)
    history.push(conv_to_fc(g, "fc6"))
    assert g.nodes["fc6"].kind == "Dense"
    back = g.to_dict()
    assert sorted(map(str, back["nodes"])) == sorted(map(str, original["nodes"]))
    for nid in g.nodes:
        assert [(e.src, e.dst_port) for e in g.in_edges(nid)] == \
            [(e["from"], e.get("to_port", "in")) for e in original["edges"] if e["to"] == nid]
    history.undo()
    assert g.to_dict() == converted


def test_dense_on_a_4d_tensor_is_a_1x1_conv_and_back():
    g = Graph()
    g.add_node("Input", {"shape": [4, 4, 3]}, id="in")
    g.add_node("Dense", {"units": 2}, id="fc")
    g.add_node("Output", id="out")
    g.connect("in", "fc")
    g.connect("fc", "out")
    params = analyze(g).totals.params
    fc_to_conv(g, "fc").redo()
    assert g.nodes["fc"].params["kernel_size"] == 1
    assert analyze(g).totals.params == params
    conv_to_fc(g, "fc").redo()
    assert g.nodes["fc"].kind == "Dense" and analyze(g).totals.params == params


@pytest.mark.parametrize("node, words", [("conv", "converts a Dense"),
                                         ("fc7", "fed by Flatten")])
def test_fc_to_conv_refuses_what_it_cannot_convert(node, words):
    g = head_graph()
    before = g.to_dict()
    with pytest.raises(FcConvError, match=words):
        fc_to_conv(g, node)
    assert g.to_dict() == before


def test_conv_to_fc_refuses_a_conv_smaller_than_its_input():
    g = head_graph()
    g.set_param("conv", "kernel_size", 2)
    with pytest.raises(FcConvError, match="as large as its input"):
        conv_to_fc(g, "conv")


def test_outputs_are_equal_with_the_weights_copied():
    """The lecture's slide, in numbers: FC on 7×7×C == CONV F=7 (small C, K here)."""
    keras = pytest.importorskip("keras")
    from builder.compile import to_keras

    g = head_graph(h=7, w=7)
    fc_model = to_keras(g)
    fc_to_conv(g, "fc6").redo()
    conv_model = to_keras(g)
    assert conv_model.count_params() == fc_model.count_params()
    for layer in fc_model.layers:
        weights = layer.get_weights()
        if layer.name == "fc_6":
            kernel, bias = weights
            weights = [kernel.reshape(7, 7, 5, 6), bias]
        conv_model.get_layer(layer.name).set_weights(weights)
    x = np.random.default_rng(0).normal(size=(3, 7, 7, 4)).astype("float32")
    np.testing.assert_allclose(conv_model.predict(x, verbose=0),
                               fc_model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    keras.backend.clear_session()

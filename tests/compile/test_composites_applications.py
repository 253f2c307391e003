"""Graphs built from our stage and block kinds equal keras.applications' networks,
layer by layer (names, output shapes, parameter counts) and in total.

These prove the blocks are exact; the templates themselves are tested elsewhere.
"""

from __future__ import annotations

import math

import pytest

from builder.analysis import analyze
from builder.compile import to_keras
from builder.core import Graph

keras = pytest.importorskip("keras")

EPS = 1.001e-5


def _chain(g: Graph, x: str, *nodes) -> str:
    for node_id, kind, params in nodes:
        g.add_node(kind, params, id=node_id)
        g.connect(x, node_id)
        x = node_id
    return x


def resnet50_graph() -> Graph:
    """ResNet-50 as keras.applications builds it: a stem, four stages, a head."""
    g = Graph()
    g.add_node("Input", {"shape": [224, 224, 3]}, id="input_layer")
    x = _chain(g, "input_layer",
               ("conv1_pad", "ZeroPadding2D", {"padding": 3}),
               ("conv1_conv", "Conv2D", {"filters": 64, "kernel_size": 7, "strides": 2,
                                         "padding": "valid"}),
               ("conv1_bn", "BatchNormalization", {"epsilon": EPS}),
               ("conv1_relu", "Activation", {"activation": "relu"}),
               ("pool1_pad", "ZeroPadding2D", {"padding": 1}),
               ("pool1_pool", "MaxPool2D", {"pool_size": 3, "strides": 2}))
    for stage, (filters, blocks, strides) in enumerate(
            [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], start=2):
        x = _chain(g, x, (f"conv{stage}", "Stage", {
            "block": "ResidualBottleneck", "blocks": blocks,
            "params": {"filters": filters, "use_bias": True, "epsilon": EPS},
            "first": {"strides": strides, "shortcut": "projection"}}))
    x = _chain(g, x, ("avg_pool", "GlobalAvgPool2D", {}),
               ("predictions", "Dense", {"units": 1000, "activation": "softmax"}))
    _chain(g, x, ("output", "Output", {}))
    return g


def resnet50v2_graph() -> Graph:
    """ResNet-50 v2 (pre-activation) as keras.applications builds it."""
    g = Graph()
    g.add_node("Input", {"shape": [224, 224, 3]}, id="input_layer")
    x = _chain(g, "input_layer",
               ("conv1_pad", "ZeroPadding2D", {"padding": 3}),
               ("conv1_conv", "Conv2D", {"filters": 64, "kernel_size": 7, "strides": 2,
                                         "padding": "valid"}),
               ("pool1_pad", "ZeroPadding2D", {"padding": 1}),
               ("pool1_pool", "MaxPool2D", {"pool_size": 3, "strides": 2}))
    for stage, (filters, blocks, strides) in enumerate(
            [(64, 3, 2), (128, 4, 2), (256, 6, 2), (512, 3, 1)], start=2):
        x = _chain(g, x, (f"conv{stage}", "Stage", {
            "block": "PreactBottleneck", "blocks": blocks,
            "params": {"filters": filters, "epsilon": EPS},
            "first": {"shortcut": "projection"},
            "last": {"strides": strides, "shortcut": "identity"}}))
    x = _chain(g, x, ("post_bn", "BatchNormalization", {"epsilon": EPS}),
               ("post_relu", "Activation", {"activation": "relu"}),
               ("avg_pool", "GlobalAvgPool2D", {}),
               ("predictions", "Dense", {"units": 1000, "activation": "softmax"}))
    _chain(g, x, ("output", "Output", {}))
    return g


def densenet121_graph() -> Graph:
    """DenseNet-121 as keras.applications builds it."""
    g = Graph()
    g.add_node("Input", {"shape": [224, 224, 3]}, id="input_layer")
    x = _chain(g, "input_layer",
               ("zero_padding2d", "ZeroPadding2D", {"padding": 3}),
               ("conv1_conv", "Conv2D", {"filters": 64, "kernel_size": 7, "strides": 2,
                                         "padding": "valid", "use_bias": False}),
               ("conv1_bn", "BatchNormalization", {"epsilon": EPS}),
               ("conv1_relu", "Activation", {"activation": "relu"}),
               ("zero_padding2d_1", "ZeroPadding2D", {"padding": 1}),
               ("pool1", "MaxPool2D", {"pool_size": 3, "strides": 2}))
    for i, layers in enumerate([6, 12, 24, 16], start=2):
        x = _chain(g, x, (f"conv{i}", "DenseBlock", {"layers": layers}))
        if i < 5:
            x = _chain(g, x, (f"pool{i}", "Transition", {}))
    x = _chain(g, x, ("bn", "BatchNormalization", {"epsilon": EPS}),
               ("relu", "Activation", {"activation": "relu"}),
               ("avg_pool", "GlobalAvgPool2D", {}),
               ("predictions", "Dense", {"units": 1000, "activation": "softmax"}))
    _chain(g, x, ("output", "Output", {}))
    return g


def inception_v3_graph() -> Graph:
    """Inception v3 as keras.applications builds it (299×299)."""
    g = Graph()
    g.add_node("Input", {"shape": [299, 299, 3]}, id="input_layer")

    def cbn(node_id, filters, k, strides=1, padding="same"):
        return (node_id, "ConvBN", {"filters": filters, "kernel_size": k,
                                    "strides": strides, "padding": padding})
    x = _chain(g, "input_layer",
               cbn("stem1", 32, 3, 2, "valid"), cbn("stem2", 32, 3, 1, "valid"),
               cbn("stem3", 64, 3), ("pool1", "MaxPool2D", {"pool_size": 3, "strides": 2}),
               cbn("stem4", 80, 1, 1, "valid"), cbn("stem5", 192, 3, 1, "valid"),
               ("pool2", "MaxPool2D", {"pool_size": 3, "strides": 2}),
               ("mixed0", "InceptionA", {"pool_features": 32}),
               ("mixed1", "InceptionA", {"pool_features": 64}),
               ("mixed2", "InceptionA", {"pool_features": 64}),
               ("mixed3", "InceptionB", {}),
               ("mixed4", "InceptionC", {"channels_7x7": 128}),
               ("mixed5", "InceptionC", {"channels_7x7": 160}),
               ("mixed6", "InceptionC", {"channels_7x7": 160}),
               ("mixed7", "InceptionC", {"channels_7x7": 192}),
               ("mixed8", "InceptionD", {}),
               ("mixed9", "InceptionE", {}),
               ("mixed10", "InceptionE", {}),
               ("avg_pool", "GlobalAvgPool2D", {}),
               ("predictions", "Dense", {"units": 1000, "activation": "softmax"}))
    _chain(g, x, ("output", "Output", {}))
    return g


def _totals(model):
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return trainable, model.count_params() - trainable


def _layer_rows(model):
    """(class, output shape, params) of each layer, in the model's order."""
    return [(type(l).__name__, tuple(l.output.shape), l.count_params())
            for l in model.layers if type(l).__name__ != "InputLayer"]


@pytest.fixture(scope="module")
def resnet50_pair():
    ours = to_keras(resnet50_graph())
    theirs = keras.applications.ResNet50(weights=None)
    return ours, theirs


def test_resnet50_from_stages_equals_keras_applications(resnet50_pair):
    ours, theirs = resnet50_pair
    graph = resnet50_graph()
    a = analyze(graph)
    assert a.ok, [str(d) for d in a.errors]
    # The composite-level analysis alone gives Keras' totals.
    assert (a.totals.trainable, a.totals.non_trainable) == _totals(theirs)
    assert _totals(ours) == _totals(theirs)
    assert a.nodes["conv5"].output_shape == (None, 7, 7, 2048)


def test_resnet50_layers_carry_keras_applications_names(resnet50_pair):
    ours, theirs = resnet50_pair
    for layer in theirs.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        mine = ours.get_layer(layer.name)  # raises if our names differ
        assert type(mine).__name__ == type(layer).__name__, layer.name
        assert tuple(mine.output.shape) == tuple(layer.output.shape), layer.name
        assert mine.count_params() == layer.count_params(), layer.name
    assert len(ours.layers) == len(theirs.layers)


def test_resnet50_source_builds_the_same_model(resnet50_pair):
    from tests.compile.oracle import assert_same_models, build_from_source

    ours, _ = resnet50_pair
    assert_same_models(ours, build_from_source(resnet50_graph()))


def test_resnet50v2_from_preact_stages_equals_keras_applications():
    graph = resnet50v2_graph()
    a = analyze(graph)
    assert a.ok, [str(d) for d in a.errors]
    ours = to_keras(graph)
    theirs = keras.applications.ResNet50V2(weights=None)
    assert (a.totals.trainable, a.totals.non_trainable) == _totals(theirs)
    # Keras leaves the strided 1x1 max-pool shortcuts unnamed; compare in order.
    assert _layer_rows(ours) == _layer_rows(theirs)
    for layer in theirs.layers:
        if not layer.name.startswith(("max_pooling2d", "input_layer")):
            assert ours.get_layer(layer.name).output.shape == layer.output.shape


def test_densenet121_from_blocks_equals_keras_applications():
    graph = densenet121_graph()
    a = analyze(graph)
    assert a.ok, [str(d) for d in a.errors]
    ours = to_keras(graph)
    theirs = keras.applications.DenseNet121(weights=None)
    assert (a.totals.trainable, a.totals.non_trainable) == _totals(theirs)
    for layer in theirs.layers:
        if type(layer).__name__ == "InputLayer" or layer.name.startswith("zero_padding"):
            continue
        mine = ours.get_layer(layer.name)
        assert tuple(mine.output.shape) == tuple(layer.output.shape), layer.name
        assert mine.count_params() == layer.count_params(), layer.name


def test_inception_v3_from_modules_equals_keras_applications():
    graph = inception_v3_graph()
    a = analyze(graph)
    assert a.ok, [str(d) for d in a.errors]
    ours = to_keras(graph)
    theirs = keras.applications.InceptionV3(weights=None)
    assert (a.totals.trainable, a.totals.non_trainable) == _totals(theirs)
    # Keras names most v3 layers automatically, so compare in order: same
    # layer classes, shapes and counts, one by one.
    assert _layer_rows(ours) == _layer_rows(theirs)
    for k in range(11):
        assert ours.get_layer(f"mixed{k}_concat").output.shape == \
            theirs.get_layer(f"mixed{k}").output.shape

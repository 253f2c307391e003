"""Networks built from our blocks against published parameter counts (pure analysis)."""

from __future__ import annotations

import pytest

import builder.blocks  # noqa: F401
from builder.analysis import analyze
from builder.core import Graph


def _chain(g: Graph, x: str, *nodes) -> str:
    for node_id, kind, params in nodes:
        g.add_node(kind, params, id=node_id)
        g.connect(x, node_id)
        x = node_id
    return x


def test_torchvision_resnet18_has_11_689_512_trainable_parameters():
    # torchvision.models.resnet18: no conv biases, stride-2 projections, 1000 classes.
    g = Graph()
    g.add_node("Input", {"shape": [224, 224, 3]}, id="in")
    x = _chain(g, "in", ("conv1", "Conv2D", {"filters": 64, "kernel_size": 7, "strides": 2,
                                             "padding": 3, "use_bias": False}),
               ("bn1", "BatchNormalization", {}), ("relu", "ReLU", {}),
               ("maxpool", "MaxPool2D", {"pool_size": 3, "strides": 2, "padding": "same"}))
    for i, (filters, strides) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)], 1):
        x = _chain(g, x, (f"layer{i}", "Stage", {
            "block": "ResidualBasic", "blocks": 2, "params": {"filters": filters},
            "first": {"strides": strides}}))
    _chain(g, x, ("avgpool", "GlobalAvgPool2D", {}), ("fc", "Dense", {"units": 1000}),
           ("out", "Output", {}))
    a = analyze(g)
    assert a.ok, [str(d) for d in a.errors]
    assert a.totals.trainable == 11_689_512


@pytest.mark.parametrize("depth, millions", [(20, 0.27), (32, 0.46), (44, 0.66),
                                             (56, 0.85), (110, 1.7)])
def test_cifar_resnets_with_option_a_match_the_paper(depth, millions):
    # He et al. 2015, Table 6: 6n+2 layers, 16/32/64 filters, option-A shortcuts.
    n = (depth - 2) // 6
    g = Graph()
    g.add_node("Input", {"shape": [32, 32, 3]}, id="in")
    x = _chain(g, "in", ("conv1", "Conv2D", {"filters": 16, "use_bias": False}),
               ("bn1", "BatchNormalization", {}), ("relu", "ReLU", {}))
    for i, (filters, strides) in enumerate([(16, 1), (32, 2), (64, 2)]):
        x = _chain(g, x, (f"stage{i + 1}", "Stage", {
            "block": "ResidualBasic", "blocks": n,
            "params": {"filters": filters, "shortcut": "zero_pad"},
            "first": {"strides": strides}}))
    _chain(g, x, ("gap", "GlobalAvgPool2D", {}), ("fc", "Dense", {"units": 10}),
           ("out", "Output", {}))
    a = analyze(g)
    assert a.ok and not a.warnings, [str(d) for d in a.diagnostics]
    assert float(f"{a.totals.trainable / 1e6:.2g}") == millions
    # Option A adds no parameter: only the two ChannelPads of the strided blocks exist.
    from builder.analysis.expand import expand_graph

    flat, _ = expand_graph(g, a)
    assert sum(1 for n in flat.nodes.values() if n.kind == "ChannelPad") == 2


def _imagenet_stem(g: Graph) -> str:
    g.add_node("Input", {"shape": [224, 224, 3]}, id="in")
    return _chain(g, "in", ("conv1", "Conv2D", {"filters": 64, "kernel_size": 7,
                                                "strides": 2, "padding": 3,
                                                "use_bias": False}),
                  ("bn1", "BatchNormalization", {}), ("relu", "ReLU", {}),
                  ("maxpool", "MaxPool2D", {"pool_size": 3, "strides": 2,
                                            "padding": "same"}))


@pytest.mark.parametrize("block, params, expected", [
    # torchvision.models.resnext50_32x4d
    ("ResNeXtBottleneck", {}, 25_028_904),
    # SE-ResNet-50 (Hu et al. 2018, Table 1: 28.1M; the released model's count)
    ("ResidualBottleneck", {"se_ratio": 16}, 28_088_024),
])
def test_resnet50_variants_match_published_counts(block, params, expected):
    g = Graph()
    x = _imagenet_stem(g)
    for i, (filters, blocks, strides) in enumerate(
            [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], 1):
        x = _chain(g, x, (f"layer{i}", "Stage", {
            "block": block, "blocks": blocks, "params": {"filters": filters, **params},
            "first": {"strides": strides}}))
    _chain(g, x, ("gap", "GlobalAvgPool2D", {}), ("fc", "Dense", {"units": 1000}),
           ("out", "Output", {}))
    a = analyze(g)
    assert a.ok, [str(d) for d in a.errors]
    assert a.totals.trainable == expected


def test_wrn_28_10_has_36_479_194_trainable_parameters():
    # Zagoruyko & Komodakis' WRN-28-10 (36.5M in the paper; the reference code's count).
    g = Graph()
    g.add_node("Input", {"shape": [32, 32, 3]}, id="in")
    x = _chain(g, "in", ("conv1", "Conv2D", {"filters": 16, "use_bias": False}))
    for i, (filters, strides) in enumerate([(16, 1), (32, 2), (64, 2)]):
        x = _chain(g, x, (f"group{i}", "Stage", {
            "block": "WideResidual", "blocks": 4, "params": {"filters": filters,
                                                             "width": 10},
            "first": {"strides": strides}}))
    _chain(g, x, ("bn", "BatchNormalization", {}), ("relu", "ReLU", {}),
           ("gap", "GlobalAvgPool2D", {}), ("fc", "Dense", {"units": 10}),
           ("out", "Output", {}))
    assert analyze(g).totals.trainable == 36_479_194


def test_squeezenet_1_0_has_1_248_424_parameters():
    # torchvision.models.squeezenet1_0.
    g = Graph()
    g.add_node("Input", {"shape": [224, 224, 3]}, id="in")

    def fire(i, s, e):
        return (f"fire{i}", "Fire", {"squeeze": s, "expand1x1": e, "expand3x3": e})

    def pool(node_id):
        return (node_id, "MaxPool2D", {"pool_size": 3, "strides": 2})
    x = _chain(g, "in", ("conv1", "Conv2D", {"filters": 96, "kernel_size": 7, "strides": 2,
                                             "padding": "valid", "activation": "relu"}),
               pool("pool1"), fire(2, 16, 64), fire(3, 16, 64), fire(4, 32, 128),
               pool("pool2"), fire(5, 32, 128), fire(6, 48, 192), fire(7, 48, 192),
               fire(8, 64, 256), pool("pool3"), fire(9, 64, 256),
               ("drop", "Dropout", {}),
               ("conv10", "Conv2D", {"filters": 1000, "kernel_size": 1,
                                     "activation": "relu"}),
               ("gap", "GlobalAvgPool2D", {}))
    _chain(g, x, ("out", "Output", {}))
    assert analyze(g).totals.trainable == 1_248_424

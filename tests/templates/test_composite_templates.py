"""The composite templates against their papers and reference implementations.

Oracles: torchvision's published parameter totals (``num_params`` of each
weights enum: trainable parameters, BN running statistics excluded), the CIFAR
ResNet paper's Table 6, GoogLeNet's Table 1, SqueezeNet's Table 1, the SE paper's
formula for its extra weights, WRN's 36.5M, and layer arithmetic from the papers.
keras.applications comparisons are in test_applications_templates.py.
"""

from __future__ import annotations

import math

import pytest

import builder
from builder.analysis.expand import expand_graph

from template_tools import output_heads, set_classes, set_input_size

#: torchvision.models.*_Weights.IMAGENET1K_V1.meta["num_params"]
TORCHVISION = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
               "resnet101": 44_549_160, "resnet152": 60_192_808,
               "resnext50_32x4d": 25_028_904, "squeezenet1_0": 1_248_424,
               "squeezenet1_1": 1_235_496}


def graph(name):
    return builder.from_template(name).graph


def totals(g):
    a = builder.analyze(g)
    assert a.ok, [str(d) for d in a.errors]
    return a.totals


def set_use_bias(g, value: bool) -> None:
    """The template parameter: the conv bias before every BatchNorm, stem and stages."""
    for node in list(g.nodes.values()):
        if node.id == "conv1_conv":
            g.set_param(node.id, "use_bias", value)
        elif node.kind == "Stage":
            g.set_param(node.id, "params", {**node.params["params"], "use_bias": value})


def test_resnet_18_and_34_are_torchvision_s():
    for name in ("resnet18", "resnet34"):
        assert totals(graph(name)).trainable == TORCHVISION[name], name


@pytest.mark.parametrize("name", ["resnet50", "resnet101", "resnet152"])
def test_deep_resnets_without_conv_bias_are_torchvision_s(name):
    g = graph(name)
    with_bias = totals(g).trainable
    set_use_bias(g, False)
    without = totals(g).trainable
    assert without == TORCHVISION[name]
    # Every conv but the FC loses its bias: one per output channel.
    flat, _ = expand_graph(g)
    channels = sum(n.params["filters"] for n in flat.nodes.values() if n.kind == "Conv2D")
    assert with_bias - without == channels


def test_resnet18_with_conv_bias_adds_one_per_conv_channel():
    g = graph("resnet18")
    set_use_bias(g, True)
    flat, _ = expand_graph(g)
    channels = sum(n.params["filters"] for n in flat.nodes.values() if n.kind == "Conv2D")
    assert totals(g).trainable == TORCHVISION["resnet18"] + channels


def test_depth_is_the_stage_s_block_count():
    # ResNet-101 and -152 are ResNet-50 with longer stages (He et al., Table 1).
    g = graph("resnet50")
    g.set_param("conv4", "blocks", 23)
    assert totals(g).params == totals(graph("resnet101")).params
    g.set_param("conv3", "blocks", 8)
    g.set_param("conv4", "blocks", 36)
    assert totals(g).params == totals(graph("resnet152")).params


def test_classes_and_input_size_are_editable():
    g = graph("resnet50")
    before = totals(g).params
    set_classes(g, 10)
    assert before - totals(g).params == 2048 * 990 + 990
    set_input_size(g, 64)
    a = builder.analyze(g)
    assert a.ok and a.nodes["conv5"].output_shape == (None, 2, 2, 2048)
    assert a.nodes["predictions"].output_shape == (None, 10)


def test_plain_nets_have_the_option_a_resnets_parameters():
    # The degradation experiment compares plain-18/34 with ResNets whose
    # zero-padding shortcuts add no parameter (He et al., section 4.1).
    for depth in (18, 34):
        resnet = graph(f"resnet{depth}")
        for stage in ("conv3", "conv4", "conv5"):
            resnet.set_param(stage, "first", {"strides": 2, "shortcut": "zero_pad"})
        assert totals(resnet).params == totals(graph(f"plain{depth}")).params
    # ... and torchvision's ResNet-18 minus its three projection shortcuts.
    projections = sum(c_in * c_out + 2 * c_out for c_in, c_out in
                      [(64, 128), (128, 256), (256, 512)])
    assert totals(graph("plain18")).trainable == TORCHVISION["resnet18"] - projections


def test_plain_nets_are_plain():
    flat, _ = expand_graph(graph("plain34"))
    assert not [n for n in flat.nodes.values() if n.kind == "Add"]
    convs = [n for n in flat.nodes.values() if n.kind == "Conv2D"]
    assert len(convs) == 33  # + FC = 34 weight layers


@pytest.mark.parametrize("depth,millions", [(20, 0.27), (32, 0.46), (44, 0.66),
                                            (56, 0.85), (110, 1.7)])
def test_cifar_resnets_match_table_6(depth, millions):
    resnet, plain = graph(f"cifar_resnet{depth}"), graph(f"cifar_plain{depth}")
    trainable = totals(resnet).trainable
    digits = 1 if millions >= 1 else 2
    assert round(trainable / 1e6, digits) == millions
    assert totals(plain).params == totals(resnet).params
    flat, _ = expand_graph(resnet)
    weighted = [n for n in flat.nodes.values() if n.kind in ("Conv2D", "Dense")]
    assert len(weighted) == depth  # 6n + 2 layers; option A adds none
    assert {n.kind for n in flat.nodes.values()} >= {"ChannelPad", "Add"}


def test_se_resnet50_adds_the_paper_s_count():
    r = 16
    stages = [(3, 256), (4, 512), (6, 1024), (3, 2048)]  # (blocks N_s, channels C_s)
    # Hu et al., section 4: the SE weights are (2/r) * sum N_s * C_s^2; the two FC
    # layers also carry C/r + C biases.
    weights = sum(2 * n * c * c // r for n, c in stages)
    biases = sum(n * (c // r + c) for n, c in stages)
    assert weights == 2_514_944
    se = totals(graph("se_resnet50")).trainable
    assert se - TORCHVISION["resnet50"] == weights + biases
    assert round(se / 1e6, 1) == 28.1  # the paper's Table 2


def test_se_ratio_is_editable():
    g = graph("se_resnet50")
    for stage in ("conv2", "conv3", "conv4", "conv5"):
        g.set_param(stage, "params", {**g.nodes[stage].params["params"], "se_ratio": 0})
    assert totals(g).trainable == TORCHVISION["resnet50"]


def test_resnext50_is_torchvision_s():
    assert totals(graph("resnext50_32x4d")).trainable == TORCHVISION["resnext50_32x4d"]


def test_wrn_28_10_has_the_published_36_5_million():
    g = graph("wrn_28_10")
    assert round(totals(g).trainable / 1e6, 1) == 36.5
    flat, _ = expand_graph(g)
    convs = [n for n in flat.nodes.values() if n.kind == "Conv2D" and n.params["kernel_size"] == 3]
    # Depth 28 = 6n + 4 with n = 4 blocks per stage: 6n = 24 block convs + the stem.
    assert len(convs) == 6 * 4 + 1
    assert builder.analyze(g).nodes["conv4"].output_shape == (None, 8, 8, 640)


@pytest.mark.parametrize("name", ["squeezenet1_0", "squeezenet1_1"])
def test_squeezenet_is_torchvision_s(name):
    assert totals(graph(name)).trainable == TORCHVISION[name]


def test_squeezenet_table_1_shapes():
    a = builder.analyze(graph("squeezenet1_0"))
    expected = {"conv1": (111, 111, 96), "maxpool1": (55, 55, 96), "fire2": (55, 55, 128),
                "fire3": (55, 55, 128), "fire4": (55, 55, 256), "maxpool4": (27, 27, 256),
                "fire5": (27, 27, 256), "fire6": (27, 27, 384), "fire7": (27, 27, 384),
                "fire8": (27, 27, 512), "maxpool8": (13, 13, 512), "fire9": (13, 13, 512),
                "conv10": (13, 13, 1000), "avgpool10": (1000,)}
    assert {n: a.nodes[n].output_shape[1:] for n in expected} == expected


def test_googlenet_table_1():
    # Table 1: each module's output depth and its "ops" column (multiply-adds, in
    # millions). The table's own arithmetic slips for conv1 (34M; 7x7x3x64 on
    # 112x112 is 118M) and inception 5a (54M; its widths give 51M), and its
    # "params" column is inconsistent, so those are not used as oracles.
    table = {"3a": (256, 128), "3b": (480, 304), "4a": (512, 73), "4b": (512, 88),
             "4c": (512, 100), "4d": (528, 119), "4e": (832, 170), "5a": (832, None),
             "5b": (1024, 71)}
    a = builder.analyze(graph("googlenet"))
    assert a.ok
    for module, (depth, mega_ops) in table.items():
        info = a.nodes[f"inception_{module}"]
        assert info.output_shape[-1] == depth, module
        if mega_ops is not None:
            assert abs(info.flops / 1e6 - mega_ops) < 1, module  # rounded either way
    assert round((a.nodes["conv2_reduce"].flops + a.nodes["conv2"].flops) / 1e6) == 360
    assert round(a.nodes["predictions"].flops / 1e6) == 1
    assert a.nodes["inception_3a"].output_shape == (None, 28, 28, 256)
    assert a.nodes["inception_4a"].output_shape == (None, 14, 14, 512)
    assert a.nodes["inception_5b"].output_shape == (None, 7, 7, 1024)


def test_googlenet_is_22_layers_deep():
    flat, origin = expand_graph(graph("googlenet"))
    weighted = {origin[n.id] for n in flat.nodes.values()
                if n.kind in ("Conv2D", "Dense") and not origin[n.id].startswith("aux")}
    modules = {m for m in weighted if m.startswith("inception")}
    assert len(modules) == 9
    # Each inception module is two layers deep (a 1x1 reduce, then 3x3 or 5x5).
    assert len(weighted - modules) + 2 * len(modules) == 22


def test_googlenet_has_three_weighted_heads():
    g = graph("googlenet")
    assert [h["loss_weight"] for h in output_heads(g)] == [0.3, 0.3, 1.0]
    a = builder.analyze(g)
    # Each auxiliary head: 5x5/3 avg pool (14 -> 4), 1x1 conv 128, FC-1024, FC-1000.
    for aux, channels in (("aux1", 512), ("aux2", 528)):
        expected = (channels * 128 + 128) + (4 * 4 * 128 * 1024 + 1024) + (1024 * 1000 + 1000)
        assert a.nodes[aux].params == expected


def test_fractal_blocks_have_2_to_the_c_minus_1_convs():
    g = graph("fractalnet_small")
    flat, origin = expand_graph(g)
    expected = 0
    c_in = 3
    for block, filters in (("block1", 32), ("block2", 64), ("block3", 128)):
        convs = [n for n in flat.nodes.values() if n.kind == "Conv2D" and origin[n.id] == block]
        assert len(convs) == 2 ** 3 - 1
        # The first unit of each of the C columns reads the block input.
        columns, rest = 3, 2 ** 3 - 1 - 3
        expected += columns * 9 * c_in * filters + rest * 9 * filters * filters
        expected += (2 ** 3 - 1) * 2 * filters  # BN gamma and beta
        c_in = filters
    expected += c_in * 10 + 10
    assert totals(g).trainable == expected


@pytest.mark.parametrize("name,gflops", [("resnet18", 1.8), ("resnet34", 3.6),
                                         ("resnet50", 3.8), ("resnet101", 7.6),
                                         ("resnet152", 11.3), ("plain34", 3.6),
                                         ("vgg19", 19.6)])
def test_multiply_adds_match_he_et_al(name, gflops):
    # He et al. 2015, Table 1 ("FLOPs", multiply-adds at 224x224) and Figure 3
    # (VGG-19 19.6 billion, plain-34 3.6 billion); the paper rounds loosely.
    assert abs(totals(graph(name)).flops / 1e9 - gflops) < 0.1

"""The plain stacks against their papers' figures and against keras.applications.

Oracles: the lecture's VGG Table 2 (parsed from the seed text), the lecture's
conv formula applied to each paper's layer table, torchvision's published total
for its AlexNet, and keras.applications.VGG19 layer by layer (VGG16 is covered
by tests/test_vgg16_lecture.py)."""

from __future__ import annotations

import re

import pytest

import builder

VGG = {"A": "vgg11", "A-LRN": "vgg11_lrn", "B": "vgg13", "C": "vgg16c", "D": "vgg16",
       "E": "vgg19"}


def params(name: str) -> int:
    return builder.analyze(builder.from_template(name).graph).totals.params


def shapes(name: str) -> dict[str, tuple]:
    analysis = builder.analyze(builder.from_template(name).graph)
    return {nid: info.output_shape[1:] for nid, info in analysis.nodes.items()
            if nid != "output"}


def conv(f: int, d: int, k: int, groups: int = 1) -> int:
    """The lecture's (F*F*D1)*K weights + K biases, per group of channels."""
    return f * f * (d // groups) * k + k


def fc(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def test_vgg_totals_are_the_lecture_s_table_2(lecture_text):
    header = re.search(r"^Network\s+(.+)$", lecture_text, re.M).group(1).split()
    row = re.search(r"^Number of parameters\s+(.+)$", lecture_text, re.M).group(1).split()
    table = {}
    for configs, millions in zip(header, row):
        for config in configs.split(","):
            table[config] = int(millions)
    assert table == {"A": 133, "A-LRN": 133, "B": 133, "C": 134, "D": 138, "E": 144}
    for config, millions in table.items():
        assert round(params(VGG[config]) / 1e6) == millions, config


def test_vgg_table_1_depths():
    for config, depth in {"A": 11, "A-LRN": 11, "B": 13, "C": 16, "D": 16, "E": 19}.items():
        graph = builder.from_template(VGG[config]).graph
        weighted = [n for n in graph.nodes.values() if n.kind in ("Conv2D", "Dense")]
        assert len(weighted) == depth, config
    c = builder.from_template("vgg16c").graph
    assert [n.id for n in c.nodes.values() if n.params.get("kernel_size") == 1] == \
        ["block3_conv3", "block4_conv3", "block5_conv3"]
    lrn = builder.from_template("vgg11_lrn").graph
    assert lrn.predecessors("block1_lrn") == ["block1_conv1"]


def test_vgg19_equals_keras_applications_layer_by_layer():
    keras = pytest.importorskip("keras")
    reference = keras.applications.VGG19(weights=None)
    analysis = builder.analyze(builder.from_template("vgg19").graph)
    assert analysis.totals.params == reference.count_params() == 143_667_240
    for index, layer in enumerate(reference.layers):
        name = "input_layer" if index == 0 else layer.name
        info = analysis.nodes[name]
        assert info.output_shape == tuple(layer.output.shape), layer.name
        assert info.params == layer.count_params(), layer.name
    assert len(analysis.nodes) == len(reference.layers) + 1  # + our Output node


def test_alexnet_paper_figure_2():
    # Figure 2's maps: 55x55x96, 27x27x256, 13x13x384, 13x13x384, 13x13x256.
    s = shapes("alexnet")
    assert [s[n] for n in ("conv1", "conv2", "conv3", "conv4", "conv5", "pool5")] == \
        [(55, 55, 96), (27, 27, 256), (13, 13, 384), (13, 13, 384), (13, 13, 256),
         (6, 6, 256)]
    expected = (conv(11, 3, 96) + conv(5, 96, 256, 2) + conv(3, 256, 384)
                + conv(3, 384, 384, 2) + conv(3, 384, 256, 2)
                + fc(6 * 6 * 256, 4096) + fc(4096, 4096) + fc(4096, 1000))
    # Caffe's bvlc_alexnet, the two-tower network the paper describes, is
    # commonly quoted at 60,965,224 parameters ("60 million" in the paper).
    assert params("alexnet") == expected == 60_965_224


def test_alexnet_one_tower_by_setting_groups_to_1():
    graph = builder.from_template("alexnet").graph
    for node in ("conv2", "conv4", "conv5"):
        graph.set_param(node, "groups", 1)
    assert builder.analyze(graph).totals.params == 62_378_344


def test_alexnet_torchvision_published_total():
    # torchvision.models.AlexNet_Weights.IMAGENET1K_V1.meta["num_params"]
    assert params("alexnet_torchvision") == 61_100_840
    s = shapes("alexnet_torchvision")
    assert s["features_0"] == (55, 55, 64) and s["features_12"] == (6, 6, 256)


def test_zfnet_figure_3():
    s = shapes("zfnet")
    assert [s[n] for n in ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5",
                           "pool5")] == \
        [(110, 110, 96), (55, 55, 96), (26, 26, 256), (13, 13, 256), (13, 13, 384),
         (13, 13, 384), (13, 13, 256), (6, 6, 256)]
    expected = (conv(7, 3, 96) + conv(5, 96, 256) + conv(3, 256, 384) + conv(3, 384, 384)
                + conv(3, 384, 256) + fc(6 * 6 * 256, 4096) + fc(4096, 4096)
                + fc(4096, 1000))
    assert params("zfnet") == expected


def test_lenet5_figure_2():
    s = shapes("lenet")
    assert [s[n] for n in ("c1", "s2", "c3", "s4", "c5", "f6", "predictions")] == \
        [(28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16), (1, 1, 120), (84,), (10,)]
    # C3 fully connected to S2 (the paper's sparse table would give 1,516).
    assert params("lenet") == (conv(5, 1, 6) + conv(5, 6, 16) + conv(5, 16, 120)
                               + fc(120, 84) + fc(84, 10))


def test_linear_classifier_and_mlp():
    assert params("linear") == fc(32 * 32 * 3, 10)
    assert params("mlp") == fc(3072, 512) + fc(512, 256) + fc(256, 10)

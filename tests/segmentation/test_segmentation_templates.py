"""The segmentation and localization templates against Keras, layer by layer, and
against the published figures where a paper gives one."""

from __future__ import annotations

import pytest

import keras

import builder
from builder.compile import to_keras
from tests.compile.oracle import assert_matches_analysis

SMALL = ("fcn8s_small", "segnet_small", "unet_small", "localization")
FULL = ("fcn8s", "segnet", "unet")


@pytest.mark.parametrize("name", SMALL + FULL)
def test_template_matches_keras_layer_by_layer(name):
    graph = builder.from_template(name).graph
    model = to_keras(graph)
    try:
        assert_matches_analysis(graph, model)
    finally:
        del model
        keras.backend.clear_session()


def _analysis(name):
    return builder.analyze(builder.from_template(name).graph)


def test_fcn8s_has_the_paper_s_134m_parameters():
    # Long et al. 2015, Table 1: FCN-VGG16, 134M parameters (21 classes).
    assert round(_analysis("fcn8s").totals.params / 1e6) == 134


def test_the_output_maps_have_the_input_s_size_or_the_paper_s():
    outputs = {name: [info.output_shapes[0] for nid, info in _analysis(name).nodes.items()
                      if info.kind == "Output"] for name in SMALL + FULL}
    assert outputs["fcn8s"] == [(None, 224, 224, 21)]
    assert outputs["segnet"] == [(None, 224, 224, 12)]
    # U-Net's Figure 1: a 572x572 tile gives a 388x388 map of 2 classes.
    assert outputs["unet"] == [(None, 388, 388, 2)]
    for name in ("fcn8s_small", "segnet_small", "unet_small"):
        size = builder.from_template(name).graph.nodes["input_layer"].params["shape"][0]
        assert outputs[name] == [(None, size, size, 4)]
    assert outputs["localization"] == [(None, 3), (None, 4)]


def test_u_net_crops_as_figure_1():
    a = _analysis("unet")
    # Copy and crop: 568 -> 392, 280 -> 200, 136 -> 104, 64 -> 56.
    crops = {nid: (info.input_shapes[0][1], info.output_shapes[0][1])
             for nid, info in a.nodes.items() if info.kind == "Cropping2D"}
    assert sorted(crops.values()) == [(64, 56), (136, 104), (280, 200), (568, 392)]
    assert a.nodes["bottom_conv2"].output_shapes[0] == (None, 28, 28, 1024)


def test_segnet_unpools_with_its_mirror_pooling():
    graph = builder.from_template("segnet").graph
    for nid in [n for n in graph.nodes if graph.nodes[n].kind == "MaxUnpool2D"]:
        (edge,) = [e for e in graph.in_edges(nid) if e.dst_port == "indices"]
        assert edge.src_port == "indices"
        assert edge.src == nid.replace("dec", "enc").replace("_unpool", "_pool")

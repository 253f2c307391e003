"""SSD300, the small SSD and the small YOLO templates: Keras counts and head summaries."""

from __future__ import annotations

import numpy as np
import pytest

import builder
from builder.analysis import analyze
from builder.detection.anchors import SSD300, default_boxes
from builder.detection.summary import detection_heads, detection_summary

keras = pytest.importorskip("keras")
from builder.compile import to_keras  # noqa: E402

#: torchvision.models.detection.ssd300_vgg16(num_classes=91): sum of p.numel()
#: over model.parameters() (backbone without VGG's FC layers, L2Norm's 512
#: scale weights, extras, heads).
TORCHVISION_SSD300_PARAMS = 35_641_826


@pytest.fixture(scope="module")
def ssd300():
    graph = builder.from_template("ssd300_vgg16").graph
    return graph, to_keras(graph)


def test_ssd300_has_torchvisions_parameter_count(ssd300):
    graph, model = ssd300
    assert model.count_params() == TORCHVISION_SSD300_PARAMS
    assert analyze(graph).totals.trainable == TORCHVISION_SSD300_PARAMS
    # 8,732 rows of 4 offsets + 91 scores, as many as SSD300's default boxes
    assert tuple(model.output.shape) == (None, 8732, 4 + 91)
    assert len(default_boxes(SSD300)) == model.output.shape[1]
    norm = model.get_layer("conv4_3_norm")
    assert [tuple(w.shape) for w in norm.weights] == [(512,)]
    assert model.get_layer("fc6").dilation_rate == (6, 6)


def test_ssd300_summary_lists_feature_maps_anchors_and_boxes(ssd300):
    graph, model = ssd300
    rows = detection_heads(graph)
    assert [(r.height, r.anchors) for r in rows] == list(
        zip(SSD300.feature_sizes, SSD300.anchors_per_location()))
    # the heads' inputs in Keras have the sizes the summary names
    for r in rows:
        assert tuple(model.get_layer(r.feature_node).output.shape[1:3]) == (r.height, r.width)
    text = detection_summary(graph)
    assert "38x38" in text and "8,732" in text and "91 scores per box" in text
    assert detection_summary(builder.from_template("vgg16").graph) == ""


def test_l2_normalization_layer_matches_numpy():
    from builder.compile.detection_layers import L2Normalization
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 5)).astype(np.float32)
    layer = L2Normalization(scale=20.0)
    y = keras.ops.convert_to_numpy(layer(x))
    ref = 20.0 * x / np.linalg.norm(x, axis=-1, keepdims=True)
    np.testing.assert_allclose(y, ref, rtol=1e-5)
    restored = L2Normalization.from_config(layer.get_config())
    assert restored.scale == 20.0 and restored.epsilon == 1e-12


def test_l2_normalization_survives_a_keras_file_and_imports_as_its_kind(tmp_path):
    from builder.compile.from_keras import from_keras
    from builder.core import Graph
    g = Graph()
    i = g.add_node("Input", {"shape": [6, 6, 8]}).id
    c = g.add_node("L2Normalization", {"scale": 10.0}).id
    g.connect(i, c)
    g.connect(c, g.add_node("Output", {}).id)
    path = tmp_path / "l2.keras"
    to_keras(g).save(path)
    kinds = {n.kind: n.params for n in from_keras(path).graph.nodes.values()}
    assert kinds["L2Normalization"] == {"scale": 10.0, "epsilon": 1e-12}

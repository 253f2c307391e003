"""The R-CNN templates: torchvision's parameter counts from Keras' own count of the
compiled model, the layer names the trainer looks up, and small models that run,
save, load and come out of their generated scripts unchanged."""

from __future__ import annotations

import math

import numpy as np
import pytest

import builder
from builder import analyze
from builder.compile import to_keras, to_source
from builder.compile.from_keras import import_keras

from .oracle import exec_source

keras = pytest.importorskip("keras")

#: torchvision's published parameter counts at 91 classes (FrozenBatchNorm2d
#: holds no parameters), e.g. MaskRCNN_ResNet50_FPN_Weights.COCO_V1.meta["num_params"].
TORCHVISION = {"mask_rcnn_resnet50_fpn": 44_401_393, "faster_rcnn_resnet50_fpn": 41_755_286}

#: Layer names the R-CNN trainer reads from the compiled model (notes/rcnn.md).
BOX_NAMES = ["image", "fpn_p2", "fpn_p3", "fpn_p4", "rpn", "proposals", "box_roi_align",
             "box_flatten", "box_fc6", "box_fc7", "box_cls", "box_reg", "detections"]
MASK_NAMES = ["mask_roi_align", "mask_fcn1", "mask_fcn2", "mask_deconv", "mask_logits",
              "masks"]


def _size(weights) -> int:
    return sum(math.prod(w.shape) for w in weights)


@pytest.fixture(scope="module")
def full_models():
    # Symbolic construction only (the R-CNN layers give their shapes without
    # running), so the 800x800 templates build in seconds.
    out = {}
    for name in TORCHVISION:
        graph = builder.from_template(name).graph
        out[name] = (graph, analyze(graph), to_keras(graph))
    return out


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_full_template_has_torchvision_s_trainable_parameter_count(full_models, name):
    graph, analysis, model = full_models[name]
    assert _size(model.trainable_weights) == TORCHVISION[name]
    assert analysis.totals.trainable == TORCHVISION[name]
    # Frozen BatchNorm: gamma, beta and the moving statistics, 4 per channel.
    assert _size(model.non_trainable_weights) == analysis.totals.non_trainable
    frozen = [layer for layer in model.layers
              if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(frozen) == 53 and not any(layer.trainable for layer in frozen)


def test_full_templates_name_the_layers_the_trainer_reads(full_models):
    graph, _, model = full_models["mask_rcnn_resnet50_fpn"]
    names = {layer.name for layer in model.layers}
    assert set(BOX_NAMES + MASK_NAMES + ["fpn_p5", "fpn_p6", "mask_fcn3", "mask_fcn4"]) \
        <= names
    assert [tuple(t.shape) for t in model.outputs] == [
        (None, 100, 4), (None, 100), (None, 100), (None, 100, 28, 28)]
    assert model.get_layer("rpn").output[0].shape == (None, 159_882)
    assert model.get_layer("box_roi_align").output.shape == (None, 7, 7, 256)
    assert model.get_layer("mask_logits").output.shape == (None, 28, 28, 91)
    _, _, faster = full_models["faster_rcnn_resnet50_fpn"]
    assert {layer.name for layer in faster.layers}.isdisjoint(MASK_NAMES)


@pytest.fixture(scope="module")
def small_models():
    from builder.detection.rcnn_data import shapes_instances

    images = shapes_instances(2, size=64, seed=0).images
    out = {}
    for name in ("mask_rcnn_small", "faster_rcnn_small"):
        graph = builder.from_template(name).graph
        model = to_keras(graph)
        out[name] = (graph, model, [np.asarray(t) for t in model(images)])
    return images, out


@pytest.mark.parametrize("name", ["mask_rcnn_small", "faster_rcnn_small"])
def test_small_template_detects_boxes_scores_classes_and_masks(small_models, name):
    _, models = small_models
    graph, model, outputs = models[name]
    names = {layer.name for layer in model.layers}
    assert set(BOX_NAMES) <= names
    assert analyze(graph).totals.trainable == _size(model.trainable_weights)
    boxes, scores, classes = outputs[:3]
    assert boxes.shape == (2, 10, 4) and scores.shape == (2, 10)
    assert classes.shape == (2, 10) and classes.dtype == np.int32
    assert classes.min() >= -1 and classes.max() <= 2
    assert np.all((boxes >= 0) & (boxes <= 1))
    assert np.all(scores[classes < 0] == 0)
    if name == "mask_rcnn_small":
        assert set(MASK_NAMES) <= names
        (masks,) = outputs[3:]
        assert masks.shape == (2, 10, 28, 28)
        assert masks.min() >= 0 and masks.max() <= 1
        assert np.all(masks[classes < 0] == 0)
    else:
        assert len(outputs) == 3


def test_small_mask_rcnn_script_and_keras_file_give_the_same_detections(small_models,
                                                                         tmp_path):
    images, models = small_models
    graph, model, outputs = models["mask_rcnn_small"]
    scripted = exec_source(to_source(graph))["build_model"]()
    scripted.set_weights(model.get_weights())
    for got, want in zip(scripted(images), outputs):
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
    path = tmp_path / "mask_rcnn_small.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    for got, want in zip(loaded(images), outputs):
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
    # ... and the file imports back as the same kinds (import_keras checks the counts).
    imported = import_keras(path)
    for nid in ("rpn", "proposals", "box_roi_align", "detections", "mask_roi_align", "masks"):
        node = imported.project.graph.nodes[imported.layer_nodes[nid]]
        want = dict(graph.nodes[nid].params)
        if nid == "proposals":
            want["image_size"] = [64, 64]
        assert (node.kind, node.params) == (graph.nodes[nid].kind, want)


def test_summary_lists_the_rpn_maps_anchors_per_location_and_total(full_models):
    from builder.detection.rcnn_boxes import FPNAnchors, fpn_anchors
    from builder.detection.summary import detection_summary, rpn_heads

    graph, analysis, model = full_models["mask_rcnn_resnet50_fpn"]
    rows = rpn_heads(graph, analysis)
    assert [(r.feature_node, r.height, r.width, r.anchors, r.size, r.stride)
            for r in rows] == [("fpn_p2", 200, 200, 3, 32, 4), ("fpn_p3", 100, 100, 3, 64, 8),
                               ("fpn_p4", 50, 50, 3, 128, 16), ("fpn_p5", 25, 25, 3, 256, 32),
                               ("fpn_p6", 13, 13, 3, 512, 64)]
    total = len(fpn_anchors(800, FPNAnchors()))   # the anchors the Proposals layer uses
    assert sum(r.boxes for r in rows) == total == model.get_layer("rpn").output[0].shape[1]
    text = detection_summary(graph, analysis)
    assert "Region proposal network" in text and "fpn_p6" in text
    assert text.splitlines()[-1].split() == ["total", f"{total:,}"]


def test_builder_summary_prints_the_rpn_table():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "builder", "summary", "mask_rcnn_small"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    tail = out[out.index("Region proposal network"):].splitlines()
    assert tail[2].split()[:2] == ["fpn_p2", "16x16"] and tail[-1].split()[-1] == "1,008"

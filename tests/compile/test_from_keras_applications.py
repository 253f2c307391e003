"""keras.applications as the oracle of the importer: each network, built once with
``weights=None``, is imported, analysed and compared with Keras layer by layer
(output shape, trainable and non-trainable parameters), then compiled back with
``to_keras`` and compared again.

Default inputs and heads throughout (224×224; 299×299 for Inception and
Xception), so the checks cover the classifier heads too (VGG's Flatten →
FC-4096, MobileNet's Reshape, EfficientNet's and ConvNeXt's preprocessing).
The module takes about 70 s on two busy cores, most of it Keras building each
network twice.
"""

from __future__ import annotations

import math
import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

import builder  # noqa: E402
from builder.analysis.summary import summarize  # noqa: E402
from builder.compile.from_keras import import_keras, keras_layers  # noqa: E402

A = keras.applications

#: name → (constructor, keyword arguments besides weights=None).
APPLICATIONS = {
    "VGG16": (A.VGG16, {}),
    "VGG19": (A.VGG19, {}),
    "ResNet50": (A.ResNet50, {}),
    "ResNet101": (A.ResNet101, {}),
    "ResNet152": (A.ResNet152, {}),
    "ResNet50V2": (A.ResNet50V2, {}),
    "InceptionV3": (A.InceptionV3, {}),
    "DenseNet121": (A.DenseNet121, {}),
    "MobileNet": (A.MobileNet, {}),
    "MobileNetV2": (A.MobileNetV2, {}),
    "Xception": (A.Xception, {}),
    "EfficientNetB0": (A.EfficientNetB0, {}),
    "ConvNeXtTiny": (A.ConvNeXtTiny, {}),
    "NASNetMobile": (A.NASNetMobile, {}),
}


class Case:
    """One application: the Keras model and its import."""

    def __init__(self, name: str):
        constructor, kwargs = APPLICATIONS[name]
        self.name = name
        self.model = constructor(weights=None, **kwargs)
        self.imported = import_keras(self.model, verify=False)
        self.graph = self.imported.project.graph
        self.analysis = builder.analyze(self.graph)


@pytest.fixture(scope="module", params=list(APPLICATIONS))
def case(request):
    built = Case(request.param)
    yield built
    del built
    keras.backend.clear_session()


def weight_counts(layer) -> tuple[int, int]:
    trainable = sum(math.prod(w.shape) for w in layer.trainable_weights)
    frozen = sum(math.prod(w.shape) for w in layer.non_trainable_weights)
    return trainable, frozen


def test_every_layer_matches_keras(case):
    a = case.analysis
    assert a.ok, [str(d) for d in a.errors]
    layers = keras_layers(case.model)
    assert layers, case.name
    for layer in layers:
        node = case.graph.node(layer.name)  # Keras names are the node ids
        assert node.name == layer.name
        info = a.nodes[layer.name]
        assert info.output_shape == tuple(layer.output.shape), layer.name
        assert (info.trainable, info.non_trainable) == weight_counts(layer), layer.name


def test_totals_and_outputs_match_keras(case):
    totals = case.analysis.totals
    model = case.model
    assert totals.params == model.count_params()
    assert totals.trainable == sum(math.prod(w.shape) for w in model.trainable_weights)
    outputs = [n for n in case.graph.nodes.values() if n.kind == "Output"]
    assert len(outputs) == len(model.outputs) == 1
    feeding = case.graph.in_edges(outputs[0].id)[0].src
    assert case.analysis.nodes[feeding].output_shape == tuple(model.outputs[0].shape)


def test_summary_rows_line_up_with_keras_layers(case):
    # Our table has a row per node; Keras' per layer. Functional-API operations
    # (ConvNeXt's "x + y") are nodes here but not Keras layers; nested models
    # are flattened into their layers.
    names = {layer.name for layer in keras_layers(case.model)}
    rows = [r.name for r in summarize(case.graph, case.analysis).rows]
    assert [r for r in rows if r in names] == [l.name for l in keras_layers(case.model)]


def test_compiled_back_matches_keras(case):
    rebuilt = builder.to_keras(case.graph)
    try:
        assert rebuilt.count_params() == case.model.count_params()
        assert sum(math.prod(w.shape) for w in rebuilt.trainable_weights) == \
            sum(math.prod(w.shape) for w in case.model.trainable_weights)
        for layer in keras_layers(case.model):
            again = rebuilt.get_layer(layer.name)
            assert tuple(again.output.shape) == tuple(layer.output.shape), layer.name
            assert weight_counts(again) == weight_counts(layer), layer.name
        assert [tuple(t.shape) for t in rebuilt.outputs] == \
            [tuple(t.shape) for t in case.model.outputs]
    finally:
        del rebuilt

"""Templates that keras.applications also builds equal it: totals and, layer by
layer, output shapes and parameter counts.

Each reference model is built once (weights=None). Our side is never built with
Keras here: the analysis of the template's expanded graph is compared directly.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

import builder
from builder.analysis.expand import expand_graph

keras = pytest.importorskip("keras")

#: template -> (keras.applications constructor, whether Keras names the layers)
REFERENCES = {
    "resnet50": ("ResNet50", True),
    "resnet101": ("ResNet101", True),
    "resnet152": ("ResNet152", True),
    "resnet50_v2": ("ResNet50V2", True),
    "densenet121": ("DenseNet121", True),
    "inception_v3": ("InceptionV3", False),  # conv2d_bn layers are auto-named
}


def flat_rows(name):
    """(layer name, output shape, params) of every layer of the expanded template."""
    flat, _ = expand_graph(builder.from_template(name).graph)
    analysis = builder.analyze(flat)
    assert analysis.ok, [str(d) for d in analysis.errors]
    return {nid.replace("/", "_"): (info.output_shape, info.params)
            for nid, info in analysis.nodes.items()
            if flat.nodes[nid].kind not in ("Input", "Output")}, analysis


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_equals_keras_applications(name):
    constructor, named = REFERENCES[name]
    keras.backend.clear_session()  # so auto-named layers start from zero
    reference = getattr(keras.applications, constructor)(weights=None)
    ours, analysis = flat_rows(name)
    trainable = sum(math.prod(w.shape) for w in reference.trainable_weights)
    assert analysis.totals.params == reference.count_params()
    assert analysis.totals.trainable == trainable
    theirs = {layer.name: (tuple(layer.output.shape), layer.count_params())
              for layer in reference.layers[1:]}
    assert builder.analyze(builder.from_template(name).graph).nodes["input_layer"] \
        .output_shape == tuple(reference.layers[0].output.shape)
    # Layer by layer: the same multiset of (shape, params) rows, and where Keras
    # names its layers, the same row under the same name.
    assert Counter(ours.values()) == Counter(theirs.values())
    if named:
        auto = [n for n in theirs if n.startswith(("zero_padding2d", "max_pooling2d"))]
        assert {n: ours[n] for n in theirs if n not in auto} == \
            {n: theirs[n] for n in theirs if n not in auto}
    keras.backend.clear_session()

"""Keras is the oracle: every catalogue kind, run through Keras, must agree with
our pure-Python rules on output shapes and on every weight it creates.

One parametrised test (:func:`test_matches_keras`) runs each :data:`CASES` entry:
it computes our shapes and weights, then builds ``keras.Input`` tensors of the
same shapes, instantiates the spec's ``LayerCall`` chain and compares. Cases that
our rules reject must be rejected by Keras too (:func:`test_rejected_like_keras`),
so our diagnostics never refuse a network Keras would build. A kind added to the
catalogue without a case fails :func:`test_every_kind_has_an_oracle_case`.
"""

from __future__ import annotations

import math
import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

from builder.blocks import CATALOG, Notes, ShapeIssue  # noqa: E402
from builder.blocks.composites import is_composite  # noqa: E402
from builder.compile.custom_layers import resolve_layer_class  # noqa: E402

#: Kinds that add no layer; tested against keras.Input and model outputs below.
SPECIAL = {"Input", "Output"}

#: Kinds with several named ports (an int input among them), whose Keras oracle
#: lives in their own test module.
ORACLE_ELSEWHERE = {
    "MaxPoolWithArgmax2D": "tests/segmentation/test_unpooling.py",
    "MaxUnpool2D": "tests/segmentation/test_unpooling.py",
    **{k: "tests/blocks/test_rcnn_kinds.py" for k in (
        "RPNHead", "Proposals", "MultiLevelRoIAlign", "RCNNDetections", "RCNNMasks")},
}


@pytest.fixture(scope="module", autouse=True)
def _fresh_keras_names():
    # Every unnamed layer and Input built here advances Keras' global name
    # counters; reset them afterwards so later tests see the names a fresh
    # process would give (e.g. keras.applications' "input_layer").
    yield
    keras.backend.clear_session()


def case(kind, *shapes, **params):
    """One oracle case: ``kind`` with ``params`` over per-sample input ``shapes``."""
    text = ",".join(f"{k}={v}" for k, v in params.items())
    ids = "+".join("x".join("?" if d is None else str(d) for d in s) or "()" for s in shapes)
    return pytest.param(kind, params, shapes, id=f"{kind}[{ids}]{{{text}}}")


CASES = [
    # -- convolution
    case("Conv2D", (8, 8, 3), filters=4),
    case("Conv2D", (9, 9, 3), filters=4, strides=2, padding="valid"),
    case("Conv2D", (7, 7, 3), filters=2, kernel_size=[1, 3], strides=[2, 1], padding="valid"),
    case("Conv2D", (8, 8, 2), filters=3, strides=2, padding=1),
    case("Conv2D", (7, 9, 2), filters=3, kernel_size=[3, 5], padding=[1, 2]),
    case("Conv2D", (6, 6, 4), filters=6, groups=2, use_bias=False),
    case("Conv2D", (9, 9, 3), filters=2, dilation_rate=2, padding="valid"),
    case("Conv2D", (None, None, 3), filters=2, strides=2, activation="relu"),
    case("Conv2D", (30, 30, 1), filters=1, kernel_size=4, strides=3, padding=0),
    case("DepthwiseConv2D", (8, 8, 3)),
    case("DepthwiseConv2D", (9, 7, 3), kernel_size=[3, 1], strides=2, padding="valid",
         depth_multiplier=2, use_bias=False),
    case("DepthwiseConv2D", (8, 8, 2), padding=2, dilation_rate=2),
    case("DepthwiseConv2D", (9, 9, 3), strides=2, dilation_rate=2),
    case("SeparableConv2D", (8, 8, 3), filters=5),
    case("SeparableConv2D", (9, 11, 4), filters=3, kernel_size=[3, 5], strides=[1, 2],
         padding="valid", depth_multiplier=2, use_bias=False),
    case("SeparableConv2D", (7, 7, 3), filters=2, strides=2, padding=1),
    case("SeparableConv2D", (9, 9, 2), filters=2, dilation_rate=2, padding="valid"),
    case("Conv2DTranspose", (5, 5, 3), filters=4, strides=1),
    case("Conv2DTranspose", (5, 5, 3), filters=4, strides=2),
    case("Conv2DTranspose", (5, 5, 3), filters=2, strides=2, padding="valid"),
    case("Conv2DTranspose", (5, 5, 1), filters=2, kernel_size=1, strides=2, padding="valid"),
    case("Conv2DTranspose", (5, 5, 3), filters=2, strides=2, output_padding=1),
    case("Conv2DTranspose", (4, 5, 2), filters=3, kernel_size=[4, 2], strides=[2, 3],
         padding="valid", output_padding=[0, 1], use_bias=False),
    case("Conv2DTranspose", (3, 3, 1), filters=1, kernel_size=4, strides=2, output_padding=0),
    case("Conv2DTranspose", (5, 5, 2), filters=2, strides=1, dilation_rate=2,
         padding="valid"),
    case("Conv2DTranspose", (None, None, 3), filters=2, strides=2),
    # -- pooling
    case("MaxPool2D", (8, 8, 3)),
    case("MaxPool2D", (7, 7, 3)),
    case("MaxPool2D", (13, 13, 2), pool_size=3, strides=2),
    case("MaxPool2D", (7, 9, 2), pool_size=[2, 3], strides=[1, 2], padding="same"),
    case("MaxPool2D", (None, None, 2), pool_size=2, strides=1),
    case("AvgPool2D", (9, 9, 3)),
    case("AvgPool2D", (8, 8, 2), pool_size=3, strides=2, padding="same"),
    case("GlobalAvgPool2D", (5, 5, 3)),
    case("GlobalAvgPool2D", (None, None, 3), keepdims=True),
    case("GlobalMaxPool2D", (5, 5, 3)),
    case("GlobalMaxPool2D", (4, 6, 2), keepdims=True),
    # -- dense
    case("Dense", (7,), units=5),
    case("Dense", (4, 4, 3), units=2, use_bias=False),
    case("Dense", (None, 6), units=3, activation="softmax"),
    case("Flatten", (4, 4, 3)),
    case("Flatten", (7,)),
    case("Flatten", (None, 4, 3)),
    case("Reshape", (4, 4, 3), target_shape=[4, 12]),
    case("Reshape", (4, 4, 3), target_shape=[-1]),
    case("Reshape", (4, 4, 3), target_shape=[2, -1, 3]),
    case("Reshape", (48,), target_shape=[4, 4, 3]),
    case("Reshape", (None, 4, 3), target_shape=[-1, 3]),
    # -- activation
    case("ReLU", (4, 4, 3)),
    case("ReLU", (7,), max_value=6.0),
    *(case("Activation", (4, 3), activation=a)
      for a in ("linear", "relu", "sigmoid", "softmax", "gelu", "leaky_relu")),
    case("LeakyReLU", (4, 4, 3)),
    case("LeakyReLU", (7,), negative_slope=0.1),
    case("Softmax", (10,)),
    case("Softmax", (4, 5), axis=1),
    case("Softmax", (3, 4, 5), axis=-2),
    # -- normalisation
    case("BatchNormalization", (4, 4, 3)),
    case("BatchNormalization", (4, 4, 3), center=False),
    case("BatchNormalization", (5, 5, 2), scale=False, momentum=0.9, epsilon=1e-5),
    case("BatchNormalization", (7,), center=False, scale=False),
    case("BatchNormalization", (4, 4, 3), trainable=False),  # frozen: gamma/beta fixed
    case("BatchNormalization", (4, 4, 3), center=False, trainable=False),
    case("LayerNormalization", (4, 4, 3)),
    case("LayerNormalization", (6,), center=False),
    case("LayerNormalization", (3, 5), scale=False, epsilon=1e-6),
    case("LRN", (4, 4, 8)),
    case("LRN", (5, 5, 3), depth_radius=3, bias=1.0, alpha=1e-3, beta=0.5),
    case("LRN", (3, 3, 4), depth_radius=0),
    case("L2Normalization", (5, 5, 8)),
    case("L2Normalization", (3, 4, 512), scale=10.0, epsilon=1e-10),
    # -- regularisation
    case("Dropout", (4, 4, 3)),
    case("Dropout", (7,), rate=0.0),
    case("Dropout", (7,), rate=0.25, seed=3),
    case("SpatialDropout2D", (4, 4, 3)),
    case("SpatialDropout2D", (5, 5, 2), rate=0.5, seed=1),
    # -- merge
    case("Add", (4, 4, 3), (4, 4, 3)),
    case("Add", (4, 4, 3), (4, 4, 3), (4, 4, 3)),
    case("Add", (4, 4, 3), (1, 1, 3)),
    case("Add", (4, 4, 3), (3,)),
    case("Add", (4, 1, 3), (1, 5, 1)),
    case("Add", (None, None, 3), (4, 4, 3)),
    case("Multiply", (4, 4, 8), (1, 1, 8)),
    case("Multiply", (8,), (8,), (8,)),
    case("Concatenate", (4, 4, 3), (4, 4, 5)),
    case("Concatenate", (2, 4, 3), (3, 4, 3), axis=1),
    case("Concatenate", (4, 2, 3), (4, 1, 3), (4, 3, 3), axis=-2),
    case("Concatenate", (None, 4, 3), (5, 4, 2)),
    case("Concatenate", (4, None), (4, 3)),
    case("Average", (4, 4, 3), (4, 4, 3)),
    # -- reshape
    case("ChannelPad", (5, 5, 3), channels=8),
    case("ZeroPadding2D", (4, 4, 3)),
    case("ZeroPadding2D", (5, 3, 2), padding=[1, 2]),
    case("ZeroPadding2D", (5, 3, 2), padding=[[0, 1], [2, 3]]),
    case("ZeroPadding2D", (None, None, 3), padding=2),
    case("Cropping2D", (6, 6, 3)),
    case("Cropping2D", (7, 8, 2), cropping=[[0, 1], [2, 3]]),
    case("Cropping2D", (7, 8, 2), cropping=[1, 2]),
    case("UpSampling2D", (4, 4, 3)),
    case("UpSampling2D", (3, 5, 2), size=[2, 3], interpolation="bilinear"),
    case("UpSampling2D", (None, 4, 3), size=3),
    case("Rescaling", (4, 4, 3)),
    case("Rescaling", (5,), scale=2.0, offset=-1.0),
    # -- preprocessing and residual scaling (imported keras.applications need them)
    case("Normalization", (4, 4, 3)),
    case("Normalization", (4, 4, 3), mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0]),
    case("Normalization", (5,), mean=0.5, variance=2.0, invert=True),
    case("Normalization", (4, 4, 3), mean=[0.5], variance=[0.25]),
    case("Normalization", (None, None, 2)),
    case("LayerScale", (4, 4, 3)),
    case("LayerScale", (6,), init_values=0.1),
    case("StochasticDepth", (4, 4, 3)),
    case("StochasticDepth", (7,), rate=0.0),
    *(case("Activation", (4, 3), activation=a)
      for a in ("silu", "hard_silu", "hard_swish", "relu6", "hard_sigmoid", "mish",
                "log_softmax")),
    case("Conv2D", (6, 6, 3), filters=2, activation="silu"),
]

#: Cases our rules reject; Keras must reject them too (at construction or call).
REJECTED = [
    case("Conv2D", (3, 3, 1), kernel_size=5, padding="valid"),
    case("Conv2D", (8, 8, 3), strides=2, dilation_rate=2),
    case("Conv2D", (6, 6, 4), filters=6, groups=3),
    case("Conv2D", (7,)),
    case("Conv2D", (4, 4, None)),
    case("DepthwiseConv2D", (2, 2, 1), kernel_size=3, padding="valid"),
    case("SeparableConv2D", (7,)),
    case("Conv2DTranspose", (5, 5, 3), strides=2, output_padding=2),
    case("Conv2DTranspose", (5, 5, 3), strides=2, dilation_rate=2),
    case("MaxPool2D", (3, 3, 1), pool_size=5),
    case("AvgPool2D", (7,)),
    case("GlobalAvgPool2D", (4, 3)),
    case("GlobalMaxPool2D", (7,)),
    case("Reshape", (4, 4, 3), target_shape=[5, 5]),
    case("Reshape", (4, 4, 3), target_shape=[-1, 5]),
    case("Reshape", (4, 4, 3), target_shape=[-1, -1]),
    case("BatchNormalization", (4, 4, None)),
    case("Dropout", (7,), rate=1.5),
    case("SpatialDropout2D", (7,)),
    case("Add", (28, 28, 64), (28, 28, 128)),
    case("Add", (4, 4, 3), (4, 4, 3), (4, 4, 2)),
    case("Multiply", (4, 3), (4,)),
    case("Concatenate", (4, 4, 3), (5, 4, 3)),
    case("Concatenate", (4, 4, 3), (4, 3)),
    case("ZeroPadding2D", (7,)),
    case("Cropping2D", (6, 6, 1), cropping=[3, 0]),
    case("Cropping2D", (6, 6, 1), cropping=[[0, 0], [4, 2]]),
    case("UpSampling2D", (4, 3)),
    case("Normalization", (4, 4, 3), mean=[1.0, 2.0], variance=[1.0, 1.0]),
    case("Normalization", (4, 4, None)),
    case("LayerScale", (4, 4, None)),
]


def _ours(kind, params, shapes):
    spec = CATALOG.get(kind)
    p = spec.defaults()
    p.update(params)
    ins = [(None, *s) for s in shapes]
    outs = spec.shape(p, ins, Notes())
    return spec, p, ins, outs


def _keras(spec, p, shapes):
    """Output shape and layers of the spec's Keras chain on fresh inputs."""
    inputs = [keras.Input(shape=s) for s in shapes]
    x = inputs if spec.inputs and spec.inputs[0].multiple else inputs[0]
    layers = []
    for call in spec.keras(p):
        layer = resolve_layer_class(call.class_name)(**call.kwargs)
        x = layer(x)
        layers.append(layer)
    return tuple(x.shape), layers


@pytest.mark.parametrize("kind, params, shapes", CASES)
def test_matches_keras(kind, params, shapes):
    spec, p, ins, outs = _ours(kind, params, shapes)
    assert CATALOG.validate_params(kind, p) == []
    weights = spec.weights(p, ins, outs)

    out_shape, layers = _keras(spec, p, shapes)

    assert outs == [out_shape]
    expected = [(w.name, tuple(w.shape), w.trainable)
                for layer in layers for w in layer.weights]
    assert [(w.name, w.shape, w.trainable) for w in weights] == expected
    trainable = sum(math.prod(w.shape) for layer in layers for w in layer.trainable_weights)
    frozen = sum(math.prod(w.shape) for layer in layers for w in layer.non_trainable_weights)
    assert sum(w.size for w in weights if w.trainable) == trainable
    assert sum(w.size for w in weights if not w.trainable) == frozen
    # The other rules must at least run on what the shape rule accepted.
    assert spec.flops(p, ins, outs) >= 0
    assert spec.activations(p, ins, outs) >= 0
    assert isinstance(spec.label(p), str) and spec.label(p)


@pytest.mark.parametrize("kind, params, shapes", REJECTED)
def test_rejected_like_keras(kind, params, shapes):
    spec = CATALOG.get(kind)
    with pytest.raises(ShapeIssue) as issue:
        _ours(kind, params, shapes)
    assert "Received" in issue.value.message
    with pytest.raises(Exception):  # noqa: B017 - Keras raises ValueError or TypeError
        _keras(spec, {**spec.defaults(), **params}, shapes)


def test_every_kind_has_an_oracle_case():
    covered = {c.values[0] for c in CASES} | SPECIAL | set(ORACLE_ELSEWHERE)
    # Composite blocks have their own oracle: tests/blocks/composites/.
    covered |= {k for k in CATALOG.kinds() if is_composite(CATALOG.get(k))}
    missing = [k for k in CATALOG.kinds() if k not in covered]
    assert not missing, f"Kinds without a Keras oracle case: {missing}"


def test_input_and_output_match_keras_model():
    shape = [None, 7, 3]
    (ours,) = CATALOG.get("Input").shape({"shape": shape}, [], Notes())
    x = keras.Input(shape=tuple(shape))
    assert ours == tuple(x.shape)
    assert CATALOG.get("Input").keras({"shape": shape}) == []
    # Output adds no layer: the tensor feeding it is the model's output as is.
    output = CATALOG.get("Output")
    assert output.shape(output.defaults(), [ours], Notes()) == []
    assert output.keras(output.defaults()) == []
    assert keras.Model(x, x).output_shape == ours

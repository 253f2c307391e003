"""FLOP, receptive-field and label rules, and catalogue hygiene."""

from __future__ import annotations

from fractions import Fraction

import pytest

from builder.blocks import CATALOG, CATEGORIES, Notes


def _info(kind, *shapes, **params):
    spec = CATALOG.get(kind)
    p = {**spec.defaults(), **params}
    ins = [(None, *s) for s in shapes]
    outs = spec.shape(p, ins, Notes())
    return spec, p, ins, outs


def _flops(kind, *shapes, **params):
    spec, p, ins, outs = _info(kind, *shapes, **params)
    return spec.flops(p, ins, outs)


def test_vgg_first_conv_matches_the_lecture():
    spec, p, ins, outs = _info("Conv2D", (224, 224, 3), filters=64)
    assert outs == [(None, 224, 224, 64)]
    kernel, bias = spec.weights(p, ins, outs)
    assert kernel.size == (3 * 3 * 3) * 64 == 1728 and bias.size == 64
    assert spec.flops(p, ins, outs) == 224 * 224 * 64 * 27
    assert spec.label(p) == "conv3-64"


@pytest.mark.parametrize("kind, shapes, params, expected", [
    ("DepthwiseConv2D", [(8, 8, 3)], {"depth_multiplier": 2}, 8 * 8 * 6 * 9),
    ("SeparableConv2D", [(8, 8, 3)], {"filters": 5}, 8 * 8 * 3 * (9 + 5)),
    ("Conv2DTranspose", [(5, 5, 3)], {"filters": 4, "strides": 2}, 5 * 5 * 3 * 9 * 4),
    ("BatchNormalization", [(4, 4, 3)], {}, 48),
    ("LayerNormalization", [(4, 4, 3)], {}, 3 * 48),
    ("LRN", [(4, 4, 8)], {}, (2 * 2 + 2) * 128),
    ("Rescaling", [(4, 4, 3)], {}, 48),
    ("Multiply", [(4, 4, 8), (4, 4, 8), (1, 1, 8)], {}, 2 * 128),
    ("Add", [(4, 4, 8), (4, 4, 8)], {}, 0),
    ("MaxPool2D", [(8, 8, 3)], {}, 0),
    ("GlobalAvgPool2D", [(8, 8, 3)], {}, 0),
    ("ReLU", [(8, 8, 3)], {}, 0),
    ("Flatten", [(8, 8, 3)], {}, 0),
    ("Dropout", [(8,)], {}, 0),
])
def test_flops_in_multiply_adds(kind, shapes, params, expected):
    assert _flops(kind, *shapes, **params) == expected


def test_unknown_sizes_count_no_flops():
    assert _flops("DepthwiseConv2D", (None, None, 3)) == 0
    assert _flops("Conv2DTranspose", (None, None, 3)) == 0


@pytest.mark.parametrize("kind, params, expected", [
    ("MaxPool2D", {}, ((2, 2), (2, 2))),
    ("MaxPool2D", {"pool_size": 3, "strides": 2}, ((3, 3), (2, 2))),
    ("AvgPool2D", {"pool_size": [2, 3]}, ((2, 3), (2, 3))),
    ("DepthwiseConv2D", {"dilation_rate": 2}, ((5, 5), (1, 1))),
    ("SeparableConv2D", {"kernel_size": [1, 7], "strides": 2}, ((1, 7), (2, 2))),
    ("Conv2DTranspose", {"kernel_size": 3, "strides": 2},
     ((2, 2), (Fraction(1, 2), Fraction(1, 2)))),
    ("Conv2DTranspose", {"kernel_size": 3, "strides": 1}, ((3, 3), (1, 1))),
    ("UpSampling2D", {}, ((1, 1), (Fraction(1, 2), Fraction(1, 2)))),
    ("UpSampling2D", {"size": [2, 1], "interpolation": "bilinear"},
     ((2, 2), (Fraction(1, 2), 1))),
    ("GlobalAvgPool2D", {}, "global"),
    ("GlobalMaxPool2D", {}, "global"),
    ("Flatten", {}, "global"),
    ("Reshape", {}, "global"),
])
def test_receptive_rules(kind, params, expected):
    spec = CATALOG.get(kind)
    assert spec.receptive({**spec.defaults(), **params}) == expected


@pytest.mark.parametrize("kind", ["ReLU", "BatchNormalization", "Dropout", "Add",
                                  "ZeroPadding2D", "Rescaling", "Dense"])
def test_pointwise_kinds_keep_the_receptive_field(kind):
    assert CATALOG.get(kind).receptive is None


@pytest.mark.parametrize("kind, params, label", [
    ("Conv2D", {"kernel_size": 1, "filters": 256}, "conv1-256"),
    ("MaxPool2D", {}, "maxpool"),
    ("MaxPool2D", {"pool_size": 3, "strides": 2}, "maxpool3/2"),
    ("Dense", {"units": 4096}, "FC-4096"),
    ("DepthwiseConv2D", {"strides": 2}, "dwconv3/2"),
    ("SeparableConv2D", {"filters": 128}, "sepconv3-128"),
    ("Conv2DTranspose", {"kernel_size": 4, "filters": 32, "strides": 2}, "deconv4-32/2"),
    ("ReLU", {"max_value": 6.0}, "ReLU6"),
    ("LRN", {}, "LRN"),
    ("BatchNormalization", {}, "BN"),
    ("Rescaling", {}, "rescale 1/255"),
    ("Rescaling", {"scale": 1 / 127.5, "offset": -1.0}, "rescale ×0.00784314 -1"),
    ("UpSampling2D", {"size": [2, 3]}, "upsample 2x3"),
    ("Dropout", {}, "dropout 0.5"),
])
def test_lecture_labels(kind, params, label):
    spec = CATALOG.get(kind)
    assert spec.label({**spec.defaults(), **params}) == label


def test_every_spec_is_documented_and_in_a_palette_category():
    for spec in CATALOG:
        assert spec.category in CATEGORIES, spec.kind
        assert spec.doc, spec.kind
        for param in spec.params:
            assert param.doc and "\n" not in param.doc, (spec.kind, param.name)


def test_lrn_maps_to_the_custom_layer_with_its_kwargs():
    (call,) = CATALOG.get("LRN").keras(CATALOG.defaults("LRN"))
    assert call.class_name == "LocalResponseNormalization"
    assert call.kwargs == {"depth_radius": 2, "bias": 2.0, "alpha": 1e-4, "beta": 0.75}


def test_explicit_padding_compiles_to_zero_padding_first():
    calls = CATALOG.get("DepthwiseConv2D").keras({**CATALOG.defaults("DepthwiseConv2D"),
                                                  "padding": [1, 2]})
    assert [(c.class_name, c.suffix) for c in calls] == [("ZeroPadding2D", "_pad"),
                                                        ("DepthwiseConv2D", "")]
    assert calls[0].kwargs == {"padding": (1, 2)} and calls[1].kwargs["padding"] == "valid"

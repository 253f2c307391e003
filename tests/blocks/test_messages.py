"""Diagnostics speak arithmetic: warnings and ShapeIssues state the numbers and a fix."""

from __future__ import annotations

import pytest

from builder.blocks import CATALOG, Notes, ShapeIssue


def _run(kind, *shapes, **params):
    spec = CATALOG.get(kind)
    p = {**spec.defaults(), **params}
    notes = Notes()
    outs = spec.shape(p, [(None, *s) for s in shapes], notes)
    return outs, notes.items


def _issue(kind, *shapes, **params) -> ShapeIssue:
    with pytest.raises(ShapeIssue) as info:
        _run(kind, *shapes, **params)
    return info.value


@pytest.mark.parametrize("padding", [0, "valid"])
def test_conv_that_does_not_fit_warns_with_the_lecture_formula(padding):
    outs, warnings = _run("Conv2D", (30, 30, 3), kernel_size=4, strides=3, padding=padding)
    assert outs == [(None, 9, 9, 64)]
    ((message, fix, field),) = warnings
    assert "(30 - 4 + 2·0)/3 + 1 = 9.67" in message
    assert "floors it to 9" in message
    assert "padding='same'" in fix
    assert field == "padding"


def test_conv_that_fits_does_not_warn():
    assert _run("Conv2D", (32, 32, 3), kernel_size=5, strides=1, padding=2)[1] == []


def test_dilated_conv_shows_the_effective_kernel():
    _, warnings = _run("DepthwiseConv2D", (10, 10, 1), kernel_size=3, strides=2,
                       dilation_rate=2, padding="valid")
    assert "(10 - 5 (F=3 dilated by 2) + 2·0)/2 + 1 = 3.50" in warnings[0][0]


def test_pool_that_does_not_fit_warns_without_suggesting_an_explicit_p():
    outs, warnings = _run("MaxPool2D", (7, 7, 8))
    assert outs == [(None, 3, 3, 8)]
    ((message, fix, _),) = warnings
    assert "(7 - 2 + 2·0)/2 + 1 = 3.50" in message and "floors it to 3" in message
    assert "P=" not in fix  # pooling has no explicit padding to type in


def test_pool_axes_are_reported_separately_when_they_differ():
    _, warnings = _run("AvgPool2D", (7, 8, 1))
    assert len(warnings) == 1 and "height" in warnings[0][0]


def test_add_of_different_depths_suggests_a_1x1_projection():
    issue = _issue("Add", (28, 28, 64), (28, 28, 128))
    assert "(28, 28, 64)" in issue.message and "(28, 28, 128)" in issue.message
    assert "64 vs 128" in issue.message
    assert "1×1 Conv2D" in issue.fix and "filters=128" in issue.fix
    assert "(28, 28, 64) branch" in issue.fix


def test_add_across_a_down_sampling_suggests_a_stride_2_projection():
    issue = _issue("Add", (56, 56, 64), (28, 28, 128))
    assert "(56, 56, 64)" in issue.message and "(28, 28, 128)" in issue.message
    assert "1×1 Conv2D" in issue.fix and "strides=2" in issue.fix
    assert "filters=128" in issue.fix and "(56, 56, 64) branch" in issue.fix


def test_multiply_mismatch_names_the_axis():
    issue = _issue("Multiply", (4, 4, 8), (4, 4, 4))
    assert "channels: 8 vs 4" in issue.message


def test_merges_need_two_inputs():
    for kind in ("Add", "Multiply", "Concatenate"):
        issue = _issue(kind, (4, 4, 3))
        assert "two or more" in issue.message and "Received: 1 input" in issue.message


def test_concatenate_names_the_mismatching_dim():
    issue = _issue("Concatenate", (28, 28, 64), (14, 14, 32))
    assert "height: 28 vs 14" in issue.message
    assert "(28, 28, 64)" in issue.message and "(14, 14, 32)" in issue.message
    assert "by 2" in issue.fix


def test_concatenate_refuses_the_batch_axis():
    issue = _issue("Concatenate", (4, 3), (4, 3), axis=0)
    assert issue.field == "axis" and "batch" in issue.message


def test_reshape_states_both_element_counts():
    issue = _issue("Reshape", (7, 7, 512), target_shape=[100, 100])
    assert "7·7·512 = 25088" in issue.message and "100·100 = 10000" in issue.message
    assert issue.field == "target_shape"
    issue = _issue("Reshape", (4, 4, 3), target_shape=[-1, 5, 7])
    assert "4·4·3 = 48" in issue.message and "5·7 = 35 does not divide" in issue.message


def test_cropping_everything_away_shows_the_subtraction():
    issue = _issue("Cropping2D", (6, 6, 1), cropping=[3, 0])
    assert "height 6 - (3 + 3) = 0" in issue.message


def test_transpose_output_padding_must_stay_below_the_stride():
    issue = _issue("Conv2DTranspose", (5, 5, 3), strides=[2, 3], output_padding=[1, 3])
    assert "width output_padding=3, strides=3" in issue.message
    assert issue.field == "output_padding"


def test_transpose_that_would_produce_nothing_is_refused():
    # Keras would report a (0, 0) output here: (1 - 1)·1 + 4 mod 2 + 0 = 0.
    issue = _issue("Conv2DTranspose", (1, 1, 3), kernel_size=4, strides=1, output_padding=0)
    assert "(1 - 1)·1 + 0 + 0" in issue.message


def test_dropout_of_everything_is_refused():
    # Keras accepts rate=1, but the kept units are scaled by 1/(1 - 1).
    issue = _issue("Dropout", (8,), rate=1.0)
    assert issue.field == "rate" and "Received: rate=1.0" in issue.message


def test_softmax_axis_must_exist():
    issue = _issue("Softmax", (10,), axis=2)
    assert issue.field == "axis" and "axis=2" in issue.message


def test_image_layers_on_a_vector_suggest_where_to_put_them():
    issue = _issue("MaxPool2D", (4096,))
    assert "Received: (4096,)" in issue.message
    assert "Flatten" in issue.fix


def test_unknown_channels_are_refused_where_weights_need_them():
    for kind in ("DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose",
                 "BatchNormalization", "LayerNormalization", "LRN"):
        issue = _issue(kind, (4, 4, None))
        assert "known number of channels" in issue.message, kind

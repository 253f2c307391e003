"""Rules of the kinds imported networks need (Normalization, LayerScale,
StochasticDepth): multiply-adds, weights, labels and the messages of their
refusals. Shapes and weights against Keras are in test_keras_oracle.py."""

from __future__ import annotations

import pytest

from builder.blocks import CATALOG, Notes, ShapeIssue


def _run(kind, shape, **params):
    spec = CATALOG.get(kind)
    p = {**spec.defaults(), **params}
    assert CATALOG.validate_params(kind, p) == []
    ins = [(None, *shape)]
    outs = spec.shape(p, ins, Notes())
    return spec, p, ins, outs


@pytest.mark.parametrize("kind, params, flops, weights", [
    # (x - mean)/sqrt(var) folds into one multiply-add per element.
    ("Normalization", {}, 4 * 4 * 3, [("mean", (3,), False), ("variance", (3,), False),
                                      ("count", (), False)]),
    ("Normalization", {"mean": [1.0, 2.0, 3.0], "variance": [1.0, 1.0, 1.0]},
     4 * 4 * 3, []),
    # One multiply per element, one gamma per channel.
    ("LayerScale", {}, 4 * 4 * 3, [("gamma", (3,), True)]),
    # The identity at inference.
    ("StochasticDepth", {"rate": 0.2}, 0, []),
])
def test_flops_and_weights(kind, params, flops, weights):
    spec, p, ins, outs = _run(kind, (4, 4, 3), **params)
    assert outs == ins
    assert spec.flops(p, ins, outs) == flops
    assert [(w.name, w.shape, w.trainable) for w in spec.weights(p, ins, outs)] == weights
    assert spec.label(p)


@pytest.mark.parametrize("kind, params, words", [
    ("Normalization", {"mean": [1.0, 2.0], "variance": [1.0, 1.0]},
     "one mean per channel (3) or a single mean. Received: 2 values"),
    ("Normalization", {"mean": [1.0, 2.0, 3.0]}, "both mean and variance, or neither"),
    ("StochasticDepth", {"rate": 1.0}, "rate below 1"),
])
def test_refusals_say_what_and_received(kind, params, words):
    spec = CATALOG.get(kind)
    p = {**spec.defaults(), **params}
    with pytest.raises(ShapeIssue) as issue:
        spec.shape(p, [(None, 4, 4, 3)], Notes())
    assert words in issue.value.message and "Received" in issue.value.message


@pytest.mark.parametrize("value, ok", [
    (None, True), (0.5, True), ([1.0, 2, 3.5], True),
    ([], False), ("0.5", False), ([1.0, "x"], False), (True, False),
])
def test_statistics_are_numbers_or_lists_of_numbers(value, ok):
    p = {**CATALOG.defaults("Normalization"), "mean": value, "variance": value}
    problems = CATALOG.validate_params("Normalization", p)
    assert (problems == []) == ok, problems

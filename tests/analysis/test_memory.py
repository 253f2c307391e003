"""Memory for a batch size and precision, checked by hand against the lecture's
VGG-16 figures (138M params, ~15.2M activations per image)."""

from __future__ import annotations

import pytest

from builder.analysis.memory import GIB, estimate, largest_batch, verdict


def test_inference_is_weights_once_plus_activations():
    est = estimate(1000, 50, batch=3, precision="float16", training=False)
    assert est.weights == 1000 * 2
    assert est.activations == 50 * 3 * 2
    assert est.total == 2000 + 300


def test_training_counts_backward_gradients_and_adam_slots():
    est = estimate(1000, 50, batch=2, precision="float32")
    assert est.weights == 1000 * 4 * 4  # weights, gradients, two Adam slots
    assert est.activations == 50 * 2 * 4 * 2  # the lecture's ~x2 for backward
    assert estimate(1000, 50, 2, optimizer_slots=0).weights == 1000 * 4 * 2


def test_largest_batch_is_the_boundary():
    params, acts = 138_357_544, 15_237_608  # VGG-16 per the lecture
    budget = 16 * GIB
    best = largest_batch(params, acts, budget)
    assert best > 0
    assert estimate(params, acts, best).fits(budget)
    assert not estimate(params, acts, best + 1).fits(budget)
    assert largest_batch(params, acts, 1000) == 0
    assert largest_batch(10, 0, GIB) > 10 ** 6


def test_verdict_words():
    assert verdict(estimate(10, 10, 1), 1).startswith("fits in 1 GB")
    assert verdict(estimate(10 ** 9, 10, 1), 1).startswith("does not fit in 1 GB")


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="Received: 0"):
        estimate(1, 1, 0)
    with pytest.raises(ValueError, match="precision.*Received: 'float12'"):
        estimate(1, 1, 1, "float12")

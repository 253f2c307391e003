"""The LR range test: the reading of a curve, and a real sweep on handwritten digits."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from builder.training.config import TrainingConfigError
from builder.training.lr_find import analyse_sweep, lr_find

LOSS = "sparse_categorical_crossentropy"


def _synthetic(n=300, noise=0.0, seed=0):
    """A range-test curve with known features: flat at 2.3, a tanh fall centred on
    lr = 10^-2.5 (its steepest point), then an explosion beyond lr = 10^-0.5."""
    log_lr = np.linspace(-6, 1, n)
    loss = 1.3 - np.tanh(2 * (log_lr + 2.5)) + np.where(log_lr > -0.5,
                                                        20 * (log_lr + 0.5) ** 2, 0)
    loss = loss + np.random.default_rng(seed).normal(scale=noise, size=n)
    return 10 ** log_lr, loss


def test_steepest_fall_and_range_read_off_a_known_curve():
    lrs, losses = _synthetic()
    r = analyse_sweep(lrs, losses, smoothing=0.0)
    assert math.log10(r.suggested_lr) == pytest.approx(-2.5, abs=0.03)
    # 10 % and 90 % of the fall: tanh(2u) = -0.8 and 0.8, u = -/+ atanh(0.8) / 2.
    half_width = math.atanh(0.8) / 2
    base, top = r.suggested_range
    assert math.log10(base) == pytest.approx(-2.5 - half_width, abs=0.05)
    assert math.log10(top) == pytest.approx(-2.5 + half_width, abs=0.05)
    assert r.min_over_10 == pytest.approx(r.lr_at_min / 10)
    assert -1.2 < math.log10(r.lr_at_min) < -0.4
    assert r.method == "steepest" and r.to_dict()["suggested_range"] == [base, top]


def test_smoothing_tames_noise_without_shifting_the_suggestion():
    lrs, losses = _synthetic(noise=0.15, seed=3)
    raw = analyse_sweep(lrs, losses, smoothing=0.0)
    smoothed = analyse_sweep(lrs, losses, smoothing=0.9)
    assert math.log10(smoothed.suggested_lr) == pytest.approx(-2.5, abs=0.2)
    # Without smoothing the noise decides where the "steepest" point is.
    assert abs(math.log10(raw.suggested_lr) + 2.5) > abs(
        math.log10(smoothed.suggested_lr) + 2.5)


def test_a_curve_that_never_falls_is_refused():
    lrs = np.logspace(-3, 1, 50)
    with pytest.raises(TrainingConfigError, match="lower min_lr") as info:
        analyse_sweep(lrs, 1 + lrs, smoothing=0.5)
    assert info.value.field == "min_lr"


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.data / 16.0).astype("float32"), data.target.astype("int32")


def _mlp():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((64,))
    hidden = keras.layers.Dense(32, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(hidden))


def _loss_after_one_epoch(model, optimizer, lr, x, y):
    from builder.training.optimizers import build_optimizer

    fresh = keras.models.clone_model(model)
    fresh.set_weights(model.get_weights())
    fresh.compile(optimizer=build_optimizer(
        {"optimizer": {**optimizer, "learning_rate": lr}}, 1, 1), loss=LOSS)
    keras.utils.set_random_seed(0)
    fresh.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return fresh.evaluate(x, y, verbose=0)


@pytest.mark.parametrize("optimizer, min_lr, band", [
    ({"name": "adam"}, 1e-6, (1e-4, 1e-1)),
    # The lecture's SGD + momentum 0.9; plain SGD needs more batches than a unit
    # test should spend to fall this far.
    ({"name": "momentum", "momentum": 0.9}, 1e-4, (1e-3, 1.0)),
])
def test_range_test_on_digits_suggests_a_rate_that_trains(digits, optimizer, min_lr,
                                                          band):
    x, y = digits
    model = _mlp()
    before = [w.copy() for w in model.get_weights()]
    start_loss = float(keras.losses.sparse_categorical_crossentropy(
        y, model.predict(x, verbose=0)).numpy().mean())
    seen = []
    r = lr_find(model, x, y, loss=LOSS, optimizer=optimizer, min_lr=min_lr, max_lr=10.0,
                steps=150, batch_size=32, on_step=lambda i, lr, loss: seen.append(i))

    # The model itself is untouched: the sweep trained a clone.
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    # The sweep is exponential from min_lr, one call of on_step per recorded batch.
    assert r.lrs[0] == pytest.approx(min_lr) and seen == list(range(len(r.lrs)))
    ratios = np.diff(np.log(r.lrs))
    np.testing.assert_allclose(ratios, math.log(10.0 / min_lr) / 149, rtol=1e-9)
    # Curve shape: flat at the untrained loss, a deep fall, then a climb.
    assert r.smoothed[0] == pytest.approx(start_loss, rel=0.05)
    lowest = min(r.smoothed)
    assert lowest < 0.6 * start_loss
    assert r.stopped_early or r.smoothed[-1] > 1.2 * lowest
    # The suggestions sit in a sensible band, in order.
    assert band[0] < r.suggested_lr < band[1]
    base, top = r.suggested_range
    assert base < r.suggested_lr <= top <= r.lr_at_min
    # And the suggested rate really trains better than one 100x smaller or larger.
    at = {f: _loss_after_one_epoch(model, optimizer, r.suggested_lr * f, x, y)
          for f in (0.01, 1, 100)}
    assert at[1] < at[0.01] and at[1] < at[100], at


def test_bad_arguments_are_one_line_errors(digits):
    x, y = digits
    model = _mlp()
    for kwargs, field in [({"min_lr": 1.0, "max_lr": 0.5}, "max_lr"),
                          ({"min_lr": 0}, "min_lr"), ({"steps": 3}, "steps"),
                          ({"batch_size": 5000}, "batch_size"),
                          ({"smoothing": 1.0}, "smoothing")]:
        with pytest.raises(TrainingConfigError) as info:
            lr_find(model, x, y, loss=LOSS, **kwargs)
        assert info.value.field == field and "Received:" in str(info.value)
    with pytest.raises(TrainingConfigError, match="Expected a loss"):
        lr_find(model, x, y)
    with pytest.raises(TrainingConfigError, match="as many targets"):
        lr_find(model, x, y[:10], loss=LOSS)

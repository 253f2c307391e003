"""Schedules: the keras-free preview against Keras at every step, the lecture's
formulas, the cyclical schedule's serialisation, and reduce-on-plateau."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from builder.training.config import TrainingConfigError
from builder.training.cyclical import CyclicalLearningRate
from builder.training.optimizers import build_optimizer, current_learning_rate
from builder.training.schedule_preview import schedule_preview
from builder.training.schedules import build_schedule, plateau_callback

SPE, EPOCHS = 10, 12          # 120 optimizer steps

CONFIGS = [
    ("sgd", 0.01, {"name": "constant"}),
    ("sgd", 0.01, {"name": "plateau"}),
    ("sgd", 0.1, {"name": "step"}),
    ("adam", 0.002, {"name": "step", "every_epochs": 2, "factor": 0.1}),
    ("adam", 0.002, {"name": "step", "every_epochs": 0.5, "factor": 0.9}),
    ("sgd", 0.1, {"name": "exponential", "k": 0.3}),
    ("sgd", 0.1, {"name": "exponential", "k": 0.01, "unit": "step"}),
    ("sgd", 0.1, {"name": "exponential", "k": 0.5, "staircase": True}),
    ("sgd", 0.1, {"name": "inverse_time", "k": 0.5}),
    ("sgd", 0.1, {"name": "inverse_time", "k": 0.05, "unit": "step",
                  "staircase": True}),
    ("adam", 0.001, {"name": "cosine"}),
    ("adam", 0.001, {"name": "cosine", "warmup_epochs": 2, "warmup_start_lr": 1e-4,
                     "alpha": 0.1}),
    ("adam", 0.001, {"name": "cosine", "warmup_epochs": 1.5, "decay_epochs": 3}),
    ("sgd", 0.05, {"name": "cosine_restarts", "first_decay_epochs": 2}),
    ("sgd", 0.05, {"name": "cosine_restarts", "first_decay_epochs": 3, "t_mul": 1.0,
                   "m_mul": 0.5, "alpha": 0.05}),
    ("sgd", 0.05, {"name": "cosine_restarts", "first_decay_epochs": 1.3,
                   "t_mul": 1.5, "m_mul": 0.8}),
    ("sgd", 0.1, {"name": "cyclical"}),
    ("sgd", 0.1, {"name": "cyclical", "base_lr": 0.001, "max_lr": 0.006,
                  "step_size_epochs": 1.5, "mode": "triangular2"}),
    ("sgd", 0.1, {"name": "cyclical", "base_lr": 0.001, "max_lr": 0.006,
                  "step_size_epochs": 1, "mode": "exp_range", "gamma": 0.7}),
]


def _training(opt, lr, schedule):
    return {"optimizer": {"name": opt, "learning_rate": lr}, "schedule": schedule}


def _keras_curve(rate, n):
    if isinstance(rate, float):
        return [rate] * n
    return [float(keras.ops.convert_to_numpy(rate(step))) for step in range(n)]


@pytest.mark.parametrize("opt, lr, schedule", CONFIGS,
                         ids=[f"{c[2]['name']}-{i}" for i, c in enumerate(CONFIGS)])
def test_preview_matches_the_keras_schedule_at_every_step(opt, lr, schedule):
    training = _training(opt, lr, schedule)
    preview = schedule_preview(training, SPE, EPOCHS)
    assert len(preview) == SPE * EPOCHS
    keras_rates = _keras_curve(build_schedule(training, SPE, EPOCHS), SPE * EPOCHS)
    np.testing.assert_allclose(preview, keras_rates, rtol=2e-5, atol=1e-10)
    if schedule["name"] not in ("constant", "plateau"):
        assert len(set(np.round(preview, 12))) > 1   # the schedule really moves


def test_the_optimizer_follows_the_previewed_curve_step_by_step():
    training = _training("sgd", 0.1, {"name": "cyclical", "step_size_epochs": 0.5,
                                      "mode": "triangular2"})
    preview = schedule_preview(training, 4, 3)
    opt = build_optimizer(training, 4, 3)
    w = keras.Variable(np.zeros(2, dtype="float32"))
    seen = []
    for _ in range(12):
        seen.append(current_learning_rate(opt))
        opt.apply_gradients([(keras.ops.ones(2), w)])
    np.testing.assert_allclose(seen, preview, rtol=1e-6)
    # SGD moved w by exactly the sum of the rates used (the gradient is 1).
    np.testing.assert_allclose(w.numpy(), -sum(preview), rtol=1e-5)


def test_step_decay_halves_every_five_epochs_as_the_lecture_says():
    rates = schedule_preview(_training("sgd", 0.1, {"name": "step", "every_epochs": 5,
                                                    "factor": 0.5}), 7, 16)
    for step, rate in enumerate(rates):
        assert rate == pytest.approx(0.1 * 0.5 ** ((step // 7) // 5))


@pytest.mark.parametrize("unit, t_of_step", [("epoch", lambda s: s / 8),
                                             ("step", lambda s: s)])
def test_exponential_and_inverse_time_are_the_lectures_formulas(unit, t_of_step):
    k, a0 = 0.05, 0.3
    exp_rates = schedule_preview(_training("sgd", a0, {"name": "exponential", "k": k,
                                                       "unit": unit}), 8, 5)
    inv_rates = schedule_preview(_training("sgd", a0, {"name": "inverse_time", "k": k,
                                                       "unit": unit}), 8, 5)
    for step in range(40):
        t = t_of_step(step)
        assert exp_rates[step] == pytest.approx(a0 * math.exp(-k * t))   # a0 exp(-kt)
        assert inv_rates[step] == pytest.approx(a0 / (1 + k * t))        # a0 / (1+kt)
    # Keras' ExponentialDecay is a0 * rate^(step/decay_steps): check our mapping of k
    # against the lecture's formula through Keras itself, not only the preview.
    sched = build_schedule(_training("sgd", a0, {"name": "exponential", "k": k,
                                                 "unit": unit}), 8, 5)
    assert float(sched(24)) == pytest.approx(a0 * math.exp(-k * t_of_step(24)), rel=1e-5)


def test_cosine_warms_up_linearly_then_anneals_to_alpha():
    training = _training("adam", 0.01, {"name": "cosine", "warmup_epochs": 2,
                                        "warmup_start_lr": 0.001, "alpha": 0.1})
    rates = schedule_preview(training, 5, 10)
    np.testing.assert_allclose(rates[:10], np.linspace(0.001, 0.01, 11)[:10])
    assert rates[10] == pytest.approx(0.01)                   # the peak after warm-up
    assert rates[10 + 20] == pytest.approx(0.01 * (0.1 + 0.9 * 0.5))   # half-way
    # The last update is step 39 of the 40-step cosine: just above alpha * peak.
    assert rates[-1] == pytest.approx(0.001 + 0.009 * 0.5 * (1 + math.cos(math.pi * 39 / 40)))
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))


def test_cosine_restarts_jump_back_up_at_each_period():
    rates = schedule_preview(_training("sgd", 0.1, {"name": "cosine_restarts",
                                                    "first_decay_epochs": 1,
                                                    "m_mul": 0.5}), 10, 7)
    # Periods of 1, 2, 4 epochs start at steps 0, 10, 30, each peak m_mul times lower.
    assert [rates[0], rates[10], rates[30]] == pytest.approx([0.1, 0.05, 0.025])
    assert rates[9] < 0.01 and rates[29] < 0.005


def test_cyclical_follows_smiths_triangles():
    base, top = 0.001, 0.006
    tri = schedule_preview(_training("sgd", 0.1, {"name": "cyclical", "base_lr": base,
                                                  "max_lr": top, "step_size_epochs": 1}),
                           4, 6)
    assert tri[0] == pytest.approx(base) and tri[4] == pytest.approx(top)
    assert tri[2] == pytest.approx((base + top) / 2) and tri[8] == pytest.approx(base)
    assert tri[12] == pytest.approx(top)                       # constant amplitude
    tri2 = schedule_preview(_training("sgd", 0.1, {"name": "cyclical", "base_lr": base,
                                                   "max_lr": top, "step_size_epochs": 1,
                                                   "mode": "triangular2"}), 4, 6)
    assert tri2[12] - base == pytest.approx((top - base) / 2)  # halved second cycle
    assert tri2[20] - base == pytest.approx((top - base) / 4)
    exp = schedule_preview(_training("sgd", 0.1, {"name": "cyclical", "base_lr": base,
                                                  "max_lr": top, "step_size_epochs": 1,
                                                  "mode": "exp_range", "gamma": 0.5}),
                           4, 6)
    # gamma is per epoch: at step 12 (epoch 3) the amplitude is 0.5^3.
    assert exp[12] - base == pytest.approx((top - base) * 0.5 ** 3)


def test_cyclical_defaults_take_the_range_from_the_optimizer_rate():
    rates = schedule_preview(_training("sgd", 0.02, {"name": "cyclical"}), 5, 8)
    assert min(rates) == pytest.approx(0.005) and max(rates) == pytest.approx(0.02)


def test_cyclical_schedule_round_trips_through_config_and_serialize():
    sched = CyclicalLearningRate(0.001, 0.01, 7, "exp_range", 0.999)
    again = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(sched))
    assert isinstance(again, CyclicalLearningRate)
    assert again.get_config() == sched.get_config()
    for step in (0, 3, 7, 20, 55):
        assert float(again(step)) == pytest.approx(float(sched(step)))
    with pytest.raises(ValueError, match="Received: mode='saw'"):
        CyclicalLearningRate(0.001, 0.01, 7, "saw")


def test_a_saved_model_with_the_cyclical_schedule_reloads(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    training = _training("momentum", 0.05, {"name": "cyclical", "base_lr": 0.01,
                                            "max_lr": 0.05, "step_size_epochs": 1,
                                            "mode": "triangular2"})
    model.compile(optimizer=build_optimizer(training, 2, 3), loss="mse")
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)      # 2 steps taken
    path = tmp_path / "cyclical.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)                  # safe_mode=True
    sched = loaded.optimizer._learning_rate
    assert isinstance(sched, CyclicalLearningRate)
    assert sched.get_config() == model.optimizer._learning_rate.get_config()
    assert int(loaded.optimizer.iterations) == 2
    assert current_learning_rate(loaded.optimizer) == pytest.approx(
        schedule_preview(training, 2, 3)[2])
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_plateau_gives_a_constant_optimizer_and_the_callback():
    training = _training("sgd", 0.1, {"name": "plateau", "factor": 0.2, "patience": 1,
                                      "monitor": "val_accuracy", "min_lr": 1e-4})
    cb = plateau_callback(training)
    assert isinstance(cb, keras.callbacks.ReduceLROnPlateau)
    assert (cb.factor, cb.patience, cb.min_lr, cb.monitor) == (0.2, 1, 1e-4,
                                                               "val_accuracy")
    assert cb.mode == "max"
    assert isinstance(build_schedule(training, 10, 5), float)
    for name in ("constant", "cosine", "cyclical"):
        assert plateau_callback(_training("sgd", 0.1, {"name": name})) is None


def _tiny_fit(optimizer, callback, epochs):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=optimizer, loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 2)).astype("float32")
    model.fit(x, x[:, :1], validation_data=(x, x[:, :1]), batch_size=8, epochs=epochs,
              verbose=0, callbacks=[callback])
    return model


def test_plateau_halves_the_rate_when_validation_stops_improving():
    # min_delta 100: no epoch counts as an improvement, so every `patience` epochs
    # (after the first sets the best) the rate is multiplied by factor.
    training = _training("sgd", 0.01, {"name": "plateau", "factor": 0.5, "patience": 1,
                                       "min_delta": 100.0})
    model = _tiny_fit(build_optimizer(training, 2, 4), plateau_callback(training), 4)
    assert current_learning_rate(model.optimizer) == pytest.approx(0.01 * 0.5 ** 3)


def test_plateau_refuses_a_scheduled_optimizer_in_one_line():
    callback = plateau_callback(_training("sgd", 0.01, {"name": "plateau"}))
    scheduled = build_optimizer(_training("sgd", 0.01, {"name": "cosine"}), 2, 2)
    with pytest.raises(TrainingConfigError, match="cannot be combined") as info:
        _tiny_fit(scheduled, callback, 2)
    assert "\n" not in str(info.value) and "Received:" in str(info.value)
    # Under mixed precision the optimizer arrives wrapped; still refused up front.
    wrapped = keras.optimizers.LossScaleOptimizer(
        build_optimizer(_training("sgd", 0.01, {"name": "cosine"}), 2, 2))
    with pytest.raises(TrainingConfigError, match="CosineDecay"):
        _tiny_fit(wrapped, plateau_callback(_training("sgd", 0.01, {"name": "plateau"})), 2)


def test_schedule_curve_samples_the_preview_for_plotting():
    from builder.training.schedule_preview import schedule_curve

    training = _training("sgd", 0.1, {"name": "cosine", "warmup_epochs": 3})
    full = schedule_preview(training, 50, 40)
    steps, rates = schedule_curve(training, 50, 40, max_points=101)
    assert len(steps) == 101 and steps[0] == 0 and steps[-1] == 1999
    assert rates == [full[s] for s in steps]
    assert schedule_curve(training, 5, 4, max_points=500) == (list(range(20)),
                                                              schedule_preview(training, 5, 4))
    with pytest.raises(TrainingConfigError, match="max_points=1"):
        schedule_curve(training, 5, 4, max_points=1)

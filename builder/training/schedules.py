"""Keras learning-rate schedules and the reduce-on-plateau callback from a config.

Every schedule is built from :func:`builder.training.schedule_preview.step_parameters`,
the same step-based numbers the keras-free preview draws, so the curve the GUI shows
is the curve Keras follows.
"""

from __future__ import annotations

from typing import Mapping

import keras

from builder.training.config import TrainingConfigError, check_training
from builder.training.cyclical import CyclicalLearningRate
from builder.training.schedule_preview import step_parameters

_S = keras.optimizers.schedules


def build_schedule(config: Mapping | None, steps_per_epoch: int,
                   epochs: int | None = None):
    """The learning rate to give a Keras optimizer: a float or a schedule object.

    Args:
        config: the project's ``"training"`` dict.
        steps_per_epoch: batches per epoch.
        epochs: epochs of the run (needed by ``cosine`` without ``decay_epochs``).

    Returns:
        A ``float`` for ``constant`` and ``plateau`` (the callback of
        :func:`plateau_callback` lowers it), else a
        ``keras.optimizers.schedules.LearningRateSchedule``.

    Raises:
        TrainingConfigError: an invalid config.
    """
    p = step_parameters(config, steps_per_epoch, epochs)
    name = p.pop("name")
    if name in ("constant", "plateau"):
        return float(p["learning_rate"])
    if name in ("step", "exponential"):
        return _S.ExponentialDecay(**p)
    if name == "inverse_time":
        return _S.InverseTimeDecay(**p)
    if name == "cosine":
        return _S.CosineDecay(**p)
    if name == "cosine_restarts":
        return _S.CosineDecayRestarts(**p)
    if name == "cyclical":
        return CyclicalLearningRate(**p)
    raise AssertionError(f"unhandled schedule {name!r}")


class _ReduceLROnPlateau(keras.callbacks.ReduceLROnPlateau):
    """Keras' callback, refusing a scheduled optimizer with a one-line message.

    Keras raises a bare ``TypeError`` deep inside ``on_epoch_end`` when the optimizer
    has a schedule; this says so before the first batch instead.
    """

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        # Mixed precision wraps the optimizer in a LossScaleOptimizer: look inside.
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        rate = getattr(optimizer, "_learning_rate", None)
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            raise TrainingConfigError(
                "Reduce-on-plateau cannot be combined with a learning-rate schedule: "
                "Keras' ReduceLROnPlateau needs a constant rate. Received: an optimizer "
                f"with schedule {type(rate).__name__}", field="training.schedule.name")
        super().on_train_begin(logs)


def plateau_callback(config: Mapping | None):
    """The callback that halves the rate when validation stops improving, if asked.

    Args:
        config: the project's ``"training"`` dict.

    Returns:
        A ``keras.callbacks.ReduceLROnPlateau`` (a subclass that refuses a scheduled
        optimizer clearly) when the schedule is ``plateau``; ``None`` otherwise.
    """
    s = check_training(config)["schedule"]
    if s["name"] != "plateau":
        return None
    mode = "max" if "accuracy" in s["monitor"] else "min"
    return _ReduceLROnPlateau(monitor=s["monitor"], factor=s["factor"],
                              patience=s["patience"], mode=mode,
                              min_delta=s["min_delta"], cooldown=s["cooldown"],
                              min_lr=s["min_lr"], verbose=0)

"""Keras optimizers from the ``"optimizer"`` and ``"schedule"`` settings of a project.

The lecture's names map onto Keras classes: ``momentum`` is ``SGD(momentum=mu)``,
``nesterov`` is ``SGD(momentum=mu, nesterov=True)``; the rest are Keras' classes of
the same name. Keys are passed under Keras' own argument names.
"""

from __future__ import annotations

from typing import Mapping

import keras

from builder.training.config import check_training
from builder.training.schedules import build_schedule

_CLASSES = {
    "sgd": "SGD", "momentum": "SGD", "nesterov": "SGD", "adagrad": "Adagrad",
    "rmsprop": "RMSprop", "adam": "Adam", "adamw": "AdamW", "nadam": "Nadam",
    "lion": "Lion",
}


def optimizer_kwargs(config: Mapping | None) -> tuple[str, dict]:
    """The Keras class name and constructor arguments, without the learning rate.

    Keys left at ``None`` (weight decay or clipping switched off) are omitted so
    Keras keeps its own "off".
    """
    opt = dict(check_training(config)["optimizer"])
    name = opt.pop("name")
    opt.pop("learning_rate")
    kwargs = {k: v for k, v in opt.items() if v is not None}
    if name in ("momentum", "nesterov"):
        kwargs["nesterov"] = name == "nesterov"
    return _CLASSES[name], kwargs


def build_optimizer(config: Mapping | None, steps_per_epoch: int,
                    epochs: int | None = None) -> keras.optimizers.Optimizer:
    """A fresh Keras optimizer with the configured schedule.

    Args:
        config: the project's ``"training"`` dict (``{"optimizer": {...},
            "schedule": {...}}``; absent keys take the defaults of
            :mod:`builder.training.config`).
        steps_per_epoch: batches per epoch; epoch-based schedule settings are
            converted to optimizer steps with it.
        epochs: epochs of the run (needed by ``cosine`` without ``decay_epochs``).

    Returns:
        The optimizer; its ``learning_rate`` is a float (constant, plateau) or a
        ``LearningRateSchedule`` driven by ``optimizer.iterations``, so restoring the
        optimizer's variables on resume restores the schedule's position too.

    Raises:
        TrainingConfigError: an invalid config (one line naming the field).
    """
    class_name, kwargs = optimizer_kwargs(config)
    rate = build_schedule(config, steps_per_epoch, epochs)
    return getattr(keras.optimizers, class_name)(learning_rate=rate, **kwargs)


def current_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The rate the optimizer's next update will use, as a Python float.

    Works for a constant rate, a schedule (evaluated at ``optimizer.iterations``)
    and a rate lowered by reduce-on-plateau.
    """
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))

"""Smith (2015)'s cyclical learning rate as a serialisable Keras schedule.

Registered with ``keras.saving.register_keras_serializable`` under the package
``"keras_builder"``: a ``.keras`` file whose optimizer uses it reloads once this module
is imported (:mod:`builder.training.optimizers` and
:mod:`builder.training.schedules` import it; `builder.training` alone does not,
as it stays keras-free).
"""

from __future__ import annotations

import keras
from keras import ops

MODES = ("triangular", "triangular2", "exp_range")


@keras.saving.register_keras_serializable(package="keras_builder")
class CyclicalLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """The rate cycles linearly between ``base_lr`` and ``max_lr``.

    Smith, "Cyclical Learning Rates for Training Neural Networks" (2015), Section 3::

        cycle = floor(1 + step / (2 * step_size))
        x     = |step / step_size - 2 * cycle + 1|
        lr    = base_lr + (max_lr - base_lr) * max(0, 1 - x) * scale

    with ``scale`` 1 (``"triangular"``), ``1 / 2 ** (cycle - 1)`` (``"triangular2"``,
    the amplitude halves every cycle) or ``gamma ** step`` (``"exp_range"``).

    Args:
        base_lr: the lowest rate (start of every cycle).
        max_lr: the highest rate (reached after ``step_size`` steps).
        step_size: half a cycle, in optimizer steps.
        mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``.
        gamma: per-step amplitude factor of ``"exp_range"`` (ignored otherwise).
        name: name of the schedule.
    """

    def __init__(self, base_lr: float, max_lr: float, step_size: int,
                 mode: str = "triangular", gamma: float = 1.0,
                 name: str = "CyclicalLearningRate"):
        if mode not in MODES:
            raise ValueError(f"Expected mode to be one of {', '.join(MODES)}. "
                             f"Received: mode={mode!r}")
        if not step_size or step_size < 1:
            raise ValueError(f"Expected step_size to be an integer >= 1. "
                             f"Received: step_size={step_size!r}")
        self.base_lr = float(base_lr)
        self.max_lr = float(max_lr)
        self.step_size = int(step_size)
        self.mode = mode
        self.gamma = float(gamma)
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        step_size = ops.cast(self.step_size, "float32")
        cycle = ops.floor(1.0 + step / (2.0 * step_size))
        x = ops.abs(step / step_size - 2.0 * cycle + 1.0)
        if self.mode == "triangular":
            scale = ops.cast(1.0, "float32")
        elif self.mode == "triangular2":
            scale = 1.0 / ops.power(2.0, cycle - 1.0)
        else:
            scale = ops.power(ops.cast(self.gamma, "float32"), step)
        height = ops.maximum(0.0, 1.0 - x) * scale
        return self.base_lr + (self.max_lr - self.base_lr) * height

    def get_config(self) -> dict:
        return {"base_lr": self.base_lr, "max_lr": self.max_lr,
                "step_size": self.step_size, "mode": self.mode, "gamma": self.gamma,
                "name": self.name}

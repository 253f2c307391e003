"""Learning-rate schedules as plain Python: the step conversion and the preview curve.

This module imports neither Keras nor numpy, so the GUI can redraw the preview of a
schedule as the user types. :func:`step_parameters` turns a schedule's epoch-based
settings into optimizer-step settings; the Keras side
(:mod:`builder.training.schedules`) builds its schedule objects from the very same
numbers, and a test checks the two curves agree at every step.

The formulas follow Keras' own schedule classes (``ExponentialDecay``,
``InverseTimeDecay``, ``CosineDecay``, ``CosineDecayRestarts``) and
:class:`builder.training.cyclical.CyclicalLearningRate`; step ``i`` is the value of
``optimizer.iterations`` during the i-th update (the first update uses step 0).
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

from builder.training.config import (
    TrainingConfigError,
    check_run_shape,
    check_training,
    epochs_to_steps,
)


def step_parameters(config: Mapping | None, steps_per_epoch: int,
                    epochs: int | None = None) -> dict:
    """The schedule of ``config`` with every duration converted to optimizer steps.

    Args:
        config: the project's ``"training"`` dict.
        steps_per_epoch: batches per epoch (``ceil(train_samples / batch_size)``).
        epochs: the run's epoch count; needed only by ``cosine`` without
            ``decay_epochs``.

    Returns:
        A dict with ``"name"`` and the step-based arguments of the schedule:

        - constant, plateau: ``learning_rate``
        - step, exponential: ``initial_learning_rate, decay_steps, decay_rate,
          staircase`` (Keras ``ExponentialDecay``: ``lr0 * decay_rate ** (step /
          decay_steps)``; exponential maps ``exp(-k t)`` to ``decay_rate = exp(-k)``)
        - inverse_time: same keys (Keras ``InverseTimeDecay``: ``lr0 / (1 + decay_rate
          * step / decay_steps)``, ``decay_rate = k``)
        - cosine: ``initial_learning_rate, decay_steps, alpha, warmup_target,
          warmup_steps`` (Keras ``CosineDecay``; ``warmup_target`` is ``None`` when
          there is no warm-up)
        - cosine_restarts: ``initial_learning_rate, first_decay_steps, t_mul, m_mul,
          alpha``
        - cyclical: ``base_lr, max_lr, step_size, mode, gamma`` (gamma per step)

    Raises:
        TrainingConfigError: an invalid config, or a cosine that would have no steps
            left after its warm-up.
    """
    resolved = check_training(config)
    check_run_shape(steps_per_epoch, epochs)
    lr = resolved["optimizer"]["learning_rate"]
    s = resolved["schedule"]
    name = s["name"]
    unit_steps = steps_per_epoch if s.get("unit", "epoch") == "epoch" else 1
    if name in ("constant", "plateau"):
        return {"name": name, "learning_rate": lr}
    if name == "step":
        return {"name": name, "initial_learning_rate": lr,
                "decay_steps": epochs_to_steps(s["every_epochs"], steps_per_epoch),
                "decay_rate": s["factor"], "staircase": True}
    if name == "exponential":
        return {"name": name, "initial_learning_rate": lr, "decay_steps": unit_steps,
                "decay_rate": math.exp(-s["k"]), "staircase": s["staircase"]}
    if name == "inverse_time":
        return {"name": name, "initial_learning_rate": lr, "decay_steps": unit_steps,
                "decay_rate": s["k"], "staircase": s["staircase"]}
    if name == "cosine":
        warmup_steps = epochs_to_steps(s["warmup_epochs"], steps_per_epoch, minimum=0)
        if s["decay_epochs"] is not None:
            decay_steps = epochs_to_steps(s["decay_epochs"], steps_per_epoch)
        else:
            if epochs is None:
                raise TrainingConfigError(
                    "Expected the run's epochs to size a cosine schedule without "
                    "decay_epochs. Received: epochs=None", field="epochs")
            decay_steps = epochs * steps_per_epoch - warmup_steps
            if decay_steps < 1:
                raise TrainingConfigError(
                    f"Expected warmup_epochs to be shorter than the run ({epochs} "
                    f"epochs) so the cosine has steps left. Received: warmup_epochs="
                    f"{s['warmup_epochs']!r}", field="training.schedule.warmup_epochs")
        if warmup_steps:
            return {"name": name, "initial_learning_rate": s["warmup_start_lr"],
                    "decay_steps": decay_steps, "alpha": s["alpha"],
                    "warmup_target": lr, "warmup_steps": warmup_steps}
        return {"name": name, "initial_learning_rate": lr, "decay_steps": decay_steps,
                "alpha": s["alpha"], "warmup_target": None, "warmup_steps": 0}
    if name == "cosine_restarts":
        return {"name": name, "initial_learning_rate": lr,
                "first_decay_steps": epochs_to_steps(s["first_decay_epochs"],
                                                     steps_per_epoch),
                "t_mul": s["t_mul"], "m_mul": s["m_mul"], "alpha": s["alpha"]}
    if name == "cyclical":
        return {"name": name, "base_lr": s["base_lr"], "max_lr": s["max_lr"],
                "step_size": epochs_to_steps(s["step_size_epochs"], steps_per_epoch),
                "mode": s["mode"], "gamma": s["gamma"] ** (1.0 / steps_per_epoch)}
    raise AssertionError(f"unhandled schedule {name!r}")  # validation lists them all


def cyclical_rate(step: float, base_lr: float, max_lr: float, step_size: int,
                  mode: str, gamma: float) -> float:
    """Smith (2015)'s cyclical rate at ``step``, the formula of his Section 3.

    ``cycle = floor(1 + step / (2 step_size))``, ``x = |step / step_size - 2 cycle +
    1|``, ``lr = base + (max - base) * max(0, 1 - x) * scale`` where ``scale`` is 1
    (triangular), ``1 / 2 ** (cycle - 1)`` (triangular2) or ``gamma ** step``
    (exp_range).
    """
    cycle = math.floor(1 + step / (2 * step_size))
    x = abs(step / step_size - 2 * cycle + 1)
    if mode == "triangular":
        scale = 1.0
    elif mode == "triangular2":
        scale = 1.0 / 2.0 ** (cycle - 1)
    else:
        scale = gamma ** step
    return base_lr + (max_lr - base_lr) * max(0.0, 1.0 - x) * scale


def rate_function(params: Mapping) -> Callable[[int], float]:
    """The function ``step -> learning rate`` of :func:`step_parameters`' output."""
    p = dict(params)
    name = p["name"]
    if name in ("constant", "plateau"):
        return lambda step: p["learning_rate"]
    if name in ("step", "exponential", "inverse_time"):
        def decayed(step: int) -> float:
            t = step / p["decay_steps"]
            if p["staircase"]:
                t = math.floor(t)
            if name == "inverse_time":
                return p["initial_learning_rate"] / (1.0 + p["decay_rate"] * t)
            return p["initial_learning_rate"] * p["decay_rate"] ** t
        return decayed
    if name == "cosine":
        def cosine(step: int) -> float:
            lr0, decay_steps, alpha = (p["initial_learning_rate"], p["decay_steps"],
                                       p["alpha"])
            warm = p["warmup_steps"]
            if p["warmup_target"] is None:
                frac = min(step, decay_steps) / decay_steps
                return lr0 * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * frac)) + alpha)
            step = min(step, decay_steps + warm)
            if step < warm:
                return (p["warmup_target"] - lr0) * step / warm + lr0
            frac = (step - warm) / decay_steps
            return p["warmup_target"] * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * frac))
                                         + alpha)
        return cosine
    if name == "cosine_restarts":
        def restarts(step: int) -> float:
            frac = step / p["first_decay_steps"]
            t_mul = p["t_mul"]
            if t_mul == 1.0:
                i = math.floor(frac)
                frac -= i
            else:
                # The closed form of Keras; the nudge keeps floor() exact at a restart
                # boundary, where log() of an exact power can land a hair below.
                i = math.floor(math.log(1.0 - frac * (1.0 - t_mul)) / math.log(t_mul)
                               + 1e-9)
                frac = (frac - (1.0 - t_mul ** i) / (1.0 - t_mul)) / t_mul ** i
            cos = 0.5 * p["m_mul"] ** i * (1.0 + math.cos(math.pi * frac))
            return p["initial_learning_rate"] * ((1 - p["alpha"]) * cos + p["alpha"])
        return restarts
    if name == "cyclical":
        return lambda step: cyclical_rate(step, p["base_lr"], p["max_lr"], p["step_size"],
                                          p["mode"], p["gamma"])
    raise AssertionError(f"unhandled schedule {name!r}")


def schedule_preview(config: Mapping | None, steps_per_epoch: int,
                     epochs: int) -> list[float]:
    """The learning rate of every optimizer step of a run, without Keras.

    Args:
        config: the project's ``"training"`` dict.
        steps_per_epoch: batches per epoch.
        epochs: epochs of the run.

    Returns:
        ``steps_per_epoch * epochs`` floats: entry ``i`` is the rate of update ``i``.
        For ``plateau`` the curve is flat at the starting rate: its drops depend on
        the validation metric, which is unknown before training.

    Raises:
        TrainingConfigError: an invalid config or run shape.
    """
    check_run_shape(steps_per_epoch, epochs)
    rate = rate_function(step_parameters(config, steps_per_epoch, epochs))
    return [float(rate(step)) for step in range(steps_per_epoch * epochs)]


def schedule_curve(config: Mapping | None, steps_per_epoch: int, epochs: int,
                   max_points: int = 500) -> tuple[list[int], list[float]]:
    """The preview sampled at no more than ``max_points`` steps, for plotting.

    A long run has hundreds of thousands of steps; a plot needs a few hundred. The
    samples are evenly spaced and always include the first and last step (a
    staircase's or a restart's exact corner may fall between samples).

    Returns:
        ``(steps, rates)``: the sampled step indices and the rate at each.

    Raises:
        TrainingConfigError: an invalid config, run shape or ``max_points`` < 2.
    """
    check_run_shape(steps_per_epoch, epochs)
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 2:
        raise TrainingConfigError(f"Expected max_points to be an integer >= 2. "
                                  f"Received: max_points={max_points!r}",
                                  field="max_points")
    rate = rate_function(step_parameters(config, steps_per_epoch, epochs))
    total = steps_per_epoch * epochs
    if total <= max_points:
        steps = list(range(total))
    else:
        steps = sorted({round(i * (total - 1) / (max_points - 1))
                        for i in range(max_points)})
    return steps, [float(rate(step)) for step in steps]

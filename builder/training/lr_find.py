"""The learning-rate range test of Smith (2015), Section 3.3.

Train for a few hundred batches while the rate grows exponentially from tiny to
huge, record the loss of every batch, and read a good rate off the curve: the loss
first stays flat (rate too small to matter), then falls (useful rates), then
explodes (too large). :func:`lr_find` runs the sweep on a copy of the model;
:func:`analyse_sweep` is the pure reading of the curve.

Suggestion rule ("steepest"): the rate at which the smoothed loss falls fastest
against ``log10(rate)``, looking only up to the smoothed minimum. The cyclical range
follows Smith's description: ``base_lr`` where the loss has made 10 % of its fall
(it "starts to fall"), ``max_lr`` where it has made 90 % (it "stops falling").
``lr_at_min / 10`` is reported too, as ``min_over_10``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from builder.training.config import TrainingConfigError

BASE_FRACTION = 0.10
MAX_FRACTION = 0.90


@dataclass
class LRFindResult:
    """The outcome of a range test.

    Attributes:
        lrs: the rate of every batch of the sweep, increasing.
        losses: the raw training loss of every batch.
        smoothed: the loss smoothed without lag (an exponential moving average run
            forwards and then backwards, each bias-corrected).
        suggested_lr: the rate of steepest descent of ``smoothed``.
        suggested_range: ``(base_lr, max_lr)`` for a cyclical schedule.
        lr_at_min: the rate at the minimum of ``smoothed``.
        min_over_10: ``lr_at_min / 10``, the other common rule.
        stopped_early: whether the sweep stopped because the loss diverged.
        method: the rule that chose ``suggested_lr`` (``"steepest"``).
    """

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggested_lr: float
    suggested_range: tuple[float, float]
    lr_at_min: float
    min_over_10: float
    stopped_early: bool
    method: str = "steepest"

    def to_dict(self) -> dict:
        """A JSON-able dict of every field."""
        out = asdict(self)
        out["suggested_range"] = list(self.suggested_range)
        return out


def _ema(values: np.ndarray, beta: float) -> np.ndarray:
    out = np.empty_like(values)
    avg = 0.0
    for i, value in enumerate(values):
        avg = beta * avg + (1.0 - beta) * value
        out[i] = avg / (1.0 - beta ** (i + 1))
    return out


def smooth(losses: Sequence[float], beta: float) -> np.ndarray:
    """Zero-lag smoothing: a bias-corrected EMA forwards, then backwards."""
    values = np.asarray(losses, dtype=np.float64)
    return _ema(_ema(values, beta)[::-1], beta)[::-1]


def analyse_sweep(lrs: Sequence[float], losses: Sequence[float], *,
                  smoothing: float = 0.9, stopped_early: bool = False) -> LRFindResult:
    """Reads the suggested rate and cyclical range off a recorded sweep.

    Args:
        lrs: increasing rates, one per batch.
        losses: the finite loss of each batch.
        smoothing: the EMA factor beta (0: no smoothing).
        stopped_early: passed through to the result.

    Raises:
        TrainingConfigError: fewer than 5 points, or a loss that never fell
            (nothing to read: widen the sweep's range).
    """
    lrs_a = np.asarray(lrs, dtype=np.float64)
    if len(lrs_a) < 5 or len(lrs_a) != len(losses):
        raise TrainingConfigError(
            f"Expected at least 5 (rate, loss) points to read a range test. "
            f"Received: {len(lrs_a)} rates and {len(losses)} losses", field="steps")
    smoothed = smooth(losses, smoothing)
    i_min = int(np.argmin(smoothed))
    fall = smoothed[0] - smoothed[i_min]
    if i_min < 2 or fall <= 0:
        raise TrainingConfigError(
            f"Expected the loss to fall somewhere in the sweep. Received: its lowest "
            f"point is at the start, lr={lrs_a[i_min]:.3g}; lower min_lr",
            field="min_lr")
    log_lr = np.log10(lrs_a[:i_min + 1])
    slope = np.gradient(smoothed[:i_min + 1], log_lr)
    i_steep = int(np.argmin(slope))
    i_base = int(np.argmax(smoothed <= smoothed[0] - BASE_FRACTION * fall))
    i_max = int(np.argmax(smoothed <= smoothed[0] - MAX_FRACTION * fall))
    return LRFindResult(
        lrs=[float(v) for v in lrs_a], losses=[float(v) for v in losses],
        smoothed=[float(v) for v in smoothed], suggested_lr=float(lrs_a[i_steep]),
        suggested_range=(float(lrs_a[i_base]), float(lrs_a[i_max])),
        lr_at_min=float(lrs_a[i_min]), min_over_10=float(lrs_a[i_min] / 10.0),
        stopped_early=stopped_early)


def _check_args(x, y, min_lr, max_lr, steps, batch_size, smoothing, diverge) -> None:
    checks = (
        ("min_lr", min_lr, isinstance(min_lr, (int, float)) and min_lr > 0,
         "a number > 0"),
        ("max_lr", max_lr, isinstance(max_lr, (int, float)) and max_lr > min_lr,
         f"a number > min_lr={min_lr!r}"),
        ("steps", steps, isinstance(steps, int) and steps >= 5, "an integer >= 5"),
        ("batch_size", batch_size, isinstance(batch_size, int)
         and 1 <= batch_size <= len(x), f"an integer in [1, {len(x)}] (the samples)"),
        ("smoothing", smoothing, isinstance(smoothing, (int, float))
         and 0 <= smoothing < 1, "a number in [0, 1)"),
        ("diverge", diverge, isinstance(diverge, (int, float)) and diverge > 1,
         "a number > 1"),
    )
    for name, value, ok, expected in checks:
        if not ok:
            raise TrainingConfigError(f"Expected {name} to be {expected}. "
                                      f"Received: {name}={value!r}", field=name)
    if len(x) != len(y):
        raise TrainingConfigError(f"Expected as many targets as inputs. Received: "
                                  f"{len(x)} inputs and {len(y)} targets", field="y")


def lr_find(model, x, y, *, loss=None, optimizer: Mapping | None = None,
            min_lr: float = 1e-7, max_lr: float = 10.0, steps: int = 200,
            batch_size: int = 32, smoothing: float = 0.9, diverge: float = 4.0,
            seed: int = 0,
            on_step: Callable[[int, float, float], None] | None = None) -> LRFindResult:
    """Runs the range test on a copy of ``model`` and suggests a rate.

    Args:
        model: a functional ``keras.Model``; it is left untouched (the sweep trains a
            clone that starts from the same weights).
        x, y: training inputs and targets (arrays of equal length).
        loss: the Keras loss; default: the loss ``model`` was compiled with.
        optimizer: the ``"optimizer"`` section of the training config (its rate is
            overridden); ``None``: the default optimizer (Adam).
        min_lr, max_lr: the ends of the exponential sweep.
        steps: batches in the sweep (the rate of batch ``i`` is
            ``min_lr * (max_lr / min_lr) ** (i / (steps - 1))``).
        batch_size: samples per batch; the data is reshuffled (seeded) each pass.
        smoothing: EMA factor beta for the stopping rule and the smoothed curve.
        diverge: stop once the running smoothed loss exceeds ``diverge`` times its
            best value (or the loss is not finite).
        seed: seed of the batch order.
        on_step: called as ``on_step(i, lr, loss)`` after every batch.

    Returns:
        An :class:`LRFindResult`.

    Raises:
        TrainingConfigError: bad arguments, no loss, or a curve with nothing to read.
    """
    import keras

    from builder.training.optimizers import build_optimizer

    _check_args(x, y, min_lr, max_lr, steps, batch_size, smoothing, diverge)
    loss = loss if loss is not None else getattr(model, "loss", None)
    if loss is None:
        raise TrainingConfigError("Expected a loss: pass loss=... or compile the model "
                                  "first. Received: loss=None", field="loss")
    sweep = keras.models.clone_model(model)
    sweep.set_weights(model.get_weights())
    opt = build_optimizer({"optimizer": dict(optimizer or {})}, 1, 1)
    sweep.compile(optimizer=opt, loss=loss)

    x, y = np.asarray(x), np.asarray(y)
    rng = np.random.default_rng(seed)
    per_pass = len(x) // batch_size
    order = rng.permutation(len(x))
    ratio = max_lr / min_lr
    lrs, losses = [], []
    avg, best, stopped_early = 0.0, math.inf, False
    for i in range(steps):
        if i and i % per_pass == 0:
            order = rng.permutation(len(x))
        pick = order[(i % per_pass) * batch_size:(i % per_pass + 1) * batch_size]
        lr = min_lr * ratio ** (i / (steps - 1))
        opt.learning_rate = lr
        value = float(np.asarray(sweep.train_on_batch(x[pick], y[pick])).ravel()[0])
        if not math.isfinite(value):
            stopped_early = True
            break
        lrs.append(lr)
        losses.append(value)
        if on_step is not None:
            on_step(i, lr, value)
        avg = smoothing * avg + (1 - smoothing) * value
        running = avg / (1 - smoothing ** (i + 1))
        best = min(best, running)
        if running > diverge * best:
            stopped_early = True
            break
    return analyse_sweep(lrs, losses, smoothing=smoothing, stopped_early=stopped_early)

"""The optimizer and schedule settings of a project's ``"training"`` section.

Plain JSON-able dicts, described once here as data: every key with its default,
its allowed range and its meaning. The same table fills in defaults
(:func:`resolve_training`), checks a config (:func:`validate_training`), and lets the
GUI draw a form without importing Keras. This module imports no Keras and no numpy.

Shape of the section (every key optional)::

    {"optimizer": {"name": "adam", "learning_rate": 0.001, "beta_1": 0.9, ...},
     "schedule": {"name": "cosine", "warmup_epochs": 2, ...},
     ...other keys of the training section belong to the run and are not checked here}

Durations in a schedule are in epochs (fractions allowed) and are converted to
optimizer steps (batches) with ``steps = round(epochs * steps_per_epoch)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from builder.core.errors import ProjectError

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw",
              "nadam", "lion")
SCHEDULES = ("constant", "step", "plateau", "exponential", "inverse_time", "cosine",
             "cosine_restarts", "cyclical")
CYCLICAL_MODES = ("triangular", "triangular2", "exp_range")
DEFAULT_OPTIMIZER = "adam"
DEFAULT_SCHEDULE = "constant"


class TrainingConfigError(ProjectError):
    """A training setting that is missing, of the wrong type or out of range.

    ``field`` is the dotted path of the key, e.g. ``"training.optimizer.beta_1"``;
    ``str(error)`` is one line: ``field 'training.optimizer.beta_1': Expected ...
    Received: beta_1=1.5``.
    """


@dataclass(frozen=True)
class Field:
    """One key of an optimizer or schedule section.

    Attributes:
        key: the key in the JSON dict (Keras' own argument name where Keras has one).
        kind: ``"float"``, ``"int"``, ``"bool"`` or ``"choice"``.
        default: the value used when the key is absent; ``None`` means "off" or
            "derived from other settings" (``doc`` says which).
        low, high: the allowed range for numbers (``None``: unbounded).
        low_open, high_open: whether ``low`` / ``high`` themselves are excluded.
        optional: ``None`` is an allowed value.
        choices: the allowed values of a ``"choice"`` field.
        doc: what the key means, one sentence.
    """

    key: str
    kind: str
    default: Any
    doc: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    optional: bool = False
    choices: tuple = ()

    def range_text(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "bool":
            return "true or false"
        noun = "an integer" if self.kind == "int" else "a number"
        if self.low is not None and self.high is not None:
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            text = f"{noun} in {left}{_num(self.low)}, {_num(self.high)}{right}"
        elif self.low is not None:
            text = f"{noun} {'>' if self.low_open else '>='} {_num(self.low)}"
        else:
            text = noun
        return text + (" or null" if self.optional else "")


def _num(value: float) -> str:
    return f"{value:g}"


def _rate(default: float) -> Field:
    return Field("learning_rate", "float", default, "Step size alpha of every update "
                 "(with a schedule: its starting or peak value).", low=0.0, low_open=True)


def _beta(key: str, default: float, doc: str) -> Field:
    return Field(key, "float", default, doc, low=0.0, high=1.0, high_open=True)


_EPSILON = Field("epsilon", "float", 1e-7, "Small constant that keeps the division "
                 "finite.", low=0.0,
                 low_open=True)
_MOMENTUM = _beta("momentum", 0.9, "Momentum mu: the velocity keeps mu of itself each step.")
_BETA_1 = _beta("beta_1", 0.9, "Decay rate of the first-moment (mean gradient) average.")
_BETA_2 = _beta("beta_2", 0.999, "Decay rate of the second-moment (squared gradient) "
                "average.")
_COMMON = (
    Field("weight_decay", "float", None, "Decoupled weight decay: each step also does "
          "w -= learning_rate * weight_decay * w. null: off.", low=0.0, optional=True),
    Field("clipnorm", "float", None, "Clip each gradient tensor to this L2 norm. null: off.",
          low=0.0, low_open=True, optional=True),
    Field("clipvalue", "float", None, "Clip each gradient element to "
          "[-clipvalue, clipvalue]. null: off.", low=0.0, low_open=True, optional=True),
    Field("global_clipnorm", "float", None, "Clip all gradients together to this global "
          "L2 norm. null: off.", low=0.0, low_open=True, optional=True),
)

#: The keys each optimizer takes, in form order (the common keys come last).
OPTIMIZER_FIELDS: dict[str, tuple[Field, ...]] = {
    "sgd": (_rate(0.01),),
    "momentum": (_rate(0.01), _MOMENTUM),
    "nesterov": (_rate(0.01), _MOMENTUM),
    "adagrad": (_rate(0.001),
                Field("initial_accumulator_value", "float", 0.1, "Starting value of the "
                      "squared-gradient cache (the lecture's rule starts it at 0).",
                      low=0.0),
                _EPSILON),
    "rmsprop": (_rate(0.001),
                _beta("rho", 0.9, "Decay rate of the squared-gradient cache (the "
                      "lecture's decay_rate: 0.9, 0.99 or 0.999)."),
                _beta("momentum", 0.0, "Momentum on the scaled update (0: none)."),
                _EPSILON,
                Field("centered", "bool", False, "Divide by the gradient's variance "
                      "estimate instead of its raw second moment.")),
    "adam": (_rate(0.001), _BETA_1, _BETA_2, _EPSILON,
             Field("amsgrad", "bool", False, "Use the running maximum of the "
                   "second moment (AMSGrad).")),
    "adamw": (_rate(0.001), _BETA_1, _BETA_2, _EPSILON,
              Field("amsgrad", "bool", False, "Use the running maximum of the "
                    "second moment (AMSGrad).")),
    "nadam": (_rate(0.001), _BETA_1, _BETA_2, _EPSILON),
    "lion": (_rate(0.001), _beta("beta_1", 0.9, "Interpolation between momentum and "
                                 "gradient whose sign is the update."),
             _beta("beta_2", 0.99, "Decay rate of the momentum.")),
}
for _name in OPTIMIZER_FIELDS:
    _extra = _COMMON
    if _name == "adamw":  # AdamW exists for its decay: Keras' default 0.004 is on.
        _extra = (Field("weight_decay", "float", 0.004, _COMMON[0].doc, low=0.0),
                  *_COMMON[1:])
    OPTIMIZER_FIELDS[_name] = (*OPTIMIZER_FIELDS[_name], *_extra)

_ALPHA = Field("alpha", "float", 0.0, "Floor of the cosine, as a fraction of the peak "
               "rate.", low=0.0, high=1.0)
_UNIT = Field("unit", "choice", "epoch", "What t counts in the formula: epochs "
              "(fractional, step / steps_per_epoch) or optimizer steps.",
              choices=("epoch", "step"))
_STAIRCASE = Field("staircase", "bool", False, "Use whole units of t only (the rate "
                   "changes once per unit).")

#: The keys each schedule takes, in form order.
SCHEDULE_FIELDS: dict[str, tuple[Field, ...]] = {
    "constant": (),
    "step": (
        Field("every_epochs", "float", 5.0, "Multiply the rate by factor every this many "
              "epochs.", low=0.0, low_open=True),
        Field("factor", "float", 0.5, "Multiplier applied at each step down.", low=0.0,
              high=1.0, low_open=True),
    ),
    "plateau": (
        Field("factor", "float", 0.5, "Multiplier applied when the monitored metric "
              "stops improving.", low=0.0, high=1.0, low_open=True, high_open=True),
        Field("patience", "int", 3, "Epochs without improvement before the rate drops.",
              low=0),
        Field("monitor", "choice", "val_loss", "Metric watched.",
              choices=("val_loss", "loss", "val_accuracy", "accuracy")),
        Field("min_delta", "float", 1e-4, "Smallest change that counts as improvement.",
              low=0.0),
        Field("cooldown", "int", 0, "Epochs to wait after a drop before watching again.",
              low=0),
        Field("min_lr", "float", 0.0, "The rate never drops below this.", low=0.0),
    ),
    "exponential": (
        Field("k", "float", 0.1, "Decay constant k of alpha = alpha0 * exp(-k t).",
              low=0.0),
        _UNIT, _STAIRCASE,
    ),
    "inverse_time": (
        Field("k", "float", 0.1, "Decay constant k of alpha = alpha0 / (1 + k t).",
              low=0.0),
        _UNIT, _STAIRCASE,
    ),
    "cosine": (
        Field("warmup_epochs", "float", 0.0, "Linear warm-up length before the cosine "
              "(0: none).", low=0.0),
        Field("warmup_start_lr", "float", 0.0, "Rate at the first step of the warm-up; "
              "it rises linearly to learning_rate.", low=0.0),
        Field("decay_epochs", "float", None, "Length of the cosine after the warm-up; "
              "null: to the end of training (epochs - warmup_epochs).", low=0.0,
              low_open=True, optional=True),
        _ALPHA,
    ),
    "cosine_restarts": (
        Field("first_decay_epochs", "float", 10.0, "Length of the first cosine period.",
              low=0.0, low_open=True),
        Field("t_mul", "float", 2.0, "Each period is t_mul times longer than the one "
              "before.", low=0.0, low_open=True),
        Field("m_mul", "float", 1.0, "Each restart peaks at m_mul times the peak before.",
              low=0.0, low_open=True),
        _ALPHA,
    ),
    "cyclical": (
        Field("base_lr", "float", None, "Lowest rate of the cycle; null: max_lr / 4 "
              "(Smith 2015, sec. 3.3: 1/3 to 1/4 of max_lr).", low=0.0, optional=True),
        Field("max_lr", "float", None, "Highest rate of the cycle; null: the "
              "optimizer's learning_rate.", low=0.0, low_open=True, optional=True),
        Field("step_size_epochs", "float", 4.0, "Half a cycle, in epochs (Smith: 2 to 10 "
              "epochs' worth of iterations).", low=0.0, low_open=True),
        Field("mode", "choice", "triangular", "Shape of the cycles. triangular: "
              "constant amplitude; triangular2: amplitude halves every cycle; exp_range: amplitude times "
              "gamma per epoch.", choices=CYCLICAL_MODES),
        Field("gamma", "float", 0.9, "Amplitude multiplier per epoch, exp_range only "
              "(Smith's per-iteration gamma is gamma ** (1 / steps_per_epoch)).",
              low=0.0, high=1.0, low_open=True),
    ),
}


_PLATEAU_KEYS = {"patience", "monitor", "min_delta", "cooldown", "min_lr"}


def _section(config: Any, key: str, problems: list) -> Mapping:
    value = config.get(key, {}) if isinstance(config, Mapping) else {}
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(TrainingConfigError(
            f"Expected '{key}' to be an object. Received: {key}={value!r}",
            field=f"training.{key}"))
        return {}
    return value


def _check_value(spec: Field, value: Any, where: str) -> TrainingConfigError | None:
    ok = True
    if value is None:
        ok = spec.optional
    elif spec.kind == "bool":
        ok = isinstance(value, bool)
    elif spec.kind == "choice":
        ok = value in spec.choices
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        ok = False
    elif spec.kind == "int" and not float(value).is_integer():
        ok = False
    elif not math.isfinite(value):
        ok = False
    else:
        if spec.low is not None:
            ok = value > spec.low if spec.low_open else value >= spec.low
        if ok and spec.high is not None:
            ok = value < spec.high if spec.high_open else value <= spec.high
    if ok:
        return None
    return TrainingConfigError(
        f"Expected {spec.key} to be {spec.range_text()}. Received: {spec.key}={value!r}",
        field=f"{where}.{spec.key}")


def _check_section(section: Mapping, kind: str, names: tuple, table: dict,
                   default: str, problems: list) -> str | None:
    where = f"training.{kind}"
    name = section.get("name", default)
    if name not in table:
        problems.append(TrainingConfigError(
            f"Unknown {kind} {name!r}. Expected one of: {', '.join(names)}. "
            f"Received: name={name!r}", field=f"{where}.name"))
        return None
    fields = {f.key: f for f in table[name]}
    for key, value in section.items():
        if key == "name":
            continue
        if key not in fields and kind == "schedule" and key in _PLATEAU_KEYS:
            # DESIGN: ReduceLROnPlateau raises TypeError on an optimizer with a schedule.
            problems.append(TrainingConfigError(
                f"Reduce-on-plateau cannot be combined with schedule {name!r}: Keras' "
                "ReduceLROnPlateau needs a constant rate. Expected name='plateau' "
                f"alone, or no plateau keys. Received: {key}={value!r}",
                field=f"{where}.{key}"))
            continue
        if key not in fields:
            expected = ", ".join(fields) or "no other keys"
            problems.append(TrainingConfigError(
                f"Unknown key {key!r} for {kind} {name!r}. Expected one of: {expected}. "
                f"Received: {key}={value!r}", field=f"{where}.{key}"))
            continue
        problem = _check_value(fields[key], value, where)
        if problem is not None:
            problems.append(problem)
    return name


def validate_training(config: Mapping | None) -> list[TrainingConfigError]:
    """Checks the optimizer and schedule of a training section.

    Args:
        config: the project's ``"training"`` dict (``None`` or ``{}``: all defaults).
            Keys other than ``"optimizer"`` and ``"schedule"`` are not checked here.

    Returns:
        Every problem found, in order; an empty list when the config is sound.
    """
    problems: list[TrainingConfigError] = []
    if config is None:
        return problems
    if not isinstance(config, Mapping):
        return [TrainingConfigError(f"Expected the training settings to be an object. "
                                    f"Received: {config!r}", field="training")]
    optimizer = _section(config, "optimizer", problems)
    schedule = _section(config, "schedule", problems)
    opt_name = _check_section(optimizer, "optimizer", OPTIMIZERS, OPTIMIZER_FIELDS,
                              DEFAULT_OPTIMIZER, problems)
    sched_name = _check_section(schedule, "schedule", SCHEDULES, SCHEDULE_FIELDS,
                                DEFAULT_SCHEDULE, problems)
    if opt_name is not None:
        clips = [k for k in ("clipnorm", "clipvalue", "global_clipnorm")
                 if optimizer.get(k) is not None]
        if len(clips) > 1:
            problems.append(TrainingConfigError(
                "Expected at most one of clipnorm, clipvalue, global_clipnorm. Received: "
                + ", ".join(f"{k}={optimizer[k]!r}" for k in clips),
                field=f"training.optimizer.{clips[1]}"))
    if sched_name == "cyclical" and not problems:
        resolved = resolve_training(config)["schedule"]
        if resolved["base_lr"] > resolved["max_lr"]:
            problems.append(TrainingConfigError(
                "Expected base_lr <= max_lr for a cyclical schedule. Received: "
                f"base_lr={resolved['base_lr']!r}, max_lr={resolved['max_lr']!r}",
                field="training.schedule.base_lr"))
    return problems


def check_training(config: Mapping | None) -> dict:
    """Validates ``config`` and returns it resolved (see :func:`resolve_training`).

    Raises:
        TrainingConfigError: the first problem; ``.problems`` holds all of them.
    """
    problems = validate_training(config)
    if problems:
        problems[0].problems = problems
        raise problems[0]
    return resolve_training(config)


def resolve_training(config: Mapping | None) -> dict:
    """Returns ``{"optimizer": {...}, "schedule": {...}}`` with every key filled in.

    Absent keys take their defaults. Derived defaults are worked out: a cyclical
    schedule's ``max_lr`` (the optimizer's rate) and ``base_lr`` (``max_lr / 4``).
    ``cosine.decay_epochs`` stays ``None`` (it needs the run's epoch count). The
    config is assumed valid (call :func:`validate_training` first).
    """
    config = config or {}
    out = {}
    for kind, table, default in (("optimizer", OPTIMIZER_FIELDS, DEFAULT_OPTIMIZER),
                                 ("schedule", SCHEDULE_FIELDS, DEFAULT_SCHEDULE)):
        section = config.get(kind) or {}
        name = section.get("name", default)
        resolved = {"name": name}
        for spec in table[name]:
            value = section.get(spec.key, spec.default)
            if spec.kind in ("float",) and value is not None:
                value = float(value)
            elif spec.kind == "int":
                value = int(value)
            resolved[spec.key] = value
        out[kind] = resolved
    schedule = out["schedule"]
    if schedule["name"] == "cyclical":
        if schedule["max_lr"] is None:
            schedule["max_lr"] = out["optimizer"]["learning_rate"]
        if schedule["base_lr"] is None:
            schedule["base_lr"] = schedule["max_lr"] / 4.0
    return out


def epochs_to_steps(epochs: float, steps_per_epoch: int, *, minimum: int = 1) -> int:
    """Converts an epoch-based duration into optimizer steps (at least ``minimum``)."""
    return max(minimum, int(round(epochs * steps_per_epoch)))


def check_run_shape(steps_per_epoch: int, epochs: int | None) -> None:
    """Refuses a non-positive ``steps_per_epoch`` or ``epochs`` with a one-line error."""
    if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int) \
            or steps_per_epoch < 1:
        raise TrainingConfigError(f"Expected steps_per_epoch to be an integer >= 1. "
                                  f"Received: steps_per_epoch={steps_per_epoch!r}",
                                  field="steps_per_epoch")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int)
                               or epochs < 1):
        raise TrainingConfigError(f"Expected epochs to be an integer >= 1. "
                                  f"Received: epochs={epochs!r}", field="epochs")

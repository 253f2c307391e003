"""What the training panel shows, as plain data (no Qt, no Keras).

* :class:`SetSettings`: an undoable edit of the project's ``training`` and
  ``dataset`` sections, so Save persists the panel's settings and Undo reverts them.
* :class:`RunSeries`: the curves of one run, grown event by event from the
  JSON-lines stream (batch loss raw and smoothed, epoch metrics, rate, progress).
* :func:`list_runs` / :func:`read_run`: the runs of a project, from their run
  directories (config, events, best metric, duration).
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from builder.core.commands import Command
from builder.core.project import Project

#: Training samples of the built-in and Keras sets (for steps-per-epoch estimates).
KNOWN_SIZES = {"digits": 1797, "mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000,
               "cifar100": 50000}

#: Weight of the past in the smoothed batch loss (bias-corrected moving average).
SMOOTHING = 0.9


class SetSettings(Command):
    """Replaces one section (``"training"`` or ``"dataset"``) of a project.

    The step is named after the field it changes (``field``, a key path such as
    ``("optimizer", "learning_rate")``; see :func:`settings_step`), and
    consecutive edits of the same field merge into one undo step, as typing in
    one field of the inspector does (``SetParam``); an edit of another field is a
    step of its own. Undo restores the sections as they were, so keys the edit
    added or dropped come and go exactly.

    Args:
        project: the project.
        section: ``"training"`` or ``"dataset"``.
        value: the section's new content.
        text: the step's name.
        field: what the step merges by (None: its text and section).
        also: other sections that change in the same step (``{"dataset":
            {...}}``: defaults a form spells out along with the edited field).
    """

    def __init__(self, project: Project, section: str, value: dict[str, Any], text: str = "",
                 field: tuple[str, ...] | None = None,
                 also: dict[str, dict[str, Any]] | None = None):
        sections = {section: value, **(also or {})}
        for name in sections:
            if name not in ("training", "dataset"):
                raise ValueError("section must be 'training' or 'dataset'. Received: "
                                 f"{name!r}")
        self.project = project
        self.section = section
        self.field = tuple(field) if field is not None else None
        self.old = {name: copy.deepcopy(getattr(project, name)) for name in sections}
        self.new = copy.deepcopy(sections)
        self.text = text or f"Set {section} settings"

    def redo(self) -> None:
        for name, value in self.new.items():
            setattr(self.project, name, copy.deepcopy(value))

    def undo(self) -> None:
        for name, value in self.old.items():
            setattr(self.project, name, copy.deepcopy(value))

    def merge_with(self, other: Command) -> bool:
        if (isinstance(other, SetSettings) and other.project is self.project
                and other.field == self.field and other.text == self.text
                and (self.field is not None or other.section == self.section)):
            for name, value in other.new.items():
                self.old.setdefault(name, copy.deepcopy(other.old[name]))
                self.new[name] = copy.deepcopy(value)
            return True
        return False

    def is_obsolete(self) -> bool:
        return self.old == self.new


_MISSING = object()


def changed_fields(old: dict[str, Any], new: dict[str, Any],
                   prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The fields (key paths) whose values differ between two settings sections.

    Nested sections (``optimizer``, ``augment``, ...) are compared key by key, a
    missing one counting as empty, except that a section whose ``"name"``
    changed (another optimizer, another schedule) is one field: its other keys
    change with it.
    """
    out: list[tuple[str, ...]] = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, _MISSING), new.get(key, _MISSING)
        if a == b:
            continue
        if (isinstance(a, dict) or a is _MISSING) and (isinstance(b, dict) or b is _MISSING) \
                and (a is not _MISSING or b is not _MISSING):
            a = {} if a is _MISSING else a
            b = {} if b is _MISSING else b
            if ("name" in a or "name" in b) and a.get("name") != b.get("name"):
                out.append((*prefix, key))
            else:
                out.extend(changed_fields(a, b, (*prefix, key)))
            continue
        out.append((*prefix, key))
    return out


def settings_step(project: Project, sections: dict[str, dict[str, Any]],
                  name: str | None = None) -> SetSettings | None:
    """The one undo step that sets the project's ``sections``, named after the
    field that changed.

    Args:
        project: the project.
        sections: new contents by section (``{"training": {...}, "dataset":
            {...}}``); unchanged sections are left out of the step.
        name: the field the user edited (``"optimizer learning_rate"``): the
            step's name, and what it merges by. Other keys that change with it
            (defaults a form spells out on a first edit) ride along in the same
            step. None: named after the fields that differ.

    Returns:
        ``None`` when nothing changed; else a :class:`SetSettings` whose text
        names the field (``"Set optimizer learning_rate"``, ``"Set batch_size"``,
        ``"Set dataset"``; several fields changed by one action are named
        together) and whose ``field`` makes it merge with the next edit of the
        same field only.
    """
    changed = {section: changed_fields(getattr(project, section), value)
               for section, value in sections.items()}
    changed = {section: fields for section, fields in changed.items() if fields}
    if not changed:
        return None
    names = []
    for section, fields in changed.items():
        for path in fields:
            words = list(path)
            if section == "dataset" and words[0] in ("name", "path"):
                words = ["dataset"] if words == ["name"] else ["dataset", *words]
            names.append(" ".join(words))
    if name:
        text, field = f"Set {name}", tuple(name.split())
    else:
        text = "Set " + ", ".join(names)
        field = tuple(names) if len(names) > 1 else tuple(names[0].split())
    first, *others = changed
    return SetSettings(project, first, sections[first], text, field=field,
                       also={section: sections[section] for section in others})


def estimate_steps_per_epoch(training: dict[str, Any], dataset: dict[str, Any]) -> int:
    """Batches per epoch the engine will run, ``ceil(n_train / batch_size)``.

    The number of samples is known for built-in sets; for files it is a guess
    (1,000) until a run reports the real figure.
    """
    name = dataset.get("name") or "digits"
    n = KNOWN_SIZES.get(name)
    if name == "shapes":
        n = int(dataset.get("samples", 2000))
    if n is None:
        n = 1000
    if name in ("digits", "shapes", "npz", "folder", "csv"):
        # Sets without a test split hold validation_split of their samples out.
        n = max(1, round(n * (1 - float(dataset.get("validation_split", 0.2)))))
    if dataset.get("limit"):
        n = min(n, int(dataset["limit"]))  # the engine limits the training part
    return max(1, math.ceil(n / int(training.get("batch_size", 32))))


def runs_root(project: Project, config_dir: Path | None = None) -> Path:
    """Where a project's runs go: ``runs/`` beside its file, else (unsaved, or a
    template opened as is) in the settings folder."""
    templates = Path(__file__).resolve().parents[3] / "templates"
    if project.path and Path(project.path).resolve().parent != templates:
        return Path(project.path).resolve().parent / "runs"
    if config_dir is None:
        config_dir = Path(os.environ.get("KERAS_BUILDER_CONFIG_DIR")
                          or Path.home() / ".config" / "keras-builder")
    return config_dir / "runs"


def slug(name: str) -> str:
    """The run-folder prefix of a project name (as ``new_run_dir`` makes it)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "run"


def smooth(values: Iterable[float], beta: float = SMOOTHING) -> list[float]:
    """Bias-corrected exponential moving average (causal, as TensorBoard's)."""
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta ** i))
    return out


def downsample(xs: list[float], ys: list[float], max_points: int = 2000
               ) -> tuple[list[float], list[float]]:
    """At most ``max_points`` evenly strided points, the last one always kept."""
    n = len(xs)
    if n <= max_points:
        return xs, ys
    stride = math.ceil(n / max_points)
    idx = list(range(0, n, stride))
    if idx[-1] != n - 1:
        idx.append(n - 1)
    return [xs[i] for i in idx], [ys[i] for i in idx]


@dataclass
class RunSeries:
    """The curves and progress of one run, fed its events in order.

    Attributes:
        batch: per-batch-event lists keyed ``step``, ``loss``, ``smoothed``,
            ``accuracy``, ``learning_rate``; loss and accuracy are the means of
            the batches since the previous event (not Keras' epoch-to-date mean).
        epoch: per-epoch lists keyed ``epoch``, ``loss``, ``val_loss``,
            ``accuracy``, ``val_accuracy``, ``learning_rate`` (``None`` where absent).
        status: ``idle``, ``running``, ``finished``, ``stopped`` or ``failed``.
        message: the failure's message (or the finish reason).
    """

    batch: dict[str, list] = field(default_factory=lambda: {
        k: [] for k in ("step", "loss", "smoothed", "accuracy", "learning_rate")})
    epoch: dict[str, list] = field(default_factory=lambda: {
        k: [] for k in ("epoch", "loss", "val_loss", "accuracy", "val_accuracy",
                        "learning_rate")})
    status: str = "idle"
    message: str = ""
    started: dict[str, Any] | None = None
    last: dict[str, Any] | None = None
    best: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # a task's end-of-run metrics
    seconds: float = 0.0
    events: int = 0
    _avg: float = 0.0
    _n: int = 0
    _t0: float | None = None
    _step0: int = 0
    _t_last: float | None = None
    _step_last: int = 0
    _means: dict = field(default_factory=dict)

    def feed(self, event: dict[str, Any]) -> None:
        """Adds one event of the stream."""
        self.events += 1
        kind = event.get("type")
        if kind == "started":
            self.started = event
            self.status = "running"
            self._t0, self._step0 = None, int(event.get("step") or 0)
        elif kind == "batch":
            self._batch(event)
        elif kind == "epoch":
            for key, values in self.epoch.items():
                values.append(event.get(key))
            self.seconds += float(event.get("seconds") or 0.0)
        elif kind in ("finished", "stopped", "failed"):
            self.status = kind
            self.message = (event.get("message") or event.get("reason")
                            or ("killed" if event.get("forced") else ""))
            if event.get("best"):
                self.best = event["best"]
            if event.get("metrics"):
                self.metrics = dict(event["metrics"])
        self.last = event

    def _recent(self, key: str, event: dict[str, Any]) -> float | None:
        """The mean of ``key`` over the batches since the previous batch event.

        Keras reports, at each batch, the running mean of the epoch so far; a
        plot of that is smooth within an epoch and jumps at its start. With the
        previous report of the same epoch (``b0`` batches, mean ``m0``), the
        batches since then averaged ``(b*m - b0*m0) / (b - b0)``.
        """
        mean = event.get(key)
        epoch, batch = event.get("epoch"), event.get("batch")
        prev = self._means.get(key)
        self._means[key] = (epoch, batch, mean)
        if mean is None or not isinstance(batch, int):
            return mean
        if prev and prev[0] == epoch and isinstance(prev[1], int) and prev[1] < batch \
                and prev[2] is not None:
            return (batch * mean - prev[1] * prev[2]) / (batch - prev[1])
        return mean

    def _batch(self, event: dict[str, Any]) -> None:
        loss = self._recent("loss", event)
        b = self.batch
        b["step"].append(int(event.get("step") or len(b["step"]) + 1))
        b["loss"].append(loss)
        if loss is not None:
            self._n += 1
            self._avg = SMOOTHING * self._avg + (1 - SMOOTHING) * loss
            b["smoothed"].append(self._avg / (1 - SMOOTHING ** self._n))
        else:
            b["smoothed"].append(None)
        b["accuracy"].append(self._recent("accuracy", event))
        b["learning_rate"].append(event.get("learning_rate"))
        now = float(event.get("time") or time.time())
        if self._t0 is None:
            self._t0, self._step0 = now, b["step"][-1]
        self._t_last, self._step_last = now, b["step"][-1]

    # -- progress --------------------------------------------------------------

    @property
    def total_steps(self) -> int:
        s = self.started or {}
        return int(s.get("epochs") or 0) * int(s.get("steps_per_epoch") or 0)

    @property
    def step(self) -> int:
        return self.batch["step"][-1] if self.batch["step"] else int(
            (self.started or {}).get("step") or 0)

    @property
    def fraction(self) -> float:
        """Share of the planned steps done, 0..1."""
        total = self.total_steps
        return min(1.0, self.step / total) if total else 0.0

    @property
    def steps_per_second(self) -> float | None:
        if self._t0 is None or self._t_last is None or self._t_last <= self._t0:
            return None
        return (self._step_last - self._step0) / (self._t_last - self._t0)

    @property
    def images_per_second(self) -> float | None:
        rate = self.steps_per_second
        if rate is None:
            return None
        return rate * int((self.started or {}).get("batch_size") or 0)

    @property
    def eta_seconds(self) -> float | None:
        rate = self.steps_per_second
        if not rate:
            return None
        return max(0.0, (self.total_steps - self.step) / rate)

    def final_metric(self) -> tuple[str, float] | None:
        """The last epoch's validation accuracy (else loss), for the headline."""
        for key in ("val_accuracy", "accuracy", "val_loss", "loss"):
            values = [v for v in self.epoch[key] if v is not None]
            if values:
                return key, values[-1]
        return None


def format_seconds(seconds: float | None) -> str:
    """``1:02:03``, ``4:05`` or ``—``."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass
class RunInfo:
    """One run directory, summarised for the runs list."""

    path: Path
    name: str
    config: dict[str, Any]
    series: RunSeries

    @property
    def optimizer(self) -> str:
        return str(self.config.get("training", {}).get("optimizer", {}).get("name", "?"))

    @property
    def schedule(self) -> str:
        return str(self.config.get("training", {}).get("schedule", {}).get("name", "?"))

    def best_metric(self) -> tuple[str, float] | None:
        """A detector's mAP@0.5 (end of run), else the best validation accuracy
        (or lowest validation loss) over the epochs."""
        if isinstance(self.series.metrics.get("map50"), (int, float)):
            return "map50", float(self.series.metrics["map50"])
        for key, pick in (("val_accuracy", max), ("accuracy", max), ("val_loss", min),
                          ("loss", min)):
            values = [v for v in self.series.epoch[key] if v is not None]
            if values:
                return key, pick(values)
        return None

    def describe(self) -> str:
        t = self.config.get("training", {})
        opt = t.get("optimizer", {})
        return (f"{opt.get('name', '?')} lr={opt.get('learning_rate', '?')} · "
                f"{t.get('schedule', {}).get('name', '?')} · {t.get('epochs', '?')} epochs · "
                f"batch {t.get('batch_size', '?')} · "
                f"{self.config.get('dataset', {}).get('name', '?')}")


def read_run(path: str | Path) -> RunInfo:
    """A run directory's config and events (a run still going reads as running)."""
    from builder.training.events import read_events  # noqa: PLC0415
    from builder.training.run_dir import CONFIG_FILE, EVENTS_FILE  # noqa: PLC0415

    path = Path(path)
    config = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    series = RunSeries()
    events = path / EVENTS_FILE
    if events.is_file():
        with open(events, encoding="utf-8") as f:
            for event in read_events(f):
                series.feed(event)
    return RunInfo(path, path.name, config, series)


def list_runs(root: str | Path, prefix: str | None = None) -> list[RunInfo]:
    """The run directories under ``root`` (optionally only ``prefix-*``), newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for child in sorted(root.iterdir(), key=lambda p: p.name, reverse=True):
        if prefix and not child.name.startswith(prefix + "-"):
            continue
        if (child / "config.json").is_file():
            try:
                out.append(read_run(child))
            except (OSError, ValueError):
                continue  # a half-written run directory is not a run yet
    return out

"""The Keras callbacks of a run: events out, stop in, checkpoints and backups.

:class:`EventCallback` turns Keras' hooks into events and honours a stop
request at the next batch. :class:`RunCheckpoints` writes ``last.keras``,
``best.keras``, the CSV log and the crash-proof backup at each epoch's end,
every file by write-then-rename so a ``kill -9`` at any instant leaves the
previous version whole.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable

import keras

from builder.core.project import atomic_write
from builder.training.events import make_event
from builder.training.optimizers import current_learning_rate

Emit = Callable[[dict[str, Any]], None]

BACKUP_DIR = "backup"
STATE_FILE = "state.json"


class EventCallback(keras.callbacks.Callback):
    """Sends batch and epoch events; stops training when asked.

    Marked ``async_safe`` so Keras dispatches the batch hook on its worker
    thread, and training never waits for metrics to reach the host: a run is
    as fast as a plain ``model.fit`` (benchmarks/training.py measures it).
    """

    async_safe = True

    def __init__(self, emit: Emit, stop: threading.Event, steps_per_epoch: int,
                 batch_events_per_second: float = 10.0):
        super().__init__()
        self.emit = emit
        self.stop = stop
        self.steps_per_epoch = steps_per_epoch
        self.interval = 1.0 / batch_events_per_second if batch_events_per_second else 0.0
        self.epoch = 0
        self.step = 0
        self._last_sent = 0.0
        self._epoch_start = 0.0
        self._lock = threading.Lock()
        self._schedule = None
        self._rate = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch + 1
        self._epoch_start = time.monotonic()
        # The batch hook runs on Keras' worker thread, where reading optimizer
        # variables is unsafe under JAX (their buffers are donated to the next
        # step: "Array has been deleted"). So it never reads them: a schedule
        # is evaluated at the step number, any other rate is read here, at the
        # epoch boundary, where it can change (reduce-on-plateau).
        optimizer = getattr(self.model.optimizer, "inner_optimizer", self.model.optimizer)
        rate = getattr(optimizer, "_learning_rate", None)
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            self._schedule, self._rate = rate, None
        else:
            self._schedule, self._rate = None, current_learning_rate(self.model.optimizer)

    def _learning_rate(self, step: int) -> float:
        """The rate of the update after ``step`` updates, without touching variables."""
        if self._schedule is None:
            return self._rate
        return float(keras.ops.convert_to_numpy(self._schedule(step)))

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.stop.is_set():
            self.model.stop_training = True
        step = (self.epoch - 1) * self.steps_per_epoch + batch + 1
        # Keras may run this hook for consecutive batches on several threads:
        # send in step order, never an older batch after a newer one.
        with self._lock:
            if step <= self.step:
                return
            self.step = step
            now = time.monotonic()
            if batch + 1 < self.steps_per_epoch and now - self._last_sent < self.interval:
                return
            self._last_sent = now
            self.emit(make_event("batch", epoch=self.epoch, batch=batch + 1, step=step,
                                 **(logs or {}),
                                 learning_rate=self._learning_rate(step)))

    def epoch_completed(self, epoch: int) -> bool:
        """Whether every batch of ``epoch`` (0-based) ran.

        Counted from the batches seen, not from ``optimizer.iterations``:
        under mixed precision the loss-scale optimizer skips the update of a
        step whose gradients overflow, so its count lags the batches run.
        Keras finishes the batch hooks before it calls ``on_epoch_end``.
        """
        return self.step >= (epoch + 1) * self.steps_per_epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.epoch_completed(epoch):
            return  # a stop cut the epoch short: the "stopped" event reports it
        logs = dict(logs or {})
        logs["learning_rate"] = current_learning_rate(self.model.optimizer)
        self.emit(make_event("epoch", epoch=epoch + 1, step=self.step, **logs,
                             seconds=time.monotonic() - self._epoch_start))


class RunCheckpoints(keras.callbacks.Callback):
    """``last.keras``, ``best.keras``, ``log.csv`` and the resumable backup.

    The backup is ``backup/epoch-NNNN.keras`` (a hard link to that epoch's
    ``last.keras``: model and optimizer variables, so the schedule's step
    too) plus ``backup/state.json`` naming it, with the epoch, the best value
    so far, the early-stopping and plateau counters and the history. The model
    file is complete before the state file is renamed over the old one, so the
    state always names a complete file.

    Args:
        run_dir: the run directory.
        emit: where checkpoint events go.
        monitor: the metric that decides ``best.keras`` (``val_loss``, ...).
        state: the state read from an earlier backup when resuming, else None.
        early_stopping: the run's EarlyStopping callback (its counters are
            saved and restored), if any.
        plateau: the run's ReduceLROnPlateau callback (likewise), if any.
        progress: the run's :class:`EventCallback`, whose batch count says
            whether an epoch ran to its end.
    """

    def __init__(self, run_dir: str | os.PathLike, emit: Emit, monitor: str = "val_loss",
                 state: dict | None = None,
                 early_stopping: keras.callbacks.EarlyStopping | None = None,
                 plateau: keras.callbacks.ReduceLROnPlateau | None = None, *,
                 progress: EventCallback):
        super().__init__()
        self.progress = progress
        self.run_dir = Path(run_dir)
        self.emit = emit
        self.monitor = monitor
        self.mode_max = "acc" in monitor or "auc" in monitor
        state = state or {}
        self.best = state.get("best")
        self.best_epoch = state.get("best_epoch")
        self.history: list[dict[str, Any]] = list(state.get("history", []))
        self.early_stopping = early_stopping
        self.plateau = plateau
        self._restore = {"early_stopping": state.get("early_stopping"),
                         "plateau": state.get("plateau")}

    def on_train_begin(self, logs: dict | None = None) -> None:
        # EarlyStopping and ReduceLROnPlateau reset their counters in their own
        # on_train_begin, which Keras calls before ours (they come first).
        for name, callback in (("early_stopping", self.early_stopping),
                               ("plateau", self.plateau)):
            saved = self._restore.get(name)
            if callback is None or not saved:
                continue
            for key, value in saved.items():
                if value is None and key == "best":
                    continue  # unset: keep the callback's own starting value
                setattr(callback, key, value if key == "best" else int(value))

    def _improved(self, value: float | None) -> bool:
        if value is None:
            return False
        if self.best is None:
            return True
        return value > self.best if self.mode_max else value < self.best

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        step = self.progress.step
        if not self.progress.epoch_completed(epoch):
            # A stop cut the epoch short. Keras still ends the epoch, but
            # recording it would make a resume skip the rest of it: the
            # backup stays at the last whole epoch.
            return
        logs = {k: float(v) for k, v in (logs or {}).items()}
        logs["learning_rate"] = current_learning_rate(self.model.optimizer)
        self.history.append({"epoch": epoch + 1, "step": step, **logs})
        # One serialisation per epoch: best.keras and the backup are links to
        # (or copies of) this file; a .keras file holds the optimizer state too.
        last = self.run_dir / "last.keras"
        tmp = self.run_dir / ".last.keras.tmp.keras"
        self.model.save(tmp)
        os.replace(tmp, last)
        self.emit(make_event("checkpoint", epoch=epoch + 1, step=step, kind="last",
                             path=str(last)))
        value = logs.get(self.monitor, logs.get(self.monitor.removeprefix("val_")))
        if self._improved(value):
            self.best, self.best_epoch = value, epoch + 1
            _link_or_copy(last, self.run_dir / "best.keras")
            self.emit(make_event("checkpoint", epoch=epoch + 1, step=step, kind="best",
                                 path=str(self.run_dir / "best.keras")))
        self._write_csv()
        self._backup(last, epoch + 1, step)

    def _write_csv(self) -> None:
        columns = ["epoch", "step"] + sorted({k for row in self.history for k in row}
                                             - {"epoch", "step"})
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.history)
        atomic_write(self.run_dir / "log.csv", buffer.getvalue())

    def _backup(self, last: Path, epochs_done: int, step: int) -> None:
        folder = self.run_dir / BACKUP_DIR
        folder.mkdir(exist_ok=True)
        weights = folder / f"epoch-{epochs_done:04d}.keras"
        _link_or_copy(last, weights)
        resumable = {}
        for name, callback in (("early_stopping", self.early_stopping),
                               ("plateau", self.plateau)):
            if callback is not None:
                resumable[name] = {key: _plain_number(getattr(callback, key))
                                   for key in _RESUMABLE if hasattr(callback, key)}
        state = {
            "epoch": epochs_done, "step": step, "weights": weights.name,
            "best": self.best, "best_epoch": self.best_epoch, "monitor": self.monitor,
            "history": self.history, **resumable,
        }
        atomic_write(folder / STATE_FILE, json.dumps(state, indent=1))
        for old in folder.glob("epoch-*"):
            if old.name != weights.name:
                old.unlink(missing_ok=True)
        self.emit(make_event("checkpoint", epoch=epochs_done, step=step, kind="backup",
                             path=str(weights)))


#: Counters of EarlyStopping and ReduceLROnPlateau that a resume restores.
_RESUMABLE = ("wait", "best", "best_epoch", "cooldown_counter")


def _link_or_copy(source: Path, target: Path) -> None:
    """Makes ``target`` the content of ``source`` atomically (a hard link if it can)."""
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:  # a file system without hard links
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def read_backup(run_dir: str | os.PathLike) -> dict | None:
    """The backup state of a run, or None when it has no complete backup."""
    path = Path(run_dir) / BACKUP_DIR / STATE_FILE
    if not path.is_file():
        return None
    state = json.loads(path.read_text(encoding="utf-8"))
    if not (path.parent / state["weights"]).is_file():
        return None
    return state


def _plain_number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if abs(number) != float("inf") else None

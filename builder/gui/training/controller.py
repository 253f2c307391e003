"""Starting, following and stopping runs without blocking the event loop.

The run itself is a child process (``builder.training.process``); its reader
thread fills a queue. A ``QTimer`` drains that queue every 40 ms on the GUI
thread with the non-blocking ``poll()``, feeds the events to a
:class:`RunSeries` and tells the views; the views redraw on their own
throttled timer, so a burst of events costs one redraw.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from builder.core.project import Project
from builder.gui.training.state import RunSeries

POLL_MS = 40
#: How much lower the child's CPU priority is than the editor's (Unix nice).
CHILD_NICENESS = 10


@dataclass
class RunRequest:
    """One run waiting in the queue: the project snapshot and its overrides."""

    project: Project
    root: Path
    training: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    label: str = ""


class RunController(QObject):
    """Runs one training at a time, and a queue of more (compare optimizers).

    Signals:
        started(object): the new run's directory (a ``Path``).
        event(object): each event dict, in order.
        ended(object): the terminal event of a run.
        error(str): a run that could not start (bad settings), one line.
        queue_changed(int): how many requests wait.
    """

    started = Signal(object)
    event = Signal(object)
    ended = Signal(object)
    error = Signal(str)
    queue_changed = Signal(int)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.handle = None
        self.series = RunSeries()
        self.run_dir: Path | None = None
        self.queue: list[RunRequest] = []
        self.in_process = False  # tests may run on a thread of this process
        self.niceness = CHILD_NICENESS
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.drain)
        self.events_seen = 0

    @property
    def running(self) -> bool:
        return self.handle is not None

    def start(self, request: RunRequest) -> bool:
        """Starts ``request`` now, or queues it behind the current run."""
        if self.running:
            self.queue.append(request)
            self.queue_changed.emit(len(self.queue))
            return True
        return self._launch(request)

    def enqueue(self, requests: list[RunRequest]) -> None:
        """Queues several runs; the first starts at once when idle."""
        self.queue.extend(requests)
        self.queue_changed.emit(len(self.queue))
        if not self.running:
            self._next()

    def _launch(self, request: RunRequest) -> bool:
        from builder.core import BuilderError  # noqa: PLC0415
        from builder.training.process import start_run  # noqa: PLC0415
        from builder.training.run_dir import new_run_dir  # noqa: PLC0415

        run_dir = new_run_dir(request.project.name, request.root)
        if request.label:
            run_dir = run_dir.with_name(f"{run_dir.name}-{request.label}")
        try:
            self.handle = start_run(request.project, run_dir, training=request.training,
                                    dataset=request.dataset, in_process=self.in_process)
        except (BuilderError, OSError, ValueError) as exc:
            self.error.emit(str(exc).splitlines()[0])
            return False
        self._begin(Path(run_dir))
        return True

    def _lower_priority(self) -> None:
        # The editor must stay responsive on a machine with few cores: the child
        # (TensorFlow uses every core it finds) yields the CPU to the GUI.
        pid = getattr(self.handle, "pid", None)
        if pid is not None and self.niceness and hasattr(os, "setpriority"):
            try:
                os.setpriority(os.PRIO_PROCESS, pid, self.niceness)
            except OSError:
                pass

    def resume(self, run_dir: str | Path, **training: Any) -> bool:
        """Continues a stopped or failed run from its last backup."""
        from builder.core import BuilderError  # noqa: PLC0415
        from builder.gui.training.state import read_run  # noqa: PLC0415
        from builder.training.process import resume_run  # noqa: PLC0415

        if self.running:
            self.error.emit("A run is going; stop it before resuming another.")
            return False
        previous = read_run(run_dir).series
        try:
            self.handle = resume_run(run_dir, in_process=self.in_process, **training)
        except (BuilderError, OSError, ValueError) as exc:
            self.error.emit(str(exc).splitlines()[0])
            return False
        self._begin(Path(run_dir), previous)
        return True

    def _begin(self, run_dir: Path, series: RunSeries | None = None) -> None:
        self.run_dir = run_dir
        self.series = series or RunSeries()
        self.series.status = "running"
        self._lower_priority()
        self._timer.start()
        self.started.emit(run_dir)

    def stop(self) -> None:
        """Asks the run to stop at the next batch (killed after a grace period);
        also drops the queued runs."""
        if self.queue:
            self.queue.clear()
            self.queue_changed.emit(0)
        if self.handle is not None:
            self.handle.stop()

    def drain(self) -> None:
        """Takes the events that have arrived (never waits)."""
        handle = self.handle
        if handle is None:
            return
        terminal = None
        for event in handle.poll():
            self.events_seen += 1
            self.series.feed(event)
            self.event.emit(event)
            if event.get("type") in ("finished", "stopped", "failed"):
                terminal = event
        if terminal is not None:  # the stream's last event (the engine sends one always)
            self._timer.stop()
            self.handle = None
            self.ended.emit(terminal)
            self._next()

    def _next(self) -> None:
        while self.queue and not self.running:
            request = self.queue.pop(0)
            self.queue_changed.emit(len(self.queue))
            self._launch(request)

    def shutdown(self) -> None:
        """Stops everything (the window is closing); waits briefly for the child."""
        self.queue.clear()
        if self.handle is not None:
            try:
                self.handle.stop(grace=2.0)
                self.handle.wait(5)
            except Exception:  # noqa: BLE001 - closing anyway
                pass
            self.handle = None
        self._timer.stop()

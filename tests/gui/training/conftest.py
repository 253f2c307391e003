"""Training-panel fixtures: LeNet on a small slice of digits, runs under tmp."""

from __future__ import annotations

import time

import pytest

import builder

# Small enough for a few seconds a run on a busy CPU, big enough to stop mid-run.
DIGITS = {"name": "digits", "limit": 128, "validation_split": 0.2}


@pytest.fixture
def lenet_project():
    project = builder.load(builder.template_path("lenet"))
    project.path = None  # a template opened as a new document
    project.dataset = dict(DIGITS)
    project.training.update({"epochs": 2, "batch_size": 16})
    return project


@pytest.fixture
def panel_window(make_window, lenet_project, tmp_path):
    """A main window on LeNet whose runs go to ``tmp_path / 'runs'``."""
    window = make_window(lenet_project)
    panel = window.training_panel
    panel.root_override = tmp_path / "runs"
    panel.refresh_root()
    return window


class GapMeter:
    """Gaps between ticks of a 10 ms QTimer: how long the event loop was away.

    ``gaps`` is wall time; ``cpu_gaps`` the GUI thread's own CPU time in each gap,
    which is the work the GUI did instead of serving events. On a shared,
    overloaded machine the wall gaps also hold time the OS gave other processes.
    """

    def __init__(self):
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self.cpu_gaps: list[float] = []
        self._last = None
        self._cpu = None
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def _tick(self):
        now, cpu = time.perf_counter(), time.thread_time()
        if self._last is not None:
            self.gaps.append(now - self._last)
            self.cpu_gaps.append(cpu - self._cpu)
        self._last, self._cpu = now, cpu

    def start(self):
        self._last, self._cpu = time.perf_counter(), time.thread_time()
        self.timer.start()

    def stop(self):
        self.timer.stop()

    @property
    def worst_ms(self) -> float:
        return 1000 * max(self.gaps, default=0.0)

    @property
    def worst_cpu_ms(self) -> float:
        return 1000 * max(self.cpu_gaps, default=0.0)

    def share_over(self, ms: float) -> float:
        """Fraction of the ticks that came more than ``ms`` late."""
        return sum(g > ms / 1000 for g in self.gaps) / max(1, len(self.gaps))


@pytest.fixture
def gap_meter():
    """A fresh :class:`GapMeter` (not started)."""
    return GapMeter()

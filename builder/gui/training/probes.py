"""Questions only Keras can answer, asked of a child process.

* :class:`LRRangeTest`: ``builder lr-find --json`` on a snapshot of the
  project; plots loss against rate and offers the suggested rate.
* :func:`detect_options`: ``training_options()`` (backends, GPUs, mixed
  precision) without importing TensorFlow into the editor.
* :func:`probe_gpus`: the cheap guess at panel start: ``nvidia-smi -L`` in a
  child process when it is installed (no Keras at all), else no GPU.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QProcess, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from builder.core.project import dumps_project
from builder.gui.training.plotting import pen, plot

OPTIONS_SCRIPT = ("import json; from builder.training.model_setup import training_options; "
                  "print(json.dumps(training_options()))")


def python_child(args: list[str], done: Callable[[int, str, str], None], parent) -> QProcess:
    """Runs ``python ARGS`` with this checkout importable; ``done(code, out, err)``."""
    proc = QProcess(parent)
    proc.setProgram(sys.executable)
    proc.setArguments(args)
    from PySide6.QtCore import QProcessEnvironment  # noqa: PLC0415

    env = QProcessEnvironment.systemEnvironment()
    root = str(Path(__file__).resolve().parents[3])
    old = env.value("PYTHONPATH")
    env.insert("PYTHONPATH", root + (":" + old if old else ""))
    env.insert("TF_CPP_MIN_LOG_LEVEL", "3")
    proc.setProcessEnvironment(env)

    def finished(code: int, _status: Any) -> None:
        out = bytes(proc.readAllStandardOutput()).decode(errors="replace")
        err = bytes(proc.readAllStandardError()).decode(errors="replace")
        done(code, out, err)

    proc.finished.connect(finished)
    proc.start()
    return proc


def last_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()
             and not ln.startswith(("I0000", "W0000", "E0000", "WARNING:", "To enable"))]
    return lines[-1] if lines else ""


def detect_options(parent, done: Callable[[dict | str], None]) -> QProcess:
    """Asks a child for ``training_options()``; ``done(dict)`` or ``done(error line)``."""
    def finished(code: int, out: str, err: str) -> None:
        try:
            done(json.loads(last_line(out)) if code == 0 else last_line(err))
        except ValueError:
            done(last_line(err) or "could not read the options")

    return python_child(["-c", OPTIONS_SCRIPT], finished, parent)


#: Longest wait for ``nvidia-smi -L`` (a wedged driver can make it hang).
GPU_PROBE_TIMEOUT_MS = 10_000

_GPU_LINE = re.compile(r"^GPU (\d+): (.+?)(?: \(UUID: [^)]*\))?\s*$")


def device_choices(gpus: int) -> list[str]:
    """The device menu for ``gpus`` GPUs, as ``training_options()`` lists them,
    plus ``gpu`` (the first GPU) when there is one."""
    return ["auto", "cpu"] + [f"gpu:{i}" for i in range(gpus)] + ["gpu"] * (gpus > 0)


def parse_gpu_list(text: str) -> list[str]:
    """GPU names from ``nvidia-smi -L`` output (``GPU 0: NVIDIA H100 (UUID: ...)``)."""
    found = []
    for line in text.splitlines():
        match = _GPU_LINE.match(line.strip())
        if match:
            found.append(match.group(2))
    return found


def probe_gpus(parent, done: Callable[[list[str], str], None]) -> QProcess | None:
    """Guesses the GPUs without Keras; never blocks the event loop.

    Runs ``nvidia-smi -L`` in a child process when it is on ``PATH``; calls
    ``done(names, how)`` from the event loop once it answers (or after
    :data:`GPU_PROBE_TIMEOUT_MS`, with what it has), where ``how`` says where the
    answer came from. Without ``nvidia-smi`` the answer is no GPU (``done([],
    ...)`` on the next turn of the loop); the Detect button asks Keras itself.

    Returns:
        The child process, or ``None`` when there is nothing to run.
    """
    program = shutil.which("nvidia-smi")
    if program is None:
        QTimer.singleShot(0, parent, lambda: done([], "no nvidia-smi on PATH"))
        return None
    proc = QProcess(parent)
    answered = []

    def finish(names: list[str], how: str) -> None:
        if not answered:
            answered.append(True)
            done(names, how)

    def finished(code: int, _status: Any) -> None:
        out = bytes(proc.readAllStandardOutput()).decode(errors="replace")
        finish(parse_gpu_list(out) if code == 0 else [],
               "nvidia-smi" if code == 0 else f"nvidia-smi failed (status {code})")

    def timed_out() -> None:
        if proc.state() != QProcess.NotRunning:
            proc.kill()  # finished() follows; answered already
            finish([], "nvidia-smi did not answer")

    proc.finished.connect(finished)
    proc.errorOccurred.connect(
        lambda error: error == QProcess.FailedToStart and finish([], "nvidia-smi failed"))
    proc.start(program, ["-L"])
    QTimer.singleShot(GPU_PROBE_TIMEOUT_MS, proc, timed_out)
    return proc


class LRRangeTest(QWidget):
    """A button, a loss-against-rate plot, and "use the suggested rate".

    Signals:
        use_rate(float): the user took the suggestion.
        done(object): the result dict, or an error line.
    """

    use_rate = Signal(float)
    done = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.project_source: Callable[[], Any] | None = None
        self.result: dict | None = None
        self._proc: QProcess | None = None
        self.run_button = QPushButton("LR range test")
        self.run_button.setToolTip("Smith's sweep: train briefly while the rate grows "
                                   "exponentially; the loss tells which rates work")
        self.run_button.clicked.connect(lambda: self.start())
        self.use_button = QPushButton("Use suggested")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self._use)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.plot = plot("LR range test", "loss", "learning rate", legend=False)
        self.plot.getPlotItem().setLogMode(x=True)
        self.plot.setMinimumHeight(120)
        self.raw = self.plot.plot([], [], pen=pen("#c6dbef", 1))
        self.smooth = self.plot.plot([], [], pen=pen("#d62728", 2))
        self.plot.hide()
        row = QHBoxLayout()
        row.addWidget(self.run_button)
        row.addWidget(self.use_button)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.addLayout(row)
        v.addWidget(self.note)
        v.addWidget(self.plot, 1)

    def start(self, steps: int = 100) -> bool:
        """Starts the sweep on a snapshot of the project (returns at once)."""
        if self._proc is not None or self.project_source is None:
            return False
        project = self.project_source()
        folder = Path(tempfile.mkdtemp(prefix="kb-lrfind-"))
        path = folder / "project.json"
        path.write_text(dumps_project(project), encoding="utf-8")
        self.note.setText(f"sweeping {steps} batches in a child process…")
        self.run_button.setEnabled(False)
        self._proc = python_child(["-m", "builder", "lr-find", str(path), "--steps",
                                   str(steps), "--json"], self._finished, self)
        return True

    def _finished(self, code: int, out: str, err: str) -> None:
        self._proc = None
        self.run_button.setEnabled(True)
        try:
            result = json.loads(last_line(out)) if code == 0 else None
        except ValueError:
            result = None
        if not isinstance(result, dict):
            message = last_line(err) or f"exit status {code}"
            self.note.setText(f"range test failed: {message}")
            self.done.emit(message)
            return
        self.result = result
        self.raw.setData(result["lrs"], result["losses"])
        self.smooth.setData(result["lrs"], result["smoothed"])
        self.plot.show()
        lo, hi = result.get("suggested_range") or (None, None)
        self.note.setText(f"suggested rate {result['suggested_lr']:.3g}"
                          + (f"; cyclical range {lo:.3g}–{hi:.3g}" if lo and hi else ""))
        self.use_button.setEnabled(True)
        self.done.emit(result)

    def _use(self) -> None:
        if self.result:
            self.use_rate.emit(float(self.result["suggested_lr"]))

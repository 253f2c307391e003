"""The live tab: loss, accuracy and learning-rate plots, progress and the event log.

Each curve is created once and updated with ``setData``; a timer redraws at
most :data:`REDRAW_HZ` times a second and only when new events came; long
batch curves are downsampled to :data:`MAX_POINTS` points.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from builder.gui.training.plotting import COLORS, finite, pen, plot
from builder.gui.training.state import RunSeries, format_seconds

REDRAW_HZ = 20
MAX_POINTS = 2000


def event_line(event: dict[str, Any]) -> str:
    """One readable line of the event log."""
    t = time.strftime("%H:%M:%S", time.localtime(event.get("time") or time.time()))
    kind = event.get("type", "?")
    if kind == "started":
        text = (f"started{' (resumed)' if event.get('resumed') else ''}: "
                f"{event.get('samples')} samples / {event.get('val_samples')} val, "
                f"{event.get('steps_per_epoch')} steps × {event.get('epochs')} epochs, "
                f"batch {event.get('batch_size')}, {event.get('backend')} on "
                f"{event.get('device')}")
        for note in event.get("notes") or []:
            text += f"\n          note: {note}"
    elif kind == "epoch":
        parts = [f"{k} {event[k]:.4g}" for k in ("loss", "accuracy", "val_loss",
                                                 "val_accuracy", "learning_rate")
                 if isinstance(event.get(k), (int, float))]
        text = f"epoch {event.get('epoch')}: " + ", ".join(parts) + (
            f" ({event.get('seconds', 0):.1f} s)")
    elif kind == "checkpoint":
        text = (f"saved {Path(str(event.get('path'))).name} ({event.get('kind')}, "
                f"epoch {event.get('epoch')})")
    elif kind == "finished":
        best = event.get("best") or {}
        text = (f"finished ({event.get('reason')}) after {event.get('seconds', 0):.1f} s; best "
                f"{best.get('monitor')} {best.get('value')} at epoch {best.get('epoch')}")
    elif kind == "stopped":
        text = f"stopped at epoch {event.get('epoch')}" + (" (killed)" if event.get("forced")
                                                           else "")
    elif kind == "failed":
        text = f"FAILED: {event.get('message')}"
    else:
        text = kind
    return f"{t}  {text}"


def strided(values: list, max_points: int) -> np.ndarray:
    """At most ``max_points`` evenly strided values (the last kept) as floats,
    ``None`` as NaN; numpy keeps a redraw of a 100k-step run cheap."""
    n = len(values)
    if n <= max_points:
        return np.array(values, dtype=float)
    stride = -(-n // max_points)
    picked = values[::stride]
    if (n - 1) % stride:
        picked.append(values[-1])
    return np.array(picked, dtype=float)


class LiveView(QWidget):
    """Plots of the current run, fed by a :class:`RunController`."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.series = RunSeries()
        self._dirty = False
        self.redraws = 0
        self.redraw_times: list[float] = []
        top = QHBoxLayout()
        self.status = QLabel("No run yet. Choose the settings, then Start.")
        f = QFont()
        f.setPointSize(f.pointSize() + 1)
        self.status.setFont(f)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.speed = QLabel("")
        top.addWidget(self.status, 2)
        top.addWidget(self.progress, 3)
        top.addWidget(self.speed, 2)

        self.loss_plot = plot("Loss", "loss", "optimizer step")
        self.acc_plot = plot("Accuracy", "accuracy", "optimizer step")
        self.lr_plot = plot("Learning rate", "rate", "optimizer step", legend=False)
        self.c_batch = self.loss_plot.plot([], [], pen=pen("#9ecae1", 1), name="batches")
        self.c_smooth = self.loss_plot.plot([], [], pen=pen(COLORS[0], 2), name="batches (smoothed)")
        self.c_train = self.loss_plot.plot([], [], pen=pen(COLORS[1], 2), symbol="o",
                                           symbolSize=5, symbolBrush=COLORS[1], name="train / epoch")
        self.c_val = self.loss_plot.plot([], [], pen=pen(COLORS[3], 2), symbol="s",
                                         symbolSize=5, symbolBrush=COLORS[3], name="val / epoch")
        self.a_batch = self.acc_plot.plot([], [], pen=pen("#74c476", 1), name="batches")
        self.a_train = self.acc_plot.plot([], [], pen=pen(COLORS[1], 2), symbol="o",
                                          symbolSize=5, symbolBrush=COLORS[1], name="train")
        self.a_val = self.acc_plot.plot([], [], pen=pen(COLORS[3], 2), symbol="s",
                                        symbolSize=5, symbolBrush=COLORS[3], name="val")
        self.lr_curve = self.lr_plot.plot([], [], pen=pen(COLORS[4], 2))
        for p in (self.loss_plot, self.acc_plot, self.lr_plot):
            p.getPlotItem().setDownsampling(auto=True, mode="peak")
            p.getPlotItem().setClipToView(True)

        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.Monospace)
        mono.setPointSize(max(7, mono.pointSize() - 1))
        self.log.setFont(mono)

        plots = QWidget()
        grid = QGridLayout(plots)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.loss_plot, 0, 0)
        grid.addWidget(self.acc_plot, 0, 1)
        grid.addWidget(self.lr_plot, 0, 2)
        split = QSplitter()
        split.addWidget(plots)
        split.addWidget(self.log)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        self.log.setMinimumWidth(300)
        self.log.setLineWrapMode(QPlainTextEdit.NoWrap)
        v = QVBoxLayout(self)
        v.addLayout(top)
        v.addWidget(split, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / REDRAW_HZ))
        self._timer.timeout.connect(self.redraw_if_needed)
        self._timer.start()

    def follow(self, series: RunSeries, title: str = "") -> None:
        """Shows ``series`` (a new or resumed run)."""
        self.series = series
        self.title = title
        if series.events == 0:
            self.log.clear()
        self._dirty = True
        self.redraw()

    def on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") != "batch":  # batches are what the plots show
            self.log.appendPlainText(event_line(event))
        self._dirty = True

    def redraw_if_needed(self) -> None:
        if self._dirty:
            self.redraw()

    def redraw(self) -> None:
        """Updates every curve and the progress line from the series."""
        self._dirty = False
        self.redraws += 1
        self.redraw_times.append(time.perf_counter())
        s = self.series
        b, e = s.batch, s.epoch
        steps = strided(b["step"], MAX_POINTS)
        for curve, key in ((self.c_batch, "loss"), (self.c_smooth, "smoothed"),
                           (self.a_batch, "accuracy"), (self.lr_curve, "learning_rate")):
            # NaN (a missing value) breaks the line there instead of joining across it.
            curve.setData(steps, strided(b[key], MAX_POINTS), connect="finite")
        # Epoch points sit at the step that ended the epoch, on the batch axis.
        spe = int((s.started or {}).get("steps_per_epoch") or 0)
        xs = [ep * spe if spe else ep for ep in e["epoch"]]
        self.c_train.setData(*finite(xs, e["loss"]))
        self.c_val.setData(*finite(xs, e["val_loss"]))
        self.a_train.setData(*finite(xs, e["accuracy"]))
        self.a_val.setData(*finite(xs, e["val_accuracy"]))
        self.progress.setValue(int(s.fraction * 1000))
        epochs = (s.started or {}).get("epochs") or "?"
        current = s.last.get("epoch") if s.last else None
        self.progress.setFormat(f"epoch {current or 0}/{epochs} · step {s.step}/"
                                f"{s.total_steps or '?'} · {s.fraction:.0%}")
        ips = s.images_per_second
        self.speed.setText(f"ETA {format_seconds(s.eta_seconds if s.status == 'running' else 0)}"
                           f" · {ips:,.0f} images/s" if ips else "")
        final = s.final_metric()
        metric = f" · {final[0]} {final[1]:.4f}" if final else ""
        text = {"running": "Running", "finished": "Finished", "stopped": "Stopped",
                "failed": "Failed", "idle": "Idle"}[s.status] + metric
        if s.status == "failed":
            text += f" — {s.message}"
        self.status.setText(text)
        color = {"failed": "#b00020", "finished": "#1b7f3b"}.get(s.status, "")
        self.status.setStyleSheet(f"color: {color}" if color else "")

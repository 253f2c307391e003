"""The runs tab: every run of the project, and selected runs overlaid on one plot."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from builder.gui.training.plotting import COLORS, finite, pen, plot
from builder.gui.training.state import RunInfo, downsample, format_seconds, list_runs

METRICS = ("val_loss", "loss", "val_accuracy", "accuracy", "batch loss (smoothed)")
COLUMNS = ("run", "status", "settings", "best", "epochs", "duration")


class RunsView(QWidget):
    """The runs under a folder; selecting runs overlays them.

    Signals:
        resume_requested(object): the run directory to continue.
        open_requested(object): the run directory to show in the live tab.
    """

    resume_requested = Signal(object)
    open_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.root: Path | None = None
        self.prefix: str | None = None
        self.runs: list[RunInfo] = []
        #: The series of runs this window followed live, by run name: the child's
        #: last lines may reach events.jsonl a moment after they reach the pipe.
        self.live_series: dict = {}
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.Stretch)
        self.table.itemSelectionChanged.connect(self.overlay)
        self.table.cellDoubleClicked.connect(
            lambda row, _col: self.open_requested.emit(self.runs[row].path))
        self.table.setToolTip("Select runs to overlay them; double-click one to replay it "
                              "in Live")
        self.metric = QComboBox()
        self.metric.addItems(METRICS)
        self.metric.currentTextChanged.connect(lambda _: self.overlay())
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        self.resume_button = QPushButton("Resume selected")
        self.resume_button.clicked.connect(self._resume)
        self.note = QLabel("")
        # Off: this project's runs. On: every run under the runs folder, so that
        # runs of different networks overlay (the lecture's plain-34 vs ResNet-34).
        self.all_projects = QCheckBox("all projects")
        self.all_projects.setToolTip("List the runs of every project in the runs folder, "
                                     "to compare different networks")
        self.all_projects.toggled.connect(lambda _: self.refresh())
        bar = QHBoxLayout()
        bar.addWidget(QLabel("compare"))
        bar.addWidget(self.metric)
        bar.addWidget(self.all_projects)
        bar.addWidget(refresh)
        bar.addWidget(self.resume_button)
        bar.addWidget(self.note, 1)
        self.compare_plot = plot("Runs compared", "value", "epoch")
        self.curves: list = []
        self.curve_labels: list[str] = []  # the legend's texts, in curve order
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addLayout(bar)
        lv.addWidget(self.table, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.compare_plot)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        v = QVBoxLayout(self)
        v.addWidget(split)

    def set_root(self, root: Path, prefix: str | None = None) -> None:
        self.root, self.prefix = Path(root), prefix
        self.refresh()

    def refresh(self) -> None:
        """Re-reads the run directories (keeps the selection by run name)."""
        selected = set(self.selected_names())
        prefix = None if self.all_projects.isChecked() else self.prefix
        self.runs = list_runs(self.root, prefix) if self.root else []
        for run in self.runs:
            live = self.live_series.get(run.name)
            if live is not None and live.events > run.series.events:
                run.series = live
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.runs))
        for row, run in enumerate(self.runs):
            best = run.best_metric()
            s = run.series
            duration = s.seconds or (
                (s.last or {}).get("time", 0) - (s.started or {}).get("time", 0)
                if s.started and s.last else None)
            cells = (run.name, s.status if s.status != "running" else "running / incomplete",
                     run.describe(), f"{best[0]} {best[1]:.4f}" if best else "—",
                     str(len(s.epoch["epoch"])), format_seconds(duration))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(str(run.path) if col == 0 else text)
                if col == 1 and s.status == "failed":
                    item.setForeground(Qt.red)
                    item.setToolTip(s.message)
                self.table.setItem(row, col, item)
            if run.name in selected:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self.note.setText(f"{len(self.runs)} run(s) in {self.root}" if self.root else "")
        self.overlay()

    def selected_names(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.runs[r].name for r in rows if r < len(self.runs)]

    def select(self, names: list[str]) -> None:
        """Selects the runs named (tests, and 'compare' after a queue finishes)."""
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.MultiSelection)
        for row, run in enumerate(self.runs):
            if run.name in names:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)
        self.overlay()

    def overlay(self) -> None:
        """Draws the chosen metric of every selected run on the same axes."""
        item = self.compare_plot.getPlotItem()
        for curve in self.curves:
            item.removeItem(curve)
        self.curves = []
        if item.legend is not None:
            item.legend.clear()
        metric = self.metric.currentText()
        names = self.selected_names()
        by_name = {r.name: r for r in self.runs}
        item.setLabel("bottom", "optimizer step" if metric.startswith("batch") else "epoch")
        item.setLabel("left", metric)
        labels = [self.label(by_name[n]) for n in names]
        projects = [by_name[n].config.get("name") or "?" for n in names]
        if len(set(projects)) > 1:  # different networks: say which curve is which
            labels = [f"{p}: {label}" for p, label in zip(projects, labels)]
        self.curve_labels = []
        for i, name in enumerate(names):
            run = by_name[name]
            label = labels[i] if labels.count(labels[i]) == 1 else f"{labels[i]} · {name[-10:]}"
            color = COLORS[i % len(COLORS)]
            if metric.startswith("batch"):
                xs, ys = downsample(*finite(run.series.batch["step"],
                                            run.series.batch["smoothed"]))
                curve = item.plot(xs, ys, pen=pen(color, 2), name=label)
            else:
                xs, ys = finite(run.series.epoch["epoch"], run.series.epoch[metric])
                curve = item.plot(xs, ys, pen=pen(color, 2), symbol="o", symbolSize=5,
                                  symbolBrush=color, name=label)
            self.curves.append(curve)
            self.curve_labels.append(label)
        self.compare_plot.getPlotItem().setTitle(
            f"{metric}: {len(names)} run(s) compared" if names else "Select runs to compare",
            size="10pt")

    @staticmethod
    def label(run: RunInfo) -> str:
        t = run.config.get("training", {})
        lr = t.get("optimizer", {}).get("learning_rate")
        return f"{run.optimizer} (lr {lr:g}, {run.schedule})" if isinstance(
            lr, (int, float)) else run.name

    def curve_data(self) -> list[tuple[list, list]]:
        """The overlaid curves' data (for tests)."""
        out = []
        for c in self.curves:
            xs, ys = c.getData()
            out.append((list(xs) if xs is not None else [], list(ys) if ys is not None else []))
        return out

    def _resume(self) -> None:
        names = self.selected_names()
        if len(names) == 1:
            self.resume_requested.emit(next(r.path for r in self.runs if r.name == names[0]))

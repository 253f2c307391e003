"""The training panel of the main window's bottom dock.

Set-up | Live | Runs | Results tabs under one bar of run buttons. Runs happen
in a child process (:mod:`builder.training.process`); nothing here imports
Keras when the panel is built.

While a run goes the graph stays editable: **edits fork**. The run trains the
snapshot of the project taken when it started (its ``project.json``); the bar
says so once the graph changes, and the next Start trains the edited graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from builder.core import BuilderError
from builder.core.project import dumps_project, loads_project
from builder.gui.training.controller import RunController, RunRequest
from builder.gui.training.live import LiveView
from builder.gui.training.runs import RunsView
from builder.gui.training.setup import SetupView
from builder.gui.training.state import RunSeries, runs_root, slug

#: The lecture's six optimizers, compared by "Compare optimizers".
COMPARE_OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


class TrainingPanel(QWidget):
    """Set-up, live plots, runs and results of the window's document.

    Attributes:
        controller: starts and follows runs (child processes).
        root: the folder runs go to (``runs/`` beside the project file, or
            the settings folder for an unsaved project); tests may set it.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("training_panel")
        self.document = None
        self.root: Path | None = None
        self.root_override: Path | None = None
        self._edited_during_run = False
        self._batch: list[str] = []  # the runs of the current comparison
        self._comparing = False
        self.controller = RunController(self)
        self.setup = SetupView()
        self.live = LiveView()
        self.runs = RunsView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.setup, "Set-up")
        self.tabs.addTab(self.live, "Live")
        self.tabs.addTab(self.runs, "Runs")
        self._results_tab()

        self.start_button = QPushButton("▶ Start")
        self.stop_button = QPushButton("■ Stop")
        self.resume_button = QPushButton("⟳ Resume")
        self.compare_button = QPushButton("Compare optimizers")
        self.compare_epochs = QSpinBox()
        self.compare_epochs.setRange(1, 1000)
        self.compare_epochs.setValue(3)
        self.compare_epochs.setSuffix(" epochs each")
        self.compare_button.setToolTip("Queues one short run per optimizer of the lecture: "
                                       + ", ".join(COMPARE_OPTIMIZERS))
        self.state_label = QLabel("")
        self.state_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        bar = QHBoxLayout()
        for w in (self.start_button, self.stop_button, self.resume_button):
            bar.addWidget(w)
        bar.addSpacing(16)
        bar.addWidget(self.compare_button)
        bar.addWidget(self.compare_epochs)
        bar.addWidget(self.state_label, 1)
        v = QVBoxLayout(self)
        v.setContentsMargins(4, 4, 4, 4)
        v.addLayout(bar)
        v.addWidget(self.tabs, 1)

        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(lambda: self.resume())
        self.compare_button.clicked.connect(lambda: self.compare_optimizers())
        self.runs.resume_requested.connect(self.resume)
        self.runs.open_requested.connect(self.show_run)
        c = self.controller
        c.started.connect(self._run_started)
        c.event.connect(self.live.on_event)
        c.ended.connect(self._run_ended)
        c.error.connect(self._error)
        c.queue_changed.connect(lambda n: self._update_buttons())
        self._update_buttons()

    def _results_tab(self) -> None:
        try:
            from builder.gui.training.results import ResultsView  # noqa: PLC0415
        except ImportError:
            self.results = None
            return
        self.results = ResultsView(self)
        self.tabs.addTab(self.results, "Results")

    # -- document -------------------------------------------------------------------

    def set_document(self, document) -> None:
        """Follows ``document``: its settings, its runs folder, its edits."""
        if self.document is not None:
            try:
                self.document.history.changed.disconnect(self._history_changed)
            except (RuntimeError, TypeError, ValueError):
                pass
        self.document = document
        self.setup.set_document(document)
        document.history.changed.connect(self._history_changed)
        self.refresh_root()

    def refresh_root(self) -> None:
        if self.document is None:
            return
        self.root = self.root_override or runs_root(self.document.project)
        self.runs.set_root(self.root, slug(self.document.project.name))
        if self.results is not None:
            self.results.set_runs(self.runs.runs)

    def _history_changed(self, state: Any) -> None:
        project = self.document.project
        setup = self.setup
        if not setup._loading and (
                setup.training_settings() != project.training
                or setup.dataset_settings() != project.dataset
                or not self._heads_match()):
            setup.load()  # undo/redo of a setting, or heads added/removed
        if self.controller.running and not self._edited_during_run:
            self._edited_during_run = True
            self._update_buttons()

    def _heads_match(self) -> bool:
        """Whether the loss editors show the Output nodes as they are now."""
        outputs = {n.id: n for n in self.document.graph.nodes.values() if n.kind == "Output"}
        editors = self.setup.head_editors
        if set(editors) != set(outputs):
            return False
        return all(loss.currentText() == outputs[nid].params.get("loss", loss.currentText())
                   and abs(weight.value() - float(outputs[nid].params.get("loss_weight", 1.0)))
                   < 1e-9 for nid, (loss, weight) in editors.items())

    # -- runs -------------------------------------------------------------------------

    def _snapshot(self):
        project = self.document.project
        copy = loads_project(dumps_project(project))
        copy.name, copy.path = project.name, project.path
        return copy

    def start(self) -> bool:
        """Trains the current graph with the set-up's settings."""
        if self.document is None or self.controller.running:
            return False
        self.refresh_root()
        try:
            snapshot = self._snapshot()
        except BuilderError as exc:  # a graph that does not validate: say so, start nothing
            self._error(str(exc).splitlines()[0])
            return False
        return self.controller.start(RunRequest(snapshot, self.root))

    def stop(self) -> None:
        self.controller.stop()
        self.state_label.setText("stopping…")

    def resume(self, run_dir: str | Path | None = None) -> bool:
        """Continues ``run_dir`` (default: the last run) from its backup; the
        set-up's epochs apply when they are more than the run planned."""
        from builder.training.run_dir import read_config  # noqa: PLC0415

        run_dir = Path(run_dir or self.controller.run_dir or "")
        if not run_dir.name or not (run_dir / "config.json").is_file():
            self._error("No run to resume: start one first, or pick one in Runs.")
            return False
        planned = read_config(run_dir)["training"].get("epochs", 0)
        wanted = self.setup.epochs.value()
        extra = {"epochs": wanted} if wanted > planned else {}
        return self.controller.resume(run_dir, **extra)

    def compare_optimizers(self, optimizers: tuple[str, ...] = COMPARE_OPTIMIZERS,
                           epochs: int | None = None) -> None:
        """Queues one short run per optimizer (each with its default rate)."""
        if self.document is None:
            return
        self.refresh_root()
        epochs = epochs or self.compare_epochs.value()
        try:
            snapshot = self._snapshot()
        except BuilderError as exc:
            self._error(str(exc).splitlines()[0])
            return
        self._batch = []
        self._comparing = True
        self.controller.enqueue([
            RunRequest(snapshot, self.root, training={"optimizer": {"name": name},
                                                      "epochs": epochs}, label=name)
            for name in optimizers])

    def show_run(self, run_dir: str | Path) -> bool:
        """Replays a finished run's curves and log in the live tab (not while one goes)."""
        from builder.training.events import read_events  # noqa: PLC0415
        from builder.training.run_dir import EVENTS_FILE  # noqa: PLC0415

        if self.controller.running:
            self._error("A run is going; its plots stay in Live until it ends.")
            return False
        run_dir = Path(run_dir)
        self.live.follow(RunSeries(), run_dir.name)
        self.live.log.clear()
        path = run_dir / EVENTS_FILE
        if path.is_file():
            with open(path, encoding="utf-8") as f:
                for event in read_events(f):
                    self.live.series.feed(event)
                    self.live.on_event(event)
        self.live.redraw()
        self.controller.run_dir = run_dir  # Resume continues the run shown
        self.tabs.setCurrentWidget(self.live)
        self._update_buttons()
        return True

    def _run_started(self, run_dir: Path) -> None:
        self._edited_during_run = False
        if self._comparing:
            self._batch.append(run_dir.name)
        self._comparing = bool(self.controller.queue)
        self.live.follow(self.controller.series, run_dir.name)
        self.tabs.setCurrentWidget(self.live)
        self._update_buttons()

    def _run_ended(self, terminal: dict[str, Any]) -> None:
        self.live.redraw()
        if self.controller.run_dir is not None:
            self.runs.live_series[self.controller.run_dir.name] = self.controller.series
        self._update_buttons()
        # Re-reading the run folders is its own slice of the event loop.
        QTimer.singleShot(0, self._refresh_after_run)

    def _refresh_after_run(self) -> None:
        self.refresh_root()
        if self.controller.run_dir is not None:
            self.runs.select(self._batch or [self.controller.run_dir.name])
        if not self.controller.queue and not self.controller.running:
            self._batch = []  # the comparison is over
        self._update_buttons()

    def _error(self, text: str) -> None:
        self.state_label.setText(text)
        self.state_label.setStyleSheet("color: #b00020")
        self.live.log.appendPlainText(f"error: {text}")

    def _update_buttons(self) -> None:
        running = self.controller.running
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.resume_button.setEnabled(not running)
        self.compare_button.setEnabled(not running)
        queued = len(self.controller.queue)
        if running:
            text = f"running {self.controller.run_dir.name}"
            if queued:
                text += f" · {queued} queued"
            if self._edited_during_run:
                text += (" · graph edited since the start: this run trains the snapshot "
                         "taken at Start; the next Start trains the edited graph")
        elif self.controller.run_dir is not None:
            text = f"last run: {self.controller.run_dir}"
        else:
            text = f"runs go to {self.root}" if self.root else ""
        self.state_label.setStyleSheet("")
        self.state_label.setText(text)

    def shutdown(self) -> None:
        """Stops a run that is still going (the window closes)."""
        self.controller.shutdown()


def install(window) -> TrainingPanel:
    """Puts a training panel into ``window``'s bottom dock and shows it."""
    panel = TrainingPanel(window)
    window.training_panel = panel
    window.docks["training"].setWidget(panel)
    window.docks["training"].show()
    window.default_dock_sizes()  # a saved layout, restored after this, still wins
    if window.document is not None:
        panel.set_document(window.document)
    return panel

"""The set-up tab: data, optimizer, schedule (with its rate preview) and run options.

Every change is written to the project through :class:`SetSettings` on the
document's history, one undo step per field named after it (consecutive edits of
one field merge), so it is undoable from the editor, marks the document
modified, and Save keeps it. Loss and loss weight per head live on the Output nodes and are set
with ordinary ``set_param`` edits.
"""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from builder.training.config import OPTIMIZER_FIELDS, OPTIMIZERS, SCHEDULE_FIELDS, SCHEDULES
from builder.training.config import validate_training
from builder.training.run_config import available_backends
from builder.training.schedule_preview import schedule_curve
from builder.gui.training.fields import FieldForm
from builder.gui.training.probes import (
    LRRangeTest,
    detect_options,
    device_choices,
    probe_gpus,
)
from builder.gui.training.plotting import pen, plot
from builder.gui.training.state import estimate_steps_per_epoch, settings_step

DATASETS = ("digits", "shapes", "npz", "folder", "csv", "mnist", "fashion_mnist", "cifar10",
            "cifar100")
FILE_SETS = ("npz", "folder", "csv")
FLIPS = ("", "horizontal", "vertical", "horizontal_and_vertical")
LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy",
          "binary_crossentropy", "mean_squared_error", "mean_absolute_error", "huber",
          "multibox", "yolo")  # the last two: detection heads (builder.training.tasks)


class _SampleLoader(QObject):
    """Reads a few samples on a worker thread (numpy, a file, maybe Keras' cache)."""

    done = Signal(object)

    def __init__(self, spec: dict[str, Any], count: int):
        super().__init__()
        self.spec, self.count = spec, count

    def run(self) -> None:
        try:
            from builder.training.datasets import sources  # noqa: PLC0415
            from builder.training.datasets.prepare import check_spec  # noqa: PLC0415

            name = check_spec(self.spec)
            x, y, _, _, names = sources.BUILTIN[name](dict(self.spec, name=name))
            self.done.emit((x[: self.count], y[: self.count], names, len(x)))
        except Exception as exc:  # noqa: BLE001 - shown to the user in one line
            self.done.emit(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def image_pixmap(sample, size: int = 56) -> QPixmap:
    """A sample as a grey or colour thumbnail, its values stretched to 0..255."""
    import numpy as np  # noqa: PLC0415

    a = np.asarray(sample, dtype=np.float32)
    if a.ndim == 1:  # a feature vector: show it as a row
        a = a[None, :, None]
    if a.ndim == 2:
        a = a[..., None]
    lo, hi = float(a.min()), float(a.max())
    a = ((a - lo) / (hi - lo or 1.0) * 255).astype(np.uint8)
    h, w, c = a.shape
    if c == 1:
        img = QImage(np.ascontiguousarray(a[..., 0]).data, w, h, w, QImage.Format_Grayscale8)
    else:
        rgb = np.ascontiguousarray(a[..., :3])
        img = QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888)
    return QPixmap.fromImage(img.copy()).scaled(size, size, Qt.KeepAspectRatio,
                                                Qt.FastTransformation)


class SetupView(QWidget):
    """Data | optimizer | schedule + preview | run options, bound to a document."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = None
        self._loading = False
        self._thread: QThread | None = None
        row = QHBoxLayout(self)
        row.addWidget(self._data_box(), 3)
        row.addWidget(self._optimizer_box(), 2)
        row.addWidget(self._schedule_box(), 4)
        row.addWidget(self._run_box(), 3)
        self.options: dict[str, Any] | None = None
        # The device menu starts as "auto, cpu" and grows with the GPUs a cheap
        # child probe finds (no Keras in the editor); Detect asks Keras itself.
        self._gpu_probe = probe_gpus(self, self._gpus_probed)

    # -- building --------------------------------------------------------------

    def _data_box(self) -> QGroupBox:
        box = QGroupBox("Data")
        form = QFormLayout()
        self.dataset = QComboBox()
        self.dataset.addItems(DATASETS)
        self.dataset.setToolTip("digits and shapes ship with the product; mnist, "
                                "fashion_mnist, cifar10/100 come from Keras' cache or a "
                                "download; npz, folder and csv read your files.")
        self.path = QLineEdit()
        self.path.setPlaceholderText("file or folder (npz, folder, csv)")
        browse = QPushButton("…")
        browse.setFixedWidth(28)
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path)
        path_row.addWidget(browse)
        self.val_split = QDoubleSpinBox()
        self.val_split.setRange(0.0, 0.9)
        self.val_split.setSingleStep(0.05)
        self.limit = QSpinBox()
        self.limit.setRange(0, 10**7)
        self.limit.setSpecialValueText("all")
        self.flip = QComboBox()
        self.flip.addItems([f or "none" for f in FLIPS])
        self.crop = QSpinBox()
        self.crop.setRange(0, 64)
        self.crop.setSuffix(" px")
        self.rotation = QDoubleSpinBox()
        self.rotation.setRange(0.0, 0.5)
        self.rotation.setSingleStep(0.02)
        self.rotation.setToolTip("Fraction of a full turn, either way. Segmentation masks "
                                 "and boxes turn, flip and shift with their images.")
        form.addRow("dataset", self.dataset)
        form.addRow("path", path_row)
        form.addRow("validation split", self.val_split)
        form.addRow("limit samples", self.limit)
        form.addRow("flip", self.flip)
        form.addRow("random crop", self.crop)
        form.addRow("rotation", self.rotation)
        self.dataset.currentTextChanged.connect(self._edit("dataset"))
        self.flip.currentTextChanged.connect(self._edit("augment flip"))
        self.path.editingFinished.connect(self._edit("dataset path"))
        for w, name in ((self.val_split, "validation_split"), (self.limit, "limit"),
                        (self.crop, "augment crop"), (self.rotation, "augment rotation")):
            w.valueChanged.connect(self._edit(name))
        self.preview_button = QPushButton("Preview samples")
        self.preview_button.clicked.connect(self.load_samples)
        self.samples = QHBoxLayout()
        self.samples.setSpacing(2)
        self.samples_note = QLabel("")
        self.samples_note.setWordWrap(True)
        v = QVBoxLayout(box)
        v.addLayout(form)
        v.addWidget(self.preview_button)
        v.addLayout(self.samples)
        v.addWidget(self.samples_note)
        v.addStretch(1)
        return box

    def _optimizer_box(self) -> QGroupBox:
        box = QGroupBox("Optimizer")
        v = QVBoxLayout(box)
        self.optimizer = QComboBox()
        self.optimizer.addItems(OPTIMIZERS)
        self.optimizer.currentTextChanged.connect(self._optimizer_changed)
        self.optimizer_form = FieldForm()
        self.optimizer_form.edited.connect(lambda key: self._edited(f"optimizer {key}"))
        v.addWidget(self.optimizer)
        v.addWidget(self.optimizer_form)
        self.lr_test = LRRangeTest()
        self.lr_test.project_source = self._snapshot
        self.lr_test.use_rate.connect(self.use_rate)
        v.addWidget(self.lr_test, 1)
        return box

    def _snapshot(self):
        from builder.core.project import dumps_project, loads_project  # noqa: PLC0415

        return loads_project(dumps_project(self.document.project))

    def use_rate(self, rate: float) -> None:
        """Sets the optimizer's learning rate (the range test's suggestion)."""
        editor = self.optimizer_form.editors.get("learning_rate")
        if editor is not None:
            editor.setText(f"{rate:.3g}")
            self._edited("optimizer learning_rate")

    def _schedule_box(self) -> QGroupBox:
        box = QGroupBox("Learning-rate schedule")
        v = QVBoxLayout(box)
        top = QHBoxLayout()
        self.schedule = QComboBox()
        self.schedule.addItems(SCHEDULES)
        self.schedule.currentTextChanged.connect(self._schedule_changed)
        top.addWidget(self.schedule)
        self.steps_label = QLabel()
        top.addWidget(self.steps_label, 1)
        v.addLayout(top)
        self.schedule_form = FieldForm()
        self.schedule_form.edited.connect(lambda key: self._edited(f"schedule {key}"))
        v.addWidget(self.schedule_form)
        self.preview = plot("Learning rate over the planned run", "rate", "optimizer step",
                            legend=False)
        self.preview_curve = self.preview.plot([], [], pen=pen("#1f77b4", 2))
        v.addWidget(self.preview, 1)
        self.problem = QLabel()
        self.problem.setStyleSheet("color: #b00020")
        self.problem.setWordWrap(True)
        v.addWidget(self.problem)
        return box

    def _run_box(self) -> QGroupBox:
        box = QGroupBox("Run")
        form = QFormLayout(box)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 100000)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 65536)
        self.backend = QComboBox()
        self.backend.addItems(available_backends() or ["tensorflow"])
        self.device = QComboBox()
        self.device.addItems(device_choices(0))
        self.device.setToolTip("auto: a GPU when one is found. The run checks the choice.")
        self.mixed = QCheckBox("mixed float16 (GPU)")
        self.early = QSpinBox()
        self.early.setRange(0, 1000)
        self.early.setSpecialValueText("off")
        self.early.setToolTip("Early stopping patience on val_loss (epochs)")
        form.addRow("epochs", self.epochs)
        form.addRow("batch size", self.batch_size)
        form.addRow("backend", self.backend)
        self.detect_button = QPushButton("Detect")
        self.detect_button.setToolTip("Ask Keras (in a child process) which backends, "
                                      "GPUs and precisions this machine offers")
        self.detect_button.clicked.connect(self.detect)
        device_row = QHBoxLayout()
        device_row.addWidget(self.device, 1)
        device_row.addWidget(self.detect_button)
        form.addRow("device", device_row)
        self.options_note = QLabel("")
        self.options_note.setWordWrap(True)
        form.addRow(self.options_note)
        form.addRow("precision", self.mixed)
        form.addRow("early stop", self.early)
        for w, name in ((self.epochs, "epochs"), (self.batch_size, "batch_size"),
                        (self.early, "early_stopping")):
            w.valueChanged.connect(self._edit(name))
        self.backend.currentTextChanged.connect(self._edit("backend"))
        self.device.currentTextChanged.connect(self._edit("device"))
        self.mixed.toggled.connect(self._edit("mixed_precision"))
        self.heads_form = QFormLayout()
        heads = QWidget()
        heads.setLayout(self.heads_form)
        form.addRow(QLabel("<b>Loss per output</b>"))
        form.addRow(heads)
        self.head_editors: dict[str, tuple[QComboBox, QDoubleSpinBox]] = {}
        return box

    # -- binding -----------------------------------------------------------------

    def set_document(self, document) -> None:
        """Shows ``document``'s settings; edits go to its history."""
        self.document = document
        self.load()

    def load(self) -> None:
        """Fills every editor from the project (no edit is recorded)."""
        if self.document is None:
            return
        p = self.document.project
        t, d = p.training, p.dataset
        self._loading = True
        try:
            self.dataset.setCurrentText(d.get("name") or ("digits" if not d.get("path")
                                                          else self.dataset.currentText()))
            self.path.setText(str(d.get("path") or ""))
            self.val_split.setValue(float(d.get("validation_split", 0.2)))
            self.limit.setValue(int(d.get("limit") or 0))
            aug = d.get("augment") or {}
            self.flip.setCurrentIndex(FLIPS.index(aug.get("flip") or "")
                                      if (aug.get("flip") or "") in FLIPS else 0)
            self.crop.setValue(int(aug.get("crop") or 0))
            self.rotation.setValue(float(aug.get("rotation") or 0.0))
            opt = t.get("optimizer") or {}
            self.optimizer.setCurrentText(opt.get("name", "adam"))
            self.optimizer_form.set_fields(OPTIMIZER_FIELDS[self.optimizer.currentText()], opt)
            sched = t.get("schedule") or {}
            self.schedule.setCurrentText(sched.get("name", "constant"))
            self.schedule_form.set_fields(SCHEDULE_FIELDS[self.schedule.currentText()], sched)
            self.epochs.setValue(int(t.get("epochs", 10)))
            self.batch_size.setValue(int(t.get("batch_size", 32)))
            self.backend.setCurrentText(t.get("backend", "tensorflow"))
            self._show_device(str(t.get("device", "auto")))
            self.mixed.setChecked(bool(t.get("mixed_precision", False)))
            es = t.get("early_stopping") or {}
            self.early.setValue(int(es.get("patience", 5)) if t.get("early_stopping") else 0)
            self._load_heads()
        finally:
            self._loading = False
        self.redraw_preview()

    def _load_heads(self) -> None:
        while self.heads_form.rowCount():
            self.heads_form.removeRow(0)
        self.head_editors = {}
        nodes = self.document.graph.nodes.values()
        if any(n.kind == "RCNNDetections" for n in nodes):
            # A two-stage detector's Outputs are its inference results; the run trains
            # the R-CNN losses on the dataset's boxes (and masks), whatever they say.
            masks = any(n.kind == "RCNNMasks" for n in nodes)
            note = QLabel("Two-stage detector: trained with its own losses (RPN "
                          "objectness and box, classifier, box regression"
                          + (", mask" if masks else "") + ") on the dataset's boxes"
                          + (" and masks" if masks else "") + ".")
            note.setWordWrap(True)
            self.heads_form.addRow(note)
            return
        outputs = [n for n in nodes if n.kind == "Output"]
        for node in outputs:
            loss = QComboBox()
            loss.addItems(LOSSES)
            loss.setCurrentText(node.params.get("loss", LOSSES[0]))
            weight = QDoubleSpinBox()
            weight.setRange(0.0, 100.0)
            weight.setSingleStep(0.1)
            weight.setValue(float(node.params.get("loss_weight", 1.0)))
            weight.setToolTip("Weight of this head's loss in the total "
                              "(GoogLeNet's auxiliary heads: 0.3)")
            loss.currentTextChanged.connect(
                lambda v, nid=node.id: self._set_head(nid, "loss", v))
            weight.valueChanged.connect(
                lambda v, nid=node.id: self._set_head(nid, "loss_weight", float(v)))
            row = QHBoxLayout()
            row.addWidget(loss, 1)
            if len(outputs) > 1:
                row.addWidget(weight)
            self.heads_form.addRow(node.label if hasattr(node, "label") else node.id, row)
            self.head_editors[node.id] = (loss, weight)

    def _set_head(self, node_id: str, key: str, value: Any) -> None:
        if self._loading or self.document is None:
            return
        if self.document.graph.nodes[node_id].params.get(key) != value:
            self.document.history.set_param(node_id, key, value)

    def _optimizer_changed(self, name: str) -> None:
        if self._loading:
            return
        self.optimizer_form.set_fields(OPTIMIZER_FIELDS[name], {})
        self._edited("optimizer")

    def _schedule_changed(self, name: str) -> None:
        if self._loading:
            return
        self.schedule_form.set_fields(SCHEDULE_FIELDS[name], {})
        self._edited("schedule")

    def _browse(self) -> None:
        if self.dataset.currentText() == "folder":
            path = QFileDialog.getExistingDirectory(self, "Image folder (one subfolder a class)")
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Dataset file",
                                                  filter="Data (*.npz *.csv);;All files (*)")
        if path:
            self.path.setText(path)
            self._edited("dataset path")

    # -- reading the editors --------------------------------------------------------

    def training_settings(self) -> dict[str, Any]:
        """The training section the editors describe (others' keys kept)."""
        t = copy.deepcopy(self.document.project.training) if self.document else {}
        t["optimizer"] = {"name": self.optimizer.currentText(), **self.optimizer_form.values()}
        schedule = {"name": self.schedule.currentText(), **self.schedule_form.values()}
        if schedule == {"name": "constant"}:
            t.pop("schedule", None)
        else:
            t["schedule"] = schedule
        t["epochs"] = self.epochs.value()
        t["batch_size"] = self.batch_size.value()
        for key, value, default in (("backend", self.backend.currentText(), "tensorflow"),
                                    ("device", self.device.currentText(), "auto"),
                                    ("mixed_precision", self.mixed.isChecked(), False)):
            if value != default or key in t:
                t[key] = value
        if self.early.value():
            t["early_stopping"] = {"monitor": "val_loss", "patience": self.early.value()}
        else:
            t.pop("early_stopping", None)
        return t

    def dataset_settings(self) -> dict[str, Any]:
        """The dataset section the editors describe (others' keys kept)."""
        d = copy.deepcopy(self.document.project.dataset) if self.document else {}
        name = self.dataset.currentText()
        d["name"] = name
        if name in FILE_SETS and self.path.text().strip():
            d["path"] = self.path.text().strip()
        else:
            d.pop("path", None)
        d["validation_split"] = round(self.val_split.value(), 4)
        if self.limit.value():
            d["limit"] = self.limit.value()
        else:
            d.pop("limit", None)
        aug = {k: v for k, v in (("flip", FLIPS[self.flip.currentIndex()]),
                                 ("crop", self.crop.value()),
                                 ("rotation", round(self.rotation.value(), 4))) if v}
        if aug:
            d["augment"] = aug
        else:
            d.pop("augment", None)
        return d

    def _edit(self, name: str):
        """A slot for the editor of the field ``name`` (any signal arguments)."""
        return lambda *_: self._edited(name)

    def _edited(self, name: str | None = None) -> None:
        """Writes the editors to the project: one undo step named after the
        field ``name`` that the user changed (found by comparison when None)."""
        if self._loading or self.document is None:
            return
        project, history = self.document.project, self.document.history
        training, dataset = self.training_settings(), self.dataset_settings()
        step = settings_step(project, {"training": training, "dataset": dataset}, name)
        if step is not None:
            history.push(step)
        self.redraw_preview()
        self.changed.emit()

    # -- preview -------------------------------------------------------------------

    def redraw_preview(self) -> None:
        """Redraws the planned rate curve; shows the first problem of the settings."""
        if self.document is None:
            return
        training, dataset = self.training_settings(), self.dataset_settings()
        spe = estimate_steps_per_epoch(training, dataset)
        epochs = training["epochs"]
        self.steps_label.setText(f"{spe} steps/epoch × {epochs} epochs")
        form_errors = list(self.optimizer_form.errors.values()) + list(
            self.schedule_form.errors.values())
        problems = form_errors + [str(e) for e in validate_training(
            {k: training[k] for k in ("optimizer", "schedule") if k in training})]
        self.problem.setText(problems[0] if problems else "")
        if problems:
            return
        steps, rates = schedule_curve(training, spe, epochs, max_points=600)
        self.preview_curve.setData(steps, rates)
        top = max(rates) if rates else 1.0
        self.preview.getPlotItem().setYRange(0.0, top * 1.08 or 1.0, padding=0)
        self.preview.getPlotItem().setXRange(0, max(steps[-1], 1), padding=0.02)
        self.preview_data = (steps, rates, spe, epochs)

    # -- what this machine offers ---------------------------------------------------

    def detect(self) -> None:
        """Fills backend, device and precision from ``training_options()`` (a child)."""
        self.detect_button.setEnabled(False)
        self.options_note.setText("asking Keras…")
        self._detect_proc = detect_options(self, self._detected)

    def _gpus_probed(self, names: list[str], how: str) -> None:
        if self.options is not None:
            return  # Detect answered first, and Keras knows better
        self._set_devices(device_choices(len(names)), self.device.currentText())
        found = f"{len(names)} GPU{'s' * (len(names) != 1)}"
        self.options_note.setText(
            (f"{found} seen by nvidia-smi ({', '.join(names)})" if names
             else f"no GPU found ({how})") + "; Detect asks Keras")

    def _set_devices(self, choices: list[str], current: str) -> None:
        """Refills the device menu, keeping ``current`` (a project may name a
        device this machine lacks; it stays as it is, and the run checks it)."""
        was_loading, self._loading = self._loading, True
        try:
            self.device.clear()
            self.device.addItems(choices)
            self._show_device(current)
        finally:
            self._loading = was_loading

    def _show_device(self, device: str) -> None:
        if self.device.findText(device) < 0:
            self.device.addItem(device)
        self.device.setCurrentText(device)

    def _detected(self, options: Any) -> None:
        self.detect_button.setEnabled(True)
        if not isinstance(options, dict):
            self.options_note.setText(f"could not ask: {options}")
            return
        self.options = options
        self._loading = True
        try:
            backend, device = self.backend.currentText(), self.device.currentText()
            self.backend.clear()
            self.backend.addItems(options["backends"])
            self.backend.setCurrentText(backend)
            self._set_devices(list(options["devices"]) + ["gpu"] * (options["gpus"] > 0),
                              device)
            self.mixed.setEnabled(bool(options["mixed_precision"]))
        finally:
            self._loading = False
        gpus = options["gpus"]
        self.options_note.setText(f"{gpus} GPU{'s' * (gpus != 1)} found; "
                                  f"backends: {', '.join(options['backends'])}")

    # -- samples -------------------------------------------------------------------

    def load_samples(self, count: int = 8) -> None:
        """Loads a few samples on a worker thread and shows them with their labels."""
        if self._thread is not None:
            return
        self.samples_note.setText("loading…")
        self.preview_button.setEnabled(False)
        self._thread = QThread(self)
        self._loader = _SampleLoader(self.dataset_settings(), count)
        self._loader.moveToThread(self._thread)
        self._thread.started.connect(self._loader.run)
        self._loader.done.connect(self._samples_loaded)
        self._thread.start()

    def _samples_loaded(self, result: Any) -> None:
        self._thread.quit()
        self._thread.wait()
        self._thread = None
        self.preview_button.setEnabled(True)
        while self.samples.count():
            item = self.samples.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        if isinstance(result, str):
            self.samples_note.setText(result)
            return
        x, y, names, total = result
        for sample, label in zip(x, y):
            cell = QVBoxLayout()
            pic = QLabel()
            pic.setPixmap(image_pixmap(sample))
            text = QLabel(names[int(label)] if 0 <= int(label) < len(names) else str(label))
            text.setAlignment(Qt.AlignHCenter)
            holder = QWidget()
            holder.setLayout(cell)
            cell.setContentsMargins(0, 0, 0, 0)
            cell.addWidget(pic)
            cell.addWidget(text)
            self.samples.addWidget(holder)
        self.samples.addStretch(1)
        shape = tuple(x.shape[1:])
        self.samples_note.setText(f"{total} samples of {shape}, {len(names)} classes")
        self.sample_labels = [int(v) for v in y]

"""The results tab: confusion matrix, top-5 predictions, feature maps, export,
and predictions on an image file.

The Keras work happens in child processes (``inspect_worker``, ``builder
export`` and ``builder predict``) started with ``QProcess``, so the editor never
imports TensorFlow and never waits on it. Detection and segmentation runs show
their validation samples with boxes, labels and masks drawn by
:mod:`builder.training.drawing` (in the worker), as ``builder predict`` draws them.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtCore import QProcess, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from builder.gui.training.setup import image_pixmap

#: What ``builder export`` writes (builder.training.export.FORMATS, which imports Keras).
EXPORT_FORMATS = {"keras": ".keras", "savedmodel": "", "onnx": ".onnx", "tflite": ".tflite",
                  "python": ".py"}
SHOWN = 8        # predictions shown
FEATURES = 16    # feature-map channels shown
PICTURE = 240    # side of the drawn prediction of an image file
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff);;All files (*)"


def rgb_pixmap(picture, size: int) -> QPixmap:
    """An ``(H, W, 3)`` uint8 picture as a pixmap fitting ``size`` (colours kept)."""
    import numpy as np  # noqa: PLC0415

    a = np.ascontiguousarray(np.asarray(picture, dtype=np.uint8)[..., :3])
    h, w = a.shape[:2]
    img = QImage(a.data, w, h, 3 * w, QImage.Format_RGB888)
    return QPixmap.fromImage(img.copy()).scaled(size, size, Qt.KeepAspectRatio,
                                                Qt.SmoothTransformation)


def _child(program_args: list[str], on_done, parent) -> QProcess:
    proc = QProcess(parent)
    proc.setProgram(sys.executable)
    proc.setArguments(program_args)
    root = str(Path(__file__).resolve().parents[3])
    env = proc.processEnvironment()
    if env.isEmpty():
        from PySide6.QtCore import QProcessEnvironment  # noqa: PLC0415

        env = QProcessEnvironment.systemEnvironment()
    env.insert("PYTHONPATH", root + (":" + env.value("PYTHONPATH") if env.value("PYTHONPATH")
                                     else ""))
    env.insert("TF_CPP_MIN_LOG_LEVEL", "3")
    proc.setProcessEnvironment(env)
    proc.finished.connect(lambda code, _status: on_done(proc, code))
    proc.start()
    return proc


class ResultsView(QWidget):
    """Analyses one run's best model in a child process and shows what it found.

    Signals:
        analysed(object): the loaded arrays (a dict) or an error string.
    """

    analysed = Signal(object)
    predicted = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.runs: list = []
        self.result: dict[str, Any] | None = None
        self.prediction: dict[str, Any] | None = None
        self._proc: QProcess | None = None
        self._predict_proc: QProcess | None = None
        self._predictions = 0
        self._export_proc: QProcess | None = None
        self.last_export_code: int | None = None
        self._tmp = Path(tempfile.mkdtemp(prefix="kb-results-"))
        bar = QHBoxLayout()
        self.run_box = QComboBox()
        self.run_box.setMinimumWidth(320)
        self.analyse_button = QPushButton("Analyse run")
        self.analyse_button.clicked.connect(lambda: self.analyse())
        self.layer_box = QComboBox()
        self.layer_box.setToolTip("Conv layer whose feature maps are shown")
        self.layer_box.activated.connect(lambda _: self.analyse(self.layer_box.currentText()))
        self.note = QLabel("Pick a run and press Analyse: confusion matrix, top-5 "
                           "predictions and feature maps of its best model.")
        bar.addWidget(QLabel("run"))
        bar.addWidget(self.run_box)
        bar.addWidget(self.analyse_button)
        bar.addWidget(QLabel("feature maps of"))
        bar.addWidget(self.layer_box)
        bar.addWidget(self.note, 1)

        self.confusion = QTableWidget()
        self.confusion.setEditTriggers(QTableWidget.NoEditTriggers)
        self.confusion.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.confusion.verticalHeader().setSectionResizeMode(QHeaderView.Stretch)
        conf_box = QGroupBox("Confusion matrix (rows: true class, columns: predicted)")
        QVBoxLayout(conf_box).addWidget(self.confusion)
        self.conf_box = conf_box
        self.pred_grid = QGridLayout()
        pred_box = QGroupBox("Predictions on validation samples (top-5)")
        pred_box.setLayout(self.pred_grid)
        self.pred_box = pred_box
        self.feature_grid = QGridLayout()
        self.feature_grid.setSpacing(2)
        feat_box = QGroupBox("Feature maps")
        feat_box.setLayout(self.feature_grid)
        row = QHBoxLayout()
        row.addWidget(conf_box, 3)
        row.addWidget(pred_box, 4)
        row.addWidget(feat_box, 3)
        row.addWidget(self._predict_box(), 3)
        row.addWidget(self._export_box(), 2)
        v = QVBoxLayout(self)
        v.addLayout(bar)
        v.addLayout(row, 1)

    def _predict_box(self) -> QGroupBox:
        box = QGroupBox("Predict on an image")
        v = QVBoxLayout(box)
        self.predict_button = QPushButton("Predict on image file…")
        self.predict_button.setToolTip("builder predict in a child process: the run's best "
                                       "model on a picture, resized and normalised as its "
                                       "dataset was; top-5, class overlay or boxes drawn")
        self.predict_button.clicked.connect(lambda: self.predict_file())
        self.predict_picture = QLabel()
        self.predict_picture.setAlignment(Qt.AlignCenter)
        self.predict_picture.setMinimumSize(120, 120)
        self.predict_list = QPlainTextEdit()
        self.predict_list.setReadOnly(True)
        self.predict_list.setMaximumHeight(110)
        self.predict_note = QLabel("")
        self.predict_note.setWordWrap(True)
        v.addWidget(self.predict_button)
        v.addWidget(self.predict_picture, 1)
        v.addWidget(self.predict_note)
        v.addWidget(self.predict_list)
        return box

    def _export_box(self) -> QGroupBox:
        box = QGroupBox("Export")
        v = QVBoxLayout(box)
        self.format_box = QComboBox()
        self.format_box.addItems(list(EXPORT_FORMATS))
        self.format_box.setToolTip("keras, SavedModel, ONNX, TFLite, or a Python script "
                                   "that rebuilds and trains the model; each is reloaded "
                                   "and checked against Keras")
        self.export_path = QLineEdit()
        self.export_path.setPlaceholderText("output file or folder")
        browse = QPushButton("…")
        browse.setFixedWidth(28)
        browse.clicked.connect(self._browse_export)
        path_row = QHBoxLayout()
        path_row.addWidget(self.export_path)
        path_row.addWidget(browse)
        self.export_button = QPushButton("Export")
        self.export_button.clicked.connect(lambda: self.export())
        self.export_log = QPlainTextEdit()
        self.export_log.setReadOnly(True)
        v.addWidget(self.format_box)
        v.addLayout(path_row)
        v.addWidget(self.export_button)
        v.addWidget(self.export_log, 1)
        return box

    def set_runs(self, runs: list) -> None:
        """The runs offered (newest first); keeps the current choice."""
        current = self.run_box.currentText()
        self.runs = [r for r in runs if (r.path / "best.keras").is_file()
                     or (r.path / "last.keras").is_file()]
        self.run_box.clear()
        self.run_box.addItems([r.name for r in self.runs])
        if current:
            self.run_box.setCurrentText(current)

    def current_run(self):
        i = self.run_box.currentIndex()
        return self.runs[i] if 0 <= i < len(self.runs) else None

    # -- analysis -----------------------------------------------------------------------

    def analyse(self, layer: str | None = None) -> bool:
        """Starts the worker on the chosen run (returns at once)."""
        run = self.current_run()
        if run is None or self._proc is not None:
            return False
        out = self._tmp / f"{run.name}.npz"
        args = ["-m", "builder.gui.training.inspect_worker", str(run.path), str(out)]
        if layer:
            args.append(layer)
        self.note.setText(f"analysing {run.name} (Keras starts in a child process)…")
        self.analyse_button.setEnabled(False)
        self._proc = _child(args, lambda p, code: self._analysed(p, code, out), self)
        return True

    def _analysed(self, proc: QProcess, code: int, out: Path) -> None:
        self._proc = None
        self.analyse_button.setEnabled(True)
        err = bytes(proc.readAllStandardError()).decode(errors="replace").strip()
        if code != 0 or not out.is_file():
            message = err.splitlines()[-1] if err else f"exit status {code}"
            try:
                message = json.loads(message)["error"]
            except (ValueError, KeyError, TypeError):
                pass
            self.note.setText(f"analysis failed: {message}")
            self.analysed.emit(message)
            return
        import numpy as np  # noqa: PLC0415

        with np.load(out) as data:
            result = {k: data[k] for k in data.files}
        self.result = result
        self.show_result(result)
        self.analysed.emit(result)

    def show_result(self, r: dict[str, Any]) -> None:
        names = [str(n) for n in r["class_names"]]
        task = str(r["task"]) if "task" in r else "classification"
        if task == "classification":
            self.note.setText(f"validation accuracy {float(r['accuracy']):.4f} on "
                              f"{int(r['confusion'].sum())} samples")
            self.pred_box.setTitle("Predictions on validation samples (top-5)")
            self._show_predictions(r, names)
        else:
            self.note.setText(f"{task} run: its predictions on {len(r['drawn'])} "
                              "validation samples")
            self.pred_box.setTitle(f"Predictions on validation samples ({task})")
            self._show_drawn(r["drawn"], [str(c) for c in r["captions"]])
        self._show_confusion(r["confusion"], names if task == "classification" else [])
        # A confusion matrix is a classifier's; other tasks give its room to the samples.
        self.conf_box.setVisible(task == "classification")
        layers = [str(n) for n in r["conv_layers"]]
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        self.layer_box.addItems(layers)
        self.layer_box.setCurrentText(str(r["feature_layer"]))
        self.layer_box.blockSignals(False)
        self._show_features(r["features"])

    def _show_confusion(self, m, names: list[str]) -> None:
        n = len(names)
        self.confusion.setRowCount(n)
        self.confusion.setColumnCount(n)
        self.confusion.setHorizontalHeaderLabels(names)
        self.confusion.setVerticalHeaderLabels(names)
        peak = max(1, int(m.max())) if m.size else 1
        for i in range(n):
            for j in range(n):
                value = int(m[i, j])
                item = QTableWidgetItem(str(value) if value else "")
                item.setTextAlignment(Qt.AlignCenter)
                shade = int(255 - 170 * value / peak)
                base = QColor(shade, shade + (255 - shade) // 3, 255) if i == j else QColor(
                    255, shade, shade)
                item.setBackground(QBrush(base if value else QColor("white")))
                self.confusion.setItem(i, j, item)

    def _clear(self, grid: QGridLayout) -> None:
        while grid.count():
            w = grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()

    def _show_predictions(self, r: dict[str, Any], names: list[str]) -> None:
        self._clear(self.pred_grid)
        for k in range(min(SHOWN, len(r["labels"]))):
            pic = QLabel()
            pic.setPixmap(image_pixmap(r["images"][k], 48))
            true = int(r["labels"][k])
            lines = []
            for c, p in zip(r["top_classes"][k], r["top_probs"][k]):
                text = f"{names[int(c)]}: {float(p):.2f}"
                lines.append(f"<b>{text}</b>" if int(c) == true else text)
            ok = int(r["top_classes"][k][0]) == true
            head = (f"<span style='color:{'#1b7f3b' if ok else '#b00020'}'>true "
                    f"{names[true]}</span>")
            label = QLabel(head + "<br>" + "<br>".join(lines))
            label.setTextFormat(Qt.RichText)
            label.setStyleSheet("font-size: 8pt")
            row, col = divmod(k, 4)
            self.pred_grid.addWidget(pic, row * 1, col * 2)
            self.pred_grid.addWidget(label, row * 1, col * 2 + 1)

    def _show_drawn(self, pictures, captions: list[str]) -> None:
        """Pictures with boxes / overlays drawn by the worker, captions as tooltips."""
        self._clear(self.pred_grid)
        for k, (picture, caption) in enumerate(zip(pictures[:SHOWN], captions)):
            pic = QLabel()
            pic.setPixmap(rgb_pixmap(picture, 120))
            pic.setToolTip(caption)
            row, col = divmod(k, 4)
            self.pred_grid.addWidget(pic, row, col)

    # -- predict on an image file ------------------------------------------------------

    def predict_file(self, path: str | None = None) -> bool:
        """Runs ``builder predict RUN IMAGE -o PNG --json`` in a child (returns at once);
        without ``path`` a file dialog asks for the image."""
        run = self.current_run()
        if run is None:
            self.predict_note.setText("Choose a run with a trained model first.")
            return False
        if self._predict_proc is not None:
            return False
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Predict on image", "", IMAGE_FILTER)
            if not path:
                return False
        self._predictions += 1
        out = self._tmp / f"predict-{self._predictions}.png"
        self.predict_note.setText(f"predicting {Path(path).name} with {run.name} "
                                  "(Keras starts in a child process)…")
        self.predict_button.setEnabled(False)
        self._predict_proc = _child(
            ["-m", "builder", "predict", str(run.path), str(path), "-o", str(out), "--json"],
            lambda p, code: self._predicted(p, code, out, path), self)
        return True

    def _predicted(self, proc: QProcess, code: int, out: Path, path: str) -> None:
        from builder.training.predict import result_lines  # noqa: PLC0415 - numpy only

        self._predict_proc = None
        self.predict_button.setEnabled(True)
        stdout = bytes(proc.readAllStandardOutput()).decode(errors="replace")
        err = bytes(proc.readAllStandardError()).decode(errors="replace")
        try:
            report = json.loads(stdout) if code == 0 else None
        except ValueError:
            report = None
        if not isinstance(report, dict) or not out.is_file():
            lines = [ln for ln in err.splitlines() if ln.startswith("builder predict:")]
            message = (lines[-1].removeprefix("builder predict:").strip() if lines else
                       f"exit status {code}")
            self.predict_note.setText(f"prediction failed: {message}")
            self.predict_list.setPlainText("")
            self.predict_picture.clear()
            self.predicted.emit(message)
            return
        self.prediction = report
        (image,) = report["images"]
        self.predict_picture.setPixmap(QPixmap(str(out)).scaled(
            PICTURE, PICTURE, Qt.KeepAspectRatio, Qt.SmoothTransformation))
        self.predict_picture.setToolTip(str(out))
        found = result_lines(image)
        self.predict_note.setText(f"{Path(path).name}: {report['task']} with "
                                  f"{report['model']}" + ("" if found or report["task"] in
                                                         ("classification", "segmentation")
                                                         else " — no detections above the "
                                                         "score threshold"))
        self.predict_list.setPlainText("\n".join(found))
        self.predicted.emit(report)

    def _show_features(self, features) -> None:
        self._clear(self.feature_grid)
        if features.ndim != 3 or not features.size:
            return
        for c in range(min(FEATURES, features.shape[-1])):
            pic = QLabel()
            pic.setPixmap(image_pixmap(features[..., c], 44))
            pic.setToolTip(f"channel {c}")
            self.feature_grid.addWidget(pic, c // 4, c % 4)

    # -- export ---------------------------------------------------------------------------

    def _browse_export(self) -> None:
        fmt = self.format_box.currentText()
        if fmt == "savedmodel":
            path = QFileDialog.getExistingDirectory(self, "SavedModel folder")
        else:
            path, _ = QFileDialog.getSaveFileName(self, "Export to",
                                                  filter=f"*{EXPORT_FORMATS[fmt]}")
        if path:
            self.export_path.setText(path)

    def export(self, fmt: str | None = None, path: str | None = None) -> bool:
        """Runs ``builder export RUN --format FMT -o PATH`` in a child process."""
        run = self.current_run()
        fmt = fmt or self.format_box.currentText()
        path = path or self.export_path.text().strip()
        if run is None or not path or self._export_proc is not None:
            self.export_log.setPlainText("Choose a run and an output path first.")
            return False
        self.export_log.setPlainText(f"exporting {run.name} as {fmt}…")
        self.export_button.setEnabled(False)
        self.last_export_code = None
        self._export_proc = _child(["-m", "builder", "export", str(run.path), "--format", fmt,
                             "-o", path], self._exported, self)
        return True

    def _exported(self, proc: QProcess, code: int) -> None:
        self._export_proc = None
        self.export_button.setEnabled(True)
        out = bytes(proc.readAllStandardOutput()).decode(errors="replace").strip()
        err = bytes(proc.readAllStandardError()).decode(errors="replace").strip()
        lines = [ln for ln in (out + "\n" + err).splitlines()
                 if ln.strip() and not ln.startswith(("I0000", "W0000", "E0000", "WARNING:"))]
        self.export_log.setPlainText(("done\n" if code == 0 else f"failed ({code})\n")
                                     + "\n".join(lines[-8:]))
        self.last_export_code = code

"""The lecture's layer table for the current graph, totals, and memory fit."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from builder.analysis import memory
from builder.analysis.summary import binary_size, short, summarize
from builder.gui.text import shape_text

COLUMNS = ("layer", "type", "output", "memory", "weights", "params", "MACs", "RF")


def _rf(rf) -> str:
    if rf is None:
        return "-"
    if rf == "global":
        return "all"
    return str(rf[0]) if rf[0] == rf[1] else f"{rf[0]}×{rf[1]}"


class SummaryPanel(QWidget):
    """Layer table with totals; memory for a batch size and precision.

    Redraws at most every 150 ms while edits stream in, and only while shown.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.document = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.setAlternatingRowColors(True)
        self.totals = QLabel()
        self.totals.setWordWrap(True)
        self.totals.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.batch = QSpinBox()
        self.batch.setRange(1, 1 << 20)
        self.batch.setValue(32)
        self.precision = QComboBox()
        self.precision.addItems(list(memory.PRECISIONS))
        self.budget = QDoubleSpinBox()
        self.budget.setRange(0.25, 1024)
        self.budget.setValue(16)
        self.budget.setSuffix(" GB")
        self.training = QCheckBox("training (Adam)")
        self.training.setChecked(True)
        self.fit = QLabel()
        self.fit.setWordWrap(True)
        row = QHBoxLayout()
        for label, widget in (("batch", self.batch), ("", self.precision),
                              ("GPU", self.budget)):
            if label:
                row.addWidget(QLabel(label))
            row.addWidget(widget)
        row.addWidget(self.training)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.totals)
        layout.addLayout(row)
        layout.addWidget(self.fit)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.redraw)
        for signal in (self.batch.valueChanged, self.precision.currentIndexChanged,
                       self.budget.valueChanged, self.training.toggled):
            signal.connect(self.update_memory)
        self._analysis = None

    def set_document(self, document) -> None:
        """Shows ``document``'s table."""
        self.document = document
        self.schedule()

    def schedule(self, *args) -> None:
        """Asks for a redraw soon (many edits in a row redraw once)."""
        if not self._timer.isActive():
            self._timer.start()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.schedule()

    def redraw(self) -> None:
        """Rebuilds the table and totals from the current analysis."""
        if self.document is None or not self.isVisible():
            return
        graph = self.document.graph
        analysis = self.document.analyzer.analysis
        self._analysis = analysis
        summary = summarize(graph, analysis)
        table = self.table
        table.setUpdatesEnabled(False)
        table.setRowCount(len(summary.rows))
        right = Qt.AlignRight | Qt.AlignVCenter
        for r, row in enumerate(summary.rows):
            mem = short(row.activations)
            weights = f"{row.weights_formula} = {row.weights:,}" if row.weights else "0"
            cells = (row.name, row.label, shape_text(row.output_shape), mem, weights,
                     f"{row.params:,}", short(row.flops, 3), _rf(row.receptive_field))
            for c, text in enumerate(cells):
                item = table.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    if c in (3, 5, 6):
                        item.setTextAlignment(right)
                    table.setItem(r, c, item)
                if item.text() != text:
                    item.setText(text)
        table.setUpdatesEnabled(True)
        fwd = summary.forward_bytes
        errors = sum(1 for d in summary.diagnostics if d.is_error)
        self.totals.setText(
            f"<b>Total params:</b> {summary.total_params:,} (trainable "
            f"{summary.trainable_params:,}, non-trainable {summary.non_trainable_params:,})"
            f"<br><b>Multiply-adds:</b> {short(summary.flops, 3)} per image · "
            f"<b>Activations:</b> {short(summary.activations)} per image = "
            f"{binary_size(fwd)} forward, ~{binary_size(fwd * 2)} with backward"
            + (f"<br><span style='color:#d93025'>{errors} error(s): see the red nodes"
               "</span>" if errors else ""))
        self.update_memory()

    def update_memory(self, *args) -> None:
        """Recomputes the memory line for the chosen batch, precision and GPU."""
        if self._analysis is None:
            return
        totals = self._analysis.totals
        precision = self.precision.currentText()
        training = self.training.isChecked()
        est = memory.estimate(totals.params, totals.activations, self.batch.value(),
                              precision, training=training)
        budget = self.budget.value()
        best = memory.largest_batch(totals.params, totals.activations, budget * memory.GIB,
                                    precision, training=training)
        ok = est.fits(budget * memory.GIB)
        best_text = f"{best:,}" if best < 2 ** 31 - 1 else "any"

        colour = "#2e7d32" if ok else "#d93025"
        self.fit.setText(
            f"<span style='color:{colour}'><b>Batch {est.batch}, {precision}: "
            f"{memory.verdict(est, budget)}</b></span> — weights {binary_size(est.weights)}, "
            f"activations {binary_size(est.activations)}. Largest batch that fits: "
            f"<b>{best_text}</b>")

"""The code view: the Python source ``to_source`` writes, read-only and copyable.

Generating it imports Keras, so it happens on demand in a worker thread and
never at start-up; the result arrives through a queued Qt signal.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget


class _Bridge(QObject):
    done = Signal(int, str, str)  # generation, source, error


class CodeView(QWidget):
    """Read-only source of the current graph with Generate and Copy buttons."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.document = None
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.text.setPlaceholderText("Press Generate to write the Keras code of this graph.")
        self.status = QLabel()
        self.generate_button = QPushButton("Generate")
        self.copy_button = QPushButton("Copy")
        self.generate_button.clicked.connect(self.generate)
        self.copy_button.clicked.connect(self.copy)
        row = QHBoxLayout()
        row.addWidget(self.generate_button)
        row.addWidget(self.copy_button)
        row.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(self.text)
        self._bridge = _Bridge()
        self._bridge.done.connect(self._finished)
        self._generation = 0
        self.thread: threading.Thread | None = None

    def set_document(self, document) -> None:
        """Forgets the code of the previous document."""
        self.document = document
        self._generation += 1
        self.text.clear()
        self.status.clear()

    def generate(self) -> None:
        """Starts writing the source of a snapshot of the graph in a worker thread."""
        if self.document is None:
            return
        self._generation += 1
        generation = self._generation
        snapshot = self.document.graph.copy()
        self.status.setText("Writing code (loading Keras the first time)…")

        def work() -> None:
            try:
                from builder import to_source

                self._bridge.done.emit(generation, to_source(snapshot), "")
            except Exception as exc:  # shown in the panel, never a crash
                self._bridge.done.emit(generation, "", f"{type(exc).__name__}: {exc}")

        self.thread = threading.Thread(target=work, name="to_source", daemon=True)
        self.thread.start()

    def _finished(self, generation: int, source: str, error: str) -> None:
        if generation != self._generation:
            return  # the graph changed documents meanwhile
        if error:
            self.status.setText(error.splitlines()[0])
        else:
            self.text.setPlainText(source)
            self.status.setText(f"{source.count(chr(10))} lines")

    def copy(self) -> None:
        """Puts the source on the clipboard."""
        QGuiApplication.clipboard().setText(self.text.toPlainText())

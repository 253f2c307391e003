"""A form drawn from a table of :class:`builder.training.config.Field` rows.

The optimizer and schedule tables describe every key (kind, default, range,
meaning); this widget turns one table into labelled editors and reports the
values that differ from the defaults, which is what the project file keeps.
"""

from __future__ import annotations

from typing import Any, Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)


def number_text(value: Any) -> str:
    """A float as the shortest text that reads back the same (``1e-07``, ``0.9``)."""
    if value is None:
        return ""
    return repr(float(value)) if abs(float(value)) >= 1e-4 or value == 0 else f"{value:g}"


class FieldForm(QWidget):
    """Editors for one optimizer's or schedule's keys.

    Signals:
        edited(str): emitted with the field's key after the user changes a value.
    """

    edited = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.layout_ = QFormLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.fields: Sequence = ()
        self.editors: dict[str, QWidget] = {}
        self.errors: dict[str, str] = {}

    def set_fields(self, fields: Sequence, values: dict[str, Any]) -> None:
        """Rebuilds the editors for ``fields`` showing ``values`` (defaults elsewhere)."""
        while self.layout_.rowCount():
            self.layout_.removeRow(0)
        self.fields, self.editors, self.errors = tuple(fields), {}, {}
        # Keys the project spells out stay spelled out, even at their default.
        self.explicit = {f.key for f in fields if f.key in values}
        for f in self.fields:
            value = values.get(f.key, f.default)
            editor = self._editor(f, value)
            editor.setToolTip(f"{f.doc}\nAllowed: {f.range_text()}. Default: {f.default!r}.")
            self.editors[f.key] = editor
            self.layout_.addRow(f.key.replace("_", " "), editor)

    def _editor(self, f, value: Any) -> QWidget:
        def emit(_=None, key=f.key):
            self.edited.emit(key)

        if f.kind == "bool":
            w = QCheckBox()
            w.setChecked(bool(value))
            w.toggled.connect(emit)
        elif f.kind == "choice":
            w = QComboBox()
            w.addItems([str(c) for c in f.choices])
            w.setCurrentText(str(value))
            w.currentTextChanged.connect(emit)
        elif f.kind == "int":
            w = QSpinBox()
            w.setRange(int(f.low) if f.low is not None else -10**6, 10**6)
            w.setValue(int(value if value is not None else 0))
            w.valueChanged.connect(emit)
        else:
            w = QLineEdit(number_text(value))
            w.setPlaceholderText("off" if f.optional else "")
            w.textEdited.connect(emit)
        return w

    def values(self) -> dict[str, Any]:
        """The keys whose value differs from the default (or that the project
        spelled out); text that is not a
        number is left out and recorded in :attr:`errors`."""
        out: dict[str, Any] = {}
        self.errors = {}
        for f in self.fields:
            w = self.editors[f.key]
            if f.kind == "bool":
                value: Any = w.isChecked()
            elif f.kind == "choice":
                value = w.currentText()
            elif f.kind == "int":
                value = w.value()
            else:
                text = w.text().strip()
                if not text:
                    value = None
                else:
                    try:
                        value = float(text)
                    except ValueError:
                        self.errors[f.key] = (f"Expected {f.key} to be {f.range_text()}. "
                                              f"Received: {text!r}")
                        continue
            if value != f.default or f.key in self.explicit:
                out[f.key] = value
        return out

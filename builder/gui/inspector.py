"""The inspector: a form generated from the selected node's param spec.

Edits apply as the user types (``History.set_param`` merges keystrokes into one
step) and a field losing focus seals the step, so undo takes back one field's
edit at a time. The form follows the model: an undo refreshes the fields.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from builder.gui import edits
from builder.gui.text import parse_value, shape_text, value_text

_INT_MAX = 2 ** 31 - 1
_TEXT_TYPES = {"int", "float", "str", "int_or_pair", "padding", "shape", "int_list",
               "str_list", "cropping", "float_list", "params"}


def _summary(value) -> str:
    if isinstance(value, dict) and isinstance(value.get("nodes"), list):
        return f"{len(value['nodes'])} layers inside (expand to edit them)"
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "…"
_BAD = "QLineEdit { background: #fdecea; }"


class Inspector(QScrollArea):
    """Shows and edits one node; empty when none or several are selected."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.document = None
        self.node_id: str | None = None
        self.editors: dict[str, QWidget] = {}
        self._updating = False
        self._body = QWidget()
        self._layout = QVBoxLayout(self._body)
        self._layout.setAlignment(Qt.AlignTop)
        self.setWidget(self._body)
        self._show_nothing()

    def set_document(self, document) -> None:
        """Follows ``document``'s graph (and forgets the previous one)."""
        if self.document is not None:
            self.document.graph.events.disconnect(self._on_event)
        self.document = document
        document.graph.events.connect(self._on_event)
        self.show_node(None)

    def show_node(self, node_id: str | None) -> None:
        """Builds the form of ``node_id`` (``None``: a hint instead)."""
        self.node_id = node_id if node_id in (self.document.graph if self.document else {}) \
            else None
        self._clear()
        if self.node_id is None:
            self._show_nothing()
            return
        graph = self.document.graph
        node = graph.nodes[self.node_id]
        spec = graph.kinds.get(node.kind)
        title = QLabel(f"<b>{node.kind}</b> <span style='color:#69727d'>{spec.category}</span>")
        doc = QLabel(spec.doc)
        doc.setWordWrap(True)
        doc.setStyleSheet("color: #69727d;")
        self._layout.addWidget(title)
        self._layout.addWidget(doc)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        name = QLineEdit(node.name or "")
        name.setPlaceholderText(node.id)
        name.setToolTip("The Keras layer name (empty: the node id).")
        name.textEdited.connect(lambda text: self._rename(text))
        self.editors["__name__"] = name
        form.addRow("name", name)
        for param in spec.params:
            editor = self._editor(param, node.params.get(param.name))
            editor.setToolTip(param.doc)
            self.editors[param.name] = editor
            label = QLabel(param.name)
            label.setToolTip(param.doc)
            form.addRow(label, editor)
        self._layout.addLayout(form)
        self._diagnostics = QVBoxLayout()
        self._layout.addLayout(self._diagnostics)
        self.refresh_diagnostics()

    # -- editors -------------------------------------------------------------

    def _editor(self, param, value) -> QWidget:
        key = param.name
        if param.type == "int" and not param.optional:
            box = QSpinBox()
            box.setRange(int(param.min) if param.min is not None else -_INT_MAX,
                         int(param.max) if param.max is not None else _INT_MAX)
            box.setValue(value if isinstance(value, int) else 0)
            box.setKeyboardTracking(True)
            box.valueChanged.connect(lambda v, k=key: self._set(k, int(v)))
            box.editingFinished.connect(self._seal)
            return box
        if param.type == "bool":
            box = QCheckBox()
            box.setChecked(bool(value))
            box.toggled.connect(lambda v, k=key: (self._set(k, bool(v)), self._seal()))
            return box
        if param.type == "choice":
            box = QComboBox()
            for choice in param.choices:
                box.addItem("none" if choice is None else str(choice), choice)
            index = box.findData(value)
            box.setCurrentIndex(index if index >= 0 else -1)
            box.activated.connect(lambda i, k=key, b=box: (self._set(k, b.itemData(i)),
                                                          self._seal()))
            return box
        if param.type not in _TEXT_TYPES:
            # A kind's structured param (a Group's sub-graph): shown, not typed.
            shown = QLabel(_summary(value))
            shown.setWordWrap(True)
            shown.setStyleSheet("color: #69727d;")
            return shown
        line = QLineEdit(value_text(value))
        if param.optional:
            line.setPlaceholderText("none")
        line.textEdited.connect(lambda text, p=param, w=line: self._typed(p, w, text))
        line.editingFinished.connect(self._seal)
        return line

    def _typed(self, param, line: QLineEdit, text: str) -> None:
        try:
            value = parse_value(text, param.type, param.optional)
        except ValueError:
            line.setStyleSheet(_BAD)
            line.setToolTip(f"{param.doc}\nCannot read {text!r} as a {param.type}.")
            return
        line.setStyleSheet("")
        line.setToolTip(param.doc)
        self._set(param.name, value)

    def _set(self, key: str, value) -> None:
        if self._updating or self.node_id is None:
            return
        self.document.history.set_param(self.node_id, key, value)

    def _seal(self) -> None:
        if self.document is not None:
            self.document.history.seal()

    def _rename(self, text: str) -> None:
        if self.node_id is not None and not self._updating:
            self.document.history.rename(self.node_id, text.strip() or None)

    # -- following the model -----------------------------------------------------

    def _on_event(self, event) -> None:
        if event.node != self.node_id or self.node_id is None:
            if event.type == "node_removed" and event.node == self.node_id:
                self.show_node(None)
            return
        if event.type == "node_removed":
            self.show_node(None)
        elif event.type == "param_changed":
            self._update_field(event.key, event.new)
        elif event.type == "node_renamed":
            editor = self.editors.get("__name__")
            if editor is not None and editor.text() != (event.new or ""):
                self._updating = True
                editor.setText(event.new or "")
                self._updating = False

    def _update_field(self, key: str, value) -> None:
        editor = self.editors.get(key)
        if editor is None:
            return
        self._updating = True
        try:
            if isinstance(editor, QSpinBox):
                if isinstance(value, int) and editor.value() != value:
                    editor.setValue(value)
            elif isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, QComboBox):
                editor.setCurrentIndex(editor.findData(value))
            elif isinstance(editor, QLineEdit):
                try:
                    same = parse_value(editor.text(), "", True) == value
                except ValueError:
                    same = False
                if not same and value_text(value) != editor.text():
                    editor.setText(value_text(value))
                    editor.setStyleSheet("")
        finally:
            self._updating = False

    def refresh_diagnostics(self) -> None:
        """Lists the node's findings, with a Fix button where one click repairs it."""
        if self.node_id is None or not hasattr(self, "_diagnostics"):
            return
        while self._diagnostics.count():
            widget = self._diagnostics.takeAt(0).widget()
            if widget is not None:
                _drop(widget)
        analysis = self.document.analyzer.analysis
        info = analysis.nodes.get(self.node_id)
        if info is None:
            return
        out = QLabel(f"output <b>{' | '.join(shape_text(s) for s in info.output_shapes) or '?'}"
                     f"</b> · {info.params:,} params · {info.flops:,} MACs")
        out.setWordWrap(True)
        self._diagnostics.addWidget(out)
        found = list(info.diagnostics) + [d for d in analysis.graph_diagnostics
                                          if d.node == self.node_id]
        for diag in found:
            colour = "#d93025" if diag.is_error else "#b7791f"
            text = QLabel(f"<span style='color:{colour}'><b>{diag.severity}</b></span>: "
                          f"{diag.message}" + (f"<br><i>Fix:</i> {diag.fix}" if diag.fix else ""))
            text.setWordWrap(True)
            text.setTextInteractionFlags(Qt.TextSelectableByMouse)
            self._diagnostics.addWidget(text)
            action = edits.fix_action(self.document.history, diag)
            if action is not None:
                button = QPushButton(action[0])
                button.clicked.connect(action[1])
                self._diagnostics.addWidget(button)

    def _clear(self) -> None:
        self.editors = {}
        while self._layout.count():
            entry = self._layout.takeAt(0)
            if entry.widget() is not None:
                _drop(entry.widget())
            elif entry.layout() is not None:
                _delete_layout(entry.layout())

    def _show_nothing(self) -> None:
        hint = QLabel("Select a layer to see and edit its parameters.\n\n"
                      "Drag layers in from the palette; drag from a port to connect.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #69727d;")
        self._layout.addWidget(hint)


def _drop(widget) -> None:
    # Hidden and unparented at once: deleteLater alone leaves it drawn until
    # the event loop gets round to it.
    widget.hide()
    widget.setParent(None)
    widget.deleteLater()


def _delete_layout(layout) -> None:
    while layout.count():
        entry = layout.takeAt(0)
        if entry.widget() is not None:
            _drop(entry.widget())
        elif entry.layout() is not None:
            _delete_layout(entry.layout())

"""The palette: every catalogue kind by category, searchable and draggable, and
the templates gallery."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QColor, QDrag, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from builder.blocks import CATALOG
from builder.gui import style
from builder.gui.canvas.view import KIND_MIME

KIND_ROLE = Qt.UserRole + 1


def kind_icon(category: str, kind: str) -> QIcon:
    """A small badge: the category colour with the kind's initials."""
    pix = QPixmap(22, 22)
    pix.fill(Qt.transparent)
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setBrush(style.category_colour(category))
    painter.setPen(Qt.NoPen)
    painter.drawRoundedRect(1, 1, 20, 20, 4, 4)
    painter.setPen(QColor("white"))
    painter.setFont(style.font(6.5, bold=True))
    initials = "".join(c for c in kind if c.isupper() or c.isdigit())[:3] or kind[:2]
    painter.drawText(pix.rect(), Qt.AlignCenter, initials)
    painter.end()
    return QIcon(pix)


class KindTree(QTreeWidget):
    """The kinds by category; dragging one out carries its name as :data:`KIND_MIME`."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setDragEnabled(True)
        self.setIconSize(QSize(22, 22))
        self.setIndentation(10)
        self.setUniformRowHeights(True)
        self.populate()

    def populate(self) -> None:
        """Lists the catalogue as it is now (kinds registered later appear on call)."""
        self.clear()
        for category, specs in CATALOG.by_category().items():
            top = QTreeWidgetItem(self, [category])
            top.setFlags(Qt.ItemIsEnabled)
            font = top.font(0)
            font.setBold(True)
            top.setFont(0, font)
            for spec in specs:
                doc = spec.doc.split(". ")[0].rstrip(".")
                child = QTreeWidgetItem(top, [spec.kind])
                child.setData(0, KIND_ROLE, spec.kind)
                child.setIcon(0, kind_icon(category, spec.kind))
                child.setToolTip(0, f"{spec.kind} — {spec.doc}")
                child.setStatusTip(0, doc)
                child.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled)
            top.setExpanded(True)

    def mimeData(self, items) -> QMimeData:
        data = QMimeData()
        kinds = [it.data(0, KIND_ROLE) for it in items if it.data(0, KIND_ROLE)]
        if kinds:
            data.setData(KIND_MIME, kinds[0].encode("utf-8"))
            data.setText(kinds[0])
        return data

    def mimeTypes(self) -> list[str]:
        return [KIND_MIME]

    def startDrag(self, actions) -> None:
        item = self.currentItem()
        if item is None or not item.data(0, KIND_ROLE):
            return
        drag = QDrag(self)
        drag.setMimeData(self.mimeData([item]))
        drag.setPixmap(item.icon(0).pixmap(22, 22))
        drag.exec(Qt.CopyAction)

    def filter(self, text: str) -> QTreeWidgetItem | None:
        """Hides kinds not matching ``text``; returns the first match."""
        text = text.strip().lower()
        first = None
        for i in range(self.topLevelItemCount()):
            top = self.topLevelItem(i)
            visible = 0
            for j in range(top.childCount()):
                child = top.child(j)
                kind = child.data(0, KIND_ROLE)
                hit = not text or text in kind.lower() or text in child.toolTip(0).lower() \
                    or text in top.text(0).lower()
                child.setHidden(not hit)
                if hit:
                    visible += 1
                    first = first or child
            top.setHidden(visible == 0)
        return first


class Palette(QWidget):
    """Search box over the kind tree.

    Signals:
        insert_requested: a kind to insert after the selected node (Enter in
            the search box, or a double click).
    """

    insert_requested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search layers… (Enter inserts)")
        self.search.setClearButtonEnabled(True)
        self.tree = KindTree()
        self.doc = QLabel("Drag a layer onto the canvas, or select a node and press "
                          "Enter in the search box to add one after it.")
        self.doc.setWordWrap(True)
        self.doc.setStyleSheet("color: #4a525c; padding: 4px;")
        self.doc.setMinimumHeight(54)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.doc)
        self.tree.currentItemChanged.connect(self._show_doc)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._enter)
        self.tree.itemDoubleClicked.connect(self._double_click)
        self._first = None

    def _show_doc(self, item, previous=None) -> None:
        if item is not None and item.data(0, KIND_ROLE):
            self.doc.setText(f"<b>{item.data(0, KIND_ROLE)}</b>: {item.statusTip(0)}.")

    def _filter(self, text: str) -> None:
        self._first = self.tree.filter(text)
        if self._first is not None:
            self.tree.setCurrentItem(self._first)

    def _enter(self) -> None:
        item = self.tree.currentItem()
        if item is not None and item.isHidden():
            item = None
        item = item or self._first
        if item is not None and item.data(0, KIND_ROLE):
            self.insert_requested.emit(item.data(0, KIND_ROLE))

    def _double_click(self, item, column) -> None:
        if item.data(0, KIND_ROLE):
            self.insert_requested.emit(item.data(0, KIND_ROLE))


class TemplateGallery(QListWidget):
    """Every shipped template with its parameter count and input size.

    Filled the first time it is shown (analysing big templates takes a moment).

    Signals:
        open_requested: the template file to open as a new document.
    """

    open_requested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setSpacing(2)
        self.itemActivated.connect(lambda item: self.open_requested.emit(item.data(KIND_ROLE)))
        self._filled = False

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.fill()

    def fill(self) -> None:
        """Reads and analyses every template (once)."""
        if self._filled:
            return
        self._filled = True
        import builder
        from builder.analysis import analyze
        from builder.gui.text import count_text

        for path in sorted(builder.templates_dir().glob("*.json")):
            try:
                project = builder.load(path)
            except builder.BuilderError as exc:
                item = QListWidgetItem(f"{path.stem}\n(cannot be read: {exc})")
                item.setFlags(Qt.NoItemFlags)
                self.addItem(item)
                continue
            totals = analyze(project.graph).totals
            sizes = ["×".join(str(d) for d in n.params.get("shape") or [])
                     for n in project.graph.nodes.values() if n.kind == "Input"]
            item = QListWidgetItem(f"{project.name or path.stem}\n"
                                   f"{count_text(totals.params)} params · input "
                                   f"{', '.join(sizes) or '?'} · {len(project.graph)} nodes")
            item.setData(KIND_ROLE, str(path))
            item.setToolTip(project.description or path.stem)
            self.addItem(item)

    def paths(self) -> list[Path]:
        """The template files listed."""
        self.fill()
        return [Path(self.item(i).data(KIND_ROLE)) for i in range(self.count())
                if self.item(i).data(KIND_ROLE)]

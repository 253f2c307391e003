"""Mouse interactions of the canvas, each its own class (orange-canvas-core style).

The view hands mouse events to the active interaction until it finishes. An
interaction edits the document only through the history, in one step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from builder.core import GraphError
from builder.gui import style
from builder.gui.canvas.items import NodeItem, PortItem

if TYPE_CHECKING:  # pragma: no cover
    from builder.gui.canvas.view import CanvasView


class Interaction:
    """Base class: receives scene positions; returns ``True`` while it runs."""

    def __init__(self, view: "CanvasView"):
        self.view = view

    def press(self, pos: QPointF, event) -> None:
        """Starts the interaction at ``pos`` (scene coordinates)."""

    def move(self, pos: QPointF, event) -> None:
        """Follows the mouse."""

    def release(self, pos: QPointF, event) -> None:
        """Finishes; the view drops the interaction afterwards."""

    def cancel(self) -> None:
        """Aborts without editing anything (Escape)."""


class NewEdgeInteraction(Interaction):
    """Drag from a port to a port (or a node) to connect them.

    Starting from an input port connects backwards: the node released on
    becomes the source.
    """

    def __init__(self, view: "CanvasView", port: PortItem):
        super().__init__(view)
        self.port = port
        self.line = QGraphicsPathItem()
        self.line.setPen(QPen(style.SELECTED, 1.6, Qt.DashLine))
        self.line.setZValue(5)
        view.scene().addItem(self.line)
        self.start = port.scenePos()

    def move(self, pos: QPointF, event) -> None:
        path = QPainterPath(self.start)
        dy = (pos.y() - self.start.y()) * 0.45
        path.cubicTo(QPointF(self.start.x(), self.start.y() + dy),
                     QPointF(pos.x(), pos.y() - dy), pos)
        self.line.setPath(path)

    def release(self, pos: QPointF, event) -> None:
        self._remove_line()
        target = self.target_at(pos)
        if target is None:
            return
        node_item, port_name = target
        here = self.port.node.node_id
        there = node_item.node_id
        if self.port.is_input:
            src, dst, src_port, dst_port = there, here, port_name, self.port.name
        else:
            src, dst, src_port, dst_port = here, there, self.port.name, port_name
        if src == dst:
            return
        try:
            self.view.history.connect(src, dst, src_port, dst_port)
        except GraphError as exc:
            self.view.report(str(exc))

    def target_at(self, pos: QPointF) -> tuple[NodeItem, str | None] | None:
        """The node (and port, if one is under the mouse) a release at ``pos`` hits."""
        for item in self.view.scene().items(pos):
            if isinstance(item, PortItem) and item.is_input != self.port.is_input:
                return item.node, item.name
            if isinstance(item, NodeItem) and item is not self.port.node:
                return item, None
        return None

    def cancel(self) -> None:
        self._remove_line()

    def _remove_line(self) -> None:
        if self.line.scene() is not None:
            self.line.scene().removeItem(self.line)


class MoveNodesInteraction(Interaction):
    """Qt moves the selected items; on release the moves become one undo step."""

    def __init__(self, view: "CanvasView"):
        super().__init__(view)
        self.start: dict[str, tuple[float, float]] = {}

    def press(self, pos: QPointF, event) -> None:
        self.start = {it.node_id: (it.x(), it.y())
                      for it in self.view.scene().selectedItems() if isinstance(it, NodeItem)}

    def release(self, pos: QPointF, event) -> None:
        scene = self.view.scene()
        moved = []
        for nid in self.start:
            item = scene.nodes.get(nid)
            if item is not None and (item.x(), item.y()) != self.start[nid]:
                moved.append((nid, (round(item.x(), 1), round(item.y(), 1))))
        if not moved:
            return
        history = self.view.history
        with history.macro(f"Move {len(moved)} node{'s' * (len(moved) > 1)}"):
            for nid, pos_ in moved:
                history.move(nid, pos_)
        history.seal()


class PanInteraction(Interaction):
    """Middle-button (or Space + left button) drag scrolls the canvas."""

    def __init__(self, view: "CanvasView"):
        super().__init__(view)
        self.last = None

    def press(self, pos: QPointF, event) -> None:
        self.last = event.position()
        self.view.viewport().setCursor(Qt.ClosedHandCursor)

    def move(self, pos: QPointF, event) -> None:
        delta = event.position() - self.last
        self.last = event.position()
        h, v = self.view.horizontalScrollBar(), self.view.verticalScrollBar()
        h.setValue(h.value() - int(delta.x()))
        v.setValue(v.value() - int(delta.y()))

    def release(self, pos: QPointF, event) -> None:
        self.view.viewport().unsetCursor()

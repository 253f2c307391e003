"""Canvas items: a node box with its ports, and an edge with its tensor shape.

Items draw what they are told (``NodeItem.set_info``) and never edit the
document; interactions and the scene do that through the history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFontMetricsF, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject, QStyleOptionGraphicsItem

from builder.gui import style
from builder.gui.text import count_text, shape_text

if TYPE_CHECKING:  # pragma: no cover
    from builder.analysis import NodeInfo

_FONTS: list = []


def _fonts():
    # Fonts need the QApplication, so they are made on first paint, not on import.
    if not _FONTS:
        title, small = style.font(9.5, bold=True), style.font(8.0)
        _FONTS.extend([title, small, QFontMetricsF(title), QFontMetricsF(small)])
    return _FONTS


class PortItem(QGraphicsItem):
    """One input (top) or output (bottom) port of a node; drag from it to connect."""

    def __init__(self, node: "NodeItem", name: str, is_input: bool, doc: str = ""):
        super().__init__(node)
        self.node = node
        self.name = name
        self.is_input = is_input
        self.setAcceptHoverEvents(True)
        self.setToolTip(f"{'input' if is_input else 'output'} '{name}'"
                        + (f": {doc}" if doc else "") + "\nDrag to connect.")
        self._hover = False
        self.setCursor(Qt.CrossCursor)

    def boundingRect(self) -> QRectF:
        r = style.PORT_RADIUS + 3  # a larger hit area than the dot
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        r = style.PORT_RADIUS + (1.5 if self._hover else 0)
        painter.setPen(QPen(style.NODE_BORDER, 1.2))
        painter.setBrush(style.SELECTED if self._hover else QColor("#ffffff"))
        painter.drawEllipse(QPointF(0, 0), r, r)

    def hoverEnterEvent(self, event) -> None:
        self._hover = True
        self.update()

    def hoverLeaveEvent(self, event) -> None:
        self._hover = False
        self.update()


class NodeItem(QGraphicsObject):
    """A layer box: the lecture's label, output shape and parameter count."""

    def __init__(self, node_id: str, category: str, inputs: Sequence, outputs: Sequence,
                 width: float = style.NODE_WIDTH, height: float = style.NODE_HEIGHT):
        super().__init__()
        self.node_id = node_id
        self.width = width
        self.height = height
        self.stripe = style.category_colour(category)
        self.label = ""
        self.caption = node_id
        self.shape_line = ""
        self.params_line = ""
        self.severity: str | None = None  # None, "warning", "error"
        self.composite = False
        self.info: "NodeInfo | None" = None
        self.edges: list[EdgeItem] = []
        self.inputs = [PortItem(self, p.name, True, p.doc) for p in inputs]
        self.outputs = [PortItem(self, p.name, False, p.doc) for p in outputs]
        self._place_ports()
        self.setFlags(QGraphicsItem.ItemIsSelectable | QGraphicsItem.ItemIsMovable
                      | QGraphicsItem.ItemSendsGeometryChanges)
        self.setAcceptHoverEvents(True)
        self.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
        self.setZValue(1)

    def _place_ports(self) -> None:
        for ports, y in ((self.inputs, 0.0), (self.outputs, self.height)):
            for k, port in enumerate(ports):
                port.setPos(self.width * (k + 1) / (len(ports) + 1), y)

    def port(self, name: str, is_input: bool) -> PortItem | None:
        """The port item called ``name``."""
        for p in self.inputs if is_input else self.outputs:
            if p.name == name:
                return p
        return None

    def port_scene_pos(self, name: str, is_input: bool) -> QPointF:
        """Where an edge attaches, in scene coordinates."""
        port = self.port(name, is_input)
        local = port.pos() if port is not None else QPointF(self.width / 2,
                                                            0 if is_input else self.height)
        return self.mapToScene(local)

    def set_content(self, label: str, caption: str, shape: str, params: str,
                    severity: str | None, tooltip: str) -> None:
        """Redraws with new text (only when something changed)."""
        new = (label, caption, shape, params, severity, tooltip)
        if new == (self.label, self.caption, self.shape_line, self.params_line,
                   self.severity, self.toolTip()):
            return
        self.label, self.caption, self.shape_line, self.params_line, self.severity = new[:5]
        self.setToolTip(tooltip)
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(-2, -2, self.width + 4, self.height + 4)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        rect = QRectF(0, 0, self.width, self.height)
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        error = self.severity == "error"
        border = style.SELECTED if self.isSelected() else (
            style.ERROR if error else style.WARNING if self.severity else style.NODE_BORDER)
        painter.setPen(QPen(border, 2.2 if (self.isSelected() or self.severity) else 1.0))
        painter.setBrush(style.ERROR_FILL if error else style.NODE_FILL)
        if lod < 0.3:  # far out: boxes only, so big graphs pan smoothly
            painter.drawRect(rect)
            painter.fillRect(QRectF(0, 0, 6, self.height), self.stripe)
            return
        painter.setRenderHint(QPainter.Antialiasing, True)
        painter.drawRoundedRect(rect, 5, 5)
        stripe = QPainterPath()
        stripe.addRoundedRect(QRectF(0.5, 0.5, 7, self.height - 1), 4, 4)
        painter.fillPath(stripe, self.stripe)
        if self.composite:
            painter.setPen(QPen(style.MUTED, 1, Qt.DashLine))
            painter.setBrush(Qt.NoBrush)
            painter.drawRoundedRect(rect.adjusted(3, 3, -3, -3), 4, 4)
        _TITLE, _SMALL, _TITLE_FM, _SMALL_FM = _fonts()
        left, right = 14.0, self.width - 8.0
        painter.setFont(_TITLE)
        painter.setPen(style.ERROR if error else style.TEXT)
        title_w = _TITLE_FM.horizontalAdvance(self.label)
        painter.drawText(QPointF(left, 20), self.label)
        painter.setFont(_SMALL)
        painter.setPen(style.MUTED)
        room = right - left - title_w - 8
        if room > 20:
            caption = _SMALL_FM.elidedText(self.caption, Qt.ElideRight, room)
            painter.drawText(QRectF(left + title_w + 8, 8, room, 16),
                             Qt.AlignRight | Qt.AlignVCenter, caption)
        painter.setPen(style.ERROR if error else style.TEXT)
        painter.drawText(QPointF(left, 40), self.shape_line)
        painter.setPen(style.MUTED)
        painter.drawText(QRectF(left, 30, right - left, 16), Qt.AlignRight | Qt.AlignVCenter,
                         self.params_line)

    def itemChange(self, change, value):
        if change == QGraphicsItem.ItemPositionHasChanged:
            for edge in self.edges:
                edge.adjust()
        elif change == QGraphicsItem.ItemSelectedHasChanged:
            self.setZValue(2 if value else 1)
        return super().itemChange(change, value)


class EdgeItem(QGraphicsItem):
    """A tensor from an output port to an input port, labelled with its shape."""

    def __init__(self, edge, src: NodeItem, dst: NodeItem):
        super().__init__()
        self.edge = edge
        self.src = src
        self.dst = dst
        self.label = ""
        self.waypoints: list[QPointF] = []
        self._path = QPainterPath()
        self._label_rect = QRectF()
        self._bounds = QRectF()
        self.setFlags(QGraphicsItem.ItemIsSelectable)
        self.setZValue(0)
        src.edges.append(self)
        dst.edges.append(self)
        self.adjust()

    def detach(self) -> None:
        """Forgets its nodes (before removal from the scene)."""
        for node in (self.src, self.dst):
            if self in node.edges:
                node.edges.remove(self)

    def set_label(self, text: str) -> None:
        """Shows ``text`` (the tensor shape) at the middle of the edge."""
        if text != self.label:
            self.label = text
            self.adjust()

    def adjust(self) -> None:
        """Recomputes the path after a node moved."""
        a = self.src.port_scene_pos(self.edge.src_port, False)
        b = self.dst.port_scene_pos(self.edge.dst_port, True)
        points = [a, *self.waypoints, b]
        path = QPainterPath(a)
        for p, q in zip(points, points[1:]):
            dy = max(abs(q.y() - p.y()) * 0.45, 12.0)
            path.cubicTo(QPointF(p.x(), p.y() + dy), QPointF(q.x(), q.y() - dy), q)
        self.prepareGeometryChange()
        self._path = path
        if self.label:
            w = _fonts()[3].horizontalAdvance(self.label) + 8
            mid = self._label_anchor(points)
            self._label_rect = QRectF(mid.x() + 6, mid.y() - 8, w, 16)
        else:
            self._label_rect = QRectF()
        self._bounds = path.boundingRect().adjusted(-4, -4, 4, 4).united(self._label_rect)

    @staticmethod
    def _label_anchor(points: list[QPointF]) -> QPointF:
        # On the first stretch: the shape leaving the producer, beside the line.
        p, q = points[0], points[1]
        return QPointF(p.x() + (q.x() - p.x()) * 0.15, p.y() + min(19.0, (q.y() - p.y()) / 2))

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        return stroker.createStroke(self._path)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        colour = style.SELECTED if self.isSelected() else style.EDGE
        painter.setRenderHint(QPainter.Antialiasing, lod >= 0.3)
        painter.setPen(QPen(colour, 2.0 if self.isSelected() else 1.3))
        painter.setBrush(Qt.NoBrush)
        painter.drawPath(self._path)
        if lod < 0.45 or not self.label:
            return
        end = self._path.pointAtPercent(1.0)
        arrow = QPainterPath(end)
        arrow.lineTo(end + QPointF(-4, -7))
        arrow.lineTo(end + QPointF(4, -7))
        arrow.closeSubpath()
        painter.fillPath(arrow, colour)
        painter.setPen(Qt.NoPen)
        painter.setBrush(QBrush(QColor(255, 255, 255, 220)))
        painter.drawRoundedRect(self._label_rect, 3, 3)
        painter.setFont(_fonts()[1])
        painter.setPen(style.EDGE_LABEL)
        painter.drawText(self._label_rect, Qt.AlignCenter, self.label)


def shape_line(info: "NodeInfo | None") -> str:
    """The node's second line: its output shape(s)."""
    if info is None or not info.output_shapes:
        return "shape ?"
    return " | ".join(shape_text(s) for s in info.output_shapes)


def params_line(info: "NodeInfo | None") -> str:
    """The node's parameter count, e.g. ``"1.8K params"``; empty for none."""
    if info is None or not info.params:
        return ""
    return f"{count_text(info.params)} params"

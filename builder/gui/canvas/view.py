"""The canvas view: zoom and pan, drops from the palette, keys, and a minimap."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsView, QWidget

from builder.core import GraphError
from builder.gui import edits, style
from builder.gui.canvas.interactions import (
    Interaction,
    MoveNodesInteraction,
    NewEdgeInteraction,
    PanInteraction,
)
from builder.gui.canvas.items import EdgeItem, NodeItem, PortItem
from builder.gui.canvas.scene import GraphScene

#: The MIME type the palette drags: the kind's name as UTF-8.
KIND_MIME = "application/x-keras-builder-kind"

MIN_ZOOM, MAX_ZOOM = 0.05, 3.0
MINIMAP_FROM = 40
PORTS_FROM = 0.3  # zoom below which ports are hidden (too small to grab)  # nodes; smaller graphs fit on screen anyway


class CanvasView(QGraphicsView):
    """Shows a :class:`GraphScene` and turns mouse and keys into history steps.

    Signals:
        message: a one-line report for the status bar (a refused connection).
        node_activated: a node was double-clicked (blocks expand).

    Attributes:
        node_menu: ``(menu, node_id) -> None`` filling a node's context menu.
    """

    message = Signal(str)
    node_activated = Signal(str)

    def __init__(self, scene: GraphScene, parent=None):
        super().__init__(scene, parent)
        self.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.SmartViewportUpdate)
        self.setOptimizationFlags(QGraphicsView.DontSavePainterState)
        self.setDragMode(QGraphicsView.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.StrongFocus)
        self._interaction: Interaction | None = None
        self.node_menu = None
        self.minimap = Minimap(self)
        self.set_scene(scene)

    # -- document ------------------------------------------------------------

    @property
    def history(self):
        """The history of the shown document."""
        return self.scene().document.history

    def set_scene(self, scene: GraphScene) -> None:
        """Shows another document's scene."""
        self.setScene(scene)
        scene.set_detail(self.zoom() >= PORTS_FROM)
        self.minimap.setScene(scene)
        self.update_scene_rect()

    def update_scene_rect(self) -> None:
        """Lets the user scroll a margin beyond the drawing."""
        rect = self.scene().items_rect().adjusted(-400, -300, 400, 300)
        self.setSceneRect(rect)
        self.minimap.setVisible(len(self.scene().nodes) >= MINIMAP_FROM)
        self.minimap.refit()

    def report(self, text: str) -> None:
        """Shows a one-line message in the status bar."""
        self.message.emit(text)

    # -- zoom ------------------------------------------------------------------

    def zoom(self) -> float:
        """The current scale (1.0: 100 %)."""
        return self.transform().m11()

    def set_zoom(self, factor: float) -> None:
        """Zooms to ``factor`` (clamped), keeping the anchor point."""
        factor = max(MIN_ZOOM, min(MAX_ZOOM, factor))
        self.scale(factor / self.zoom(), factor / self.zoom())
        self._zoomed()

    def frame(self, rect: QRectF, max_zoom: float = 1.0, min_zoom: float = 0.9) -> None:
        """Shows ``rect``: fitted if that is readable, else from its top at ``min_zoom``."""
        if rect.isNull():
            return
        view = self.viewport().rect()
        fit = min(view.width() / (rect.width() + 60), view.height() / (rect.height() + 60))
        self.resetTransform()
        scale = max(min(fit, max_zoom), min(min_zoom, max_zoom))
        self.scale(scale, scale)
        if fit >= scale:
            self.centerOn(rect.center())
        else:  # too big to fit readably: start at the top, on the first nodes
            height = view.height() / scale
            top = [it for it in self.scene().nodes.values()
                   if it.sceneBoundingRect().intersects(rect)
                   and it.y() < rect.top() + height]
            x = (sum(it.sceneBoundingRect().center().x() for it in top) / len(top)
                 if top else rect.center().x())
            self.centerOn(QPointF(x, rect.top() - 30 + height / 2))
        self._zoomed()

    def _zoomed(self) -> None:
        self.scene().set_detail(self.zoom() >= PORTS_FROM)
        self.minimap.update()

    def fit_all(self) -> None:
        """Ctrl+0: the whole drawing at any zoom."""
        self.frame(self.scene().items_rect(), max_zoom=1.0, min_zoom=MIN_ZOOM)

    def frame_selection(self) -> None:
        """F: zoom onto the selected nodes (or everything)."""
        items = [it for it in self.scene().selectedItems() if isinstance(it, NodeItem)]
        if not items:
            self.fit_all()
            return
        rect = QRectF()
        for item in items:
            rect = rect.united(item.sceneBoundingRect())
        self.frame(rect, max_zoom=1.5, min_zoom=MIN_ZOOM)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.minimap.refit()

    def wheelEvent(self, event) -> None:
        if event.modifiers() & Qt.ShiftModifier:
            super().wheelEvent(event)
            return
        steps = event.angleDelta().y() / 120.0
        self.set_zoom(self.zoom() * (1.15 ** steps))

    # -- mouse: hand over to interactions --------------------------------------

    def mousePressEvent(self, event) -> None:
        pos = self.mapToScene(event.position().toPoint())
        item = self.itemAt(event.position().toPoint())
        if event.button() == Qt.MiddleButton or (
                event.button() == Qt.LeftButton and event.modifiers() & Qt.AltModifier):
            self._start(PanInteraction(self), pos, event)
            return
        if event.button() == Qt.LeftButton and isinstance(item, PortItem):
            self._start(NewEdgeInteraction(self, item), pos, event)
            return
        super().mousePressEvent(event)
        if event.button() == Qt.LeftButton and isinstance(item, NodeItem):
            self._start(MoveNodesInteraction(self), pos, event)

    def _start(self, interaction: Interaction, pos: QPointF, event) -> None:
        self._interaction = interaction
        interaction.press(pos, event)
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        if isinstance(self._interaction, (NewEdgeInteraction, PanInteraction)):
            self._interaction.move(self.mapToScene(event.position().toPoint()), event)
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        interaction, self._interaction = self._interaction, None
        if not isinstance(interaction, (NewEdgeInteraction, PanInteraction)):
            super().mouseReleaseEvent(event)
        if interaction is not None:
            interaction.release(self.mapToScene(event.position().toPoint()), event)
            self.update_scene_rect()

    def mouseDoubleClickEvent(self, event) -> None:
        item = self.itemAt(event.position().toPoint())
        if isinstance(item, NodeItem):
            self.node_activated.emit(item.node_id)
            return
        super().mouseDoubleClickEvent(event)

    def contextMenuEvent(self, event) -> None:
        item = self.itemAt(event.pos())
        if not isinstance(item, NodeItem) or self.node_menu is None:
            return
        if not item.isSelected():
            self.scene().select([item.node_id])
        from PySide6.QtWidgets import QMenu

        menu = QMenu(self)
        self.node_menu(menu, item.node_id)
        menu.exec(event.globalPos())

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key_Escape and self._interaction is not None:
            self._interaction.cancel()
            self._interaction = None
            return
        super().keyPressEvent(event)

    # -- drops from the palette ------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasFormat(KIND_MIME):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasFormat(KIND_MIME):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        data = event.mimeData()
        if not data.hasFormat(KIND_MIME):
            event.ignore()
            return
        kind = bytes(data.data(KIND_MIME)).decode("utf-8")
        pos = self.mapToScene(event.position().toPoint())
        event.acceptProposedAction()
        self.drop_kind(kind, pos)

    def drop_kind(self, kind: str, pos: QPointF) -> str | None:
        """Adds ``kind`` centred at ``pos``: into an edge dropped on, or after the
        selected node, or on its own. Returns the new id."""
        scene = self.scene()
        edge = next((it.edge for it in scene.items(pos) if isinstance(it, EdgeItem)), None)
        selected = scene.selected_ids()
        top_left = (round(pos.x() - 94, 1), round(pos.y() - 26, 1))
        try:
            nid = edits.insert_node(self.history, kind, top_left, into=edge,
                                    after=None if edge else edits.selected_after(selected))
        except GraphError as exc:
            self.report(str(exc))
            return None
        scene.select([nid])
        self.update_scene_rect()
        return nid


class Minimap(QWidget):
    """The whole drawing in a corner; the visible part framed; click to go there.

    The drawing is rendered into a pixmap once per change of the graph (not on
    every frame), so panning a big graph costs only the canvas' own paint.
    """

    def __init__(self, canvas: CanvasView):
        super().__init__(canvas)
        self.canvas = canvas
        self._scene = None
        self._pixmap = QPixmap()
        self._source = QRectF()
        self._target = QRectF()
        self.setFixedSize(170, 210)
        self.setCursor(Qt.PointingHandCursor)
        self._stale = QTimer(self)
        self._stale.setSingleShot(True)
        self._stale.setInterval(250)
        self._stale.timeout.connect(self.refit)
        canvas.horizontalScrollBar().valueChanged.connect(self.update)
        canvas.verticalScrollBar().valueChanged.connect(self.update)
        self.hide()

    def setScene(self, scene) -> None:
        """Follows ``scene``; re-renders shortly after each analysis refresh."""
        if self._scene is not None:
            try:
                self._scene.analysed.disconnect(self._schedule)
            except (RuntimeError, TypeError):
                pass
        self._scene = scene
        scene.analysed.connect(self._schedule)

    def _schedule(self, *args) -> None:
        if self.isVisible():
            self._stale.start()

    def refit(self) -> None:
        """Re-renders the drawing and sits in the canvas' bottom-right corner."""
        vp = self.canvas.viewport().geometry()
        self.move(vp.right() - self.width() - 8, vp.bottom() - self.height() - 8)
        if self._scene is None or not self.isVisible():
            return
        source = self._scene.items_rect().adjusted(-20, -20, 20, 20)
        scale = min(self.width() / source.width(), self.height() / source.height())
        w, h = source.width() * scale, source.height() * scale
        self._target = QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)
        self._source = source
        pixmap = QPixmap(self.size())
        pixmap.fill(QColor("#f4f5f7"))
        painter = QPainter(pixmap)
        # Boxes in their category colours, at least 3 px, so a tall graph
        # still shows its shape (rendering the scene would draw specks).
        painter.setPen(Qt.NoPen)
        for item in self._scene.nodes.values():
            r = item.sceneBoundingRect()
            x = self._target.x() + (r.x() - source.x()) * scale
            y = self._target.y() + (r.y() - source.y()) * scale
            colour = style.ERROR if item.severity == "error" else item.stripe
            painter.fillRect(QRectF(x, y, max(r.width() * scale, 3), max(r.height() * scale, 1.5)),
                             colour)
        painter.end()
        self._pixmap = pixmap
        self.update()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refit()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._pixmap)
        if not self._source.isEmpty():
            visible = self.canvas.mapToScene(self.canvas.viewport().rect()).boundingRect()
            sx = self._target.width() / self._source.width()
            frame = QRectF(self._target.x() + (visible.x() - self._source.x()) * sx,
                           self._target.y() + (visible.y() - self._source.y()) * sx,
                           visible.width() * sx, visible.height() * sx)
            painter.setPen(QPen(QColor("#2f7ed8"), 1))
            painter.setBrush(QColor(47, 126, 216, 40))
            painter.drawRect(frame.intersected(QRectF(self.rect())))
        painter.setPen(QPen(QColor("#9aa3ad"), 1))
        painter.setBrush(Qt.NoBrush)
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))

    def to_scene(self, point) -> QPointF:
        """The scene point under a minimap point."""
        sx = self._source.width() / max(self._target.width(), 1e-9)
        return QPointF(self._source.x() + (point.x() - self._target.x()) * sx,
                       self._source.y() + (point.y() - self._target.y()) * sx)

    def mousePressEvent(self, event) -> None:
        self.canvas.centerOn(self.to_scene(event.position()))
        self.update()

    def mouseMoveEvent(self, event) -> None:
        self.mousePressEvent(event)

"""The scene: one item per node and edge, kept in step with the document.

It changes only in answer to the graph's events (orange-canvas-core style):
structural events add and remove items at once, and after each history step
(or on the next turn of the event loop, for edits made outside the history)
:meth:`GraphScene.refresh` asks the incremental analyzer for the new analysis
and redraws only the nodes whose analysis changed, plus their outgoing edges.
"""

from __future__ import annotations

from PySide6.QtCore import QLineF, QPointF, QRectF, QTimer, Signal
from PySide6.QtGui import QPainter, QPen
from PySide6.QtWidgets import QGraphicsScene

from builder.analysis.layout import Layout
from builder.core.events import GraphEvent
from builder.gui import style
from builder.gui.canvas.items import EdgeItem, NodeItem, params_line, shape_line
from builder.gui.document import Document
from builder.gui.text import node_label, shape_text


class GraphScene(QGraphicsScene):
    """The items of one document.

    Signals:
        analysed: emitted after each refresh with the current ``Analysis``.
    """

    analysed = Signal(object)

    def __init__(self, document: Document, parent=None):
        super().__init__(parent)
        self.document = document
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[object, EdgeItem] = {}
        self.analysis = None
        self._graph_diags: dict[str, list] = {}
        self._stale_labels: set[str] = set()
        self.ports_shown = True
        self._pending = QTimer(self)
        self._pending.setSingleShot(True)
        self._pending.setInterval(0)
        self._pending.timeout.connect(self.refresh)
        self.setBackgroundBrush(style.BACKGROUND)
        self.setItemIndexMethod(QGraphicsScene.BspTreeIndex)
        self._rebuild()
        document.graph.events.connect(self._on_event)
        document.history.changed.connect(self._on_history)
        self.refresh()

    def detach(self) -> None:
        """Stops following the document (before the scene is dropped)."""
        self.document.graph.events.disconnect(self._on_event)
        self.document.history.changed.disconnect(self._on_history)
        self._pending.stop()

    # -- following the model -------------------------------------------------

    def _on_event(self, event: GraphEvent) -> None:
        kind = event.type
        if kind == "node_added":
            self._add_node(event.node)
        elif kind == "node_removed":
            item = self.nodes.pop(event.node, None)
            if item is not None:
                self.removeItem(item)
        elif kind == "edge_added":
            self._add_edge(event.edge)
        elif kind == "edge_removed":
            item = self.edges.pop(event.edge, None)
            if item is not None:
                item.detach()
                self.removeItem(item)
        elif kind == "node_moved":
            item = self.nodes.get(event.node)
            if item is not None and event.new is not None:
                if (item.pos().x(), item.pos().y()) != tuple(event.new):
                    item.setPos(*event.new)
                    for edge in item.edges:
                        edge.waypoints = []
                        edge.adjust()
        elif kind in ("param_changed", "node_renamed"):
            self._stale_labels.add(event.node)
        elif kind == "graph_reset":
            self._rebuild()
        self._pending.start()

    def _on_history(self, state) -> None:
        self.refresh()

    def _rebuild(self) -> None:
        for item in list(self.nodes.values()):
            self.removeItem(item)
        for item in list(self.edges.values()):
            self.removeItem(item)
        self.nodes.clear()
        self.edges.clear()
        graph = self.document.graph
        for nid in graph.nodes:
            self._add_node(nid)
        for edge in graph.edges:
            self._add_edge(edge)

    def _add_node(self, node_id: str) -> None:
        graph = self.document.graph
        node = graph.nodes[node_id]
        spec = graph.kinds.get(node.kind)
        item = NodeItem(node_id, spec.category, spec.inputs, spec.outputs)
        item.composite = getattr(spec, "expand", None) is not None  # a block of layers
        item.setPos(*(node.pos if node.pos is not None else self._free_spot(node_id)))
        if not self.ports_shown:
            for port in (*item.inputs, *item.outputs):
                port.setVisible(False)
        self.addItem(item)
        self.nodes[node_id] = item
        self._stale_labels.add(node_id)

    def _free_spot(self, node_id: str) -> tuple[float, float]:
        # Below whatever feeds it, or under the lowest node.
        graph = self.document.graph
        feeds = [self.nodes[s] for s in graph.predecessors(node_id) if s in self.nodes]
        if feeds:
            lowest = max(feeds, key=lambda it: it.y())
            return lowest.x(), lowest.y() + style.NODE_HEIGHT + style.V_GAP
        if not self.nodes:
            return 0.0, 0.0
        bottom = max(it.y() for it in self.nodes.values())
        return 0.0, bottom + style.NODE_HEIGHT + style.V_GAP

    def _add_edge(self, edge) -> None:
        src, dst = self.nodes.get(edge.src), self.nodes.get(edge.dst)
        if src is None or dst is None:
            return
        item = EdgeItem(edge, src, dst)
        self.addItem(item)
        self.edges[edge] = item
        self._stale_labels.add(edge.src)

    # -- analysis -> drawing ---------------------------------------------------

    def refresh(self) -> None:
        """Brings labels, shapes, counts and diagnostics up to date.

        Only nodes whose analysis changed (the analyzer hands back the same
        ``NodeInfo`` object for untouched nodes) or whose params or name changed
        are redrawn.
        """
        self._pending.stop()
        analysis = self.document.analyzer.analysis
        if analysis is self.analysis and not self._stale_labels:
            return
        previous = self.analysis.nodes if self.analysis is not None else {}
        if self.analysis is None or analysis.graph_diagnostics is not \
                self.analysis.graph_diagnostics:
            diags: dict[str, list] = {}
            for d in analysis.graph_diagnostics:
                if d.node is not None:
                    diags.setdefault(d.node, []).append(d)
            changed = set(diags) | set(self._graph_diags)
            self._graph_diags = diags
        else:
            changed = set()
        changed |= self._stale_labels
        self._stale_labels = set()
        for nid, info in analysis.nodes.items():
            if info is not previous.get(nid) or nid in changed:
                self._draw_node(nid, info)
        self.analysis = analysis
        self.analysed.emit(analysis)

    def _draw_node(self, nid: str, info) -> None:
        item = self.nodes.get(nid)
        if item is None:
            return
        node = self.document.graph.nodes[nid]
        spec = self.document.graph.kinds.get(node.kind)
        item.info = info
        diagnostics = list(info.diagnostics) + self._graph_diags.get(nid, [])
        severity = None
        if any(d.is_error for d in diagnostics):
            severity = "error"
        elif diagnostics:
            severity = "warning"
        tip = [f"{node.label} ({node.kind}): {spec.doc}"]
        for d in diagnostics:
            tip.append(f"\n{d.severity.upper()}: {d.message}")
            if d.fix:
                tip.append(f"Fix: {d.fix}")
        item.set_content(node_label(spec, node.params), node.label, shape_line(info),
                         params_line(info), severity, "\n".join(tip))
        shapes = info.output_shapes
        names = [p.name for p in spec.outputs]
        labelled = set()
        for edge_item in item.edges:
            if edge_item.src is item:
                port = edge_item.edge.src_port
                k = names.index(port) if port in names else 0
                text = shape_text(shapes[k]) if k < len(shapes) else "?"
                edge_item.setToolTip(f"{edge_item.edge.src} → {edge_item.edge.dst}: {text}")
                # One label per output port: a fork's edges carry the same tensor,
                # and labels side by side would overlap.
                edge_item.set_label("" if port in labelled else text)
                labelled.add(port)

    # -- geometry --------------------------------------------------------------

    def set_detail(self, ports: bool) -> None:
        """Shows or hides the ports: far out they are specks that cost a Python
        paint call each (1000 on ResNet-152), so zoomed out they are hidden."""
        if ports == self.ports_shown:
            return
        self.ports_shown = ports
        for item in self.nodes.values():
            for port in (*item.inputs, *item.outputs):
                port.setVisible(ports)

    def node_size(self, node_id: str) -> tuple[float, float]:
        """The box size of a node (what auto-layout lays out)."""
        item = self.nodes.get(node_id)
        return (item.width, item.height) if item is not None else (
            style.NODE_WIDTH, style.NODE_HEIGHT)

    def set_routes(self, layout: Layout) -> None:
        """Routes long edges through the layout's way-points."""
        graph = self.document.graph
        for edge, points in zip(graph.edges, layout.edge_points):
            item = self.edges.get(edge)
            if item is not None:
                # Way-points are box centres of the skipped layers; ports sit on edges.
                item.waypoints = [QPointF(x, y) for x, y in points]
                item.adjust()

    def items_rect(self) -> QRectF:
        """The bounding rectangle of all nodes (empty scene: a default page)."""
        rect = QRectF()
        for item in self.nodes.values():
            rect = rect.united(item.sceneBoundingRect())
        return rect if not rect.isNull() else QRectF(0, 0, 400, 300)

    def selected_ids(self) -> list[str]:
        """Ids of the selected nodes, in document order."""
        chosen = {it.node_id for it in self.selectedItems() if isinstance(it, NodeItem)}
        return [nid for nid in self.document.graph.nodes if nid in chosen]

    def select(self, ids) -> None:
        """Selects exactly the nodes ``ids``."""
        ids = set(ids)
        self.clearSelection()
        for nid in ids:
            item = self.nodes.get(nid)
            if item is not None:
                item.setSelected(True)

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        super().drawBackground(painter, rect)
        scale = painter.worldTransform().m11()
        if scale < 0.5:
            return
        step = 24.0
        painter.setRenderHint(QPainter.Antialiasing, False)  # crisp and cheap
        painter.setPen(QPen(style.GRID, 0))
        left = int(rect.left() // step) * step
        top = int(rect.top() // step) * step
        x = left
        lines = []
        while x < rect.right():
            lines.append(QLineF(x, rect.top(), x, rect.bottom()))
            x += step
        y = top
        while y < rect.bottom():
            lines.append(QLineF(rect.left(), y, rect.right(), y))
            y += step
        painter.drawLines(lines)

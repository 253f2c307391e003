"""The window's editing commands: insert, delete, clipboard, find, layout, blocks.

A mixin of :class:`builder.gui.main_window.MainWindow`, kept apart so each
module stays small; every command is one step of the document's history.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF
from PySide6.QtGui import QGuiApplication

from builder.core import GraphError
from builder.gui import blocks, edits, style


class EditingMixin:
    """Edit commands; expects ``document``, ``scene``, ``view`` and ``show_error``."""

    def insert_after_selection(self, kind: str) -> str | None:
        """Enter in the palette search: the kind goes after the selected node."""
        selected = self.scene.selected_ids()
        after = edits.selected_after(selected)
        if after is not None:
            item = self.scene.nodes[after]
            pos = QPointF(item.x() + item.width / 2,
                          item.y() + item.height * 1.5 + style.V_GAP)
        else:
            pos = self.view.mapToScene(self.view.viewport().rect().center())
        return self.view.drop_kind(kind, pos)

    def delete_selection(self) -> None:
        """Delete: the selected nodes, or else the selected connections."""
        ids = self.scene.selected_ids()
        if ids:
            edits.delete_nodes(self.document.history, ids)
        else:
            from builder.gui.canvas.items import EdgeItem

            chosen = [it.edge for it in self.scene.selectedItems() if isinstance(it, EdgeItem)]
            edits.delete_edges(self.document.history, chosen)

    def copy(self) -> None:
        """Ctrl+C: the selected nodes as JSON text on the clipboard."""
        ids = self.scene.selected_ids()
        if ids:
            QGuiApplication.clipboard().setText(edits.copy_nodes(self.document.history, ids))

    def paste(self) -> list[str]:
        """Ctrl+V: the clipboard's nodes, selected afterwards."""
        try:
            ids = edits.paste_nodes(self.document.history, QGuiApplication.clipboard().text())
        except GraphError as exc:
            self.show_error(str(exc))
            return []
        self.scene.select(ids)
        return ids

    def duplicate(self) -> list[str]:
        """Ctrl+D."""
        ids = edits.duplicate_nodes(self.document.history, self.scene.selected_ids())
        self.scene.select(ids)
        return ids

    def select_all(self) -> None:
        """Ctrl+A."""
        self.scene.select(self.document.graph.nodes)

    def focus_find(self) -> None:
        """Ctrl+F: the find box."""
        self.find_box.setFocus()
        self.find_box.selectAll()

    def find(self, text: str) -> list[str]:
        """Selects and frames the nodes whose id, name, kind or label contains ``text``."""
        text = text.strip().lower()
        if not text:
            return []
        hits = [nid for nid, item in self.scene.nodes.items()
                if text in nid.lower() or text in item.label.lower()
                or text in self.document.graph.nodes[nid].kind.lower()
                or text in item.caption.lower()]
        self.scene.select(hits)
        if hits:
            self.view.frame_selection()
        self.statusBar().showMessage(f"{len(hits)} layer(s) match '{text}'", 5000)
        return hits

    def auto_layout(self) -> None:
        """Ctrl+L: a layered layout, as one undo step."""
        layout = edits.auto_layout(self.document.history, self.scene.node_size,
                                   style.H_GAP, style.V_GAP)
        self.scene.set_routes(layout)
        self.view.update_scene_rect()
        self.view.fit_all()

    def expand_block(self, node_id: str | None = None) -> list[str]:
        """Expands a block (residual block, stage, group) in place, one level."""
        node_id = node_id or self._single_selected()
        if node_id is None or not blocks.is_block(self.document.history, node_id):
            self.statusBar().showMessage("Select one block to expand.", 5000)
            return []
        try:
            ids = blocks.expand(self.document.history, node_id, self.scene.analysis,
                                self.scene.node_size, style.V_GAP, style.H_GAP)
        except GraphError as exc:
            self.show_error(str(exc))
            return []
        self.scene.select(ids)
        self.view.update_scene_rect()
        return ids

    def collapse_block(self, node_id: str | None = None) -> str | None:
        """Folds the layers of an expanded block back into one block."""
        node_id = node_id or self._single_selected()
        return self._grouping(lambda: blocks.collapse(self.document.history, node_id or ""))

    def group_selection(self) -> str | None:
        """Ctrl+G: the selected layers become one Group block."""
        ids = self.scene.selected_ids()
        return self._grouping(lambda: blocks.group(self.document.history, ids))

    def ungroup(self) -> list[str]:
        """Ctrl+Shift+G: a Group's layers back on the canvas."""
        return self.expand_block()

    def _grouping(self, make) -> str | None:
        try:
            gid = make()
        except GraphError as exc:
            self.show_error(str(exc))
            return None
        self.scene.select([gid])
        self.view.update_scene_rect()
        return gid

    def _single_selected(self) -> str | None:
        ids = self.scene.selected_ids()
        return ids[0] if len(ids) == 1 else None

"""The main window: palette | canvas | inspector and summary, a bottom dock for
training, menus, toolbar, status bar, files, autosave and recovery."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QWidget,
)

import builder
from builder.core import BuilderError
from builder.core.project import Project
from builder.gui import blocks, edits, files, style
from builder.gui.canvas.scene import GraphScene
from builder.gui.canvas.view import CanvasView
from builder.gui.code_view import CodeView
from builder.gui.document import Document
from builder.gui.inspector import Inspector
from builder.gui.palette import Palette, TemplateGallery
from builder.gui.window_edits import EditingMixin
from builder.gui.summary_panel import SummaryPanel
from builder.gui.text import count_text
from builder.analysis.summary import binary_size

AUTOSAVE_MS = 30_000
FILTER = "Keras Builder projects (*.json);;All files (*)"


def prepare(document: Document, scene_size=None) -> object | None:
    """Lays out a freshly opened graph whose nodes have no positions yet.

    Returns:
        The layout (for edge routes) when one was made, else ``None``.
    """
    graph = document.graph
    if graph.nodes and any(n.pos is None for n in graph.nodes.values()):
        size = scene_size or (lambda nid: (style.NODE_WIDTH, style.NODE_HEIGHT))
        return edits.auto_layout(document.history, size, style.H_GAP, style.V_GAP,
                                 undoable=False)
    return None


class MainWindow(EditingMixin, QMainWindow):
    """One document in a window.

    Args:
        document: what to show; an empty document when omitted.
        recovery: where autosaves go (tests pass one in a temporary folder).
    """

    def __init__(self, document: Document | None = None, recovery: files.Recovery | None = None,
                 *, remember_layout: bool = True):
        super().__init__()
        self.remember_layout = remember_layout
        self.setObjectName("MainWindow")
        self.recovery = recovery or files.Recovery()
        self.last_error = ""
        self.document: Document | None = None
        self.scene: GraphScene | None = None
        self._build_widgets()
        self._build_actions()
        from builder.gui.training import install  # noqa: PLC0415 - the bottom dock's panel

        install(self)
        self.set_document(document or Document())
        self._autosave = QTimer(self)
        self._autosave.setInterval(AUTOSAVE_MS)
        self._autosave.timeout.connect(self.autosave)
        self._autosave.start()
        if remember_layout:
            self.restore_layout()

    # -- construction ----------------------------------------------------------

    def _build_widgets(self) -> None:
        self.resize(1500, 920)
        self.palette_widget = Palette()
        self.templates = TemplateGallery()
        left = QTabWidget()
        left.addTab(self.palette_widget, "Layers")
        left.addTab(self.templates, "Templates")
        self.inspector = Inspector()
        self.summary = SummaryPanel()
        self.code = CodeView()
        right = QTabWidget()
        right.addTab(self.inspector, "Inspector")
        right.addTab(self.summary, "Summary")
        right.addTab(self.code, "Code")
        self.right_tabs = right
        right.currentChanged.connect(self._tab_changed)
        self.training_area = QWidget()
        self.training_area.setObjectName("training_area")
        self.docks = {}
        for name, title, widget, area in (
                ("palette", "Palette", left, Qt.LeftDockWidgetArea),
                ("details", "Details", right, Qt.RightDockWidgetArea),
                ("training", "Training", self.training_area, Qt.BottomDockWidgetArea)):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"{name}_dock")
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self.docks[name] = dock
        self.default_dock_sizes()
        self.docks["training"].hide()  # filled by the training panel
        self.view: CanvasView | None = None
        self.totals_label = QLabel()
        self.zoom_label = QLabel()
        self.statusBar().addPermanentWidget(self.totals_label)
        self.statusBar().addPermanentWidget(self.zoom_label)
        self.palette_widget.insert_requested.connect(self.insert_after_selection)
        self.templates.open_requested.connect(self.open_template)

    def default_dock_sizes(self) -> None:
        """Palette and details at readable widths, the training area a third of
        the height; the canvas gets the rest."""
        self.resizeDocks([self.docks["palette"], self.docks["details"]], [240, 440],
                         Qt.Horizontal)
        if not self.docks["training"].isHidden():
            self.resizeDocks([self.docks["training"]], [max(220, self.height() // 3)],
                             Qt.Vertical)

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.setStatusTip(tip or text)
        action.triggered.connect(lambda checked=False: slot())
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        a = self.actions_by_name = {}
        a["new"] = self._action("&New", self.new_document, QKeySequence.New)
        a["open"] = self._action("&Open…", self.open_dialog, QKeySequence.Open)
        a["save"] = self._action("&Save", self.save, QKeySequence.Save)
        a["save_as"] = self._action("Save &As…", self.save_as, "Ctrl+Shift+S")
        a["import"] = self._action("&Import Keras model…", self.import_keras_dialog)
        a["quit"] = self._action("&Quit", self.close, QKeySequence.Quit)
        a["undo"] = self._action("&Undo", lambda: self.document.history.undo(), "Ctrl+Z")
        a["redo"] = self._action("&Redo", lambda: self.document.history.redo(),
                                 ["Ctrl+Shift+Z", "Ctrl+Y"])
        a["copy"] = self._action("&Copy", self.copy, "Ctrl+C")
        a["paste"] = self._action("&Paste", self.paste, "Ctrl+V")
        a["duplicate"] = self._action("D&uplicate", self.duplicate, "Ctrl+D")
        a["delete"] = self._action("&Delete", self.delete_selection, ["Delete", "Backspace"])
        a["select_all"] = self._action("Select &All", self.select_all, "Ctrl+A")
        a["find"] = self._action("&Find layer…", self.focus_find, "Ctrl+F")
        a["frame"] = self._action("&Frame selection", lambda: self.view.frame_selection(), "F")
        a["fit"] = self._action("Fit &all", lambda: self.view.fit_all(), "Ctrl+0")
        a["zoom_in"] = self._action("Zoom &in", lambda: self.view.set_zoom(
            self.view.zoom() * 1.25), QKeySequence.ZoomIn)
        a["zoom_out"] = self._action("Zoom &out", lambda: self.view.set_zoom(
            self.view.zoom() / 1.25), QKeySequence.ZoomOut)
        a["layout"] = self._action("Auto-&layout", self.auto_layout, "Ctrl+L")
        a["expand"] = self._action("E&xpand block", self.expand_block, "Ctrl+E",
                                   "Show the layers of the selected block in place")
        a["collapse"] = self._action("C&ollapse block", self.collapse_block, "Ctrl+Shift+E",
                                     "Fold an expanded block's layers back into one block")
        a["group"] = self._action("&Group into a block", self.group_selection, "Ctrl+G")
        a["ungroup"] = self._action("U&ngroup", self.ungroup, "Ctrl+Shift+G")
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        for key in ("new", "open"):
            file_menu.addAction(a[key])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        for key in ("save", "save_as", "import"):
            file_menu.addAction(a[key])
        file_menu.addSeparator()
        file_menu.addAction(a["quit"])
        edit_menu = menus.addMenu("&Edit")
        for key in ("undo", "redo", None, "copy", "paste", "duplicate", "delete", None,
                    "select_all", "find", None, "group", "ungroup", "expand", "collapse"):
            edit_menu.addSeparator() if key is None else edit_menu.addAction(a[key])
        view_menu = menus.addMenu("&View")
        for key in ("frame", "fit", "zoom_in", "zoom_out", None, "layout"):
            view_menu.addSeparator() if key is None else view_menu.addAction(a[key])
        view_menu.addSeparator()
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        for key in ("new", "open", "save", None, "undo", "redo", None, "layout", "fit"):
            toolbar.addSeparator() if key is None else toolbar.addAction(a[key])
        self.find_box = QLineEdit()
        self.find_box.setPlaceholderText("Find layer (Ctrl+F)")
        self.find_box.setMaximumWidth(220)
        self.find_box.returnPressed.connect(lambda: self.find(self.find_box.text()))
        toolbar.addSeparator()
        toolbar.addWidget(self.find_box)
        self._fill_recent()

    # -- documents ---------------------------------------------------------------

    def set_document(self, document: Document) -> None:
        """Shows ``document`` (the previous one is dropped)."""
        layout = prepare(document)
        old_scene, old_doc = self.scene, self.document
        self.document = document
        self.scene = GraphScene(document, self)
        if layout is not None:
            self.scene.set_routes(layout)
        if self.view is None:
            self.view = CanvasView(self.scene)
            self.setCentralWidget(self.view)
            self.view.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
            self.view.node_menu = self._node_menu
            self.view.node_activated.connect(self.expand_block)
        else:
            self.view.set_scene(self.scene)
        if old_scene is not None:
            old_scene.detach()
            old_scene.deleteLater()
        if old_doc is not None:
            old_doc.close()
        self.scene.selectionChanged.connect(self._selection_changed)
        self.scene.analysed.connect(self._analysed)
        document.history.changed.connect(self._history_changed)
        self.inspector.set_document(document)
        self.summary.set_document(document)
        self.code.set_document(document)
        self.training_panel.set_document(document)
        self._analysed(self.scene.analysis)
        self._history_changed(document.history.state)
        # Readable from the top; a big graph's whole shape is in the minimap.
        self.view.frame(self.scene.items_rect())
        QTimer.singleShot(0, lambda: self.view.frame(self.scene.items_rect()))

    def confirm_discard(self) -> str:
        """Asks about unsaved changes: ``"save"``, ``"discard"`` or ``"cancel"``."""
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to {self.document.title.rstrip(' *')}?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        return {QMessageBox.Save: "save", QMessageBox.Discard: "discard"}.get(answer, "cancel")

    def ask_recover(self, path: Path) -> bool:
        """Asks whether to open an autosaved document left by a crash."""
        answer = QMessageBox.question(
            self, "Recover unsaved work",
            "Keras Builder did not close properly last time. Open the autosaved "
            f"document ({path.name})?", QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
        return answer == QMessageBox.Yes

    def show_error(self, text: str) -> None:
        """Reports a one-line error without blocking the window."""
        self.last_error = text
        self.statusBar().showMessage(text, 15000)
        box = QMessageBox(QMessageBox.Warning, "Keras Builder", text, QMessageBox.Ok, self)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()

    def maybe_save(self) -> bool:
        """``True`` when the current document may be replaced or closed."""
        if self.document is None or not self.document.modified:
            return True
        answer = self.confirm_discard()
        if answer == "save":
            return self.save()
        return answer == "discard"

    def new_document(self) -> None:
        """Ctrl+N: an empty document with an Input and an Output to start from."""
        if not self.maybe_save():
            return
        document = Document()
        graph = document.graph
        graph.add_node("Input", pos=(0.0, 0.0))
        graph.add_node("Output", pos=(0.0, 2 * (style.NODE_HEIGHT + style.V_GAP)))
        document.history.clear()
        self.set_document(document)

    def open_path(self, path: str | Path) -> bool:
        """Opens a project file; on error shows the loader's line and keeps the
        current document untouched."""
        if not self.maybe_save():
            return False
        try:
            project = builder.load(path)
        except (BuilderError, OSError) as exc:
            self.show_error(str(exc) if isinstance(exc, BuilderError)
                            else f"Cannot open '{path}': {exc.strerror or exc}")
            return False
        self.set_document(Document(project))
        self._remember(project.path or str(path))
        return True

    def open_template(self, path: str) -> None:
        """Opens a template as a new, unsaved document."""
        if not self.maybe_save():
            return
        try:
            project = builder.load(path)
        except BuilderError as exc:
            self.show_error(str(exc))
            return
        project.path = None
        self.set_document(Document(project))

    def open_dialog(self) -> None:
        """Ctrl+O."""
        path, _ = QFileDialog.getOpenFileName(self, "Open project", "", FILTER)
        if path:
            self.open_path(path)

    def save(self) -> bool:
        """Ctrl+S; asks for a file the first time."""
        if self.document.path is None:
            return self.save_as()
        return self.save_to(self.document.path)

    def save_as(self) -> bool:
        """Ctrl+Shift+S."""
        path, _ = QFileDialog.getSaveFileName(self, "Save project", "", FILTER)
        return self.save_to(path) if path else False

    def save_to(self, path: str | Path) -> bool:
        """Writes the document atomically to ``path``; errors are reported."""
        try:
            builder.save(self.document.project, path)
        except BuilderError as exc:
            self.show_error(str(exc))
            return False
        self.document.recovered = False
        self.document.history.mark_clean()
        self.recovery.discard()
        self._remember(str(path))
        return True

    def import_keras_dialog(self) -> None:
        """Imports a ``.keras`` model through ``builder.from_keras`` (loads Keras)."""
        path, _ = QFileDialog.getOpenFileName(self, "Import Keras model", "",
                                              "Keras models (*.keras *.h5);;All files (*)")
        if path:
            self.import_keras(path)

    def import_keras(self, path: str) -> bool:
        """Makes a new document from a Keras model file."""
        importer = getattr(builder, "from_keras", None)
        if importer is None:
            self.show_error("Importing Keras models is not available in this version.")
            return False
        if not self.maybe_save():
            return False
        QGuiApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            project = importer(path)
        except Exception as exc:  # the importer's one-line error, never a crash
            self.show_error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return False
        finally:
            QGuiApplication.restoreOverrideCursor()
        if not isinstance(project, Project):
            project = Project(graph=project, name=Path(path).stem)
        self.set_document(Document(project))
        return True

    # -- autosave and recovery -----------------------------------------------------

    def autosave(self) -> bool:
        """Writes the document to the recovery file if it has unsaved changes."""
        if self.document is None or not self.document.modified:
            return False
        try:
            self.recovery.save(self.document.text())
        except (BuilderError, OSError) as exc:
            self.statusBar().showMessage(f"Autosave failed: {exc}", 8000)
            return False
        return True

    def offer_recovery(self) -> bool:
        """At start: offers the newest document a crashed session left behind."""
        leftovers = self.recovery.leftovers()
        if not leftovers:
            return False
        newest = leftovers[0]
        accepted = self.ask_recover(newest)
        recovered = False
        if accepted:
            try:
                project = builder.load(newest)
            except BuilderError as exc:
                self.show_error(str(exc))
            else:
                project.path = None
                self.set_document(Document(project))
                # Unsaved: modified, so closing asks and autosave keeps it.
                self.document.recovered = True
                self._history_changed(self.document.history.state)
                recovered = True
        for path in leftovers:
            path.unlink(missing_ok=True)
        return recovered

    def _node_menu(self, menu, node_id: str) -> None:
        # The canvas' right-click menu: block operations first where they apply.
        a = self.actions_by_name
        analysis = self.scene.analysis
        info = analysis.nodes.get(node_id) if analysis is not None else None
        for diag in list(info.diagnostics if info else []):
            fix = edits.fix_action(self.document.history, diag)
            if fix is not None:  # the one-click repair, first in the menu
                action = menu.addAction(f"Fix: {fix[0]}")
                action.setToolTip(diag.message)
                action.triggered.connect(lambda checked=False, apply=fix[1]: apply())
        if menu.actions():
            menu.addSeparator()
        if blocks.is_block(self.document.history, node_id):
            menu.addAction(a["expand"])
        if blocks.SEP in node_id:
            menu.addAction(a["collapse"])
        menu.addAction(a["group"])
        menu.addSeparator()
        for key in ("copy", "duplicate", "delete", "frame"):
            menu.addAction(a[key])

    # -- following the document ------------------------------------------------------

    def _selection_changed(self) -> None:
        ids = self.scene.selected_ids()
        self.inspector.show_node(ids[0] if len(ids) == 1 else None)

    def _analysed(self, analysis) -> None:
        if analysis is None:
            return
        totals = analysis.totals
        errors = len(analysis.errors)
        self.totals_label.setText(
            f"{len(self.document.graph)} layers · params {count_text(totals.params)} · "
            f"MACs {count_text(totals.flops)} · activations {count_text(totals.activations)}"
            f" ({binary_size(totals.forward_bytes())}/image)"
            + (f" · {errors} error{'s' * (errors > 1)}" if errors else ""))
        self.summary.schedule()
        self.inspector.refresh_diagnostics()

    def _history_changed(self, state) -> None:
        a = self.actions_by_name
        a["undo"].setEnabled(state.can_undo)
        a["redo"].setEnabled(state.can_redo)
        a["undo"].setText(f"&Undo {state.undo_text}".rstrip())
        a["redo"].setText(f"&Redo {state.redo_text}".rstrip())
        self.setWindowTitle(f"{self.document.title} — Keras Builder")

    def _tab_changed(self, index: int) -> None:
        if self.right_tabs.widget(index) is self.code and not self.code.text.toPlainText():
            self.code.generate()

    def _remember(self, path: str) -> None:
        files.add_recent(path)
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in files.recent_files():
            action = self.recent_menu.addAction(Path(path).name)
            action.setStatusTip(path)
            action.triggered.connect(lambda checked=False, p=path: self.open_path(p))
        self.recent_menu.setEnabled(bool(self.recent_menu.actions()))

    # -- window state ------------------------------------------------------------------

    def restore_layout(self) -> None:
        """Puts the window and docks back where the user left them."""
        store = files.settings()
        geometry, state = store.value("window/geometry"), store.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def save_layout(self) -> None:
        """Remembers the window and dock layout."""
        store = files.settings()
        store.setValue("window/geometry", self.saveGeometry())
        store.setValue("window/state", self.saveState())
        store.sync()

    def closeEvent(self, event) -> None:
        if not self.maybe_save():
            event.ignore()
            return
        if self.remember_layout:
            self.save_layout()
        self.training_panel.shutdown()
        self.recovery.discard()
        event.accept()

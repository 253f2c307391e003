"""The canvas follows the model (model -> view) and turns gestures into history
steps (view -> model)."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QEvent, QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from builder.gui.canvas.items import EdgeItem, NodeItem
from builder.gui.canvas.view import KIND_MIME


def _drop(view, kind: str, scene_pos: QPointF) -> None:
    """Sends a palette drag's enter, move and drop to the viewport, as Qt would."""
    data = QMimeData()
    data.setData(KIND_MIME, QByteArray(kind.encode()))
    point = view.mapFromScene(scene_pos)
    viewport = view.viewport()
    enter = QDragEnterEvent(point, Qt.CopyAction, data, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted()
    move = QDragMoveEvent(point, Qt.CopyAction, data, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(viewport, move)
    drop = QDropEvent(QPointF(point), Qt.CopyAction, data, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(viewport, drop)


def test_palette_drag_source_carries_the_kind(make_window):
    window = make_window()
    tree = window.palette_widget.tree
    items = tree.findItems("MaxPool2D", Qt.MatchExactly | Qt.MatchRecursive)
    assert items
    data = tree.mimeData(items)
    assert bytes(data.data(KIND_MIME)).decode() == "MaxPool2D"


def test_drop_on_empty_canvas_creates_the_node_there(make_window, small_project):
    window = make_window(small_project)
    view, graph = window.view, window.document.graph
    window.scene.clearSelection()
    target = QPointF(600, 150)
    _drop(view, "Dropout", target)
    new = [n for n in graph.nodes.values() if n.kind == "Dropout"]
    assert len(new) == 1  # view -> model
    item = window.scene.nodes[new[0].id]  # model -> view
    assert item.sceneBoundingRect().contains(target)
    assert not graph.in_edges(new[0].id)
    window.document.history.undo()
    assert new[0].id not in graph and new[0].id not in window.scene.nodes


def test_drop_onto_an_edge_inserts_into_it(make_window, small_project):
    window = make_window(small_project)
    graph = window.document.graph
    edge_item = next(it for it in window.scene.edges.values()
                     if (it.edge.src, it.edge.dst) == ("conv", "relu"))
    point = edge_item.path_point(0.5) if hasattr(edge_item, "path_point") else \
        edge_item._path.pointAtPercent(0.5)
    window.scene.clearSelection()
    _drop(window.view, "BatchNormalization", point)
    bn = next(n.id for n in graph.nodes.values() if n.kind == "BatchNormalization")
    assert graph.predecessors(bn) == ["conv"] and graph.successors(bn) == ["relu"]
    assert ("conv", "relu") not in [(e.src, e.dst) for e in graph.edges]
    assert len(window.scene.edges) == len(graph.edges) == 4
    window.document.history.undo()  # one step
    assert [(e.src, e.dst) for e in graph.edges] == [("input", "conv"), ("conv", "relu"),
                                                      ("relu", "output")]


def test_drop_with_a_node_selected_connects_after_it(make_window, small_project):
    window = make_window(small_project)
    graph = window.document.graph
    window.scene.select(["relu"])
    _drop(window.view, "Flatten", QPointF(700, 400))
    flat = next(n.id for n in graph.nodes.values() if n.kind == "Flatten")
    assert graph.predecessors(flat) == ["relu"]
    assert window.scene.selected_ids() == [flat]


def test_dragging_from_port_to_port_connects(make_window, small_project):
    window = make_window(small_project)
    history, graph, view = window.document.history, window.document.graph, window.view
    history.remove_node("relu")
    history.add_node("ReLU", id="act", pos=(300, 200))
    src = window.scene.nodes["conv"].port("out", False)
    dst = window.scene.nodes["act"].port("in", True)
    a = view.mapFromScene(src.scenePos())
    b = view.mapFromScene(dst.scenePos())
    QTest.mousePress(view.viewport(), Qt.LeftButton, Qt.NoModifier, a)
    QTest.mouseMove(view.viewport(), (a + b) / 2)
    QTest.mouseRelease(view.viewport(), Qt.LeftButton, Qt.NoModifier, b)
    assert ("conv", "act") in [(e.src, e.dst) for e in graph.edges]
    item = next(it for it in window.scene.edges.values() if it.edge.dst == "act")
    assert item.label == "26×26×8"
    # Dragging backwards, from an input port onto a node, connects too.
    in_port = window.scene.nodes["output"].port("in", True)
    QTest.mousePress(view.viewport(), Qt.LeftButton, Qt.NoModifier,
                     view.mapFromScene(in_port.scenePos()))
    QTest.mouseRelease(view.viewport(), Qt.LeftButton, Qt.NoModifier,
                       view.mapFromScene(window.scene.nodes["act"].sceneBoundingRect().center()))
    assert graph.predecessors("output") == ["act"]


def test_a_refused_connection_says_why_and_changes_nothing(make_window, small_project):
    window = make_window(small_project)
    messages = []
    window.view.message.connect(messages.append)
    before = window.document.graph.to_dict()
    port = window.scene.nodes["relu"].port("out", False)
    target = window.scene.nodes["conv"].sceneBoundingRect().center()
    view = window.view
    QTest.mousePress(view.viewport(), Qt.LeftButton, Qt.NoModifier,
                     view.mapFromScene(port.scenePos()))
    QTest.mouseRelease(view.viewport(), Qt.LeftButton, Qt.NoModifier, view.mapFromScene(target))
    assert window.document.graph.to_dict() == before
    assert messages and ("cycle" in messages[0] or "takes one edge" in messages[0])


def test_param_edit_updates_node_and_edge_labels(make_window, small_project):
    window = make_window(small_project)
    conv = window.scene.nodes["conv"]
    edge = next(it for it in window.scene.edges.values() if it.edge.src == "conv")
    assert (conv.label, conv.shape_line, edge.label) == ("conv3-8", "26×26×8", "26×26×8")
    window.document.history.set_param("conv", "filters", 32)
    assert conv.label == "conv3-32" and edge.label == "26×26×32"
    assert conv.params_line == "320 params"  # 3*3*1*32 + 32
    window.document.history.set_param("conv", "padding", "same")
    assert edge.label == "28×28×32"
    window.document.history.undo()
    assert edge.label == "26×26×32"


def test_invalid_connection_turns_the_node_red_with_the_diagnostic(make_window, small_project):
    from PySide6.QtWidgets import QPushButton

    window = make_window(small_project)
    history = window.document.history
    history.add_node("Conv2D", {"filters": 4, "kernel_size": 31, "padding": "valid"},
                     id="big", pos=(300, 200))
    history.connect("relu", "big")
    big = window.scene.nodes["big"]
    assert big.severity == "error"
    tip = big.toolTip()
    assert "(26 - 31 + 2·0)/1 + 1 = -4" in tip and "Received" in tip
    assert "Fix: Use padding='same'" in tip
    window.scene.select(["big"])
    buttons = [b for b in window.inspector.widget().findChildren(QPushButton)
               if b.text() == "Set padding='same'"]
    assert len(buttons) == 1
    buttons[0].click()  # the one-click fix, one undo step
    assert window.document.graph.nodes["big"].params["padding"] == "same"
    assert big.severity != "error" and big.shape_line == "26×26×4"  # a warning: no Output yet
    history.undo()
    assert big.severity == "error"


def test_dense_fed_an_image_warns_and_inserts_flatten(make_window, small_project):
    window = make_window(small_project)
    history = window.document.history
    history.add_node("Dense", {"units": 10}, id="fc", pos=(300, 200))
    history.connect("relu", "fc")
    fc = window.scene.nodes["fc"]
    assert fc.severity in ("warning", "error") and "Insert Flatten" in fc.toolTip()
    diag = next(d for d in window.document.analyzer.analysis.nodes["fc"].diagnostics
                if d.fix and "Flatten" in d.fix)
    from builder.gui.edits import fix_action

    text, apply = fix_action(history, diag)
    apply()
    flat = next(n.id for n in window.document.graph.nodes.values() if n.kind == "Flatten")
    assert window.document.graph.predecessors("fc") == [flat]
    assert window.scene.nodes["fc"].shape_line == "10"


def test_undo_redo_across_a_sequence_keeps_view_and_model_in_step(make_window, small_project):
    window = make_window(small_project)
    doc = window.document
    history, graph, scene = doc.history, doc.graph, window.scene
    snapshots = [graph.to_dict()]
    history.add_node("Dropout", id="drop", pos=(300, 250))
    snapshots.append(graph.to_dict())
    history.connect("relu", "drop")
    snapshots.append(graph.to_dict())
    history.set_param("drop", "rate", 0.3)
    snapshots.append(graph.to_dict())
    history.move("drop", (400, 260))
    snapshots.append(graph.to_dict())
    window.scene.select(["conv"])
    window.actions_by_name["delete"].trigger()
    snapshots.append(graph.to_dict())

    def consistent():
        assert set(scene.nodes) == set(graph.nodes)
        assert set(scene.edges) == set(graph.edges)
        for nid, node in graph.nodes.items():
            item = scene.nodes[nid]
            assert (item.x(), item.y()) == tuple(node.pos)

    consistent()
    for expected in reversed(snapshots[:-1]):
        window.actions_by_name["undo"].trigger()
        assert graph.to_dict() == expected
        consistent()
    assert not window.actions_by_name["undo"].isEnabled()
    for expected in snapshots[1:]:
        window.actions_by_name["redo"].trigger()
        assert graph.to_dict() == expected
        consistent()
    assert scene.nodes["drop"].pos() == QPointF(400, 260)


def test_moving_nodes_with_the_mouse_is_one_undo_step(make_window, small_project):
    window = make_window(small_project)
    view, scene, graph = window.view, window.scene, window.document.graph
    item = scene.nodes["relu"]
    start = view.mapFromScene(item.sceneBoundingRect().center() + QPointF(-40, 0))
    QTest.mousePress(view.viewport(), Qt.LeftButton, Qt.NoModifier, start)
    QTest.mouseMove(view.viewport(), start + QPoint(30, 10))
    QTest.mouseMove(view.viewport(), start + QPoint(60, 20))
    QTest.mouseRelease(view.viewport(), Qt.LeftButton, Qt.NoModifier, start + QPoint(60, 20))
    moved = graph.nodes["relu"].pos
    assert moved != (0, 200) and moved == (item.x(), item.y())
    window.document.history.undo()
    assert graph.nodes["relu"].pos == (0, 200) and item.pos() == QPointF(0, 200)


def test_copy_paste_and_duplicate(make_window, small_project):
    window = make_window(small_project)
    graph = window.document.graph
    window.scene.select(["conv", "relu"])
    window.actions_by_name["copy"].trigger()
    window.actions_by_name["paste"].trigger()
    new = window.scene.selected_ids()
    assert len(new) == 2 and not set(new) & {"conv", "relu"}
    kinds = sorted(graph.nodes[n].kind for n in new)
    assert kinds == ["Conv2D", "ReLU"]
    assert [(e.src, e.dst) for e in graph.edges if e.src in new] == [(new[0], new[1])]
    assert graph.nodes[new[0]].params == graph.nodes["conv"].params
    window.actions_by_name["duplicate"].trigger()
    assert len(graph) == 8 and len(window.scene.nodes) == 8
    window.actions_by_name["undo"].trigger()
    window.actions_by_name["undo"].trigger()
    assert set(graph.nodes) == {"input", "conv", "relu", "output"}


def test_select_all_find_frame_fit_and_zoom(make_window, small_project):
    window = make_window(small_project)
    window.actions_by_name["select_all"].trigger()
    assert window.scene.selected_ids() == ["input", "conv", "relu", "output"]
    assert window.find("conv3") == ["conv"]
    assert window.scene.selected_ids() == ["conv"]
    window.view.set_zoom(0.2)
    window.actions_by_name["frame"].trigger()
    assert window.view.zoom() > 1.0
    window.actions_by_name["fit"].trigger()
    assert 0.05 <= window.view.zoom() <= 1.0
    assert window.view.mapToScene(window.view.viewport().rect()).boundingRect().contains(
        window.scene.nodes["output"].sceneBoundingRect())


def test_palette_search_enter_inserts_after_the_selected_node(make_window, small_project):
    window = make_window(small_project)
    graph = window.document.graph
    window.scene.select(["relu"])
    palette = window.palette_widget
    palette.search.setText("dropo")
    visible = [palette.tree.topLevelItem(i) for i in range(palette.tree.topLevelItemCount())
               if not palette.tree.topLevelItem(i).isHidden()]
    assert "Regularization" in [t.text(0) for t in visible]
    assert "Dense" not in [t.text(0) for t in visible]
    assert palette.tree.currentItem().text(0) == "Dropout"
    QTest.keyClick(palette.search, Qt.Key_Return)
    new = next(n for n in graph.nodes.values() if n.kind == "Dropout")
    assert graph.predecessors(new.id) == ["relu"]


def test_auto_layout_is_undoable_and_minimap_shows_for_big_graphs(make_window):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from networks import resnet152

    from builder.core.project import Project

    window = make_window(Project(graph=resnet152()))
    graph = window.document.graph
    assert all(n.pos is not None for n in graph.nodes.values())
    assert window.view.minimap.isVisible()
    items = [it for it in window.scene.nodes.values()]
    rects = sorted((it.sceneBoundingRect() for it in items), key=lambda r: r.top())
    for a, b in zip(rects, rects[1:]):  # boxes never overlap
        assert not a.adjusted(2, 2, -2, -2).intersects(b.adjusted(2, 2, -2, -2))
    window.document.history.move("add_1", (5000, 5000))
    window.actions_by_name["layout"].trigger()
    assert graph.nodes["add_1"].pos != (5000, 5000)
    window.document.history.undo()
    assert graph.nodes["add_1"].pos == (5000, 5000)
    assert isinstance(window.scene.nodes["add_1"], NodeItem)
    assert any(isinstance(it, EdgeItem) and it.waypoints for it in window.scene.edges.values())


def test_many_thousand_repaints_do_not_crash(make_window, small_project):
    # PySide6 6.12.0 corrupts None's refcount on void calls and aborts after some
    # thousands (DESIGN.md): paint and update the canvas many thousand times.
    window = make_window(small_project)
    view, items = window.view, list(window.scene.nodes.values())
    for k in range(6000):
        items[k % len(items)].update()
        view.viewport().update()
        if k % 500 == 0:
            QApplication.processEvents()
    for _ in range(300):
        view.viewport().repaint()
    assert window.isVisible()


def test_rubber_band_selects_and_middle_drag_pans(make_window, small_project):
    window = make_window(small_project)
    view, scene = window.view, window.scene
    view.set_zoom(1.0)
    view.centerOn(scene.nodes["conv"].sceneBoundingRect().center())
    top_left = scene.nodes["conv"].sceneBoundingRect().topLeft() + QPointF(-30, -20)
    bottom_right = scene.nodes["relu"].sceneBoundingRect().bottomRight() + QPointF(30, 10)
    a, b = view.mapFromScene(top_left), view.mapFromScene(bottom_right)
    QTest.mousePress(view.viewport(), Qt.LeftButton, Qt.NoModifier, a)
    for k in range(1, 6):
        QTest.mouseMove(view.viewport(), a + (b - a) * k / 5)
    QTest.mouseRelease(view.viewport(), Qt.LeftButton, Qt.NoModifier, b)
    assert scene.selected_ids() == ["conv", "relu"]
    assert window.inspector.node_id is None  # two selected: no form
    bar = view.horizontalScrollBar()
    start = bar.value()
    centre = view.viewport().rect().center()
    QTest.mousePress(view.viewport(), Qt.MiddleButton, Qt.NoModifier, centre)
    move = QMouseEvent(QEvent.MouseMove, QPointF(centre + QPoint(-80, 0)),
                       QPointF(view.viewport().mapToGlobal(centre + QPoint(-80, 0))),
                       Qt.NoButton, Qt.MiddleButton, Qt.NoModifier)
    QApplication.sendEvent(view.viewport(), move)
    QTest.mouseRelease(view.viewport(), Qt.MiddleButton, Qt.NoModifier, centre + QPoint(-80, 0))
    assert bar.value() == start + 80


def test_the_usual_shortcuts(make_window):
    window = make_window()
    keys = {name: [s.toString() for s in action.shortcuts()]
            for name, action in window.actions_by_name.items()}
    assert keys["new"] == ["Ctrl+N"] and keys["open"] == ["Ctrl+O"]
    assert keys["save"] == ["Ctrl+S"] and keys["undo"] == ["Ctrl+Z"]
    assert "Ctrl+Shift+Z" in keys["redo"]
    assert (keys["copy"], keys["paste"], keys["duplicate"]) == (["Ctrl+C"], ["Ctrl+V"],
                                                                ["Ctrl+D"])
    assert "Del" in keys["delete"] and keys["select_all"] == ["Ctrl+A"]
    assert keys["find"] == ["Ctrl+F"] and keys["frame"] == ["F"] and keys["fit"] == ["Ctrl+0"]


def test_every_catalogue_kind_is_in_the_palette(make_window):
    from builder.blocks import CATALOG
    from builder.gui.palette import KIND_ROLE

    tree = make_window().palette_widget.tree
    listed = {}
    for i in range(tree.topLevelItemCount()):
        top = tree.topLevelItem(i)
        for j in range(top.childCount()):
            listed[top.child(j).data(0, KIND_ROLE)] = top.text(0)
    assert listed == {spec.kind: spec.category for spec in CATALOG}


def test_selecting_an_edge_and_pressing_delete_disconnects(make_window, small_project):
    window = make_window(small_project)
    graph = window.document.graph
    edge = next(it for it in window.scene.edges.values() if it.edge.src == "relu")
    window.scene.clearSelection()
    edge.setSelected(True)
    window.actions_by_name["delete"].trigger()
    assert ("relu", "output") not in [(e.src, e.dst) for e in graph.edges]
    assert edge.edge not in window.scene.edges and len(graph) == 4
    assert window.scene.nodes["output"].severity == "error"  # an Output fed by nothing


def test_the_node_menu_offers_the_one_click_fix(make_window, small_project):
    from PySide6.QtWidgets import QMenu

    window = make_window(small_project)
    window.document.history.set_param("conv", "kernel_size", 40)
    assert window.scene.nodes["conv"].severity == "error"
    menu = QMenu()
    window.view.node_menu(menu, "conv")
    fixes = [a for a in menu.actions() if a.text().startswith("Fix: ")]
    assert [a.text() for a in fixes] == ["Fix: Set padding='same'"]
    fixes[0].trigger()
    assert window.document.graph.nodes["conv"].params["padding"] == "same"
    assert window.scene.nodes["conv"].shape_line == "28×28×8"
    menu = QMenu()
    window.view.node_menu(menu, "conv")
    assert not [a for a in menu.actions() if a.text().startswith("Fix: ")]


def test_an_edit_redraws_only_the_nodes_whose_analysis_changed(make_window):
    import builder

    window = make_window(builder.from_template("vgg16"))
    scene = window.scene
    drawn = []
    original = scene._draw_node
    scene._draw_node = lambda nid, info: (drawn.append(nid), original(nid, info))
    window.document.history.set_param("block5_conv3", "filters", 256)
    # The conv, the pool and flatten change shape; fc1 changes weights only.
    assert sorted(drawn) == sorted(["block5_conv3", "block5_pool", "flatten", "fc1"])
    assert scene.nodes["fc1"].params_line == f"{(7 * 7 * 256 * 4096 + 4096) / 1e6:.1f}M params"

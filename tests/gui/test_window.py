"""The window around the canvas: inspector, summary, files, autosave, recovery."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox

import builder
from builder.gui.files import Recovery


def test_inspector_is_generated_from_the_param_spec(make_window, small_project):
    window = make_window(small_project)
    window.scene.select(["conv"])
    editors = window.inspector.editors
    spec = builder.CATALOG.get("Conv2D")
    assert set(editors) == {"__name__"} | {p.name for p in spec.params}
    assert isinstance(editors["filters"], QSpinBox)
    assert editors["filters"].minimum() == spec.param("filters").min
    assert isinstance(editors["use_bias"], QCheckBox)
    assert isinstance(editors["activation"], QComboBox)
    assert isinstance(editors["kernel_size"], QLineEdit)
    assert editors["filters"].toolTip() == spec.param("filters").doc


def test_inspector_edits_apply_live_and_undo_one_step_per_field(make_window, small_project):
    window = make_window(small_project)
    doc = window.document
    window.scene.select(["conv"])
    filters = window.inspector.editors["filters"]
    for value in (1, 16, 160):  # keystrokes: 1, 16, 160
        filters.setValue(value)
    assert doc.graph.nodes["conv"].params["filters"] == 160  # view -> model, live
    assert window.scene.nodes["conv"].label == "conv3-160"
    filters.editingFinished.emit()
    kernel = window.inspector.editors["kernel_size"]
    kernel.setText("5")
    kernel.textEdited.emit("5")
    kernel.editingFinished.emit()
    assert doc.graph.nodes["conv"].params["kernel_size"] == 5
    assert window.scene.nodes["conv"].shape_line == "24×24×160"
    doc.history.undo()
    assert doc.graph.nodes["conv"].params["kernel_size"] == 3
    assert kernel.text() == "3"  # model -> view
    doc.history.undo()
    assert doc.graph.nodes["conv"].params["filters"] == 8 and filters.value() == 8
    # A value the field cannot read is refused without touching the model.
    kernel.setText("3, abc")
    kernel.textEdited.emit("3, abc")
    assert doc.graph.nodes["conv"].params["kernel_size"] == 3
    assert "fdecea" in kernel.styleSheet()


def test_summary_table_matches_the_analysis_and_memory_fits(make_window, qtbot):
    window = make_window(builder.from_template("vgg16"))
    window.right_tabs.setCurrentWidget(window.summary)
    qtbot.waitUntil(lambda: window.summary.table.rowCount() > 0, timeout=3000)
    table = window.summary.table
    # VGG-16: 13 conv, 5 pool, flatten, 3 FC, the Input: 23 rows (Output adds none).
    assert table.rowCount() == 23
    assert table.item(1, 1).text() == "conv3-64" and table.item(1, 2).text() == "224×224×64"
    assert "138,357,544" in window.summary.totals.text()
    window.summary.batch.setValue(1)
    window.summary.budget.setValue(16)
    assert "fits in 16 GB" in window.summary.fit.text()
    window.summary.budget.setValue(1)
    assert "does not fit in 1 GB" in window.summary.fit.text()
    assert "Largest batch that fits: <b>0</b>" in window.summary.fit.text()
    assert "138M" in window.totals_label.text()


def test_every_template_opens(make_window):
    window = make_window()
    paths = window.templates.paths()
    assert len(paths) >= 1 and window.templates.count() == len(paths)
    for path in paths:
        window.open_template(str(path))
        graph = window.document.graph
        assert window.document.path is None  # a new document
        assert set(window.scene.nodes) == set(graph.nodes) and len(graph) > 0
        assert len(window.scene.edges) == len(graph.edges)
        assert all(n.pos is not None for n in graph.nodes.values())


def test_save_open_recent_and_unsaved_prompt(make_window, small_project, tmp_path):
    window = make_window(small_project)
    path = tmp_path / "net.json"
    assert window.save_to(path)
    assert not window.document.modified and window.windowTitle().startswith("net.json ")
    window.document.history.set_param("conv", "filters", 4)
    assert window.windowTitle().startswith("net.json *")
    window.confirm_discard = lambda: "cancel"
    assert not window.open_path(path)  # cancelled: the edit stays
    assert window.document.graph.nodes["conv"].params["filters"] == 4
    window.confirm_discard = lambda: "save"
    assert window.open_path(path)
    assert builder.load(path).graph.nodes["conv"].params["filters"] == 4
    assert [a.statusTip() for a in window.recent_menu.actions()] == [str(path.resolve())]


def test_a_broken_file_shows_the_loaders_error_and_changes_nothing(make_window, small_project,
                                                                   tmp_path):
    window = make_window(small_project)
    before = window.document
    bad = tmp_path / "broken.json"
    bad.write_text('{"format": "keras-builder", "schema_version": 1, "graph": {"nodes": [')
    assert not window.open_path(bad)
    assert window.document is before and len(before.graph) == 4
    assert "broken.json" in window.last_error and "\n" not in window.last_error
    with pytest.raises(builder.ProjectError) as info:
        builder.load(bad)
    assert str(info.value) == window.last_error


def test_autosave_and_recovery_after_a_crash(make_window, small_project, isolated_settings):
    crashed = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                             capture_output=True, text=True, check=True)
    dead_pid = int(crashed.stdout)  # a process that has ended: its file is a leftover
    window = make_window(small_project, recovery=Recovery(isolated_settings, pid=dead_pid))
    assert not window.autosave()  # nothing unsaved, nothing written
    window.document.history.set_param("conv", "filters", 12)
    assert window.autosave()
    saved = window.recovery.path
    assert json.loads(saved.read_text())["graph"]["nodes"][1]["params"]["filters"] == 12
    assert window._autosave.interval() == 30_000 and window._autosave.isActive()

    second = make_window()  # the next start, in another process
    asked = []
    second.ask_recover = lambda path: asked.append(path) or True
    assert second.offer_recovery()
    assert asked == [saved] and not saved.exists()
    assert second.document.graph.nodes["conv"].params["filters"] == 12
    assert second.document.modified and second.document.path is None
    assert not make_window().offer_recovery()  # offered once


def test_window_layout_is_remembered(make_window, isolated_settings):
    window = make_window()
    window.docks["details"].hide()
    window.save_layout()
    assert (isolated_settings / "settings.ini").is_file()
    again = make_window()
    assert not again.docks["details"].isVisible()


def test_new_document_and_code_view(make_window, small_project, qtbot):
    window = make_window(small_project)
    window.new_document()
    assert sorted(n.kind for n in window.document.graph.nodes.values()) == ["Input", "Output"]
    assert not window.document.history.can_undo
    window.set_document(type(window.document)(small_project))
    window.code.generate()
    qtbot.waitUntil(lambda: "keras" in window.code.text.toPlainText(), timeout=60_000)
    assert "Conv2D" in window.code.text.toPlainText()
    assert window.code.text.isReadOnly()


def test_render_and_screenshot_from_the_command_line(tmp_path, isolated_settings):
    from builder.cli import main

    assert main(["render", "lenet" if (builder.templates_dir() / "lenet.json").is_file()
                 else "vgg16", "-o", str(tmp_path / "d.svg")]) == 0
    assert "<svg" in (tmp_path / "d.svg").read_text()
    assert main(["render", "vgg16", "-o", str(tmp_path / "d.png")]) == 0
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["render", "vgg16", "-o", str(tmp_path / "d.gif")]) == 2


def test_window_starts_without_tensorflow(tmp_path, isolated_settings):
    shot = tmp_path / "window.png"
    code = ("import sys; from builder.cli import main; rc = main(['gui', '--screenshot', "
            f"{str(shot)!r}]); heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules];"
            " print(rc, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**__import__('os').environ,
                                           "QT_QPA_PLATFORM": "offscreen"})
    assert out.stdout.strip().splitlines()[-1] == "0 []", out.stderr
    assert shot.read_bytes()[:4] == b"\x89PNG"


def test_import_a_keras_model_and_a_refused_one(make_window, tmp_path):
    keras = pytest.importorskip("keras")
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(5, 3, name="c1")(inputs)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="fc")(x))
    path = tmp_path / "tiny.keras"
    model.save(path)
    window = make_window()
    assert window.import_keras(str(path))
    graph = window.document.graph
    assert analyze_params(graph) == model.count_params()
    assert {n.name or n.id for n in graph.nodes.values()} >= {"c1", "fc"}
    assert set(window.scene.nodes) == set(graph.nodes)
    assert all(n.pos is not None for n in graph.nodes.values())  # laid out
    before = window.document
    bad = tmp_path / "not_a_model.keras"
    bad.write_text("this is not a zip")
    assert not window.import_keras(str(bad))
    assert window.document is before and window.last_error and "\n" not in window.last_error


def analyze_params(graph) -> int:
    from builder.analysis import analyze

    return analyze(graph).totals.params


def test_template_gallery_lists_params_and_input_and_opens_a_new_document(make_window):
    window = make_window()
    gallery = window.templates
    gallery.fill()
    vgg = next(gallery.item(i) for i in range(gallery.count())
               if gallery.item(i).data(gallery_role()) and
               Path(gallery.item(i).data(gallery_role())).stem == "vgg16")
    assert "138M params" in vgg.text() and "input 224×224×3" in vgg.text()
    gallery.itemActivated.emit(vgg)
    assert window.document.project.name.startswith("VGG-16")
    assert window.document.path is None and len(window.document.graph) == 24


def gallery_role():
    from builder.gui.palette import KIND_ROLE

    return KIND_ROLE

"""Set-up tab: one undo step per settings field (named after it, consecutive edits
of one field merged), and a device menu filled without Keras in the editor."""

from __future__ import annotations

import os
import stat
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from builder.gui.training import probes
from builder.gui.training.state import changed_fields


def _type(editor, text):
    editor.setText(text)
    editor.textEdited.emit(text)


def test_each_settings_field_is_its_own_undo_step(panel_window, qtbot):
    window = panel_window
    setup = window.training_panel.setup
    history = window.document.history
    project = window.document.project
    before = len(history)
    original = dict(project.training["optimizer"])
    for text in ("0", "0.0", "0.05"):  # typing: one step
        _type(setup.optimizer_form.editors["learning_rate"], text)
    assert history.undo_text == "Set optimizer learning_rate"
    setup.batch_size.setValue(32)
    setup.batch_size.setValue(48)  # the same field again: merged
    assert history.undo_text == "Set batch_size"
    setup.flip.setCurrentText("horizontal")
    assert history.undo_text == "Set augment flip"
    setup.dataset.setCurrentText("shapes")
    assert history.undo_text == "Set dataset"
    setup.optimizer.setCurrentText("rmsprop")  # another optimizer: its keys go with it
    assert history.undo_text == "Set optimizer"
    assert len(history) == before + 5
    assert project.training["optimizer"] == {"name": "rmsprop"}

    # Ctrl+Z in the editor undoes the last field change only, and the form follows.
    undo = window.actions_by_name["undo"]
    assert "Ctrl+Z" in [s.toString() for s in undo.shortcuts()]
    window.activateWindow()
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key_Z, Qt.ControlModifier)
    assert project.training["optimizer"] == {"name": "adam", "learning_rate": 0.05}
    assert setup.optimizer.currentText() == "adam"
    assert setup.optimizer_form.editors["learning_rate"].text() == "0.05"
    assert project.dataset["name"] == "shapes"
    undo.trigger()
    assert project.dataset["name"] == "digits" and setup.dataset.currentText() == "digits"
    assert project.dataset["augment"] == {"flip": "horizontal"}
    undo.trigger()
    assert "augment" not in project.dataset and setup.flip.currentText() == "none"
    assert project.training["batch_size"] == 48
    undo.trigger()
    assert project.training["batch_size"] == 16 and setup.batch_size.value() == 16
    assert project.training["optimizer"]["learning_rate"] == 0.05
    undo.trigger()
    assert project.training["optimizer"] == original
    assert len(history) == before + 5 and history.can_redo
    window.actions_by_name["redo"].trigger()
    assert project.training["optimizer"]["learning_rate"] == 0.05


def test_changed_fields_names_leaves_and_whole_renamed_sections():
    old = {"optimizer": {"name": "adam", "beta_1": 0.8}, "epochs": 3}
    assert changed_fields(old, {"optimizer": {"name": "adam", "beta_1": 0.7},
                                "epochs": 3}) == [("optimizer", "beta_1")]
    assert changed_fields(old, {"optimizer": {"name": "sgd"}, "epochs": 4}) == [
        ("epochs",), ("optimizer",)]
    assert changed_fields({}, {"augment": {"crop": 4}}) == [("augment", "crop")]
    assert changed_fields({"augment": {"crop": 4}}, {}) == [("augment", "crop")]
    assert changed_fields(old, old) == []


def _fake_nvidia_smi(folder, body):
    folder.mkdir(exist_ok=True)
    program = folder / "nvidia-smi"
    program.write_text("#!/bin/sh\n" + body)
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return folder


def test_without_a_gpu_the_menu_offers_auto_and_cpu(monkeypatch, qtbot, tmp_path):
    from builder.gui.training.setup import SetupView

    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi anywhere
    view = SetupView()
    qtbot.addWidget(view)
    items = [view.device.itemText(i) for i in range(view.device.count())]
    assert items == ["auto", "cpu"]
    qtbot.waitUntil(lambda: "Detect asks Keras" in view.options_note.text(), timeout=2000)
    assert "no GPU found" in view.options_note.text()
    assert [view.device.itemText(i) for i in range(view.device.count())] == ["auto", "cpu"]
    assert view.device.currentText() == "auto"


def test_the_probe_lists_gpus_without_blocking_and_detect_refreshes(
        monkeypatch, qtbot, tmp_path, gap_meter):
    from builder.gui.training.setup import SetupView

    two = _fake_nvidia_smi(tmp_path / "two", 'echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: '
                           'GPU-aa)"\necho "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-bb)"\n')
    monkeypatch.setenv("PATH", f"{two}{os.pathsep}{os.environ['PATH']}")
    view = SetupView()
    qtbot.addWidget(view)
    gap_meter.start()
    qtbot.waitUntil(lambda: view.device.count() == 5, timeout=5000)
    gap_meter.stop()
    assert [view.device.itemText(i) for i in range(5)] == [
        "auto", "cpu", "gpu:0", "gpu:1", "gpu"]
    assert "2 GPUs seen by nvidia-smi (NVIDIA H100 80GB HBM3" in view.options_note.text()
    assert gap_meter.worst_cpu_ms < 100

    # Detect (Keras' answer) replaces the guess and keeps the choice; a late
    # probe answer no longer changes the menu.
    view.device.setCurrentText("gpu:0")
    view._detected({"backends": ["tensorflow"], "gpus": 1, "mixed_precision": True,
                    "devices": ["auto", "cpu", "gpu:0"]})
    assert [view.device.itemText(i) for i in range(view.device.count())] == [
        "auto", "cpu", "gpu:0", "gpu"]
    assert view.device.currentText() == "gpu:0"
    view._gpus_probed([], "late")
    assert view.device.count() == 4

    # A probe that hangs: starting it returns at once, the loop keeps serving,
    # and it gives up after its timeout with "auto, cpu".
    hang = _fake_nvidia_smi(tmp_path / "hang", "exec sleep 30\n")
    monkeypatch.setenv("PATH", f"{hang}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(probes, "GPU_PROBE_TIMEOUT_MS", 300)
    answers = []
    started = time.perf_counter()
    proc = probes.probe_gpus(view, lambda names, how: answers.append((names, how)))
    assert proc is not None and time.perf_counter() - started < 0.5
    qtbot.waitUntil(lambda: bool(answers), timeout=3000)
    assert answers == [([], "nvidia-smi did not answer")]


def test_a_project_device_this_machine_lacks_is_kept(panel_window, qtbot):
    setup = panel_window.training_panel.setup
    project = panel_window.document.project
    project.training["device"] = "gpu:3"
    setup.load()
    assert setup.device.currentText() == "gpu:3"
    setup.epochs.setValue(3)  # another edit does not drop the device
    assert project.training["device"] == "gpu:3"


@pytest.mark.parametrize("text, names", [
    ("GPU 0: Tesla T4 (UUID: GPU-1)\n", ["Tesla T4"]),
    # as an H100 machine printed it
    ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-c45abf70-165c-bd54-3ce8-eb2093ac64e0)\n",
     ["NVIDIA H100 80GB HBM3"]),
    ("No devices were found\n", []),
    ("GPU 0: A\nGPU 1: B (UUID: x)\n  MIG 1g.10gb Device 0: (UUID: MIG-1)\n", ["A", "B"]),
])
def test_nvidia_smi_lines_are_read(text, names):
    assert probes.parse_gpu_list(text) == names


def test_a_first_edit_spells_out_defaults_in_the_same_named_step(make_window,
                                                                  small_project):
    window = make_window(small_project)
    setup = window.training_panel.setup
    project, history = window.document.project, window.document.history
    training, dataset = dict(project.training), dict(project.dataset)
    before = len(history)
    setup.epochs.setValue(3)
    setup.epochs.setValue(4)
    # The form's defaults (optimizer, dataset name, ...) come along, in the same
    # step, named after what the user edited; the second edit merged into it.
    assert history.undo_text == "Set epochs" and len(history) == before + 1
    assert project.training["epochs"] == 4 and project.dataset != dataset
    history.undo()
    assert project.training == training and project.dataset == dataset

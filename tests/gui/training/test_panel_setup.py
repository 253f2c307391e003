"""The set-up tab: forms from the config tables, the rate preview, saved settings."""

from __future__ import annotations

import pytest

import builder
from builder.training.config import OPTIMIZER_FIELDS
from builder.training.schedule_preview import schedule_preview


def test_schedule_preview_equals_the_engines_schedule(panel_window):
    setup = panel_window.training_panel.setup
    setup.optimizer.setCurrentText("momentum")
    setup.optimizer_form.editors["learning_rate"].setText("0.05")
    setup.optimizer_form.editors["learning_rate"].textEdited.emit("0.05")
    setup.schedule.setCurrentText("cosine")
    setup.schedule_form.editors["warmup_epochs"].setText("1.5")
    setup.schedule_form.editors["warmup_epochs"].textEdited.emit("1.5")
    setup.epochs.setValue(6)
    project = panel_window.document.project
    assert project.training["optimizer"] == {"name": "momentum", "learning_rate": 0.05}
    assert project.training["schedule"] == {"name": "cosine", "warmup_epochs": 1.5}
    steps, rates, spe, epochs = setup.preview_data
    # 128 samples (the limit) in batches of 16: the engine's own steps per epoch
    assert (spe, epochs) == (8, 6)
    expected = schedule_preview(project.training, spe, epochs)
    xs, ys = setup.preview_curve.getData()
    assert list(xs) == list(range(48))
    assert list(ys) == pytest.approx(expected, rel=1e-12)
    assert max(ys) == pytest.approx(0.05) and ys[0] == 0.0  # warm-up from 0 to the peak

    # A change redraws at once: a step schedule halves every 2 epochs.
    setup.schedule.setCurrentText("step")
    setup.schedule_form.editors["every_epochs"].setText("2")
    setup.schedule_form.editors["every_epochs"].textEdited.emit("2")
    ys = list(setup.preview_curve.getData()[1])
    assert ys == pytest.approx(schedule_preview(project.training, 8, 6))
    assert ys[15] == pytest.approx(0.05) and ys[16] == pytest.approx(0.025)


def test_a_bad_value_is_named_and_not_saved(panel_window):
    setup = panel_window.training_panel.setup
    setup.optimizer_form.editors["beta_1"].setText("1.5")
    setup.optimizer_form.editors["beta_1"].textEdited.emit("1.5")
    assert "beta_1" in setup.problem.text() and "Received" in setup.problem.text()
    setup.optimizer_form.editors["beta_1"].setText("abc")
    setup.optimizer_form.editors["beta_1"].textEdited.emit("abc")
    assert "Expected beta_1" in setup.problem.text()
    # Text that is no number never reaches the project.
    assert "beta_1" not in panel_window.document.project.training["optimizer"]


def test_settings_are_undoable_and_saved_with_the_project(panel_window, tmp_path):
    window = panel_window
    setup = window.training_panel.setup
    assert not window.document.modified
    setup.optimizer.setCurrentText("rmsprop")
    setup.batch_size.setValue(64)
    setup.dataset.setCurrentText("shapes")
    setup.flip.setCurrentText("horizontal")
    # The head's loss is a param of its Output node (an ordinary undoable edit).
    loss, _weight = next(iter(setup.head_editors.values()))
    loss.setCurrentText("categorical_crossentropy")
    assert window.document.modified
    path = tmp_path / "saved.json"
    assert window.save_to(path)
    saved = builder.load(path)
    assert saved.training["optimizer"]["name"] == "rmsprop"
    assert saved.training["batch_size"] == 64
    assert saved.dataset["name"] == "shapes" and saved.dataset["augment"] == {"flip": "horizontal"}
    assert [n.params["loss"] for n in saved.graph.nodes.values() if n.kind == "Output"] == [
        "categorical_crossentropy"]
    # Undo walks the settings back and the form follows.
    history = window.document.history
    while history.can_undo:
        history.undo()
    assert window.document.project.training["optimizer"]["name"] == "adam"
    assert setup.optimizer.currentText() == "adam" and setup.batch_size.value() == 16
    assert setup.dataset.currentText() == "digits"


def test_every_optimizer_form_comes_from_the_field_table(panel_window):
    setup = panel_window.training_panel.setup
    for name, fields in OPTIMIZER_FIELDS.items():
        setup.optimizer.setCurrentText(name)
        assert list(setup.optimizer_form.editors) == [f.key for f in fields]


def test_sample_preview_shows_images_and_labels(panel_window, qtbot):
    setup = panel_window.training_panel.setup
    setup.load_samples(6)
    qtbot.waitUntil(lambda: "samples of" in setup.samples_note.text(), timeout=20_000)
    assert "1797 samples of (8, 8, 1), 10 classes" == setup.samples_note.text()
    assert len(setup.sample_labels) == 6



def test_loss_and_weight_per_output_follow_the_graph(make_window, small_project):
    g = small_project.graph
    g.add_node("GlobalAvgPool2D", id="gap", pos=(200, 200))
    g.add_node("Dense", {"units": 3}, id="aux_fc", pos=(200, 250))
    g.add_node("Output", {"loss_weight": 0.3}, id="aux", pos=(200, 300))
    g.connect("relu", "gap")
    g.connect("gap", "aux_fc")
    g.connect("aux_fc", "aux")
    window = make_window(small_project)
    setup = window.training_panel.setup
    assert set(setup.head_editors) == {"output", "aux"}
    loss, weight = setup.head_editors["aux"]
    assert weight.value() == pytest.approx(0.3)
    weight.setValue(0.5)
    assert g.nodes["aux"].params["loss_weight"] == pytest.approx(0.5)
    # An edit elsewhere (the inspector, undo) shows in the panel.
    window.document.history.set_param("aux", "loss", "mean_squared_error")
    assert setup.head_editors["aux"][0].currentText() == "mean_squared_error"
    window.document.history.undo()
    window.document.history.undo()
    assert setup.head_editors["aux"][1].value() == pytest.approx(0.3)


def test_settings_the_engine_refuses_are_named_and_nothing_starts(panel_window, tmp_path):
    panel = panel_window.training_panel
    setup = panel.setup
    setup.dataset.setCurrentText("npz")
    setup.path.setText(str(tmp_path / "missing.npz"))
    setup.path.editingFinished.emit()
    assert not panel.start()
    assert not panel.controller.running
    text = panel.state_label.text()
    assert "missing.npz" in text and "\n" not in text
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_past_run_replays_in_live_from_its_events_file(panel_window, tmp_path):
    import json

    panel = panel_window.training_panel
    run = tmp_path / "runs" / "lenet-5-20261127-000000"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(
        {"name": "LeNet-5", "training": {"optimizer": {"name": "sgd", "learning_rate": 0.01},
                                         "epochs": 1}, "dataset": {"name": "digits"}}))
    events = [{"type": "started", "time": 1.0, "epochs": 1, "steps_per_epoch": 4,
               "batch_size": 8, "step": 0}]
    events += [{"type": "batch", "time": 1.0 + i, "epoch": 1, "batch": i, "step": i,
                "loss": 2.0 - 0.1 * i} for i in range(1, 5)]
    events += [{"type": "epoch", "time": 6.0, "epoch": 1, "loss": 1.8, "val_loss": 1.9,
                "val_accuracy": 0.3, "seconds": 5.0},
               {"type": "failed", "time": 6.5, "message": "CUDA out of memory"}]
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    panel.refresh_root()
    assert [r.name for r in panel.runs.runs] == [run.name]
    assert panel.show_run(run)
    xs, _ = panel.live.c_batch.getData()
    assert list(xs) == [1, 2, 3, 4]
    assert "FAILED: CUDA out of memory" in panel.live.log.toPlainText()
    assert "CUDA out of memory" in panel.live.status.text()
    assert panel.controller.run_dir == run  # Resume would continue this run


def test_a_two_stage_detector_shows_its_own_losses_not_per_output_choices(make_window):
    project = builder.load(builder.template_path("mask_rcnn_small"))
    project.path = None
    window = make_window(project)
    setup = window.training_panel.setup
    assert setup.head_editors == {}
    texts = [setup.heads_form.itemAt(i).widget().text()
             for i in range(setup.heads_form.count())
             if setup.heads_form.itemAt(i).widget() is not None]
    assert any("mask" in t and "RPN" in t for t in texts)

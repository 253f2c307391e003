"""Runs in process: the event stream, the run directory, stop, failure, early stop."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import builder
from builder.training.events import EVENT_TYPES, decode, encode, make_event, read_events
from builder.training.process import start_run
from builder.training.errors import TrainingError

TINY = {"epochs": 2, "batch_size": 32}
DIGITS = {"name": "digits", "limit": 128}


@pytest.fixture(scope="module")
def lenet():
    return builder.load(builder.template_path("lenet"))


def run_events(handle, timeout=120):
    events = list(handle.events(timeout=timeout))
    assert handle.wait(timeout) == (1 if events[-1]["type"] == "failed" else 0)
    return events


def test_events_are_one_json_line_each():
    event = make_event("epoch", epoch=1, loss=np.float32(0.5), val_loss=float("nan"))
    line = encode(event)
    assert "\n" not in line and "NaN" not in line
    back = decode(line)
    assert back["loss"] == 0.5 and back["val_loss"] is None and back["type"] == "epoch"
    assert decode("I0000 tensorflow noise") is None
    assert list(read_events([line, "noise", line])) == [back, back]
    with pytest.raises(ValueError, match="Unknown event type"):
        make_event("paused")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, lenet):
    run_dir = tmp_path_factory.mktemp("run") / "lenet"
    handle = start_run(lenet, run_dir, training=TINY, dataset=DIGITS, in_process=True)
    return run_dir, run_events(handle)


def test_a_run_streams_started_batches_epochs_checkpoints_finished(finished_run):
    run_dir, events = finished_run
    types = [e["type"] for e in events]
    assert set(types) <= set(EVENT_TYPES)
    assert types[0] == "started" and types[-1] == "finished"
    started = events[0]
    assert started["steps_per_epoch"] == 4 and started["samples"] == 128
    assert started["backend"] == "tensorflow" and started["resumed"] is False
    epochs = [e for e in events if e["type"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert [e["step"] for e in epochs] == [4, 8]
    for e in epochs:
        assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(e)
        assert e["learning_rate"] == pytest.approx(0.001)
    batches = [e for e in events if e["type"] == "batch"]
    assert batches and all({"epoch", "batch", "step", "loss", "learning_rate"} <= set(b)
                           for b in batches)
    assert [b["step"] for b in batches if b["batch"] == 4] == [4, 8]  # last batch: always
    kinds = {(e["epoch"], e["kind"]) for e in events if e["type"] == "checkpoint"}
    assert {(1, "last"), (1, "best"), (1, "backup"), (2, "last"), (2, "backup")} <= kinds
    assert events[-1]["reason"] == "completed" and events[-1]["step"] == 8
    on_disk = list(read_events((run_dir / "events.jsonl").read_text().splitlines()))
    assert [e["type"] for e in on_disk] == types


def test_the_run_directory_holds_config_models_log_and_backup(finished_run):
    import keras

    run_dir, events = finished_run
    config = json.loads((run_dir / "config.json").read_text())
    assert config["training"]["epochs"] == 2 and config["training"]["optimizer"]["name"] == "adam"
    lenet = builder.load(builder.template_path("lenet"))
    assert config["dataset"] == {**lenet.dataset, **DIGITS}  # overrides on the project's
    assert builder.load(run_dir / "project.json").graph.to_dict() == \
        builder.load(builder.template_path("lenet")).graph.to_dict()
    rows = list(csv.DictReader((run_dir / "log.csv").open()))
    epochs = [e for e in events if e["type"] == "epoch"]
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[1]["val_loss"]) == pytest.approx(epochs[1]["val_loss"])
    last = keras.saving.load_model(run_dir / "last.keras")
    assert int(last.optimizer.iterations.numpy()) == 8
    best_epoch = events[-1]["best"]["epoch"]
    assert events[-1]["best"]["value"] == pytest.approx(epochs[best_epoch - 1]["val_loss"])
    assert (run_dir / "best.keras").is_file()
    state = json.loads((run_dir / "backup" / "state.json").read_text())
    assert state["epoch"] == 2 and state["step"] == 8
    assert [p.name for p in (run_dir / "backup").glob("epoch-*")] == ["epoch-0002.keras"]
    assert not list(run_dir.glob(".*tmp*"))


def test_stop_ends_the_run_at_the_next_batch(tmp_path, lenet):
    handle = start_run(lenet, tmp_path / "r", training={"epochs": 50, "batch_size": 8,
                                                        "batch_events_per_second": 0},
                       dataset=DIGITS, in_process=True)
    events = []
    for event in handle.events(timeout=120):
        events.append(event)
        if event["type"] == "batch" and event["step"] == 3:
            handle.stop()
    assert events[-1]["type"] == "stopped" and events[-1]["forced"] is False
    assert events[-1]["step"] <= 5  # the dispatcher may have queued a batch or two
    assert handle.returncode == 0
    assert (tmp_path / "r" / "last.keras").is_file()
    # The cut epoch is neither reported nor backed up: a resume redoes it whole.
    assert not any(e["type"] == "epoch" for e in events)
    assert not (tmp_path / "r" / "backup").exists()


def test_a_failure_is_an_event_with_message_and_traceback(tmp_path, lenet):
    handle = start_run(lenet, tmp_path / "r", training=TINY,
                       dataset={"name": "shapes", "samples": 40}, in_process=True)
    events = run_events(handle)
    assert [e["type"] for e in events] == ["failed"]
    assert "3 classes" in events[0]["message"] and "10 units" in events[0]["message"]
    assert "Traceback" in events[0]["traceback"]
    assert handle.returncode == 1


def test_early_stopping_ends_the_run(tmp_path, lenet):
    training = {"epochs": 8, "batch_size": 32,
                "early_stopping": {"monitor": "loss", "patience": 1, "min_delta": 100.0}}
    events = run_events(start_run(lenet, tmp_path / "r", training=training,
                                  dataset=DIGITS, in_process=True))
    assert events[-1]["type"] == "finished" and events[-1]["reason"] == "early_stopping"
    assert events[-1]["epoch"] == 2


def test_bad_settings_are_refused_before_anything_starts(tmp_path, lenet):
    with pytest.raises(TrainingError, match="training.epochs must be an integer >= 1"):
        start_run(lenet, tmp_path / "a", training={"epochs": 0}, in_process=True)
    with pytest.raises(TrainingError, match="Unknown training setting"):
        start_run(lenet, tmp_path / "b", training={"epoch": 3}, in_process=True)
    with pytest.raises(TrainingError, match="backend is not installed|must be one of"):
        start_run(lenet, tmp_path / "c", training={"backend": "mxnet"}, in_process=True)
    assert not (tmp_path / "a").exists()


def test_a_run_directory_is_never_reused(tmp_path, lenet, finished_run):
    run_dir, _ = finished_run
    with pytest.raises(TrainingError, match="already holds a run"):
        start_run(lenet, run_dir, in_process=True)


def test_resume_restores_early_stopping_counters(tmp_path, lenet):
    from builder.training.process import resume_run

    training = {"epochs": 2, "batch_size": 32,
                "early_stopping": {"monitor": "loss", "patience": 3, "min_delta": 100.0}}
    first = run_events(start_run(lenet, tmp_path / "r", training=training, dataset=DIGITS,
                                 in_process=True))
    assert first[-1]["reason"] == "completed"  # waited 1 epoch of 3
    events = run_events(resume_run(tmp_path / "r", in_process=True, epochs=8))
    assert events[0]["resumed"] is True and events[0]["initial_epoch"] == 2
    # Two more epochs without improvement reach the patience of 3; a restart
    # from zero would have needed four.
    assert events[-1]["reason"] == "early_stopping" and events[-1]["epoch"] == 4
    assert json.loads((tmp_path / "r" / "config.json").read_text())["training"]["epochs"] == 8


def small_project(shape, classes, heads=1):
    """Input -> Flatten -> one Dense head per Output (two heads: GoogLeNet-style)."""
    from builder.core import Graph
    from builder.core.project import Project

    g = Graph()
    g.add_node("Input", {"shape": list(shape)}, id="images")
    g.add_node("Flatten", {}, id="flatten")
    g.connect("images", "flatten")
    for i in range(heads):
        g.add_node("Dense", {"units": classes, "activation": "softmax"}, id=f"scores{i}")
        g.add_node("Output", {"loss_weight": 1.0 if i == 0 else 0.3}, id=f"out{i}")
        g.connect("flatten", f"scores{i}")
        g.connect(f"scores{i}", f"out{i}")
    return Project(g, name="small")


def test_a_run_with_augmentation(tmp_path):
    project = small_project((16, 16, 3), 3)
    dataset = {"name": "shapes", "samples": 80, "image_size": 16,
               "augment": {"flip": "horizontal", "crop": 2, "rotation": 0.05}}
    events = run_events(start_run(project, tmp_path / "r", training={"epochs": 2,
                                                                     "batch_size": 16},
                                  dataset=dataset, in_process=True))
    assert events[-1]["type"] == "finished" and events[-1]["step"] == 8
    assert events[0]["samples"] == 64 and events[0]["classes"] == 3


def test_a_run_with_two_heads(tmp_path):
    events = run_events(start_run(small_project((8, 8, 1), 10, heads=2), tmp_path / "r",
                                  training={"epochs": 1, "batch_size": 32},
                                  dataset={"name": "digits", "limit": 64}, in_process=True))
    assert events[-1]["type"] == "finished"
    epoch = [e for e in events if e["type"] == "epoch"][0]
    assert {"loss", "scores0_accuracy", "scores1_accuracy", "val_scores0_accuracy"} <= set(epoch)

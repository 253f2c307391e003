"""The panel's plain-data side: event series, smoothing, downsampling, run listing."""

from __future__ import annotations

import json

import pytest

from builder.core.project import Project
from builder.core import Graph, History
from builder.gui.training.state import (
    RunSeries,
    SetSettings,
    downsample,
    list_runs,
    smooth,
)


def test_smoothing_is_the_bias_corrected_moving_average():
    values = [4.0, 2.0, 3.0]
    # by hand: a1 = 0.4 -> 0.4/0.1 = 4; a2 = 0.36+0.2 = 0.56 -> 0.56/0.19; ...
    a1 = 0.1 * 4
    a2 = 0.9 * a1 + 0.1 * 2
    a3 = 0.9 * a2 + 0.1 * 3
    assert smooth(values) == pytest.approx([a1 / 0.1, a2 / (1 - 0.81), a3 / (1 - 0.729)])


def test_downsample_keeps_the_ends_and_bounds_the_size():
    xs = list(range(10_001))
    dx, dy = downsample(xs, [2 * x for x in xs], 2000)
    assert len(dx) <= 2001 and dx[0] == 0 and dx[-1] == 10_000
    assert dy == [2 * x for x in dx]
    assert downsample([1, 2], [3, 4], 5) == ([1, 2], [3, 4])


def test_series_progress_eta_and_images_per_second():
    s = RunSeries()
    s.feed({"type": "started", "time": 0.0, "epochs": 2, "steps_per_epoch": 10,
            "batch_size": 8, "step": 0})
    s.feed({"type": "batch", "time": 100.0, "epoch": 1, "batch": 1, "step": 1, "loss": 2.0,
            "learning_rate": 0.1})
    # Keras' 1.2 is the mean of batches 1..5; batches 2..5 averaged (5*1.2 - 2) / 4 = 1.0
    s.feed({"type": "batch", "time": 102.0, "epoch": 1, "batch": 5, "step": 5, "loss": 1.2,
            "learning_rate": 0.1})
    assert s.fraction == pytest.approx(5 / 20)
    assert s.steps_per_second == pytest.approx(2.0)
    assert s.images_per_second == pytest.approx(16.0)
    assert s.eta_seconds == pytest.approx(15 / 2.0)
    assert s.batch["loss"] == pytest.approx([2.0, 1.0])
    assert s.batch["smoothed"] == pytest.approx(smooth([2.0, 1.0]))
    # A new epoch starts a new running mean: its first report is taken as it is.
    s.feed({"type": "batch", "time": 103.0, "epoch": 2, "batch": 2, "step": 12, "loss": 0.5})
    assert s.batch["loss"][-1] == 0.5
    s.feed({"type": "epoch", "epoch": 1, "loss": 1.0, "val_loss": 1.5, "val_accuracy": 0.5,
            "seconds": 3.0})
    s.feed({"type": "failed", "message": "out of memory"})
    assert s.status == "failed" and s.message == "out of memory"
    assert s.final_metric() == ("val_accuracy", 0.5)


def test_set_settings_is_one_undo_step_per_section_and_marks_modified():
    project = Project(graph=Graph())
    history = History(project.graph)
    history.push(SetSettings(project, "training", {"epochs": 3}, "Set training settings"))
    history.push(SetSettings(project, "training", {"epochs": 4}, "Set training settings"))
    assert project.training == {"epochs": 4} and not history.is_clean
    history.undo()
    assert project.training == {} and history.is_clean
    with pytest.raises(ValueError, match="Received: 'graph'"):
        SetSettings(project, "graph", {})


def test_list_runs_reads_config_and_events(tmp_path):
    run = tmp_path / "lenet-5-20261127-000000"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(
        {"name": "LeNet-5", "training": {"optimizer": {"name": "sgd", "learning_rate": 0.01},
                                         "schedule": {"name": "constant"}, "epochs": 2},
         "dataset": {"name": "digits"}}))
    events = [{"type": "started", "time": 1.0, "epochs": 2, "steps_per_epoch": 3},
              {"type": "epoch", "time": 2.0, "epoch": 1, "val_accuracy": 0.4, "seconds": 1.0},
              {"type": "epoch", "time": 3.0, "epoch": 2, "val_accuracy": 0.7, "seconds": 1.0},
              {"type": "finished", "time": 3.1, "reason": "completed"}]
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events)
                                      + "not an event\n")
    (tmp_path / "other-20261127-000000").mkdir()  # another project's run is not listed
    (tmp_path / "other-20261127-000000" / "config.json").write_text("{}")
    runs = list_runs(tmp_path, "lenet-5")
    assert [r.name for r in runs] == [run.name]
    info = runs[0]
    assert info.series.status == "finished" and info.best_metric() == ("val_accuracy", 0.7)
    assert info.optimizer == "sgd" and "sgd lr=0.01" in info.describe()

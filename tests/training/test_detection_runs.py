"""Detection templates train through `builder train`: the Output's loss
('multibox' / 'yolo') and the shapes dataset's 'detection' task."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import builder
from builder.cli import main
from builder.detection.anchors import default_boxes
from builder.detection.models import SSD_SMALL
from builder.training.errors import TrainingError
from builder.training.tasks import anchor_config, task_name


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def _small(template: str, path, samples: int = 160, **dataset):
    project = builder.from_template(template)
    project.dataset = {**project.dataset, "samples": samples, **dataset}
    builder.save(project, path)
    return path


def test_ssd_small_trains_with_builder_train(ssd_run):
    """ssd_small (Output loss 'multibox') through `builder train --dataset shapes`
    with the template's task 'detection' (the shared ``ssd_run``)."""
    events = ssd_run.events
    assert ssd_run.code == 0, events[-1]
    started = events[0]
    assert started["dataset"] == "shapes" and started["classes"] == 3
    assert started["samples"] == 128 and started["val_samples"] == 32
    epochs = [e for e in events if e["type"] == "epoch"]
    assert len(epochs) == 3
    assert epochs[-1]["loss"] < 0.8 * epochs[0]["loss"]          # the MultiBox loss falls
    finished = events[-1]
    assert finished["type"] == "finished"
    metrics = finished["metrics"]
    assert 0.0 <= metrics["map50"] <= 1.0 and math.isfinite(metrics["map50"])
    per_class = [metrics[k] for k in metrics if k.startswith("ap50_")]
    assert per_class and metrics["map50"] == pytest.approx(np.mean(per_class))
    assert finished["evaluated"] == {"split": "validation", "samples": 32,
                                     "model": "best.keras"}
    # The events file keeps it for the runs list.
    saved = [json.loads(line) for line in (ssd_run.run / "events.jsonl").open()]
    assert saved[-1]["metrics"] == metrics
    from builder.gui.training.state import read_run

    assert read_run(ssd_run.run).best_metric() == ("map50", metrics["map50"])


def test_yolo_small_trains_with_builder_train(tmp_path, capsys):
    """YOLO, with flips that move the boxes with their images (the augmentation's
    detection path fed by the run's task)."""
    project = _small("yolo_small", tmp_path / "yolo.json", samples=96,
                     augment={"flip": "horizontal"})
    code = main(["train", str(project), "--epochs", "2", "--batch-size", "16", "--out",
                 str(tmp_path / "run"), "--in-process", "--jit", "off", "--events"])
    events = _events(capsys.readouterr().out)
    assert code == 0, events[-1]
    epochs = [e for e in events if e["type"] == "epoch"]
    assert epochs[-1]["loss"] < epochs[0]["loss"]
    assert 0.0 <= events[-1]["metrics"]["map50"] <= 1.0


def test_default_boxes_from_graph_match_the_detection_module():
    """The run's default boxes (graph heads + the template's training.detection)
    are the ones builder.detection.models uses for ssd_small."""
    project = builder.from_template("ssd_small")
    config = anchor_config(project.graph, project.training["detection"])
    assert config == SSD_SMALL
    assert len(default_boxes(config)) == 340


def test_detection_refusals():
    project = builder.from_template("ssd_small")
    with pytest.raises(TrainingError, match="detection data"):
        task_name({"dataset": {"task": "classification"}}, project.graph)
    with pytest.raises(TrainingError, match="boxes per location"):
        anchor_config(project.graph, {"aspect_ratios": [[2, 3]] * 4})


def test_a_detection_run_evaluates_and_exports(ssd_run):
    """Its .keras file names the MultiBox loss: evaluate and export load it."""
    from builder.training.cli_commands import evaluate_run
    from builder.training.export import load_source
    from builder.training.model_setup import compile_args

    metrics = evaluate_run(ssd_run.run)
    assert metrics["samples"] == 32 and math.isfinite(metrics["metrics"]["loss"])
    model, project, _ = load_source(ssd_run.run)     # what builder export starts from
    assert model.loss.name == "multibox_loss"
    # The loss needs the data's classes: plain compile_args (lr-find, the Python
    # export) names the way instead.
    with pytest.raises(TrainingError, match="'multibox' loss is built"):
        compile_args(project.graph, model)

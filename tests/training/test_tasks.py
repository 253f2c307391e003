"""The task plug-in registry and how a run's task is chosen (no training here)."""

from __future__ import annotations

import pytest

import builder
from builder.training.errors import TrainingError
from builder.training.tasks import (
    DetectionTask,
    Task,
    check_detection_settings,
    get_task,
    register,
    task_name,
)


def test_task_names_follow_the_dataset_and_the_output_loss():
    lenet = builder.from_template("lenet").graph
    ssd = builder.from_template("ssd_small").graph
    yolo = builder.from_template("yolo_small").graph
    assert task_name({"dataset": {"name": "digits"}}, lenet) == "classification"
    assert task_name({"dataset": {"task": "segmentation"}}, lenet) == "segmentation"
    assert task_name({"dataset": {}}, ssd) == "detection"      # from the 'multibox' loss
    assert task_name({"dataset": {}}, yolo) == "detection"     # from the 'yolo' loss
    assert isinstance(get_task("detection"), DetectionTask)
    assert get_task("classification").has_metrics is False
    assert get_task("detection").has_metrics is True


def test_register_a_plug_in():
    class Custom(Task):
        name = "custom-test-task"

    register("custom-test-task", Custom)
    assert isinstance(get_task("custom-test-task"), Custom)
    with pytest.raises(TrainingError, match="Unknown task 'nothing'.*custom-test-task"):
        get_task("nothing")


@pytest.mark.parametrize("settings, words", [
    ("big", "must be an object"),
    ({"scale": 0.2}, "Unknown training.detection setting"),
    ({"min_scale": -1}, "min_scale must be a number"),
    ({"boxes": 0}, "boxes must be an integer >= 1"),
])
def test_detection_settings_refused_in_one_line(settings, words):
    with pytest.raises(TrainingError, match=words) as info:
        check_detection_settings(settings)
    assert "\n" not in str(info.value)

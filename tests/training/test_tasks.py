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


def test_shapes_detection_and_instances_labels():
    """The shapes tasks that detectors train on: padded ground truth (boxes in
    fractions, class -1 pads), and for instances the masks packed behind it."""
    import numpy as np

    from builder.detection.rcnn_data import unpack_instances
    from builder.training.datasets import generate_shapes, load_dataset

    spec = {"name": "shapes", "samples": 20, "image_size": 64, "seed": 3}
    det = load_dataset({**spec, "task": "detection"}, (64, 64, 3))
    assert det.y_train.shape == (16, 3, 5) and det.y_train.dtype == np.float32
    assert det.class_names == ["circle", "square", "triangle"]
    y = np.concatenate([det.y_train, det.y_val])
    real = y[..., 4] >= 0
    assert real[:, 0].all() and set(np.unique(y[..., 4])) <= {-1.0, 0.0, 1.0, 2.0}
    assert np.all((y[..., :4] >= 0) & (y[..., :4] <= 1))
    assert np.all(y[real][:, 2] > y[real][:, 0]) and np.all(y[real][:, 3] > y[real][:, 1])
    # Resized with their images: the boxes (fractions) stay, on a 32x32 model input.
    small = load_dataset({**spec, "task": "detection"}, (32, 32, 3))
    assert small.x_train.shape[1:] == (32, 32, 3)
    np.testing.assert_array_equal(small.y_train, det.y_train)
    # The same scenes as generate_shapes draws (after the seeded split).
    scenes = generate_shapes(20, 64, seed=3, max_objects=3)
    assert sorted(map(tuple, np.round(y[:, 0, :4] * 64, 3))) == \
        sorted(map(tuple, np.round(scenes.boxes[:, 0], 3)))
    inst = load_dataset({**spec, "task": "instances"}, (64, 64, 3))
    truth, masks = unpack_instances(inst.y_train, (64, 64))
    assert inst.y_train.shape == (16, 3, 5 + 64 * 64) and masks.shape == (16, 3, 64, 64)
    assert np.all(masks[truth[..., 4] < 0] == 0) and masks[truth[..., 4] >= 0].any()


@pytest.mark.parametrize("how", ["unit", "standard", "none"])
def test_predict_prepares_an_image_file_as_the_run_prepared_its_data(how):
    """A digit saved as an 8-bit picture (0..255) comes out of `builder predict`'s
    preparation as the same sample of the run's training split."""
    import numpy as np

    from builder.training.datasets import load_dataset
    from builder.training.predict import fit_image, normalizer

    spec = {"name": "digits", "normalize": how, "seed": 1}
    data = load_dataset(spec)                       # no model: no resize
    raw = load_dataset({**spec, "normalize": "none"}).x_train[0]   # 0..16
    picture = raw * (255.0 / 16.0)                  # what an image file holds
    prepared = normalizer({"dataset": spec})(fit_image(picture, (8, 8, 1), "x.png"))
    np.testing.assert_allclose(prepared, data.x_train[0], rtol=1e-5, atol=1e-5)


def test_predict_fits_channels_and_refuses_others():
    import numpy as np

    from builder.training.predict import fit_image

    rgb = np.zeros((10, 12, 3), np.float32)
    rgb[..., 1] = 255.0
    grey = fit_image(rgb, (5, 6, 1), "a.png")
    assert grey.shape == (5, 6, 1) and np.allclose(grey, 0.587 * 255, atol=1e-3)
    assert fit_image(grey, (5, 6, 3), "a.png").shape == (5, 6, 3)
    with pytest.raises(TrainingError, match="a.png: the model takes images with 2 channels"):
        fit_image(rgb, (5, 6, 2), "a.png")
    with pytest.raises(TrainingError, match="not images"):
        fit_image(rgb, (64,), "a.png")

"""Segmentation and localization templates train on the built-in shapes data:
per-pixel softmax + mean IoU on masks, two heads (class + box) with two losses."""

from __future__ import annotations

import numpy as np
import pytest

import keras

import builder
from builder.compile import to_keras
from builder.training.datasets import load_dataset
from builder.training.errors import TrainingError
from builder.training.model_setup import check_classes, compile_args, head_targets
from builder.training.process import start_run


def _model(name):
    project = builder.load(builder.template_path(name))
    keras.utils.set_random_seed(0)
    model = to_keras(project.graph)
    return project, model


def test_a_tiny_unet_learns_shapes_masks():
    project, model = _model("unet_small")
    data = load_dataset({**project.dataset, "samples": 120}, tuple(model.inputs[0].shape[1:]))
    assert data.y_train.shape == data.x_train.shape[:3] and data.num_classes == 4
    model.compile(optimizer=keras.optimizers.Adam(0.003),
                  **compile_args(project.graph, model))
    before = model.evaluate(data.x_train, data.y_train, verbose=0, return_dict=True)
    model.fit(data.x_train, data.y_train, batch_size=8, epochs=4, verbose=0)
    after = model.evaluate(data.x_train, data.y_train, verbose=0, return_dict=True)
    # Per-pixel cross-entropy starts near ln 4 = 1.39 and must fall well below it.
    assert before["loss"] > 1.0
    assert after["loss"] < 0.5 * before["loss"], (before, after)
    assert 0.0 <= after["mean_iou"] <= 1.0


def test_mean_iou_is_keras_mean_iou_over_the_pixel_classes():
    y_true = np.array([[[0, 1], [2, 3]]])
    y_pred = keras.ops.one_hot(np.array([[[0, 1], [3, 3]]]), 4)
    project, model = _model("unet_small")
    (iou,) = [m for m in compile_args(project.graph, model)["metrics"]
              if not isinstance(m, str)]
    assert isinstance(iou, keras.metrics.MeanIoU) and iou.num_classes == 4
    iou.update_state(y_true, y_pred)
    # Classes 0, 1: IoU 1; class 2: 0 (missed); class 3: 1/2 (one hit, one false).
    assert float(iou.result()) == pytest.approx((1 + 1 + 0 + 0.5) / 4)


def test_a_segmentation_run_through_the_runner(tmp_path):
    project = builder.load(builder.template_path("segnet_small"))
    handle = start_run(project, tmp_path / "run", training={"epochs": 1, "batch_size": 16},
                       dataset={**project.dataset, "samples": 40, "image_size": 16},
                       in_process=True)
    events = list(handle.events(timeout=120))
    assert handle.wait(120) == 0, events[-1]
    epoch = [e for e in events if e["type"] == "epoch"][0]
    assert {"loss", "mean_iou", "val_mean_iou", "accuracy"} <= set(epoch)
    # The 16x16 masks were resized with their images to the model's 32x32.
    assert events[0]["samples"] == 32


def test_the_box_loss_falls_on_shapes_with_one_object(tmp_path):
    project, model = _model("localization")
    data = load_dataset({**project.dataset, "samples": 200}, tuple(model.inputs[0].shape[1:]))
    y = head_targets(data.y_train, len(model.outputs), "localization")
    assert y[0].dtype == np.int32 and y[1].shape == (len(data.x_train), 4)
    assert ((0 <= y[1]) & (y[1] <= 1)).all() and (y[1][:, 2:] > y[1][:, :2]).all()
    check_classes(model, data.num_classes, data.name,
                  [h["loss"] for h in [n.params for n in project.graph.nodes.values()
                                       if n.kind == "Output"]])
    args = compile_args(project.graph, model)
    assert args["loss_weights"] == [1.0, 10.0]
    model.compile(optimizer=keras.optimizers.Adam(0.002), **args)
    names = [f"{t._keras_history.operation.name}_loss" for t in model.outputs]
    before = model.evaluate(data.x_train, y, verbose=0, return_dict=True)
    model.fit(data.x_train, y, batch_size=32, epochs=6, verbose=0)
    after = model.evaluate(data.x_train, y, verbose=0, return_dict=True)
    box_before, box_after = before[names[1]], after[names[1]]
    assert box_after < 0.5 * box_before, (before, after)
    assert after[names[0]] < before[names[0]]


def test_localization_needs_a_class_head_and_a_box_head():
    with pytest.raises(TrainingError, match="two heads"):
        head_targets(np.zeros((4, 5), np.float32), 1, "localization")


def _exported(tmp_path, name, **dataset):
    import importlib.util

    from builder.core.project import Project
    from builder.training.python_export import python_script

    project = builder.load(builder.template_path(name))
    project = Project(project.graph, name=name, dataset={**project.dataset, **dataset},
                      training=project.training)
    script = tmp_path / f"train_{name}.py"
    script.write_text(python_script(project))
    spec = importlib.util.spec_from_file_location(f"train_{name}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_python_export_trains_localization_with_its_two_targets(tmp_path):
    module = _exported(tmp_path, "localization", samples=40)
    model = module.main(["--epochs", "1", "--out", str(tmp_path / "loc.keras")])
    assert len(model.outputs) == 2 and (tmp_path / "loc.keras").is_file()
    history = model.history.history
    assert {"class_scores_loss", "box_loss"} <= set(history)


def test_the_python_export_keeps_mean_iou(tmp_path):
    module = _exported(tmp_path, "unet_small", samples=20)
    (iou,) = [m for m in module._deserialize_metrics(module.METRICS) if not isinstance(m, str)]
    assert isinstance(iou, keras.metrics.MeanIoU) and iou.num_classes == 4

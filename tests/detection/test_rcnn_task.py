"""The 'instances' task plug-in: set-up, end-of-run metrics, checkpoint reload, predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import builder  # noqa: E402
from builder.compile import to_keras  # noqa: E402
from builder.detection.rcnn_data import pack_instances, shapes_instances  # noqa: E402
from builder.training.datasets.prepare import Dataset  # noqa: E402
from builder.training.datasets.shapes import SHAPE_CLASSES  # noqa: E402
from builder.training.errors import TrainingError  # noqa: E402
from builder.training.tasks import PredictContext, get_task  # noqa: E402


@pytest.fixture(scope="module")
def data():
    d = shapes_instances(24, seed=7)
    packed = pack_instances(d.y_true, d.masks)
    return Dataset("shapes", d.images[:16], packed[:16], d.images[16:], packed[16:],
                   list(SHAPE_CLASSES))


def test_instances_task_sets_up_evaluates_reloads_and_predicts(tmp_path, data):
    keras.utils.set_random_seed(0)
    project = builder.from_template("mask_rcnn_small")
    model = to_keras(project.graph)
    task = get_task("instances")
    setup = task.setup(model, project.graph, data, {})
    assert not setup.augmentable
    assert set(setup.x_train) == {"image", "y_true", "masks"}
    assert setup.x_train["masks"].shape == (16, 3, 64, 64)
    fit = setup.fit_model
    fit.compile(optimizer=keras.optimizers.Adam(2e-3), jit_compile=False,
                **setup.compile_args)
    # The fit model takes the set-up's inputs and outputs one loss per target
    # (an eager call: training it is test_rcnn_training's business).
    losses = fit({k: v[:2] for k, v in setup.x_train.items()})
    assert set(losses) == set(setup.y_train) == set(setup.compile_args["loss"])
    assert set(losses) == {"rpn_objectness", "rpn_box", "classifier", "box_reg", "mask"}
    assert all(v.shape == (2, 1) and np.isfinite(v.numpy()).all() for v in losses.values())

    metrics = task.evaluate(fit, project.graph, data, {})
    assert {"box_recall50", "map50"} <= set(metrics)
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    # A task instance that did not set the run up rebuilds the inference model
    # from the fit model's layers.
    from builder.detection.rcnn_task import _inference_from
    rebuilt = _inference_from(project.graph, fit)
    assert len(rebuilt.weights) == len(model.weights)
    for a, b in zip(model.weights, rebuilt.weights):
        assert np.array_equal(a.numpy(), b.numpy()), a.path

    # What the runner leaves behind: the fit model's checkpoint and the run's files.
    fit.save(tmp_path / "best.keras")
    builder.save(project, tmp_path / "project.json")
    config = {"dataset": {"name": "shapes", "task": "instances", "max_objects": 3},
              "training": {"detection": {"score_threshold": 0.0}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded = task.load_model(tmp_path)
    for a, b in zip(model.weights, loaded.weights):
        assert np.array_equal(a.numpy(), b.numpy()), a.path

    context = PredictContext(project.graph, config, list(SHAPE_CLASSES), tmp_path)
    results = task.predict(loaded, data.x_val[:2], context)
    assert len(results) == 2
    for r in results:
        assert r["task"] == "instances"
        for d in r["detections"]:
            assert set(d) == {"box", "class", "label", "score", "mask"}
            assert d["label"] == SHAPE_CLASSES[d["class"]]
            assert d["mask"].shape == (64, 64) and d["mask"].dtype == bool
            assert 0.0 <= d["score"] <= 1.0 and len(d["box"]) == 4
    scores = [d["score"] for d in results[0]["detections"]]
    assert scores == sorted(scores, reverse=True)

    with pytest.raises(TrainingError, match="no trained model yet"):
        task.load_model(tmp_path / "nothing")


def test_instances_task_refuses_other_models_and_labels(data):
    task = get_task("instances")
    lenet = builder.from_template("lenet")
    with pytest.raises(TrainingError, match="R-CNN template.*Received: a graph without rpn"):
        task.setup(to_keras(lenet.graph), lenet.graph, data, {})
    project = builder.from_template("faster_rcnn_small")
    bad = Dataset("shapes", data.x_train, data.y_train[..., :5], data.x_val,
                  data.y_val[..., :5], list(SHAPE_CLASSES))
    with pytest.raises(TrainingError, match=r"\(N, K, 5 \+ H\*W\).*Received: shape "
                                            r"\(16, 3, 5\).*\"task\": \"instances\""):
        task.setup(to_keras(project.graph), project.graph, bad, {})
    two = Dataset("shapes", data.x_train, data.y_train, data.x_val, data.y_val, ["a", "b"])
    with pytest.raises(TrainingError, match="needs 3 units. Received: box_cls with 4"):
        task.setup(to_keras(project.graph), project.graph, two, {})

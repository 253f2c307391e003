"""Several processes: Keras' JAX multi-process distribution over loopback.

Two worker processes on this machine join through a coordinator on
127.0.0.1, each trains on its own half of the data, and Keras' DataParallel
averages their gradients: both must end with identical weights, different
from what either would reach alone.
"""

from __future__ import annotations

import math
import socket

import numpy as np
import pytest

import builder
from builder.training.errors import TrainingError
from builder.training.process import start_run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def weights_of(path):
    import keras

    return keras.saving.load_model(path).get_weights()


def tiny_classifier():
    """Digits at their own 8x8 size into one Dense layer: quick for JAX to compile."""
    from builder.core import Graph
    from builder.core.project import Project

    g = Graph()
    g.add_node("Input", {"shape": [8, 8, 1]}, id="digits")
    for node, kind, params in (("flatten", "Flatten", {}),
                               ("scores", "Dense", {"units": 10, "activation": "softmax"}),
                               ("output", "Output", {})):
        g.add_node(kind, params, id=node)
    g.connect("digits", "flatten")
    g.connect("flatten", "scores")
    g.connect("scores", "output")
    return Project(g, name="tiny")


def test_two_workers_over_loopback_end_with_identical_weights(tmp_path):
    import jax  # noqa: F401 - a test dependency: its absence must fail, not skip

    project = tiny_classifier()
    training = {"backend": "jax", "epochs": 2, "batch_size": 16,
                "distribution": "multi_process", "coordinator": f"127.0.0.1:{free_port()}",
                "num_processes": 2}
    dataset = {"name": "digits", "limit": 128, "resize": False}
    handles = [start_run(project, tmp_path / f"worker{i}", training=training,
                         dataset=dataset, process_id=i) for i in range(2)]
    results = [list(h.events(timeout=240)) for h in handles]
    for events in results:
        assert events[-1]["type"] == "finished", events[-1].get("traceback", events[-1])
        started = events[0]
        assert started["backend"] == "jax" and started["distribution"] == "multi_process"
        assert started["processes"] == 2 and started["samples"] == 64  # its half
        assert events[-1]["step"] == 8  # 2 epochs of 4 global batches of 2 x 16
    assert sorted(r[0]["process"] for r in results) == [0, 1]
    # Metrics are computed on the global batch: both report the same numbers.
    epochs = [[e for e in r if e["type"] == "epoch"] for r in results]
    assert epochs[0][-1]["loss"] == pytest.approx(epochs[1][-1]["loss"], rel=1e-6)
    a, b = (weights_of(tmp_path / f"worker{i}" / "last.keras") for i in range(2))
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    start = weights_of_initial(project)
    assert any(not np.allclose(w0, w1) for w0, w1 in zip(start, a))  # they did train


def weights_of_initial(project):
    import keras

    keras.utils.set_random_seed(0)
    return builder.to_keras(project.graph).get_weights()


def test_multi_process_settings_are_checked(tmp_path):
    project = builder.load(builder.template_path("lenet"))
    with pytest.raises(TrainingError, match="uses Keras' JAX distribution"):
        start_run(project, tmp_path / "a", training={"distribution": "multi_process",
                                                     "coordinator": "127.0.0.1:1",
                                                     "num_processes": 2})
    with pytest.raises(TrainingError, match="needs coordinator"):
        start_run(project, tmp_path / "b", training={"distribution": "multi_process",
                                                     "backend": "jax"})
    with pytest.raises(TrainingError, match="needs this process' id"):
        start_run(project, tmp_path / "c", training={
            "distribution": "multi_process", "backend": "jax",
            "coordinator": "127.0.0.1:1", "num_processes": 2})


def test_a_jax_run_reports_batches_and_the_scheduled_rate(tmp_path):
    """Batch events under JAX: the batch hook runs on Keras' worker thread, where
    optimizer variables may already be donated to the next step; the run must
    neither fail ("Array has been deleted") nor report a stale rate."""
    from builder.training.schedule_preview import schedule_preview

    project = tiny_classifier()
    schedule = {"name": "exponential", "k": 0.5}
    training = {"backend": "jax", "epochs": 2, "batch_size": 8,
                "optimizer": {"name": "sgd", "learning_rate": 0.1}, "schedule": schedule}
    dataset = {"name": "digits", "limit": 160, "resize": False}
    handle = start_run(project, tmp_path / "run", training=training, dataset=dataset)
    events = list(handle.events(timeout=240))
    assert events[-1]["type"] == "finished", events[-1].get("traceback", events[-1])
    batches = [e for e in events if e["type"] == "batch"]
    steps_per_epoch = events[0]["steps_per_epoch"]
    assert len(batches) >= 2
    curve = schedule_preview({"optimizer": training["optimizer"], "schedule": schedule},
                             steps_per_epoch, 2)
    for event in batches:
        # The rate the next update uses, after `step` updates; past the last
        # update, the lecture's a0 * exp(-k t) at t = 2 epochs.
        step = event["step"]
        expected = curve[step] if step < len(curve) else 0.1 * math.exp(-0.5 * 2)
        assert event["learning_rate"] == pytest.approx(expected, rel=1e-5)
    assert len({round(e["learning_rate"], 9) for e in batches}) > 1  # it moved

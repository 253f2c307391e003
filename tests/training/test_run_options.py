"""Backend, precision, device and jit options of a run."""

from __future__ import annotations

import os

import pytest

import builder
from builder.training.process import child_environment, start_run
from builder.training.run_config import available_backends, resolve_run


def test_only_importable_backends_are_offered():
    import importlib.util

    offered = available_backends()
    assert offered[0] == "tensorflow"
    for name, module in (("jax", "jax"), ("torch", "torch")):
        assert (name in offered) == (importlib.util.find_spec(module) is not None)


def test_options_follow_the_machine():
    from builder.training.model_setup import gpu_count, training_options

    options = training_options()
    assert options["mixed_precision"] == (gpu_count() > 0)
    assert options["devices"][:2] == ["auto", "cpu"]
    assert len(options["devices"]) == 2 + gpu_count()
    assert options["backends"] == available_backends()


def test_the_child_gets_the_backend_and_devices():
    env = child_environment({"backend": "jax", "device": "cpu"})
    assert env["KERAS_BACKEND"] == "jax" and env["CUDA_VISIBLE_DEVICES"] == "-1"
    inherited = child_environment({"device": "auto"}).get("CUDA_VISIBLE_DEVICES")
    assert inherited == os.environ.get("CUDA_VISIBLE_DEVICES")


def test_run_settings_are_checked():
    assert resolve_run({})["jit_compile"] == "auto"
    assert resolve_run({"jit_compile": False})["jit_compile"] is False
    with pytest.raises(Exception, match="jit_compile must be"):
        resolve_run({"jit_compile": "yes"})
    with pytest.raises(Exception, match="device must be auto, cpu, gpu or gpu:N"):
        resolve_run({"device": "tpu"})
    assert resolve_run({"early_stopping": True})["early_stopping"]["patience"] == 5


def test_mixed_precision_is_refused_without_a_gpu(tmp_path):
    from builder.training.model_setup import gpu_count

    if gpu_count():
        pytest.skip("this machine has a GPU: mixed precision is allowed here")
    project = builder.load(builder.template_path("lenet"))
    handle = start_run(project, tmp_path / "r", training={"mixed_precision": True},
                       dataset={"name": "digits", "limit": 32}, in_process=True)
    events = list(handle.events(timeout=60))
    assert events[-1]["type"] == "failed"
    assert events[-1]["message"] == ("Mixed precision needs a GPU and none is visible "
                                     "here. Received: mixed_precision=true")


def test_the_last_layer_stays_float32_under_mixed_precision():
    import keras

    from builder.training.model_setup import last_layers_float32

    project = builder.load(builder.template_path("lenet"))
    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        model = last_layers_float32(builder.to_keras(project.graph))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("c1").compute_dtype == "float16"
    assert model.get_layer("predictions").compute_dtype == "float32"
    assert model.outputs[0].dtype == "float32"


def test_a_run_on_the_chosen_device(tmp_path):
    project = builder.load(builder.template_path("lenet"))
    handle = start_run(project, tmp_path / "r", training={"device": "cpu", "epochs": 1},
                       dataset={"name": "digits", "limit": 32}, in_process=True)
    events = list(handle.events(timeout=60))
    assert events[0]["device"] == "cpu:0" and events[-1]["type"] == "finished"

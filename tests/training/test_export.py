"""Export in every format, each checked against Keras by an independent reload."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import builder
from builder.training.errors import ExportError
from builder.training.export import FORMATS, check_batch, export_model, load_source
from builder.training.process import start_run

DIGITS = {"name": "digits", "limit": 96}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("export") / "run"
    project = builder.load(builder.template_path("lenet"))
    handle = start_run(project, run_dir, training={"epochs": 1, "batch_size": 32},
                       dataset=DIGITS, in_process=True)
    events = list(handle.events(timeout=120))
    assert events[-1]["type"] == "finished"
    return run_dir, events


@pytest.fixture(scope="module")
def source(trained):
    return load_source(trained[0])


def test_the_run_source_is_its_best_model(source, trained):
    import keras

    model, project, run_dir = source
    assert run_dir == trained[0]
    best = keras.saving.load_model(trained[0] / "best.keras")
    x = check_batch(model)
    np.testing.assert_array_equal(model.predict(x, verbose=0), best.predict(x, verbose=0))


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
@pytest.mark.parametrize("fmt,name", [("keras", "m.keras"), ("savedmodel", "saved"),
                                      ("onnx", "m.onnx"), ("tflite", "m.tflite")])
def test_each_format_reloads_with_the_same_outputs(source, tmp_path, fmt, name):
    model, project, run_dir = source
    result = export_model(model, fmt, tmp_path / name, project=project, run_dir=run_dir)
    assert result.max_difference <= 1e-4 and result.path.exists()
    # An independent check on other inputs, with each format's own runtime.
    x = np.random.default_rng(7).uniform(size=(3, 32, 32, 1)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    if fmt == "keras":
        import keras

        got = keras.saving.load_model(result.path, safe_mode=True).predict(x, verbose=0)
    elif fmt == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(result.path))
        got = loaded.serve(x).numpy()
    elif fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(result.path))
        got = session.run(None, {session.get_inputs()[0].name: x})[0]
    else:
        import tensorflow as tf

        interpreter = tf.lite.Interpreter(model_path=str(result.path))
        inp = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(inp["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_a_mismatching_artefact_is_refused(source, tmp_path, monkeypatch):
    from builder.training import export

    model, project, run_dir = source
    writer, reader = export._FORMATS["keras"]
    monkeypatch.setitem(export._FORMATS, "keras",
                        (writer, lambda m, p, x: reader(m, p, x) + 0.01))
    with pytest.raises(ExportError, match="differ from the Keras model's by up to 0.01"):
        export_model(model, "keras", tmp_path / "m.keras")
    with pytest.raises(ExportError, match="Unknown export format"):
        export_model(model, "caffe", tmp_path / "m.caffe")
    assert set(FORMATS) == {"keras", "savedmodel", "onnx", "tflite", "python"}


def test_the_python_script_trains_like_the_run(source, trained, tmp_path):
    model, project, run_dir = source
    script = tmp_path / "train.py"
    result = export_model(model, "python", script, project=project, run_dir=run_dir)
    assert result.max_difference == 0.0  # its build_model() given the trained weights
    text = script.read_text()
    assert "import builder" not in text and "from builder" not in text
    out = subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "s.keras")],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    # Same seed, data, optimizer: the script's epoch reports the run's metrics.
    epoch = [e for e in trained[1] if e["type"] == "epoch"][0]
    shown = dict(re.findall(r"(\w+): ([0-9.]+)", out.stdout.splitlines()[-2]))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert float(shown[key]) == pytest.approx(epoch[key], abs=2e-4), key
    assert (tmp_path / "s.keras").is_file()


def test_a_project_exports_with_fresh_weights(tmp_path):
    model, project, run_dir = load_source("lenet")
    assert run_dir is None and project.name == "LeNet-5"
    result = export_model(model, "keras", tmp_path / "lenet.keras", project=project)
    assert result.max_difference == 0.0


def test_the_script_loads_the_same_data_as_a_run(tmp_path):
    """The copied data recipe draws the same shapes, split and normalised the same."""
    import importlib.util

    from builder.core.project import Project
    from builder.training.datasets import load_dataset
    from builder.training.python_export import python_script

    project = builder.load(builder.template_path("linear"))  # 32x32x3, 10 classes
    project = Project(project.graph, name="linear",
                      dataset={"name": "shapes", "samples": 60, "image_size": 24,
                               "validation_split": 0.25, "seed": 4},
                      training={"optimizer": {"name": "sgd"},
                                "schedule": {"name": "cyclical", "step_size_epochs": 2}})
    script = tmp_path / "train_shapes.py"
    script.write_text(python_script(project))
    spec = importlib.util.spec_from_file_location("train_shapes", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x, y, xv, yv = module.load_data((32, 32, 3))
    data = load_dataset(project.dataset, (32, 32, 3))
    np.testing.assert_array_equal(x, data.x_train)
    np.testing.assert_array_equal(yv, data.y_val)
    import keras

    optimizer = keras.optimizers.deserialize(module.OPTIMIZER)  # the copied schedule class
    schedule = optimizer._learning_rate
    assert type(schedule).__name__ == "CyclicalLearningRate"
    assert type(schedule).__module__ == "train_shapes"  # the script's own copy
    assert schedule.step_size == 2 * 2  # 2 epochs of 2 batches (45 samples / 32)

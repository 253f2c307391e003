"""Exporting a trained (or freshly built) model, each format verified.

Every export reloads what it wrote with that format's own runtime and
compares its outputs with the Keras model's on a batch:

===============  ========================================  =====================
format           written with                              reloaded with
===============  ========================================  =====================
``keras``        ``model.save``                            ``keras.saving.load_model(safe_mode=True)``
``savedmodel``   ``model.export(format="tf_saved_model")`` ``tf.saved_model.load``
``onnx``         ``model.export(format="onnx")`` (tf2onnx)  ``onnxruntime``
``tflite``       ``model.export(format="litert")``          the TFLite interpreter
``python``       :mod:`~builder.training.python_export`     importing the script, its
                                                           ``build_model()`` given the weights
===============  ========================================  =====================
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

from builder.core.project import Project, atomic_write
from builder.training.errors import ExportError

FORMATS = ("keras", "savedmodel", "onnx", "tflite", "python")

#: Largest |difference| accepted between the artefact's outputs and Keras'.
TOLERANCE = 1e-4


@dataclass
class ExportResult:
    """What an export wrote and how well it matched.

    Attributes:
        format: the format.
        path: the file or folder written.
        max_difference: the largest |output difference| on the check batch.
        batch: the number of samples compared.
    """

    format: str
    path: Path
    max_difference: float
    batch: int


def load_source(target: str | os.PathLike) -> tuple[keras.Model, Project, Path | None]:
    """The model to export: a run's ``best.keras`` (else ``last.keras``), or a
    project compiled with fresh weights.

    Returns:
        ``(model, project, run_dir or None)``.
    """
    import builder  # noqa: PLC0415
    from builder.training import cyclical  # noqa: F401,PLC0415 - registers the schedule
    from builder.training.run_dir import is_run_dir, load_run_project  # noqa: PLC0415

    path = Path(target)
    if path.is_dir() and is_run_dir(path):
        project = load_run_project(path)
        for name in ("best.keras", "last.keras"):
            if (path / name).is_file():
                import builder.compile.custom_layers  # noqa: F401,PLC0415
                import builder.detection.ops  # noqa: F401,PLC0415 - a detector's loss
                import builder.detection.yolo  # noqa: F401,PLC0415

                model = keras.saving.load_model(path / name, safe_mode=True)
                return model, project, path
        raise ExportError(f"{path}: the run has no trained model yet (no best.keras "
                          "or last.keras)")
    if path.suffix == "" and not path.exists():
        project = builder.from_template(str(target))
    else:
        project = builder.load(path)
    keras.utils.set_random_seed(0)
    return builder.to_keras(project.graph), project, None


def check_batch(model: keras.Model, size: int = 4, seed: int = 0) -> np.ndarray:
    """A reproducible batch of inputs in [0, 1] for the model's input shape."""
    shape = tuple(d if d is not None else 1 for d in model.inputs[0].shape[1:])
    return np.random.default_rng(seed).uniform(size=(size, *shape)).astype(np.float32)


def export_model(model: keras.Model, fmt: str, path: str | os.PathLike, *,
                 project: Project | None = None,
                 run_dir: Path | None = None) -> ExportResult:
    """Writes ``model`` in format ``fmt`` to ``path`` and verifies it.

    Args:
        model: the Keras model.
        fmt: one of :data:`FORMATS`.
        path: the file (``.keras``, ``.onnx``, ``.tflite``, ``.py``) or folder
            (``savedmodel``) to write; parent folders are created.
        project: the project (needed by ``python``: its graph, training and
            dataset settings).
        run_dir: the run the model comes from (``python`` takes its settings).

    Returns:
        The :class:`ExportResult`.

    Raises:
        ExportError: an unknown format, a missing package (the message says
            which to install), or an artefact whose outputs differ.
    """
    if fmt not in FORMATS:
        raise ExportError(f"Unknown export format. Expected one of {', '.join(FORMATS)}. "
                          f"Received: {fmt!r}")
    if len(model.inputs) != 1:
        raise ExportError(f"Export takes models with one input. Received: "
                          f"{len(model.inputs)} inputs")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = check_batch(model)
    expected = _as_list(model.predict(x, verbose=0))
    writer, reader = _FORMATS[fmt]
    try:
        writer(model, path, project, run_dir)
    except ExportError:
        raise
    except Exception as exc:  # the exporter's own failure, in one line
        raise ExportError(f"The {fmt} export failed. Received: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
    try:
        got = _as_list(reader(model, path, x))
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(f"{path}: the {fmt} artefact could not be reloaded. Received: "
                          f"{type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
    if len(got) != len(expected):
        raise ExportError(f"{path}: the {fmt} artefact has {len(got)} outputs, the "
                          f"model {len(expected)}")
    worst = max(float(np.max(np.abs(np.asarray(g, np.float32).reshape(e.shape) - e)))
                for g, e in zip(got, expected))
    if not worst <= TOLERANCE:
        raise ExportError(f"{path}: the {fmt} artefact's outputs differ from the Keras "
                          f"model's by up to {worst:.3g} (tolerance {TOLERANCE}) on a "
                          f"batch of {len(x)}")
    return ExportResult(fmt, path, worst, len(x))


def _as_list(outputs: Any) -> list[np.ndarray]:
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(o) for o in outputs]
    return [np.asarray(outputs)]


def _require(module: str, package: str, fmt: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ExportError(f"The {fmt} export needs the '{package}' package. "
                          f"Run: pip install {package}")


def _need_tensorflow(fmt: str) -> None:
    _require("tensorflow", "tensorflow", fmt)
    if keras.backend.backend() != "tensorflow":
        raise ExportError(f"The {fmt} export runs on the TensorFlow backend. Received: "
                          f"KERAS_BACKEND={keras.backend.backend()}")


@contextlib.contextmanager
def _quiet():
    """Exporters print progress to stdout; the CLI prints its own line."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# -- keras ----------------------------------------------------------------------

def _write_keras(model, path, project, run_dir):
    if path.suffix != ".keras":
        raise ExportError(f"A Keras model file must end in .keras. Received: {path}")
    tmp = path.with_name(f".{path.name}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def _read_keras(model, path, x):
    import builder.compile.custom_layers  # noqa: F401,PLC0415
    from builder.training import cyclical  # noqa: F401,PLC0415

    return keras.saving.load_model(path, safe_mode=True).predict(x, verbose=0)


# -- savedmodel ---------------------------------------------------------------------

def _write_savedmodel(model, path, project, run_dir):
    _need_tensorflow("savedmodel")
    if path.exists():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    with _quiet():
        model.export(str(path), format="tf_saved_model", verbose=False)


def _read_savedmodel(model, path, x):
    import tensorflow as tf  # noqa: PLC0415

    loaded = tf.saved_model.load(str(path))  # must outlive the call: it owns the variables
    return loaded.serve(x).numpy()


# -- onnx --------------------------------------------------------------------------

def _write_onnx(model, path, project, run_dir):
    _need_tensorflow("onnx")
    for module, package in (("tf2onnx", "tf2onnx"), ("onnx", "onnx")):
        _require(module, package, "onnx")
    with _quiet():
        model.export(str(path), format="onnx", verbose=False)


def _read_onnx(model, path, x):
    _require("onnxruntime", "onnxruntime", "onnx")
    import onnxruntime  # noqa: PLC0415

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


# -- tflite ------------------------------------------------------------------------

def _write_tflite(model, path, project, run_dir):
    _need_tensorflow("tflite")
    with _quiet():
        model.export(str(path), format="litert", verbose=False)


def _read_tflite(model, path, x):
    with _quiet():
        try:
            from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415
        except ImportError:
            import tensorflow as tf  # noqa: PLC0415

            Interpreter = tf.lite.Interpreter  # noqa: N806 - deprecated, still works
        interpreter = Interpreter(model_path=str(path))
    inp = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(inp["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    return [interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()]


# -- python ------------------------------------------------------------------------

def _write_python(model, path, project, run_dir):
    from builder.training.python_export import python_script  # noqa: PLC0415
    from builder.training.run_dir import read_config  # noqa: PLC0415

    if project is None:
        raise ExportError("The python export needs the project. Received: none")
    config = read_config(run_dir) if run_dir is not None else None
    atomic_write(path, python_script(project, config, path.name))


def _read_python(model, path, x):
    spec = importlib.util.spec_from_file_location(f"_exported_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rebuilt = module.build_model()
    rebuilt.set_weights(model.get_weights())
    return rebuilt.predict(x, verbose=0)


_FORMATS: dict[str, tuple[Callable, Callable]] = {
    "keras": (_write_keras, _read_keras),
    "savedmodel": (_write_savedmodel, _read_savedmodel),
    "onnx": (_write_onnx, _read_onnx),
    "tflite": (_write_tflite, _read_tflite),
    "python": (_write_python, _read_python),
}

"""The run settings of a project's ``"training"`` section (keras-free).

The optimizer and schedule keys belong to :mod:`builder.training.config`; the
keys here say how a run goes::

    {"epochs": 10, "batch_size": 32, "seed": 0,
     "early_stopping": {"monitor": "val_loss", "patience": 5, "min_delta": 0.0},
     "monitor": "val_loss",          # decides best.keras
     "backend": "tensorflow",        # jax, torch where installed
     "device": "auto",               # cpu, gpu, gpu:1
     "mixed_precision": false,       # GPU only; the last layer stays float32
     "jit_compile": "auto",          # true / false: XLA
     "distribution": "auto",         # none, mirrored, data_parallel, multi_process
     "coordinator": "10.0.0.1:1234", # multi_process: process 0's address (JAX only)
     "num_processes": 2,             # multi_process: how many; each its own process id
     "batch_events_per_second": 10}
"""

from __future__ import annotations

import importlib.util
from typing import Any, Mapping

from builder.training.errors import TrainingError

RUN_DEFAULTS: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 32,
    "seed": 0,
    "early_stopping": None,
    "monitor": "val_loss",
    "backend": "tensorflow",
    "device": "auto",
    "mixed_precision": False,
    "jit_compile": "auto",
    "distribution": "auto",
    "coordinator": None,
    "num_processes": None,
    "batch_events_per_second": 10.0,
    # Default boxes / grid of a detection head (builder.training.tasks.DETECTION_KEYS).
    "detection": None,
}

EARLY_STOPPING_DEFAULTS = {"monitor": "val_loss", "patience": 5, "min_delta": 0.0,
                           "restore_best_weights": False}

#: Keys of the training section that are not run settings.
OPTIMIZER_KEYS = ("optimizer", "schedule")

BACKENDS = ("tensorflow", "jax", "torch")
DISTRIBUTIONS = ("auto", "none", "mirrored", "data_parallel", "multi_process")

_BACKEND_MODULE = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def available_backends() -> list[str]:
    """The Keras backends importable here (found without importing them)."""
    return [b for b in BACKENDS if importlib.util.find_spec(_BACKEND_MODULE[b])]


def resolve_run(training: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run settings with defaults filled in and every value checked.

    Raises:
        TrainingError: a value of the wrong type or out of range (one line
            naming the key).
    """
    training = dict(training or {})
    run = {k: training.get(k, v) for k, v in RUN_DEFAULTS.items()}
    unknown = sorted(set(training) - set(RUN_DEFAULTS) - set(OPTIMIZER_KEYS))
    if unknown:
        raise TrainingError(f"Unknown training setting(s) {unknown}. Expected: "
                            f"{', '.join(list(OPTIMIZER_KEYS) + list(RUN_DEFAULTS))}")
    for key in ("epochs", "batch_size"):
        value = run[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TrainingError(f"training.{key} must be an integer >= 1. "
                                f"Received: {key}={value!r}")
    if run["backend"] not in BACKENDS:
        raise TrainingError(f"training.backend must be one of {', '.join(BACKENDS)}. "
                            f"Received: backend={run['backend']!r}")
    if run["backend"] not in available_backends():
        raise TrainingError(f"The {run['backend']} backend is not installed here. "
                            f"Installed: {', '.join(available_backends()) or 'none'}. "
                            f"Received: backend={run['backend']!r}")
    device = str(run["device"])
    if not (device in ("auto", "cpu", "gpu") or device.startswith(("gpu:", "cpu:"))):
        raise TrainingError("training.device must be auto, cpu, gpu or gpu:N. "
                            f"Received: device={device!r}")
    if run["jit_compile"] not in ("auto", True, False):
        raise TrainingError("training.jit_compile must be \"auto\", true or false. "
                            f"Received: jit_compile={run['jit_compile']!r}")
    if not isinstance(run["mixed_precision"], bool):
        raise TrainingError("training.mixed_precision must be true or false. "
                            f"Received: mixed_precision={run['mixed_precision']!r}")
    if run["distribution"] not in DISTRIBUTIONS:
        raise TrainingError(f"training.distribution must be one of "
                            f"{', '.join(DISTRIBUTIONS)}. "
                            f"Received: distribution={run['distribution']!r}")
    if run["distribution"] == "multi_process":
        if run["backend"] != "jax":
            raise TrainingError("Training on several processes (machines) uses Keras' JAX "
                                "distribution; set training.backend to \"jax\". "
                                f"Received: backend={run['backend']!r}")
        n = run["num_processes"]
        if not run["coordinator"] or isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise TrainingError("distribution \"multi_process\" needs coordinator "
                                "(\"host:port\" of process 0) and num_processes >= 1. "
                                f"Received: coordinator={run['coordinator']!r}, "
                                f"num_processes={n!r}")
    if run["detection"] is not None and not isinstance(run["detection"], dict):
        raise TrainingError("training.detection must be null or an object such as "
                            '{"min_scale": 0.15, "max_scale": 0.75}. '
                            f"Received: detection={run['detection']!r}")
    es = run["early_stopping"]
    if es is not None and es is not False:
        if es is True:
            es = {}
        if not isinstance(es, dict) or set(es) - set(EARLY_STOPPING_DEFAULTS):
            raise TrainingError("training.early_stopping must be null or an object with "
                                f"{', '.join(EARLY_STOPPING_DEFAULTS)}. Received: {es!r}")
        run["early_stopping"] = {**EARLY_STOPPING_DEFAULTS, **es}
    else:
        run["early_stopping"] = None
    return run

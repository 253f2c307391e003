"""A standalone training script: the model, its optimizer, schedule and data.

``builder export RUN_OR_PROJECT --format python -o train.py`` writes a script
that needs Keras and numpy (and scikit-learn for ``digits``), not Keras
Builder: the model comes from :func:`builder.to_source`; the optimizer with
its schedule is Keras' own serialisation of the one a run builds (so the
schedule's step counts are the run's); the data recipe is the source of
:mod:`builder.training.datasets`, copied function by function, so the script
loads, splits, normalises and resizes exactly as a run does.
"""

from __future__ import annotations

import inspect
import json
import math
import pprint
from typing import Any

import keras

from builder.core.project import Project
from builder.training.datasets import prepare, resize, shapes, sources

#: Functions of the data recipe every script carries.
_RECIPE = [sources._labels, sources._is_float, sources._path, sources.keras_cache_dir,
           resize.interpolation_matrix, resize.resize_images, resize.convert_channels,
           resize.resize_labels, prepare._normalize, prepare._matches, prepare.fit_to_input,
           prepare.prepare_arrays]

#: The loader of each source, and what else it needs.
_LOADERS = {
    "digits": [sources.load_digits],
    "shapes": [shapes._shape_mask, shapes.generate_shapes, shapes.shapes_classification,
               shapes.shapes_segmentation, shapes.shapes_localization, sources.load_shapes],
    "npz": [sources.load_npz],
    "folder": [sources.load_folder],
    "csv": [sources.load_csv],
    **{name: [sources.load_keras_dataset] for name in sources.KERAS_SETS},
}

_HEADER = '''"""Trains {name}: written by Keras Builder's `builder export --format python`.

Needs only Keras and numpy (scikit-learn for the digits set). It builds the
model, compiles it with the same optimizer and learning-rate schedule, loads
the same data the same way, and trains it:

    python {script} [--epochs N] [--out model.keras]

The schedule's step counts were worked out for {steps_per_epoch} batches per
epoch (batch size {batch_size}); change the batch size and they no longer match.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib.util
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np
from keras import layers, ops
'''

_MAIN = '''

def load_data(input_shape):
    """(x_train, y_train, x_val, y_val), prepared as Keras Builder prepares them."""
    raw = {loader}(dict(DATASET, name={name!r}))
    return prepare_arrays({name!r}, DATASET, raw, input_shape, [])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=TRAINING["epochs"])
    parser.add_argument("--out", default="model.keras", help="where to save the model")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(TRAINING["seed"])
    model = build_model()
    x_train, y_train, x_val, y_val = load_data(tuple(model.inputs[0].shape[1:]))
    heads = len(model.outputs)
    if heads > 1 and DATASET.get("task") == "localization":
        # [class, y1, x1, y2, x2]: the class head's labels, then the box head's.
        y_train, y_val = ([y[:, 0].astype("int32"), y[:, 1:]] for y in (y_train, y_val))
    elif heads > 1:
        y_train, y_val = [y_train] * heads, [y_val] * heads
    model.compile(optimizer=keras.optimizers.deserialize(OPTIMIZER),
                  loss=_deserialize_loss(LOSS), loss_weights=LOSS_WEIGHTS,
                  metrics=_deserialize_metrics(METRICS))
    callbacks = []
    if TRAINING["early_stopping"]:
        callbacks.append(keras.callbacks.EarlyStopping(**TRAINING["early_stopping"]))
    if PLATEAU:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(**PLATEAU))
    model.fit(x_train, y_train, batch_size=TRAINING["batch_size"], epochs=args.epochs,
              validation_data=(x_val, y_val), shuffle=True, callbacks=callbacks,
              verbose=2)
    model.save(args.out)
    print(f"saved {{args.out}}")
    return model


def _deserialize_loss(loss):
    if isinstance(loss, list):
        return [_deserialize_loss(item) for item in loss]
    return keras.losses.deserialize(loss) if isinstance(loss, dict) else loss


def _deserialize_metrics(metrics):
    if isinstance(metrics, list):
        return [_deserialize_metrics(item) for item in metrics]
    return keras.metrics.deserialize(metrics) if isinstance(metrics, dict) else metrics


if __name__ == "__main__":
    main()
'''


def python_script(project: Project, config: dict[str, Any] | None = None,
                  script_name: str = "train.py") -> str:
    """The text of a standalone script that trains ``project`` as a run would.

    Args:
        project: the project (its graph).
        config: a run's ``config.json``; default: resolved from the project.
    """
    from builder import to_keras, to_source  # noqa: PLC0415
    from builder.training import model_setup  # noqa: PLC0415
    from builder.training.optimizers import build_optimizer  # noqa: PLC0415
    from builder.training.run_dir import resolve_config  # noqa: PLC0415
    from builder.training.schedules import plateau_callback  # noqa: PLC0415

    config = config or resolve_config(project)
    training, dataset = config["training"], config["dataset"]
    name = prepare.resolve_name(dataset)
    model = to_keras(project.graph)
    raw = sources.BUILTIN[name](dict(dataset, name=name))
    x_train = prepare.prepare_arrays(name, dataset, raw, tuple(model.inputs[0].shape[1:]),
                                     [])[0]
    steps_per_epoch = math.ceil(len(x_train) / training["batch_size"])
    optimizer = keras.optimizers.serialize(
        build_optimizer(training, steps_per_epoch, training["epochs"]))
    args = model_setup.compile_args(project.graph, model)
    loss = args["loss"]
    loss = [_loss_config(item) for item in loss] if isinstance(loss, list) else \
        _loss_config(loss)
    plateau = plateau_callback(training)
    plateau_args = None if plateau is None else {
        "monitor": plateau.monitor, "factor": plateau.factor, "patience": plateau.patience,
        "mode": plateau.mode, "min_delta": plateau.min_delta,
        "cooldown": plateau.cooldown, "min_lr": plateau.min_lr}
    run = {k: training[k] for k in ("epochs", "batch_size", "seed", "early_stopping")}
    dataset = {k: v for k, v in dataset.items() if k != "name"}

    model_source = to_source(project.graph)
    model_source = model_source[model_source.index('"""', 3) + 3:]  # its docstring
    model_source = "\n".join(line for line in model_source.splitlines()
                             if line not in ("import keras", "from keras import layers"))
    model_source = model_source[:model_source.rindex('if __name__ == "__main__":')].rstrip()
    parts = [_HEADER.format(name=project.name, script=script_name,
                            steps_per_epoch=steps_per_epoch,
                            batch_size=training["batch_size"])]
    parts.append("\n".join([
        "# -- settings (as the Keras Builder run resolved them) --",
        f"TRAINING = {_literal(run)}",
        f"DATASET = {_literal(dataset)}",
        f"OPTIMIZER = {_literal(optimizer)}",
        f"LOSS = {_literal(loss)}",
        f"LOSS_WEIGHTS = {_literal(args.get('loss_weights'))}",
        f"METRICS = {_literal(_metric_config(args['metrics']))}",
        f"PLATEAU = {_literal(plateau_args)}",
        f"RESIZE_BY_DEFAULT = {_literal(sorted(prepare.RESIZE_BY_DEFAULT))}",
        f"_RANGE = {_literal(prepare._RANGE)}",
        f"KERAS_SETS = {_literal(sources.KERAS_SETS)}",
        f"IMAGE_SUFFIXES = {_literal(sources.IMAGE_SUFFIXES)}",
        f"SHAPE_CLASSES = {_literal(shapes.SHAPE_CLASSES)}",
    ]))
    schedule = optimizer["config"]["learning_rate"]
    if isinstance(schedule, dict) and schedule.get("registered_name"):
        cls = keras.saving.get_registered_object(schedule["registered_name"])
        parts.append("# The schedule is Keras Builder's own, copied in.\n"
                     + _module_body(inspect.getmodule(cls)))
    parts.append("class DatasetError(Exception):\n"
                 '    """Data that cannot be read or fed to the model."""')
    if name == "shapes":
        parts.append(inspect.getsource(shapes.ShapeScenes).rstrip())
    for function in _RECIPE + _LOADERS[name]:
        parts.append(inspect.getsource(function).rstrip())
    parts.append(model_source.strip())
    loader = _LOADERS[name][-1].__name__
    main = _MAIN.format(loader=loader if name not in sources.KERAS_SETS else
                        f"(lambda spec: load_keras_dataset({name!r}))", name=name)
    return "\n\n\n".join(parts) + main


def _module_body(module: Any) -> str:
    """A self-contained module's code without its docstring and imports (the
    script imports keras and ops itself), so module constants come along."""
    import ast  # noqa: PLC0415

    source = inspect.getsource(module)
    tree = ast.parse(source)
    lines = source.splitlines()
    kept = [node for node in tree.body
            if not isinstance(node, (ast.Import, ast.ImportFrom))
            and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
    chunks = []
    for node in kept:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        chunks.append("\n".join(lines[start - 1:node.end_lineno]))
    return "\n\n\n".join(chunks)


def _loss_config(loss: Any) -> Any:
    return loss if isinstance(loss, str) else keras.losses.serialize(loss)


def _metric_config(metrics: Any) -> Any:
    # Metrics built with arguments (mean IoU's class count) travel as configs.
    if isinstance(metrics, list):
        return [_metric_config(item) for item in metrics]
    return metrics if isinstance(metrics, str) else keras.metrics.serialize(metrics)


def _literal(value: Any) -> str:
    """Python source for a JSON-like value (``None``/``True`` spelled as Python)."""
    value = json.loads(json.dumps(value))  # tuples → lists, keys → str
    return pprint.pformat(value, width=88, sort_dicts=False)

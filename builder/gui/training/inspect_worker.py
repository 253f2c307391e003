"""The Keras side of the results tab, run as a child process of the GUI.

``python -m builder.gui.training.inspect_worker RUN_DIR OUT.npz [LAYER]``
loads the run's best model and its dataset's validation split, and writes:

* ``confusion`` (classes x classes, rows = true class), ``accuracy``;
* ``images``, ``labels``, ``top_classes``, ``top_probs`` for the first 16
  validation samples (top-5);
* ``conv_layers``: names of the layers with image-shaped outputs;
* ``features`` (H, W, C) of ``LAYER`` (default: the first conv layer) for the
  first validation sample; ``feature_layer``;
* ``class_names``, ``task``.

Runs of other tasks (segmentation, localization, detection, instances) get,
instead of the confusion matrix and top-5 (empty there): ``drawn`` (N, H', W', 3)
uint8 pictures of the first validation samples with the task's predictions
drawn on them (class overlay, boxes, labels, masks: the same drawing as
``builder predict``) and ``captions``, one line each.

Keeping Keras in a child keeps TensorFlow out of the editor's process.
A failure prints one line on stderr and exits with status 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SAMPLES = 16
SHOWN = 8  # samples drawn with their predictions (other tasks than classification)


def _probabilities(outputs):
    import numpy as np  # noqa: PLC0415

    out = np.asarray(outputs[0] if isinstance(outputs, (list, tuple)) else outputs,
                     dtype=np.float64)
    out = out.reshape(len(out), -1)
    # A head trained on logits has rows that are not distributions: softmax them.
    if np.any(out < 0) or not np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
        out = np.exp(out - out.max(axis=1, keepdims=True))
        out /= out.sum(axis=1, keepdims=True)
    return out


def inspect(run_dir: str | Path, out_path: str | Path, layer: str | None = None) -> None:
    """Computes the arrays described in the module docstring into ``out_path``."""
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from builder.training.datasets import load_dataset  # noqa: PLC0415
    from builder.training.export import load_source  # noqa: PLC0415
    from builder.training.run_dir import load_run_project, read_config  # noqa: PLC0415
    # tasks imports the detection losses too, which a detector's .keras file names.
    from builder.training.tasks import get_task, task_name  # noqa: PLC0415

    config = read_config(run_dir)
    project = load_run_project(run_dir)
    task = get_task(task_name(config, project.graph))
    if task.name == "classification":
        model, project, _ = load_source(run_dir)
        # A per-pixel head (a user's npz masks) reads as segmentation once the model is known.
        task = get_task(task_name(config, project.graph, model))
    else:  # the task's inference model (Mask R-CNN saves a training model)
        model = task.load_model(Path(run_dir))
    conv = _conv_layers(model, keras)
    data = load_dataset(config["dataset"], tuple(model.inputs[0].shape[1:]))
    x, y = data.x_val, data.y_val
    if task.name != "classification":
        drawn, captions = _drawn(task, model, project, config, data, Path(run_dir))
        np.savez_compressed(
            out_path, task=np.array(task.name), drawn=drawn, captions=np.array(captions, str),
            confusion=np.zeros((0, 0), np.int64), accuracy=float("nan"),
            images=x[:SAMPLES], labels=np.zeros((0,), np.int64),
            top_classes=np.zeros((0, 5), np.int64), top_probs=np.zeros((0, 5)),
            conv_layers=np.array(conv, dtype=str),
            **_features(model, x, layer, conv, keras),
            class_names=np.array(data.class_names, dtype=str))
        return
    probs = _probabilities(model.predict(x, batch_size=64, verbose=0))
    n = data.num_classes
    predicted = probs.argmax(axis=1)
    confusion = np.zeros((n, n), dtype=np.int64)
    if probs.shape[1] == n:
        np.add.at(confusion, (y.astype(int), predicted), 1)
    top = np.argsort(-probs[:SAMPLES], axis=1)[:, :5]
    np.savez_compressed(
        out_path, task=np.array("classification"), confusion=confusion,
        accuracy=float((predicted == y).mean()),
        images=x[:SAMPLES], labels=y[:SAMPLES], top_classes=top,
        top_probs=np.take_along_axis(probs[:SAMPLES], top, axis=1),
        conv_layers=np.array(conv, dtype=str),
        **_features(model, x, layer, conv, keras), class_names=np.array(data.class_names, dtype=str))


def _conv_layers(model, keras) -> list[str]:
    return [lyr.name for lyr in model.layers
            if len(getattr(lyr, "output", None).shape if hasattr(lyr, "output") else ()) == 4
            and not isinstance(lyr, keras.layers.InputLayer)]


def _features(model, x, layer, conv, keras) -> dict:
    """``features`` (H, W, C) of ``layer`` (default: the first of the ``conv``
    layers) for the first validation sample, and ``feature_layer``."""
    import numpy as np  # noqa: PLC0415

    feature_layer = layer if layer in conv else (conv[0] if conv else "")
    features = np.zeros((0, 0, 0), np.float32)
    if feature_layer:
        sub = keras.Model(model.inputs, model.get_layer(feature_layer).output)
        features = np.asarray(sub.predict(x[:1], verbose=0))[0]
    return {"features": features, "feature_layer": np.array(feature_layer)}


def _drawn(task, model, project, config, data, run_dir: Path):
    """The task's predictions on the first validation samples, drawn as
    ``builder predict`` draws them; ``(pictures (N, H', W', 3) uint8, captions)``."""
    import numpy as np  # noqa: PLC0415

    from builder.training.drawing import draw_result  # noqa: PLC0415
    from builder.training.predict import describe  # noqa: PLC0415
    from builder.training.tasks import PredictContext  # noqa: PLC0415

    x = data.x_val[:SHOWN]
    context = PredictContext(project.graph, config, list(data.class_names), run_dir)
    results = task.predict(model, x, context)
    # Normalised to [0, 1] ("unit"): shown as they were; other ranges are stretched.
    shown = (np.clip(x * 255, 0, 255).astype(np.uint8)
             if x.min(initial=0) >= 0 and x.max(initial=0) <= 1 else x)
    # No legend panel: small tiles; the caption (a tooltip) names the classes.
    pictures = [np.asarray(draw_result(img, r, panel=False)) for img, r in zip(shown, results)]
    return np.stack(pictures), [describe(r) for r in results]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (2, 3):
        print("usage: inspect_worker RUN_DIR OUT.npz [LAYER]", file=sys.stderr)
        return 2
    try:
        inspect(argv[0], argv[1], argv[2] if len(argv) == 3 else None)
    except Exception as exc:  # noqa: BLE001 - the GUI shows this one line
        print(json.dumps({"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``instances`` task: Mask R-CNN and Faster R-CNN in ``builder train`` and ``predict``.

A run's dataset ``{"name": "shapes", "task": "instances", ...}`` gives images and
packed labels ``(N, K, 5 + H*W)`` (:func:`builder.detection.rcnn_data.pack_instances`:
padded ground truth, then the flattened instance masks). The fit model is
:func:`builder.detection.rcnn_model.build_training_model` on the run's compiled
template (same layer objects), whose outputs are the losses; the checkpoints save
it, and ``builder predict`` rebuilds the template, loads those weights and runs
the inference graph (boxes, classes, masks pasted at the model's input size).

Registered at import (:func:`builder.training.tasks.get_task` imports this module
the first time a run asks for ``instances``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np

from builder.detection import rcnn_model
from builder.detection.rcnn_data import ground_truth_instances, unpack_instances
from builder.detection.instance_eval import evaluate_instances
from builder.training.errors import TrainingError
from builder.training.tasks import (PredictContext, Task, TaskSetup, _label,
                                    check_detection_settings, register)

#: Layers an R-CNN template must have (node ids, see /work/notes/rcnn.md).
REQUIRED_LAYERS = ("rpn", "proposals", "box_roi_align", "box_cls", "box_reg", "detections")


def _layer_names(model: keras.Model) -> set[str]:
    return {layer.name for layer in model.layers}


def _check_model(model: keras.Model, num_classes: int) -> bool:
    """Raises unless ``model`` is an R-CNN template for ``num_classes``; returns with_masks."""
    names = _layer_names(model)
    missing = [n for n in REQUIRED_LAYERS if n not in names]
    if missing:
        raise TrainingError("The instances task trains an R-CNN template (mask_rcnn_small, "
                            "faster_rcnn_small, ...) with nodes " + ", ".join(REQUIRED_LAYERS)
                            + f". Received: a graph without {', '.join(missing)}")
    heads = model.get_layer("box_cls").output.shape[-1]
    if heads != num_classes + 1:
        raise TrainingError(f"The box head scores background + {num_classes} classes, so it "
                            f"needs {num_classes + 1} units. Received: box_cls with {heads}")
    return "mask_logits" in names and "mask_roi_align" in names


def _split(y, image_shape) -> tuple[np.ndarray, np.ndarray]:
    try:
        return unpack_instances(y, tuple(image_shape[:2]))
    except ValueError as exc:
        raise TrainingError(f"{exc}; use the shapes dataset with \"task\": \"instances\"") \
            from None


def _inputs(images, y, image_shape, with_masks: bool, names) -> tuple[dict, dict]:
    y_true, masks = _split(y, image_shape)
    x = {"image": images, "y_true": y_true}
    if with_masks:
        x["masks"] = masks
    dummy = np.zeros((len(images), 1), np.float32)
    return x, {name: dummy for name in names}


class InstancesTask(Task):
    """Two-stage detection with (Mask R-CNN) or without (Faster R-CNN) instance masks."""

    name = "instances"

    def setup(self, model, graph, data, training):
        with_masks = _check_model(model, data.num_classes)
        shape = tuple(model.inputs[0].shape[1:])
        names = rcnn_model.MASK_LOSSES if with_masks else rcnn_model.BOX_LOSSES
        x, y = _inputs(data.x_train, data.y_train, shape, with_masks, names)
        xv, yv = _inputs(data.x_val, data.y_val, shape, with_masks, names)
        fit = rcnn_model.build_training_model(model, x["y_true"].shape[1], with_masks,
                                              rcnn_model.RCNNTrainingConfig())
        self._inference = model
        return TaskSetup(fit, {"loss": {n: rcnn_model.rcnn_identity_loss for n in names}},
                         x, y, xv, yv, augmentable=False)

    def evaluate(self, model, graph, data, training):
        """``box_recall50``, ``mask_iou`` (Mask R-CNN), ``map50`` and ``ap50_<class>``
        on the validation split."""
        inference = getattr(self, "_inference", None)
        if inference is None:
            inference = _inference_from(graph, model)
        detections = rcnn_model.run_detector(rcnn_model.detection_model(inference),
                                             data.x_val, batch_size=32)
        y_true, masks = _split(data.y_val, data.x_val.shape[1:])
        r = evaluate_instances(detections, ground_truth_instances(y_true, masks),
                               data.num_classes)
        out = {"box_recall50": float(r["recall"]), "map50": float(r["map50"])}
        if len(detections[0]) > 3 and not np.isnan(r["mask_iou"]):
            out["mask_iou"] = float(r["mask_iou"])
        for name, ap in zip(data.class_names, r["ap"]):
            if not np.isnan(ap):
                out[f"ap50_{name}"] = float(ap)
        return out

    def load_model(self, run_dir: Path, which: str = "best") -> keras.Model:
        """The run's template rebuilt for inference, with the trained weights."""
        from builder.compile import to_keras  # noqa: PLC0415
        from builder.training.run_dir import (  # noqa: PLC0415
            checkpoint_path,
            load_run_project,
            read_config,
        )

        run_dir = Path(run_dir)
        checkpoint = checkpoint_path(run_dir, which)
        graph = load_run_project(run_dir).graph
        model = to_keras(graph)
        k = int((read_config(run_dir).get("dataset") or {}).get("max_objects", 3))
        fit = rcnn_model.build_training_model(model, k, "mask_logits" in _layer_names(model),
                                              rcnn_model.RCNNTrainingConfig())
        fit.load_weights(checkpoint)
        return model

    def predict(self, model, images, context: PredictContext) -> list[dict[str, Any]]:
        """Per image: ``detections`` = ``[{"box", "class", "label", "score", "mask"}]``,
        best first, above ``training.detection.score_threshold`` (default 0.5); ``mask``
        (H, W) bool at the model's input size (absent for Faster R-CNN)."""
        settings = check_detection_settings(
            (context.config.get("training") or {}).get("detection"))
        threshold = float(settings.get("score_threshold", 0.5))
        found = rcnn_model.run_detector(rcnn_model.detection_model(model), images,
                                        batch_size=min(32, max(1, len(images))))
        out = []
        for det in found:
            boxes, scores, classes = det[:3]
            rows = []
            for j in np.nonzero(scores >= threshold)[0]:
                c = int(classes[j])
                row = {"box": [float(v) for v in np.clip(boxes[j], 0, 1)], "class": c,
                       "label": _label(context.class_names, c), "score": float(scores[j])}
                if len(det) > 3:
                    row["mask"] = det[3][j]
                rows.append(row)
            out.append({"task": self.name, "detections": rows})
        return out


def _inference_from(graph, fit: keras.Model) -> keras.Model:
    """``to_keras(graph)`` holding the weights of ``fit``'s layers of the same names."""
    from builder.compile import to_keras  # noqa: PLC0415

    model = to_keras(graph)
    layers = {}
    stack = list(fit.layers)
    while stack:
        layer = stack.pop()
        if isinstance(layer, keras.Model):
            stack.extend(layer.layers)
        elif layer.weights:  # the loss outputs are weightless layers named like heads
            layers.setdefault(layer.name, layer)
    for layer in model.layers:
        if layer.weights and layer.name in layers:
            layer.set_weights(layers[layer.name].get_weights())
    return model


register("instances", InstancesTask)

"""Task plug-ins: what a run trains, on which targets, and how its model predicts.

A dataset's ``"task"`` (``classification``, ``segmentation``, ``localization``,
``detection``, ``instances``) names a :class:`Task`. The runner asks it for a
:class:`TaskSetup` (the model ``fit`` trains, the ``compile`` arguments, the
inputs and targets), for end-of-run metrics (:meth:`Task.evaluate`, e.g. mAP@0.5
of a detector), and ``builder predict`` asks it for the inference model of a
run (:meth:`Task.load_model`) and for per-image results (:meth:`Task.predict`),
which :mod:`builder.training.drawing` draws without Keras.

Plug a task in with :func:`register` (the ``instances`` slot is free for Mask
R-CNN). See ``/work/notes/tasks_api.md``.

This module imports Keras: only the runner and ``builder predict`` use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

import builder.detection.ops  # noqa: F401 - registers MultiBoxLoss for loading runs
import builder.detection.yolo  # noqa: F401 - and YoloLoss
from builder.core.graph import Graph
from builder.training import model_setup as ms
from builder.training.errors import TrainingError

#: Every task name a dataset may ask for (``instances`` waits for its plug-in).
TASK_NAMES = ("classification", "segmentation", "localization", "detection", "instances")

#: Output-node losses that make a detection head.
DETECTION_LOSSES = ("multibox", "yolo")

#: Keys of the project's ``training["detection"]`` section.
DETECTION_KEYS = ("min_scale", "max_scale", "scales", "aspect_ratios", "boxes",
                  "score_threshold", "max_detections")


@dataclass
class TaskSetup:
    """Everything ``model.fit`` needs for one task.

    Attributes:
        fit_model: the model ``fit`` trains (and the checkpoints save); usually
            the project's model itself; a task whose training graph differs
            (Mask R-CNN: image + ground truth in, losses out) builds its own
            around the same layers.
        compile_args: ``loss``, ``loss_weights``, ``metrics`` for ``compile``.
        x_train, y_train, x_val, y_val: what ``fit`` and validation take.
        augmentable: whether the dataset's ``augment`` settings may apply. The
            runner's augmentation feeds ``data.x_train``/``data.y_train`` to
            ``AugmentedBatches(task=name)``, which moves segmentation masks,
            localization and detection boxes with their images; a task whose fit
            inputs differ from those arrays must say False (refused in one line).
    """

    fit_model: Any
    compile_args: dict[str, Any]
    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    augmentable: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class PredictContext:
    """What a task's :meth:`Task.predict` knows about the run.

    Attributes:
        graph: the run's project graph.
        config: the run's ``config.json`` (``training``, ``dataset``).
        class_names: the dataset's class names, in label order.
        run_dir: the run directory.
    """

    graph: Graph
    config: dict[str, Any]
    class_names: list[str]
    run_dir: Path


class Task:
    """Classification, and the defaults every other task builds on."""

    name = "classification"

    def setup(self, model: keras.Model, graph: Graph, data: Any,
              training: dict[str, Any]) -> TaskSetup:
        """The fit model, compile arguments and targets of a run.

        Args:
            model: ``to_keras(graph)``.
            graph: the project's graph (its Output nodes hold the losses).
            data: the loaded :class:`~builder.training.datasets.Dataset`.
            training: the run's resolved ``training`` settings.

        Raises:
            TrainingError: the model does not fit the task or the data.
        """
        ms.check_classes(model, data.num_classes, data.name,
                         [h.get("loss") for h in ms.output_heads(graph)])
        heads = len(model.outputs)
        return TaskSetup(model, ms.compile_args(graph, model), data.x_train,
                         ms.head_targets(data.y_train, heads, self._targets()),
                         data.x_val, ms.head_targets(data.y_val, heads, self._targets()))

    def _targets(self) -> str | None:
        return None

    def evaluate(self, model: keras.Model, graph: Graph, data: Any,
                 training: dict[str, Any]) -> dict[str, float]:
        """Metrics computed once at the end of a run (``{}``: none beyond Keras').

        The runner calls it on the fit model holding the best checkpoint's
        weights, and only when a task overrides it (:attr:`has_metrics`).
        """
        return {}

    @property
    def has_metrics(self) -> bool:
        """Whether this task computes end-of-run metrics (overrides :meth:`evaluate`)."""
        return type(self).evaluate is not Task.evaluate

    def load_model(self, run_dir: Path, which: str = "best") -> keras.Model:
        """The inference model of a run: its ``best.keras`` (else ``last.keras``)."""
        import builder.compile.custom_layers  # noqa: F401,PLC0415 - registers layers
        import builder.detection.ops  # noqa: F401,PLC0415 - and the detection losses
        import builder.detection.yolo  # noqa: F401,PLC0415
        from builder.training import cyclical  # noqa: F401,PLC0415 - and the schedule

        from builder.training.run_dir import checkpoint_path  # noqa: PLC0415

        return keras.saving.load_model(checkpoint_path(run_dir, which), safe_mode=True)

    def predict(self, model: keras.Model, images: np.ndarray,
                context: PredictContext) -> list[dict[str, Any]]:
        """Per image: ``{"task", "top": [{"class", "label", "probability"}] * 5}``."""
        probs = probabilities(_first(model.predict(images, verbose=0)))
        out = []
        for row in probs.reshape(len(probs), -1):
            order = np.argsort(-row)[:5]
            out.append({"task": self.name, "top": [
                {"class": int(c), "label": _label(context.class_names, int(c)),
                 "probability": float(row[c])} for c in order]})
        return out


class SegmentationTask(Task):
    """Per-pixel classes: the Output's cross-entropy on every pixel."""

    name = "segmentation"

    def predict(self, model, images, context):
        """Per image: ``mask`` (H, W) class ids and the ``classes`` present with
        their pixel fractions (background included)."""
        probs = probabilities(_first(model.predict(images, verbose=0)))
        out = []
        for p in probs:
            mask = p.argmax(axis=-1).astype(np.int32)
            ids, counts = np.unique(mask, return_counts=True)
            out.append({"task": self.name, "mask": mask, "classes": [
                {"class": int(c), "label": _label(context.class_names, int(c)),
                 "fraction": float(n) / mask.size} for c, n in zip(ids, counts)]})
        return out


class LocalizationTask(Task):
    """A class head and a box head on one backbone (targets ``[class, box]``)."""

    name = "localization"

    def _targets(self) -> str | None:
        return "localization"

    def predict(self, model, images, context):
        """Per image: ``box`` (y1, x1, y2, x2 fractions), ``class``, ``label``,
        ``probability`` and the class ``top`` list."""
        outputs = model.predict(images, verbose=0)
        if not isinstance(outputs, (list, tuple)) or len(outputs) != 2:
            raise TrainingError("A localization model has two outputs (class, box). "
                                f"Received: {len(model.outputs)}")
        probs = probabilities(outputs[0])
        out = []
        for row, box in zip(probs, np.asarray(outputs[1], np.float64)):
            c = int(row.argmax())
            order = np.argsort(-row)[:5]
            out.append({"task": self.name, "box": [float(v) for v in np.clip(box, 0, 1)],
                        "class": c, "label": _label(context.class_names, c),
                        "probability": float(row[c]),
                        "top": [{"class": int(k), "label": _label(context.class_names, int(k)),
                                 "probability": float(row[k])} for k in order]})
        return out


class DetectionTask(Task):
    """SSD (Output loss ``multibox``) and YOLO (``yolo``) on padded ground truth."""

    name = "detection"

    def setup(self, model, graph, data, training):
        detector = detector_for(graph, model, data.num_classes, training)
        if data.y_train.ndim != 3 or data.y_train.shape[-1] != 5:
            raise TrainingError(
                "Detection trains on padded ground truth (N, K, 5) = box + class. "
                f"Received: labels of shape {data.y_train.shape}; use the shapes "
                "dataset with \"task\": \"detection\"")
        return TaskSetup(model, {"loss": detector.loss}, data.x_train, data.y_train,
                         data.x_val, data.y_val)

    def evaluate(self, model, graph, data, training):
        """``map50`` (mAP@0.5, VOC all-point) on the validation split, and
        ``ap50_<class>`` per class."""
        from builder.detection.evaluate import mean_average_precision  # noqa: PLC0415

        detections = self.detect(model, graph, data.x_val, data.num_classes, training)
        truth = [(y[:, :4], y[:, 4].astype(np.int64)) for y in data.y_val]
        m, aps = mean_average_precision(detections, truth, data.num_classes)
        out = {"map50": float(m)}
        for name, ap in zip(data.class_names, aps):
            if not np.isnan(ap):
                out[f"ap50_{name}"] = float(ap)
        return out

    def detect(self, model, graph, images, num_classes, training):
        """Per image ``(boxes, scores, classes)`` after decoding and per-class NMS."""
        detector = detector_for(graph, model, num_classes, training)
        return detector.detect(images, batch_size=min(64, max(1, len(images))))

    def predict(self, model, images, context):
        """Per image: ``detections`` = ``[{"box", "class", "label", "score"}]``,
        best first, above the ``score_threshold`` (default 0.3)."""
        training = context.config.get("training", {})
        settings = training.get("detection") or {}
        threshold = float(settings.get("score_threshold", 0.3))
        found = self.detect(model, context.graph, images, len(context.class_names),
                            training)
        out = []
        for boxes, scores, classes in found:
            rows = [{"box": [float(v) for v in np.clip(b, 0, 1)], "class": int(c),
                     "label": _label(context.class_names, int(c)), "score": float(s)}
                    for b, s, c in zip(boxes, scores, classes) if s >= threshold]
            out.append({"task": self.name, "detections": rows})
        return out


def detector_for(graph: Graph, model: keras.Model, num_classes: int,
                 training: dict[str, Any]) -> Any:
    """A :class:`builder.detection.models.Detector` for the graph's detection head.

    The Output's loss picks the kind: ``multibox`` takes its default boxes from
    the SSD heads of the graph (feature-map sizes, anchors per location) and the
    scales and ratios of ``training["detection"]``; ``yolo`` takes ``B`` from
    ``training["detection"]["boxes"]`` (else from the output depth ``B*5 + C``).

    Raises:
        TrainingError: no detection loss, or a head that disagrees with the data.
    """
    from builder.detection.anchors import default_boxes  # noqa: PLC0415
    from builder.detection.models import Detector  # noqa: PLC0415
    from builder.detection.ops import MultiBoxLoss, postprocess  # noqa: PLC0415
    from builder.detection.yolo import YoloLoss, yolo_postprocess  # noqa: PLC0415

    losses = [h.get("loss") for h in ms.output_heads(graph)]
    if len(losses) != 1 or losses[0] not in DETECTION_LOSSES:
        raise TrainingError("Detection trains one Output whose loss is 'multibox' (SSD) "
                            f"or 'yolo'. Received: losses {losses}")
    settings = check_detection_settings(training.get("detection"))
    top = int(settings.get("max_detections", 20))
    if losses[0] == "multibox":
        config = anchor_config(graph, settings)
        heads = _ssd_heads(graph)
        if heads[0].scores != num_classes + 1:
            raise TrainingError(
                f"The SSD heads predict {heads[0].scores} scores per box; the dataset "
                f"has {num_classes} classes, so they need {num_classes + 1} (background "
                f"first). Received: class heads of {heads[0].scores}")
        anchors = default_boxes(config)
        return Detector("SSD", model, MultiBoxLoss(anchors),
                        lambda y: postprocess(y, anchors, pre_nms=100, max_detections=top))
    shape = model.outputs[0].shape
    if len(shape) != 4 or shape[1] != shape[2]:
        raise TrainingError("A YOLO head outputs an S x S grid (S, S, B*5 + C). "
                            f"Received: output shape {tuple(shape)}")
    depth = int(shape[-1])
    boxes = settings.get("boxes")
    if boxes is None:
        boxes = (depth - num_classes) // 5
    if boxes < 1 or depth != boxes * 5 + num_classes:
        raise TrainingError(f"A YOLO grid needs B*5 + C values per cell (C = {num_classes} "
                            f"classes, B = {boxes} boxes). Received: {depth} per cell")
    return Detector("YOLO", model, YoloLoss(boxes, num_classes),
                    lambda y: yolo_postprocess(y, boxes, max_detections=top))


def _ssd_heads(graph: Graph) -> list:
    from builder.detection.summary import detection_heads  # noqa: PLC0415

    heads = detection_heads(graph)
    if not heads:
        raise TrainingError("The 'multibox' loss needs SSD heads: per feature map a "
                            "Conv2D reshaped to [-1, 4] and one to [-1, classes], joined "
                            "by Concatenate(axis 1) and then Concatenate(axis -1). "
                            "Received: no such heads in the graph")
    return heads


def anchor_config(graph: Graph, settings: dict[str, Any] | None = None) -> Any:
    """The :class:`~builder.detection.anchors.AnchorConfig` of a graph's SSD heads.

    Feature-map sizes and anchors per location come from the graph; scales
    (``min_scale``/``max_scale`` or ``scales``) and ``aspect_ratios`` from the
    settings. Without ratios, ``2 + 2k`` anchors per location take the ratios
    ``2, 3, ..`` (k of them), as SSD does.
    """
    from builder.detection.anchors import AnchorConfig  # noqa: PLC0415

    settings = settings or {}
    heads = _ssd_heads(graph)
    if any(h.height != h.width for h in heads):
        raise TrainingError("SSD default boxes need square feature maps. Received: "
                            f"{[(h.height, h.width) for h in heads]}")
    ratios = settings.get("aspect_ratios")
    if ratios is None:
        ratios = []
        for h in heads:
            if h.anchors < 2 or h.anchors % 2:
                raise TrainingError(f"SSD heads put 2 + 2k boxes per location. Received: "
                                    f"{h.anchors} at {h.feature_node}")
            ratios.append(tuple(range(2, 2 + (h.anchors - 2) // 2)))
    ratios = tuple(tuple(float(a) for a in r) for r in ratios)
    if len(ratios) != len(heads):
        raise TrainingError(f"training.detection.aspect_ratios needs one list per feature "
                            f"map ({len(heads)}). Received: {len(ratios)}")
    scales = settings.get("scales")
    config = AnchorConfig(
        feature_sizes=tuple(h.height for h in heads), aspect_ratios=ratios,
        min_scale=float(settings.get("min_scale", 0.2)),
        max_scale=float(settings.get("max_scale", 0.9)),
        scales=tuple(float(s) for s in scales) if scales else None)
    want = [h.anchors for h in heads]
    if config.anchors_per_location() != want:
        raise TrainingError(f"The aspect ratios give {config.anchors_per_location()} boxes "
                            f"per location; the heads predict {want}. Received: "
                            f"aspect_ratios={[list(r) for r in ratios]}")
    return config


def check_detection_settings(settings: Any) -> dict[str, Any]:
    """``training["detection"]`` checked: a dict of known keys (``{}`` if absent)."""
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise TrainingError("training.detection must be an object such as "
                            f'{{"min_scale": 0.15, "max_scale": 0.75}}. Received: {settings!r}')
    unknown = sorted(set(settings) - set(DETECTION_KEYS))
    if unknown:
        raise TrainingError(f"Unknown training.detection setting(s) {unknown}. Expected: "
                            f"{', '.join(DETECTION_KEYS)}")
    for key in ("min_scale", "max_scale", "score_threshold"):
        value = settings.get(key)
        if value is not None and not (isinstance(value, (int, float)) and 0 <= value <= 1.5):
            raise TrainingError(f"training.detection.{key} must be a number in [0, 1.5]. "
                                f"Received: {value!r}")
    for key in ("boxes", "max_detections"):
        value = settings.get(key)
        if value is not None and not (isinstance(value, int) and value >= 1):
            raise TrainingError(f"training.detection.{key} must be an integer >= 1. "
                                f"Received: {value!r}")
    return settings


# -- the registry ---------------------------------------------------------------------

_TASKS: dict[str, Callable[[], Task]] = {
    "classification": Task,
    "segmentation": SegmentationTask,
    "localization": LocalizationTask,
    "detection": DetectionTask,
}


def register(name: str, factory: Callable[[], Task]) -> None:
    """Plugs in (or replaces) the task ``name``; ``factory()`` gives a :class:`Task`."""
    _TASKS[name] = factory


def get_task(name: str) -> Task:
    """The task plug-in called ``name``.

    ``instances`` is loaded from ``builder.detection.rcnn_task`` on first use
    (its module calls :func:`register`).

    Raises:
        TrainingError: an unknown task, or one whose plug-in is not installed.
    """
    if name == "instances" and name not in _TASKS:
        try:
            import builder.detection.rcnn_task  # noqa: F401,PLC0415 - registers it
        except ModuleNotFoundError as exc:
            if exc.name != "builder.detection.rcnn_task":
                raise
    if name not in _TASKS:
        known = ", ".join(sorted(_TASKS))
        raise TrainingError(f"Unknown task {name!r}: no plug-in for it. Expected one of "
                            f"{known}")
    return _TASKS[name]()


def task_name(config: dict[str, Any], graph: Graph, model: keras.Model | None = None) -> str:
    """The task of a run: the dataset's ``"task"``; else ``detection`` for a
    ``multibox``/``yolo`` Output, ``segmentation`` for a per-pixel output, else
    ``classification``."""
    task = (config.get("dataset") or {}).get("task")
    losses = [h.get("loss") for h in ms.output_heads(graph)]
    if task:
        if any(loss in DETECTION_LOSSES for loss in losses) and task != "detection":
            raise TrainingError(f"A '{losses[0]}' Output trains on detection data. "
                                f"Received: dataset task {task!r}; set \"task\": "
                                "\"detection\"")
        return str(task)
    if any(loss in DETECTION_LOSSES for loss in losses):
        return "detection"
    if model is not None and len(model.outputs) == 1 and len(model.outputs[0].shape) == 4:
        return "segmentation"
    return "classification"


# -- helpers --------------------------------------------------------------------------

def probabilities(outputs: Any) -> np.ndarray:
    """Class probabilities on the last axis: a head trained on logits is softmaxed."""
    out = np.asarray(outputs, dtype=np.float64)
    sums = out.sum(axis=-1)
    if np.any(out < 0) or not np.allclose(sums, 1.0, atol=1e-3):
        out = np.exp(out - out.max(axis=-1, keepdims=True))
        out /= out.sum(axis=-1, keepdims=True)
    return out


def _first(outputs: Any) -> Any:
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs


def _label(names: list[str], index: int) -> str:
    return names[index] if 0 <= index < len(names) else str(index)

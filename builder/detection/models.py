"""Detectors built from templates: model + loss + decoding, ready to train and evaluate.

The template graph says where an SSD's heads are (:mod:`builder.detection.summary`);
an :class:`AnchorConfig` says what scales and ratios their default boxes have, and
:func:`check_anchors` makes sure the two agree before anything trains. Training is
plain ``model.fit(images, y_true)`` with the detector's loss; ``y_true`` is the
padded ground truth of :mod:`builder.detection.data`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import keras
import numpy as np

import builder
from builder.compile import to_keras
from builder.detection.anchors import AnchorConfig, default_boxes
from builder.detection.evaluate import mean_average_precision
from builder.detection.ops import MultiBoxLoss, postprocess
from builder.detection.summary import detection_heads
from builder.detection.yolo import YoloLoss, yolo_postprocess

#: Default boxes of the ``ssd_small`` template (64x64 input; 8, 4, 2, 1 maps).
SSD_SMALL = AnchorConfig(feature_sizes=(8, 4, 2, 1), aspect_ratios=((2,),) * 4,
                         min_scale=0.15, max_scale=0.75)


def check_anchors(graph, config: AnchorConfig) -> None:
    """Raises ``ValueError`` unless ``config`` puts as many boxes per map as the heads expect."""
    got = [(r.height, r.anchors) for r in detection_heads(graph)]
    want = list(zip(config.feature_sizes, config.anchors_per_location()))
    if got != want:
        raise ValueError(
            "The default boxes must match the detection heads (feature-map size, "
            f"anchors per location): expected {got} from the graph. Received: {want}")


class Postprocess(keras.layers.Layer):
    """A detector's decoding + per-class NMS as a layer, so ``predict`` traces it once.

    Args:
        fn: ``fn(y_pred) -> (boxes, scores, classes)``, written with ``keras.ops``.
    """

    def __init__(self, fn, **kwargs):
        super().__init__(**kwargs)
        self.fn = fn

    def call(self, y_pred):
        return self.fn(y_pred)


@dataclass
class Detector:
    """A trainable single-shot detector.

    Attributes:
        name: what reports call it.
        model: images -> raw predictions.
        loss: the training loss (takes padded ground truth).
        decode: raw predictions -> ``(boxes, scores, classes)`` (``keras.ops``).
    """

    name: str
    model: keras.Model
    loss: keras.losses.Loss
    decode: Callable
    _infer: keras.Model | None = field(default=None, init=False, repr=False)

    def compile(self, learning_rate: float = 2e-3) -> None:
        """Adam and the detector's loss, ready for ``model.fit(images, y_true)``."""
        self.model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=self.loss)
        self._infer = None

    def detect(self, images, batch_size: int = 64):
        """Per image ``(boxes, scores, classes)`` numpy arrays after per-class NMS."""
        if self._infer is None:
            self._infer = keras.Model(self.model.inputs,
                                      Postprocess(self.decode)(self.model.outputs[0]))
        # Whole batches only: a last, smaller batch would trace the NMS loop again.
        count = len(images)
        pad = -count % batch_size
        if pad:
            images = np.concatenate([images, np.repeat(images[-1:], pad, axis=0)])
        boxes, scores, classes = self._infer.predict(images, batch_size=batch_size,
                                                     verbose=0)
        return list(zip(boxes[:count], scores[:count], classes[:count]))

    def evaluate(self, images, y_true, num_classes: int) -> dict:
        """mAP@0.5 on ``images`` and detection throughput (images per second)."""
        self.detect(images[:1])  # trace once, outside the timing
        start = time.perf_counter()
        detections = self.detect(images)
        elapsed = time.perf_counter() - start
        gts = [(y[:, :4], y[:, 4].astype(np.int64)) for y in y_true]
        m, aps = mean_average_precision(detections, gts, num_classes)
        return {"map50": m, "ap": aps, "images_per_s": len(images) / elapsed}


def ssd(template: str = "ssd_small", config: AnchorConfig = SSD_SMALL,
        pre_nms: int = 100, max_detections: int = 20) -> Detector:
    """An SSD template compiled to Keras, with its default boxes and MultiBox loss."""
    graph = builder.from_template(template).graph
    check_anchors(graph, config)
    anchors = default_boxes(config)
    return Detector("SSD", to_keras(graph), MultiBoxLoss(anchors),
                    lambda y: postprocess(y, anchors, pre_nms=pre_nms,
                                          max_detections=max_detections))


def yolo(template: str = "yolo_small", boxes: int = 2, num_classes: int = 3,
         max_detections: int = 20) -> Detector:
    """A YOLO grid template compiled to Keras, with YOLO's sum-squared loss."""
    model = to_keras(builder.from_template(template).graph)
    s, depth = model.output.shape[1], model.output.shape[-1]
    if depth != boxes * 5 + num_classes:
        raise ValueError(f"A YOLO grid needs B*5 + C = {boxes * 5 + num_classes} values per "
                         f"cell for B={boxes}, C={num_classes}. Received: {depth} (S={s})")
    return Detector("YOLO", model, YoloLoss(boxes, num_classes),
                    lambda y: yolo_postprocess(y, boxes, max_detections=max_detections))

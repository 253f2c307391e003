"""YOLO v1-style grid detection: targets, sum-squared loss and decoding in ``keras.ops``.

The model predicts an ``S x S`` grid; each cell has ``B`` boxes of five numbers
``(x, y, sqrt w, sqrt h, confidence)`` and ``C`` class scores, laid out as
``(S, S, B*5 + C)``. A ground-truth object belongs to the cell holding its
centre (the first object wins when two share a cell, a YOLO v1 limit); of that
cell's ``B`` boxes the one with the highest IoU is "responsible" for it.

Loss (Redmon et al. 2016, eq. 3), summed over the batch and divided by its size::

    lambda_coord * sum_resp [(x - x^)^2 + (y - y^)^2 + (sqrt w - sqrt w^)^2 + (sqrt h - sqrt h^)^2]
    + sum_resp (C - IoU)^2 + lambda_noobj * sum_not_resp C^2
    + sum_obj_cells sum_c (p(c) - p^(c))^2

Unlike the paper's linear outputs, ``x, y, sqrt w, sqrt h`` and ``C`` pass
through a sigmoid and the class scores through a softmax, which keeps them in
range and trains faster on a small network; the loss terms are the paper's.
"""

from __future__ import annotations

import keras
from keras import ops

from builder.detection.ops import pairwise_iou, select_detections


def _split(y_pred, boxes: int):
    """``(xywh (.., S, S, B, 4), conf (.., S, S, B), class_probs (.., S, S, C))``."""
    s = y_pred.shape[1]
    raw = ops.reshape(y_pred[..., :boxes * 5], (-1, s, s, boxes, 5))
    coords = ops.sigmoid(raw[..., :4])
    conf = ops.sigmoid(raw[..., 4])
    probs = ops.softmax(y_pred[..., boxes * 5:], axis=-1)
    return coords, conf, probs


def _to_corners(coords, s: int):
    """Cell-relative ``(x, y, sqrt w, sqrt h)`` to image corners ``(y1, x1, y2, x2)``."""
    grid = ops.arange(s, dtype="float32")
    col = ops.reshape(grid, (1, 1, s, 1))
    row = ops.reshape(grid, (1, s, 1, 1))
    cx = (coords[..., 0] + col) / s
    cy = (coords[..., 1] + row) / s
    w, h = ops.square(coords[..., 2]), ops.square(coords[..., 3])
    return ops.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=-1)


def grid_targets(y_true, s: int):
    """Per-cell targets from padded ground truth ``(B, K, 5)``.

    Returns:
        ``obj (B, S, S)`` (1 where an object's centre falls), the target
        ``(x, y, sqrt w, sqrt h)`` ``(B, S, S, 4)``, the object's corners
        ``(B, S, S, 4)`` and its class index ``(B, S, S)``.
    """
    boxes = y_true[..., :4]
    classes = ops.cast(y_true[..., 4], "int32")
    valid = classes >= 0
    cy = (boxes[..., 0] + boxes[..., 2]) / 2
    cx = (boxes[..., 1] + boxes[..., 3]) / 2
    row = ops.clip(ops.cast(ops.floor(cy * s), "int32"), 0, s - 1)
    col = ops.clip(ops.cast(ops.floor(cx * s), "int32"), 0, s - 1)
    owner = ops.one_hot(row * s + col, s * s, axis=1)                 # (B, SS, K)
    owner = owner * ops.expand_dims(ops.cast(valid, owner.dtype), 1)
    obj = ops.max(owner, axis=-1)                                     # (B, SS)
    first = ops.argmax(owner, axis=-1)                                # first object wins
    pick = lambda t: ops.take_along_axis(t, first if t.ndim == 2 else
                                         ops.expand_dims(first, -1), axis=1)
    cell_boxes = pick(boxes)                                          # (B, SS, 4)
    cell_class = pick(classes)
    cyx = (cell_boxes[..., :2] + cell_boxes[..., 2:]) / 2
    hw = ops.maximum(cell_boxes[..., 2:] - cell_boxes[..., :2], 0.0)
    idx = ops.arange(s * s)
    offs = ops.stack([ops.cast(idx % s, "float32"), ops.cast(idx // s, "float32")], -1)
    xy = cyx[..., ::-1] * s - offs                                    # (x, y) in the cell
    target = ops.concatenate([xy, ops.sqrt(hw[..., ::-1])], axis=-1)  # x, y, sqrt w, sqrt h
    shape = (-1, s, s)
    return (ops.reshape(obj, shape), ops.reshape(target, (*shape, 4)),
            ops.reshape(cell_boxes, (*shape, 4)), ops.reshape(cell_class, shape))


@keras.saving.register_keras_serializable(package="keras_builder")
class YoloLoss(keras.losses.Loss):
    """YOLO v1's sum-squared loss (module docstring).

    Args:
        boxes: ``B``, boxes per cell.
        num_classes: ``C``.
        lambda_coord: weight of the coordinate terms (5 in the paper).
        lambda_noobj: weight of the confidence of boxes without objects (0.5).
    """

    def __init__(self, boxes=2, num_classes=3, lambda_coord=5.0, lambda_noobj=0.5,
                 name="yolo_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.boxes, self.num_classes = int(boxes), int(num_classes)
        self.lambda_coord, self.lambda_noobj = float(lambda_coord), float(lambda_noobj)

    def parts(self, y_true, y_pred):
        """``(coord, obj_conf, noobj_conf, class)`` sums over the batch."""
        s = y_pred.shape[1]
        coords, conf, probs = _split(y_pred, self.boxes)
        obj, target, gt_corners, gt_class = grid_targets(y_true, s)
        pred_corners = _to_corners(coords, s)                         # (B, S, S, nb, 4)
        iou = pairwise_iou(pred_corners, ops.expand_dims(gt_corners, -2))[..., 0]
        iou = ops.stop_gradient(iou)                                  # (B, S, S, nb)
        resp = ops.one_hot(ops.argmax(iou, axis=-1), self.boxes) * ops.expand_dims(obj, -1)
        coord = ops.sum(resp * ops.sum(ops.square(coords - ops.expand_dims(target, -2)), -1))
        obj_conf = ops.sum(resp * ops.square(conf - iou))
        noobj_conf = ops.sum((1.0 - resp) * ops.square(conf))
        onehot = ops.one_hot(gt_class, self.num_classes)
        cls = ops.sum(obj * ops.sum(ops.square(probs - onehot), -1))
        return coord, obj_conf, noobj_conf, cls

    def call(self, y_true, y_pred):
        coord, obj_conf, noobj_conf, cls = self.parts(y_true, y_pred)
        total = self.lambda_coord * coord + obj_conf + self.lambda_noobj * noobj_conf + cls
        batch = ops.shape(y_pred)[0]
        # One value per sample whose mean is the batch sum over the batch size.
        return ops.ones((batch,), dtype=y_pred.dtype) * total / ops.cast(batch, y_pred.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"boxes": self.boxes, "num_classes": self.num_classes,
                       "lambda_coord": self.lambda_coord, "lambda_noobj": self.lambda_noobj})
        return config


def yolo_postprocess(y_pred, boxes: int = 2, **kwargs):
    """Detections: box score = confidence x class probability, then per-class NMS."""
    s = y_pred.shape[1]
    coords, conf, probs = _split(y_pred, boxes)
    corners = ops.reshape(_to_corners(coords, s), (-1, s * s * boxes, 4))
    scores = ops.expand_dims(conf, -1) * ops.expand_dims(probs, -2)  # (B, S, S, nb, C)
    scores = ops.reshape(scores, (-1, s * s * boxes, probs.shape[-1]))
    return select_detections(ops.clip(corners, 0.0, 1.0), scores, **kwargs)

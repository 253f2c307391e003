"""FPN anchors and the Faster R-CNN box coder, in ``keras.ops`` with numpy twins.

Anchors follow torchvision's ``AnchorGenerator``: on a level of stride ``s`` the
anchor of size ``S`` and aspect ratio ``r = h / w`` is ``h = S * sqrt(r)``,
``w = S / sqrt(r)`` (corners rounded to whole pixels, as torchvision does), centred
on ``(y * s, x * s)`` for every cell ``(y, x)`` of the level's feature map. The
feature map of a level has ``ceil(image / stride)`` cells per side (what a stack of
``"same"``-padded stride-2 layers gives). Anchors are returned as corner boxes
``(y1, x1, y2, x2)`` normalised by the image size and are not clipped.

Order: level by level (the first stride first), and within a level row-major over
``(y, x, anchor)`` -- the order in which an RPN head that reshapes its
``(B, H, W, A)`` output to ``(B, H * W * A)`` flattens its predictions.

The box coder is Faster R-CNN's parameterisation (``dy, dx, dh, dw``) relative to a
reference box, each term multiplied by a weight (``(1, 1, 1, 1)`` for the RPN,
``(10, 10, 5, 5)`` for the box head, as torchvision).

The anchor functions and the numpy twins do not import keras (the analysis tier
counts anchors with them); the ``keras.ops`` coder imports it when called.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: torchvision's bound on ``dh, dw`` before ``exp`` when decoding.
DEFAULT_CLIP = math.log(1000.0 / 16)
#: Box-head coder weights ``(wy, wx, wh, ww)``.
BOX_HEAD_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


@dataclass(frozen=True)
class FPNAnchors:
    """Anchor sizes (one per level), aspect ratios (``h / w``, every level) and strides.

    Attributes:
        sizes: anchor side (pixels of the image) on each level, P2 first.
        ratios: aspect ratios ``h / w`` used on every level.
        strides: feature stride of each level (same length as ``sizes``).
    """

    sizes: tuple = (32, 64, 128, 256, 512)
    ratios: tuple = (0.5, 1.0, 2.0)
    strides: tuple = (4, 8, 16, 32, 64)

    def __post_init__(self):
        if len(self.sizes) != len(self.strides):
            raise ValueError("FPNAnchors needs one size per stride. Received: "
                             f"sizes={tuple(self.sizes)}, strides={tuple(self.strides)}")
        if not self.ratios or any(r <= 0 for r in self.ratios):
            raise ValueError("FPNAnchors ratios must be positive. "
                             f"Received: ratios={tuple(self.ratios)}")

    @property
    def per_location(self) -> int:
        """Anchors at each feature-map location (one per ratio)."""
        return len(self.ratios)


def _image_hw(image_size) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)):
        return int(image_size), int(image_size)
    h, w = image_size
    return int(h), int(w)


def feature_sizes(image_size, config: FPNAnchors = FPNAnchors()) -> list[tuple[int, int]]:
    """``(H_k, W_k)`` of each level's feature map: ``ceil(image / stride)``."""
    h, w = _image_hw(image_size)
    return [(math.ceil(h / s), math.ceil(w / s)) for s in config.strides]


def _cell_anchors(size: float, ratios) -> np.ndarray:
    """Anchors centred on 0 as ``(y1, x1, y2, x2)`` pixels, rounded as torchvision."""
    r = np.sqrt(np.asarray(ratios, np.float64))
    hs, ws = size * r, size / r
    return np.round(np.stack([-hs, -ws, hs, ws], axis=1) / 2)


def fpn_anchors(image_size, config: FPNAnchors = FPNAnchors()) -> np.ndarray:
    """All anchors of an image, normalised corner boxes ``(A, 4)`` float32.

    Args:
        image_size: ``int`` (square) or ``(height, width)`` in pixels.
        config: sizes, ratios and strides.

    Returns:
        ``(A, 4)`` boxes, level by level, row-major over ``(y, x, anchor)``.
    """
    h, w = _image_hw(image_size)
    out = []
    for (fh, fw), size, stride in zip(feature_sizes((h, w), config), config.sizes,
                                      config.strides):
        cell = _cell_anchors(size, config.ratios)                     # (R, 4)
        ys, xs = np.meshgrid(np.arange(fh) * stride, np.arange(fw) * stride, indexing="ij")
        shift = np.stack([ys, xs, ys, xs], axis=-1).reshape(-1, 1, 4)
        out.append((shift + cell[None]).reshape(-1, 4))
    boxes = np.concatenate(out, axis=0) / np.array([h, w, h, w], np.float64)
    return boxes.astype(np.float32)


def anchors_per_level(image_size, config: FPNAnchors = FPNAnchors()) -> list[int]:
    """Number of anchors on each level (sums to ``len(fpn_anchors(...))``)."""
    return [fh * fw * config.per_location for fh, fw in feature_sizes(image_size, config)]


def _centre_size(boxes):
    h = boxes[..., 2] - boxes[..., 0]
    w = boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + 0.5 * h, boxes[..., 1] + 0.5 * w, h, w


def encode_deltas(boxes, reference, weights=(1.0, 1.0, 1.0, 1.0)):
    """Deltas ``(dy, dx, dh, dw)`` that turn ``reference`` boxes into ``boxes``.

    ``dy = wy * (cy - cy_ref) / h_ref``, ``dh = wh * log(h / h_ref)`` (likewise x, w).
    Sizes are floored at ``1e-8`` so degenerate boxes give finite deltas.

    Args:
        boxes: ``(..., 4)`` target corner boxes.
        reference: ``(..., 4)`` anchors or proposals (broadcastable to ``boxes``).
        weights: ``(wy, wx, wh, ww)``.

    Returns:
        ``(..., 4)`` deltas.
    """
    from keras import ops

    wy, wx, wh, ww = (float(v) for v in weights)
    gy, gx, gh, gw = _centre_size(boxes)
    ry, rx, rh, rw = _centre_size(reference)
    rh, rw = ops.maximum(rh, 1e-8), ops.maximum(rw, 1e-8)
    return ops.stack([wy * (gy - ry) / rh, wx * (gx - rx) / rw,
                      wh * ops.log(ops.maximum(gh, 1e-8) / rh),
                      ww * ops.log(ops.maximum(gw, 1e-8) / rw)], axis=-1)


def decode_deltas(deltas, reference, weights=(1.0, 1.0, 1.0, 1.0), clip=DEFAULT_CLIP):
    """Corner boxes from deltas (inverse of :func:`encode_deltas`).

    Args:
        deltas: ``(..., 4)`` ``(dy, dx, dh, dw)``.
        reference: ``(..., 4)`` corner boxes, broadcastable to ``deltas``.
        weights: ``(wy, wx, wh, ww)`` the deltas were encoded with.
        clip: upper bound of ``dh, dw`` (after dividing by the weights) before ``exp``.

    Returns:
        ``(..., 4)`` corner boxes (not clipped to the image).
    """
    from keras import ops

    wy, wx, wh, ww = (float(v) for v in weights)
    ry, rx, rh, rw = _centre_size(reference)
    cy = deltas[..., 0] / wy * rh + ry
    cx = deltas[..., 1] / wx * rw + rx
    h = ops.exp(ops.minimum(deltas[..., 2] / wh, clip)) * rh
    w = ops.exp(ops.minimum(deltas[..., 3] / ww, clip)) * rw
    return ops.stack([cy - 0.5 * h, cx - 0.5 * w, cy + 0.5 * h, cx + 0.5 * w], axis=-1)


def encode_deltas_numpy(boxes, reference, weights=(1.0, 1.0, 1.0, 1.0)) -> np.ndarray:
    """Numpy reference of :func:`encode_deltas` (one box at a time)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    reference = np.broadcast_to(np.asarray(reference, np.float64), boxes.shape)
    out = np.zeros_like(boxes)
    for i, ((y1, x1, y2, x2), (ry1, rx1, ry2, rx2)) in enumerate(zip(boxes, reference)):
        rh, rw = max(ry2 - ry1, 1e-8), max(rx2 - rx1, 1e-8)
        out[i] = [weights[0] * ((y1 + y2) / 2 - (ry1 + ry2) / 2) / rh,
                  weights[1] * ((x1 + x2) / 2 - (rx1 + rx2) / 2) / rw,
                  weights[2] * math.log(max(y2 - y1, 1e-8) / rh),
                  weights[3] * math.log(max(x2 - x1, 1e-8) / rw)]
    return out


def decode_deltas_numpy(deltas, reference, weights=(1.0, 1.0, 1.0, 1.0),
                        clip=DEFAULT_CLIP) -> np.ndarray:
    """Numpy reference of :func:`decode_deltas` (one box at a time)."""
    deltas = np.asarray(deltas, np.float64).reshape(-1, 4)
    reference = np.broadcast_to(np.asarray(reference, np.float64), deltas.shape)
    out = np.zeros_like(deltas)
    for i, ((dy, dx, dh, dw), (ry1, rx1, ry2, rx2)) in enumerate(zip(deltas, reference)):
        rh, rw = ry2 - ry1, rx2 - rx1
        cy, cx = ry1 + rh / 2 + dy / weights[0] * rh, rx1 + rw / 2 + dx / weights[1] * rw
        h = math.exp(min(dh / weights[2], clip)) * rh
        w = math.exp(min(dw / weights[3], clip)) * rw
        out[i] = [cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2]
    return out

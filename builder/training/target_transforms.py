"""Geometric augmentation that moves targets with their images (numpy only).

Segmentation masks, localization boxes and detection boxes (with optional
instance masks) go through the very same flip, shift (pad-and-crop) and
rotation as their image: images are resampled bilinearly, masks with the
nearest neighbour, boxes are moved exactly (flips, shifts) or replaced by the
enclosing box of their rotated corners -- or of their rotated instance mask when
one is given, which is tighter. Boxes are clipped to the image; a detection box
that leaves it becomes padding (class -1, zero box).

Why not ``keras.layers.RandomFlip/RandomCrop/RandomRotation`` with a dict of
``{"images", "bounding_boxes", "segmentation_masks"}``: checked with Keras
3.15.1 on our normalised ``(y1, x1, y2, x2)`` boxes (``"rel_yxyx"``), rotation
collapses every box towards the origin and marks most of them padding,
RandomCrop's boxes do not follow its own cropped masks, and RandomFlip turns the
zero boxes of padding rows into ``[0, 1, 0, 1]``. Our crop is also a pad-then-crop
(ZeroPadding2D, which takes no boxes). So the transforms live here, on numpy, the
same under every backend.

Coordinates: pixel ``i`` covers ``[i, i + 1)``; a box ``(y1, x1, y2, x2)`` in
pixels is the tight box of its mask with exclusive ends, as ``shapes`` draws it;
normalised boxes are those divided by the image size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from builder.training.errors import DatasetError

#: Tasks whose targets move with the image.
TARGET_TASKS = ("segmentation", "localization", "detection")

_FLIPS = {"horizontal": (False, True), "vertical": (True, False),
          "horizontal_and_vertical": (True, True)}


@dataclass(frozen=True)
class AugmentSettings:
    """The ``"augment"`` settings, checked: which flips, the crop padding in
    pixels and the largest rotation as a fraction of a full turn."""

    flip_y: bool = False
    flip_x: bool = False
    crop: int = 0
    rotation: float = 0.0

    @classmethod
    def parse(cls, augment: dict[str, Any] | None) -> AugmentSettings:
        """Reads the dataset's ``"augment"`` dict (the keys of
        :func:`builder.training.datasets.augmentation_layers`)."""
        augment = augment or {}
        unknown = sorted(set(augment) - {"flip", "crop", "rotation", "seed"})
        if unknown:
            raise DatasetError(f"Unknown augmentation(s) {unknown}. Expected: flip, crop, "
                               "rotation")
        flip = augment.get("flip")
        if flip and not isinstance(flip, str):
            flip = "horizontal"
        if flip and flip not in _FLIPS:
            raise DatasetError(f"Expected augment.flip to be one of {sorted(_FLIPS)}. "
                               f"Received: flip={flip!r}")
        flip_y, flip_x = _FLIPS[flip] if flip else (False, False)
        try:
            crop = int(augment.get("crop") or 0)
            rotation = float(augment.get("rotation") or 0.0)
        except (TypeError, ValueError) as exc:
            raise DatasetError("Expected augment.crop to be a whole number of pixels and "
                               "augment.rotation a fraction of a turn. Received: "
                               f"crop={augment.get('crop')!r}, "
                               f"rotation={augment.get('rotation')!r}") from exc
        if crop < 0 or rotation < 0:
            raise DatasetError("Expected augment.crop and augment.rotation to be >= 0. "
                               f"Received: crop={crop}, rotation={rotation}")
        return cls(flip_y, flip_x, crop, rotation)


@dataclass
class Batch:
    """One batch of images with its targets, all optional but the images.

    Attributes:
        images: ``(N, H, W, C)``.
        masks: ``(N, H, W)`` class per pixel (segmentation).
        boxes: ``(N, K, 4)`` normalised ``(y1, x1, y2, x2)``.
        valid: ``(N, K)`` bool, False for padding rows.
        instance_masks: ``(N, K, H, W)`` one mask per box.
    """

    images: np.ndarray
    masks: np.ndarray | None = None
    boxes: np.ndarray | None = None
    valid: np.ndarray | None = None
    instance_masks: np.ndarray | None = None


def augment_batch(batch: Batch, settings: AugmentSettings,
                  rng: np.random.Generator) -> Batch:
    """Applies a random flip, shift and rotation per sample, to the images and
    to every target in the batch alike.

    Args:
        batch: the batch (not modified).
        settings: what to apply.
        rng: the random source; the same state gives the same batch.

    Returns:
        A new batch. Boxes that leave the image are marked invalid (zeros).
    """
    n = len(batch.images)
    out = Batch(batch.images.copy(),
                None if batch.masks is None else batch.masks.copy(),
                None if batch.boxes is None else batch.boxes.astype(np.float32),
                None if batch.boxes is None else batch.valid.copy(),
                None if batch.instance_masks is None else batch.instance_masks.copy())
    if settings.flip_y:
        _flip(out, rng.random(n) < 0.5, axis=0)
    if settings.flip_x:
        _flip(out, rng.random(n) < 0.5, axis=1)
    if settings.crop:
        _shift(out, rng.integers(-settings.crop, settings.crop + 1, size=(n, 2)))
    if settings.rotation:
        turn = settings.rotation * 2 * math.pi
        _rotate(out, rng.uniform(-turn, turn, size=n))
    if out.boxes is not None:
        out.boxes[~out.valid] = 0.0
    return out


def _flip(b: Batch, which: np.ndarray, axis: int) -> None:
    """Mirrors the chosen samples along rows (axis 0) or columns (axis 1)."""
    if not which.any():
        return
    b.images[which] = np.flip(b.images[which], axis=1 + axis)
    if b.masks is not None:
        b.masks[which] = np.flip(b.masks[which], axis=1 + axis)
    if b.instance_masks is not None:
        b.instance_masks[which] = np.flip(b.instance_masks[which], axis=2 + axis)
    if b.boxes is not None:
        lo, hi = b.boxes[which, :, axis].copy(), b.boxes[which, :, axis + 2].copy()
        b.boxes[which, :, axis], b.boxes[which, :, axis + 2] = 1.0 - hi, 1.0 - lo


def _shifted(a: np.ndarray, dy: int, dx: int, row_axis: int) -> np.ndarray:
    """``a`` moved by (dy, dx) pixels, zeros where nothing lands."""
    out = np.zeros_like(a)
    h, w = a.shape[row_axis], a.shape[row_axis + 1]
    src = [slice(None)] * a.ndim
    dst = [slice(None)] * a.ndim
    for axis, d, size in ((row_axis, dy, h), (row_axis + 1, dx, w)):
        src[axis] = slice(max(0, -d), min(size, size - d))
        dst[axis] = slice(max(0, d), min(size, size + d))
    out[tuple(dst)] = a[tuple(src)]
    return out


def _shift(b: Batch, offsets: np.ndarray) -> None:
    """Pad-then-crop: each sample moves by a whole number of pixels."""
    h, w = b.images.shape[1:3]
    for i, (dy, dx) in enumerate(offsets):
        if dy == 0 and dx == 0:
            continue
        b.images[i] = _shifted(b.images[i], dy, dx, 0)
        if b.masks is not None:
            b.masks[i] = _shifted(b.masks[i], dy, dx, 0)
        if b.instance_masks is not None:
            b.instance_masks[i] = _shifted(b.instance_masks[i], dy, dx, 1)
        if b.boxes is not None:
            b.boxes[i] += np.array([dy / h, dx / w, dy / h, dx / w], np.float32)
    if b.boxes is not None:
        _clip_boxes(b)


def _clip_boxes(b: Batch) -> None:
    np.clip(b.boxes, 0.0, 1.0, out=b.boxes)
    empty = (b.boxes[..., 2] <= b.boxes[..., 0]) | (b.boxes[..., 3] <= b.boxes[..., 1])
    b.valid &= ~empty


def _rotate(b: Batch, angles: np.ndarray) -> None:
    """Rotates each sample about the image centre by its angle (radians,
    clockwise on screen for a positive angle), zeros outside."""
    n, h, w = b.images.shape[:3]
    cy, cx = h / 2.0, w / 2.0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    # Inverse map: the source point of each output pixel centre, so every
    # output pixel gets exactly one value (no holes, as a forward map leaves).
    dy, dx = yy - cy, xx - cx
    sy = cy + cos * dy - sin * dx
    sx = cx + sin * dy + cos * dx
    b.images = _bilinear(b.images, sy - 0.5, sx - 0.5)
    if b.masks is not None:
        b.masks = _nearest(b.masks, sy, sx)
    if b.instance_masks is not None:
        rotated = _nearest(np.moveaxis(b.instance_masks, 1, -1), sy, sx)
        b.instance_masks = np.moveaxis(rotated, -1, 1)
    if b.boxes is None:
        return
    if b.instance_masks is not None:
        _boxes_from_masks(b)
        return
    # The enclosing box of the four rotated corners (forward map).
    y1, x1, y2, x2 = (b.boxes[..., j] for j in range(4))
    corner_y = np.stack([y1, y1, y2, y2], -1) * h - cy
    corner_x = np.stack([x1, x2, x1, x2], -1) * w - cx
    ry = cy + cos * corner_y + sin * corner_x
    rx = cx - sin * corner_y + cos * corner_x
    b.boxes = np.stack([ry.min(-1) / h, rx.min(-1) / w, ry.max(-1) / h, rx.max(-1) / w],
                       -1).astype(np.float32)
    _clip_boxes(b)


def _boxes_from_masks(b: Batch) -> None:
    """Each box becomes the tight box of its (transformed) instance mask."""
    n, k, h, w = b.instance_masks.shape
    rows = b.instance_masks.any(axis=3)
    cols = b.instance_masks.any(axis=2)
    has = rows.any(axis=2)
    first_row = rows.argmax(axis=2)
    last_row = h - rows[..., ::-1].argmax(axis=2)
    first_col = cols.argmax(axis=2)
    last_col = w - cols[..., ::-1].argmax(axis=2)
    b.boxes = np.stack([first_row / h, first_col / w, last_row / h, last_col / w],
                       -1).astype(np.float32)
    b.valid &= has


def _nearest(a: np.ndarray, sy: np.ndarray, sx: np.ndarray) -> np.ndarray:
    """``a`` (N, H, W, ...) sampled at source points with the nearest pixel."""
    n, h, w = a.shape[:3]
    iy, ix = np.floor(sy).astype(np.int64), np.floor(sx).astype(np.int64)
    inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    batch = np.arange(n)[:, None, None]
    out = a[batch, np.clip(iy, 0, h - 1), np.clip(ix, 0, w - 1)]
    out[~inside] = 0
    return out


def _bilinear(a: np.ndarray, fy: np.ndarray, fx: np.ndarray) -> np.ndarray:
    """``a`` (N, H, W, C) sampled at fractional pixel indices, zeros outside."""
    n, h, w = a.shape[:3]
    y0, x0 = np.floor(fy).astype(np.int64), np.floor(fx).astype(np.int64)
    wy, wx = (fy - y0)[..., None], (fx - x0)[..., None]
    batch = np.arange(n)[:, None, None]
    out = np.zeros(a.shape, dtype=np.float64)
    for oy, ox, weight in ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx),
                           (1, 0, wy * (1 - wx)), (1, 1, wy * wx)):
        yi, xi = y0 + oy, x0 + ox
        inside = ((yi >= 0) & (yi < h) & (xi >= 0) & (xi < w))[..., None]
        picked = a[batch, np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
        out += np.where(inside, picked, 0.0) * weight
    return out.astype(a.dtype)


def split_targets(y: np.ndarray, task: str,
                  instance_masks: np.ndarray | None = None) -> tuple[Batch, Any]:
    """Wraps a task's targets in a :class:`Batch` (images left empty) and
    returns what :func:`join_targets` needs to put them back."""
    if task == "segmentation":
        return Batch(np.empty(0), masks=y), None
    if task == "localization":
        boxes = y[:, None, 1:5].astype(np.float32)
        return Batch(np.empty(0), boxes=boxes, valid=np.ones(boxes.shape[:2], bool)), y[:, 0]
    if task == "detection":
        return (Batch(np.empty(0), boxes=y[..., :4].astype(np.float32),
                      valid=y[..., 4] >= 0, instance_masks=instance_masks), y[..., 4])
    raise DatasetError(f"Expected a task among {list(TARGET_TASKS)}. Received: {task!r}")


def join_targets(batch: Batch, task: str, extra: Any, original: np.ndarray) -> np.ndarray:
    """The task's target array rebuilt from an augmented batch (detection rows
    that left the image become padding: class -1, zero box)."""
    if task == "segmentation":
        return batch.masks
    if task == "localization":
        return np.concatenate([extra[:, None].astype(np.float32), batch.boxes[:, 0]],
                              axis=1).astype(original.dtype)
    classes = np.where(batch.valid, extra, -1).astype(np.float32)
    return np.concatenate([batch.boxes, classes[..., None]], -1).astype(original.dtype)


def augment_targets(images: np.ndarray, y: np.ndarray, task: str,
                    settings: AugmentSettings, rng: np.random.Generator,
                    instance_masks: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Augments ``images`` and moves the task's targets ``y`` with them.

    Args:
        images: ``(N, H, W, C)``.
        y: segmentation ``(N, H, W)`` class masks; localization ``(N, 5)``
            ``[class, y1, x1, y2, x2]``; detection ``(N, K, 5)``
            ``[y1, x1, y2, x2, class]`` with class -1 for padding.
        task: ``"segmentation"``, ``"localization"`` or ``"detection"``.
        settings: the parsed ``"augment"`` settings.
        rng: random source.
        instance_masks: detection only, ``(N, K, H, W)``; when given, rotated
            boxes are the tight boxes of the rotated masks.

    Returns:
        ``(images, y, instance_masks)`` augmented. A localization sample whose
        object would leave the image is drawn again without shift and rotation
        (it must keep its one box); a detection box that leaves becomes padding.
    """
    if task == "detection" and instance_masks is not None and (
            instance_masks.shape[:2] != y.shape[:2]
            or instance_masks.shape[2:] != images.shape[1:3]):
        raise DatasetError("Expected instance masks of shape (N, K, H, W) matching the "
                           f"boxes and images. Received: {instance_masks.shape} for boxes "
                           f"{y.shape} and images {images.shape}")
    targets, extra = split_targets(y, task, instance_masks)
    targets.images = images
    out = augment_batch(targets, settings, rng)
    if task == "localization" and not out.valid.all():
        lost = ~out.valid[:, 0]
        flips_only = AugmentSettings(settings.flip_y, settings.flip_x)
        redo = augment_batch(Batch(images[lost], boxes=targets.boxes[lost],
                                   valid=targets.valid[lost]), flips_only, rng)
        out.images[lost], out.boxes[lost] = redo.images, redo.boxes
        out.valid[lost] = True
    return out.images, join_targets(out, task, extra, y), out.instance_masks

"""A seeded, procedurally drawn data set of circles, squares and triangles.

Each image holds one or more filled shapes of random size, position and colour
on a noisy background, and comes with everything the three tasks need: a class
per object, its box and its instance mask. Classification uses images with one
object (:func:`shapes_classification`); detection and segmentation use
:func:`generate_shapes` with ``max_objects > 1``.

The module needs only numpy and is self-contained, so that a Python export can
copy it into a standalone script and draw the very same images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Class names, in label order.
SHAPE_CLASSES = ("circle", "square", "triangle")


@dataclass
class ShapeScenes:
    """Images with per-object annotations, padded to ``max_objects``.

    Attributes:
        images: ``(N, H, W, C)`` float32 in ``[0, 1]``.
        classes: ``(N, K)`` int32 class indices into :data:`SHAPE_CLASSES`;
            ``-1`` marks padding (an image with fewer than ``K`` objects).
        boxes: ``(N, K, 4)`` float32 ``(y1, x1, y2, x2)`` in pixels, the tight
            box of each object's mask (zeros for padding).
        masks: ``(N, K, H, W)`` bool instance masks, later objects drawn over
            earlier ones (an occluded pixel belongs to the top object only).
    """

    images: np.ndarray
    classes: np.ndarray
    boxes: np.ndarray
    masks: np.ndarray


def _shape_mask(kind: int, size: int, cy: float, cx: float, r: float,
                angle: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    dy, dx = yy - cy, xx - cx
    if kind == 0:  # circle
        return dy * dy + dx * dx <= r * r
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy
    if kind == 1:  # square, rotated by angle, half-side r / sqrt(2) * 1.2
        half = r * 0.85
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    # equilateral triangle inscribed in the circle of radius r, rotated
    inside = np.ones((size, size), dtype=bool)
    for k in range(3):
        theta = 2 * np.pi * k / 3
        nu, nv = np.cos(theta), np.sin(theta)
        inside &= (u * nu + v * nv) <= r * 0.5
    return inside


def generate_shapes(count: int, size: int = 32, *, channels: int = 3, seed: int = 0,
                    max_objects: int = 1, min_radius: float = 0.2,
                    max_radius: float = 0.42) -> ShapeScenes:
    """Draws ``count`` images of ``size`` x ``size`` pixels.

    Args:
        count: number of images.
        size: side of the square images, in pixels (any size from 8 up).
        channels: 3 for colour, 1 for grey.
        seed: the same seed draws the same images, on every machine.
        max_objects: each image holds 1 to ``max_objects`` shapes (exactly one
            when it is 1).
        min_radius: smallest shape radius as a fraction of ``size``.
        max_radius: largest shape radius as a fraction of ``size``.

    Returns:
        The images with their classes, boxes and masks.
    """
    rng = np.random.default_rng(seed)
    images = np.empty((count, size, size, channels), dtype=np.float32)
    classes = np.full((count, max_objects), -1, dtype=np.int32)
    boxes = np.zeros((count, max_objects, 4), dtype=np.float32)
    masks = np.zeros((count, max_objects, size, size), dtype=bool)
    for i in range(count):
        background = rng.uniform(0.0, 0.35, size=channels).astype(np.float32)
        image = background + rng.normal(0, 0.04, (size, size, channels)).astype(np.float32)
        objects = 1 if max_objects == 1 else int(rng.integers(1, max_objects + 1))
        for k in range(objects):
            kind = int(rng.integers(0, len(SHAPE_CLASSES)))
            r = rng.uniform(min_radius, max_radius) * size
            if max_objects > 1:
                r *= 0.6
            cy, cx = rng.uniform(r, size - r, size=2)
            mask = _shape_mask(kind, size, cy, cx, r, rng.uniform(0, 2 * np.pi))
            colour = rng.uniform(0.55, 1.0, size=channels).astype(np.float32)
            image[mask] = colour
            masks[i, :k, mask] = False  # the new shape occludes earlier ones
            masks[i, k] = mask
            classes[i, k] = kind
        for k in range(objects):
            ys, xs = np.nonzero(masks[i, k])
            if len(ys):
                boxes[i, k] = (ys.min(), xs.min(), ys.max() + 1, xs.max() + 1)
        images[i] = np.clip(image, 0.0, 1.0)
    return ShapeScenes(images, classes, boxes, masks)


def shapes_classification(count: int, size: int = 32, *, channels: int = 3,
                          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)``: one shape per image, labelled by its class."""
    scenes = generate_shapes(count, size, channels=channels, seed=seed)
    return scenes.images, scenes.classes[:, 0].copy()


def shapes_segmentation(count: int, size: int = 32, *, channels: int = 3, seed: int = 0,
                        max_objects: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``(images, masks)``: per-pixel class labels, ``0`` for background and
    ``1 + class`` where a shape is (the top shape where they overlap)."""
    scenes = generate_shapes(count, size, channels=channels, seed=seed,
                             max_objects=max_objects)
    masks = np.zeros((count, size, size), dtype=np.int32)
    for k in range(max_objects):
        # Instance masks do not overlap (occluded pixels belong to the top object).
        masks = np.where(scenes.masks[:, k], scenes.classes[:, k, None, None] + 1, masks)
    return scenes.images, masks


def shapes_localization(count: int, size: int = 32, *, channels: int = 3,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(images, targets)``: one shape per image; ``targets[:, 0]`` is its class,
    ``targets[:, 1:]`` its box ``(y1, x1, y2, x2)`` as fractions of ``size``."""
    scenes = generate_shapes(count, size, channels=channels, seed=seed)
    targets = np.concatenate([scenes.classes[:, :1].astype(np.float32),
                              scenes.boxes[:, 0] / np.float32(size)], axis=1)
    return scenes.images, targets


def shapes_detection(count: int, size: int = 64, *, channels: int = 3, seed: int = 0,
                     max_objects: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``(images, y_true)``: 1 to ``max_objects`` shapes per image and their padded
    ground truth ``(N, max_objects, 5)`` = ``(y1, x1, y2, x2, class)``, boxes as
    fractions of ``size``, class ``-1`` on padding rows (the detection losses'
    static-shape layout)."""
    scenes = generate_shapes(count, size, channels=channels, seed=seed,
                             max_objects=max_objects)
    y = np.concatenate([scenes.boxes / np.float32(size),
                        scenes.classes[..., None].astype(np.float32)], axis=-1)
    return scenes.images, y.astype(np.float32)

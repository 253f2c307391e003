"""Instance-segmentation targets from the built-in `shapes` scenes (numpy only).

Mask R-CNN trains on images, padded ground truth ``y_true (N, K, 5)`` (normalised
box ``(y1, x1, y2, x2)`` + class, class ``-1`` on padding rows, as SSD's) and
instance masks ``(N, K, H, W)`` float32 in ``{0, 1}`` at image resolution.

`shapes` draws later objects over earlier ones, so an object can be hidden
completely; its mask is then empty and its box all zeros. Such an object is not
something a detector could find, so it becomes a padding row here (class ``-1``,
empty mask) instead of a zero-area "ground truth".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from builder.training.datasets.shapes import SHAPE_CLASSES, generate_shapes

#: Objects per image in the instance scenes (padded ground truth has this many rows).
MAX_OBJECTS = 3
#: Object classes (background is not one of them).
NUM_CLASSES = len(SHAPE_CLASSES)


@dataclass
class InstanceData:
    """A batch of scenes with everything Mask R-CNN trains and is scored on.

    Attributes:
        images: ``(N, H, W, C)`` float32 in ``[0, 1]``.
        y_true: ``(N, K, 5)`` float32, normalised boxes + class (``-1`` pads).
        masks: ``(N, K, H, W)`` float32 in ``{0, 1}``; all zeros on padding rows.
    """

    images: np.ndarray
    y_true: np.ndarray
    masks: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index) -> "InstanceData":
        return InstanceData(self.images[index], self.y_true[index], self.masks[index])


def instance_targets(scenes) -> tuple[np.ndarray, np.ndarray]:
    """``(y_true, masks)`` of a :class:`~builder.training.datasets.shapes.ShapeScenes`.

    Objects whose mask is empty (fully occluded) become padding rows.
    """
    size_h, size_w = scenes.masks.shape[-2:]
    visible = scenes.masks.any(axis=(-2, -1)) & (scenes.classes >= 0)
    scale = np.array([size_h, size_w, size_h, size_w], dtype=np.float32)
    boxes = np.where(visible[..., None], scenes.boxes / scale, 0.0)
    classes = np.where(visible, scenes.classes, -1).astype(np.float32)
    y_true = np.concatenate([boxes, classes[..., None]], axis=-1).astype(np.float32)
    masks = (scenes.masks & visible[..., None, None]).astype(np.float32)
    return y_true, masks


def shapes_instances(count: int, size: int = 64, seed: int = 0,
                     max_objects: int = MAX_OBJECTS) -> InstanceData:
    """``count`` seeded `shapes` scenes of 1..``max_objects`` shapes, with instance masks.

    Args:
        count: number of images.
        size: side of the square images in pixels.
        seed: the same seed draws the same scenes.
        max_objects: ground-truth rows per image (``K``).

    Returns:
        Images, padded ground truth and instance masks.
    """
    if count < 1:
        raise ValueError(f"Expected at least one scene. Received: count={count}")
    scenes = generate_shapes(count, size, seed=seed, max_objects=max_objects)
    y_true, masks = instance_targets(scenes)
    return InstanceData(scenes.images, y_true, masks)


def ground_truth_instances(y_true: np.ndarray, masks: np.ndarray):
    """Per image ``(boxes (k, 4), classes (k,), masks (k, H, W) bool)`` without padding."""
    out = []
    for y, m in zip(y_true, masks):
        keep = y[:, 4] >= 0
        out.append((y[keep, :4], y[keep, 4].astype(np.int64), m[keep] > 0.5))
    return out


def pack_instances(y_true: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """One array ``(N, K, 5 + H*W)`` holding ground truth and masks, so that code
    that splits, shuffles or slices labels along the first axis keeps them together."""
    n, k = y_true.shape[:2]
    flat = np.asarray(masks, np.float32).reshape(n, k, -1)
    return np.concatenate([np.asarray(y_true, np.float32), flat], axis=-1)


def unpack_instances(packed: np.ndarray, image_size) -> tuple[np.ndarray, np.ndarray]:
    """``(y_true (N, K, 5), masks (N, K, H, W))`` from :func:`pack_instances`' array.

    Raises:
        ValueError: the last axis is not ``5 + H*W`` for ``image_size`` ``(H, W)``.
    """
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    packed = np.asarray(packed, np.float32)
    if packed.ndim != 3 or packed.shape[-1] != 5 + h * w:
        raise ValueError(f"Instance labels are (N, K, 5 + H*W) = (N, K, {5 + h * w}) for "
                         f"{h}x{w} images. Received: shape {packed.shape}")
    n, k = packed.shape[:2]
    return packed[..., :5], packed[..., 5:].reshape(n, k, h, w)

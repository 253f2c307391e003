"""Detection targets from the built-in `shapes` scenes (numpy only)."""

from __future__ import annotations

import numpy as np

from builder.training.datasets.shapes import SHAPE_CLASSES, generate_shapes

#: Objects per image in the detection scenes (padded ground truth has this many rows).
MAX_OBJECTS = 3


def padded_truth(scenes) -> np.ndarray:
    """``(N, K, 5)`` ground truth ``(y1, x1, y2, x2, class)``, boxes normalised, class -1 pads."""
    size = scenes.images.shape[1]
    y = np.concatenate([scenes.boxes / size, scenes.classes[..., None].astype(np.float32)],
                       axis=-1)
    return y.astype(np.float32)


def shapes_detection(count: int, size: int = 64, seed: int = 0,
                     max_objects: int = MAX_OBJECTS) -> tuple[np.ndarray, np.ndarray]:
    """``(images, y_true)`` of ``count`` seeded `shapes` scenes with 1..max_objects shapes."""
    scenes = generate_shapes(count, size, seed=seed, max_objects=max_objects)
    return scenes.images, padded_truth(scenes)


def ground_truth_list(y_true: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per image ``(boxes, classes)`` as :func:`mean_average_precision` takes them."""
    return [(y[:, :4], y[:, 4].astype(np.int64)) for y in y_true]


NUM_CLASSES = len(SHAPE_CLASSES)

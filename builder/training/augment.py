"""Training-time augmentation, applied per batch.

The transforms run on each training batch only (never on validation data,
never inside the saved model), through a ``keras.utils.PyDataset`` that works
the same under every backend. Classification uses Keras' preprocessing layers
on the images alone; segmentation, localization and detection targets move with
their images (:mod:`builder.training.target_transforms`).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from builder.training.datasets import augmentation_layers
from builder.training.model_setup import head_targets
from builder.training.target_transforms import (
    TARGET_TASKS,
    AugmentSettings,
    augment_targets,
)


class AugmentedBatches(keras.utils.PyDataset):
    """Shuffled batches of ``(x, y)`` with random flips, crops and rotations.

    Args:
        x, y: the training arrays.
        batch_size: samples per batch.
        augment: the dataset's ``"augment"`` settings.
        outputs: how many model outputs the targets feed (GoogLeNet's auxiliary
            heads take the same labels; localization's class and box heads
            share ``[class, y1, x1, y2, x2]`` out).
        seed: the shuffling seed (and the augmentation seed unless
            ``augment["seed"]`` is set).
        task: the dataset's task; ``segmentation``, ``localization`` and
            ``detection`` targets are transformed with their images.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int,
                 augment: dict[str, Any], outputs: int = 1, seed: int = 0,
                 task: str | None = None):
        super().__init__()
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.task = task if task in TARGET_TASKS else None
        if self.task is None:
            self.layers = augmentation_layers(augment, x.shape[1:])
        else:
            self.settings = AugmentSettings.parse(augment)
        self.outputs = outputs
        self.seed = int(seed if augment.get("seed") is None else augment["seed"])
        self.epoch = 0
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        picked = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        x, y = self.x[picked], self.y[picked]
        if self.task is None:
            for layer in self.layers:
                x = layer(x, training=True)
            x = keras.ops.convert_to_numpy(x)
            return x, (y if self.outputs == 1 else tuple([y] * self.outputs))
        # A generator per (epoch, batch): the same batch comes out the same
        # whatever order the batches are asked for in.
        rng = np.random.default_rng([self.seed, self.epoch, index])
        x, y, _ = augment_targets(x, y, self.task, self.settings, rng)
        y = head_targets(y, self.outputs, self.task)
        return x, (tuple(y) if isinstance(y, list) else y)

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self.rng.permutation(len(self.x))

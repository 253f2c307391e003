"""Training-time augmentation: Keras preprocessing layers applied per batch.

The layers run on each training batch only (never on validation data, never
inside the saved model), through a ``keras.utils.PyDataset`` that works the
same under every backend.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from builder.training.datasets import augmentation_layers


class AugmentedBatches(keras.utils.PyDataset):
    """Shuffled batches of ``(x, y)`` with random flips, crops and rotations.

    Args:
        x, y: the training arrays.
        batch_size: samples per batch.
        augment: the dataset's ``"augment"`` settings.
        outputs: how many model outputs take ``y`` (GoogLeNet's auxiliary heads).
        seed: the shuffling seed.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int,
                 augment: dict[str, Any], outputs: int = 1, seed: int = 0):
        super().__init__()
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.layers = augmentation_layers(augment, x.shape[1:])
        self.outputs = outputs
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        picked = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        x = self.x[picked]
        for layer in self.layers:
            x = layer(x, training=True)
        x = keras.ops.convert_to_numpy(x)
        y = self.y[picked]
        return x, (y if self.outputs == 1 else tuple([y] * self.outputs))

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.x))

"""Fitting image arrays to a model's input: bilinear resize and channel changes.

Pure numpy so that loading data never needs a backend: a resize is two small
matrix products (one interpolation matrix per spatial axis), which is exact
bilinear interpolation with half-pixel centres, the same sampling as
``keras.ops.image.resize(..., interpolation="bilinear", antialias=False)``.
"""

from __future__ import annotations

import numpy as np


def interpolation_matrix(size_in: int, size_out: int) -> np.ndarray:
    """The ``(size_out, size_in)`` matrix of 1-D bilinear resampling."""
    scale = size_in / size_out
    centres = (np.arange(size_out) + 0.5) * scale - 0.5
    centres = np.clip(centres, 0, size_in - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, size_in - 1)
    frac = centres - low
    matrix = np.zeros((size_out, size_in), dtype=np.float32)
    rows = np.arange(size_out)
    np.add.at(matrix, (rows, low), 1.0 - frac)
    np.add.at(matrix, (rows, high), frac)
    return matrix


def resize_images(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resizes ``(N, H, W, C)`` images to ``(N, height, width, C)``, bilinearly."""
    _, h, w, _ = images.shape
    if (h, w) == (height, width):
        return images.astype(np.float32, copy=False)
    rows = interpolation_matrix(h, height)
    cols = interpolation_matrix(w, width)
    out = np.einsum("ih,nhwc->niwc", rows, images.astype(np.float32), optimize=True)
    return np.einsum("jw,niwc->nijc", cols, out, optimize=True)


def resize_labels(labels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resizes ``(N, H, W)`` per-pixel class labels by nearest neighbour (a blend
    of two classes is no class)."""
    _, h, w = labels.shape
    rows = np.minimum((np.arange(height) + 0.5) * h / height, h - 1).astype(int)
    cols = np.minimum((np.arange(width) + 0.5) * w / width, w - 1).astype(int)
    return labels[:, rows][:, :, cols]


def convert_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Grey → RGB by repetition, RGB → grey by ITU-R 601 luma; else unchanged."""
    have = images.shape[-1]
    if have == channels:
        return images
    if have == 1:
        return np.repeat(images, channels, axis=-1)
    if have == 3 and channels == 1:
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return (images.astype(np.float32) @ weights)[..., None]
    raise ValueError(f"cannot convert {have} channels to {channels}")

"""From raw arrays to what ``model.fit`` takes: split, normalise, fit the input.

A dataset spec is the project's ``"dataset"`` section, a plain dict::

    {"name": "digits",            # or shapes, mnist, ..., npz, folder, csv
     "path": "data/x.npz",        # for npz / folder / csv
     "validation_split": 0.2,     # fraction held out (sets with a test split use it)
     "shuffle": true, "seed": 0,
     "normalize": "unit",         # unit: [0, 1]; standard: zero mean, unit variance; none
     "resize": null,              # true: resize images to the model's input
     "limit": null,               # keep only the first N training samples
     "augment": {"flip": "horizontal", "crop": 4, "rotation": 0.05}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from builder.training.datasets import sources
from builder.training.datasets.resize import convert_channels, resize_images, resize_labels
from builder.training.errors import DatasetError

#: Built-in sets are meant to fit any model, so they resize unless told not to.
RESIZE_BY_DEFAULT = {"digits", "shapes", "mnist", "fashion_mnist", "cifar10", "cifar100"}

#: Keys a dataset spec may hold.
SPEC_KEYS = {"name", "path", "validation_split", "shuffle", "seed", "normalize", "resize",
             "limit", "augment", "samples", "image_size", "channels", "label_column",
             "task", "max_objects"}

#: The divisor that brings a source's values to [0, 1] under "unit".
_RANGE = {"digits": 16.0, "shapes": 1.0}


@dataclass
class Dataset:
    """Training and validation arrays, ready for ``model.fit``.

    Attributes:
        name: the source (``digits``, ``npz``, ...).
        x_train, y_train: training inputs and integer labels.
        x_val, y_val: validation inputs and labels.
        class_names: one name per class, in label order.
        notes: what was done to fit the model (resized from ..., ...).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    class_names: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def resolve_name(spec: dict[str, Any]) -> str:
    """The source of a spec: its name, else guessed from its path's suffix."""
    name = spec.get("name")
    path = spec.get("path")
    if not name and path:
        p = Path(path)
        name = "folder" if p.is_dir() else {".npz": "npz", ".csv": "csv"}.get(
            p.suffix.lower())
    if not name:
        raise DatasetError("The dataset has no name. Expected one of "
                           f"{', '.join(sources.BUILTIN)} or a path to a folder, "
                           f".npz or .csv. Received: {spec!r}")
    if name not in sources.BUILTIN:
        raise DatasetError(f"Unknown dataset '{name}'. Expected one of "
                           f"{', '.join(sources.BUILTIN)}, or a path to a folder, "
                           ".npz or .csv file")
    return name


def dataset_spec(value: str) -> dict[str, Any]:
    """A spec from a command-line word: a built-in name or a file path."""
    path = Path(value)
    if path.exists() or path.suffix or len(path.parts) > 1:
        return {"path": value}
    return {"name": value}  # a bare word: a set's name (unknown ones are refused)


def check_spec(spec: dict[str, Any]) -> str:
    """Checks a spec without loading anything; returns the source's name.

    Raises:
        DatasetError: an unknown name or setting, or a path that does not exist.
    """
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise DatasetError(f"Unknown dataset setting(s) {unknown}. Expected: "
                           f"{', '.join(sorted(SPEC_KEYS))}")
    name = resolve_name(spec)
    if name in ("npz", "folder", "csv"):
        sources._path(spec)
    return name


def load_dataset(spec: dict[str, Any], input_shape: Sequence[int | None] | None = None,
                 ) -> Dataset:
    """Loads, splits, normalises and fits a dataset to a model's input.

    Args:
        spec: the dataset settings (see the module docstring).
        input_shape: the model's input shape without the batch axis; images
            are checked (and, when allowed, resized) against it.

    Returns:
        The prepared :class:`Dataset`.

    Raises:
        DatasetError: a source that cannot be read, or data that does not fit
            the model (the message says how to make it fit).
    """
    name = check_spec(spec)
    raw = sources.BUILTIN[name](dict(spec, name=name))
    notes: list[str] = []
    x_train, y_train, x_val, y_val = prepare_arrays(name, spec, raw, input_shape, notes)
    return Dataset(name, x_train, y_train, x_val, y_val, raw[4], notes)


def prepare_arrays(name: str, spec: dict[str, Any], raw: tuple,
                   input_shape: Sequence[int | None] | None,
                   notes: list[str]) -> tuple[np.ndarray, ...]:
    """Splits, limits, normalises and fits raw arrays: ``(x, y, x_val, y_val)``.

    The whole recipe, in one function that a Python export copies verbatim.
    """
    x, y, x_test, y_test = raw[:4]
    rng = np.random.default_rng(int(spec.get("seed", 0)))
    split = spec.get("validation_split")
    if x_test is not None and split is None:
        x_train, y_train, x_val, y_val = x, y, x_test, y_test
    else:
        split = 0.2 if split is None else float(split)
        if not 0.0 < split < 1.0:
            raise DatasetError(f"validation_split must be between 0 and 1. "
                               f"Received: {split}")
        order = rng.permutation(len(x)) if spec.get("shuffle", True) else np.arange(len(x))
        cut = len(x) - max(1, int(round(len(x) * split)))
        x_train, y_train = x[order[:cut]], y[order[:cut]]
        x_val, y_val = x[order[cut:]], y[order[cut:]]
    limit = spec.get("limit")
    if limit:
        x_train, y_train = x_train[:int(limit)], y_train[:int(limit)]
        x_val, y_val = x_val[:max(1, int(limit) // 4)], y_val[:max(1, int(limit) // 4)]
    x_train, x_val = _normalize(name, spec.get("normalize", "unit"), x_train, x_val)
    if input_shape is not None:
        resize = spec.get("resize")
        resize = name in RESIZE_BY_DEFAULT if resize is None else bool(resize)
        x_train = fit_to_input(x_train, input_shape, resize, name, notes)
        x_val = fit_to_input(x_val, input_shape, resize, name, [])
        if y_train.ndim == 3 and not np.issubdtype(y_train.dtype, np.floating) and \
                y_train.shape[1:] != x_train.shape[1:3]:
            # Per-pixel labels (segmentation masks) follow their images.
            y_train, y_val = (resize_labels(y, *x_train.shape[1:3]) for y in (y_train, y_val))
    # Class labels and masks are integers; regression targets (boxes, padded
    # detection ground truth (N, K, 5) with boxes in fractions) stay real.
    label_type = np.float32 if np.issubdtype(y_train.dtype, np.floating) and \
        y_train.ndim >= 2 else np.int32
    return (x_train.astype(np.float32), y_train.astype(label_type),
            x_val.astype(np.float32), y_val.astype(label_type))


def _normalize(name: str, how: str, x_train: np.ndarray,
               x_val: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x_train, x_val = x_train.astype(np.float32), x_val.astype(np.float32)
    if how == "none":
        return x_train, x_val
    if how == "unit":
        top = _RANGE.get(name) or (255.0 if x_train.max(initial=0) > 1.0 else 1.0)
        if name in ("csv",):  # tabular features have no common range: min-max per column
            low, high = x_train.min(axis=0), x_train.max(axis=0)
            span = np.where(high > low, high - low, 1.0)
            return (x_train - low) / span, (x_val - low) / span
        return x_train / top, x_val / top
    if how == "standard":
        axes = tuple(range(x_train.ndim - 1))  # per channel (per feature for tables)
        mean = x_train.mean(axis=axes, keepdims=True)
        std = x_train.std(axis=axes, keepdims=True) + 1e-7
        return (x_train - mean) / std, (x_val - mean) / std
    raise DatasetError(f"normalize must be 'unit', 'standard' or 'none'. Received: {how!r}")


def fit_to_input(x: np.ndarray, input_shape: Sequence[int | None], resize: bool,
                 name: str, notes: list[str]) -> np.ndarray:
    """``x`` shaped for a model whose input is ``input_shape`` (batch axis left out).

    Raises:
        DatasetError: the shapes differ and ``resize`` is off (the message
            offers it), or no resize can make them agree.
    """
    want = tuple(input_shape)
    have = tuple(x.shape[1:])
    if _matches(have, want):
        return x
    if len(have) == 3 and len(want) == 3:
        h, w, c = (want[0] or have[0], want[1] or have[1], want[2] or have[2])
        if not resize:
            raise DatasetError(
                f"Dataset '{name}' has images of shape {have} but the model's input is "
                f"{want}. Resize them: set \"resize\": true in the dataset settings "
                f"(builder train --resize), or change the Input node's shape to {have}")
        if have[2] != c and not ({have[2], c} <= {1, 3}):
            raise DatasetError(f"Dataset '{name}' has {have[2]} channels; the model's "
                               f"input takes {c}. Received: images of shape {have}")
        out = convert_channels(resize_images(x, h, w), c)
        notes.append(f"resized {name} images from {have} to {(h, w, c)}")
        return out
    if len(have) == 3 and len(want) == 1 and np.prod(have) == want[0]:
        notes.append(f"flattened {name} images {have} to {want}")
        return x.reshape(len(x), -1)
    raise DatasetError(f"Dataset '{name}' has samples of shape {have} but the model's "
                       f"input is {want}. Received: data that no resize can fit")


def _matches(have: tuple, want: tuple) -> bool:
    return len(have) == len(want) and all(w is None or w == h for h, w in zip(have, want))


def augmentation_layers(augment: dict[str, Any] | None, image_shape: Sequence[int]) -> list:
    """Keras preprocessing layers for the ``"augment"`` settings (train time only).

    ``flip``: ``"horizontal"``, ``"vertical"`` or ``"horizontal_and_vertical"``;
    ``crop``: pad this many pixels, then crop back to size at random;
    ``rotation``: a fraction of a full turn, as ``keras.layers.RandomRotation``.
    """
    import keras  # noqa: PLC0415

    if not augment:
        return []
    unknown = sorted(set(augment) - {"flip", "crop", "rotation", "seed"})
    if unknown:
        raise DatasetError(f"Unknown augmentation(s) {unknown}. Expected: flip, crop, "
                           "rotation")
    if len(image_shape) != 3:
        raise DatasetError("Augmentation applies to images. Received: samples of shape "
                           f"{tuple(image_shape)}")
    seed = augment.get("seed")
    layers: list = []
    if augment.get("flip"):
        mode = augment["flip"] if isinstance(augment["flip"], str) else "horizontal"
        layers.append(keras.layers.RandomFlip(mode, seed=seed))
    if augment.get("crop"):
        pad = int(augment["crop"])
        layers.append(keras.layers.ZeroPadding2D(pad))
        layers.append(keras.layers.RandomCrop(image_shape[0], image_shape[1], seed=seed))
    if augment.get("rotation"):
        layers.append(keras.layers.RandomRotation(float(augment["rotation"]), seed=seed))
    return layers

"""Where the raw arrays come from: built-in sets, Keras' downloads, user files.

Every loader returns ``(x, y, x_test, y_test, class_names)`` with images as
``(N, H, W, C)`` arrays in their native range (``0..255`` for 8-bit images, for
example) and labels as integer class indices; ``x_test`` is ``None`` when the
source has no separate test split. Normalisation, splitting and resizing
happen afterwards in :mod:`builder.training.datasets.prepare`, the same for
every source.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from builder.training.datasets.shapes import (
    SHAPE_CLASSES,
    shapes_classification,
    shapes_detection,
    shapes_localization,
    shapes_segmentation,
)
from builder.training.errors import DatasetError

Raw = tuple[np.ndarray, np.ndarray, "np.ndarray | None", "np.ndarray | None", list[str]]

#: Image file suffixes an image folder may hold.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def load_digits(spec: dict[str, Any]) -> Raw:
    """scikit-learn's 1,797 8x8 handwritten digits (values 0..16), offline.

    Reads the CSV that scikit-learn ships rather than importing scikit-learn,
    whose import pulls in SciPy and takes seconds.
    """
    found = importlib.util.find_spec("sklearn")
    path = (Path(found.origin).parent / "datasets" / "data" / "digits.csv.gz"
            if found and found.origin else None)
    if path is None or not path.is_file():
        raise DatasetError("The 'digits' dataset comes with scikit-learn, which is not "
                           "installed. Run: pip install scikit-learn")
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x = table[:, :64].reshape(-1, 8, 8, 1)
    y = table[:, 64].astype(np.int32)
    return x, y, None, None, [str(i) for i in range(10)]


def load_shapes(spec: dict[str, Any]) -> Raw:
    """The procedurally drawn circles, squares and triangles (values 0..1).

    ``"task"`` picks the labels: ``classification`` (one class per image),
    ``segmentation`` (an ``(H, W)`` class mask per image, 0 = background) or
    ``localization`` (one object: ``[class, y1, x1, y2, x2]``, box in fractions) or
    ``detection`` (1 to ``max_objects`` objects, default 3: padded ground truth
    ``(N, K, 5)`` = box in fractions + class, class -1 on padding rows) or
    ``instances`` (that ground truth with the flattened instance masks appended:
    ``(N, K, 5 + H*W)``, :func:`builder.detection.rcnn_data.pack_instances`).
    """
    count = int(spec.get("samples", 2000))
    size = int(spec.get("image_size", 32))
    task = spec.get("task", "classification")
    args = {"channels": int(spec.get("channels", 3)), "seed": int(spec.get("seed", 0))}
    if task == "segmentation":
        x, y = shapes_segmentation(count, size, **args)
        return x, y, None, None, ["background", *SHAPE_CLASSES]
    if task == "localization":
        x, y = shapes_localization(count, size, **args)
        return x, y, None, None, list(SHAPE_CLASSES)
    if task == "instances":
        # Mask R-CNN's labels: padded ground truth + flattened instance masks in one
        # array (N, K, 5 + H*W) that splits and shuffles as one (rcnn_data.pack_instances).
        from builder.detection.rcnn_data import pack_instances, shapes_instances  # noqa: PLC0415

        d = shapes_instances(count, size, seed=args["seed"],
                             max_objects=int(spec.get("max_objects", 3)))
        return d.images, pack_instances(d.y_true, d.masks), None, None, list(SHAPE_CLASSES)
    if task == "detection":
        x, y = shapes_detection(count, size, max_objects=int(spec.get("max_objects", 3)),
                                **args)
        return x, y, None, None, list(SHAPE_CLASSES)
    if task != "classification":
        raise DatasetError("The shapes dataset's task must be 'classification', "
                           f"'segmentation', 'localization', 'detection' or "
                           "'instances'. "
                           f"Received: {task!r}")
    x, y = shapes_classification(count, size, **args)
    return x, y, None, None, list(SHAPE_CLASSES)


#: Keras' downloadable sets: name → (module, file in the cache, class names).
KERAS_SETS: dict[str, tuple[str, str, int]] = {
    "mnist": ("mnist", "mnist.npz", 10),
    "fashion_mnist": ("fashion_mnist", "fashion-mnist", 10),
    "cifar10": ("cifar10", "cifar-10-batches-py", 10),
    "cifar100": ("cifar100", "cifar-100-python", 100),
}


def keras_cache_dir() -> Path:
    """The folder Keras downloads data sets into (``$KERAS_HOME/datasets``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def load_keras_dataset(name: str) -> Raw:
    """One of ``keras.datasets``: from Keras' cache, else downloaded.

    Offline, Keras raises a plain ``Exception``; it becomes a
    :class:`DatasetError` that says where to put the file by hand.
    """
    import keras  # noqa: PLC0415 - only when such a set is asked for

    module, cached, classes = KERAS_SETS[name]
    try:
        (x, y), (x_test, y_test) = getattr(keras.datasets, module).load_data()
    except Exception as exc:  # keras raises a bare Exception when offline
        raise DatasetError(
            f"Dataset '{name}' is not in Keras' cache and could not be downloaded "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'})."
            f" Connect to the internet once, or copy the file that "
            f"keras.datasets.{module}.load_data() downloads into "
            f"{keras_cache_dir() / cached}; or use a built-in set: --dataset digits"
        ) from None
    if x.ndim == 3:
        x, x_test = x[..., None], x_test[..., None]
    return (x, y.reshape(-1).astype(np.int32), x_test,
            y_test.reshape(-1).astype(np.int32), [str(i) for i in range(classes)])


def load_npz(spec: dict[str, Any]) -> Raw:
    """A NumPy ``.npz`` with arrays ``x`` and ``y`` (and ``x_test``/``y_test``)."""
    path = _path(spec)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: is not a readable .npz file. Received: {exc}") from None
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise DatasetError(f"{path}: an .npz dataset needs arrays 'x' and 'y'. "
                           f"Received: arrays {sorted(arrays)}")
    x, y = arrays["x"], arrays["y"]
    if len(x) != len(y):
        raise DatasetError(f"{path}: 'x' and 'y' must have the same length. "
                           f"Received: {len(x)} and {len(y)}")
    y, names = _labels(y)
    x_test, y_test = arrays.get("x_test"), arrays.get("y_test")
    if x_test is not None and y_test is not None:
        y_test = _labels(y_test, names)[0]
    if x.ndim == 3:
        x = x[..., None]
        x_test = x_test[..., None] if x_test is not None else None
    return x, y, x_test, y_test, names


def load_folder(spec: dict[str, Any]) -> Raw:
    """An image folder with one sub-folder per class (sorted names = labels)."""
    path = _path(spec)
    classes = sorted(p.name for p in path.iterdir() if p.is_dir()
                     and not p.name.startswith("."))
    if not classes:
        raise DatasetError(f"{path}: an image folder needs one sub-folder per class. "
                           "Received: no sub-folders")
    try:
        from PIL import Image  # noqa: PLC0415 - keras' image utils need Pillow too
    except ImportError:
        raise DatasetError("Reading an image folder needs Pillow. Run: pip install pillow"
                           ) from None
    size = spec.get("image_size")
    images, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted((path / name).iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(file) as img:
                    img = img.convert("RGB" if spec.get("channels", 3) == 3 else "L")
                    if size:
                        img = img.resize((int(size[1]), int(size[0])))
                    array = np.asarray(img, dtype=np.float32)
            except OSError as exc:
                raise DatasetError(f"{file}: is not a readable image. Received: {exc}"
                                   ) from None
            images.append(array if array.ndim == 3 else array[..., None])
            labels.append(label)
    if not images:
        raise DatasetError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) "
                           f"in the class folders {classes}")
    shapes = {a.shape for a in images}
    if len(shapes) > 1:
        raise DatasetError(f"{path}: images differ in size ({sorted(shapes)[:3]}...); "
                           "set \"image_size\": [H, W] in the dataset settings")
    return np.stack(images), np.array(labels, dtype=np.int32), None, None, classes


def load_csv(spec: dict[str, Any]) -> Raw:
    """A table: one row per sample, numeric features, a label column.

    The label column is ``spec["label_column"]`` (a header name or index),
    else the last column; labels may be numbers or text.
    """
    path = _path(spec)
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f) if r]
    if not rows:
        raise DatasetError(f"{path}: the CSV file is empty")
    header = None
    if any(not _is_float(v) for v in rows[0]):
        header, rows = rows[0], rows[1:]
    width = len(rows[0]) if rows else 0
    column = spec.get("label_column", -1)
    if isinstance(column, str):
        if header is None or column not in header:
            raise DatasetError(f"{path}: no column named '{column}'. "
                               f"Received: header {header}")
        column = header.index(column)
    column = column % width if width else 0
    features, labels = [], []
    for number, row in enumerate(rows, start=2 if header else 1):
        if len(row) != width:
            raise DatasetError(f"{path}, line {number}: expected {width} values. "
                               f"Received: {len(row)}")
        values = row[:column] + row[column + 1:]
        try:
            features.append([float(v) for v in values])
        except ValueError:
            raise DatasetError(f"{path}, line {number}: features must be numbers. "
                               f"Received: {values}") from None
        labels.append(row[column])
    y, names = _labels(np.array(labels))
    return np.array(features, dtype=np.float32), y, None, None, names


def _labels(y: np.ndarray, names: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Integer labels and class names from integer or text labels."""
    y = np.asarray(y).reshape(-1)
    if y.dtype.kind in "iu":
        return y.astype(np.int32), names or [str(i) for i in range(int(y.max()) + 1)]
    if y.dtype.kind == "f" and np.all(y == np.round(y)):
        return y.astype(np.int32), names or [str(i) for i in range(int(y.max()) + 1)]
    if y.dtype.kind == "f":
        raise DatasetError("Labels must be class indices or class names. "
                           f"Received: fractional numbers such as {y[0]}")
    names = names or sorted({str(v) for v in y})
    if all(_is_float(n) for n in names) and all(float(n) == int(float(n)) for n in names):
        return np.array([int(float(v)) for v in y], dtype=np.int32), names
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[str(v)] for v in y], dtype=np.int32), names


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _path(spec: dict[str, Any]) -> Path:
    path = spec.get("path")
    if not path:
        raise DatasetError(f"Dataset '{spec.get('name')}' needs a path. Received: none")
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    return path


#: Named sources (user files are recognised by their path, see ``resolve_name``).
BUILTIN: dict[str, Callable[[dict[str, Any]], Raw]] = {
    "digits": load_digits,
    "shapes": load_shapes,
    **{name: (lambda spec, n=name: load_keras_dataset(n)) for name in KERAS_SETS},
    "npz": load_npz,
    "folder": load_folder,
    "csv": load_csv,
}

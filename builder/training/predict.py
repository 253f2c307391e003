"""``builder predict RUN IMAGE [IMAGE...] -o out.png [--json]``.

Loads a run's best (or last) model, reads the images with Pillow, prepares them
as the run's dataset prepared its images (resized to the model input,
grey/RGB converted, normalised the same way), asks the run's task plug-in
(:mod:`builder.training.tasks`) for the results and draws them
(:mod:`builder.training.drawing`). Everything the user can get wrong (no such
run, an unreadable image, channels the model cannot take) is found before any
file is written, and the picture is written atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from builder.training.errors import TrainingError

#: Pillow modes read as grey (one channel) and as colour (three).
_GREY = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``builder predict``."""
    parser.add_argument("run", help="run directory (runs/NAME-STAMP)")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image file(s) "
                        "(png, jpg, bmp, gif, ...)")
    parser.add_argument("-o", "--output", help="picture to write (png); several images "
                        "are drawn side by side")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    parser.add_argument("--model", choices=("best", "last"), default="best",
                        help="which checkpoint of the run (default best)")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as ``(H, W, 1)`` or ``(H, W, 3)`` values in 0..255 (float32).

    Alpha is dropped, palettes expanded, 16-bit grey scaled to 0..255.

    Raises:
        TrainingError: no such file, or not an image Pillow can read.
    """
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"{path}: no such image file")
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                a = np.asarray(img, dtype=np.float32)
                top = 65535.0 if a.max(initial=0) > 255 else 255.0
                return (a * (255.0 / top))[..., None]
            if mode == "F":
                a = np.asarray(img, dtype=np.float32)
                return (np.clip(a, 0, 1) * 255.0 if a.max(initial=0) <= 1 else a)[..., None]
            img = img.convert("L" if mode in _GREY else "RGB")
            a = np.asarray(img, dtype=np.float32)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TrainingError(f"{path}: is not a readable image. Received: {reason}") from None
    return a[..., None] if a.ndim == 2 else a


def fit_image(image: np.ndarray, input_shape: Sequence[int | None], path: Any) -> np.ndarray:
    """An image (0..255) resized to the model's ``(H, W, C)`` input, channels
    converted grey <-> RGB as the datasets do.

    Raises:
        TrainingError: the model takes other than 1 or 3 channels and the image
            has another count, or the model's input is not an image.
    """
    from builder.training.datasets.resize import convert_channels, resize_images  # noqa: PLC0415

    if len(input_shape) != 3:
        raise TrainingError(f"{path}: the model takes inputs of shape {tuple(input_shape)}, "
                            "not images (H, W, C)")
    h, w, c = input_shape
    have = image.shape[-1]
    c = c or have
    if have != c and not {have, c} <= {1, 3}:
        raise TrainingError(f"{path}: the model takes images with {c} channels; this image "
                            f"has {have}. Received: image of shape {image.shape}")
    resized = resize_images(image[None], h or image.shape[0], w or image.shape[1])
    return convert_channels(resized, c)[0]


def normalizer(config: dict[str, Any]) -> Any:
    """The run's input normalisation, for images in 0..255.

    ``unit`` training data lie in [0, 1] whatever the source (digits' 0..16,
    8-bit 0..255), so an image file is divided by 255. ``none`` keeps the
    source's own range; ``standard`` subtracts the training split's mean and
    divides by its standard deviation (per channel), recomputed from the run's
    dataset exactly as the run did.
    """
    from builder.training.datasets.prepare import _RANGE, resolve_name  # noqa: PLC0415

    spec = config.get("dataset") or {"name": "digits"}
    how = spec.get("normalize", "unit")
    name = resolve_name(spec)
    top = _RANGE.get(name, 255.0)
    if how == "unit":
        return lambda x: x / 255.0
    if how == "none":
        return lambda x: x / 255.0 * top
    if how == "standard":
        from builder.training.datasets import load_dataset  # noqa: PLC0415

        raw = load_dataset(dict(spec, normalize="none"))
        axes = tuple(range(raw.x_train.ndim - 1))
        mean = raw.x_train.mean(axis=axes)
        std = raw.x_train.std(axis=axes) + 1e-7
        return lambda x: (x / 255.0 * top - mean) / std
    raise TrainingError(f"normalize must be 'unit', 'standard' or 'none'. Received: {how!r}")


def class_names(config: dict[str, Any]) -> list[str]:
    """The class names of the run's dataset, in label order."""
    from builder.training.datasets import sources  # noqa: PLC0415
    from builder.training.datasets.prepare import resolve_name  # noqa: PLC0415

    spec = dict(config.get("dataset") or {"name": "digits"})
    name = resolve_name(spec)
    if name == "shapes":  # the names do not need the images
        spec["samples"] = 1
    if name == "folder":  # one sub-folder per class, without reading the images
        folder = sources._path(spec)
        return sorted(p.name for p in folder.iterdir() if p.is_dir()
                      and not p.name.startswith("."))
    return list(sources.BUILTIN[name](dict(spec, name=name))[4])


def predict_images(run_dir: str | os.PathLike, paths: Sequence[str | os.PathLike],
                   which: str = "best") -> tuple[list[np.ndarray], list[dict[str, Any]],
                                                 dict[str, Any]]:
    """Reads the images, predicts with the run's model, returns what to draw.

    Returns:
        ``(images as read (uint8), results, info)`` with ``info`` =
        ``{"run", "model", "task", "class_names", "input_shape"}``.

    Raises:
        TrainingError: a missing run or model, an unreadable image, or an
            image the model cannot take (one line).
    """
    from builder.training.run_dir import (  # noqa: PLC0415
        checkpoint_path,
        load_run_project,
        read_config,
    )

    run_dir = Path(run_dir)
    config = read_config(run_dir)          # not a run: one line, before Keras loads
    checkpoint = checkpoint_path(run_dir, which)
    raw = [read_image(p) for p in paths]   # every image checked before Keras loads

    from builder.training.tasks import PredictContext, get_task, task_name  # noqa: PLC0415

    graph = load_run_project(run_dir).graph
    task = get_task(task_name(config, graph))
    model = task.load_model(run_dir, which)
    input_shape = tuple(model.inputs[0].shape[1:])
    # With the model known, a per-pixel head (a user's npz masks) reads as segmentation;
    # classification and segmentation models load alike.
    task = get_task(task_name(config, graph, model))
    fitted = np.stack([fit_image(a, input_shape, p) for a, p in zip(raw, paths)])
    batch = normalizer(config)(fitted).astype(np.float32)
    names = class_names(config)
    context = PredictContext(graph, config, names, run_dir)
    results = task.predict(model, batch, context)
    shown = [np.clip(a, 0, 255).astype(np.uint8) for a in raw]
    info = {"run": str(run_dir), "model": checkpoint.name, "task": task.name,
            "class_names": names, "input_shape": list(input_shape)}
    return shown, results, info


def write_picture(picture: Any, path: str | os.PathLike) -> Path:
    """Saves a Pillow picture atomically (a temporary file, then a rename)."""
    path = Path(path)
    if path.parent and not path.parent.is_dir():
        raise TrainingError(f"{path}: its folder does not exist")
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}.get(path.suffix.lower(), "PNG")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            picture.save(f, format=fmt)
        umask = os.umask(0)  # mkstemp makes the file private; give it the usual mode
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def predict_command(args: argparse.Namespace) -> int:
    """``builder predict``: draws (and/or prints) a run's predictions on image files."""
    from builder.training.drawing import draw_batch, summarise  # noqa: PLC0415

    if not args.output and not args.json:
        raise TrainingError("Where to? Expected -o out.png and/or --json. Received: neither")
    if args.output and Path(args.output).suffix.lower() not in ("", ".png", ".jpg", ".jpeg",
                                                                ".bmp"):
        raise TrainingError(f"-o takes a .png, .jpg or .bmp file. Received: {args.output}")
    if args.output and not Path(args.output).parent.is_dir() and \
            str(Path(args.output).parent) not in ("", "."):
        raise TrainingError(f"{args.output}: its folder does not exist")
    images, results, info = predict_images(args.run, args.images, args.model)
    if args.output:
        write_picture(draw_batch(images, results), args.output)
    if args.json:
        out = {**{k: v for k, v in info.items()}, "output": args.output,
               "images": [{"path": str(p), "size": [int(i.shape[1]), int(i.shape[0])],
                           **summarise(r)} for p, i, r in zip(args.images, images, results)]}
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for path, result in zip(args.images, results):
            print(f"{path}: {describe(result)}")
        print(f"Wrote {args.output}")
    return 0


def result_lines(result: dict[str, Any]) -> list[str]:
    """A result as short lines of text: top-5, classes present, or detections."""
    task = result.get("task")
    if task == "classification":
        return [f"{r['label']}  {r['probability']:.1%}" for r in result["top"]]
    if task == "segmentation":
        return [f"{r['label']}  {r['fraction']:.1%} of pixels" for r in result["classes"]]
    if task == "localization":
        box = ", ".join(f"{v:.2f}" for v in result["box"])
        return [f"{result['label']}  {result['probability']:.1%}  at ({box})"]
    return [f"{r['label']}  {r['score']:.2f}  at (" + ", ".join(f"{v:.2f}" for v in r["box"])
            + ")" for r in result.get("detections") or []]


def describe(result: dict[str, Any]) -> str:
    """One line of text for a result (what the CLI prints without --json)."""
    lines = result_lines(result)
    if not lines and result.get("task") in ("detection", "instances"):
        return "no detections above the score threshold"
    return ("; " if result.get("task") in ("detection", "instances", "localization")
            else ", ").join(" ".join(line.split()) for line in lines)

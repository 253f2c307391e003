"""Drawing predictions on images: top-5 panels, class overlays, boxes and masks.

Pillow and numpy only (no Keras, no Qt), so ``builder predict`` and the GUI's
results tab draw the same pictures. A result is one dict of
:meth:`builder.training.tasks.Task.predict` (keys listed in
``/work/notes/tasks_api.md``); boxes are ``(y1, x1, y2, x2)`` fractions of the
image, masks are arrays at the model's input size, scaled here to the picture.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Distinct colours for classes (Tableau 10, then its light variants).
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
           (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150),
           (197, 176, 213), (196, 156, 148), (247, 182, 210), (199, 199, 199),
           (219, 219, 141), (158, 218, 229))

#: Pictures smaller than this (longest side, pixels) are enlarged by a whole factor.
MIN_SIDE = 256
#: Width of the text panel beside classification and segmentation pictures.
PANEL_WIDTH = 240
#: Opacity of class overlays and instance masks.
ALPHA = 0.45


def colour(index: int) -> tuple[int, int, int]:
    """The colour of class ``index``."""
    return PALETTE[index % len(PALETTE)]


def display_scale(height: int, width: int) -> int:
    """The whole factor a picture of ``height x width`` is enlarged by (at least 1)."""
    return max(1, MIN_SIDE // max(1, height, width))


def panel_width(result: dict[str, Any]) -> int:
    """Width added beside the picture for a result's text (0 for boxes only)."""
    return PANEL_WIDTH if result.get("task") in ("classification", "segmentation") else 0


def output_size(height: int, width: int, result: dict[str, Any]) -> tuple[int, int]:
    """``(width, height)`` of the picture :func:`draw_result` makes for an image."""
    s = display_scale(height, width)
    return width * s + panel_width(result), height * s


def to_uint8(image: np.ndarray) -> np.ndarray:
    """An ``(H, W)`` / ``(H, W, 1|3)`` array as RGB ``uint8`` for display.

    ``uint8`` passes through; real values are stretched from their own range
    (normalised inputs have no fixed one).
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.dtype != np.uint8:
        a = a.astype(np.float64)
        low, high = float(np.nanmin(a)), float(np.nanmax(a))
        a = np.zeros_like(a) if high <= low else (a - low) / (high - low)
        a = np.clip(np.round(a * 255), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    if a.shape[-1] != 3:
        raise ValueError(f"Expected an image with 1 or 3 channels. Received: shape {a.shape}")
    return a


def _font(size: int = 12) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


def draw_result(image: np.ndarray, result: dict[str, Any], panel: bool = True) -> Image.Image:
    """The picture of one prediction.

    Args:
        image: the image as read (``uint8`` RGB or grey, any size) or as the
            model saw it (real values).
        result: one prediction dict (its ``"task"`` picks the drawing).
        panel: add the text panel (top-5 bars, segmentation legend) beside
            the picture; without it a classification is the image alone.

    Returns:
        An RGB picture of :func:`output_size` (without the panel's width when
        ``panel`` is false).
    """
    rgb = to_uint8(image)
    h, w = rgb.shape[:2]
    s = display_scale(h, w)
    picture = Image.fromarray(rgb, "RGB").resize((w * s, h * s), Image.NEAREST)
    task = result.get("task")
    if task == "segmentation":
        picture = _overlay_mask(picture, np.asarray(result["mask"]),
                                [c for c in result.get("classes", [])])
    elif task in ("detection", "instances", "localization"):
        rows = result.get("detections")
        if rows is None:  # localization: one box
            rows = [{"box": result["box"], "class": result["class"], "label": result["label"],
                     "score": result.get("probability", 1.0)}]
        if task == "instances":
            for row in rows:
                if row.get("mask") is not None:
                    picture = _fill(picture, np.asarray(row["mask"]) >= 0.5,
                                    colour(int(row["class"])))
        _draw_boxes(picture, rows)
    elif task != "classification":
        raise ValueError(f"Cannot draw a result of task {task!r}")
    width = panel_width(result) if panel else 0
    if not width:
        return picture
    canvas = Image.new("RGB", (picture.width + width, picture.height), (255, 255, 255))
    canvas.paste(picture, (0, 0))
    draw = ImageDraw.Draw(canvas)
    if task == "classification":
        _top_panel(draw, picture.width + 8, result.get("top", []))
    else:
        _legend(draw, picture.width + 8, result.get("classes", []))
    return canvas


def draw_batch(images: Sequence[np.ndarray], results: Sequence[dict[str, Any]],
               gap: int = 8) -> Image.Image:
    """Several drawn results side by side on white (one picture per image)."""
    tiles = [draw_result(i, r) for i, r in zip(images, results)]
    if len(tiles) == 1:
        return tiles[0]
    width = sum(t.width for t in tiles) + gap * (len(tiles) - 1)
    canvas = Image.new("RGB", (width, max(t.height for t in tiles)), (255, 255, 255))
    x = 0
    for t in tiles:
        canvas.paste(t, (x, 0))
        x += t.width + gap
    return canvas


def _scaled_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A mask resized to ``size`` = (width, height) by nearest neighbour."""
    w, h = size
    rows = np.minimum((np.arange(h) + 0.5) * mask.shape[0] / h, mask.shape[0] - 1).astype(int)
    cols = np.minimum((np.arange(w) + 0.5) * mask.shape[1] / w, mask.shape[1] - 1).astype(int)
    return mask[rows][:, cols]


def _fill(picture: Image.Image, mask: np.ndarray, rgb: tuple[int, int, int]) -> Image.Image:
    m = _scaled_mask(mask.astype(bool), picture.size)
    base = np.asarray(picture, dtype=np.float32)
    base[m] = base[m] * (1 - ALPHA) + np.asarray(rgb, np.float32) * ALPHA
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")


def _background(classes: list[dict[str, Any]]) -> set[int]:
    """Class ids left uncoloured: those labelled ``background``."""
    return {int(c["class"]) for c in classes if str(c.get("label")).lower() == "background"}


def _overlay_mask(picture: Image.Image, mask: np.ndarray,
                  classes: list[dict[str, Any]]) -> Image.Image:
    skip = _background(classes)
    m = _scaled_mask(mask.astype(np.int64), picture.size)
    base = np.asarray(picture, dtype=np.float32)
    for c in np.unique(m):
        if int(c) in skip:
            continue
        where = m == c
        base[where] = base[where] * (1 - ALPHA) + np.asarray(colour(int(c)), np.float32) * ALPHA
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")


def _draw_boxes(picture: Image.Image, rows: list[dict[str, Any]]) -> None:
    draw = ImageDraw.Draw(picture)
    font = _font(12)
    w, h = picture.size
    line = max(2, round(min(w, h) / 128))
    for row in rows:
        y1, x1, y2, x2 = (float(v) for v in row["box"])
        box = [x1 * (w - 1), y1 * (h - 1), x2 * (w - 1), y2 * (h - 1)]
        if box[2] < box[0] or box[3] < box[1]:
            continue
        rgb = colour(int(row["class"]))
        draw.rectangle(box, outline=rgb, width=line)
        text = f"{row.get('label', row['class'])} {float(row.get('score', 1.0)):.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tx = min(max(0.0, box[0]), max(0.0, w - (right - left) - 4))
        ty = box[1] - (bottom - top) - 4 if box[1] >= (bottom - top) + 4 else box[1]
        draw.rectangle([tx, ty, tx + (right - left) + 4, ty + (bottom - top) + 4], fill=rgb)
        draw.text((tx + 2, ty + 2 - top), text, fill=(255, 255, 255), font=font)


def _top_panel(draw: ImageDraw.ImageDraw, x: int, top: list[dict[str, Any]]) -> None:
    font = _font(13)
    draw.text((x, 8), "top-5", fill=(0, 0, 0), font=font)
    for i, row in enumerate(top[:5]):
        y = 32 + i * 30
        p = float(row["probability"])
        bar = (PANEL_WIDTH - 24) * max(0.0, min(1.0, p))
        draw.rectangle([x, y + 16, x + bar, y + 24], fill=colour(int(row["class"])))
        draw.text((x, y), f"{row['label']}  {p:.1%}", fill=(0, 0, 0), font=font)


def _legend(draw: ImageDraw.ImageDraw, x: int, classes: list[dict[str, Any]]) -> None:
    font = _font(13)
    skip = _background(classes)
    draw.text((x, 8), "classes (pixel share)", fill=(0, 0, 0), font=font)
    for i, row in enumerate(classes):
        y = 32 + i * 22
        c = int(row["class"])
        fill = (255, 255, 255) if c in skip else colour(c)
        draw.rectangle([x, y + 2, x + 14, y + 16], fill=fill, outline=(0, 0, 0))
        draw.text((x + 22, y), f"{row['label']}  {float(row['fraction']):.1%}",
                  fill=(0, 0, 0), font=font)


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """A JSON-able copy of a result: arrays under ``mask``/``masks`` become
    ``{"shape", "area"}`` summaries (area = pixels >= 0.5 or non-zero)."""
    def clean(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return {"shape": list(value.shape), "area": int(np.count_nonzero(value >= 0.5)
                                                            if value.dtype.kind == "f"
                                                            else np.count_nonzero(value))}
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    return clean(result)

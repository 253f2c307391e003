"""The drawing of predictions (Pillow + numpy, no Keras): sizes, colours where
boxes, overlays and masks go, untouched pixels elsewhere, JSON summaries."""

from __future__ import annotations

import json

import numpy as np
import pytest

from builder.training.drawing import (
    ALPHA,
    PANEL_WIDTH,
    colour,
    display_scale,
    draw_batch,
    draw_result,
    output_size,
    summarise,
    to_uint8,
)

GREY = np.full((64, 64, 3), 100, np.uint8)


def _blend(base, rgb):
    return np.round(np.asarray(base, float) * (1 - ALPHA) + np.asarray(rgb, float) * ALPHA)


def test_instances_masks_boxes_and_labels():
    mask = np.zeros((32, 32), np.float32)        # model-input size: half the image
    mask[8:16, 8:16] = 0.9                       # image pixels 16..31, picture 64..127
    result = {"task": "instances", "detections": [
        {"box": [0.25, 0.25, 0.5, 0.5], "class": 1, "label": "square", "score": 0.8,
         "mask": mask}]}
    picture = np.asarray(draw_result(GREY, result))
    s = display_scale(64, 64)
    assert s == 4 and picture.shape == (256, 256, 3)
    inside = picture[64 + 20:128 - 20, 64 + 20:128 - 20].reshape(-1, 3)
    assert np.all(np.abs(inside - _blend(100, colour(1))) <= 1)   # translucent fill
    assert tuple(picture[96, int(0.25 * 255)]) == colour(1)          # the box's left edge
    assert np.all(picture[200:, 200:] == 100)                        # far away: untouched
    text = json.dumps(summarise(result))                             # masks summarised
    assert '"area": 64' in text and '"shape": [32, 32]' in text


def test_localization_box_and_classification_panel():
    loc = {"task": "localization", "box": [0.5, 0.0, 1.0, 0.5], "class": 2,
           "label": "triangle", "probability": 0.7, "top": []}
    picture = np.asarray(draw_result(GREY, loc))
    assert picture.shape[:2] == (256, 256)
    assert tuple(picture[254, 60]) == colour(2)                      # bottom edge (2 px)
    top = [{"class": c, "label": str(c), "probability": p}
           for c, p in zip(range(5), (0.5, 0.2, 0.1, 0.1, 0.05))]
    cls = {"task": "classification", "top": top}
    drawn = draw_result(np.arange(64, dtype=np.float32).reshape(8, 8), cls)
    assert drawn.size == output_size(8, 8, cls) == (8 * 32 + PANEL_WIDTH, 8 * 32)
    assert np.asarray(draw_result(GREY, cls, panel=False)).shape == (256, 256, 3)


def test_segmentation_overlay_leaves_background():
    mask = np.zeros((16, 16), np.int32)
    mask[:, 8:] = 2
    result = {"task": "segmentation", "mask": mask, "classes": [
        {"class": 0, "label": "background", "fraction": 0.5},
        {"class": 2, "label": "square", "fraction": 0.5}]}
    picture = np.asarray(draw_result(GREY, result))
    assert picture.shape == (256, 256 + PANEL_WIDTH, 3)
    assert np.all(picture[:, :120] == 100)                           # background: as read
    assert np.all(np.abs(picture[:, 136:256] - _blend(100, colour(2))) <= 1)


def test_batch_and_display_conversions():
    det = {"task": "detection", "detections": []}
    batch = draw_batch([GREY, GREY[:32, :32]], [det, det], gap=8)
    assert batch.size == (256 + 8 + 256, 256)
    assert to_uint8(np.array([[0.0, 0.5], [1.0, 1.0]])).tolist()[0] == [[0] * 3, [128] * 3]
    with pytest.raises(ValueError, match="task 'other'"):
        draw_result(GREY, {"task": "other"})

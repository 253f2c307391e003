"""Colours, sizes and fonts of the canvas (one place, so render == canvas)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont

NODE_WIDTH = 188.0
NODE_HEIGHT = 52.0
PORT_RADIUS = 5.0
H_GAP = 36.0
V_GAP = 38.0

BACKGROUND = QColor("#f4f5f7")
GRID = QColor("#e4e6ea")
NODE_FILL = QColor("#ffffff")
NODE_BORDER = QColor("#9aa3ad")
SELECTED = QColor("#2f7ed8")
ERROR = QColor("#d93025")
ERROR_FILL = QColor("#fdecea")
WARNING = QColor("#e8a317")
TEXT = QColor("#1f2328")
MUTED = QColor("#69727d")
EDGE = QColor("#7d8793")
EDGE_LABEL = QColor("#3b4450")

CATEGORY_COLOURS = {
    "Input/Output": "#5b6b7d",
    "Convolution": "#2f7ed8",
    "Pooling": "#17a398",
    "Dense": "#8e5bd6",
    "Activation": "#f0873a",
    "Normalization": "#43a047",
    "Regularization": "#a1785c",
    "Merge": "#d6478f",
    "Reshape": "#7f8c8d",
    "Blocks": "#c9a227",
    "Detection": "#c0392b",
    "Segmentation": "#16a085",
}


def category_colour(category: str) -> QColor:
    """The stripe colour of a palette category (grey for unknown ones)."""
    return QColor(CATEGORY_COLOURS.get(category, "#8a8f98"))


def font(size: float = 9.0, bold: bool = False) -> QFont:
    """The canvas font at ``size`` points."""
    f = QFont()
    f.setPointSizeF(size)
    f.setBold(bold)
    return f

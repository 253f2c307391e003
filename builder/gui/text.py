"""How the canvas and tables write shapes, counts and labels (pure, no Qt)."""

from __future__ import annotations

import json
from typing import Any

from builder.analysis.summary import short


def shape_text(shape: tuple | None) -> str:
    """``(None, 224, 224, 64)`` -> ``"224×224×64"``; ``None`` -> ``"?"``."""
    if shape is None:
        return "?"
    dims = shape[1:] if len(shape) > 1 else shape
    return "×".join("?" if d is None else str(d) for d in dims)


def count_text(n: int) -> str:
    """Compact parameter or FLOP counts: ``1792`` -> ``"1,792"``, ``3211264`` -> ``"3.21M"``."""
    return short(n, 3)


def node_label(spec: Any, params: dict) -> str:
    """The lecture's short name of a node (``conv3-64``, ``maxpool``, ``FC-4096``)."""
    try:
        return spec.label(params)
    except Exception:  # a half-typed param must not break drawing
        return spec.kind


def value_text(value: Any) -> str:
    """A param value as the inspector's text fields show it."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], (list, tuple)):
            return ", ".join("x".join(str(v) for v in inner) for inner in value)
        return ", ".join("?" if v is None else str(v) for v in value)
    return str(value)


def parse_value(text: str, kind: str, optional: bool = False) -> Any:
    """Reads an inspector text field back into a param value.

    Args:
        text: what the user typed (``"3"``, ``"3, 5"``, ``"same"``, ``"224x224x3"``).
        kind: the param type of the catalogue (``int_or_pair``, ``padding``, ...).
        optional: whether an empty field means ``None``.

    Raises:
        ValueError: with a one-line message when the text cannot be read.
    """
    text = text.strip()
    if not text:
        if optional:
            return None
        raise ValueError("A value is required. Received: an empty field")
    if kind == "float":
        return float(text)
    if kind == "int":
        return int(text)
    if kind == "str":
        return text
    if kind == "params":
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"Expected JSON such as {{\"filters\": 64}}. Received: {text}") from exc
        if not isinstance(value, dict):
            raise ValueError(f"Expected a JSON object. Received: {text}")
        return value
    if kind == "float_list":
        return [float(p) for p in text.replace("[", "").replace("]", "").split(",") if p.strip()]
    if kind == "padding" and text.strip("'\"") in ("same", "valid"):
        return text.strip("'\"")
    if kind == "str_list":
        return [part.strip() for part in text.split(",") if part.strip()]
    if kind == "cropping" and "x" in text and "," in text:
        return [[int(v) for v in part.split("x")] for part in text.split(",")]
    parts = [p for p in text.replace("x", ",").replace("×", ",").replace("[", "")
             .replace("]", "").replace("(", "").replace(")", "").split(",") if p.strip()]
    values = [None if p.strip() in ("?", "None", "null") else int(p) for p in parts]
    if kind in ("shape", "int_list"):
        return values
    if len(values) == 1:
        return values[0]
    return values

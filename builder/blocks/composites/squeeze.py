"""Squeeze-and-excitation (Hu et al. 2018): recalibrates channels by a gate
computed from their global averages.

    squeeze: global average pool -> C values
    excite:  FC(C/r) -> ReLU -> FC(C) -> sigmoid
    scale:   input × gate (broadcast over H and W)
"""

from __future__ import annotations

from builder.blocks.composites.base import Sub, composite
from builder.blocks.rules import fmt_shape
from builder.blocks.spec import Param, ShapeIssue


def _channels(p, ins) -> int:
    if p["channels"]:
        return p["channels"]
    x = ins[0] if ins else None
    if x is None or len(x) != 4 or x[-1] is None:
        raise ShapeIssue(
            "SqueezeExcite with channels=0 reads C from an image input with known "
            f"channels. Received: {fmt_shape(x) if x else 'no input'}",
            fix="Connect an image tensor, or set channels.", field="channels")
    return x[-1]


def _expand(p, ins):
    c = _channels(p, ins)
    hidden = max(1, c // p["ratio"])
    s = Sub()
    x = s.add("squeeze", "GlobalAvgPool2D", "@in")
    x = s.add("reduce", "Dense", x, units=hidden, activation="relu", use_bias=p["use_bias"])
    x = s.add("excite", "Dense", x, units=c, activation="sigmoid", use_bias=p["use_bias"])
    x = s.add("reshape", "Reshape", x, target_shape=[1, 1, c])
    return s.done(s.add("scale", "Multiply", ["@in", x]))


SQUEEZE_EXCITE = composite(
    "SqueezeExcite",
    "Squeeze-and-excitation: global pool -> FC(C/r) -> ReLU -> FC(C) -> sigmoid -> "
    "scale each channel of the input.",
    (Param("ratio", "int", 16, "r: reduction of the hidden FC layer (C/r units).", min=1),
     Param("channels", "int", 0, "C; 0 reads it from the input.", min=0),
     Param("use_bias", "bool", True, "Bias in the two FC layers.")),
    _expand,
    label=lambda p: f"SE/{p['ratio']}",
    uses_shapes=True)

SPECS = (SQUEEZE_EXCITE,)

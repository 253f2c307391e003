"""Spatial reshaping: ZeroPadding2D, Cropping2D, UpSampling2D, and Rescaling.

None has weights. Padding, cropping and up-sampling count no multiply-adds
(they copy; bilinear interpolation is not counted either); Rescaling counts one
multiply-add per element, ``x·scale + offset``.
"""

from __future__ import annotations

from fractions import Fraction

from builder.blocks.params import cropping, pair
from builder.blocks.rules import expect_rank, fmt_shape
from builder.blocks.spec import BlockSpec, LayerCall, Param, ShapeIssue, _output_elements


def _sides_label(value) -> str:
    (t, b), (left, right) = cropping(value)
    if t == b == left == right:
        return str(t)
    if (t, left) == (b, right):
        return f"{t}x{left}"
    return f"{t},{b},{left},{right}"


# -- ZeroPadding2D ------------------------------------------------------------

def _zero_padding_shape(p, ins, notes):
    x = expect_rank(ins[0], 4, "ZeroPadding2D")
    (t, b), (left, right) = cropping(p["padding"])
    h = None if x[1] is None else x[1] + t + b
    w = None if x[2] is None else x[2] + left + right
    return [(x[0], h, w, x[3])]


ZERO_PADDING2D = BlockSpec(
    kind="ZeroPadding2D",
    category="Reshape",
    doc="Adds rows and columns of zeros around each feature map (the P of "
        "(W - F + 2P)/S + 1).",
    params=(
        Param("padding", "cropping", 1,
              "P on every side, [Ph, Pw], or [[top, bottom], [left, right]].", min=0),
    ),
    shape=_zero_padding_shape,
    keras=lambda p: [LayerCall("ZeroPadding2D", {"padding": cropping(p["padding"])})],
    label=lambda p: f"pad {_sides_label(p['padding'])}",
)


# -- Cropping2D ---------------------------------------------------------------

def _cropping_shape(p, ins, notes):
    x = expect_rank(ins[0], 4, "Cropping2D")
    sides = cropping(p["cropping"])
    out = []
    for axis, size, (first, last), names in zip(
            ("height", "width"), x[1:3], sides, (("top", "bottom"), ("left", "right"))):
        if size is None:
            out.append(None)
            continue
        # Keras refuses a crop that leaves nothing (first + last ≥ size).
        if first + last >= size:
            raise ShapeIssue(
                f"Cropping2D must leave at least one row/column: {axis} "
                f"{size} - ({first} + {last}) = {size - first - last}. "
                f"Received: {axis} {size}, {names[0]} {first}, {names[1]} {last} "
                f"for {fmt_shape(x)}",
                fix=f"Crop fewer than {size} {axis} pixels in all.", field="cropping")
        out.append(size - first - last)
    return [(x[0], out[0], out[1], x[3])]


CROPPING2D = BlockSpec(
    kind="Cropping2D",
    category="Reshape",
    doc="Cuts rows and columns off the edges of each feature map (U-Net's skip "
        "connections).",
    params=(
        Param("cropping", "cropping", 1,
              "Pixels cut on every side, [h, w], or [[top, bottom], [left, right]].",
              min=0),
    ),
    shape=_cropping_shape,
    keras=lambda p: [LayerCall("Cropping2D", {"cropping": cropping(p["cropping"])})],
    label=lambda p: f"crop {_sides_label(p['cropping'])}",
)


# -- UpSampling2D -------------------------------------------------------------

def _upsampling_shape(p, ins, notes):
    x = expect_rank(ins[0], 4, "UpSampling2D")
    sh, sw = pair(p["size"])
    return [(x[0], None if x[1] is None else x[1] * sh,
             None if x[2] is None else x[2] * sw, x[3])]


def _upsampling_receptive(p):
    # Outputs are 1/size input pixels apart; a nearest output copies one input
    # pixel, a bilinear one blends two neighbours per axis.
    extent = 1 if p["interpolation"] == "nearest" else 2
    steps = tuple(1 if s == 1 else Fraction(1, s) for s in pair(p["size"]))
    return (extent, extent), steps


UPSAMPLING2D = BlockSpec(
    kind="UpSampling2D",
    category="Reshape",
    doc="Repeats (or interpolates) rows and columns: (H, W, C) → (H·s, W·s, C); "
        "no weights, unlike Conv2DTranspose.",
    params=(
        Param("size", "int_or_pair", 2, "Up-sampling factor s (or [sh, sw]).", min=1),
        Param("interpolation", "choice", "nearest",
              "'nearest' repeats pixels, 'bilinear' interpolates between them.",
              choices=("nearest", "bilinear")),
    ),
    shape=_upsampling_shape,
    receptive=_upsampling_receptive,
    keras=lambda p: [LayerCall("UpSampling2D", {"size": pair(p["size"]),
                                                "interpolation": p["interpolation"]})],
    label=lambda p: "upsample " + ("{0}x".format(*pair(p["size"]))
                                   if len(set(pair(p["size"]))) == 1
                                   else "{0}x{1}".format(*pair(p["size"]))),
)


# -- Rescaling ----------------------------------------------------------------

def _rescaling_label(p) -> str:
    scale, offset = p["scale"], p["offset"]
    text = f"rescale ×{scale:g}"
    if 0 < abs(scale) < 1 and abs(1 / scale - round(1 / scale)) < 1e-6:
        text = f"rescale 1/{round(1 / scale)}"  # reads better than ×0.00392
    return text + (f" {offset:+g}" if offset else "")


RESCALING = BlockSpec(
    kind="Rescaling",
    category="Reshape",
    doc="x·scale + offset for every element, e.g. pixels 0..255 → 0..1 with scale 1/255.",
    params=(
        Param("scale", "float", 1 / 255, "Multiplier of every element."),
        Param("offset", "float", 0.0, "Added after scaling (-1 with scale 1/127.5 gives "
                                     "-1..1)."),
    ),
    shape=lambda p, ins, notes: [ins[0]],
    flops=_output_elements,
    keras=lambda p: [LayerCall("Rescaling", {"scale": p["scale"], "offset": p["offset"]})],
    label=_rescaling_label,
)

SPECS = (ZERO_PADDING2D, CROPPING2D, UPSAMPLING2D, RESCALING)

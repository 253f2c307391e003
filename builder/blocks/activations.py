"""Activation layers: ReLU (the lecture's RELU), Activation, LeakyReLU, Softmax.

They keep the shape and have no weights. By the catalogue's convention they
count no multiply-adds: a max, a compare or an exponential is not a MAC.
"""

from __future__ import annotations

from builder.blocks.rules import ACTIVATIONS, fmt_shape
from builder.blocks.spec import BlockSpec, LayerCall, Param, ShapeIssue


def same_shape(p, ins, notes):
    """Shape rule of a layer that maps each element on its own (any rank)."""
    return [ins[0]]


RELU = BlockSpec(
    kind="ReLU",
    category="Activation",
    doc="max(0, x), element by element; the lecture's RELU layer.",
    params=(
        Param("max_value", "float", None,
              "Cap on the output (6 gives MobileNet's ReLU6); unset means no cap.",
              min=0.0, optional=True),
    ),
    shape=same_shape,
    keras=lambda p: [LayerCall("ReLU", {"max_value": p["max_value"]})],
    label=lambda p: "ReLU" if p["max_value"] is None else f"ReLU{p['max_value']:g}",
)

ACTIVATION = BlockSpec(
    kind="Activation",
    category="Activation",
    doc="Applies a named activation function element by element.",
    params=(
        Param("activation", "choice", "relu", "The function to apply.",
              choices=ACTIVATIONS),
    ),
    shape=same_shape,
    keras=lambda p: [LayerCall("Activation", {"activation": p["activation"]})],
    label=lambda p: p["activation"],
)

LEAKY_RELU = BlockSpec(
    kind="LeakyReLU",
    category="Activation",
    doc="x for x > 0, slope·x otherwise: keeps a small gradient for negative inputs.",
    params=(
        Param("negative_slope", "float", 0.3, "Slope for negative inputs.", min=0.0),
    ),
    shape=same_shape,
    keras=lambda p: [LayerCall("LeakyReLU", {"negative_slope": p["negative_slope"]})],
    label=lambda p: f"leaky ReLU {p['negative_slope']:g}",
)


def check_axis(x, axis, kind, field="axis"):
    """Normalises a per-tensor ``axis`` (batch included) and refuses the batch axis.

    Returns:
        The axis as a non-negative index into ``x``.
    """
    rank = len(x)
    if not -rank <= axis < rank or axis % rank == 0:
        raise ShapeIssue(
            f"{kind} needs an axis of the sample, 1 to {rank - 1} or -{rank - 1} to -1 "
            f"(0 is the batch). Received: axis={axis} for {fmt_shape(x)}",
            fix="Use axis=-1 (channels).", field=field)
    return axis % rank


def _softmax_shape(p, ins, notes):
    check_axis(ins[0], p["axis"], "Softmax")
    return [ins[0]]


SOFTMAX = BlockSpec(
    kind="Softmax",
    category="Activation",
    doc="Turns scores into probabilities that sum to 1 along an axis (the classifier's "
        "last layer).",
    params=(
        Param("axis", "int", -1, "Axis to normalise over; -1 is the last (classes)."),
    ),
    shape=_softmax_shape,
    keras=lambda p: [LayerCall("Softmax", {"axis": p["axis"]})],
    label=lambda p: "softmax",
)

SPECS = (RELU, ACTIVATION, LEAKY_RELU, SOFTMAX)

"""Fully connected layers: Dense (the lecture's FC), and Flatten and Reshape,
which turn a volume into the vector an FC layer takes (or back)."""

from __future__ import annotations

import math

from builder.blocks.rules import ACTIVATIONS, fmt_shape, keras_activation, known_channels
from builder.blocks.spec import BlockSpec, LayerCall, Param, ShapeIssue, WeightSpec
from builder.blocks.shape_math import prod


def _dense_shape(p, ins, notes):
    x = ins[0]
    if len(x) < 2:
        raise ShapeIssue(f"Dense expects at least a vector per sample. Received: {fmt_shape(x)}")
    known_channels(x, "Dense")
    if len(x) > 2:
        notes.warn(
            f"Dense on {fmt_shape(x)} acts on the last axis only, giving "
            f"{fmt_shape(x[:-1] + (p['units'],))}; an FC layer in the lecture's sense sees "
            f"the whole volume.",
            fix="Insert Flatten (or GlobalAvgPool2D) before it.")
    return [x[:-1] + (p["units"],)]


def _dense_weights(p, ins, outs):
    weights = [WeightSpec("kernel", (ins[0][-1], p["units"]))]
    if p["use_bias"]:
        weights.append(WeightSpec("bias", (p["units"],)))
    return weights


def _dense_flops(p, ins, outs):
    positions = prod(ins[0][1:-1])
    return 0 if positions is None else positions * ins[0][-1] * p["units"]


DENSE = BlockSpec(
    kind="Dense",
    category="Dense",
    doc="Fully connected (FC): every output is a weighted sum of every input feature.",
    params=(
        Param("units", "int", 128, "Number of output neurons.", min=1),
        Param("use_bias", "bool", True, "Add a learned bias per neuron."),
        Param("activation", "choice", "linear", "Activation applied to the output.",
              choices=ACTIVATIONS),
    ),
    shape=_dense_shape,
    weights=_dense_weights,
    flops=_dense_flops,
    keras=lambda p: [LayerCall("Dense", {
        "units": p["units"],
        "use_bias": p["use_bias"],
        "activation": keras_activation(p["activation"]),
    })],
    label=lambda p: f"FC-{p['units']}",
)


# -- Flatten ------------------------------------------------------------------

def _flatten_shape(p, ins, notes):
    # Keras accepts any rank: (batch,) becomes (batch, 1), unknown sizes give None.
    x = ins[0]
    rest = x[1:]
    return [(x[0], 1 if not rest else prod(rest))]


FLATTEN = BlockSpec(
    kind="Flatten",
    category="Dense",
    doc="Unrolls an (H, W, C) volume into an H·W·C vector for the FC layers.",
    params=(),
    shape=_flatten_shape,
    # A view of its input: no new tensor is stored (the lecture's table has no row).
    activations=lambda p, ins, outs: 0,
    receptive=lambda p: "global",
    keras=lambda p: [LayerCall("Flatten", {})],
    label=lambda p: "flatten",
)


# -- Reshape ------------------------------------------------------------------

def _product_text(dims) -> str:
    """``[4, 4, 3]`` → ``"4·4·3 = 48"``; a single size stays as it is."""
    dims = list(dims)
    if len(dims) == 1:
        return str(dims[0])
    return f"{'·'.join(str(d) for d in dims) or '1'} = {math.prod(dims)}"


def _reshape_shape(p, ins, notes):
    x, target = ins[0], list(p["target_shape"])
    if not target or not all(isinstance(d, int) and (d >= 1 or d == -1) for d in target):
        raise ShapeIssue(
            "Reshape needs target sizes ≥ 1, with at most one -1 for a size to infer. "
            f"Received: target_shape={target}", field="target_shape")
    if target.count(-1) > 1:
        raise ShapeIssue(
            "Reshape can infer only one size: at most one -1 in target_shape. "
            f"Received: target_shape={target}",
            fix="Give every size but one explicitly.", field="target_shape")
    size = prod(x[1:])
    if size is None:
        # Like Keras: with an unknown input size the -1 stays unknown.
        return [(x[0], *(None if d == -1 else d for d in target))]
    known = [d for d in target if d != -1]
    have = _product_text(x[1:])
    if -1 not in target:
        if math.prod(target) != size:
            raise ShapeIssue(
                f"Reshape must keep the number of elements: the input has {have} elements, "
                f"the target {_product_text(target)}. "
                f"Received: input {fmt_shape(x)}, target_shape={target}",
                fix="Make the sizes multiply to the input's, or use -1 for one of them.",
                field="target_shape")
        return [(x[0], *target)]
    if size % math.prod(known):
        raise ShapeIssue(
            f"Reshape cannot infer the -1: the input has {have} elements, which "
            f"{_product_text(known)} does not divide. "
            f"Received: input {fmt_shape(x)}, target_shape={target}",
            fix="Choose sizes whose product divides the input's element count.",
            field="target_shape")
    inferred = size // math.prod(known)
    return [(x[0], *(inferred if d == -1 else d for d in target))]


RESHAPE = BlockSpec(
    kind="Reshape",
    category="Dense",
    doc="Rearranges the per-sample elements into a new shape with the same count; "
        "one size may be -1 (inferred).",
    params=(
        Param("target_shape", "int_list", [-1],
              "Per-sample sizes, such as [7, 7, 512]; one may be -1 to infer it."),
    ),
    shape=_reshape_shape,
    activations=lambda p, ins, outs: 0,  # a view of its input, like Flatten
    receptive=lambda p: "global",
    keras=lambda p: [LayerCall("Reshape", {"target_shape": tuple(p["target_shape"])})],
    label=lambda p: "reshape " + "x".join(str(d) for d in p["target_shape"]),
)

SPECS = (DENSE, FLATTEN, RESHAPE)

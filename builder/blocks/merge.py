"""Merges: Add (residual shortcuts), Multiply (SE gating) and Concatenate (inception).

Add and Multiply broadcast exactly as Keras' ``Merge`` layers do
(``base_merge._compute_elemwise_op_output_shape``): per-sample shapes are aligned
from the right and each pair of sizes must be equal or contain a 1. A mismatch
says which sizes differ and how a projection would repair it.

Add counts no multiply-adds (additions only); Multiply counts ``n - 1``
multiplications per output element for ``n`` inputs; Concatenate only copies.
"""

from __future__ import annotations

from builder.blocks.activations import check_axis
from builder.blocks.rules import fmt_shape
from builder.blocks.spec import (
    MANY_IN,
    BlockSpec,
    LayerCall,
    Param,
    ShapeIssue,
    _output_elements,
)


def _expect_many(ins, kind):
    if len(ins) < 2:
        raise ShapeIssue(
            f"{kind} merges two or more tensors. Received: {len(ins)} input"
            f"{'s' if len(ins) != 1 else ''}",
            fix=f"Connect a second branch to the {kind}.")


def dim_name(rank: int, axis: int) -> str:
    """``"height"``, ``"width"``, ``"channels"`` for images, else ``"axis k"``."""
    names = {4: ("height", "width", "channels"), 2: ("features",)}.get(rank)
    return names[axis - 1] if names and 1 <= axis < rank else f"axis {axis}"


def _shapes_text(shapes) -> str:
    texts = [fmt_shape(s) for s in shapes]
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " and " + texts[-1]


class _Mismatch(Exception):
    def __init__(self, axis: int, a: int, b: int):
        super().__init__(axis, a, b)
        self.axis, self.a, self.b = axis, a, b


def broadcast_shapes(a: tuple, b: tuple) -> tuple:
    """Keras' element-wise output shape of two per-sample shapes (batch excluded).

    Mirrors ``Merge._compute_elemwise_op_output_shape``, quirks included: an
    unknown size on either side gives an unknown size, even against a known one.

    Raises:
        _Mismatch: with the axis counted from the end (``-1`` is the last) and the
            sizes of ``a`` and ``b`` there.
    """
    if len(a) < len(b):
        try:
            return broadcast_shapes(b, a)
        except _Mismatch as m:
            raise _Mismatch(m.axis, m.b, m.a) from None
    if not b:
        return a
    out = list(a[: len(a) - len(b)])
    for k, (i, j) in enumerate(zip(a[len(a) - len(b):], b), start=-len(b)):
        if i is None or j is None:
            out.append(None)
        elif i == 1:
            out.append(j)
        elif j == 1 or i == j:
            out.append(i)
        else:
            raise _Mismatch(k, i, j)
    return tuple(out)


def _projection_fix(a: tuple, b: tuple) -> str | None:
    """How to make per-sample image shapes ``a`` and ``b`` addable, if obvious."""
    if len(a) != 3 or len(b) != 3 or None in a or None in b:
        return None
    (ha, wa, ca), (hb, wb, cb) = a, b
    if (ha, wa) == (hb, wb):
        narrow, wide = (a, b) if ca < cb else (b, a)
        return (f"Add a 1×1 Conv2D projection (filters={wide[2]}) on the "
                f"{fmt_shape((None, *narrow))} branch, so both have {wide[2]} channels "
                f"(ResNet's projection shortcut).")
    for big, small in ((a, b), (b, a)):
        if big[0] == 2 * small[0] and big[1] == 2 * small[1]:
            return (f"Add a 1×1 Conv2D projection with strides=2 (filters={small[2]}) on "
                    f"the {fmt_shape((None, *big))} branch, so it becomes "
                    f"{fmt_shape((None, *small))} (ResNet's down-sampling shortcut).")
    return None


def _elementwise_shape(kind):
    def rule(p, ins, notes):
        _expect_many(ins, kind)
        out = ins[0][1:]
        for i, x in enumerate(ins[1:], start=1):
            try:
                out = broadcast_shapes(out, x[1:])
            except _Mismatch as m:
                rank = max(len(out), len(x) - 1) + 1
                where = dim_name(rank, rank + m.axis)
                raise ShapeIssue(
                    f"{kind} needs inputs of the same shape, or shapes that broadcast "
                    f"(each size equal, or 1). Received: {_shapes_text(ins[: i + 1])} "
                    f"({where}: {m.a} vs {m.b})",
                    fix=_projection_fix(out, x[1:])
                    or "Make the shapes equal (pool, crop, pad or project a branch) first.",
                ) from None
        batches = {x[0] for x in ins} - {None}
        return [(batches.pop() if len(batches) == 1 else None, *out)]
    return rule


ADD = BlockSpec(
    kind="Add",
    category="Merge",
    doc="Element-wise sum of two or more tensors of one shape: the residual shortcut "
        "y = F(x) + x.",
    params=(),
    inputs=MANY_IN,
    shape=_elementwise_shape("Add"),
    keras=lambda p: [LayerCall("Add", {})],
    label=lambda p: "add",
)

MULTIPLY = BlockSpec(
    kind="Multiply",
    category="Merge",
    doc="Element-wise product; with a (1, 1, C) gate it rescales channels "
        "(squeeze-and-excitation).",
    params=(),
    inputs=MANY_IN,
    shape=_elementwise_shape("Multiply"),
    flops=lambda p, ins, outs: (len(ins) - 1) * _output_elements(p, ins, outs),
    keras=lambda p: [LayerCall("Multiply", {})],
    label=lambda p: "multiply",
)


# -- Concatenate --------------------------------------------------------------

def _concat_fix(shapes, axis: int) -> str:
    a, b = shapes
    if len(a) == 4 and None not in a[1:3] and None not in b[1:3]:
        for big, small in ((a, b), (b, a)):
            if big[1] == 2 * small[1] and big[2] == 2 * small[2]:
                return (f"Down-sample the {fmt_shape(big)} branch by 2 (pooling or a "
                        f"stride-2 layer) so both are {small[1]}×{small[2]}.")
    return (f"Make every size but {dim_name(len(a), axis)} equal: crop, pad or resize a "
            f"branch, or use padding='same' upstream.")


def _concat_shape(p, ins, notes):
    _expect_many(ins, "Concatenate")
    rank = len(ins[0])
    if any(len(x) != rank for x in ins):
        raise ShapeIssue(
            f"Concatenate needs inputs of one rank. Received: {_shapes_text(ins)}",
            fix="Flatten or reshape the inputs to one rank first.")
    axis = check_axis(ins[0], p["axis"], "Concatenate")
    # Keras compares every other axis, ignoring unknown sizes.
    for d in range(1, rank):
        sizes = [x[d] for x in ins if x[d] is not None]
        if d == axis or len(set(sizes)) <= 1:
            continue
        first = next(x for x in ins if x[d] is not None)
        other = next(x for x in ins if x[d] is not None and x[d] != first[d])
        raise ShapeIssue(
            f"Concatenate joins along {dim_name(rank, axis)}, so every other size must "
            f"match. Received: {_shapes_text(ins)} ({dim_name(rank, d)}: "
            f"{first[d]} vs {other[d]})",
            fix=_concat_fix((first, other), axis))
    # Like Keras, the other sizes come from the first input.
    out = list(ins[0])
    for x in ins[1:]:
        if out[axis] is None or x[axis] is None:
            out[axis] = None
            break
        out[axis] += x[axis]
    return [tuple(out)]


CONCATENATE = BlockSpec(
    kind="Concatenate",
    category="Merge",
    doc="Stacks tensors along an axis (channels by default), as an inception module "
        "joins its branches; every other size must match.",
    params=(
        Param("axis", "int", -1, "Axis to join along; -1 is channels."),
    ),
    inputs=MANY_IN,
    shape=_concat_shape,
    keras=lambda p: [LayerCall("Concatenate", {"axis": p["axis"]})],
    label=lambda p: "concat",
)

SPECS = (ADD, MULTIPLY, CONCATENATE)

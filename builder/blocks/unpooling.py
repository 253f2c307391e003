"""Max pooling that remembers where each maximum was, and max unpooling.

DeconvNet and SegNet up-sample by putting each value back where the encoder's
max pooling found its maximum (the lecture's "Remember which element was
max!"). The pooling node has two output ports: ``out`` (the pooled values, as
MaxPool2D) and ``indices`` (where each maximum was); the unpooling node has two
input ports, ``in`` (the values to place) and ``indices`` (from the pooling
node), so the graph wires the encoder's positions to the decoder explicitly.

An index is the maximum's position inside its own F×F window, row-major
(``row * F_w + col``, ``0 .. F_h·F_w - 1``), not a position in the whole image:
the unpooling then needs only the window size and stride, works on any batch,
and compiles to strided views and reshapes on every Keras backend. The window
of pooled cell ``(r, c)`` starts at ``(r·S_h, c·S_w)``; S = F by default (SegNet's
non-overlapping windows), S < F overlaps them (where two windows chose the same
pixel, unpooling adds their values, as max pooling's gradient does). Pooling is
"valid": ``floor((W - F)/S) + 1``, rows and columns no window reaches are dropped,
as MaxPool2D does. Unpooling gives back ``(W2 - 1)·S + F`` unless its
``output_size`` says otherwise, e.g. the 5 of a 5×5 → 2×2 → 5×5 round trip.
"""

from __future__ import annotations

from fractions import Fraction

from builder.blocks.conv import kernel_label, stride_label
from builder.blocks.params import pair
from builder.blocks.rules import expect_rank, fmt_shape, known_channels
from builder.blocks.spec import BlockSpec, LayerCall, Param, ShapeIssue
from builder.core.graph import PortSpec

_POOL_SIZE = Param("pool_size", "int_or_pair", 2, "F: window height and width.", min=1)
_STRIDES = Param("strides", "int_or_pair", None,
                 "S: step between windows; unset means S = F (non-overlapping). The "
                 "unpooling must use the pooling's F and S.", min=1, optional=True)
_OUTPUT_SIZE = Param("output_size", "int_or_pair", None,
                     "Height and width to unpool to, e.g. the pooled tensor's own size "
                     "when it was not a multiple of S; unset: (W - 1)·S + F.",
                     min=1, optional=True)


def _strides(p) -> tuple[int, int]:
    return pair(p["pool_size"] if p.get("strides") is None else p["strides"])


def _argmax_pool_shape(p, ins, notes):
    x = expect_rank(ins[0], 4, "MaxPoolWithArgmax2D")
    known_channels(x, "MaxPoolWithArgmax2D")
    sizes, steps = pair(p["pool_size"]), _strides(p)
    out = []
    for size, k, s, axis in zip(x[1:3], sizes, steps, ("height", "width")):
        if size is None:
            out.append(None)
            continue
        if size < k:
            raise ShapeIssue(f"MaxPoolWithArgmax2D needs a {axis} of at least the pool "
                              f"size {k}. Received: input shape {fmt_shape(x)}",
                              fix="Use a smaller pool_size.", field="pool_size")
        rows = (size - k) // s + 1
        back = (rows - 1) * s + k
        if back != size:
            notes.warn(f"MaxPoolWithArgmax2D drops the last {size - back} row(s)/"
                       f"column(s): {axis} {size} gives floor(({size} - {k})/{s}) + 1 = "
                       f"{rows}, and unpooling gives back {back}, not {size}, unless its "
                       f"output_size says {size}.",
                       fix=f"Set output_size of the matching MaxUnpool2D to the "
                           f"{axis} {size}.", field="pool_size")
        out.append(rows)
    shape = (x[0], out[0], out[1], x[3])
    return [shape, shape]


def _unpool_shape(p, ins, notes):
    if len(ins) != 2:
        raise ShapeIssue("MaxUnpool2D expects 2 inputs: the values and the indices of a "
                          f"MaxPoolWithArgmax2D. Received: {len(ins)} input(s)",
                          fix="Connect the pooling node's 'indices' port to 'indices'.")
    x = expect_rank(ins[0], 4, "MaxUnpool2D")
    known_channels(x, "MaxUnpool2D")
    idx = expect_rank(ins[1], 4, "MaxUnpool2D",
                      "indices shaped like an image tensor (height, width, channels)")
    if any(a is not None and b is not None and a != b for a, b in zip(x[1:], idx[1:])):
        raise ShapeIssue(f"MaxUnpool2D needs values and indices of one shape. Received: "
                          f"values {fmt_shape(x)} and indices {fmt_shape(idx)}",
                          fix="Feed it the indices of the pooling whose output has "
                              "this shape (the mirror layer of the encoder).")
    given = None if p.get("output_size") is None else pair(p["output_size"])
    out = []
    for axis in (0, 1):
        rows = x[1 + axis] if x[1 + axis] is not None else idx[1 + axis]
        k, s = pair(p["pool_size"])[axis], _strides(p)[axis]
        if given is None:
            out.append(None if rows is None else (rows - 1) * s + k)
            continue
        size = given[axis]
        if rows is not None and (size - k) // s + 1 != rows:
            name = ("height", "width")[axis]
            raise ShapeIssue(
                f"MaxUnpool2D cannot unpool {rows} to the {name} {size}: pooling "
                f"{size} with F={k}, S={s} gives floor(({size} - {k})/{s}) + 1 = "
                f"{(size - k) // s + 1}. Received: values {fmt_shape(x)}, "
                f"output_size {list(given)}",
                fix=f"Set output_size to the {name} of the tensor that was pooled, "
                    f"between {(rows - 1) * s + k} and {rows * s + k - 1}.",
                field="output_size")
        out.append(size)
    return [(x[0], out[0], out[1], x[3])]


def _unpool_receptive(p):
    # Each output copies at most one input value: extent 1, outputs 1/S apart.
    return (1, 1), tuple(1 if s == 1 else Fraction(1, s) for s in _strides(p))


def _pool_label(p) -> str:
    size, steps = pair(p["pool_size"]), _strides(p)
    extra = "" if size == (2, 2) else kernel_label(p["pool_size"])
    return extra + ("" if steps == size else stride_label(list(steps)))


def _kwargs(p, *names) -> dict:
    # Strides resolved, so an imported layer (whose config spells them out)
    # compiles to the same call as the node that left them unset.
    kwargs = {"pool_size": pair(p["pool_size"]), "strides": _strides(p)}
    if "output_size" in names:
        kwargs["output_size"] = None if p.get("output_size") is None \
            else pair(p["output_size"])
    return kwargs


MAX_POOL_WITH_ARGMAX2D = BlockSpec(
    kind="MaxPoolWithArgmax2D",
    category="Pooling",
    doc="Max pooling that also outputs where each maximum was, for MaxUnpool2D: "
        "(H, W, C) → values and indices (floor((H - F)/S) + 1, ..., C); S = F by default.",
    params=(_POOL_SIZE, _STRIDES),
    shape=_argmax_pool_shape,
    outputs=(PortSpec("out", doc="the pooled values"),
             PortSpec("indices", doc="position of each maximum in its window")),
    receptive=lambda p: (pair(p["pool_size"]), _strides(p)),
    keras=lambda p: [LayerCall("MaxPoolingWithArgmax2D",
                               _kwargs(p, "pool_size", "strides"))],
    label=lambda p: "maxpool+idx" + _pool_label(p),
)

MAX_UNPOOL2D = BlockSpec(
    kind="MaxUnpool2D",
    category="Pooling",
    doc="Puts each value back where its MaxPoolWithArgmax2D found the maximum, zeros "
        "elsewhere: (H, W, C) → ((H - 1)·S + F, ..., C), or output_size. No weights.",
    params=(_POOL_SIZE, _STRIDES, _OUTPUT_SIZE),
    shape=_unpool_shape,
    inputs=(PortSpec("in", doc="the values to place"),
            PortSpec("indices", doc="the 'indices' output of a MaxPoolWithArgmax2D")),
    receptive=_unpool_receptive,
    keras=lambda p: [LayerCall("MaxUnpooling2D",
                               _kwargs(p, "pool_size", "strides", "output_size"))],
    label=lambda p: "unpool" + _pool_label(p),
)

SPECS = (MAX_POOL_WITH_ARGMAX2D, MAX_UNPOOL2D)

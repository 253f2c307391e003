"""Max pooling that remembers where each maximum was, and max unpooling.

DeconvNet and SegNet up-sample by putting each value back where the encoder's
max pooling found its maximum (the lecture's "Remember which element was
max!"). The pooling node has two output ports: ``out`` (the pooled values, as
MaxPool2D) and ``indices`` (where each maximum was); the unpooling node has two
input ports, ``in`` (the values to place) and ``indices`` (from the pooling
node), so the graph wires the encoder's positions to the decoder explicitly.

An index is the maximum's position inside its own F×F window, row-major
(``row * F_w + col``, ``0 .. F_h·F_w - 1``), not a position in the whole image:
the unpooling then needs only the window size, works on any input size and any
batch, and compiles to reshapes on every Keras backend. Windows do not overlap
(stride = pool size), as in SegNet; rows and columns that do not fill a whole
window are dropped, as MaxPool2D's ``padding="valid"`` does.
"""

from __future__ import annotations

from fractions import Fraction

from builder.blocks.conv import kernel_label
from builder.blocks.params import pair
from builder.blocks.rules import expect_rank, fmt_shape, known_channels
from builder.blocks.spec import BlockSpec, LayerCall, Param, ShapeIssue
from builder.core.graph import PortSpec

_POOL_SIZE = Param("pool_size", "int_or_pair", 2,
                   "F: window height and width; the stride equals F (windows do not overlap).",
                   min=1)


def _argmax_pool_shape(p, ins, notes):
    x = expect_rank(ins[0], 4, "MaxPoolWithArgmax2D")
    known_channels(x, "MaxPoolWithArgmax2D")
    (kh, kw) = pair(p["pool_size"])
    out = []
    for size, k, axis in ((x[1], kh, "height"), (x[2], kw, "width")):
        if size is None:
            out.append(None)
            continue
        if size < k:
            raise ShapeIssue(f"MaxPoolWithArgmax2D needs a {axis} of at least the pool "
                              f"size {k}. Received: input shape {fmt_shape(x)}",
                              fix="Use a smaller pool_size.", field="pool_size")
        if size % k:
            notes.warn(f"MaxPoolWithArgmax2D drops the last {size % k} row(s)/column(s): "
                       f"{axis} {size} is not a multiple of the pool size {k} "
                       f"(floor({size}/{k}) = {size // k}), and unpooling gives back "
                       f"{size // k * k}, not {size}.",
                       fix=f"Make the {axis} a multiple of {k}.", field="pool_size")
        out.append(size // k)
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
    kh, kw = pair(p["pool_size"])
    h = x[1] if x[1] is not None else idx[1]
    w = x[2] if x[2] is not None else idx[2]
    return [(x[0], None if h is None else h * kh, None if w is None else w * kw, x[3])]


def _unpool_receptive(p):
    # Each output copies at most one input value: extent 1, outputs 1/F apart.
    return (1, 1), tuple(1 if s == 1 else Fraction(1, s) for s in pair(p["pool_size"]))


MAX_POOL_WITH_ARGMAX2D = BlockSpec(
    kind="MaxPoolWithArgmax2D",
    category="Pooling",
    doc="Max pooling (stride = F) that also outputs where each maximum was, for "
        "MaxUnpool2D: (H, W, C) → values (H/F, W/F, C) and indices (H/F, W/F, C).",
    params=(_POOL_SIZE,),
    shape=_argmax_pool_shape,
    outputs=(PortSpec("out", doc="the pooled values"),
             PortSpec("indices", doc="position of each maximum in its window")),
    receptive=lambda p: (pair(p["pool_size"]), pair(p["pool_size"])),
    keras=lambda p: [LayerCall("MaxPoolingWithArgmax2D",
                               {"pool_size": pair(p["pool_size"])})],
    label=lambda p: "maxpool+idx" + ("" if pair(p["pool_size"]) == (2, 2)
                                     else kernel_label(p["pool_size"])),
)

MAX_UNPOOL2D = BlockSpec(
    kind="MaxUnpool2D",
    category="Pooling",
    doc="Puts each value back where its MaxPoolWithArgmax2D found the maximum, zeros "
        "elsewhere: (H, W, C) → (H·F, W·F, C). No weights.",
    params=(_POOL_SIZE,),
    shape=_unpool_shape,
    inputs=(PortSpec("in", doc="the values to place"),
            PortSpec("indices", doc="the 'indices' output of a MaxPoolWithArgmax2D")),
    receptive=_unpool_receptive,
    keras=lambda p: [LayerCall("MaxUnpooling2D", {"pool_size": pair(p["pool_size"])})],
    label=lambda p: "unpool" + ("" if pair(p["pool_size"]) == (2, 2)
                                else kernel_label(p["pool_size"])),
)

SPECS = (MAX_POOL_WITH_ARGMAX2D, MAX_UNPOOL2D)

"""A stage: one block kind repeated N times, and the lecture's pattern generator.

A stage's blocks are ``block1`` ... ``blockN`` (so stage ``conv2`` of
ResidualBottleneck blocks compiles to ``conv2_block1_1_conv``, as
``keras.applications`` names it). Every block gets ``params``; the first block
also gets ``first`` (where ResNet v1 strides and projects) and the last also
``last`` (where ResNet v2 strides).
"""

from __future__ import annotations

from builder.blocks.composites.base import Sub, composite
from builder.blocks.spec import Param, ShapeIssue

#: Kinds a stage may repeat: one input, one output, shape-preserving or not.
STAGE_BLOCKS = ("ResidualBasic", "ResidualBottleneck", "ResNeXtBottleneck", "PreactBasic",
                "PreactBottleneck", "WideResidual", "DenseLayer", "SqueezeExcite",
                "InceptionV1", "Fire", "FractalBlock", "ConvBN")


def _block_params(p, i: int) -> dict:
    params = dict(p["params"])
    if i == 1:
        params.update(p["first"])
    if i == p["blocks"]:
        params.update(p["last"])
    return params


def _stage(p, ins):
    from builder.blocks import CATALOG

    spec = CATALOG.get(p["block"])
    known = {q.name for q in spec.params}
    for field in ("params", "first", "last"):
        unknown = sorted(set(p[field]) - known)
        if unknown:
            raise ShapeIssue(
                f"Stage '{field}' may only set parameters of {p['block']} "
                f"({', '.join(sorted(known))}). Received: {', '.join(unknown)}",
                field=field)
    s = Sub()
    x = "@in"
    for i in range(1, p["blocks"] + 1):
        x = s.add(f"{p['prefix']}{i}", p["block"], x, **_block_params(p, i))
    return s.done(x)


STAGE = composite(
    "Stage",
    "One block kind repeated N times (a ResNet stage, a dense block); the first "
    "block may stride and project, the last may stride (ResNet v2).",
    (Param("block", "choice", "ResidualBottleneck", "The block kind to repeat.",
           choices=STAGE_BLOCKS),
     Param("blocks", "int", 3, "N: number of blocks.", min=1),
     Param("params", "params", {}, "Params of every block, e.g. {\"filters\": 64}."),
     Param("first", "params", {}, "Params of the first block only, e.g. "
           "{\"strides\": 2, \"shortcut\": \"projection\"}."),
     Param("last", "params", {}, "Params of the last block only."),
     Param("prefix", "str", "block", "Blocks are named prefix1 ... prefixN.")),
    _stage,
    label=lambda p: f"{p['blocks']}× {p['block']}")


def _pattern(p, ins):
    s = Sub()
    x = "@in"
    filters = p["filters"]
    for m in range(1, p["m"] + 1):
        for n in range(1, p["n"] + 1):
            x = s.add(f"conv{m}_{n}", "Conv2D", x, filters=filters,
                      kernel_size=p["kernel_size"], padding="same")
            x = s.add(f"relu{m}_{n}", "ReLU", x)
        if p["pool"]:
            x = s.add(f"pool{m}", "MaxPool2D", x, pool_size=2, strides=2)
        if p["double"]:
            filters *= 2
    if p["k"] or p["flatten"]:
        x = s.add("flatten", "Flatten", x)
    for k in range(1, p["k"] + 1):
        x = s.add(f"fc{k}", "Dense", x, units=p["units"])
        x = s.add(f"relu_fc{k}", "ReLU", x)
    return s.done(s.add("fc_out", "Dense", x, units=p["classes"], activation="softmax"))


CONV_PATTERN = composite(
    "ConvPattern",
    "The lecture's pattern: INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K "
    "-> FC (this block is everything after INPUT).",
    (Param("n", "int", 2, "N: CONV -> RELU pairs per group.", min=1),
     Param("m", "int", 3, "M: groups, each ending in an optional 2×2/2 max pool.", min=1),
     Param("k", "int", 2, "K: hidden FC -> RELU layers.", min=0),
     Param("pool", "bool", True, "End each group with a 2×2 stride-2 max pool."),
     Param("filters", "int", 32, "Filters of the first group's convolutions.", min=1),
     Param("double", "bool", True, "Double the filters after each group (as VGG)."),
     Param("kernel_size", "int", 3, "F of every convolution (padding 'same').", min=1),
     Param("units", "int", 128, "Units of each hidden FC layer.", min=1),
     Param("classes", "int", 10, "Units of the last FC layer (softmax).", min=1),
     Param("flatten", "bool", True, "Flatten before the FC layers.")),
    _pattern,
    label=lambda p: f"[[conv-relu]×{p['n']}-pool]×{p['m']}-[fc-relu]×{p['k']}-fc")

SPECS = (STAGE, CONV_PATTERN)

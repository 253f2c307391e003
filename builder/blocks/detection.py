"""Detection layer kinds: SSD's L2-normalised feature map.

``L2Normalization`` keeps the shape and has one gain per channel (torchvision's
SSD300 ``L2Norm`` counts 512 of them on conv4_3). Multiply-adds per output
element: 2 for the sum of squares (its share of it) and 1 for the scaling; the
square root and division are not counted, as for LRN.
"""

from __future__ import annotations

from builder.blocks.rules import expect_rank, known_channels
from builder.blocks.spec import BlockSpec, LayerCall, Param, WeightSpec, _output_elements


def _l2_shape(p, ins, notes):
    x = expect_rank(ins[0], 4, "L2Normalization")
    known_channels(x, "L2Normalization")
    return [x]


L2_NORMALIZATION = BlockSpec(
    kind="L2Normalization",
    category="Normalization",
    doc="SSD's conv4_3 normalisation: each position's channel vector scaled to unit "
        "L2 norm, then multiplied by a learned per-channel gain (initially 20).",
    params=(
        Param("scale", "float", 20.0, "Initial value of every per-channel gain.", min=0.0),
        Param("epsilon", "float", 1e-12, "Smallest norm divided by.", min=0.0),
    ),
    shape=_l2_shape,
    weights=lambda p, ins, outs: [WeightSpec("gamma", (ins[0][-1],))],
    flops=lambda p, ins, outs: 3 * _output_elements(p, ins, outs),
    # A custom layer of builder.compile.detection_layers, written with keras.ops.
    keras=lambda p: [LayerCall("L2Normalization", {"scale": p["scale"],
                                                   "epsilon": p["epsilon"]})],
    label=lambda p: "L2 norm",
)

SPECS = (L2_NORMALIZATION,)

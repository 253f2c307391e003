"""Residual-branch layers of ConvNeXt: LayerScale and StochasticDepth.

``LayerScale`` multiplies each channel by a learned γ (initialised small, so a
new residual branch starts close to the identity): one weight per channel, one
multiply per element. ``StochasticDepth`` drops a sample's whole branch while
training (scaling the kept ones by 1/(1 - rate)) and is the identity at
inference: no weights, no multiply-adds.

Both compile to custom layers of :mod:`builder.compile.custom_layers`; imported
``keras.applications`` ConvNeXt layers of the same names map onto them.
"""

from __future__ import annotations

from builder.blocks.rules import fmt_shape, known_channels
from builder.blocks.spec import (
    BlockSpec,
    LayerCall,
    Param,
    ShapeIssue,
    WeightSpec,
    _output_elements,
)


def _layer_scale_shape(p, ins, notes):
    x = ins[0]
    if len(x) < 2:
        raise ShapeIssue(f"LayerScale expects at least a vector per sample. "
                         f"Received: {fmt_shape(x)}")
    known_channels(x, "LayerScale")
    return [x]


LAYER_SCALE = BlockSpec(
    kind="LayerScale",
    category="Normalization",
    doc="Multiplies each channel by a learned γ that starts small (ConvNeXt, CaiT), "
        "so a residual branch begins close to the identity.",
    params=(
        Param("init_values", "float", 1e-6, "Initial value of every γ.", min=0.0),
    ),
    shape=_layer_scale_shape,
    weights=lambda p, ins, outs: [WeightSpec("gamma", (ins[0][-1],))],
    flops=_output_elements,
    keras=lambda p: [LayerCall("LayerScale", {"init_values": p["init_values"]})],
    label=lambda p: "layer scale",
)


def _stochastic_depth_shape(p, ins, notes):
    if p["rate"] >= 1:
        raise ShapeIssue(
            "StochasticDepth needs a rate below 1 (the probability of dropping the "
            f"branch). Received: rate={p['rate']}",
            fix="Use a rate such as 0.1.", field="rate")
    return [ins[0]]


STOCHASTIC_DEPTH = BlockSpec(
    kind="StochasticDepth",
    category="Regularization",
    doc="While training, drops a sample's whole residual branch with probability "
        "rate (ConvNeXt's drop path); the identity at inference.",
    params=(
        Param("rate", "float", 0.1, "Probability of dropping the branch, 0 ≤ rate < 1.",
              min=0.0, max=1.0),
    ),
    shape=_stochastic_depth_shape,
    keras=lambda p: [LayerCall("StochasticDepth", {"rate": p["rate"]})],
    label=lambda p: f"drop path {p['rate']:g}",
)

SPECS = (LAYER_SCALE, STOCHASTIC_DEPTH)

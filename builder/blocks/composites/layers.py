"""Small layer kinds the blocks need: ChannelPad (which Keras lacks) and Average.

* ``ChannelPad``: zero channels appended around the input, the CIFAR ResNet's
  "option A" shortcut (He et al. 2015, §4.2: "the shortcut still performs
  identity mapping, with extra zero entries padded for increasing dimensions").
  A ``MaxPool2D(pool_size=1, strides=2)`` before it is the strided subsample.
(Stochastic depth uses :mod:`builder.blocks.residual_scaling`'s kind.)

It compiles to a custom layer of :mod:`builder.compile.custom_layers`.
"""

from __future__ import annotations

from builder.blocks.rules import expect_rank, fmt_shape, known_channels
from builder.blocks.merge import _elementwise_shape
from builder.blocks.spec import MANY_IN, BlockSpec, LayerCall, Param, ShapeIssue, _output_elements


def _pad_shape(p, ins, notes):
    x = expect_rank(ins[0], 4, "ChannelPad")
    c = known_channels(x, "ChannelPad")
    if p["channels"] < c:
        raise ShapeIssue(
            f"ChannelPad pads channels up to 'channels', which must be at least the "
            f"input's {c}. Received: channels={p['channels']} for {fmt_shape(x)}",
            fix=f"Set channels to {c} or more.", field="channels")
    return [(*x[:3], p["channels"])]


CHANNEL_PAD = BlockSpec(
    kind="ChannelPad",
    category="Reshape",
    doc="Pads the channel axis with zeros up to 'channels' (half before, half after): "
        "the parameter-free 'option A' ResNet shortcut.",
    params=(Param("channels", "int", 32, "Output channels, at least the input's.", min=1),),
    shape=_pad_shape,
    keras=lambda p: [LayerCall("ChannelPad", {"channels": p["channels"]})],
    label=lambda p: f"pad-c{p['channels']}",
)


AVERAGE = BlockSpec(
    kind="Average",
    category="Merge",
    doc="Element-wise mean of two or more tensors of one shape (FractalNet's join).",
    params=(),
    inputs=MANY_IN,
    shape=_elementwise_shape("Average"),
    flops=lambda p, ins, outs: _output_elements(p, ins, outs),
    keras=lambda p: [LayerCall("Average", {})],
    label=lambda p: "mean",
)

SPECS = (CHANNEL_PAD, AVERAGE)

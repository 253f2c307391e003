"""Normalisation: BatchNormalization, LayerNormalization, and LRN (AlexNet, VGG A-LRN).

All keep the shape. Multiply-adds are counted per output element:

* BatchNormalization: 1. At inference the statistics are frozen, so
  ``γ(x - μ)/√(σ² + ε) + β`` folds into one multiply-add.
* LayerNormalization: 3. The statistics come from the sample itself: one pass
  for the mean, one for the variance, then one folded multiply-add.
* LRN: ``2·depth_radius + 2``. A sum of squares over the ``2r + 1`` channel
  window, then ``k + α·sum``; the power and division are not counted.
"""

from __future__ import annotations

from builder.blocks.rules import expect_rank, known_channels
from builder.blocks.spec import BlockSpec, LayerCall, Param, WeightSpec, _output_elements

_EPSILON = Param("epsilon", "float", 1e-3,
                 "Added to the variance so it is never divided by zero.", min=0.0)
_CENTER = Param("center", "bool", True, "Learn an offset β (weight 'beta').")
_SCALE = Param("scale", "bool", True, "Learn a scale γ (weight 'gamma').")


def _per_channel_shape(kind):
    def rule(p, ins, notes):
        # Both normalise over the last axis (channels last), which must be known
        # because the weights have one entry per channel.
        known_channels(ins[0], kind)
        return [ins[0]]
    return rule


def _affine_weights(p, c, trainable: bool = True) -> list[WeightSpec]:
    # Keras creates gamma before beta.
    weights = []
    if p["scale"]:
        weights.append(WeightSpec("gamma", (c,), trainable=trainable))
    if p["center"]:
        weights.append(WeightSpec("beta", (c,), trainable=trainable))
    return weights


def _scaled_elements(factor):
    def flops(p, ins, outs):
        return factor(p) * _output_elements(p, ins, outs)
    return flops


# -- BatchNormalization -------------------------------------------------------

def _batch_norm_weights(p, ins, outs):
    c = ins[0][-1]
    # The moving statistics exist even with center=False and scale=False; they are
    # updated by training but not by the optimizer, hence non-trainable. A frozen
    # layer (trainable false) keeps gamma and beta fixed too.
    return _affine_weights(p, c, p.get("trainable", True)) + [WeightSpec("moving_mean", (c,), trainable=False),
                                    WeightSpec("moving_variance", (c,), trainable=False)]


BATCH_NORMALIZATION = BlockSpec(
    kind="BatchNormalization",
    category="Normalization",
    doc="Normalises each channel with batch statistics (moving averages at inference), "
        "then scales by γ and shifts by β.",
    params=(
        Param("momentum", "float", 0.99, "Weight of the old value in the moving averages.",
              min=0.0, max=1.0),
        _EPSILON, _CENTER, _SCALE,
        Param("trainable", "bool", True,
              "Train γ and β and update the moving averages; false freezes the layer "
              "(torchvision's FrozenBatchNorm2d: always inference statistics, γ and β "
              "fixed, as in detection backbones)."),
    ),
    shape=_per_channel_shape("BatchNormalization"),
    weights=_batch_norm_weights,
    flops=_scaled_elements(lambda p: 1),
    keras=lambda p: [LayerCall("BatchNormalization", {
        "momentum": p["momentum"],
        "epsilon": p["epsilon"],
        "center": p["center"],
        "scale": p["scale"],
        # Only a frozen layer says so, so scripts of trainable ones stay as before.
        **({} if p.get("trainable", True) else {"trainable": False}),
    })],
    label=lambda p: "BN" if p.get("trainable", True) else "BN (frozen)",
)


# -- LayerNormalization -------------------------------------------------------

LAYER_NORMALIZATION = BlockSpec(
    kind="LayerNormalization",
    category="Normalization",
    doc="Normalises each sample over its last axis (no batch statistics), then scales "
        "by γ and shifts by β.",
    params=(_EPSILON, _CENTER, _SCALE),
    shape=_per_channel_shape("LayerNormalization"),
    weights=lambda p, ins, outs: _affine_weights(p, ins[0][-1]),
    flops=_scaled_elements(lambda p: 3),
    keras=lambda p: [LayerCall("LayerNormalization", {
        "epsilon": p["epsilon"],
        "center": p["center"],
        "scale": p["scale"],
    })],
    label=lambda p: "LN",
)


# -- LRN ----------------------------------------------------------------------

def _lrn_shape(p, ins, notes):
    # The windows run across the channels of an image tensor, as in AlexNet; the
    # layer needs the channel count to clamp its window.
    x = expect_rank(ins[0], 4, "LRN")
    known_channels(x, "LRN")
    return [x]


LRN = BlockSpec(
    kind="LRN",
    category="Normalization",
    doc="Local response normalisation (AlexNet, VGG A-LRN): each value is divided by "
        "(k + α·Σ x²)^β over 2·depth_radius + 1 neighbouring channels.",
    params=(
        Param("depth_radius", "int", 2,
              "Channels on each side in the window; 2 gives AlexNet's n = 5.", min=0),
        Param("bias", "float", 2.0, "k: added before the power.", min=0.0),
        Param("alpha", "float", 1e-4, "α: scale of the sum of squares.", min=0.0),
        Param("beta", "float", 0.75, "β: the exponent.", min=0.0),
    ),
    shape=_lrn_shape,
    flops=_scaled_elements(lambda p: 2 * p["depth_radius"] + 2),
    # A custom layer of builder.compile.custom_layers, written with keras.ops.
    keras=lambda p: [LayerCall("LocalResponseNormalization", {
        "depth_radius": p["depth_radius"],
        "bias": p["bias"],
        "alpha": p["alpha"],
        "beta": p["beta"],
    })],
    label=lambda p: "LRN",
)

SPECS = (BATCH_NORMALIZATION, LAYER_NORMALIZATION, LRN)

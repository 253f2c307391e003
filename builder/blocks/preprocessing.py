"""Preprocessing inside the model: Normalization (EfficientNet's and ConvNeXt's stem).

``Normalization`` computes ``(x - mean) / sqrt(variance)`` per channel. Given
``mean`` and ``variance`` it stores them as constants (no weights); without them
Keras creates ``mean``, ``variance`` and a scalar ``count`` as non-trainable weights
that ``adapt()`` fills in. Either way it counts one multiply-add per element:
at inference the subtraction and division fold into one.
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


def _as_list(value):
    return None if value is None else list(value) if isinstance(value, (list, tuple)) \
        else [value]


def _statistic_size(value, channels: int, name: str, x) -> None:
    # A number (or a one-element list) broadcasts to every channel; a list
    # must have one entry per channel, as Keras aligns it with the kept axis.
    sizes = _as_list(value)
    if sizes is not None and len(sizes) not in (1, channels):
        raise ShapeIssue(
            f"Normalization needs one {name} per channel ({channels}) or a single "
            f"{name}. Received: {len(sizes)} values for {fmt_shape(x)}",
            fix=f"Give {channels} values, or leave {name} unset to adapt it.",
            field=name)


def _normalization_shape(p, ins, notes):
    x = ins[0]
    if len(x) < 2:
        raise ShapeIssue(f"Normalization expects at least a vector per sample. "
                         f"Received: {fmt_shape(x)}")
    c = known_channels(x, "Normalization")
    if (p["mean"] is None) != (p["variance"] is None):
        raise ShapeIssue(
            "Normalization needs both mean and variance, or neither (then it adapts "
            f"them). Received: mean={p['mean']!r}, variance={p['variance']!r}",
            fix="Set both, or unset both.", field="variance")
    _statistic_size(p["mean"], c, "mean", x)
    _statistic_size(p["variance"], c, "variance", x)
    return [x]


def _normalization_weights(p, ins, outs):
    if p["mean"] is not None:
        return []  # given statistics are constants, not weights
    c = ins[0][-1]
    # "count" is kept for loading old saved models; it is a weight all the same.
    return [WeightSpec("mean", (c,), trainable=False),
            WeightSpec("variance", (c,), trainable=False),
            WeightSpec("count", (), trainable=False)]


def _normalization_label(p) -> str:
    return "normalize" + (" (inverse)" if p["invert"] else "")


NORMALIZATION = BlockSpec(
    kind="Normalization",
    category="Normalization",
    doc="(x - mean)/√variance per channel, with fixed statistics or ones adapted to "
        "the data (ImageNet's mean and variance in EfficientNet and ConvNeXt).",
    params=(
        Param("mean", "float_list", None,
              "Mean per channel (or one for all); unset means adapt it to the data.",
              optional=True),
        Param("variance", "float_list", None,
              "Variance per channel (or one for all); unset means adapt it.",
              optional=True),
        Param("invert", "bool", False,
              "Undo a normalisation instead: x·√variance + mean."),
    ),
    shape=_normalization_shape,
    weights=_normalization_weights,
    flops=_output_elements,
    keras=lambda p: [LayerCall("Normalization", {
        "axis": -1,
        "mean": p["mean"],
        "variance": p["variance"],
        "invert": p["invert"],
    })],
    label=_normalization_label,
)

SPECS = (NORMALIZATION,)

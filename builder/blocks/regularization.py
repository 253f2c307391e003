"""Regularisation: Dropout and SpatialDropout2D.

Both keep the shape, have no weights (Keras' seed state is not a weight) and
count no multiply-adds: at inference they pass the input through.
"""

from __future__ import annotations

from builder.blocks.rules import expect_rank
from builder.blocks.spec import BlockSpec, LayerCall, Param, ShapeIssue


def _check_rate(p, kind):
    # Keras accepts rate=1, but it drops everything and scales by 1/(1 - rate):
    # the output is NaN, so the catalogue stops at rates below 1.
    if p["rate"] >= 1:
        raise ShapeIssue(
            f"{kind} needs a rate below 1 (the fraction of units dropped). "
            f"Received: rate={p['rate']}",
            fix="Use a rate such as 0.5.", field="rate")


def _dropout_shape(p, ins, notes):
    _check_rate(p, "Dropout")
    return [ins[0]]


def _spatial_dropout_shape(p, ins, notes):
    _check_rate(p, "SpatialDropout2D")
    return [expect_rank(ins[0], 4, "SpatialDropout2D")]


_SEED = Param("seed", "int", None, "Random seed, for repeatable runs; unset draws one.",
              min=0, optional=True)

DROPOUT = BlockSpec(
    kind="Dropout",
    category="Regularization",
    doc="While training, zeroes each unit with probability rate and scales the rest "
        "by 1/(1 - rate); passes through at inference.",
    params=(
        Param("rate", "float", 0.5, "Fraction of units dropped, 0 ≤ rate < 1.",
              min=0.0, max=1.0),
        _SEED,
    ),
    shape=_dropout_shape,
    keras=lambda p: [LayerCall("Dropout", {"rate": p["rate"], "seed": p["seed"]})],
    label=lambda p: f"dropout {p['rate']:g}",
)

SPATIAL_DROPOUT2D = BlockSpec(
    kind="SpatialDropout2D",
    category="Regularization",
    doc="Dropout of whole feature maps: drops a channel everywhere at once, since "
        "neighbouring pixels are too correlated for per-pixel dropout to help.",
    params=(
        Param("rate", "float", 0.2, "Fraction of channels dropped, 0 ≤ rate < 1.",
              min=0.0, max=1.0),
        _SEED,
    ),
    shape=_spatial_dropout_shape,
    keras=lambda p: [LayerCall("SpatialDropout2D", {"rate": p["rate"], "seed": p["seed"]})],
    label=lambda p: f"spatial dropout {p['rate']:g}",
)

SPECS = (DROPOUT, SPATIAL_DROPOUT2D)

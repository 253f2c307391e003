"""Composite blocks: kinds that stand for parameterised sub-graphs (residual,
inception, SE, dense, fire, stages, ...). See :mod:`.base` for the mechanism and
``/work/notes/composites.md`` for how to use them."""

from builder.blocks.composites import (
    dense_fire,
    group,
    inception,
    inception_v3,
    layers,
    residual,
    squeeze,
    stage,
)
from builder.blocks.composites.base import (
    CompositeSpec,
    InnerEdge,
    InnerNode,
    Sub,
    SubGraph,
    composite,
    expansion,
    is_composite,
)

#: Plain layer kinds the blocks need (custom Keras layers).
LAYER_SPECS = layers.SPECS

#: Every composite kind.
SPECS = (*residual.SPECS, *squeeze.SPECS, *inception.SPECS, *inception_v3.SPECS,
         *dense_fire.SPECS, *stage.SPECS, *group.SPECS)

__all__ = ["CompositeSpec", "InnerEdge", "InnerNode", "LAYER_SPECS", "SPECS", "Sub",
           "SubGraph", "composite", "expansion", "is_composite"]

"""The catalogue of layer and block kinds (pure Python, no Keras).

Importing this package registers :data:`CATALOG` as the default kind registry of
:class:`builder.core.Graph`.
"""

from builder.blocks import (
    activations,
    composites,
    conv,
    dense,
    detection,
    io,
    merge,
    normalization,
    pooling,
    preprocessing,
    rcnn,
    regularization,
    reshaping,
    residual_scaling,
    unpooling,
)
from builder.blocks.catalog import CATEGORIES, Catalog
from builder.blocks.spec import BlockSpec, LayerCall, Notes, Param, ShapeIssue, WeightSpec
from builder.core.graph import set_default_kinds

#: Every kind the product offers.
CATALOG = Catalog([
    *io.SPECS, *conv.SPECS, *pooling.SPECS, *dense.SPECS, *activations.SPECS,
    *normalization.SPECS, *detection.SPECS, *regularization.SPECS, *merge.SPECS, *reshaping.SPECS,
    *preprocessing.SPECS, *residual_scaling.SPECS, *unpooling.SPECS, *rcnn.SPECS,
    *composites.LAYER_SPECS, *composites.SPECS,
])

set_default_kinds(CATALOG)

__all__ = ["CATALOG", "CATEGORIES", "BlockSpec", "Catalog", "LayerCall", "Notes", "Param",
           "ShapeIssue", "WeightSpec"]

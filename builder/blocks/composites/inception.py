"""Inception modules: GoogLeNet's v1 module and auxiliary classifier head.

The v1 module (Szegedy et al. 2014, Figure 2b) runs four branches on the same
input and concatenates them along channels: 1×1; 1×1 reduce then 3×3; 1×1
reduce then 5×5; 3×3 max pool then 1×1 projection. Every convolution has a
ReLU. Table 1 of the paper gives the six widths of each module.
"""

from __future__ import annotations

from builder.blocks.composites.base import Sub, composite
from builder.blocks.io import LOSSES
from builder.blocks.spec import Param


def _relu_conv(s, node_id, x, filters, kernel, strides=1, padding="same"):
    return s.add(node_id, "Conv2D", x, filters=filters, kernel_size=kernel,
                 strides=strides, padding=padding, activation="relu")


def _v1(p, ins):
    s = Sub()
    b1 = _relu_conv(s, "1x1", "@in", p["f1x1"], 1)
    b3 = _relu_conv(s, "3x3_reduce", "@in", p["f3x3_reduce"], 1)
    b3 = _relu_conv(s, "3x3", b3, p["f3x3"], 3)
    b5 = _relu_conv(s, "5x5_reduce", "@in", p["f5x5_reduce"], 1)
    b5 = _relu_conv(s, "5x5", b5, p["f5x5"], 5)
    bp = s.add("pool", "MaxPool2D", "@in", pool_size=3, strides=1, padding="same")
    bp = _relu_conv(s, "pool_proj", bp, p["pool_proj"], 1)
    return s.done(s.add("concat", "Concatenate", [b1, b3, b5, bp]))


def _width(name, default, doc):
    return Param(name, "int", default, doc, min=1)


INCEPTION_V1 = composite(
    "InceptionV1",
    "GoogLeNet's inception module: 1×1, 3×3 (after a 1×1 reduce), 5×5 (after a 1×1 "
    "reduce) and 3×3 max pool + 1×1 projection, concatenated.",
    (_width("f1x1", 64, "#1×1 filters."),
     _width("f3x3_reduce", 96, "#3×3 reduce: 1×1 filters before the 3×3."),
     _width("f3x3", 128, "#3×3 filters."),
     _width("f5x5_reduce", 16, "#5×5 reduce: 1×1 filters before the 5×5."),
     _width("f5x5", 32, "#5×5 filters."),
     _width("pool_proj", 32, "pool proj: 1×1 filters after the max pool.")),
    _v1,
    label=lambda p: f"inception-{p['f1x1'] + p['f3x3'] + p['f5x5'] + p['pool_proj']}")


def _aux(p, ins):
    s = Sub()
    x = s.add("pool", "AvgPool2D", "@in", pool_size=5, strides=3, padding="valid")
    x = _relu_conv(s, "conv", x, p["filters"], 1)
    x = s.add("flatten", "Flatten", x)
    x = s.add("fc", "Dense", x, units=p["units"], activation="relu")
    x = s.add("dropout", "Dropout", x, rate=p["dropout"])
    x = s.add("predictions", "Dense", x, units=p["classes"], activation="softmax")
    s.add("output", "Output", x, loss=p["loss"], loss_weight=p["loss_weight"])
    sub = s.done("predictions")
    # The head ends in its own Output: the composite has no output port.
    return type(sub)(sub.nodes, sub.edges, {})


AUX_CLASSIFIER = composite(
    "AuxClassifier",
    "GoogLeNet's auxiliary classifier: 5×5/3 average pool, 1×1 conv, FC, dropout, "
    "softmax FC, and its own model output whose loss is weighted by loss_weight.",
    (Param("classes", "int", 1000, "Number of classes.", min=1),
     Param("loss_weight", "float", 0.3, "Weight of this head's loss in the total "
           "(the paper: 0.3).", min=0.0),
     Param("filters", "int", 128, "Filters of the 1×1 convolution.", min=1),
     Param("units", "int", 1024, "Units of the hidden FC layer.", min=1),
     Param("dropout", "float", 0.7, "Dropout rate before the classifier.", min=0.0,
           max=1.0),
     Param("loss", "choice", "sparse_categorical_crossentropy", "Loss of this head.",
           choices=LOSSES)),
    _aux,
    label=lambda p: f"aux head ×{p['loss_weight']:g}",
    outputs=())

SPECS = (INCEPTION_V1, AUX_CLASSIFIER)

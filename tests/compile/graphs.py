"""Small graphs the compile tests share."""

from __future__ import annotations

import builder.blocks  # noqa: F401 - registers the catalogue
from builder.core import Graph


def add(g: Graph, kind: str, src=None, params=None, *, id=None, name=None) -> str:
    """Adds a node fed by ``src`` (an id or a list of ids); returns its id."""
    nid = g.add_node(kind, params or {}, id=id, name=name).id
    for s in [src] if isinstance(src, str) else (src or []):
        g.connect(s, nid)
    return nid


def vgg_like(shape=(32, 32, 3)) -> Graph:
    """Two conv-conv-pool blocks, FC, dropout, FC-softmax."""
    g = Graph()
    x = add(g, "Input", params={"shape": list(shape)}, id="input")
    for block, filters in ((1, 16), (2, 32)):
        for i in (1, 2):
            x = add(g, "Conv2D", x, {"filters": filters, "activation": "relu"},
                    id=f"block{block}_conv{i}")
        x = add(g, "MaxPool2D", x, id=f"block{block}_pool")
    x = add(g, "Flatten", x, id="flatten")
    x = add(g, "Dense", x, {"units": 64, "activation": "relu"}, id="fc1")
    x = add(g, "Dropout", x, {"rate": 0.5}, id="drop1")
    x = add(g, "Dense", x, {"units": 10, "activation": "softmax"}, id="predictions")
    add(g, "Output", x, id="output")
    return g


def residual(shape=(16, 16, 8)) -> Graph:
    """A stem, then a ResNet basic block that doubles channels and halves size,
    with a 1x1 strided projection on the shortcut."""
    g = Graph()
    x = add(g, "Input", params={"shape": list(shape)}, id="input")
    stem = add(g, "Conv2D", x, {"filters": 8, "padding": 1,
                                "kernel_size": 3}, id="stem")
    stem = add(g, "ReLU", stem, id="stem_relu")
    a = add(g, "Conv2D", stem, {"filters": 16, "strides": 2, "use_bias": False},
            id="res_conv_a")
    a = add(g, "BatchNormalization", a, id="res_bn_a")
    a = add(g, "Activation", a, {"activation": "relu"}, id="res_relu_a")
    a = add(g, "Conv2D", a, {"filters": 16, "use_bias": False}, id="res_conv_b")
    a = add(g, "BatchNormalization", a, id="res_bn_b")
    proj = add(g, "Conv2D", stem, {"filters": 16, "kernel_size": 1, "strides": 2,
                                   "padding": "valid"}, id="res_proj")
    s = add(g, "Add", [a, proj], id="res_add")
    s = add(g, "ReLU", s, id="res_out")
    s = add(g, "GlobalAvgPool2D", s, id="gap")
    s = add(g, "Dense", s, {"units": 5, "activation": "softmax"}, id="fc")
    add(g, "Output", s, id="output")
    return g


def inception(shape=(16, 16, 8)) -> Graph:
    """Four parallel branches joined by a Concatenate (GoogLeNet's module)."""
    g = Graph()
    x = add(g, "Input", params={"shape": list(shape)}, id="input")
    b1 = add(g, "Conv2D", x, {"filters": 4, "kernel_size": 1}, id="branch1x1")
    b3 = add(g, "Conv2D", x, {"filters": 3, "kernel_size": 1}, id="branch3x3_reduce")
    b3 = add(g, "Conv2D", b3, {"filters": 6}, id="branch3x3")
    b5 = add(g, "Conv2D", x, {"filters": 2, "kernel_size": 1}, id="branch5x5_reduce")
    b5 = add(g, "Conv2D", b5, {"filters": 3, "kernel_size": 5}, id="branch5x5")
    bp = add(g, "MaxPool2D", x, {"pool_size": 3, "strides": 1, "padding": "same"},
             id="branch_pool")
    bp = add(g, "Conv2D", bp, {"filters": 2, "kernel_size": 1}, id="branch_pool_proj")
    c = add(g, "Concatenate", [b1, b3, b5, bp], id="mixed")
    c = add(g, "LRN", c, id="norm")
    c = add(g, "GlobalMaxPool2D", c, id="gmp")
    c = add(g, "Dense", c, {"units": 3}, id="logits")
    add(g, "Output", c, id="output")
    return g


def two_heads(shape=(24, 24, 3)) -> Graph:
    """A trunk with an auxiliary head in the middle and a main head at the end."""
    g = Graph()
    x = add(g, "Input", params={"shape": list(shape)}, id="image")
    x = add(g, "Conv2D", x, {"filters": 8, "strides": 2}, id="conv1")
    mid = add(g, "Conv2D", x, {"filters": 16, "strides": 2, "activation": "relu"},
              id="conv2")
    aux = add(g, "AvgPool2D", mid, {"pool_size": 3, "strides": 2}, id="aux_pool")
    aux = add(g, "Flatten", aux, id="aux_flatten")
    aux = add(g, "Dense", aux, {"units": 4, "activation": "softmax"}, id="aux_fc")
    add(g, "Output", aux, {"loss_weight": 0.3}, id="aux_output")
    x = add(g, "Conv2D", mid, {"filters": 32, "strides": 2}, id="conv3")
    x = add(g, "GlobalAvgPool2D", x, id="gap")
    x = add(g, "Dense", x, {"units": 4, "activation": "softmax"}, id="main_fc")
    add(g, "Output", x, id="main_output")
    return g

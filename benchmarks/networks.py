"""Graphs the benchmarks measure, built through the public graph API."""

from __future__ import annotations

import builder
from builder.core import Graph


def _conv_bn(g: Graph, prev: str, filters: int, kernel: int, stride: int = 1,
             relu: bool = True) -> str:
    conv = g.add_node("Conv2D", {"filters": filters, "kernel_size": kernel,
                                 "strides": stride, "use_bias": False}).id
    g.connect(prev, conv)
    bn = g.add_node("BatchNormalization").id
    g.connect(conv, bn)
    if not relu:
        return bn
    act = g.add_node("ReLU").id
    g.connect(bn, act)
    return act


def resnet152(input_size: int = 224, classes: int = 1000) -> Graph:
    """ResNet-152 with every layer expanded: 517 nodes, 60.3 M parameters."""
    g = Graph()
    x = g.add_node("Input", {"shape": [input_size, input_size, 3]}).id
    x = _conv_bn(g, x, 64, 7, 2)
    pool = g.add_node("MaxPool2D", {"pool_size": 3, "strides": 2, "padding": "same"}).id
    g.connect(x, pool)
    x = pool
    for stage, (blocks, width) in enumerate([(3, 64), (8, 128), (36, 256), (3, 512)]):
        for block in range(blocks):
            stride = 2 if block == 0 and stage > 0 else 1
            shortcut = x
            if block == 0:
                shortcut = _conv_bn(g, x, width * 4, 1, stride, relu=False)
            y = _conv_bn(g, x, width, 1, stride)
            y = _conv_bn(g, y, width, 3)
            y = _conv_bn(g, y, width * 4, 1, relu=False)
            add = g.add_node("Add").id
            g.connect(y, add)
            g.connect(shortcut, add)
            x = g.add_node("ReLU").id
            g.connect(add, x)
    gap = g.add_node("GlobalAvgPool2D").id
    g.connect(x, gap)
    fc = g.add_node("Dense", {"units": classes, "activation": "softmax"}).id
    g.connect(gap, fc)
    g.connect(fc, g.add_node("Output").id)
    return g


def vgg16() -> Graph:
    """The shipped VGG-16 template."""
    return builder.from_template("vgg16").graph

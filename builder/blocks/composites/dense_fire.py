"""DenseNet's blocks (Huang et al. 2017), SqueezeNet's fire module (Iandola et
al. 2016) and FractalNet's fractal block (Larsson et al. 2017).

DenseLayer and Transition follow ``keras.applications.DenseNet`` exactly (ids
``0_bn``, ``1_conv``, ..., ``concat``; BN epsilon 1.001e-5; no conv biases), so
a ``DenseBlock`` with id ``conv2`` compiles to ``conv2_block1_0_bn`` ... and a
Transition with id ``pool2`` to ``pool2_bn`` ... ``pool2_pool``.
"""

from __future__ import annotations

from builder.blocks.composites.base import Sub, composite
from builder.blocks.rules import fmt_shape
from builder.blocks.spec import Param, ShapeIssue

_EPS = Param("epsilon", "float", 1.001e-5, "BatchNorm epsilon (keras.applications: "
             "1.001e-5).", min=0.0)


def _dense_layer(p, ins):
    s = Sub()
    x = s.add("0_bn", "BatchNormalization", "@in", epsilon=p["epsilon"])
    x = s.add("0_relu", "Activation", x, activation="relu")
    x = s.add("1_conv", "Conv2D", x, filters=p["bottleneck"] * p["growth_rate"],
              kernel_size=1, padding="valid", use_bias=False)
    x = s.add("1_bn", "BatchNormalization", x, epsilon=p["epsilon"])
    x = s.add("1_relu", "Activation", x, activation="relu")
    x = s.add("2_conv", "Conv2D", x, filters=p["growth_rate"], kernel_size=3,
              padding="same", use_bias=False)
    if p["dropout"] > 0:
        x = s.add("dropout", "Dropout", x, rate=p["dropout"])
    return s.done(s.add("concat", "Concatenate", ["@in", x]))


_GROWTH = Param("growth_rate", "int", 32, "k: channels each layer adds.", min=1)
_BOTTLENECK = Param("bottleneck", "int", 4, "The 1×1 conv has bottleneck × k filters "
                    "(DenseNet-B: 4).", min=1)
_DROPOUT = Param("dropout", "float", 0.0, "Dropout after the 3×3 conv.", min=0.0,
                 max=1.0)

DENSE_LAYER = composite(
    "DenseLayer",
    "One DenseNet-BC layer: BN-ReLU-1×1 (4k), BN-ReLU-3×3 (k), concatenated to its "
    "input.",
    (_GROWTH, _BOTTLENECK, _EPS, _DROPOUT),
    _dense_layer, label=lambda p: f"dense-layer k={p['growth_rate']}")


def _dense_block(p, ins):
    s = Sub()
    x = "@in"
    for i in range(1, p["layers"] + 1):
        x = s.add(f"block{i}", "DenseLayer", x, growth_rate=p["growth_rate"],
                  bottleneck=p["bottleneck"], epsilon=p["epsilon"], dropout=p["dropout"])
    return s.done(x)


DENSE_BLOCK = composite(
    "DenseBlock",
    "A dense block: 'layers' DenseLayers, each seeing every earlier output "
    "(channels grow by k per layer).",
    (Param("layers", "int", 6, "Number of dense layers (DenseNet-121: 6, 12, 24, 16).",
           min=1),
     _GROWTH, _BOTTLENECK, _EPS, _DROPOUT),
    _dense_block, label=lambda p: f"dense-block {p['layers']}×k{p['growth_rate']}")


def _transition(p, ins):
    x = ins[0] if ins else None
    if x is None or len(x) != 4 or x[-1] is None:
        raise ShapeIssue("Transition compresses the channels of an image input, which "
                         f"must be known. Received: {fmt_shape(x) if x else 'no input'}")
    s = Sub()
    y = s.add("bn", "BatchNormalization", "@in", epsilon=p["epsilon"])
    y = s.add("relu", "Activation", y, activation="relu")
    y = s.add("conv", "Conv2D", y, filters=max(1, int(x[-1] * p["compression"])),
              kernel_size=1, padding="valid", use_bias=False)
    return s.done(s.add("pool", "AvgPool2D", y, pool_size=2, strides=2))


TRANSITION = composite(
    "Transition",
    "DenseNet transition: BN-ReLU-1×1 conv keeping compression × C channels, then "
    "2×2 average pool.",
    (Param("compression", "float", 0.5, "θ: fraction of channels kept.", min=0.0,
           max=1.0), _EPS),
    _transition, label=lambda p: f"transition θ={p['compression']:g}", uses_shapes=True)


def _fire(p, ins):
    s = Sub()
    x = s.add("squeeze1x1", "Conv2D", "@in", filters=p["squeeze"], kernel_size=1,
              padding="valid", activation="relu")
    e1 = s.add("expand1x1", "Conv2D", x, filters=p["expand1x1"], kernel_size=1,
               padding="valid", activation="relu")
    e3 = s.add("expand3x3", "Conv2D", x, filters=p["expand3x3"], kernel_size=3,
               padding="same", activation="relu")
    return s.done(s.add("concat", "Concatenate", [e1, e3]))


FIRE = composite(
    "Fire",
    "SqueezeNet's fire module: a 1×1 squeeze layer, then 1×1 and 3×3 expand layers "
    "concatenated.",
    (Param("squeeze", "int", 16, "s1x1: squeeze filters.", min=1),
     Param("expand1x1", "int", 64, "e1x1: 1×1 expand filters.", min=1),
     Param("expand3x3", "int", 64, "e3x3: 3×3 expand filters.", min=1)),
    _fire, label=lambda p: f"fire-{p['squeeze']}/{p['expand1x1']}+{p['expand3x3']}")


def _fractal(p, ins):
    s = Sub()
    count = [0]

    def unit(x, col):
        count[0] += 1
        n = count[0]
        y = s.add(f"col{col}_conv{n}", "Conv2D", x, filters=p["filters"], kernel_size=3,
                  padding="same", use_bias=False)
        y = s.add(f"col{col}_bn{n}", "BatchNormalization", y)
        return s.add(f"col{col}_relu{n}", "Activation", y, activation="relu")

    def join(tensors):
        if len(tensors) == 1:
            return tensors[0]
        count[0] += 1
        return s.add(f"join{count[0]}", "Average", tensors)

    def columns(c, x):
        # f_1(z) = conv(z); f_C(z) = join(f_{C-1}(f_{C-1}(z)), conv(z)), with the
        # joins at one depth merged into one mean of all columns (the paper's Fig. 1).
        if c == 1:
            return [unit(x, 1)]
        deep = columns(c - 1, join(columns(c - 1, x)))
        return [unit(x, c)] + deep

    return s.done(join(columns(p["columns"], "@in")))


FRACTAL_BLOCK = composite(
    "FractalBlock",
    "FractalNet's block: C columns of conv-BN-ReLU units, column c of depth 2^(c-1), "
    "joined by element-wise means.",
    (Param("columns", "int", 3, "C: number of columns (depth 2^(C-1)).", min=1, max=6),
     Param("filters", "int", 64, "Filters of every convolution.", min=1)),
    _fractal, label=lambda p: f"fractal C={p['columns']}-{p['filters']}")

SPECS = (DENSE_LAYER, DENSE_BLOCK, TRANSITION, FIRE, FRACTAL_BLOCK)

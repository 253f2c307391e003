"""Inception v2/v3 factorised modules (Szegedy et al. 2015, "Rethinking the
Inception Architecture"), exactly as ``keras.applications.InceptionV3`` builds
its ``mixed0`` ... ``mixed10`` blocks (the names follow torchvision's classes):

* ``InceptionA`` (mixed0-2, 35×35): a 5×5 branch and a 5×5 factorised into two 3×3.
* ``InceptionB`` (mixed3): grid reduction 35 -> 17 with stride-2 branches.
* ``InceptionC`` (mixed4-7, 17×17): 7×7 factorised into 1×7 and 7×1.
* ``InceptionD`` (mixed8): grid reduction 17 -> 8.
* ``InceptionE`` (mixed9-10, 8×8): 3×3 split into parallel 1×3 and 3×1.

Every convolution is Keras' ``conv2d_bn`` unit: conv without bias, BatchNorm
without scale, ReLU (also offered alone as the ``ConvBN`` block).
"""

from __future__ import annotations

from builder.blocks.composites.base import Sub, composite
from builder.blocks.conv import kernel_label
from builder.blocks.spec import Param


def _conv_bn(p, ins):
    s = Sub()
    x = s.add("conv", "Conv2D", "@in", filters=p["filters"], kernel_size=p["kernel_size"],
              strides=p["strides"], padding=p["padding"], use_bias=p["use_bias"])
    x = s.add("bn", "BatchNormalization", x, scale=p["scale"], epsilon=p["epsilon"],
              momentum=p["momentum"])
    if p["activation"] == "relu":
        x = s.add("relu", "Activation", x, activation="relu")
    return s.done(x)


CONV_BN = composite(
    "ConvBN",
    "Conv2D -> BatchNorm -> ReLU, the unit of Inception v3 (Keras' conv2d_bn) and "
    "of most modern stems.",
    (Param("filters", "int", 64, "K: output channels.", min=1),
     Param("kernel_size", "int_or_pair", 3, "F, or [Fh, Fw] (1×7 and 7×1 in v3).",
           min=1),
     Param("strides", "int_or_pair", 1, "S.", min=1),
     Param("padding", "padding", "same", "'same', 'valid' or an explicit P.", min=0),
     Param("use_bias", "bool", False, "Bias in the convolution (BatchNorm follows)."),
     Param("scale", "bool", False, "BatchNorm learns a scale γ (Inception v3: no; "
           "ReLU follows, so it would be redundant)."),
     Param("epsilon", "float", 1e-3, "BatchNorm epsilon.", min=0.0),
     Param("momentum", "float", 0.99, "BatchNorm momentum.", min=0.0, max=1.0),
     Param("activation", "choice", "relu", "relu, or linear for none.",
           choices=("relu", "linear"))),
    _conv_bn,
    label=lambda p: f"conv{kernel_label(p['kernel_size'])}-bn-{p['filters']}")


class _Units:
    """Adds conv2d_bn units (``conv<n>``, ``bn<n>``, ``relu<n>``) in creation order.

    The layers are written out rather than nested as ConvBN blocks: a module
    then analyses as one sub-graph, which keeps opening Inception v3 fast.
    """

    def __init__(self, s: Sub):
        self.s, self.n = s, 0

    def __call__(self, x, filters, kh, kw, strides=1, padding="same"):
        self.n += 1
        n, s = self.n, self.s
        x = s.add(f"conv{n}", "Conv2D", x, filters=filters,
                  kernel_size=kh if kh == kw else [kh, kw], strides=strides,
                  padding=padding, use_bias=False)
        x = s.add(f"bn{n}", "BatchNormalization", x, scale=False)
        return s.add(f"relu{n}", "Activation", x, activation="relu")


def _avg_pool(s, x):
    return s.add("pool", "AvgPool2D", x, pool_size=3, strides=1, padding="same")


def _a(p, ins):
    s = Sub()
    u = _Units(s)
    b1 = u("@in", 64, 1, 1)
    b5 = u(u("@in", 48, 1, 1), 64, 5, 5)
    b3 = u(u(u("@in", 64, 1, 1), 96, 3, 3), 96, 3, 3)
    bp = u(_avg_pool(s, "@in"), p["pool_features"], 1, 1)
    return s.done(s.add("concat", "Concatenate", [b1, b5, b3, bp]))


def _b(p, ins):
    s = Sub()
    u = _Units(s)
    b3 = u("@in", 384, 3, 3, 2, "valid")
    bd = u(u(u("@in", 64, 1, 1), 96, 3, 3), 96, 3, 3, 2, "valid")
    bp = s.add("pool", "MaxPool2D", "@in", pool_size=3, strides=2)
    return s.done(s.add("concat", "Concatenate", [b3, bd, bp]))


def _c(p, ins):
    s = Sub()
    u = _Units(s)
    c7 = p["channels_7x7"]
    b1 = u("@in", 192, 1, 1)
    b7 = u(u(u("@in", c7, 1, 1), c7, 1, 7), 192, 7, 1)
    bd = u(u(u(u(u("@in", c7, 1, 1), c7, 7, 1), c7, 1, 7), c7, 7, 1), 192, 1, 7)
    bp = u(_avg_pool(s, "@in"), 192, 1, 1)
    return s.done(s.add("concat", "Concatenate", [b1, b7, bd, bp]))


def _d(p, ins):
    s = Sub()
    u = _Units(s)
    b3 = u(u("@in", 192, 1, 1), 320, 3, 3, 2, "valid")
    b7 = u(u(u(u("@in", 192, 1, 1), 192, 1, 7), 192, 7, 1), 192, 3, 3, 2, "valid")
    bp = s.add("pool", "MaxPool2D", "@in", pool_size=3, strides=2)
    return s.done(s.add("concat", "Concatenate", [b3, b7, bp]))


def _e(p, ins):
    s = Sub()
    u = _Units(s)
    b1 = u("@in", 320, 1, 1)
    b3 = u("@in", 384, 1, 1)
    b3 = s.add("concat_3x3", "Concatenate", [u(b3, 384, 1, 3), u(b3, 384, 3, 1)])
    bd = u(u("@in", 448, 1, 1), 384, 3, 3)
    bd = s.add("concat_3x3dbl", "Concatenate", [u(bd, 384, 1, 3), u(bd, 384, 3, 1)])
    bp = u(_avg_pool(s, "@in"), 192, 1, 1)
    return s.done(s.add("concat", "Concatenate", [b1, b3, bd, bp]))


INCEPTION_A = composite(
    "InceptionA",
    "Inception v3 35×35 module (mixed0-2): 1×1; 1×1-5×5; 1×1-3×3-3×3 (a 5×5 "
    "factorised); 3×3 avg pool-1×1; concatenated.",
    (Param("pool_features", "int", 32, "1×1 filters after the pool (mixed0: 32, "
           "mixed1-2: 64).", min=1),),
    _a, label=lambda p: f"inception-A/{p['pool_features']}")

INCEPTION_B = composite(
    "InceptionB",
    "Inception v3 grid reduction 35 -> 17 (mixed3): stride-2 3×3, 1×1-3×3-3×3/2 and "
    "3×3/2 max pool, concatenated.",
    (), _b, label=lambda p: "inception-B (reduce)")

INCEPTION_C = composite(
    "InceptionC",
    "Inception v3 17×17 module (mixed4-7): n×n factorised into 1×n and n×1 (n = 7).",
    (Param("channels_7x7", "int", 128, "Filters inside the 7×7 branches (mixed4: 128, "
           "mixed5-6: 160, mixed7: 192).", min=1),),
    _c, label=lambda p: f"inception-C/{p['channels_7x7']}")

INCEPTION_D = composite(
    "InceptionD",
    "Inception v3 grid reduction 17 -> 8 (mixed8): 1×1-3×3/2, 1×1-1×7-7×1-3×3/2 and "
    "3×3/2 max pool, concatenated.",
    (), _d, label=lambda p: "inception-D (reduce)")

INCEPTION_E = composite(
    "InceptionE",
    "Inception v3 8×8 module (mixed9-10): 3×3 branches split into parallel 1×3 and "
    "3×1 (expanded filter bank).",
    (), _e, label=lambda p: "inception-E")

SPECS = (CONV_BN, INCEPTION_A, INCEPTION_B, INCEPTION_C, INCEPTION_D, INCEPTION_E)

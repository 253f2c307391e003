"""Residual blocks (He et al. 2015, 2016) and their descendants.

Inner ids follow ``keras.applications``' layer names (``1_conv``, ``1_bn``,
``1_relu``, ``0_conv`` for the projection, ``add``, ``out``), so a block with
id ``conv2_block1`` inside a stage ``conv2`` compiles to Keras layers named
``conv2_block1_1_conv`` ... exactly as ``keras.applications.ResNet50`` names
them.

Shortcuts: ``identity``; ``projection`` (1×1 conv with the block's stride, then
BN in post-activation blocks); ``zero_pad`` (CIFAR "option A": a strided 1×1
max pool, i.e. ``x[:, ::s, ::s]``, then zero channels); ``auto`` (identity when
the shapes already match, else projection). ``zero_pad`` is the identity
where the shape does not change.
"""

from __future__ import annotations

from builder.blocks.composites.base import Sub, SubGraph, composite
from builder.blocks.rules import fmt_shape
from builder.blocks.spec import Param, ShapeIssue

SHORTCUTS = ("auto", "identity", "projection", "zero_pad")

P_FILTERS = Param("filters", "int", 64, "Channels of the 3×3 convolutions (bottleneck: "
                  "of the inner layers; the block outputs filters × expansion).", min=1)
P_STRIDES = Param("strides", "int", 1, "Stride of the block (2 halves H and W).", min=1)
P_SHORTCUT = Param("shortcut", "choice", "auto",
                   "identity, projection (1×1 conv), zero_pad (CIFAR option A) or auto "
                   "(identity when shapes match, else projection).", choices=SHORTCUTS)
P_USE_BIAS = Param("use_bias", "bool", False,
                   "Bias in convolutions followed by BatchNorm (keras.applications: "
                   "true; torchvision and the papers: false).")
P_EPSILON = Param("epsilon", "float", 1e-5, "BatchNorm epsilon (keras.applications: "
                  "1.001e-5).", min=0.0)
P_MOMENTUM = Param("momentum", "float", 0.99, "BatchNorm moving-average momentum.",
                   min=0.0, max=1.0)
P_SE = Param("se_ratio", "int", 0, "Squeeze-and-excitation reduction r before the "
             "addition (SE-ResNet uses 16); 0 leaves SE out.", min=0)
P_SURVIVAL = Param("survival", "float", 1.0, "Stochastic depth: probability the "
                   "residual branch is kept while training; 1 keeps it always.",
                   min=0.0, max=1.0)
P_BN_TRAINABLE = Param("bn_trainable", "bool", True,
                       "Train the BatchNorm layers; false freezes them (γ, β fixed, "
                       "inference statistics), as torchvision's detection backbones do.")
P_EXPANSION = Param("expansion", "int", 4, "Output channels = filters × expansion.",
                    min=1)


def choose_shortcut(p, ins, out_channels: int, kind: str) -> str:
    """Resolves ``auto`` from the input shape: identity iff nothing changes."""
    shortcut = p["shortcut"]
    x = ins[0] if ins else None
    if shortcut == "zero_pad" and p["strides"] == 1 and x is not None and \
            x[-1] == out_channels:
        return "identity"  # option A pads only where the shape changes
    if shortcut != "auto":
        return shortcut
    if x is None or len(x) != 4 or x[-1] is None:
        raise ShapeIssue(
            f"{kind} with shortcut='auto' needs an image input with known channels to "
            f"choose identity or projection. Received: {fmt_shape(x) if x else 'none'}",
            fix="Set shortcut to 'identity' or 'projection'.", field="shortcut")
    return "identity" if p["strides"] == 1 and x[-1] == out_channels else "projection"


def _bn(s, node_id, x, p):
    return s.add(node_id, "BatchNormalization", x, epsilon=p["epsilon"],
                 momentum=p["momentum"], trainable=p.get("bn_trainable", True))


def _relu(s, node_id, x):
    return s.add(node_id, "Activation", x, activation="relu")


def _conv(s, node_id, x, filters, kernel, strides=1, padding="same", use_bias=False,
          groups=1):
    return s.add(node_id, "Conv2D", x, filters=filters, kernel_size=kernel,
                 strides=strides, padding=padding, use_bias=use_bias, groups=groups)


def _zero_pad_shortcut(s, p, out_channels):
    x = "@in"
    if p["strides"] > 1:
        x = s.add("0_pool", "MaxPool2D", x, pool_size=1, strides=p["strides"],
                  padding="same")
    return s.add("0_pad", "ChannelPad", x, channels=out_channels)


def _finish_branch(s, p, x, out_channels):
    """SE and stochastic depth on the residual branch, before the addition."""
    if p.get("se_ratio"):
        x = s.add("se", "SqueezeExcite", x, ratio=p["se_ratio"], channels=out_channels)
    if p.get("survival", 1.0) < 1.0:
        x = s.add("drop_path", "StochasticDepth", x, rate=1.0 - p["survival"])
    return x


def post_activation(p, ins, *, kind, bottleneck, width=None, groups=1,
                    stride_at="1x1") -> SubGraph:
    """The original block: conv-BN-ReLU ... conv-BN, add, ReLU.

    Args:
        p: the block's params (filters, strides, shortcut, use_bias, epsilon,
            momentum, optional se_ratio/survival/expansion).
        ins: input shapes (for ``shortcut='auto'``).
        kind: the block's kind, for messages.
        bottleneck: 1×1-3×3-1×1 instead of two 3×3.
        width: channels of the bottleneck's inner layers (``filters`` if None).
        groups: groups of the 3×3 convolution (ResNeXt's cardinality).
        stride_at: ``"1x1"`` (paper, keras.applications) or ``"3x3"``
            (torchvision's "v1.5") carries the bottleneck's stride.
    """
    s = Sub()
    f, strides, bias = p["filters"], p["strides"], p["use_bias"]
    out_channels = f * p["expansion"] if bottleneck else f
    shortcut = choose_shortcut(p, ins, out_channels, kind)
    if shortcut == "projection":
        sc = _conv(s, "0_conv", "@in", out_channels, 1, strides, "same", bias)
        sc = _bn(s, "0_bn", sc, p)
    elif shortcut == "zero_pad":
        sc = _zero_pad_shortcut(s, p, out_channels)
    else:
        sc = "@in"
    if bottleneck:
        inner = width or f
        s1, s2 = (strides, 1) if stride_at == "1x1" else (1, strides)
        x = _conv(s, "1_conv", "@in", inner, 1, s1, "same", bias)
        x = _relu(s, "1_relu", _bn(s, "1_bn", x, p))
        x = _conv(s, "2_conv", x, inner, 3, s2, "same", bias, groups)
        x = _relu(s, "2_relu", _bn(s, "2_bn", x, p))
        x = _conv(s, "3_conv", x, out_channels, 1, 1, "valid", bias)
        x = _bn(s, "3_bn", x, p)
    else:
        x = _conv(s, "1_conv", "@in", f, 3, strides, "same", bias)
        x = _relu(s, "1_relu", _bn(s, "1_bn", x, p))
        x = _conv(s, "2_conv", x, f, 3, 1, "same", bias)
        x = _bn(s, "2_bn", x, p)
    x = _finish_branch(s, p, x, out_channels)
    x = s.add("add", "Add", [sc, x])
    return s.done(_relu(s, "out", x))


def pre_activation(p, ins, *, kind, bottleneck, dropout=0.0) -> SubGraph:
    """The 2016 block: BN-ReLU-conv ... , add (keras.applications' ResNetV2 form).

    The projection shortcut starts from the pre-activated input; a strided
    identity shortcut is a 1×1 max pool (as keras.applications does). The 3×3
    convolution pads explicitly (``2_pad``), like Keras' ResNetV2.
    """
    s = Sub()
    f, strides, bias = p["filters"], p["strides"], p["use_bias"]
    out_channels = f * p["expansion"] if bottleneck else f
    shortcut = choose_shortcut(p, ins, out_channels, kind)
    pre = _relu(s, "preact_relu", _bn(s, "preact_bn", "@in", p))
    if shortcut == "projection":
        sc = _conv(s, "0_conv", pre, out_channels, 1, strides, "same", p["final_bias"])
    elif shortcut == "zero_pad":
        sc = _zero_pad_shortcut(s, p, out_channels)
    elif strides > 1:
        sc = s.add("0_pool", "MaxPool2D", "@in", pool_size=1, strides=strides,
                   padding="same")
    else:
        sc = "@in"
    if bottleneck:
        x = _conv(s, "1_conv", pre, f, 1, 1, "valid", bias)
        x = _relu(s, "1_relu", _bn(s, "1_bn", x, p))
        x = s.add("2_pad", "ZeroPadding2D", x, padding=1)
        x = _conv(s, "2_conv", x, f, 3, strides, "valid", bias)
        x = _relu(s, "2_relu", _bn(s, "2_bn", x, p))
        x = _conv(s, "3_conv", x, out_channels, 1, 1, "valid", p["final_bias"])
    else:
        x = _conv(s, "1_conv", pre, f, 3, strides, "same", bias)
        x = _relu(s, "1_relu", _bn(s, "1_bn", x, p))
        if dropout > 0:
            x = s.add("dropout", "Dropout", x, rate=dropout)
        x = _conv(s, "2_conv", x, f, 3, 1, "same", p["final_bias"])
    x = _finish_branch(s, p, x, out_channels)
    return s.done(s.add("out", "Add", [sc, x]))


def _stride_label(p):
    return f"/{p['strides']}" if p["strides"] > 1 else ""


RESIDUAL_BASIC = composite(
    "ResidualBasic",
    "Two 3×3 conv-BN layers plus a shortcut, then ReLU (ResNet-18/34, CIFAR ResNets).",
    (P_FILTERS, P_STRIDES, P_SHORTCUT, P_USE_BIAS, P_EPSILON, P_MOMENTUM, P_SE,
     P_SURVIVAL, P_BN_TRAINABLE),
    lambda p, ins: post_activation(p, ins, kind="ResidualBasic", bottleneck=False),
    label=lambda p: f"res3x3-{p['filters']}{_stride_label(p)}",
    uses_shapes=True)

_STRIDE_AT = Param("stride_at", "choice", "1x1",
                   "Which conv strides: the first 1×1 (paper, keras.applications) or the "
                   "3×3 (torchvision, 'ResNet v1.5').", choices=("1x1", "3x3"))

RESIDUAL_BOTTLENECK = composite(
    "ResidualBottleneck",
    "1×1 reduce, 3×3, 1×1 expand (×4), each with BN, plus a shortcut, then ReLU "
    "(ResNet-50/101/152).",
    (P_FILTERS, P_STRIDES, P_SHORTCUT, P_EXPANSION, _STRIDE_AT, P_USE_BIAS, P_EPSILON,
     P_MOMENTUM, P_SE, P_SURVIVAL, P_BN_TRAINABLE),
    lambda p, ins: post_activation(p, ins, kind="ResidualBottleneck", bottleneck=True,
                                   stride_at=p["stride_at"]),
    label=lambda p: f"bottleneck-{p['filters']}x{p['expansion']}{_stride_label(p)}",
    uses_shapes=True)


def _resnext_width(p):
    return (p["filters"] * p["base_width"] // 64) * p["cardinality"]


RESNEXT_BOTTLENECK = composite(
    "ResNeXtBottleneck",
    "Bottleneck whose 3×3 is a grouped convolution of 'cardinality' paths "
    "(ResNeXt; 32×4d: cardinality 32, base_width 4).",
    (P_FILTERS, P_STRIDES, P_SHORTCUT,
     Param("cardinality", "int", 32, "Number of groups (paths) of the 3×3 conv.", min=1),
     Param("base_width", "int", 4, "Channels per path at filters=64; inner width = "
           "filters × base_width / 64 × cardinality.", min=1),
     P_EXPANSION, P_USE_BIAS, P_EPSILON, P_MOMENTUM, P_SE, P_SURVIVAL),
    lambda p, ins: post_activation(p, ins, kind="ResNeXtBottleneck", bottleneck=True,
                                   width=_resnext_width(p), groups=p["cardinality"],
                                   stride_at="3x3"),
    label=lambda p: f"resnext-{p['cardinality']}x{p['base_width']}d-{p['filters']}"
                    f"{_stride_label(p)}",
    uses_shapes=True)

_FINAL_BIAS = Param("final_bias", "bool", True,
                    "Bias in the convolutions not followed by BatchNorm (the last one "
                    "and the projection; keras.applications: true).")

PREACT_BASIC = composite(
    "PreactBasic",
    "Pre-activation block: BN-ReLU-conv3×3 twice plus a shortcut ('Identity "
    "Mappings in Deep Residual Networks', 2016).",
    (P_FILTERS, P_STRIDES, P_SHORTCUT, P_USE_BIAS, _FINAL_BIAS, P_EPSILON, P_MOMENTUM,
     Param("dropout", "float", 0.0, "Dropout between the two convolutions (WRN).",
           min=0.0, max=1.0),
     P_SE, P_SURVIVAL),
    lambda p, ins: pre_activation(p, ins, kind="PreactBasic", bottleneck=False,
                                  dropout=p["dropout"]),
    label=lambda p: f"preact3x3-{p['filters']}{_stride_label(p)}",
    uses_shapes=True)

PREACT_BOTTLENECK = composite(
    "PreactBottleneck",
    "Pre-activation bottleneck: BN-ReLU then 1×1, 3×3, 1×1 (×4) plus a shortcut "
    "(ResNet-50 v2).",
    (P_FILTERS, P_STRIDES, P_SHORTCUT, P_EXPANSION, P_USE_BIAS, _FINAL_BIAS, P_EPSILON,
     P_MOMENTUM, P_SE, P_SURVIVAL),
    lambda p, ins: pre_activation(p, ins, kind="PreactBottleneck", bottleneck=True),
    label=lambda p: f"preact-bottleneck-{p['filters']}x{p['expansion']}"
                    f"{_stride_label(p)}",
    uses_shapes=True)


def _wide(p, ins):
    q = dict(p, filters=p["filters"] * p["width"], final_bias=p["use_bias"])
    return pre_activation(q, ins, kind="WideResidual", bottleneck=False,
                          dropout=p["dropout"])


WIDE_RESIDUAL = composite(
    "WideResidual",
    "Wide ResNet block (Zagoruyko & Komodakis): a pre-activation basic block "
    "'width' times wider, with dropout between its convolutions.",
    (P_FILTERS, Param("width", "int", 10, "k: widening factor.", min=1), P_STRIDES,
     P_SHORTCUT, Param("dropout", "float", 0.3, "Dropout between the convolutions.",
                       min=0.0, max=1.0),
     P_USE_BIAS, P_EPSILON, P_MOMENTUM, P_SURVIVAL),
    _wide,
    label=lambda p: f"wide-{p['filters']}x{p['width']}{_stride_label(p)}",
    uses_shapes=True)

SPECS = (RESIDUAL_BASIC, RESIDUAL_BOTTLENECK, RESNEXT_BOTTLENECK, PREACT_BASIC,
         PREACT_BOTTLENECK, WIDE_RESIDUAL)

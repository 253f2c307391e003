"""Convolutions: Conv2D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose."""

from __future__ import annotations

from fractions import Fraction

from builder.blocks.params import pair, padding_mode
from builder.blocks.rules import (
    ACTIVATIONS,
    expect_rank,
    keras_activation,
    known_channels,
    spatial_out,
)
from builder.blocks.shape_math import deconv_length, effective_kernel
from builder.blocks.spec import BlockSpec, LayerCall, Param, ShapeIssue, WeightSpec


def kernel_label(kernel) -> str:
    """``3`` → ``"3"``, ``[1, 7]`` → ``"1x7"``."""
    kh, kw = pair(kernel)
    return str(kh) if kh == kw else f"{kh}x{kw}"


def stride_label(strides) -> str:
    """``"/2"`` for stride 2, ``""`` for 1."""
    sh, sw = pair(strides)
    if sh == sw == 1:
        return ""
    return f"/{sh}" if sh == sw else f"/{sh}x{sw}"


def _check_stride_dilation(p, kind):
    if max(pair(p["strides"])) > 1 and max(pair(p["dilation_rate"])) > 1:
        raise ShapeIssue(
            f"{kind} cannot combine strides > 1 with dilation_rate > 1 (Keras refuses it). "
            f"Received: strides={p['strides']}, dilation_rate={p['dilation_rate']}",
            fix="Set strides to 1 or dilation_rate to 1.", field="strides")


def spatial_shape(p, x, kind, notes):
    """(H2, W2) of a conv-like layer with params kernel_size/strides/padding/dilation."""
    kh, kw = pair(p["kernel_size"])
    sh, sw = pair(p["strides"])
    dh, dw = pair(p.get("dilation_rate", 1))
    mode, explicit = padding_mode(p["padding"])
    ph, pw = explicit if explicit else (mode, mode)
    if (x[1], kh, sh, ph, dh) == (x[2], kw, sw, pw, dw):
        # Square case: one computation, one message for both axes.
        h = spatial_out(x[1], kh, sh, ph, dh, "height and width", kind, notes)
        return h, h
    h = spatial_out(x[1], kh, sh, ph, dh, "height", kind, notes)
    w = spatial_out(x[2], kw, sw, pw, dw, "width", kind, notes)
    return h, w


def conv_receptive(p):
    """Kernel extent (dilation included) and stride, per spatial axis."""
    kh, kw = pair(p["kernel_size"])
    dh, dw = pair(p.get("dilation_rate", 1))
    return ((dh * (kh - 1) + 1, dw * (kw - 1) + 1), pair(p["strides"]))


def conv_layers(p, class_name, kwargs):
    """The layer calls of a conv node: a ZeroPadding2D first when P is explicit."""
    mode, explicit = padding_mode(p["padding"])
    kwargs["padding"] = mode
    calls = []
    if explicit is not None:
        calls.append(LayerCall("ZeroPadding2D", {"padding": explicit}, suffix="_pad"))
    calls.append(LayerCall(class_name, kwargs))
    return calls


_KERNEL = Param("kernel_size", "int_or_pair", 3, "F: kernel height and width.", min=1)
_STRIDES = Param("strides", "int_or_pair", 1, "S: step between kernel positions.", min=1)
_PADDING = Param("padding", "padding", "same",
                 "'same' keeps H×W at stride 1, 'valid' adds none, or an explicit "
                 "zero-padding P (or [Ph, Pw]).", min=0)
_DILATION = Param("dilation_rate", "int_or_pair", 1,
                  "Spacing between kernel taps (atrous convolution).", min=1)
_USE_BIAS = Param("use_bias", "bool", True, "Add a learned bias per output channel.")
_ACTIVATION = Param("activation", "choice", "linear",
                    "Activation applied to the output.", choices=ACTIVATIONS)


# -- Conv2D -------------------------------------------------------------------

def _conv2d_shape(p, ins, notes):
    x = expect_rank(ins[0], 4, "Conv2D")
    c = known_channels(x, "Conv2D")
    _check_stride_dilation(p, "Conv2D")
    groups, filters = p["groups"], p["filters"]
    if c % groups or filters % groups:
        raise ShapeIssue(
            f"Conv2D with groups={groups} needs input channels and filters divisible "
            f"by {groups}. Received: {c} input channels, filters={filters}",
            fix=f"Choose groups that divides both {c} and {filters}.", field="groups")
    h, w = spatial_shape(p, x, "Conv2D", notes)
    return [(x[0], h, w, filters)]


def _conv2d_weights(p, ins, outs):
    kh, kw = pair(p["kernel_size"])
    c = ins[0][-1]
    weights = [WeightSpec("kernel", (kh, kw, c // p["groups"], p["filters"]))]
    if p["use_bias"]:
        weights.append(WeightSpec("bias", (p["filters"],)))
    return weights


def _conv2d_flops(p, ins, outs):
    _, h, w, k = outs[0]
    if h is None or w is None:
        return 0
    kh, kw = pair(p["kernel_size"])
    return h * w * k * kh * kw * (ins[0][-1] // p["groups"])


CONV2D = BlockSpec(
    kind="Conv2D",
    category="Convolution",
    doc="K filters of F×F×D slide over the input with stride S: "
        "W2 = (W1 - F + 2P)/S + 1, D2 = K.",
    params=(
        Param("filters", "int", 64, "K: number of filters (output channels).", min=1),
        _KERNEL, _STRIDES, _PADDING, _DILATION,
        Param("groups", "int", 1,
              "Split channels into groups convolved separately (ResNeXt's cardinality).",
              min=1),
        _USE_BIAS, _ACTIVATION,
    ),
    shape=_conv2d_shape,
    weights=_conv2d_weights,
    flops=_conv2d_flops,
    receptive=conv_receptive,
    keras=lambda p: conv_layers(p, "Conv2D", {
        "filters": p["filters"],
        "kernel_size": pair(p["kernel_size"]),
        "strides": pair(p["strides"]),
        "dilation_rate": pair(p["dilation_rate"]),
        "groups": p["groups"],
        "use_bias": p["use_bias"],
        "activation": keras_activation(p["activation"]),
    }),
    label=lambda p: f"conv{kernel_label(p['kernel_size'])}-{p['filters']}"
                    f"{stride_label(p['strides'])}",
)



# -- DepthwiseConv2D ----------------------------------------------------------

_DEPTH_MULTIPLIER = Param("depth_multiplier", "int", 1,
                          "Filters per input channel; output channels = D × multiplier.",
                          min=1)


def _depthwise_shape(p, ins, notes):
    # No stride/dilation check here: unlike Conv2D, Keras 3 accepts strides > 1
    # with dilation_rate > 1 for depthwise and separable convolutions (the
    # TensorFlow backend decomposes the op; JAX and PyTorch support it natively).
    x = expect_rank(ins[0], 4, "DepthwiseConv2D")
    c = known_channels(x, "DepthwiseConv2D")
    h, w = spatial_shape(p, x, "DepthwiseConv2D", notes)
    return [(x[0], h, w, c * p["depth_multiplier"])]


def _depthwise_weights(p, ins, outs):
    kh, kw = pair(p["kernel_size"])
    c, m = ins[0][-1], p["depth_multiplier"]
    # Keras 3 names the depthwise kernel "kernel" (Keras 2 said "depthwise_kernel").
    weights = [WeightSpec("kernel", (kh, kw, c, m))]
    if p["use_bias"]:
        weights.append(WeightSpec("bias", (c * m,)))
    return weights


def _depthwise_flops(p, ins, outs):
    # Each output channel sees one input channel: F·F MACs per output element.
    _, h, w, k = outs[0]
    if h is None or w is None:
        return 0
    kh, kw = pair(p["kernel_size"])
    return h * w * k * kh * kw


DEPTHWISE_CONV2D = BlockSpec(
    kind="DepthwiseConv2D",
    category="Convolution",
    doc="One F×F filter per input channel (no mixing across channels); "
        "MobileNet's spatial step.",
    params=(_KERNEL, _STRIDES, _PADDING, _DEPTH_MULTIPLIER, _DILATION, _USE_BIAS,
            _ACTIVATION),
    shape=_depthwise_shape,
    weights=_depthwise_weights,
    flops=_depthwise_flops,
    receptive=conv_receptive,
    keras=lambda p: conv_layers(p, "DepthwiseConv2D", {
        "kernel_size": pair(p["kernel_size"]),
        "strides": pair(p["strides"]),
        "depth_multiplier": p["depth_multiplier"],
        "dilation_rate": pair(p["dilation_rate"]),
        "use_bias": p["use_bias"],
        "activation": keras_activation(p["activation"]),
    }),
    label=lambda p: f"dwconv{kernel_label(p['kernel_size'])}"
                    f"{'' if p['depth_multiplier'] == 1 else 'x' + str(p['depth_multiplier'])}"
                    f"{stride_label(p['strides'])}",
)


# -- SeparableConv2D ----------------------------------------------------------

def _separable_shape(p, ins, notes):
    x = expect_rank(ins[0], 4, "SeparableConv2D")
    known_channels(x, "SeparableConv2D")
    h, w = spatial_shape(p, x, "SeparableConv2D", notes)
    return [(x[0], h, w, p["filters"])]


def _separable_weights(p, ins, outs):
    kh, kw = pair(p["kernel_size"])
    c, m = ins[0][-1], p["depth_multiplier"]
    weights = [WeightSpec("depthwise_kernel", (kh, kw, c, m)),
               WeightSpec("pointwise_kernel", (1, 1, c * m, p["filters"]))]
    if p["use_bias"]:
        weights.append(WeightSpec("bias", (p["filters"],)))
    return weights


def _separable_flops(p, ins, outs):
    # Depthwise F·F per intermediate element, then a 1×1 conv over D·multiplier.
    _, h, w, k = outs[0]
    if h is None or w is None:
        return 0
    kh, kw = pair(p["kernel_size"])
    mid = ins[0][-1] * p["depth_multiplier"]
    return h * w * mid * (kh * kw + k)


SEPARABLE_CONV2D = BlockSpec(
    kind="SeparableConv2D",
    category="Convolution",
    doc="A depthwise F×F convolution followed by a 1×1 pointwise one (Xception); "
        "far fewer weights than Conv2D.",
    params=(
        Param("filters", "int", 64, "K: number of output channels.", min=1),
        _KERNEL, _STRIDES, _PADDING, _DEPTH_MULTIPLIER, _DILATION, _USE_BIAS,
        _ACTIVATION,
    ),
    shape=_separable_shape,
    weights=_separable_weights,
    flops=_separable_flops,
    receptive=conv_receptive,
    keras=lambda p: conv_layers(p, "SeparableConv2D", {
        "filters": p["filters"],
        "kernel_size": pair(p["kernel_size"]),
        "strides": pair(p["strides"]),
        "depth_multiplier": p["depth_multiplier"],
        "dilation_rate": pair(p["dilation_rate"]),
        "use_bias": p["use_bias"],
        "activation": keras_activation(p["activation"]),
    }),
    label=lambda p: f"sepconv{kernel_label(p['kernel_size'])}-{p['filters']}"
                    f"{stride_label(p['strides'])}",
)


# -- Conv2DTranspose ----------------------------------------------------------

def _transpose_shape(p, ins, notes):
    x = expect_rank(ins[0], 4, "Conv2DTranspose")
    known_channels(x, "Conv2DTranspose")
    _check_stride_dilation(p, "Conv2DTranspose")
    strides = pair(p["strides"])
    out_pad = p["output_padding"]
    out_pad = (None, None) if out_pad is None else pair(out_pad)
    for axis, op, s in zip(("height", "width"), out_pad, strides):
        if op is not None and op >= s:
            raise ShapeIssue(
                f"Conv2DTranspose needs output_padding smaller than the stride on "
                f"every axis. Received: {axis} output_padding={op}, strides={s}",
                fix=f"Use output_padding ≤ {s - 1}, or leave it unset.",
                field="output_padding")
    kernel, dilation = pair(p["kernel_size"]), pair(p["dilation_rate"])
    sizes = []
    for axis, n, k, s, op, d in zip(("height", "width"), x[1:3], kernel, strides,
                                    out_pad, dilation):
        out = deconv_length(n, k, s, p["padding"], op, d)
        if out is not None and out <= 0:
            # Keras would report a size of 0; nothing can run on it.
            raise ShapeIssue(
                f"Conv2DTranspose output {axis} would be {out}: (W - 1)·S + F mod 2 + "
                f"output_padding = ({n} - 1)·{s} + {effective_kernel(k, d) % 2} + {op}. "
                f"Received: {axis} {n}, F={k}, S={s}",
                fix="Use padding='valid', an odd kernel, or output_padding ≥ 1.",
                field="output_padding")
        sizes.append(out)
    return [(x[0], sizes[0], sizes[1], p["filters"])]


def _transpose_weights(p, ins, outs):
    kh, kw = pair(p["kernel_size"])
    # Keras stores the kernel as (F, F, filters, input channels): the transpose
    # of the forward convolution it undoes.
    weights = [WeightSpec("kernel", (kh, kw, p["filters"], ins[0][-1]))]
    if p["use_bias"]:
        weights.append(WeightSpec("bias", (p["filters"],)))
    return weights


def _transpose_flops(p, ins, outs):
    # Every input element is scattered through an F×F×K kernel.
    _, h, w, c = ins[0]
    if h is None or w is None:
        return 0
    kh, kw = pair(p["kernel_size"])
    return h * w * c * kh * kw * p["filters"]


def _transpose_receptive(p):
    # An output pixel sees at most ceil(F_eff / S) input pixels per axis, and
    # neighbouring outputs are 1/S input pixels apart (the jump shrinks).
    extents, steps = [], []
    for k, d, s in zip(pair(p["kernel_size"]), pair(p["dilation_rate"]),
                       pair(p["strides"])):
        extents.append(-(-effective_kernel(k, d) // s))
        steps.append(1 if s == 1 else Fraction(1, s))
    return tuple(extents), tuple(steps)


CONV2D_TRANSPOSE = BlockSpec(
    kind="Conv2DTranspose",
    category="Convolution",
    doc="Learnable up-sampling (\"deconvolution\"): W2 = (W1 - 1)·S + F for 'valid', "
        "W1·S for 'same'.",
    params=(
        Param("filters", "int", 64, "K: number of output channels.", min=1),
        _KERNEL, _STRIDES,
        Param("padding", "choice", "same",
              "'same' gives W·S, 'valid' gives (W - 1)·S + F.", choices=("valid", "same")),
        Param("output_padding", "int_or_pair", None,
              "Extra rows/columns on one side of the output (< strides); unset lets "
              "Keras infer it.", min=0, optional=True),
        _DILATION, _USE_BIAS, _ACTIVATION,
    ),
    shape=_transpose_shape,
    weights=_transpose_weights,
    flops=_transpose_flops,
    receptive=_transpose_receptive,
    keras=lambda p: [LayerCall("Conv2DTranspose", {
        "filters": p["filters"],
        "kernel_size": pair(p["kernel_size"]),
        "strides": pair(p["strides"]),
        "padding": p["padding"],
        "output_padding": None if p["output_padding"] is None else pair(p["output_padding"]),
        "dilation_rate": pair(p["dilation_rate"]),
        "use_bias": p["use_bias"],
        "activation": keras_activation(p["activation"]),
    })],
    label=lambda p: f"deconv{kernel_label(p['kernel_size'])}-{p['filters']}"
                    f"{stride_label(p['strides'])}",
)

SPECS = (CONV2D, DEPTHWISE_CONV2D, SEPARABLE_CONV2D, CONV2D_TRANSPOSE)

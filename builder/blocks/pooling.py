"""Pooling: MaxPool2D, AvgPool2D (the lecture's POOL) and their global forms.

Pooling has no weights and, by the catalogue's convention, no multiply-adds:
max pooling only compares and average pooling only adds (its one division per
output is not counted).
"""

from __future__ import annotations

from builder.blocks.conv import kernel_label, stride_label
from builder.blocks.params import pair
from builder.blocks.rules import expect_rank, spatial_out
from builder.blocks.spec import BlockSpec, LayerCall, Param


def pool_strides(p) -> tuple[int, int]:
    """The pooling stride: ``strides``, or the pool size when unset (Keras' rule)."""
    return pair(p["pool_size"] if p["strides"] is None else p["strides"])


def _pool_shape(kind):
    def rule(p, ins, notes):
        x = expect_rank(ins[0], 4, kind)
        (kh, kw), (sh, sw) = pair(p["pool_size"]), pool_strides(p)
        mode = p["padding"]
        if (x[1], kh, sh) == (x[2], kw, sw):
            # Square case: one computation, one message for both axes.
            h = w = spatial_out(x[1], kh, sh, mode, 1, "height and width", kind, notes,
                                field="pool_size", explicit_ok=False)
        else:
            h = spatial_out(x[1], kh, sh, mode, 1, "height", kind, notes,
                            field="pool_size", explicit_ok=False)
            w = spatial_out(x[2], kw, sw, mode, 1, "width", kind, notes,
                            field="pool_size", explicit_ok=False)
        return [(x[0], h, w, x[3])]
    return rule


def _pool_receptive(p):
    return pair(p["pool_size"]), pool_strides(p)


def _pool_label(name):
    def label(p):
        # The lecture's plain "maxpool" is 2×2 with stride 2; anything else says so.
        size, strides = pair(p["pool_size"]), pool_strides(p)
        if size == strides == (2, 2):
            return name
        return f"{name}{kernel_label(p['pool_size'])}{stride_label(list(strides))}"
    return label


_POOL_PARAMS = (
    Param("pool_size", "int_or_pair", 2, "F: window height and width.", min=1),
    Param("strides", "int_or_pair", None,
          "S: step between windows; unset means S = F (non-overlapping).",
          min=1, optional=True),
    Param("padding", "choice", "valid",
          "'valid' drops incomplete windows, 'same' gives ceil(W/S).",
          choices=("valid", "same")),
)


def _pool_keras(class_name):
    return lambda p: [LayerCall(class_name, {
        "pool_size": pair(p["pool_size"]),
        "strides": None if p["strides"] is None else pair(p["strides"]),
        "padding": p["padding"],
    })]


MAX_POOL2D = BlockSpec(
    kind="MaxPool2D",
    category="Pooling",
    doc="Keeps the largest value of each F×F window: W2 = (W1 - F)/S + 1, depth unchanged.",
    params=_POOL_PARAMS,
    shape=_pool_shape("MaxPool2D"),
    receptive=_pool_receptive,
    # Keras' canonical class names, so configs of imported .keras files match.
    keras=_pool_keras("MaxPooling2D"),
    label=_pool_label("maxpool"),
)

AVG_POOL2D = BlockSpec(
    kind="AvgPool2D",
    category="Pooling",
    doc="Averages each F×F window: W2 = (W1 - F)/S + 1, depth unchanged.",
    params=_POOL_PARAMS,
    shape=_pool_shape("AvgPool2D"),
    receptive=_pool_receptive,
    keras=_pool_keras("AveragePooling2D"),
    label=_pool_label("avgpool"),
)


# -- global pooling -----------------------------------------------------------

def _global_shape(kind):
    def rule(p, ins, notes):
        x = expect_rank(ins[0], 4, kind)
        return [(x[0], 1, 1, x[3]) if p["keepdims"] else (x[0], x[3])]
    return rule


_KEEPDIMS = Param("keepdims", "bool", False,
                  "Keep a 1×1 spatial grid (output (1, 1, C)) instead of a vector (C,).")

GLOBAL_AVG_POOL2D = BlockSpec(
    kind="GlobalAvgPool2D",
    category="Pooling",
    doc="Averages each channel over the whole H×W grid: (H, W, C) → (C,). "
        "Replaces Flatten + FC in GoogLeNet and ResNet.",
    params=(_KEEPDIMS,),
    shape=_global_shape("GlobalAvgPool2D"),
    receptive=lambda p: "global",
    keras=lambda p: [LayerCall("GlobalAveragePooling2D", {"keepdims": p["keepdims"]})],
    label=lambda p: "global avgpool",
)

GLOBAL_MAX_POOL2D = BlockSpec(
    kind="GlobalMaxPool2D",
    category="Pooling",
    doc="Keeps each channel's largest value over the whole H×W grid: (H, W, C) → (C,).",
    params=(_KEEPDIMS,),
    shape=_global_shape("GlobalMaxPool2D"),
    receptive=lambda p: "global",
    keras=lambda p: [LayerCall("GlobalMaxPooling2D", {"keepdims": p["keepdims"]})],
    label=lambda p: "global maxpool",
)

SPECS = (MAX_POOL2D, AVG_POOL2D, GLOBAL_AVG_POOL2D, GLOBAL_MAX_POOL2D)

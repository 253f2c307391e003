"""Random valid networks: the analysis, to_keras and to_source agree on every node.

A strategy draws DAGs the way people draw networks: an Input of a small random
H×W×C, then stages (plain chains of conv / pooling / normalisation / activation
layers with random parameters that keep every size positive, residual blocks
with a projection when the shape changes, inception-like Concatenates, SE-like
Multiplies), then one to three heads, each global pooling or Flatten → Dense →
Output, some hanging off the middle of the trunk. For every node, the shapes and
trainable / non-trainable counts of the analysis must equal the Keras layer's,
and the script from ``to_source`` must build the same layers.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.analysis import analyze
from builder.blocks.shape_math import conv_length, deconv_length
from builder.compile import to_keras, to_source
from builder.core import Graph

from .oracle import assert_matches_analysis, assert_same_models, exec_source

# Labels a person might type: spaces, slashes, keywords, clashes with each other
# and with generated ids. None keeps the node's id.
LABELS = st.one_of(st.none(), st.none(), st.none(),
                   st.sampled_from(["block", "conv 1", "x/y", "class", "Dense", "x",
                                    "input", "conv2d_1", "1x1", "proj_pad"]))
ACTIVATIONS = st.sampled_from(["linear", "relu", "sigmoid", "tanh", "gelu"])


class Builder:
    """Adds nodes to a graph while tracking the (h, w, c) each one produces."""

    def __init__(self, draw):
        self.draw = draw
        self.graph = Graph()

    def node(self, kind, src, params=None) -> str:
        nid = self.graph.add_node(kind, params or {}, name=self.draw(LABELS)).id
        for s in [src] if isinstance(src, str) else (src or []):
            self.graph.connect(s, nid)
        return nid


def _out(size, kernel, stride, padding, dilation=1):
    return conv_length(size, kernel, stride, padding, dilation)


def _below(size, n):
    """Whether a known size is below ``n`` (an unknown one may be anything)."""
    return size is not None and size < n


def _plus(size, n):
    return None if size is None else size + n


def _times(size, n):
    return None if size is None else size * n


def _kernel(draw):
    return draw(st.one_of(st.integers(1, 3), st.lists(st.integers(1, 3), min_size=2,
                                                      max_size=2)))


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv(b, x, shape, *, filters=None, same_stride=None):
    """A Conv2D (or, sometimes, a depthwise / separable one) that fits ``shape``."""
    draw = b.draw
    h, w, c = shape
    kind = draw(st.sampled_from(["Conv2D"] * 4 + ["DepthwiseConv2D", "SeparableConv2D"]))
    kernel = _kernel(draw)
    if same_stride is not None:  # a branch of a merge: keep sizes predictable
        strides, padding, dilation = same_stride, "same", 1
    else:
        strides = draw(st.sampled_from([1, 1, 2, [1, 2]]))
        padding = draw(st.sampled_from(["same", "valid", 0, 1, [1, 0]]))
        dilation = 2 if _pair(strides) == (1, 1) and draw(st.integers(0, 4)) == 0 else 1
    (kh, kw), (sh, sw) = _pair(kernel), _pair(strides)
    pads = (padding, padding) if isinstance(padding, (str, int)) else tuple(padding)
    oh = _out(h, kh, sh, pads[0], dilation)
    ow = _out(w, kw, sw, pads[1], dilation)
    if _below(oh, 1) or _below(ow, 1):
        padding, oh, ow = "same", _out(h, kh, sh, "same"), _out(w, kw, sw, "same")
    params = {"kernel_size": kernel, "strides": strides, "padding": padding,
              "dilation_rate": dilation, "use_bias": draw(st.booleans()),
              "activation": draw(ACTIVATIONS)}
    if kind == "DepthwiseConv2D":
        params["depth_multiplier"] = draw(st.integers(1, 2))
        out_c = c * params["depth_multiplier"]
    else:
        out_c = filters or draw(st.integers(1, 8))
        params["filters"] = out_c
        if kind == "SeparableConv2D":
            params["depth_multiplier"] = draw(st.integers(1, 2))
        elif c % 2 == 0 and out_c % 2 == 0 and draw(st.integers(0, 3)) == 0:
            params["groups"] = 2
    if filters is not None and kind == "DepthwiseConv2D" and out_c != filters:
        return conv(b, x, shape, filters=filters, same_stride=same_stride)
    return b.node(kind, x, params), (oh, ow, out_c)


def pool(b, x, shape):
    draw = b.draw
    h, w, c = shape
    size = draw(st.integers(1, 3))
    strides = draw(st.sampled_from([None, 1, 2]))
    padding = draw(st.sampled_from(["valid", "same"]))
    stride = strides or size
    if padding == "valid" and (_below(h, size) or _below(w, size)):
        padding = "same"
    kind = draw(st.sampled_from(["MaxPool2D", "AvgPool2D"]))
    nid = b.node(kind, x, {"pool_size": size, "strides": strides, "padding": padding})
    return nid, (_out(h, size, stride, padding), _out(w, size, stride, padding), c)


def elementwise(b, x, shape):
    """A layer that keeps the shape: normalisation, activation, dropout, LRN."""
    draw = b.draw
    kind = draw(st.sampled_from(["BatchNormalization", "BatchNormalization", "ReLU",
                                 "Activation", "LeakyReLU", "LRN", "Dropout",
                                 "SpatialDropout2D", "LayerNormalization"]))
    params = {}
    if kind in ("BatchNormalization", "LayerNormalization"):
        params = {"center": draw(st.booleans()), "scale": draw(st.booleans())}
    elif kind == "ReLU":
        params = {"max_value": draw(st.sampled_from([None, 6.0]))}
    elif kind == "Activation":
        params = {"activation": draw(ACTIVATIONS)}
    elif kind == "LRN":
        params = {"depth_radius": draw(st.integers(0, 3))}
    elif kind in ("Dropout", "SpatialDropout2D"):
        params = {"rate": draw(st.sampled_from([0.1, 0.5]))}
    return b.node(kind, x, params), shape


def resize(b, x, shape):
    """ZeroPadding2D, UpSampling2D or a transposed convolution (kept small)."""
    draw = b.draw
    h, w, c = shape
    kind = draw(st.sampled_from(["ZeroPadding2D", "UpSampling2D", "Conv2DTranspose"]))
    big = h is not None and w is not None and h * w > 200
    if kind == "ZeroPadding2D" or big:
        p = draw(st.integers(1, 2))
        return b.node("ZeroPadding2D", x, {"padding": p}), (_plus(h, 2 * p),
                                                             _plus(w, 2 * p), c)
    if kind == "UpSampling2D":
        return b.node("UpSampling2D", x, {"size": 2}), (_times(h, 2), _times(w, 2), c)
    k, s = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["same", "valid"]))
    filters = draw(st.integers(1, 6))
    nid = b.node("Conv2DTranspose", x, {"filters": filters, "kernel_size": k,
                                        "strides": s, "padding": padding})
    return nid, (deconv_length(h, k, s, padding), deconv_length(w, k, s, padding), filters)


def chain(b, x, shape):
    for _ in range(b.draw(st.integers(1, 3))):
        step = b.draw(st.sampled_from([conv, conv, pool, elementwise, elementwise, resize]))
        x, shape = step(b, x, shape)
    return x, shape


def residual(b, x, shape):
    """A basic block; a 1x1 projection on the shortcut when the shape changes."""
    draw = b.draw
    h, w, c = shape
    stride = draw(st.sampled_from([1, 1, 2]))
    k = draw(st.sampled_from([c, c, 4, 8]))
    y, out = conv(b, x, shape, filters=k, same_stride=stride)
    if draw(st.booleans()):
        y, out = elementwise(b, y, out)
    if draw(st.booleans()):
        y, out = conv(b, y, out, filters=k, same_stride=1)
    shortcut = x
    if stride != 1 or k != c:
        shortcut = b.node("Conv2D", x, {"filters": k, "kernel_size": 1, "strides": stride,
                                        "padding": draw(st.sampled_from(["same", "valid"])),
                                        "use_bias": draw(st.booleans())})
    merged = b.node("Add", [y, shortcut] if draw(st.booleans()) else [shortcut, y])
    return merged, out


def concat(b, x, shape):
    """Two or three stride-1 branches, maybe the input itself, concatenated."""
    draw = b.draw
    h, w, c = shape
    branches, channels = [], 0
    for i in range(draw(st.integers(2, 3))):
        kind = draw(st.sampled_from(["conv", "conv", "pool", "identity"]))
        if kind == "identity" and x not in branches:
            branches.append(x)
            channels += c
            continue
        if kind == "pool":
            y = b.node("MaxPool2D", x, {"pool_size": 3, "strides": 1, "padding": "same"})
            y_shape = shape
        else:
            y, y_shape = conv(b, x, shape, filters=draw(st.integers(1, 6)), same_stride=1)
        if draw(st.booleans()):
            y, y_shape = conv(b, y, y_shape, filters=draw(st.integers(1, 6)), same_stride=1)
        branches.append(y)
        channels += y_shape[2]
    if len(branches) < 2:
        branches.append(b.node("ReLU", x))
        channels += c
    return b.node("Concatenate", branches), (h, w, channels)


def squeeze_excite(b, x, shape):
    """SE gating: x · sigmoid(FC(FC(GAP(x)))), broadcast over height and width."""
    c = shape[2]
    g = b.node("GlobalAvgPool2D", x, {"keepdims": True})
    g = b.node("Dense", g, {"units": max(1, c // 2), "activation": "relu"})
    g = b.node("Dense", g, {"units": c, "activation": "sigmoid"})
    return b.node("Multiply", [x, g]), shape


def head(b, x, shape):
    draw = b.draw
    kinds = ["GlobalAvgPool2D", "GlobalMaxPool2D"]
    if None not in shape:  # Dense needs a known width after Flatten
        kinds.append("Flatten")
    kind = draw(st.sampled_from(kinds))
    y = b.node(kind, x)
    if draw(st.booleans()):
        y = b.node("Dropout", y, {"rate": 0.3})
    y = b.node("Dense", y, {"units": draw(st.integers(1, 6)),
                            "activation": draw(st.sampled_from(["softmax", "linear"]))})
    b.node("Output", y)


@st.composite
def networks(draw) -> Graph:
    b = Builder(draw)
    shape = (draw(st.integers(4, 20)), draw(st.integers(4, 20)), draw(st.integers(1, 4)))
    if draw(st.integers(0, 5)) == 0:  # any image size, as fully convolutional nets take
        shape = (None, None, shape[2])
    x = b.node("Input", None, {"shape": list(shape)})
    trunk = []
    for _ in range(draw(st.integers(1, 4))):
        stage = draw(st.sampled_from([chain, chain, residual, concat, squeeze_excite]))
        x, shape = stage(b, x, shape)
        trunk.append((x, shape))
    heads = draw(st.integers(1, 3))
    for tap in [trunk[-1]] + [draw(st.sampled_from(trunk)) for _ in range(heads - 1)]:
        head(b, *tap)
    return b.graph


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(networks())
def test_analysis_keras_and_source_agree_on_every_node(g):
    a = analyze(g)
    assert a.ok, "\n".join(str(d) for d in a.errors)
    model = to_keras(g)
    assert_matches_analysis(g, model)
    rebuilt = exec_source(to_source(g))["build_model"]()
    assert_same_models(model, rebuilt)

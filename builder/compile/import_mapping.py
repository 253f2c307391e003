"""Keras layer configs → catalogue kinds and params (the inverse of each spec's
``keras`` mapping), as plain data: nothing here imports Keras.

Each converter reads one layer's ``config`` (as ``get_config()`` or a ``.keras``
file's ``config.json`` gives it) and returns ``(kind, params)``. Options that
would change shapes, weights or arithmetic and that the catalogue cannot hold
raise :class:`Unsupported` with the reason; options that only concern training
(initializers, which live with the weights) are dropped silently, and
regularizers, constraints and frozen layers are dropped with a warning, since a
project records the architecture only.

A key a converter does not know is a problem too, unless its value is ``None``,
``False`` or empty: a newer Keras option must not be dropped silently.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from builder.blocks import CATALOG

#: Keys every layer config may carry that say nothing about the architecture.
_IGNORED = frozenset({"name", "dtype", "autocast", "input_dim", "input_length"})

#: Keys dropped with a warning when set: they shape training, not the network.
_TRAINING_ONLY_SUFFIXES = ("_regularizer", "_constraint")


class Unsupported(Exception):
    """A layer config the catalogue cannot represent; the message says why."""


class _Reader:
    """Reads a layer config, remembering which keys were looked at."""

    def __init__(self, config: dict[str, Any], input_shapes: Sequence[tuple] | None,
                 warnings: list[str], where: str):
        self.config = config
        self.input_shapes = input_shapes
        self.warnings = warnings
        self.where = where
        self.seen: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return self.config.get(key, default)

    def expect(self, key: str, allowed: Sequence[Any], default: Any = None) -> Any:
        """The value of ``key``, which must be one of ``allowed``."""
        value = _plain(self.get(key, default))
        if value not in allowed:
            shown = ", ".join(repr(a) for a in allowed)
            raise Unsupported(f"{key} must be {shown}. Received: {key}={value!r}")
        return value

    def channels_last(self) -> None:
        self.expect("data_format", (None, "channels_last"))

    def rank(self) -> int | None:
        """Rank (batch included) of the first input, if the config tells it."""
        if self.input_shapes:
            return len(self.input_shapes[0])
        return None

    def last_axis(self, key: str = "axis", default: Any = -1) -> None:
        """Requires ``key`` to name the last axis only (-1, or rank - 1)."""
        value = _plain(self.get(key, default))
        axes = list(value) if isinstance(value, (list, tuple)) else [value]
        rank = self.rank()
        ok = len(axes) == 1 and isinstance(axes[0], int) and not isinstance(axes[0], bool) \
            and (axes[0] == -1 or (rank is not None and axes[0] == rank - 1))
        if not ok:
            raise Unsupported(
                f"only the last axis (channels) is supported for {key}. "
                f"Received: {key}={value!r}" + (f" on a rank-{rank} input" if rank else ""))

    def finish(self) -> None:
        """Raises for keys no converter read; warns for training-only settings."""
        for key, value in self.config.items():
            if key in self.seen or key in _IGNORED or "initializer" in key:
                continue
            if key == "trainable":
                if value is False:
                    self.warnings.append(
                        f"{self.where} is frozen (trainable=False); a project does not "
                        f"record frozen layers, so its weights count as trainable.")
                continue
            if key.endswith(_TRAINING_ONLY_SUFFIXES):
                if value is not None:
                    self.warnings.append(f"{self.where}: {key} dropped (a project holds "
                                         f"the architecture only).")
                continue
            if value is None or value is False or value == {} or value == []:
                continue
            raise Unsupported(f"option {key}={_plain(value)!r} is not supported")


def _plain(value: Any) -> Any:
    """Tuples → lists, recursively, so JSON and ``get_config()`` compare alike."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _int_or_pair(value: Any) -> Any:
    """``[3, 3]`` → ``3``; ``[1, 7]`` stays a pair; ``3`` stays ``3``."""
    value = _plain(value)
    if isinstance(value, list):
        if len(value) != 2 or not all(isinstance(v, int) for v in value):
            raise Unsupported(f"expected an int or a pair. Received: {value!r}")
        return value[0] if value[0] == value[1] else value
    return value


def _activation(r: _Reader, key: str = "activation") -> str:
    value = r.get(key, "linear")
    if value is None:
        return "linear"
    if not isinstance(value, str):
        raise Unsupported(f"a custom {key} function cannot be represented. "
                          f"Received: {key}={value!r}")
    choices = CATALOG.get("Activation").param("activation").choices
    if value not in choices:
        raise Unsupported(f"{key} must be one of {', '.join(choices)}. "
                          f"Received: {key}={value!r}")
    return value


def _padding(r: _Reader) -> str:
    return r.expect("padding", ("valid", "same"), "valid")


def _conv_common(r: _Reader) -> dict[str, Any]:
    r.channels_last()
    return {
        "kernel_size": _int_or_pair(r.get("kernel_size")),
        "strides": _int_or_pair(r.get("strides", 1)),
        "padding": _padding(r),
        "dilation_rate": _int_or_pair(r.get("dilation_rate", 1)),
        "use_bias": bool(r.get("use_bias", True)),
        "activation": _activation(r),
    }


def _conv2d(r):
    return "Conv2D", {"filters": r.get("filters"), "groups": r.get("groups", 1),
                      **_conv_common(r)}


def _depthwise(r):
    return "DepthwiseConv2D", {"depth_multiplier": r.get("depth_multiplier", 1),
                               **_conv_common(r)}


def _separable(r):
    return "SeparableConv2D", {"filters": r.get("filters"),
                               "depth_multiplier": r.get("depth_multiplier", 1),
                               **_conv_common(r)}


def _transpose(r):
    out_pad = r.get("output_padding")
    return "Conv2DTranspose", {"filters": r.get("filters"),
                               "output_padding": None if out_pad is None
                               else _int_or_pair(out_pad),
                               **_conv_common(r)}


def _pool(kind):
    def convert(r):
        r.channels_last()
        strides = r.get("strides")
        pool_size = _int_or_pair(r.get("pool_size", 2))
        strides = None if strides is None else _int_or_pair(strides)
        return kind, {"pool_size": pool_size,
                      # Keras fills strides with the pool size; so does "unset".
                      "strides": None if strides == pool_size else strides,
                      "padding": _padding(r)}
    return convert


def _global_pool(kind):
    def convert(r):
        r.channels_last()
        return kind, {"keepdims": bool(r.get("keepdims", False))}
    return convert


def _dense(r):
    if r.get("lora_rank"):
        raise Unsupported(f"LoRA (lora_rank={r.get('lora_rank')}) is not supported")
    r.get("lora_alpha")
    return "Dense", {"units": r.get("units"), "use_bias": bool(r.get("use_bias", True)),
                     "activation": _activation(r)}


def _flatten(r):
    r.channels_last()
    return "Flatten", {}


def _reshape(r):
    return "Reshape", {"target_shape": _plain(r.get("target_shape"))}


def _relu(r):
    for key in ("negative_slope", "threshold"):
        if r.get(key, 0.0) not in (0, 0.0, None):
            raise Unsupported(f"ReLU with {key}={r.get(key)} is not supported "
                              f"(the catalogue's ReLU has only max_value)")
    max_value = r.get("max_value")
    return "ReLU", {"max_value": None if max_value is None else float(max_value)}


def _activation_layer(r):
    return "Activation", {"activation": _activation(r)}


def _leaky_relu(r):
    return "LeakyReLU", {"negative_slope": float(r.get("negative_slope", 0.3))}


def _softmax(r):
    axis = _plain(r.get("axis", -1))
    if isinstance(axis, list):
        if len(axis) != 1:
            raise Unsupported(f"softmax over several axes is not supported. "
                              f"Received: axis={axis}")
        axis = axis[0]
    return "Softmax", {"axis": axis}


def _norm_flags(r):
    return {"epsilon": float(r.get("epsilon", 1e-3)), "center": bool(r.get("center", True)),
            "scale": bool(r.get("scale", True))}


def _batch_norm(r):
    r.last_axis()
    if r.get("renorm"):
        raise Unsupported("batch renormalization (renorm=True) is not supported")
    for key in ("renorm_clipping", "renorm_momentum", "synchronized"):
        r.get(key)  # only meaningful with renorm or several devices
    # A frozen BatchNorm is a param of the kind (detection backbones freeze it).
    frozen = {"trainable": False} if r.get("trainable", True) is False else {}
    return "BatchNormalization", {"momentum": float(r.get("momentum", 0.99)),
                                  **_norm_flags(r), **frozen}


def _layer_norm(r):
    r.last_axis()
    if r.get("rms_scaling"):
        raise Unsupported("RMS scaling (rms_scaling=True) is not supported")
    return "LayerNormalization", _norm_flags(r)


def _lrn(r):
    return "LRN", {k: r.get(k) for k in ("depth_radius", "bias", "alpha", "beta")}


def _dropout(r):
    rate, seed = float(r.get("rate")), r.get("seed")
    noise_shape = _plain(r.get("noise_shape"))
    if noise_shape is None:
        return "Dropout", {"rate": rate, "seed": seed}
    rank = r.rank()
    sizes = list(noise_shape)[1:]
    if rank is not None and len(noise_shape) == rank and all(d == 1 for d in sizes):
        # One draw per sample drops the whole tensor: EfficientNet's drop connect,
        # which is exactly stochastic depth (scaled by 1/(1 - rate) the same way).
        return "StochasticDepth", {"rate": rate}
    if rank == 4 and len(noise_shape) == 4 and sizes[:2] == [1, 1] and \
            (sizes[2] is None or (r.input_shapes and sizes[2] == r.input_shapes[0][-1])):
        return "SpatialDropout2D", {"rate": rate, "seed": seed}
    raise Unsupported(f"dropout with noise_shape={noise_shape} is not supported (only "
                      f"whole samples or whole channels)")


def _spatial_dropout(r):
    r.channels_last()
    return "SpatialDropout2D", {"rate": float(r.get("rate")), "seed": r.get("seed")}


def _merge(kind):
    def convert(r):
        return kind, {}
    return convert


def _concatenate(r):
    return "Concatenate", {"axis": r.get("axis", -1)}


def _zero_padding(r):
    r.channels_last()
    return "ZeroPadding2D", {"padding": _plain(r.get("padding"))}


def _cropping(r):
    r.channels_last()
    return "Cropping2D", {"cropping": _plain(r.get("cropping"))}


def _upsampling(r):
    r.channels_last()
    return "UpSampling2D", {
        "size": _int_or_pair(r.get("size", 2)),
        "interpolation": r.expect("interpolation", ("nearest", "bilinear"), "nearest")}


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Unsupported(f"{key} must be one number. Received: {key}={value!r}")
    return float(value)


def _rescaling(r):
    return "Rescaling", {"scale": _number(r.get("scale", 1.0), "scale"),
                         "offset": _number(r.get("offset", 0.0), "offset")}


def _statistic(value: Any, key: str) -> Any:
    value = _plain(value)
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        value = _plain(value.get("config", {}).get("value"))
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return None if value is None else float(value)
    if isinstance(value, list) and value and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return [float(v) for v in value]
    raise Unsupported(f"{key} must be a number or a list of numbers. Received: {value!r}")


def _normalization(r):
    r.last_axis()
    return "Normalization", {"mean": _statistic(r.get("mean"), "mean"),
                             "variance": _statistic(r.get("variance"), "variance"),
                             "invert": bool(r.get("invert", False))}


def _layer_scale(r):
    # keras.applications' class has projection_dim; ours reads the channel count
    # off its input, so a projection_dim that disagrees shows up as a shape error.
    r.get("projection_dim")
    return "LayerScale", {"init_values": float(r.get("init_values", 1e-6))}


def _stochastic_depth(r):
    rate = r.get("drop_path_rate") if "drop_path_rate" in r.config else r.get("rate")
    r.get("seed")
    return "StochasticDepth", {"rate": float(rate)}


Converter = Callable[[_Reader], tuple[str, dict[str, Any]]]

_KERAS = ("keras.layers",)

#: ``(module, class_name) → converter``: the layer classes the catalogue holds.
#: Modules are exact: a class of the same name from another module is unknown.
CONVERTERS: dict[tuple[str, str], Converter] = {}


def _register(modules: Sequence[str], class_name: str, converter: Converter) -> None:
    for module in modules:
        CONVERTERS[(module, class_name)] = converter


for _name, _conv in {
    "Conv2D": _conv2d, "DepthwiseConv2D": _depthwise, "SeparableConv2D": _separable,
    "Conv2DTranspose": _transpose,
    "MaxPooling2D": _pool("MaxPool2D"), "AveragePooling2D": _pool("AvgPool2D"),
    "GlobalAveragePooling2D": _global_pool("GlobalAvgPool2D"),
    "GlobalMaxPooling2D": _global_pool("GlobalMaxPool2D"),
    "Dense": _dense, "Flatten": _flatten, "Reshape": _reshape,
    "ReLU": _relu, "Activation": _activation_layer, "LeakyReLU": _leaky_relu,
    "Softmax": _softmax, "BatchNormalization": _batch_norm,
    "LayerNormalization": _layer_norm, "Dropout": _dropout,
    "SpatialDropout2D": _spatial_dropout, "Add": _merge("Add"),
    "Multiply": _merge("Multiply"), "Concatenate": _concatenate,
    "ZeroPadding2D": _zero_padding, "Cropping2D": _cropping,
    "UpSampling2D": _upsampling, "Rescaling": _rescaling,
    "Normalization": _normalization,
}.items():
    _register(_KERAS, _name, _conv)

# Functional-API operations (``x + y``, ``keras.ops.multiply``) recorded as nodes.
_register(("keras.src.ops.numpy",), "Add", _merge("Add"))
_register(("keras.src.ops.numpy",), "Multiply", _merge("Multiply"))
# keras.applications' own ConvNeXt layers, and Keras Builder's custom layers.
_register(("keras.src.applications.convnext",), "LayerScale", _layer_scale)
_register(("keras.src.applications.convnext",), "StochasticDepth", _stochastic_depth)
_CUSTOM_MODULE = "builder.compile.custom_layers"
_register((_CUSTOM_MODULE,), "LocalResponseNormalization", _lrn)
_register((_CUSTOM_MODULE,), "LayerScale", _layer_scale)
_register((_CUSTOM_MODULE,), "StochasticDepth", _stochastic_depth)

#: Model classes whose layers are flattened into the graph.
MODEL_CLASSES = frozenset({("keras", "Functional"), ("keras", "Sequential"),
                           ("keras", "Model"),
                           ("keras.src.models.functional", "Functional"),
                           ("keras.src.models.sequential", "Sequential"),
                           ("keras.src.models.model", "Model")})

#: ``(module, class_name)`` of the input layer.
INPUT_LAYER = ("keras.layers", "InputLayer")


def convert_layer(module: str | None, class_name: str, config: dict[str, Any],
                  input_shapes: Sequence[tuple] | None, warnings: list[str],
                  where: str) -> tuple[str, dict[str, Any]]:
    """The catalogue kind and params of one Keras layer config.

    Args:
        module: the config's ``module`` (``"keras.layers"``).
        class_name: its ``class_name``.
        config: its ``config`` dict.
        input_shapes: shapes of its inputs (batch first) if known, for axis checks.
        warnings: where settings dropped with a warning are reported.
        where: how messages name the layer (``"Conv2D 'conv1'"``).

    Returns:
        ``(kind, params)`` with every param of the kind set.

    Raises:
        Unsupported: the layer class is not in the catalogue, or it is but with
            options the catalogue cannot hold; the message says which.
    """
    converter = CONVERTERS.get((module or "", class_name))
    if converter is None and (module == "keras.layers" or
                              str(module).startswith("builder.compile.")):
        converter = _generic_converter(class_name)
    if converter is None:
        raise Unsupported("no catalogue kind for this class")
    reader = _Reader(config, input_shapes, warnings, where)
    kind, params = converter(reader)
    reader.finish()
    full = CATALOG.get(kind).defaults()
    full.update(params)
    problems = CATALOG.validate_params(kind, full)
    if problems:
        raise Unsupported("; ".join(f"{field} {message}" for field, message in problems))
    return kind, full


def _generic_converter(class_name: str) -> Converter | None:
    """A converter for a layer class that a kind maps to one to one.

    Kinds whose Keras mapping is a single ``LayerCall`` of ``class_name`` with
    their params as its kwargs (ChannelPad, Average) need no hand-written inverse:
    read the params off the config, then check that the kind maps them back to
    the same kwargs.
    """
    for spec in CATALOG:
        if spec.kind in ("Input", "Output"):
            continue
        try:
            calls = spec.keras(spec.defaults())
        except Exception:  # composites compile through their expansion
            continue
        names = [p.name for p in spec.params]
        if len(calls) != 1 or calls[0].class_name != class_name or \
                sorted(calls[0].kwargs) != sorted(names):
            continue

        def convert(r, spec=spec, names=names):
            params = {name: _plain(r.get(name)) for name in names}
            (call,) = spec.keras({**spec.defaults(), **params})
            if {k: _plain(v) for k, v in call.kwargs.items()} != params:
                raise Unsupported(f"its config does not map back to {spec.kind}")
            return spec.kind, params
        return convert
    return None


"""Custom Keras layers the catalogue needs, written with ``keras.ops`` only.

Every class here is registered with Keras' serialization under the package
``keras_builder``, so ``.keras`` files that use them load wherever this module
(or a script that inlines the class, see :mod:`builder.compile.to_source`) has
been imported first.

Each class is self-contained: it uses nothing but ``keras`` (no module-level
helpers), because :func:`builder.compile.to_source` copies its source verbatim
into generated scripts. Keep lines within 79 characters for the same reason.
"""

from __future__ import annotations

import keras

from builder.compile.detection_layers import L2Normalization
from builder.compile.rcnn_layers import (
    MultiLevelRoIAlign,
    Proposals,
    RCNNDetections,
    RCNNMasks,
    RPNHead,
)
from builder.compile.segmentation_layers import (
    MaxPoolingWithArgmax2D,
    MaxUnpooling2D,
)


@keras.saving.register_keras_serializable(package="keras_builder")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization across channels (AlexNet), channels last.

    Same arithmetic as TensorFlow's ``tf.nn.local_response_normalization``::

        sqr_sum[..., c] = sum(x[..., c - r : c + r + 1] ** 2)
        out = x / (bias + alpha * sqr_sum) ** beta

    where ``r`` is ``depth_radius`` and channels beyond the edges count as
    zero. Krizhevsky et al. use ``r=2, bias=2, alpha=1e-4, beta=0.75``
    (their ``n=5`` is ``2r+1``; TensorFlow, like this layer, does not divide
    ``alpha`` by ``n``).

    Args:
        depth_radius: half-width ``r`` of the channel window.
        bias: the additive constant ``k``.
        alpha: the scale of the sum of squares.
        beta: the exponent.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).
    """

    def __init__(self, depth_radius=5, bias=1.0, alpha=1.0, beta=0.5,
                 **kwargs):
        super().__init__(**kwargs)
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)
        if self.depth_radius < 0:
            raise ValueError(
                "LocalResponseNormalization needs depth_radius >= 0. "
                f"Received: depth_radius={depth_radius}")

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(
                "LocalResponseNormalization needs a known number of "
                f"channels (last axis). Received: input_shape={input_shape}")
        self.built = True

    def call(self, inputs):
        ops = keras.ops
        channels = inputs.shape[-1]
        # Sum in float32 even under mixed precision: squares of activations
        # summed over the window overflow float16 quickly.
        dtype = ops.dtype(inputs)
        if dtype in ("float16", "bfloat16"):
            x = ops.cast(inputs, "float32")
        else:
            x = inputs
        squared = ops.square(x)
        # A window wider than the tensor only adds zeros: clamp it, so the
        # number of slices summed (one per window position) stays small.
        radius = min(self.depth_radius, channels - 1)
        sqr_sum = squared
        if radius > 0:
            rank = len(inputs.shape)
            widths = [[0, 0]] * (rank - 1) + [[radius, radius]]
            padded = ops.pad(squared, widths)
            sqr_sum = padded[..., 0:channels]
            for offset in range(1, 2 * radius + 1):
                sqr_sum = sqr_sum + padded[..., offset:offset + channels]
        scale = ops.power(self.bias + self.alpha * sqr_sum, -self.beta)
        return ops.cast(x * scale, dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "depth_radius": self.depth_radius,
            "bias": self.bias,
            "alpha": self.alpha,
            "beta": self.beta,
        })
        return config


@keras.saving.register_keras_serializable(package="keras_builder")
class LayerScale(keras.layers.Layer):
    """Multiplies each channel (last axis) by a learned scale gamma.

    ConvNeXt's residual branches end with it; gamma starts at
    ``init_values`` (small), so a new branch begins close to zero and the
    block close to the identity. One weight per channel.

    Args:
        init_values: the initial value of every gamma.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).
    """

    def __init__(self, init_values=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.init_values = float(init_values)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(
                "LayerScale needs a known number of channels (last axis). "
                f"Received: input_shape={input_shape}")
        self.gamma = self.add_weight(
            name="gamma", shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.init_values),
            trainable=True)
        self.built = True

    def call(self, inputs):
        return inputs * keras.ops.cast(self.gamma, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"init_values": self.init_values})
        return config


@keras.saving.register_keras_serializable(package="keras_builder")
class StochasticDepth(keras.layers.Layer):
    """Drops a sample's whole residual branch while training (drop path).

    Each sample's input is zeroed with probability ``rate`` and the others
    are scaled by ``1 / (1 - rate)``, so the expected value is unchanged;
    at inference the layer is the identity. Put it at the end of a residual
    branch, before the ``Add``.

    Args:
        rate: probability of dropping the branch, ``0 <= rate < 1``.
        seed: optional seed of the random draws.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).
    """

    def __init__(self, rate=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(
                "StochasticDepth needs 0 <= rate < 1. "
                f"Received: rate={rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        keep = 1.0 - self.rate
        shape = (keras.ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        draw = keras.random.uniform(shape, seed=self.seed_generator)
        mask = keras.ops.cast(draw < keep, inputs.dtype)
        return inputs * mask / keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="keras_builder")
class ChannelPad(keras.layers.Layer):
    """Pads the channel axis (last) with zeros up to ``channels``.

    Half the new channels go before the input's, the rest after, as the
    CIFAR ResNets' "option A" shortcut does (He et al. 2015, section 4.2).

    Args:
        channels: output channels, at least the input's.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).
    """

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)

    def build(self, input_shape):
        if input_shape[-1] is None or input_shape[-1] > self.channels:
            raise ValueError(
                "ChannelPad needs known input channels, at most "
                f"channels={self.channels}. Received: input_shape="
                f"{input_shape}")
        self.built = True

    def call(self, inputs):
        extra = self.channels - inputs.shape[-1]
        before = extra // 2
        widths = [[0, 0]] * (len(inputs.shape) - 1)
        return keras.ops.pad(inputs, widths + [[before, extra - before]])

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.channels)

    def get_config(self):
        config = super().get_config()
        config.update({"channels": self.channels})
        return config


#: Custom layer classes by the ``class_name`` a ``LayerCall`` uses.
CUSTOM_LAYERS: dict[str, type] = {
    "LocalResponseNormalization": LocalResponseNormalization,
    "LayerScale": LayerScale,
    "StochasticDepth": StochasticDepth,
    "ChannelPad": ChannelPad,
    "L2Normalization": L2Normalization,
    "MaxPoolingWithArgmax2D": MaxPoolingWithArgmax2D,
    "MaxUnpooling2D": MaxUnpooling2D,
    "RPNHead": RPNHead,
    "Proposals": Proposals,
    "MultiLevelRoIAlign": MultiLevelRoIAlign,
    "RCNNDetections": RCNNDetections,
    "RCNNMasks": RCNNMasks,
}


def resolve_layer_class(name: str) -> type:
    """The layer class a catalogue ``LayerCall.class_name`` names.

    Custom layers of this module come first, then ``keras.layers``.

    Args:
        name: a class name such as ``"Conv2D"`` or
            ``"LocalResponseNormalization"``.

    Returns:
        The class.

    Raises:
        ValueError: if neither this module nor ``keras.layers`` has it.
    """
    if name in CUSTOM_LAYERS:
        return CUSTOM_LAYERS[name]
    cls = getattr(keras.layers, name, None) if isinstance(name, str) else None
    if isinstance(cls, type) and issubclass(cls, keras.layers.Layer):
        return cls
    raise ValueError(
        "A layer class must be a custom layer of Keras Builder "
        f"({', '.join(sorted(CUSTOM_LAYERS))}) or a class of keras.layers. "
        f"Received: {name!r}")

"""Detection layers (SSD's L2 normalisation), ``keras.ops`` only.

Self-contained (only ``keras``) like :mod:`builder.compile.custom_layers`, because
:func:`builder.compile.to_source` copies a custom layer's source into generated
scripts; registered under the package ``keras_builder``.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="keras_builder")
class L2Normalization(keras.layers.Layer):
    """Scales each position's channel vector to unit L2 norm, then by a learned gain.

    SSD normalises VGG's conv4_3 this way because its activations are much
    larger than those of the later maps it is trained with (Liu et al. 2016,
    after ParseNet): ``y = gamma * x / max(||x||_2, epsilon)`` over the channel
    axis, with one gain per channel initialised to ``scale`` (20 in SSD).

    Args:
        scale: initial value of every gain.
        epsilon: floor of the norm (torch's ``F.normalize`` uses 1e-12).
        **kwargs: base layer arguments (``name``, ``dtype``, ...).
    """

    def __init__(self, scale=20.0, epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(
                "L2Normalization needs a known channel count. Received: "
                f"input_shape={input_shape}")
        self.gamma = self.add_weight(
            name="gamma", shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.scale), trainable=True)
        self.built = True

    def call(self, inputs):
        norm = keras.ops.sqrt(keras.ops.sum(keras.ops.square(inputs), axis=-1,
                                            keepdims=True))
        return inputs / keras.ops.maximum(norm, self.epsilon) * self.gamma

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "epsilon": self.epsilon})
        return config

"""Max pooling with argmax and max unpooling (DeconvNet, SegNet), ``keras.ops`` only.

An index is the maximum's position inside its own pooling window, row-major
(``row * pool_w + col``); see :mod:`builder.blocks.unpooling`. Windows do not
overlap, so pooling is a reshape that gathers each window on a last axis, a max
and an argmax over it; unpooling is the inverse reshape of a one-hot of the
index times the value. Both work on any backend and keep static shapes.

Like :mod:`builder.compile.custom_layers`, each class is self-contained (only
``keras``) because :func:`builder.compile.to_source` copies its source into
generated scripts; they are registered under the package ``keras_builder``.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="keras_builder")
class MaxPoolingWithArgmax2D(keras.layers.Layer):
    """Max pooling (stride = pool size) returning ``[values, indices]``.

    Channels last. ``indices`` (int32, same shape as ``values``) holds where
    each maximum was inside its window, row-major; the first maximum wins a
    tie. Rows and columns that do not fill a whole window are dropped.

    Args:
        pool_size: window ``(height, width)`` or one int for both.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).
    """

    def __init__(self, pool_size=(2, 2), **kwargs):
        super().__init__(**kwargs)
        if isinstance(pool_size, int):
            pool_size = (pool_size, pool_size)
        self.pool_size = tuple(int(s) for s in pool_size)
        if len(self.pool_size) != 2 or min(self.pool_size) < 1:
            raise ValueError(
                "MaxPoolingWithArgmax2D needs pool_size of two positive "
                f"ints. Received: pool_size={pool_size}")

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(
                "MaxPoolingWithArgmax2D needs a 4-D input with known "
                f"channels. Received: input_shape={input_shape}")
        for size, k in zip(input_shape[1:3], self.pool_size):
            if size is not None and size < k:
                raise ValueError(
                    "MaxPoolingWithArgmax2D needs height and width of at "
                    f"least pool_size={self.pool_size}. Received: "
                    f"input_shape={input_shape}")
        self.built = True

    def call(self, inputs):
        ops = keras.ops
        kh, kw = self.pool_size
        channels = inputs.shape[-1]
        shape = ops.shape(inputs)
        rows, cols = shape[1] // kh, shape[2] // kw
        x = inputs[:, : rows * kh, : cols * kw, :]
        x = ops.reshape(x, (-1, rows, kh, cols, kw, channels))
        # (batch, rows, cols, channels, kh, kw): one window per last axis.
        x = ops.transpose(x, (0, 1, 3, 5, 2, 4))
        x = ops.reshape(x, (-1, rows, cols, channels, kh * kw))
        values = ops.max(x, axis=-1)
        indices = ops.cast(ops.argmax(x, axis=-1), "int32")
        return [values, indices]

    def compute_output_spec(self, inputs):
        n, h, w, c = inputs.shape
        kh, kw = self.pool_size
        shape = (n, None if h is None else h // kh,
                 None if w is None else w // kw, c)
        return [keras.KerasTensor(shape, dtype=inputs.dtype),
                keras.KerasTensor(shape, dtype="int32")]

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": list(self.pool_size)})
        return config


@keras.saving.register_keras_serializable(package="keras_builder")
class MaxUnpooling2D(keras.layers.Layer):
    """Places each value where its window's maximum was; zeros elsewhere.

    Called on ``[values, indices]`` as returned by ``MaxPoolingWithArgmax2D``
    with the same ``pool_size``; the output is ``pool_size`` times larger.
    Gradients flow to ``values`` only.

    Args:
        pool_size: window ``(height, width)`` or one int for both.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).
    """

    def __init__(self, pool_size=(2, 2), **kwargs):
        super().__init__(**kwargs)
        if isinstance(pool_size, int):
            pool_size = (pool_size, pool_size)
        self.pool_size = tuple(int(s) for s in pool_size)
        if len(self.pool_size) != 2 or min(self.pool_size) < 1:
            raise ValueError(
                "MaxUnpooling2D needs pool_size of two positive ints. "
                f"Received: pool_size={pool_size}")

    def build(self, input_shape):
        values, indices = input_shape
        if len(values) != 4 or values[-1] is None \
                or tuple(values[1:]) != tuple(indices[1:]):
            raise ValueError(
                "MaxUnpooling2D needs 4-D values with known channels and "
                "indices of the same shape. Received: input_shape="
                f"{input_shape}")
        self.built = True

    def call(self, inputs):
        ops = keras.ops
        values, indices = inputs
        kh, kw = self.pool_size
        channels = values.shape[-1]
        shape = ops.shape(values)
        rows, cols = shape[1], shape[2]
        hot = ops.one_hot(ops.cast(indices, "int32"), kh * kw,
                          dtype=values.dtype)
        x = hot * ops.expand_dims(values, -1)
        x = ops.reshape(x, (-1, rows, cols, channels, kh, kw))
        # Back to (batch, rows, kh, cols, kw, channels), then merge.
        x = ops.transpose(x, (0, 1, 4, 2, 5, 3))
        return ops.reshape(x, (-1, rows * kh, cols * kw, channels))

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape[0]
        kh, kw = self.pool_size
        return (n, None if h is None else h * kh,
                None if w is None else w * kw, c)

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": list(self.pool_size)})
        return config

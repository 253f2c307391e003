"""Max pooling with argmax and max unpooling (DeconvNet, SegNet), ``keras.ops`` only.

An index is the maximum's position inside its own pooling window, row-major
(``row * pool_w + col``); see :mod:`builder.blocks.unpooling`. The window of
pooled cell ``(r, c)`` starts at ``(r * stride_h, c * stride_w)``, so windows may
overlap (stride < pool size) and the input need not be a multiple of the window
("valid": rows and columns no window reaches are dropped, as MaxPooling2D does).

Pooling gathers the ``pool_h * pool_w`` strided views of the input on a last
axis and takes their max and argmax; unpooling is its transpose: each value
goes, for each window offset, to the cells whose index names that offset, laid
on a stride-spaced grid shifted by the offset. Where overlapping windows chose
the same pixel their values add up, as the gradient of max pooling does. Static
shapes, any backend.

Like :mod:`builder.compile.custom_layers`, each class is self-contained (only
``keras``) because :func:`builder.compile.to_source` copies its source into
generated scripts; they are registered under the package ``keras_builder``.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="keras_builder")
class MaxPoolingWithArgmax2D(keras.layers.Layer):
    """Max pooling returning ``[values, indices]`` ("valid" padding).

    Channels last. ``indices`` (int32, same shape as ``values``) holds where
    each maximum was inside its window, row-major; the first maximum wins a
    tie. Rows and columns that no whole window reaches are dropped:
    ``out = floor((in - pool) / strides) + 1``, as ``MaxPooling2D``.

    Args:
        pool_size: window ``(height, width)`` or one int for both.
        strides: step between windows, ``(height, width)`` or one int; ``None``
            means the pool size (windows do not overlap).
        **kwargs: base layer arguments (``name``, ``dtype``, ...).
    """

    def __init__(self, pool_size=(2, 2), strides=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = self._pair(pool_size, "pool_size", "MaxPoolingWithArgmax2D")
        self.strides = self._pair(strides, "strides", "MaxPoolingWithArgmax2D",
                                  allow_none=True) or self.pool_size

    @staticmethod
    def _pair(value, name, layer, allow_none=False):
        # A method, not a module function: to_source copies only the class.
        if value is None and allow_none:
            return None
        if isinstance(value, int):
            value = (value, value)
        try:
            out = tuple(int(v) for v in value)
        except TypeError:
            out = ()
        if len(out) != 2 or min(out) < 1:
            raise ValueError(f"{layer} needs {name} of two positive ints. "
                             f"Received: {name}={value}")
        return out

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
        sh, sw = self.strides
        shape = ops.shape(inputs)
        rows = (shape[1] - kh) // sh + 1
        cols = (shape[2] - kw) // sw + 1
        # One strided view per window offset: view (i, j) holds, for every
        # pooled cell, the pixel at offset (i, j) of its window.
        views = [inputs[:, i::sh, j::sw, :][:, :rows, :cols, :]
                 for i in range(kh) for j in range(kw)]
        x = ops.stack(views, axis=-1)
        values = ops.max(x, axis=-1)
        indices = ops.cast(ops.argmax(x, axis=-1), "int32")
        return [values, indices]

    def compute_output_spec(self, inputs):
        n, h, w, c = inputs.shape
        (kh, kw), (sh, sw) = self.pool_size, self.strides
        shape = (n, None if h is None else (h - kh) // sh + 1,
                 None if w is None else (w - kw) // sw + 1, c)
        return [keras.KerasTensor(shape, dtype=inputs.dtype),
                keras.KerasTensor(shape, dtype="int32")]

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": list(self.pool_size),
                       "strides": list(self.strides)})
        return config


@keras.saving.register_keras_serializable(package="keras_builder")
class MaxUnpooling2D(keras.layers.Layer):
    """Places each value where its window's maximum was; zeros elsewhere.

    Called on ``[values, indices]`` as returned by ``MaxPoolingWithArgmax2D``
    with the same ``pool_size`` and ``strides``, or on ``[values, indices,
    source]`` where ``source`` is the tensor that was pooled (only its height
    and width are read). The output is ``output_size`` when given, else the
    source's size, else the smallest size that pools back to the values'
    size, ``(rows - 1) * strides + pool_size`` (``pool_size`` times larger
    when windows do not overlap). Gradients flow to ``values`` only.

    Args:
        pool_size: window ``(height, width)`` or one int for both.
        strides: step between windows; ``None`` means the pool size.
        output_size: ``(height, width)`` of the output, or ``None``.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).
    """

    def __init__(self, pool_size=(2, 2), strides=None, output_size=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = self._pair(pool_size, "pool_size", "MaxUnpooling2D")
        self.strides = self._pair(strides, "strides", "MaxUnpooling2D",
                                  allow_none=True) or self.pool_size
        self.output_size = self._pair(output_size, "output_size", "MaxUnpooling2D",
                                      allow_none=True)

    @staticmethod
    def _pair(value, name, layer, allow_none=False):
        # A method, not a module function: to_source copies only the class.
        if value is None and allow_none:
            return None
        if isinstance(value, int):
            value = (value, value)
        try:
            out = tuple(int(v) for v in value)
        except TypeError:
            out = ()
        if len(out) != 2 or min(out) < 1:
            raise ValueError(f"{layer} needs {name} of two positive ints. "
                             f"Received: {name}={value}")
        return out

    def _size(self, values_shape, source_shape=None):
        """Output (height, width) for pooled (rows, cols); None where unknown."""
        out = []
        for axis in (0, 1):
            rows, k, s = values_shape[1 + axis], self.pool_size[axis], self.strides[axis]
            if self.output_size is not None:
                size = self.output_size[axis]
            elif source_shape is not None and source_shape[1 + axis] is not None:
                size = source_shape[1 + axis]
            else:
                size = None if rows is None else (rows - 1) * s + k
            if size is not None and rows is not None and (size - k) // s + 1 != rows:
                raise ValueError(
                    f"MaxUnpooling2D cannot unpool {rows} {('rows', 'columns')[axis]} "
                    f"to {size}: pooling {size} with pool_size {k} and strides {s} "
                    f"gives floor(({size} - {k}) / {s}) + 1 = {(size - k) // s + 1}. "
                    f"Received: values of shape {tuple(values_shape)}")
            out.append(size)
        return tuple(out)

    def build(self, input_shape):
        if len(input_shape) not in (2, 3):
            raise ValueError(
                "MaxUnpooling2D takes [values, indices] or [values, indices, "
                f"source]. Received: input_shape={input_shape}")
        values, indices = input_shape[:2]
        if len(values) != 4 or values[-1] is None \
                or tuple(values[1:]) != tuple(indices[1:]):
            raise ValueError(
                "MaxUnpooling2D needs 4-D values with known channels and "
                "indices of the same shape. Received: input_shape="
                f"{input_shape}")
        self._size(values, input_shape[2] if len(input_shape) == 3 else None)
        self.built = True

    def call(self, inputs):
        ops = keras.ops
        values, indices = inputs[0], inputs[1]
        kh, kw = self.pool_size
        sh, sw = self.strides
        dynamic = ops.shape(values)
        rows, cols, channels = dynamic[1], dynamic[2], values.shape[-1]
        height, width = self._size(values.shape, inputs[2].shape
                                   if len(inputs) == 3 else None)
        if height is None:  # unknown until run time: from the source, else the rule
            height = (ops.shape(inputs[2])[1] if len(inputs) == 3
                      else (rows - 1) * sh + kh)
        if width is None:
            width = (ops.shape(inputs[2])[2] if len(inputs) == 3
                     else (cols - 1) * sw + kw)
        indices = ops.cast(indices, "int32")
        zeros = ops.zeros_like(values)
        out = None
        for i in range(kh):
            for j in range(kw):
                placed = ops.where(ops.equal(indices, i * kw + j), values, zeros)
                # Cell (r, c) goes to (r * sh + i, c * sw + j): a zero-spaced
                # grid, then shifted by the offset.
                grid = ops.stack([placed] + [zeros] * (sh - 1), axis=2)
                grid = ops.reshape(grid, (-1, rows * sh, cols, channels))
                spaced_zeros = ops.zeros_like(grid)
                grid = ops.stack([grid] + [spaced_zeros] * (sw - 1), axis=3)
                grid = ops.reshape(grid, (-1, rows * sh, cols * sw, channels))
                grid = ops.pad(grid, ((0, 0), (i, kh), (j, kw), (0, 0)))
                grid = grid[:, :height, :width, :]
                out = grid if out is None else out + grid
        return out

    def compute_output_shape(self, input_shape):
        values = input_shape[0]
        source = input_shape[2] if len(input_shape) == 3 else None
        return (values[0], *self._size(values, source), values[3])

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": list(self.pool_size),
                       "strides": list(self.strides),
                       "output_size": None if self.output_size is None
                       else list(self.output_size)})
        return config

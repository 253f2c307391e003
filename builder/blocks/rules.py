"""Rule helpers that several specs share: rank checks and spatial arithmetic
that explains itself when the numbers do not fit."""

from __future__ import annotations

from fractions import Fraction

from builder.blocks.shape_math import conv_length, effective_kernel
from builder.blocks.spec import Notes, Shape, ShapeIssue

ACTIVATIONS = ("linear", "relu", "leaky_relu", "elu", "gelu", "swish", "sigmoid",
               "tanh", "softmax",
               # Keras 3 names that imported models use ("swish" saves as "silu",
               # "hard_swish" as "hard_silu"); all keep the shape.
               "silu", "hard_silu", "hard_swish", "hard_sigmoid", "relu6", "selu", "celu",
               "softplus", "softsign", "exponential", "mish", "log_softmax",
               "log_sigmoid", "hard_tanh")


def keras_activation(name: str) -> str | None:
    """The Keras ``activation=`` value for a catalogue activation choice."""
    return None if name == "linear" else name


def fmt_shape(shape: Shape | None) -> str:
    """``(None, 28, 28, 64)`` → ``(28, 28, 64)``: per-sample, as people read it."""
    if shape is None:
        return "unknown"
    dims = ", ".join("?" if d is None else str(d) for d in shape[1:])
    return f"({dims},)" if len(shape) == 2 else f"({dims})"


def expect_rank(shape: Shape, rank: int, kind: str, what: str = "") -> Shape:
    """Returns ``shape`` if it has ``rank`` dims (batch included), else raises."""
    if len(shape) != rank:
        hint = what or {4: "an image tensor (height, width, channels)",
                        2: "a flat vector (features,)"}.get(rank, f"rank {rank}")
        fix = None
        if rank == 4 and len(shape) == 2:
            fix = "Feed it before Flatten/Dense, or Reshape the vector into (H, W, C)."
        elif rank == 2 and len(shape) > 2:
            fix = "Insert Flatten or a global pooling layer before it."
        raise ShapeIssue(
            f"{kind} expects {hint}. Received: {fmt_shape(shape)}", fix=fix)
    return shape


def expect_inputs(ins, count: int, kind: str) -> None:
    """Raises unless exactly ``count`` inputs are connected."""
    if len(ins) != count:
        raise ShapeIssue(
            f"{kind} expects {count} input{'s' if count != 1 else ''}. "
            f"Received: {len(ins)}",
            fix="Connect an input to it." if len(ins) < count else None)


def known_channels(shape: Shape, kind: str) -> int:
    """The channel count (last dim); raises if it is unknown."""
    c = shape[-1]
    if c is None:
        raise ShapeIssue(
            f"{kind} needs a known number of channels to create its weights. "
            f"Received: {fmt_shape(shape)}")
    return c


def _num(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{float(x):.2f}"


def _fitting_padding(size: int, kernel: int, stride: int) -> int | None:
    # Smallest P in [0, kernel) with (W - F + 2P) divisible by S; None if none is.
    for pad in range(kernel):
        if (size - kernel + 2 * pad) % stride == 0 and size - kernel + 2 * pad >= 0:
            return pad
    return None


def spatial_out(size: int | None, kernel: int, stride: int, padding: str | int,
                dilation: int, axis: str, kind: str, notes: Notes,
                field: str = "kernel_size", explicit_ok: bool = True) -> int | None:
    """One spatial output length, with the lecture's arithmetic in any message.

    Args:
        size: input length ``W`` (``None`` if unknown).
        kernel: ``F``; stride: ``S``; padding: ``valid``/``same``/``P``.
        dilation: dilation rate (the kernel then spans ``d·(F-1)+1``).
        axis: ``"height"`` or ``"width"``, for the message.
        kind: the node kind, for the message.
        notes: where a non-whole division is reported as a warning.
        field: the param a fix should point at.
        explicit_ok: whether the layer takes an explicit ``P`` (pooling does not),
            so that a fix suggests one only where it can be typed in.

    Raises:
        ShapeIssue: when the output would be zero or negative.
    """
    if size is None:
        return None
    out = conv_length(size, kernel, stride, padding, dilation)
    if padding == "same":
        return out
    pad = 0 if padding == "valid" else int(padding)
    f_eff = effective_kernel(kernel, dilation)
    exact = Fraction(size - f_eff + 2 * pad, stride) + 1
    f_text = str(f_eff) if dilation == 1 else f"{f_eff} (F={kernel} dilated by {dilation})"
    formula = f"({size} - {f_text} + 2·{pad})/{stride} + 1 = {_num(exact)}"
    if out <= 0:
        raise ShapeIssue(
            f"{kind} output {axis} would be {out}: {formula}. The kernel is larger "
            f"than the padded input. Received: {axis} {size}, F={kernel}, S={stride}, P={pad}",
            fix="Use padding='same', a smaller kernel, or feed it a larger input.",
            field=field)
    if exact.denominator != 1:
        good = _fitting_padding(size, f_eff, stride)
        fix = "Use padding='same'"
        if explicit_ok and good is not None and good != pad:
            fix += f" or P={good}"
        fix += f", or choose F and S so that {stride} divides W - F + 2P."
        notes.warn(
            f"{kind} {axis}: {formula} is not a whole number; Keras floors it to {out}, "
            f"so the last {(size - f_eff + 2 * pad) % stride} row(s)/column(s) are never seen.",
            fix=fix, field="padding")
    return out

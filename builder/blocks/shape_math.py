"""Shape arithmetic as small pure functions, mirroring Keras' operation_utils.

Each function works on one spatial axis; ``None`` (unknown size) passes through.
The lecture's formula is ``W2 = (W1 - F + 2P)/S + 1``; with dilation ``d`` the
kernel's extent is ``d·(F - 1) + 1``.
"""

from __future__ import annotations

from fractions import Fraction


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """Extent in pixels of a ``kernel`` dilated by ``dilation``."""
    return dilation * (kernel - 1) + 1


def conv_length(size: int | None, kernel: int, stride: int, padding: str | int,
                dilation: int = 1) -> int | None:
    """Output length of a convolution or pooling along one axis.

    Args:
        size: input length, or ``None``.
        kernel: kernel (or pool) size ``F``.
        stride: ``S``.
        padding: ``"valid"``, ``"same"`` or an explicit zero-padding ``P``
            added on both sides.
        dilation: dilation rate.

    Returns:
        ``floor((W - F_eff + 2P)/S) + 1`` for valid and explicit padding,
        ``ceil(W/S)`` for same; ``None`` when ``size`` is ``None``.
    """
    if size is None:
        return None
    if padding == "same":
        return (size - 1) // stride + 1
    pad = 0 if padding == "valid" else int(padding)
    return (size + 2 * pad - effective_kernel(kernel, dilation)) // stride + 1


def conv_length_exact(size: int, kernel: int, stride: int, pad: int,
                      dilation: int = 1) -> Fraction:
    """``(W - F_eff + 2P)/S + 1`` as an exact fraction, before Keras floors it."""
    return Fraction(size - effective_kernel(kernel, dilation) + 2 * pad, stride) + 1


def deconv_length(size: int | None, kernel: int, stride: int, padding: str,
                  output_padding: int | None = None, dilation: int = 1) -> int | None:
    """Output length of a transposed convolution (Keras' ``deconv_output_length``)."""
    if size is None:
        return None
    kernel = effective_kernel(kernel, dilation)
    if output_padding is None:
        if padding == "valid":
            return size * stride + max(kernel - stride, 0)
        return size * stride
    pad = kernel // 2 if padding == "same" else 0
    return (size - 1) * stride + kernel - 2 * pad + output_padding


def same_padding_total(size: int | None, kernel: int, stride: int,
                       dilation: int = 1) -> int | None:
    """Total zeros ``padding='same'`` adds along one axis (TensorFlow's rule)."""
    if size is None:
        return None
    kernel = effective_kernel(kernel, dilation)
    out = (size - 1) // stride + 1
    return max((out - 1) * stride + kernel - size, 0)


def prod(dims) -> int | None:
    """Product of ``dims``; ``None`` if any is unknown."""
    total = 1
    for d in dims:
        if d is None:
            return None
        total *= d
    return total

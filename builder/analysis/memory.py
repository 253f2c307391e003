"""How much memory a model needs for a batch size and precision, and whether it fits.

The lecture's accounting: activations per image times bytes per element, about
twice that with the backward pass; weights once for inference, and for training
also their gradients and the optimizer's slots (Adam keeps two per weight).
"""

from __future__ import annotations

from dataclasses import dataclass

from builder.analysis.summary import BACKWARD_FACTOR, binary_size

#: Bytes per element of the precisions the summary offers.
PRECISIONS = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}

GIB = 2 ** 30


@dataclass(frozen=True)
class MemoryEstimate:
    """Memory of one training step or forward pass.

    Attributes:
        batch: the batch size.
        bytes_per_element: 4 for float32, ...
        weights: bytes of weights (plus gradients and optimizer slots when training).
        activations: bytes of activations for the whole batch.
        training: whether the backward pass and optimizer are counted.
    """

    batch: int
    bytes_per_element: int
    weights: int
    activations: int
    training: bool

    @property
    def total(self) -> int:
        """All bytes."""
        return self.weights + self.activations

    def fits(self, budget_bytes: float) -> bool:
        """Whether the total fits in ``budget_bytes``."""
        return self.total <= budget_bytes


def estimate(params: int, activations_per_sample: int, batch: int = 1,
             precision: str | int = "float32", *, training: bool = True,
             optimizer_slots: int = 2) -> MemoryEstimate:
    """Estimates memory for ``batch`` samples.

    Args:
        params: all parameters of the model.
        activations_per_sample: elements stored per sample in a forward pass
            (``Totals.activations``).
        batch: samples per step.
        precision: a name of :data:`PRECISIONS` or bytes per element.
        training: count gradients (activations x2, weights x2) and
            ``optimizer_slots`` extra copies of the weights.
        optimizer_slots: copies of the weights the optimizer keeps (Adam: 2,
            momentum SGD: 1, plain SGD: 0).

    Returns:
        A :class:`MemoryEstimate`.

    Raises:
        ValueError: a batch below 1 or an unknown precision.
    """
    size = _bytes(precision)
    if batch < 1:
        raise ValueError(f"The batch size must be at least 1. Received: {batch}")
    weight_copies = 2 + optimizer_slots if training else 1
    act_factor = BACKWARD_FACTOR if training else 1
    return MemoryEstimate(batch=batch, bytes_per_element=size,
                          weights=params * size * weight_copies,
                          activations=activations_per_sample * batch * size * act_factor,
                          training=training)


def largest_batch(params: int, activations_per_sample: int, budget_bytes: float,
                  precision: str | int = "float32", *, training: bool = True,
                  optimizer_slots: int = 2) -> int:
    """The largest batch whose estimate fits in ``budget_bytes`` (0: not even one).

    Args:
        params, activations_per_sample, precision, training, optimizer_slots:
            as :func:`estimate`.
        budget_bytes: the memory available, e.g. ``16 * GIB``.
    """
    one = estimate(params, activations_per_sample, 1, precision, training=training,
                   optimizer_slots=optimizer_slots)
    per_sample = one.activations
    free = budget_bytes - one.weights
    if free < per_sample:
        return 0
    if per_sample == 0:
        return 2 ** 31 - 1  # nothing grows with the batch: any batch fits
    return int(free // per_sample)


def verdict(est: MemoryEstimate, budget_gib: float) -> str:
    """One line for the summary: ``"fits in 16 GB (9.3 GiB)"`` or why not."""
    need = binary_size(est.total)
    budget = f"{budget_gib:g} GB"
    if est.fits(budget_gib * GIB):
        return f"fits in {budget} ({need} needed)"
    return f"does not fit in {budget} ({need} needed)"


def _bytes(precision: str | int) -> int:
    if isinstance(precision, int) and not isinstance(precision, bool) and precision > 0:
        return precision
    try:
        return PRECISIONS[precision]
    except (KeyError, TypeError):
        raise ValueError(f"The precision must be one of {list(PRECISIONS)} or a "
                         f"byte count. Received: {precision!r}") from None

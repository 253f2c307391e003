"""The shape of a catalogue entry: :class:`BlockSpec` and its parts.

A spec is data plus small pure rules (Keras' ``operation_utils`` style): the
analysis tier calls the rules, the compile tier reads the Keras mapping, the GUI
reads params, ports, category and docs. Nothing here imports Keras.

Shapes are tuples, batch first, channels last, ``None`` for an unknown size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from builder.core.graph import PortSpec

Shape = tuple  # tuple[int | None, ...], batch first

IN = (PortSpec("in"),)
OUT = (PortSpec("out"),)
MANY_IN = (PortSpec("in", multiple=True, doc="two or more tensors, in order"),)


class ShapeIssue(Exception):
    """Raised by a rule when a node cannot work on its inputs.

    The analysis turns it into an error diagnostic on the node.

    Args:
        message: what was expected, then ``Received: ...``.
        fix: one sentence saying how to repair it, if there is a fix.
        field: the parameter at fault, if one is.
    """

    def __init__(self, message: str, fix: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.field = field


@dataclass
class Notes:
    """Collects warnings a rule raises without failing (e.g. a floored size)."""

    items: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    def warn(self, message: str, fix: str | None = None, field: str | None = None) -> None:
        """Records a warning with an optional fix and field."""
        self.items.append((message, fix, field))


@dataclass(frozen=True)
class Param:
    """One typed parameter of a kind.

    Attributes:
        name: the key in ``Node.params``.
        type: ``int``, ``float``, ``bool``, ``str``, ``choice``, ``int_or_pair``
            (an int or ``[h, w]``), ``padding`` (``valid``/``same``/int/pair),
            ``shape`` (list of ints or nulls), ``int_list``, ``str_list``,
            ``float_list`` (a number or a list of numbers),
            ``cropping`` (int, pair or ``[[top, bottom], [left, right]]``),
            ``params`` (an object of param values for inner blocks),
            ``subgraph`` (a Group's sub-graph as data).
        default: the value a new node gets.
        doc: one line, shown as a tooltip.
        min: smallest allowed number (inclusive), if bounded.
        max: largest allowed number (inclusive), if bounded.
        choices: allowed values of a ``choice``.
        optional: whether ``None`` is allowed (e.g. pool strides = pool size).
    """

    name: str
    type: str
    default: Any
    doc: str
    min: float | None = None
    max: float | None = None
    choices: tuple = ()
    optional: bool = False


@dataclass(frozen=True)
class WeightSpec:
    """One weight tensor a layer creates, as Keras would (kernel, bias, ...)."""

    name: str
    shape: tuple[int, ...]
    trainable: bool = True

    @property
    def size(self) -> int:
        """Number of scalars."""
        return math.prod(self.shape)


@dataclass(frozen=True)
class LayerCall:
    """One Keras layer to instantiate: class name and constructor kwargs.

    ``class_name`` names a class of ``keras.layers`` or a custom layer of
    :mod:`builder.compile.custom_layers`. ``suffix`` is appended to the node's
    name when a node compiles to several layers (``conv1_pad`` + ``conv1``).
    """

    class_name: str
    kwargs: dict[str, Any]
    suffix: str = ""


def _no_weights(p, ins, outs) -> list[WeightSpec]:
    return []


def _no_flops(p, ins, outs) -> int:
    return 0


def _output_elements(p, ins, outs) -> int:
    return sum(math.prod(d for d in s[1:] if d is not None) for s in outs)


@dataclass(frozen=True)
class BlockSpec:
    """Everything the product knows about one kind of node.

    Attributes:
        kind: unique name (``"Conv2D"``).
        category: palette section (``"Convolution"``).
        doc: one line.
        params: the typed parameters.
        shape: ``(params, input_shapes, notes) -> output_shapes`` (one per output
            port); raises :class:`ShapeIssue`.
        inputs, outputs: the ports.
        weights: ``(params, input_shapes, output_shapes) -> [WeightSpec]``, the
            weights exactly as Keras creates them.
        flops: ``(params, input_shapes, output_shapes) -> int``, multiply-adds
            per sample.
        activations: ``(params, input_shapes, output_shapes) -> int``, elements
            stored per sample (all outputs by default).
        receptive: ``params -> ((kh, kw), (sh, sw))``: kernel extent and stride in
            input pixels for receptive-field bookkeeping; ``None`` keeps them;
            ``"global"`` means every output sees the whole input.
        keras: ``params -> [LayerCall]``, the Keras layers that realise the node
            (an empty list means the node adds no layer, like ``Output``).
        label: ``params -> str``, the lecture's short name (``conv3-64``).
    """

    kind: str
    category: str
    doc: str
    params: tuple[Param, ...]
    shape: Callable[[dict, Sequence[Shape], Notes], list[Shape]]
    keras: Callable[[dict], list[LayerCall]]
    label: Callable[[dict], str]
    inputs: tuple[PortSpec, ...] = IN
    outputs: tuple[PortSpec, ...] = OUT
    weights: Callable[[dict, Sequence[Shape], Sequence[Shape]], list[WeightSpec]] = _no_weights
    flops: Callable[[dict, Sequence[Shape], Sequence[Shape]], int] = _no_flops
    activations: Callable[[dict, Sequence[Shape], Sequence[Shape]], int] = _output_elements
    receptive: Callable[[dict], Any] | None = None

    def defaults(self) -> dict[str, Any]:
        """A fresh dict of default parameter values."""
        return {p.name: _fresh(p.default) for p in self.params}

    def param(self, name: str) -> Param:
        """The :class:`Param` called ``name``; ``KeyError`` if none."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)


def _fresh(value: Any) -> Any:
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    return value

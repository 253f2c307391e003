"""The lecture's layer table for any graph: one row per layer with its output
shape, activation memory and weights, then totals (plain data and text)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from builder.analysis.analyzer import Analysis, analyze
from builder.analysis.expand import ExpandError, expand_graph, has_composites
from builder.analysis.node_info import GLOBAL
from builder.blocks.composites.base import is_composite
from builder.core.graph import Graph

BACKWARD_FACTOR = 2  # the lecture's "~×2 for bwd": gradients as large as activations


@dataclass(frozen=True)
class Row:
    """One layer of the table (``Output`` nodes add no layer and no row)."""

    name: str
    kind: str
    label: str
    output_shape: tuple | None
    activations: int
    weights: int
    weights_formula: str
    params: int
    trainable_params: int
    flops: int
    receptive_field: Any


@dataclass
class Summary:
    """Rows and totals of a graph, per sample unless said otherwise."""

    rows: list[Row]
    trainable_params: int
    non_trainable_params: int
    flops: int
    activations: int
    diagnostics: list = field(default_factory=list)
    bytes_per_element: int = 4

    @property
    def total_params(self) -> int:
        """Trainable plus non-trainable parameters."""
        return self.trainable_params + self.non_trainable_params

    @property
    def forward_bytes(self) -> int:
        """Activation memory of one forward pass per sample."""
        return self.activations * self.bytes_per_element

    def to_json(self) -> dict[str, Any]:
        """The ``builder summary --json`` document."""
        return {
            "layers": [{
                "name": r.name,
                "type": r.kind,
                "label": r.label,
                "output_shape": list(r.output_shape) if r.output_shape else None,
                "params": r.params,
                "trainable_params": r.trainable_params,
                "weights": r.weights,
                "flops": r.flops,
                "activations": r.activations,
                "receptive_field": _rf_json(r.receptive_field),
            } for r in self.rows],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "flops": self.flops,
            "activations": self.activations,
            "forward_bytes": self.forward_bytes,
            "forward_backward_bytes": self.forward_bytes * BACKWARD_FACTOR,
            "diagnostics": [str(d) for d in self.diagnostics],
        }


def _rf_json(rf: Any) -> Any:
    return list(rf) if isinstance(rf, tuple) else rf


def _weights_formula(weights) -> tuple[int, str]:
    # The lecture writes a conv's weights as (F*F*D1)*K and leaves biases out.
    kernels = [w for w in weights if w.name != "bias"]
    count = sum(w.size for w in kernels)
    if not kernels:
        return 0, "0"
    parts = []
    for w in kernels:
        dims = [str(d) for d in w.shape]
        if len(dims) > 2:
            parts.append(f"({'*'.join(dims[:-1])})*{dims[-1]}")
        else:
            parts.append("*".join(dims))
    return count, " + ".join(parts)


def summarize(graph: Graph, analysis: Analysis | None = None,
              bytes_per_element: int = 4, *, flat: bool = True) -> Summary:
    """Builds the table of ``graph`` (analysing it unless ``analysis`` is given).

    Args:
        graph: the graph.
        analysis: its analysis, if already at hand.
        bytes_per_element: for the memory figures.
        flat: list every layer inside composite blocks (``conv2/block1/1_conv``,
            as the model Keras builds has them) rather than one row per block.
    """
    analysis = analysis or analyze(graph)
    if flat and has_composites(graph):
        try:
            graph, _ = expand_graph(graph, analysis)
        except ExpandError:
            pass  # the block's error is in the diagnostics; keep its single row
        else:
            analysis = analyze(graph)
    rows = []
    kinds = graph.kinds
    for nid in analysis.order:
        node = graph.nodes[nid]
        if node.kind == "Output":
            continue
        info = analysis.nodes[nid]
        spec = kinds.get(node.kind)
        try:
            label = spec.label(node.params)
        except Exception:  # a bad param must not break the table
            label = node.kind
        weights, formula = _weights_formula(info.weights)
        if is_composite(spec):  # a block's formula would list every inner tensor
            formula = "sum over its layers"
        rows.append(Row(
            name=node.label, kind=node.kind, label=label,
            output_shape=info.output_shape, activations=info.activations,
            weights=weights, weights_formula=formula, params=info.params,
            trainable_params=info.trainable, flops=info.flops,
            receptive_field=info.receptive_field))
    totals = analysis.totals
    return Summary(rows=rows, trainable_params=totals.trainable,
                   non_trainable_params=totals.non_trainable, flops=totals.flops,
                   activations=totals.activations,
                   diagnostics=analysis.diagnostics,
                   bytes_per_element=bytes_per_element)


def short(n: float, sig: int = 2) -> str:
    """The lecture's compact figures: ``150528`` → ``150K``, ``3211264`` → ``3.2M``.

    Below 10,000 the exact number; above, ``sig`` significant figures.
    """
    if n < 10_000:
        return f"{n:,}" if isinstance(n, int) else f"{n:.3g}"
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            value = n / scale
            digits = sig - 1 - int(math.floor(math.log10(value)))
            value = round(value, digits)
            if value >= 1000 and suffix != "G":  # 999,999 rounds up to 1.0M
                return short(value * scale, sig)
            return f"{value:.{max(digits, 0)}f}{suffix}"
    return str(n)


def binary_size(n_bytes: float) -> str:
    """``97542144`` → ``93.0 MiB``."""
    for unit, scale in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} B"


def _shape_text(shape: tuple | None) -> str:
    if shape is None:
        return "?"
    return "x".join("?" if d is None else str(d) for d in shape[1:])


def _memory_text(shape: tuple | None, activations: int) -> str:
    if shape is None:
        return "?"
    dims = [d for d in shape[1:]]
    if len(dims) > 1 and None not in dims:
        size = math.prod(dims)
        formula = "*".join(map(str, dims))
        if activations != size and size and activations % size == 0:
            # Several outputs of this shape (argmax pooling's values and indices).
            formula = f"{activations // size}*{formula}"
        elif activations != size:
            return short(activations)
        return f"{formula} = {short(activations)}"
    return short(activations)


def _rf_text(rf: Any) -> str:
    if rf is None:
        return "-"
    if rf == GLOBAL:
        return "all"
    return str(rf[0]) if rf[0] == rf[1] else f"{rf[0]}x{rf[1]}"


def format_table(summary: Summary) -> str:
    """The summary as the lecture's table, aligned, with totals and findings."""
    header = ("layer", "type", "output", "memory", "weights", "params", "MACs", "RF")
    lines = [header]
    for r in summary.rows:
        weights = f"{r.weights_formula} = {r.weights:,}" if r.weights else "0"
        lines.append((r.name, r.label, _shape_text(r.output_shape),
                      _memory_text(r.output_shape, r.activations), weights,
                      f"{r.params:,}", short(r.flops, 3), _rf_text(r.receptive_field)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = {5, 6}
    text = []
    for k, line in enumerate(lines):
        cells = [cell.rjust(w) if i in right else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(line, widths))]
        text.append("  ".join(cells).rstrip())
        if k == 0:
            text.append("  ".join("-" * w for w in widths))
    fwd = summary.forward_bytes
    text += [
        "",
        f"Total params: {summary.total_params:,} "
        f"(trainable {summary.trainable_params:,}, "
        f"non-trainable {summary.non_trainable_params:,})",
        f"Multiply-adds: {summary.flops:,} ({short(summary.flops, 3)}) per image",
        f"Activations: {summary.activations:,} ({short(summary.activations)}) per image, "
        f"the sum of the memory column",
        f"Memory: {summary.activations:,} * {summary.bytes_per_element} bytes ~= "
        f"{binary_size(fwd)} / image forward, ~{binary_size(fwd * BACKWARD_FACTOR)} "
        f"with backward (x{BACKWARD_FACTOR})",
    ]
    if summary.diagnostics:
        text.append("")
        text += [str(d) for d in summary.diagnostics]
    return "\n".join(text)

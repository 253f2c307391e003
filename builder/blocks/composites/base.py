"""The composite-block mechanism: a kind whose node stands for a sub-graph.

A composite kind is a :class:`CompositeSpec`: a :class:`BlockSpec` in the
"Blocks" category with typed params like every kind, plus an ``expand`` rule
``(params, input_shapes) -> SubGraph`` (most rules ignore the shapes; SE reads
its channel count from them, the "auto" shortcut whether to project). A :class:`SubGraph` is plain data: inner nodes (local
ids, kinds, full params) in topological order, edges between them, and which
inner tensor each output port of the composite is. Edges whose source is
``"@in"`` (``"@<port>"``; ``"@in:1"`` for the second edge into a multiple port)
carry the composite's inputs. Inner nodes may themselves be composites
(stage -> block -> layers).

Expansions are memoised on ``(kind, params)`` (plus input shapes for the
kinds whose ``uses_shapes`` is set): ResNet-152's 36 identical
blocks of a stage expand once. Nothing here imports Keras or the analysis.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from builder.blocks.spec import IN, OUT, BlockSpec, Param, ShapeIssue

#: Palette category of composite kinds.
CATEGORY = "Blocks"


@dataclass(frozen=True)
class InnerNode:
    """One node of a sub-graph: a local id (unique in the sub-graph), a kind and
    its full params (defaults filled in)."""

    id: str
    kind: str
    params: dict[str, Any]
    name: str | None = None


@dataclass(frozen=True)
class InnerEdge:
    """A tensor from ``src`` (an inner id, or ``"@port"``/``"@port:i"`` for a
    composite input) to input ``dst_port`` of inner node ``dst``."""

    src: str
    dst: str
    src_port: str = "out"
    dst_port: str = "in"


@dataclass(frozen=True)
class SubGraph:
    """What a composite node stands for.

    Attributes:
        nodes: inner nodes in topological order.
        edges: inner edges; for each destination, in input order.
        outputs: for each output port of the composite, the inner tensor
            ``(node id, port)`` it is.
    """

    nodes: tuple[InnerNode, ...]
    edges: tuple[InnerEdge, ...]
    outputs: dict[str, tuple[str, str]]
    incoming: dict[str, tuple[InnerEdge, ...]] = field(default_factory=dict, compare=False)

    def __post_init__(self):
        incoming: dict[str, list[InnerEdge]] = {n.id: [] for n in self.nodes}
        for edge in self.edges:
            incoming[edge.dst].append(edge)
        object.__setattr__(self, "incoming", {k: tuple(v) for k, v in incoming.items()})

    def to_dict(self) -> dict[str, Any]:
        """The sub-graph as JSON-able data (the form a Group node stores)."""
        return {
            "nodes": [{"id": n.id, "kind": n.kind, "params": copy.deepcopy(n.params),
                       **({"name": n.name} if n.name is not None else {})}
                      for n in self.nodes],
            "edges": [_edge_dict(e) for e in self.edges],
            "outputs": {port: [nid, p] for port, (nid, p) in self.outputs.items()},
        }


def _edge_dict(e: InnerEdge) -> dict[str, str]:
    entry = {"from": e.src, "to": e.dst}
    if e.src_port != "out":
        entry["from_port"] = e.src_port
    if e.dst_port != "in":
        entry["to_port"] = e.dst_port
    return entry


def input_ref(ref: str) -> tuple[str, int | None] | None:
    """``"@in"`` -> ``("in", None)``; ``"@in:2"`` -> ``("in", 2)``; else ``None``."""
    if not ref.startswith("@"):
        return None
    port, _, index = ref[1:].partition(":")
    return port, (int(index) if index else None)


_KINDS: dict[str, tuple[dict[str, Any], str]] = {}  # kind -> (defaults, input port)


class Sub:
    """Writes a :class:`SubGraph` the way a Keras functional model is written.

    Example::

        s = Sub()
        x = s.add("1_conv", "Conv2D", "@in", filters=64, kernel_size=1)
        x = s.add("1_bn", "BatchNormalization", x)
        y = s.add("add", "Add", ["@in", x])
        return s.done(y)

    A tensor is written ``"id"`` (its ``out`` port) or ``"id:port"``; the
    composite's input is ``"@in"``. Params are completed with the kind's
    defaults, so inner nodes are always full.
    """

    def __init__(self):
        self.nodes: list[InnerNode] = []
        self.edges: list[InnerEdge] = []
        self._ids: set[str] = set()

    def add(self, node_id: str, kind: str, src: str | Sequence[str], **params) -> str:
        """Adds an inner node fed by ``src`` (one tensor, or a list for merges).

        Returns:
            The new node's id, to feed later nodes.
        """
        if node_id in self._ids:
            raise ValueError(f"Inner ids must be unique. Received: {node_id!r} twice")
        known = _KINDS.get(kind)
        if known is None:
            from builder.blocks import CATALOG  # the catalogue includes this package

            spec = CATALOG.get(kind)
            known = _KINDS[kind] = (spec.defaults(),
                                    spec.inputs[0].name if spec.inputs else "in")
        # A shallow copy is enough: expansions are shared, read-only data, and
        # Graph.add_node deep-copies params when a sub-graph is flattened.
        full = dict(known[0])
        full.update(params)
        dst_port = known[1]
        for ref in ([src] if isinstance(src, str) else src):
            if ref[0] == "@":
                name, port = ref, "out"
            else:
                name, _, port = ref.partition(":")
                if name not in self._ids:
                    raise ValueError(f"Unknown inner tensor {ref!r} feeding {node_id!r}")
            self.edges.append(InnerEdge(name, node_id, port or "out", dst_port))
        self.nodes.append(InnerNode(node_id, kind, full))
        self._ids.add(node_id)
        return node_id

    def done(self, out: str, **more_outputs: str) -> SubGraph:
        """The sub-graph whose ``out`` port is tensor ``out`` (more ports by name)."""
        outputs = {}
        for port, ref in {"out": out, **more_outputs}.items():
            name, _, p = ref.partition(":")
            outputs[port] = (name, p or "out")
        return SubGraph(tuple(self.nodes), tuple(self.edges), outputs)


@dataclass(frozen=True)
class CompositeSpec(BlockSpec):
    """A kind whose node expands into a sub-graph.

    Attributes:
        expand: ``(params, input_shapes) -> SubGraph``; may raise
            :class:`ShapeIssue` for params it cannot build (the analysis reports
            it on the node). ``input_shapes`` are batch-first tuples, one per
            incoming edge.
        uses_shapes: whether ``expand`` reads ``input_shapes`` (else the
            expansion is shared by every input shape).
        min_inputs: fewest edges the node needs (default: the ports' rule,
            two for a multiple port); a Group takes one or more.
    """

    expand: Callable[[dict, Sequence[tuple]], SubGraph] | None = None
    uses_shapes: bool = False
    min_inputs: int | None = None


def _analysed_by_expansion(p, ins, notes):
    # The analysis never calls this: it analyses the expansion instead.
    raise ShapeIssue("A composite block is analysed through its expansion. "
                     "Received: a direct call of its shape rule")


def _compiled_by_expansion(p):
    raise ValueError("A composite block compiles through its expansion "
                     "(builder.analysis.expand_graph).")


def composite(kind: str, doc: str, params: Sequence[Param],
              expand: Callable[[dict, Sequence[tuple]], SubGraph],
              label: Callable[[dict], str], inputs=IN, outputs=OUT,
              uses_shapes: bool = False, min_inputs: int | None = None) -> CompositeSpec:
    """Declares a composite kind (see the module docstring)."""
    return CompositeSpec(kind=kind, category=CATEGORY, doc=doc, params=tuple(params),
                         shape=_analysed_by_expansion, keras=_compiled_by_expansion,
                         label=label, inputs=inputs, outputs=outputs, expand=expand,
                         uses_shapes=uses_shapes, min_inputs=min_inputs)


def is_composite(spec: BlockSpec) -> bool:
    """Whether nodes of ``spec`` stand for a sub-graph."""
    return getattr(spec, "expand", None) is not None


_EXPANSIONS: dict[Any, SubGraph] = {}
_LIMIT = 5000


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ("l", tuple(_freeze(v) for v in value))
    if isinstance(value, dict):
        return ("d", tuple((k, _freeze(v)) for k, v in value.items()))
    return (type(value).__name__, value)


def expansion(spec: CompositeSpec, params: dict[str, Any],
              ins: Sequence[tuple] = ()) -> SubGraph:
    """``spec.expand(params, ins)``, memoised on ``(kind, params)`` (and ``ins``
    when the kind uses shapes).

    Raises:
        ShapeIssue: when the params (or shapes) cannot be expanded.
    """
    shapes = tuple(ins) if spec.uses_shapes else None
    values = tuple(params.values())
    # Types are part of the key (1 == 1.0 == True); lists and dicts need freezing.
    key = (spec.kind, tuple(params), values, tuple(map(type, values)), shapes)
    try:
        found = _EXPANSIONS.get(key)
    except TypeError:
        key = (spec.kind, _freeze(params), shapes)
        found = _EXPANSIONS.get(key)
    if found is None:
        found = spec.expand(params, list(ins))
        if len(_EXPANSIONS) >= _LIMIT:
            _EXPANSIONS.clear()
        _EXPANSIONS[key] = found
    return found

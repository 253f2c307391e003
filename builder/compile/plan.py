"""What both back ends compile: nodes, their Keras layers and names, their wiring.

:func:`make_plan` is the single place that decides which nodes become layers,
what each layer is called and which tensors feed it, so that :func:`to_keras`
and :func:`to_source` cannot disagree. It imports no Keras.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from builder.analysis import Analysis, analyze
from builder.analysis.expand import ExpandError, expand_graph, has_composites
from builder.blocks import CATALOG
from builder.compile.errors import CompileError
from builder.core.graph import Graph

#: A tensor: the id of the node producing it and the output port.
TensorKey = tuple[str, str]

# TensorFlow's scope names (which Keras 3 uses for layer names on that backend)
# allow only these characters; Keras itself refuses only "/".
_INVALID_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")


def sanitize_layer_name(label: str) -> str:
    """A Keras layer name close to ``label`` that every backend accepts.

    ``"conv1_1"`` stays as it is; ``"conv 3x3 (a)"`` becomes ``"conv_3x3__a_"``.
    """
    return _INVALID_NAME_CHARS.sub("_", label) or "layer"


@dataclass(frozen=True)
class PlannedLayer:
    """One Keras layer to create: its class, constructor kwargs and unique name."""

    class_name: str
    kwargs: dict[str, Any]
    name: str


@dataclass(frozen=True)
class PlannedNode:
    """One node as the back ends see it.

    Attributes:
        id: the node id.
        kind: its kind.
        label: the name people see (``node.label``).
        name: the Keras name of its last layer (of its ``keras.Input`` for an
            Input node); ``label`` itself whenever that is a valid, unused name.
        params: its parameters.
        inputs: the tensors feeding it, in ``graph.in_edges`` order.
        as_list: whether the first layer takes ``inputs`` as a list (merges,
            kinds with several input ports) rather than one tensor.
        layers: the Keras layers to chain, first to last; empty for Input and
            Output nodes and for kinds that add no layer (their output is their
            input).
        outputs: output port names; a layer returning several tensors maps them
            to these ports in order.
    """

    id: str
    kind: str
    label: str
    name: str
    params: dict[str, Any]
    inputs: tuple[TensorKey, ...]
    as_list: bool
    layers: tuple[PlannedLayer, ...]
    outputs: tuple[str, ...]

    @property
    def is_input(self) -> bool:
        """Whether the node is a model input."""
        return self.kind == "Input"

    @property
    def is_output(self) -> bool:
        """Whether the node marks a model output."""
        return self.kind == "Output"


@dataclass(frozen=True)
class Plan:
    """A graph ready to compile.

    Attributes:
        nodes: the nodes that lead to an Output, in the analysis' topological
            order (nodes the analysis says are "left out of the model" are).
        inputs: the Input node ids, in the graph's node order.
        output_nodes: the Output node ids, in the graph's node order.
        outputs: the tensor feeding each of ``output_nodes``.
        analysis: the analysis the plan was made from.
    """

    nodes: tuple[PlannedNode, ...]
    inputs: tuple[str, ...]
    output_nodes: tuple[str, ...]
    outputs: tuple[TensorKey, ...]
    analysis: Analysis

    def node(self, node_id: str) -> PlannedNode:
        """The planned node ``node_id``; ``KeyError`` if it was left out."""
        for planned in self.nodes:
            if planned.id == node_id:
                return planned
        raise KeyError(node_id)


def refuse(analysis: Analysis) -> None:
    """Raises :class:`CompileError` listing the analysis' errors, if it has any."""
    errors = analysis.errors
    if errors:
        count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
        lines = "\n".join(str(d) for d in errors)
        raise CompileError(
            f"The graph cannot be compiled: the analysis found {count}.\n{lines}",
            diagnostics=errors)


def make_plan(graph: Graph) -> Plan:
    """Analyses ``graph`` and plans its compilation.

    Raises:
        CompileError: if the analysis finds errors, or if a node's Keras mapping
            fails (a catalogue bug, named with the node).
    """
    analysis = analyze(graph)
    refuse(analysis)
    if has_composites(graph):
        # Composite blocks compile as their layers, named by hierarchical id
        # ("conv2/block1/1_conv" -> "conv2_block1_1_conv").
        try:
            graph, _ = expand_graph(graph, analysis)
        except ExpandError as exc:
            raise CompileError(str(exc)) from None
        analysis = analyze(graph)
        refuse(analysis)
    get_spec = getattr(graph.kinds, "get", CATALOG.get)
    nodes = graph.nodes
    outputs = [nid for nid in nodes if nodes[nid].kind == "Output"]
    if not outputs:  # the analysis reports this; kept for registries that do not
        raise CompileError("A model needs at least one Output node. Received: none")
    keep = _leading_to(graph, outputs)
    order = [nid for nid in analysis.order if nid in keep]

    calls = {}
    for nid in order:
        node = nodes[nid]
        if node.kind in ("Input", "Output"):
            calls[nid] = []
            continue
        try:
            calls[nid] = list(get_spec(node.kind).keras(node.params))
        except Exception as exc:  # a mapping must never take the editor down
            raise CompileError(
                f"Node '{node.label}' ({node.kind}) has no Keras mapping for these "
                f"parameters. Received: {type(exc).__name__}: {exc}", node=nid) from exc

    names = _Names()
    # Labels that are valid names keep them (the first, if two nodes share one);
    # then the other labels, sanitized and made unique; then the extra layers of
    # multi-layer nodes ("conv1_pad"), which yield to node labels.
    layered = [nid for nid in order if calls[nid] or nodes[nid].kind == "Input"]
    main = {}
    for nid in layered:
        label = nodes[nid].label
        if sanitize_layer_name(label) == label and label not in names.taken:
            main[nid] = names.claim(label)
    for nid in layered:
        if nid not in main:
            main[nid] = names.claim(sanitize_layer_name(nodes[nid].label))
    planned = []
    for nid in order:
        node = nodes[nid]
        spec_in, spec_out = graph.kinds.ports(node.kind)
        layer_calls = calls[nid]
        layers = []
        for i, call in enumerate(layer_calls):
            if i == len(layer_calls) - 1:
                name = main[nid]
            else:
                name = names.claim(sanitize_layer_name(node.label + call.suffix))
            # The name is the plan's to give, whatever the mapping says.
            kwargs = {k: v for k, v in call.kwargs.items() if k != "name"}
            layers.append(PlannedLayer(call.class_name, kwargs, name))
        edges = graph.in_edges(nid)
        planned.append(PlannedNode(
            id=nid, kind=node.kind, label=node.label, name=main.get(nid, node.label),
            params=node.params,
            inputs=tuple((e.src, e.src_port) for e in edges),
            as_list=len(spec_in) > 1 or any(p.multiple for p in spec_in),
            layers=tuple(layers),
            outputs=tuple(p.name for p in spec_out)))
        if not layer_calls and node.kind not in ("Input", "Output") and len(edges) != 1:
            raise CompileError(
                f"Node '{node.label}' ({node.kind}) adds no layer, so it can only pass "
                f"one tensor on. Received: {len(edges)} inputs", node=nid)
    inputs = tuple(nid for nid in nodes if nodes[nid].kind == "Input" and nid in keep)
    feeding = []
    for nid in outputs:
        edge = graph.in_edges(nid)[0]
        feeding.append((edge.src, edge.src_port))
    return Plan(tuple(planned), inputs, tuple(outputs), tuple(feeding), analysis)


def layer_names(graph: Graph) -> dict[str, str]:
    """The Keras layer name each node compiles to (its last layer's), by node id.

    Nodes that add no layer (Output, and those left out of the model) are absent.

    Raises:
        CompileError: as :func:`make_plan`.
    """
    return {p.id: p.name for p in make_plan(graph).nodes if p.layers or p.is_input}


class _Names:
    """Hands out unique names: ``conv``, then ``conv_2``, ``conv_3``, ..."""

    def __init__(self):
        self.taken: set[str] = set()

    def claim(self, wanted: str) -> str:
        name, n = wanted, 1
        while name in self.taken:
            n += 1
            name = f"{wanted}_{n}"
        self.taken.add(name)
        return name


def _leading_to(graph: Graph, targets: list[str]) -> set[str]:
    """Ids of ``targets`` and every node upstream of one."""
    seen = set(targets)
    stack = list(targets)
    while stack:
        for edge in graph.in_edges(stack.pop()):
            if edge.src not in seen:
                seen.add(edge.src)
                stack.append(edge.src)
    return seen

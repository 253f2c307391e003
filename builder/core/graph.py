"""The document: a directed acyclic graph of layer nodes joined port to port.

The graph enforces its rules itself (orange-canvas-core style): an edit that would
add a cycle, a duplicate edge, an unknown port or kind, or a second edge into a
single-input port raises a typed :class:`~builder.core.errors.GraphError` and
leaves the graph unchanged. Every successful edit emits one
:class:`~builder.core.events.GraphEvent` on :attr:`Graph.events`.

The graph knows nothing of layers: what ports a kind has and its default
parameters come from a :class:`KindRegistry` (the catalogue in
:mod:`builder.blocks`, which registers itself as the default on import).
"""

from __future__ import annotations

import copy
import heapq
import re
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from builder.core.errors import (
    CycleError,
    DuplicateEdgeError,
    DuplicateNodeError,
    GraphError,
    PortOccupiedError,
    UnknownNodeError,
    UnknownPortError,
)
from builder.core.events import GraphEvent, Signal


@dataclass(frozen=True)
class PortSpec:
    """One input or output port of a kind.

    Attributes:
        name: the port's name, unique among the kind's inputs (or outputs).
        multiple: whether the port takes several edges (``Add``, ``Concatenate``);
            their order is the order in which they were connected.
        doc: one line for tooltips.
    """

    name: str
    multiple: bool = False
    doc: str = ""


class KindRegistry(Protocol):
    """What the graph needs to know about node kinds."""

    def ports(self, kind: str) -> tuple[Sequence[PortSpec], Sequence[PortSpec]]:
        """Returns ``(inputs, outputs)``; raises ``UnknownKindError`` if unknown."""

    def defaults(self, kind: str) -> dict[str, Any]:
        """Returns a fresh dict of the kind's default parameters."""


_default_kinds: KindRegistry | None = None


def set_default_kinds(kinds: KindRegistry) -> None:
    """Makes ``kinds`` the registry of graphs created without one.

    ``builder.blocks`` calls this on import, so ``Graph()`` knows the catalogue
    without the core tier importing the tier above it.
    """
    global _default_kinds
    _default_kinds = kinds


@dataclass
class Node:
    """One layer or block of the network.

    Attributes:
        id: stable identifier, unique in the graph; never changes.
        kind: the catalogue kind (``"Conv2D"``, ``"Add"``, ...).
        params: the kind's parameters, defaults filled in.
        name: optional display and Keras layer name; ``id`` is used when ``None``.
        pos: position on the canvas, ``None`` until laid out.
    """

    id: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    pos: tuple[float, float] | None = None

    @property
    def label(self) -> str:
        """The name shown to people: ``name`` if set, else ``id``."""
        return self.name or self.id


@dataclass(frozen=True)
class Edge:
    """A tensor flowing from an output port of ``src`` to an input port of ``dst``."""

    src: str
    dst: str
    src_port: str = "out"
    dst_port: str = "in"


@dataclass(frozen=True)
class RemovedNode:
    """Everything needed to put a removed node back exactly where it was."""

    node: Node
    index: int
    edges: tuple[tuple[int, Edge], ...]


def _id_prefix(kind: str) -> str:
    # Keras' own naming: "Conv2D" -> "conv2d", "MaxPool2D" -> "max_pool2d",
    # "Conv2DTranspose" -> "conv2d_transpose", "LRN" -> "lrn", "ReLU" -> "re_lu".
    snake = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z0-9])(?=[A-Z][a-z])", "_", kind).lower()
    return re.sub(r"[^a-z0-9_]", "_", snake)


class Graph:
    """A directed acyclic graph of :class:`Node` joined by :class:`Edge`.

    Args:
        kinds: the registry of node kinds; the catalogue when omitted.
    """

    def __init__(self, kinds: KindRegistry | None = None):
        kinds = kinds if kinds is not None else _default_kinds
        if kinds is None:
            raise GraphError(
                "Graph needs a catalogue of kinds. Import builder.blocks first "
                "or pass kinds=. Received: none registered."
            )
        self.kinds = kinds
        self.events = Signal()
        self._nodes: dict[str, Node] = {}
        self._edges: list[Edge] = []
        # Bumped on every change of nodes or edges (not params, names, moves), so
        # adjacency and topological order can be cached between structural edits.
        self.structure_version = 0
        self._adjacency_version = -1
        self._in: dict[str, list[Edge]] = {}
        self._out: dict[str, list[Edge]] = {}
        self._order: list[str] = []
        self._rank: dict[str, int] = {}  # position of each id in _order
        self._id_hint: dict[str, int] = {}  # new_id: smallest maybe-free number

    # -- reading -------------------------------------------------------------

    @property
    def nodes(self) -> dict[str, Node]:
        """Nodes by id, in insertion order. Read-only by convention."""
        return self._nodes

    @property
    def edges(self) -> list[Edge]:
        """Edges in connection order. Read-only by convention."""
        return self._edges

    def node(self, node_id: str) -> Node:
        """Returns the node ``node_id``; raises ``UnknownNodeError`` if absent."""
        try:
            return self._nodes[node_id]
        except KeyError:
            raise UnknownNodeError(
                f"No node with id '{node_id}' in the graph. "
                f"Received: {node_id!r}"
            ) from None

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def in_edges(self, node_id: str) -> list[Edge]:
        """Edges into ``node_id``, ordered by input port, then connection order."""
        self._refresh_adjacency()
        return self._in.get(node_id, [])

    def out_edges(self, node_id: str) -> list[Edge]:
        """Edges out of ``node_id`` in connection order."""
        self._refresh_adjacency()
        return self._out.get(node_id, [])

    def adjacency(self) -> tuple[dict[str, list[Edge]], dict[str, list[Edge]]]:
        """``(incoming, outgoing)`` edge lists by node id, cached between
        structural edits. Read-only: the analysis walks these on every pass."""
        self._refresh_adjacency()
        return self._in, self._out

    def predecessors(self, node_id: str) -> list[str]:
        """Ids of the nodes feeding ``node_id``, in input order."""
        return [e.src for e in self.in_edges(node_id)]

    def successors(self, node_id: str) -> list[str]:
        """Ids of the nodes fed by ``node_id`` (each once), in connection order."""
        return list(dict.fromkeys(e.dst for e in self.out_edges(node_id)))

    def topological_order(self) -> list[str]:
        """Node ids so that every edge goes forward; ties keep insertion order."""
        self._refresh_adjacency()
        return self._order

    def descendants(self, node_id: str) -> set[str]:
        """Ids of every node reachable from ``node_id``, itself included."""
        seen = {node_id}
        stack = [node_id]
        while stack:
            for edge in self.out_edges(stack.pop()):
                if edge.dst not in seen:
                    seen.add(edge.dst)
                    stack.append(edge.dst)
        return seen

    def input_ports(self, node_id: str) -> Sequence[PortSpec]:
        """The input ports of the node's kind."""
        return self.kinds.ports(self.node(node_id).kind)[0]

    def output_ports(self, node_id: str) -> Sequence[PortSpec]:
        """The output ports of the node's kind."""
        return self.kinds.ports(self.node(node_id).kind)[1]

    def new_id(self, kind: str) -> str:
        """Returns an unused id such as ``conv2d_3`` for a node of ``kind``."""
        prefix = _id_prefix(kind)
        # Numbers below the hint are taken (hints are dropped when nodes go),
        # so adding many nodes of one kind stays linear.
        n = self._id_hint.get(prefix, 1)
        while f"{prefix}_{n}" in self._nodes:
            n += 1
        self._id_hint[prefix] = n
        return f"{prefix}_{n}"

    # -- editing -------------------------------------------------------------

    def add_node(
        self,
        kind: str,
        params: dict[str, Any] | None = None,
        *,
        id: str | None = None,  # noqa: A002 - matches the document's field name
        name: str | None = None,
        pos: tuple[float, float] | None = None,
        index: int | None = None,
    ) -> Node:
        """Adds a node of ``kind``; unknown params are kept for diagnostics.

        Args:
            kind: a kind of the registry.
            params: parameters overriding the kind's defaults.
            id: the node's id; a fresh one when omitted.
            name: optional display and Keras name.
            pos: optional canvas position.
            index: position in the node order (the end when omitted).

        Returns:
            The new node.
        """
        self.kinds.ports(kind)  # raises UnknownKindError
        if id is None:
            id = self.new_id(kind)
        elif id in self._nodes:
            raise DuplicateNodeError(
                f"Node ids must be unique. Received: '{id}', which is already taken."
            )
        full = self.kinds.defaults(kind)
        full.update(copy.deepcopy(params or {}))
        node = Node(id=id, kind=kind, params=full, name=name,
                    pos=tuple(pos) if pos is not None else None)
        current = self._adjacency_version == self.structure_version
        self._insert_node(node, index)
        self._structure_changed()
        if current and (index is None or index >= len(self._nodes) - 1):
            # An appended node with no edges is last in the order; no rebuild.
            self._in[id], self._out[id] = [], []
            self._rank[id] = len(self._order)
            self._order = [*self._order, id]  # callers may hold the old list
            self._adjacency_version = self.structure_version
        self.events.emit(GraphEvent("node_added", node=id))
        return node

    def remove_node(self, node_id: str) -> RemovedNode:
        """Removes a node and every edge touching it, as one change.

        Returns:
            What :meth:`restore_node` needs to undo the removal exactly.
        """
        node = self.node(node_id)
        index = list(self._nodes).index(node_id)
        touching = tuple((i, e) for i, e in enumerate(self._edges)
                         if e.src == node_id or e.dst == node_id)
        # Emit edge removals first, newest first, so views never see a dangling edge.
        for i, edge in reversed(touching):
            del self._edges[i]
        del self._nodes[node_id]
        self._id_hint.clear()
        self._structure_changed()
        for _, edge in reversed(touching):
            self.events.emit(GraphEvent("edge_removed", edge=edge))
        self.events.emit(GraphEvent("node_removed", node=node_id))
        return RemovedNode(node=node, index=index, edges=touching)

    def restore_node(self, removed: RemovedNode) -> None:
        """Puts back a node removed by :meth:`remove_node`, edges and order too."""
        if removed.node.id in self._nodes:
            raise DuplicateNodeError(
                f"Cannot restore node '{removed.node.id}': the id is taken."
            )
        self._insert_node(removed.node, removed.index)
        for i, edge in removed.edges:
            self._edges.insert(i, edge)
        self._structure_changed()
        self.events.emit(GraphEvent("node_added", node=removed.node.id))
        for _, edge in removed.edges:
            self.events.emit(GraphEvent("edge_added", edge=edge))

    def connect(
        self,
        src: str,
        dst: str,
        src_port: str | None = None,
        dst_port: str | None = None,
        *,
        index: int | None = None,
    ) -> Edge:
        """Connects an output of ``src`` to an input of ``dst``.

        Args:
            src: id of the producing node.
            dst: id of the consuming node.
            src_port: output port; the kind's first when omitted.
            dst_port: input port; the first free one when omitted.
            index: position in the edge order (the end when omitted); the order
                of edges into a multiple port is the order of its inputs.

        Returns:
            The new edge.

        Raises:
            UnknownNodeError, UnknownPortError, DuplicateEdgeError,
            PortOccupiedError, CycleError.
        """
        src_node, dst_node = self.node(src), self.node(dst)
        outputs = self.kinds.ports(src_node.kind)[1]
        inputs = self.kinds.ports(dst_node.kind)[0]
        # Checks read the cached adjacency, and an appended edge updates it in
        # place: rebuilding it per connect made loading a graph quadratic.
        self._refresh_adjacency()
        src_port = self._resolve_out_port(src_node, outputs, src_port)
        dst_port = self._resolve_in_port(dst_node, inputs, dst_port)
        edge = Edge(src, dst, src_port, dst_port)
        forward = self._check_edge(edge, inputs)
        self._edges.insert(len(self._edges) if index is None else index, edge)
        self._structure_changed()
        if index is None:
            incoming = self._in[dst]
            incoming.append(edge)
            if len(incoming) > 1:
                self._sort_by_port(dst, incoming)
            self._out[src].append(edge)
            # An edge that goes forward in the order keeps the order valid, and
            # still the smallest one by insertion position (Kahn's tie rule).
            if forward:
                self._adjacency_version = self.structure_version
        self.events.emit(GraphEvent("edge_added", edge=edge))
        return edge

    def disconnect(self, edge: Edge) -> int:
        """Removes ``edge``; returns its former index (for undo)."""
        try:
            index = self._edges.index(edge)
        except ValueError:
            raise GraphError(
                f"No such edge in the graph. Received: {edge}"
            ) from None
        del self._edges[index]
        self._structure_changed()
        self.events.emit(GraphEvent("edge_removed", edge=edge))
        return index

    def set_param(self, node_id: str, key: str, value: Any) -> Any:
        """Sets one parameter; returns the previous value (``None`` if unset).

        Values are not range-checked here: a bad value becomes a diagnostic of
        the analysis, so that typing in the inspector never raises.
        """
        node = self.node(node_id)
        old = node.params.get(key)
        node.params[key] = copy.deepcopy(value)
        self.events.emit(GraphEvent("param_changed", node=node_id, key=key,
                                    old=old, new=value))
        return old

    def unset_param(self, node_id: str, key: str) -> None:
        """Removes a parameter key (used to undo setting one that was absent)."""
        node = self.node(node_id)
        old = node.params.pop(key, None)
        self.events.emit(GraphEvent("param_changed", node=node_id, key=key,
                                    old=old, new=None))

    def move(self, node_id: str, pos: tuple[float, float] | None) -> Any:
        """Moves a node on the canvas; returns the previous position."""
        node = self.node(node_id)
        old = node.pos
        node.pos = tuple(pos) if pos is not None else None
        self.events.emit(GraphEvent("node_moved", node=node_id, old=old, new=node.pos))
        return old

    def rename(self, node_id: str, name: str | None) -> str | None:
        """Sets the node's display and Keras name; returns the previous one."""
        node = self.node(node_id)
        old = node.name
        node.name = name
        self.events.emit(GraphEvent("node_renamed", node=node_id, old=old, new=name))
        return old

    def clear(self) -> None:
        """Removes everything (not undoable; used when a document is replaced)."""
        self._nodes.clear()
        self._edges.clear()
        self._id_hint.clear()
        self._structure_changed()
        self.events.emit(GraphEvent("graph_reset"))

    # -- (de)serialisation ---------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The graph as plain JSON-able data (positions are not included)."""
        nodes = []
        for node in self._nodes.values():
            entry: dict[str, Any] = {"id": node.id, "kind": node.kind}
            if node.name is not None:
                entry["name"] = node.name
            entry["params"] = copy.deepcopy(node.params)
            nodes.append(entry)
        edges = []
        for edge in self._edges:
            entry = {"from": edge.src, "to": edge.dst}
            if edge.src_port != "out":
                entry["from_port"] = edge.src_port
            if edge.dst_port != "in":
                entry["to_port"] = edge.dst_port
            edges.append(entry)
        return {"nodes": nodes, "edges": edges}

    def positions(self) -> dict[str, list[float]]:
        """Canvas positions of the nodes that have one."""
        return {n.id: list(n.pos) for n in self._nodes.values() if n.pos is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any], kinds: KindRegistry | None = None,
                  positions: dict[str, Sequence[float]] | None = None) -> "Graph":
        """Builds a graph from :meth:`to_dict` data; graph errors propagate."""
        graph = cls(kinds)
        positions = positions or {}
        for entry in data.get("nodes", []):
            graph.add_node(entry["kind"], entry.get("params"), id=entry["id"],
                           name=entry.get("name"), pos=positions.get(entry["id"]))
        for entry in data.get("edges", []):
            graph.connect(entry["from"], entry["to"], entry.get("from_port", "out"),
                          entry.get("to_port", "in"))
        return graph

    def copy(self) -> "Graph":
        """A deep copy with the same kinds and no subscribers."""
        return Graph.from_dict(self.to_dict(), self.kinds, self.positions())

    # -- internals -----------------------------------------------------------

    def _insert_node(self, node: Node, index: int | None) -> None:
        if index is None or index >= len(self._nodes):
            self._nodes[node.id] = node
            return
        items = list(self._nodes.items())
        items.insert(index, (node.id, node))
        self._nodes = dict(items)

    def _structure_changed(self) -> None:
        self.structure_version += 1

    def _refresh_adjacency(self) -> None:
        if self._adjacency_version == self.structure_version:
            return
        incoming: dict[str, list[Edge]] = {nid: [] for nid in self._nodes}
        outgoing: dict[str, list[Edge]] = {nid: [] for nid in self._nodes}
        for edge in self._edges:
            incoming[edge.dst].append(edge)
            outgoing[edge.src].append(edge)
        for nid, edges in incoming.items():
            if len(edges) > 1:
                self._sort_by_port(nid, edges)
        self._in, self._out = incoming, outgoing
        self._order = self._kahn(incoming, outgoing)
        self._rank = {nid: i for i, nid in enumerate(self._order)}
        self._adjacency_version = self.structure_version

    def _sort_by_port(self, node_id: str, edges: list[Edge]) -> None:
        """Orders edges into one node by input port, keeping connection order."""
        if any(e.dst_port != edges[0].dst_port for e in edges):
            names = [p.name for p in self.kinds.ports(self._nodes[node_id].kind)[0]]
            edges.sort(key=lambda e: names.index(e.dst_port)
                       if e.dst_port in names else len(names))

    def _kahn(self, incoming: dict[str, list[Edge]],
              outgoing: dict[str, list[Edge]]) -> list[str]:
        position = {nid: i for i, nid in enumerate(self._nodes)}
        # Nodes are usually added upstream first; then insertion order is the
        # answer (the smallest order by position, which the heap would find).
        if all(position[e.src] < position[e.dst] for e in self._edges):
            return list(self._nodes)
        pending = {nid: len(edges) for nid, edges in incoming.items()}
        ready = [position[nid] for nid, count in pending.items() if count == 0]
        heapq.heapify(ready)
        ids = list(self._nodes)
        order = []
        while ready:
            nid = ids[heapq.heappop(ready)]
            order.append(nid)
            for edge in outgoing[nid]:
                pending[edge.dst] -= 1
                if pending[edge.dst] == 0:
                    heapq.heappush(ready, position[edge.dst])
        return order

    def _resolve_out_port(self, node: Node, outputs: Sequence[PortSpec],
                          port: str | None) -> str:
        names = [p.name for p in outputs]
        if not names:
            raise UnknownPortError(
                f"Node '{node.id}' ({node.kind}) has no output port to connect from."
            )
        if port is None:
            return names[0]
        if port not in names:
            raise UnknownPortError(
                f"Node '{node.id}' ({node.kind}) has output ports {names}. "
                f"Received: '{port}'"
            )
        return port

    def _resolve_in_port(self, node: Node, inputs: Sequence[PortSpec],
                         port: str | None) -> str:
        names = [p.name for p in inputs]
        if not names:
            raise UnknownPortError(
                f"Node '{node.id}' ({node.kind}) has no input port to connect to."
            )
        if port is None:
            taken = {e.dst_port for e in self._in[node.id]}
            for spec in inputs:
                if spec.multiple or spec.name not in taken:
                    return spec.name
            return names[0]  # occupied: _check_edge raises the clear error
        if port not in names:
            raise UnknownPortError(
                f"Node '{node.id}' ({node.kind}) has input ports {names}. "
                f"Received: '{port}'"
            )
        return port

    def _check_edge(self, edge: Edge, inputs: Sequence[PortSpec]) -> bool:
        """Raises if ``edge`` may not be added (adjacency must be current).

        Returns:
            Whether the edge goes forward in the current topological order.
        """
        into = self._in[edge.dst]
        if edge in into:
            raise DuplicateEdgeError(
                f"'{edge.src}' is already connected to '{edge.dst}' "
                f"(port '{edge.dst_port}'). Received: a second identical edge."
            )
        spec = next(p for p in inputs if p.name == edge.dst_port)
        if not spec.multiple:
            for other in into:
                if other.dst_port == edge.dst_port:
                    raise PortOccupiedError(
                        f"Input port '{edge.dst_port}' of '{edge.dst}' takes one "
                        f"edge and is fed by '{other.src}'. Received: a second edge "
                        f"from '{edge.src}'. Use Add or Concatenate to merge tensors."
                    )
        if self._rank[edge.src] < self._rank[edge.dst]:
            return True  # forward in a topological order: cannot close a cycle
        if edge.src == edge.dst or edge.src in self.descendants(edge.dst):
            raise CycleError(
                f"Connecting '{edge.src}' to '{edge.dst}' would close a cycle: "
                f"'{edge.src}' is downstream of '{edge.dst}'."
            )
        return False


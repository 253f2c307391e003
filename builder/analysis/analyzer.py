"""Whole-graph analysis: shapes, counts, receptive fields and diagnostics, kept
up to date incrementally as the graph is edited."""

from __future__ import annotations

from typing import Iterable

from builder.analysis.diagnostics import ERROR, WARNING, Diagnostic
from builder.analysis.node_info import NodeInfo, Outcome, infer
from builder.core.events import GraphEvent
from builder.core.graph import Graph


class _PortView:
    """One output port of a multi-output node, as its consumer sees it."""

    __slots__ = ("outcome", "receptive_field", "jump", "ok")

    def __init__(self, info: NodeInfo, index: int):
        shapes = info.output_shapes
        self.outcome = Outcome()
        self.outcome.outs = [shapes[index]] if index < len(shapes) else []
        self.receptive_field = info.receptive_field
        self.jump = info.jump
        self.ok = info.ok and index < len(shapes)


class Totals:
    """Whole-model figures, per sample."""

    __slots__ = ("trainable", "non_trainable", "flops", "activations")

    def __init__(self, infos: Iterable[NodeInfo] = ()):
        self.trainable = self.non_trainable = self.flops = self.activations = 0
        for info in infos:
            self.trainable += info.trainable
            self.non_trainable += info.non_trainable
            self.flops += info.flops
            self.activations += info.activations

    @property
    def params(self) -> int:
        """Trainable plus non-trainable parameters."""
        return self.trainable + self.non_trainable

    def forward_bytes(self, bytes_per_element: int = 4) -> int:
        """Activation memory of one forward pass per sample (float32 by default)."""
        return self.activations * bytes_per_element


class Analysis:
    """The result of analysing a graph.

    Attributes:
        order: node ids in topological order.
        nodes: :class:`NodeInfo` by node id.
        graph_diagnostics: findings about the whole graph (no Input, ...).
    """

    def __init__(self, order: list[str], nodes: dict[str, NodeInfo],
                 graph_diagnostics: list[Diagnostic]):
        self.order = order
        self.nodes = nodes
        self.graph_diagnostics = graph_diagnostics
        self._totals: Totals | None = None

    @property
    def diagnostics(self) -> list[Diagnostic]:
        """Every finding: the graph's, then each node's in topological order."""
        found = list(self.graph_diagnostics)
        for nid in self.order:
            found.extend(self.nodes[nid].diagnostics)
        return found

    @property
    def errors(self) -> list[Diagnostic]:
        """Findings that stop the graph from compiling."""
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        """Findings worth a look that do not stop compiling."""
        return [d for d in self.diagnostics if not d.is_error]

    @property
    def ok(self) -> bool:
        """Whether the graph can compile."""
        return not any(d.is_error for d in self.graph_diagnostics) and all(
            not d.is_error for info in self.nodes.values() for d in info.diagnostics)

    @property
    def totals(self) -> Totals:
        """Sums over every node."""
        if self._totals is None:
            self._totals = Totals(self.nodes.values())
        return self._totals


class Analyzer:
    """Keeps an :class:`Analysis` of ``graph`` current, recomputing only what an
    edit can change.

    A parameter edit recomputes that node, then its consumers only while outputs
    keep changing (a new ``filters`` changes the next conv's weights, not its
    output, so the work stops there). A structural edit recomputes everything
    downstream of it. Renames and moves cost nothing.

    Args:
        graph: the graph to follow.
        follow: subscribe to the graph's events (``False`` for one-shot use).
    """

    def __init__(self, graph: Graph, *, follow: bool = True):
        self.graph = graph
        self._infos: dict[str, NodeInfo] = {}
        self._dirty: set[str] = set()
        self._structure_seen = -1
        self._analysis: Analysis | None = None
        self.recomputed = 0  # nodes recomputed by the last refresh (for tests/benchmarks)
        if follow:
            graph.events.connect(self._on_event)

    def close(self) -> None:
        """Stops following the graph."""
        self.graph.events.disconnect(self._on_event)

    @property
    def analysis(self) -> Analysis:
        """The up-to-date analysis (recomputed lazily on first access after edits)."""
        if self._analysis is None or self._dirty or \
                self._structure_seen != self.graph.structure_version:
            self._analysis = self._refresh()
        return self._analysis

    def _on_event(self, event: GraphEvent) -> None:
        if event.type == "param_changed":
            self._dirty.add(event.node)
        elif event.type in ("node_added", "node_removed"):
            self._dirty.add(event.node)
        elif event.type in ("edge_added", "edge_removed"):
            self._dirty.add(event.edge.dst)
        elif event.type == "graph_reset":
            self._infos.clear()

    def _refresh(self) -> Analysis:
        graph = self.graph
        nodes = graph.nodes
        order = graph.topological_order()
        incoming, outgoing = graph.adjacency()
        structural = self._structure_seen != graph.structure_version
        if structural:
            self._infos = {k: v for k, v in self._infos.items() if k in nodes}
        infos = self._infos
        todo = {n for n in self._dirty if n in nodes}
        todo.update(n for n in nodes if n not in infos)
        everything = len(todo) == len(nodes)
        get_spec = graph.kinds.get
        specs: dict = {}
        recomputed = 0
        for nid in order:
            if not everything and nid not in todo:
                continue
            node = nodes[nid]
            spec = specs.get(node.kind)
            if spec is None:
                spec = specs[node.kind] = get_spec(node.kind)
            edges = incoming[nid]
            feeds = []
            for edge in edges:
                src = infos[edge.src]
                if edge.src_port != "out" or len(src.outcome.outs) > 1:
                    src = _PortView(src, _port_index(graph, edge))
                feeds.append(src)
            info = infer(nid, spec, node.params, feeds, len(edges))
            recomputed += 1
            # Consumers need recomputing only if what they see has changed.
            if not everything and not info.same_outputs(infos.get(nid)):
                todo.update(e.dst for e in outgoing[nid])
            infos[nid] = info
        self.recomputed = recomputed
        self._dirty.clear()
        if structural or self._analysis is None:
            graph_diags = graph_diagnostics(graph)
        else:
            graph_diags = self._analysis.graph_diagnostics
        self._structure_seen = graph.structure_version
        # Nodes outside the topological order sit on a cycle (only possible in
        # a hand-edited graph); they stay unanalysed and a graph finding says so.
        snapshot = dict(infos) if len(order) == len(infos) else {
            nid: infos[nid] for nid in order if nid in infos}
        return Analysis(list(order), snapshot, graph_diags)


def _port_index(graph: Graph, edge) -> int:
    names = [p.name for p in graph.kinds.ports(graph.nodes[edge.src].kind)[1]]
    return names.index(edge.src_port)


def graph_diagnostics(graph: Graph) -> list[Diagnostic]:
    """Findings about the graph as a whole: no Input, no Output, stray nodes."""
    found = []
    kinds = {n.kind for n in graph.nodes.values()}
    # Blocks that end in their own Output (GoogLeNet's auxiliary heads) are heads too.
    heads = {k for k in kinds if k == "Output" or (k != "Input" and _is_head(graph, k))}
    if "Input" not in kinds:
        found.append(Diagnostic(ERROR, None, "A model needs at least one Input node. "
                                "Received: none", fix="Add an Input and connect it."))
    if not heads:
        found.append(Diagnostic(ERROR, None, "A model needs at least one Output node "
                                "to know which tensors it returns. Received: none",
                                fix="Connect the last layer of each head to an Output."))
    order = graph.topological_order()
    if len(order) != len(graph.nodes):
        placed = set(order)
        stuck = [nid for nid in graph.nodes if nid not in placed]
        found.append(Diagnostic(ERROR, None, f"The graph has a cycle through {stuck}."))
    reach_in = _reachable(graph, [n for n in graph.nodes
                                  if graph.nodes[n].kind == "Input"], forward=True)
    reach_out = _reachable(graph, [n for n in graph.nodes
                                   if graph.nodes[n].kind in heads], forward=False)
    incoming = graph.adjacency()[0]
    for nid, node in graph.nodes.items():
        if nid not in reach_in and node.kind != "Input" and incoming[nid]:
            found.append(Diagnostic(WARNING, nid, f"'{node.label}' is not fed by any "
                                    "Input, so it can never compute.",
                                    fix="Connect it to the network or delete it."))
        elif nid not in reach_out and node.kind not in heads and heads:
            found.append(Diagnostic(WARNING, nid, f"'{node.label}' does not lead to any "
                                    "Output, so it is left out of the model.",
                                    fix="Connect it to an Output or delete it."))
    return found


def _is_head(graph: Graph, kind: str) -> bool:
    """Whether ``kind`` has inputs and no output ports (it ends a model head)."""
    try:
        ins, outs = graph.kinds.ports(kind)
    except Exception:  # unknown kinds are reported elsewhere
        return False
    return bool(ins) and not outs


def _reachable(graph: Graph, starts: list[str], forward: bool) -> set[str]:
    # One pass in (reverse) topological order instead of a search: cheaper in
    # Python, and the order is cached on the graph anyway.
    incoming, outgoing = graph.adjacency()
    seen = set(starts)
    if forward:
        for nid in graph.topological_order():
            if nid not in seen:
                for edge in incoming[nid]:
                    if edge.src in seen:
                        seen.add(nid)
                        break
    else:
        for nid in reversed(graph.topological_order()):
            if nid not in seen:
                for edge in outgoing[nid]:
                    if edge.dst in seen:
                        seen.add(nid)
                        break
    return seen


def analyze(graph: Graph) -> Analysis:
    """Analyses ``graph`` from scratch; never raises for a bad graph or param.

    Returns:
        Per-node shapes, parameter counts (trainable and not), multiply-adds,
        activations, receptive fields and diagnostics, plus totals.
    """
    return Analyzer(graph, follow=False).analysis

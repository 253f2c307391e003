"""Composite blocks in the analysis: their figures come from their expansion,
and :func:`expand_graph` flattens a graph for the layers' own rows and for compile.

A composite node's :class:`~builder.analysis.node_info.NodeInfo` is that of its
sub-graph: output shapes, summed trainable and non-trainable parameters,
multiply-adds and activations, and the receptive field it adds (its inner
layers composed). Problems inside are lifted onto the composite node, naming
the inner layer by its path: ``In '2_conv' (Conv2D): ...``.

Outcomes are memoised like every kind's (on kind, params and input shapes), and
inner nodes go through the same memo, so ResNet-152 analyses each distinct
block once.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from builder.analysis.node_info import GLOBAL, MEMO, NodeInfo, Outcome, infer
from builder.blocks.composites.base import SubGraph, expansion, input_ref, is_composite
from builder.blocks.params import check_params, params_ok
from builder.blocks.spec import BlockSpec, ShapeIssue
from builder.core.graph import Graph


class CompositeOutcome(Outcome):
    """An :class:`Outcome` that also keeps the analysed sub-graph.

    Attributes:
        sub: the expansion.
        inner: :class:`NodeInfo` of each inner node by local id; receptive
            fields are relative to the composite's input.
    """

    __slots__ = ("sub", "inner")

    def __init__(self):
        super().__init__()
        self.sub: SubGraph | None = None
        self.inner: dict[str, NodeInfo] = {}


class _PortView:
    """One output port of a multi-output inner node, as its consumer sees it."""

    __slots__ = ("outcome", "receptive_field", "jump", "ok")

    def __init__(self, info: NodeInfo, index: int):
        self.outcome = Outcome()
        shapes = info.output_shapes
        self.outcome.outs = [shapes[index]] if index < len(shapes) else []
        self.receptive_field, self.jump = info.receptive_field, info.jump
        self.ok = info.ok and index < len(shapes)


def _fed(shape: tuple) -> NodeInfo:
    """A stand-in for the tensor arriving on a composite input."""
    info = NodeInfo("@in", "Input")
    outcome = Outcome()
    outcome.outs = [shape]
    info.outcome = outcome
    if len(shape) == 4:
        info.receptive_field, info.jump = (1, 1), (1, 1)
    info.ok = True
    return info


def _bindings(spec: BlockSpec, ins: Sequence[tuple]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    ports = spec.inputs
    if ports and ports[0].multiple:
        name = ports[0].name
        for i, shape in enumerate(ins):
            found[f"@{name}:{i}"] = shape
        if ins:
            found[f"@{name}"] = ins[0]
    else:
        for port, shape in zip(ports, ins):
            found[f"@{port.name}"] = shape
    return found


_IN = re.compile(r"^In '([^']*)' \(([^)]*)\): (.*)$", re.S)


def _lift(node_id: str, kind: str, message: str) -> str:
    nested = _IN.match(message)
    if nested:  # an inner composite already named its inner layer: extend the path
        return f"In '{node_id}/{nested.group(1)}' ({nested.group(2)}): {nested.group(3)}"
    return f"In '{node_id}' ({kind}): {message}"


def analyze_subgraph(sub: SubGraph, spec: BlockSpec, ins: Sequence[tuple]
                     ) -> dict[str, NodeInfo]:
    """Infers every inner node of ``sub`` fed with input shapes ``ins``; never raises."""
    bound = {ref: _fed(shape) for ref, shape in _bindings(spec, ins).items()}
    infos: dict[str, NodeInfo] = {}
    get = _spec
    for node in sub.nodes:
        feeds = []
        for edge in sub.incoming[node.id]:
            if edge.src[0] == "@":
                src = bound.get(edge.src)
                if src is None:
                    continue  # reported as a missing input by infer
            else:
                src = infos[edge.src]
                if edge.src_port != "out" or len(src.outcome.outs) > 1:
                    names = [p.name for p in get(node_kind(sub, edge.src)).outputs]
                    src = _PortView(src, names.index(edge.src_port))
            feeds.append(src)
        infos[node.id] = infer(node.id, get(node.kind), node.params, feeds, len(feeds))
    return infos


def node_kind(sub: SubGraph, node_id: str) -> str:
    """The kind of inner node ``node_id``."""
    for node in sub.nodes:
        if node.id == node_id:
            return node.kind
    raise KeyError(node_id)


def evaluate_composite(spec: BlockSpec, params: dict[str, Any],
                       ins: list[tuple]) -> Outcome:
    """The outcome of a composite node: its expansion analysed; never raises."""
    out = CompositeOutcome()
    problems = () if params_ok(spec, params) else check_params(spec, params)
    if problems:
        out.problems = problems
        return out
    try:
        sub = expansion(spec, params, ins)
        inner = analyze_subgraph(sub, spec, ins)
    except ShapeIssue as issue:
        out.error = (issue.message, issue.fix, issue.field)
        return out
    except Exception as exc:  # a rule must never take the editor down
        out.error = (f"{spec.kind} could not be expanded with these parameters. "
                     f"Received: {type(exc).__name__}: {exc}", None, None)
        return out
    out.sub, out.inner = sub, inner
    errors = []
    for node in sub.nodes:
        info = inner[node.id]
        for d in info.diagnostics:
            lifted = (_lift(node.id, node.kind, d.message), d.fix, None)
            (errors if d.is_error else out.notes).append(lifted)
        w = info.outcome
        out.trainable += w.trainable
        out.non_trainable += w.non_trainable
        out.flops += w.flops
        out.activations += w.activations
        out.weights.extend(w.weights)
    if errors:
        message, fix, _ = errors[0]
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more error{'s' * (len(errors) > 2)} " \
                       "inside the block)"
        out.error = (message, fix, None)
        return out
    outs = []
    last = None
    for port in spec.outputs:
        nid, src_port = sub.outputs[port.name]
        last = inner[nid]
        names = [p.name for p in _spec(node_kind(sub, nid)).outputs]
        shapes = last.output_shapes
        index = names.index(src_port) if names else 0
        if not last.ok or index >= len(shapes):
            out.error = (f"{spec.kind} could not work out its output '{port.name}'. "
                         f"Received: inner node '{nid}' without a known shape", None, None)
            return out
        outs.append(shapes[index])
    out.outs = outs
    if last is not None and len(ins) >= 1:
        rf, jump = last.receptive_field, last.jump
        out.receptive = GLOBAL if rf == GLOBAL else (
            None if rf is None or jump is None else (tuple(rf), tuple(jump)))
    return out


_SPECS: dict[str, BlockSpec] = {}


def _spec(kind: str) -> BlockSpec:
    spec = _SPECS.get(kind)
    if spec is None:
        from builder.blocks import CATALOG  # blocks import this tier's users lazily

        spec = _SPECS[kind] = CATALOG.get(kind)
    return spec


# -- flattening ----------------------------------------------------------------

class ExpandError(ValueError):
    """A composite node could not be expanded (its analysis has errors)."""


def has_composites(graph: Graph) -> bool:
    """Whether any node of ``graph`` is a composite block."""
    get = graph.kinds.get if hasattr(graph.kinds, "get") else _spec
    return any(is_composite(get(n.kind)) for n in graph.nodes.values())


def expand_graph(graph: Graph, analysis=None) -> tuple[Graph, dict[str, str]]:
    """Flattens every composite node, recursively, into its layers.

    Inner nodes get hierarchical ids joined by ``"/"`` (``conv2/block1/1_conv``);
    when the composite node has a name, inner nodes are named after it the same
    way. Other nodes keep their id, name and params. Positions are dropped
    (layout is the canvas' business).

    Args:
        graph: the graph to flatten.
        analysis: ``analyze(graph)`` if already at hand (the expansions of
            kinds that read input shapes need it).

    Returns:
        ``(flat graph, origin)``, ``origin`` mapping every flat id to the id of
        the node of ``graph`` it comes from.

    Raises:
        ExpandError: naming the node, if a composite cannot be expanded.
    """
    from builder.analysis.analyzer import analyze

    analysis = analysis if analysis is not None else analyze(graph)
    flat = Graph(graph.kinds)
    origin: dict[str, str] = {}
    tensors: dict[tuple[str, str], tuple[str, str]] = {}
    get = graph.kinds.get if hasattr(graph.kinds, "get") else _spec
    placed = set()
    for nid in list(analysis.order) + [n for n in graph.nodes if n not in analysis.nodes]:
        if nid in placed:
            continue
        placed.add(nid)
        node = graph.nodes[nid]
        spec = get(node.kind)
        feeds = [(tensors.get((e.src, e.src_port)), e.dst_port) for e in graph.in_edges(nid)]
        if is_composite(spec):
            info = analysis.nodes.get(nid)
            shapes = list(info.input_shapes) if info is not None else []
            outs = _emit(flat, origin, nid, spec, node.params, shapes, feeds,
                         prefix=nid, name=node.name, top=nid)
            for port, tensor in outs.items():
                tensors[(nid, port)] = tensor
        else:
            flat.add_node(node.kind, node.params, id=nid, name=node.name)
            origin[nid] = nid
            for src, port in feeds:
                if src is not None:
                    flat.connect(src[0], nid, src[1], port)
            for p in spec.outputs:
                tensors[(nid, p.name)] = (nid, p.name)
    return flat, origin


def _emit(flat: Graph, origin: dict, label: str, spec: BlockSpec, params: dict,
          shapes: list, feeds: list, *, prefix: str, name: str | None, top: str
          ) -> dict[str, tuple[str, str]]:
    try:
        outcome = MEMO.outcome(spec, params, shapes)
        sub = outcome.sub if isinstance(outcome, CompositeOutcome) and outcome.sub \
            else expansion(spec, params, shapes)
    except Exception as exc:
        message = exc.message if isinstance(exc, ShapeIssue) else f"{type(exc).__name__}: {exc}"
        raise ExpandError(f"Cannot expand '{label}' ({spec.kind}). Received: {message}") \
            from None
    inner = outcome.inner if isinstance(outcome, CompositeOutcome) else {}
    bound: dict[str, tuple[str, str]] = {}
    refs = _bindings(spec, [src for src, _ in feeds])
    for ref, src in refs.items():
        if src is not None:
            bound[ref] = src
    local: dict[tuple[str, str], tuple[str, str]] = {}
    for node in sub.nodes:
        fid = f"{prefix}/{node.id}"
        inner_label = node.name or node.id
        fname = f"{name or prefix}/{inner_label}" if (name or node.name) else None
        node_spec = _spec(node.kind)
        node_feeds = []
        for edge in sub.incoming[node.id]:
            src = bound.get(edge.src) if input_ref(edge.src) else \
                local.get((edge.src, edge.src_port))
            node_feeds.append((src, edge.dst_port))
        if is_composite(node_spec):
            info = inner.get(node.id)
            node_shapes = list(info.input_shapes) if info is not None else []
            outs = _emit(flat, origin, fid, node_spec, node.params, node_shapes, node_feeds,
                         prefix=fid, name=fname, top=top)
            for port, tensor in outs.items():
                local[(node.id, port)] = tensor
        else:
            flat.add_node(node.kind, node.params, id=fid, name=fname)
            origin[fid] = top
            for src, port in node_feeds:
                if src is not None:
                    flat.connect(src[0], fid, src[1], port)
            for p in node_spec.outputs:
                local[(node.id, p.name)] = (fid, p.name)
    return {port: local[ref] for port, ref in sub.outputs.items() if ref in local}


def explode_command(graph: Graph, node_id: str, analysis=None):
    """The (unexecuted) undoable command that replaces composite ``node_id`` by its
    sub-graph, one level, in the document ("expand on the canvas").

    Inner nodes get the ids ``expand_graph`` gives them (``conv2/block1``), so the
    compiled model and its layer names do not change.

    Raises:
        ExpandError: if the node is not a composite or cannot be expanded.
    """
    from builder.analysis.analyzer import analyze
    from builder.core.grouping import dissolve_command

    node = graph.node(node_id)
    spec = _spec(node.kind)
    if not is_composite(spec):
        raise ExpandError(f"Only a composite block expands. Received: '{node_id}' "
                          f"({node.kind})")
    analysis = analysis if analysis is not None else analyze(graph)
    info = analysis.nodes.get(node_id)
    try:
        sub = expansion(spec, node.params, list(info.input_shapes) if info else [])
    except Exception as exc:
        message = exc.message if isinstance(exc, ShapeIssue) else f"{type(exc).__name__}: {exc}"
        raise ExpandError(f"Cannot expand '{node.label}' ({node.kind}). Received: "
                          f"{message}") from None
    return dissolve_command(graph, node_id, sub.to_dict(), keep_ids=False,
                            text=f"Expand {node.label}")

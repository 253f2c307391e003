"""Composite blocks on the canvas: expand in place, group, ungroup (no Qt).

Each operation is one undo step made of core commands (remove, add, connect,
move), so the canvas follows it through the usual graph events:

* **expand** replaces a composite node (a residual block, a stage, a group) by
  the nodes of its sub-graph, one level deep; inner ids are the block's id
  and the inner id joined by ``/`` (``conv2/block1``), as
  :func:`builder.analysis.expand.expand_graph` names them;
* **group** replaces a selection with one ``Group`` node that keeps the
  selected layers as its sub-graph (analysed and compiled like any block);
* **collapse** groups the nodes a block was expanded into back into one node.
"""

from __future__ import annotations

from typing import Callable

from builder.analysis.layout import layered_layout
from builder.core import Edge, GraphError, History

SEP = "/"


def is_block(history: History, node_id: str) -> bool:
    """Whether the node stands for a sub-graph that can be expanded."""
    spec = history.graph.kinds.get(history.graph.nodes[node_id].kind)
    return getattr(spec, "expand", None) is not None


def _new_index(graph, edge_index: int, removed: list[int]) -> int:
    """Where an edge that sat at ``edge_index`` goes back once the edges at
    ``removed`` (original indices) are gone, keeping its order at the consumer."""
    return edge_index - sum(1 for i in removed if i < edge_index)


def expand(history: History, node_id: str, analysis,
           size: Callable[[str], tuple[float, float]], v_gap: float = 38.0,
           h_gap: float = 36.0) -> list[str]:
    """Replaces composite ``node_id`` by its sub-graph's nodes (one level).

    Args:
        history: the document's history.
        node_id: a composite node (``is_block``).
        analysis: the current analysis (its input shapes drive the expansion).
        size: box size of a node id (for placing the new nodes).

    Returns:
        The new nodes' ids.

    Raises:
        GraphError: the node is not a block, or its params cannot be expanded.
    """
    from builder.blocks.composites.base import expansion, input_ref
    from builder.blocks.spec import ShapeIssue

    graph = history.graph
    node = graph.nodes[node_id]
    spec = graph.kinds.get(node.kind)
    if getattr(spec, "expand", None) is None:
        raise GraphError(f"Only blocks can be expanded. Received: '{node_id}' ({node.kind})")
    info = analysis.nodes.get(node_id)
    try:
        sub = expansion(spec, node.params, list(info.input_shapes) if info else [])
    except ShapeIssue as exc:
        raise GraphError(f"'{node_id}' cannot be expanded: {exc.message}") from None
    edges = list(graph.edges)
    ins = [(i, e) for i, e in enumerate(edges) if e.dst == node_id]
    outs = [(i, e) for i, e in enumerate(edges) if e.src == node_id]
    removed = [i for i, _ in ins] + [i for i, _ in outs]
    feeds = graph.in_edges(node_id)  # in input order: "@in:k" is the k-th
    ids = {n.id: f"{node_id}{SEP}{n.id}" for n in sub.nodes}
    for new in ids.values():
        if new in graph:
            raise GraphError(f"Cannot expand '{node_id}': the id '{new}' is taken.")
    origin = node.pos or (0.0, 0.0)
    layout = layered_layout([(ids[n.id], *size(node_id)) for n in sub.nodes],
                            [(ids[e.src], ids[e.dst]) for e in sub.edges if e.src in ids],
                            h_gap=h_gap, v_gap=v_gap)
    grow = layout.height - size(node_id)[1]
    with history.macro(f"Expand {node.label}"):
        history.remove_node(node_id)
        if grow > 0:  # make room: everything below moves down
            for other in list(graph.nodes.values()):
                if other.pos is not None and other.pos[1] > origin[1]:
                    history.move(other.id, (other.pos[0], other.pos[1] + grow))
        for inner in sub.nodes:
            x, y = layout.positions[ids[inner.id]]
            name = f"{node.name}{SEP}{inner.name or inner.id}" if node.name else inner.name
            history.add_node(inner.kind, inner.params, id=ids[inner.id], name=name,
                             pos=(origin[0] + x, origin[1] + y))
        for e in sub.edges:
            ref = input_ref(e.src)
            if ref is None:
                history.connect(ids[e.src], ids[e.dst], e.src_port, e.dst_port)
                continue
            k = ref[1] or 0
            if k < len(feeds):
                feed = feeds[k]
                history.connect(feed.src, ids[e.dst], feed.src_port, e.dst_port)
        for i, e in outs:
            inner, port = sub.outputs.get(e.src_port, sub.outputs["out"])
            history.connect(ids[inner], e.dst, port, e.dst_port,
                            index=_new_index(graph, i, [j for j, _ in ins]))
    return list(ids.values())


def group(history: History, node_ids, title: str = "group") -> str:
    """Replaces the selected nodes by one ``Group`` node holding them.

    The selection may be fed by any number of tensors (the group's inputs, in
    order) and must hand exactly one tensor on to the rest of the graph.

    Returns:
        The group node's id.

    Raises:
        GraphError: with the reason, when the selection cannot be grouped.
    """
    graph = history.graph
    chosen = [nid for nid in graph.nodes if nid in set(node_ids)]
    keep = set(chosen)
    if not chosen:
        raise GraphError("Select the layers to group. Received: nothing selected")
    bad = [nid for nid in chosen if graph.nodes[nid].kind in ("Input", "Output")]
    if bad:
        raise GraphError(f"Inputs and Outputs stay outside groups. Received: {bad}")
    edges = list(graph.edges)
    inside = [e for e in edges if e.src in keep and e.dst in keep]
    entering = [(i, e) for i, e in enumerate(edges) if e.dst in keep and e.src not in keep]
    leaving = [(i, e) for i, e in enumerate(edges) if e.src in keep and e.dst not in keep]
    tensors_in = list(dict.fromkeys((e.src, e.src_port) for _, e in entering))
    tensors_out = list(dict.fromkeys((e.src, e.src_port) for _, e in leaving))
    if len(tensors_out) > 1:
        raise GraphError("A group hands one tensor on. Received: the selection feeds "
                         f"the rest from {[t[0] for t in tensors_out]}")
    if not tensors_in:
        raise GraphError("A group needs an input from outside it. Received: a selection "
                         "fed by nothing")
    if not tensors_out:
        last = next(nid for nid in reversed(graph.topological_order()) if nid in keep)
        tensors_out = [(last, graph.output_ports(last)[0].name)]
    sub = {
        "nodes": [{"id": nid, "kind": graph.nodes[nid].kind,
                   "params": graph.nodes[nid].params,
                   **({"name": graph.nodes[nid].name} if graph.nodes[nid].name else {})}
                  for nid in chosen],
        "edges": [_edge(e.src, e.dst, e.src_port, e.dst_port) for e in inside]
        + [_edge(f"@in:{tensors_in.index((e.src, e.src_port))}", e.dst, "out", e.dst_port)
           for _, e in entering],
        "outputs": {"out": list(tensors_out[0])},
    }
    xs = [graph.nodes[n].pos for n in chosen if graph.nodes[n].pos is not None]
    pos = (min(p[0] for p in xs), min(p[1] for p in xs)) if xs else None
    gid = _free_id(graph, title)
    # Leaving edges come back (from the group) in their old places, so a
    # Concatenate keeps its input order; the others are gone for good.
    gone = [i for i, _ in entering] + \
        [i for i, e in enumerate(edges) if e.src in keep and e.dst in keep]
    with history.macro(f"Group {len(chosen)} layers"):
        for nid in chosen:
            history.remove_node(nid)
        history.add_node("Group", {"graph": sub, "title": title}, id=gid, pos=pos)
        for src, port in tensors_in:
            history.connect(src, gid, port, "in")
        for i, e in leaving:
            history.connect(gid, e.dst, "out", e.dst_port, index=_new_index(graph, i, gone))
    return gid


def collapse(history: History, node_id: str) -> str:
    """Groups back the nodes an expanded block became (those sharing the
    ``block/`` prefix of ``node_id``); the group is titled after the block.

    Returns:
        The group node's id.
    """
    if SEP not in node_id:
        raise GraphError(f"'{node_id}' is not part of an expanded block.")
    prefix = node_id.rsplit(SEP, 1)[0]
    members = [nid for nid in history.graph.nodes if nid.startswith(prefix + SEP)]
    return group(history, members, title=prefix.rsplit(SEP, 1)[-1])


def _edge(src: str, dst: str, src_port: str, dst_port: str) -> dict:
    entry = {"from": src, "to": dst}
    if src_port != "out":
        entry["from_port"] = src_port
    if dst_port != "in":
        entry["to_port"] = dst_port
    return entry


def _free_id(graph, title: str) -> str:
    base = "".join(c if c.isalnum() or c in "_-" else "_" for c in title) or "group"
    if base not in graph:
        return base
    k = 2
    while f"{base}_{k}" in graph:
        k += 1
    return f"{base}_{k}"


__all__ = ["Edge", "collapse", "expand", "group", "is_block"]

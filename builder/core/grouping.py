"""Group selected nodes into one block, and ungroup it, as undoable commands.

Both build a :class:`~builder.core.commands.Macro` of the ordinary commands
(remove nodes, add a node, connect), so undo restores the identical graph:
same ids, params, node order and edge order. The group node is of kind
``"Group"`` and keeps the grouped layers as data in its ``graph`` param (the
form :class:`builder.blocks.composites.base.SubGraph` reads), so a project
saves and loads it like any node. Stdlib only.
"""

from __future__ import annotations

import copy
from typing import Iterable

from builder.core.commands import AddNode, Command, Connect, Macro, RemoveNode
from builder.core.errors import GraphError
from builder.core.graph import Graph

GROUP_KIND = "Group"


class GroupError(GraphError):
    """A selection that cannot become (or a node that is not) a group."""


def _edge_dict(src: str, src_port: str, dst: str, dst_port: str) -> dict:
    entry = {"from": src, "to": dst}
    if src_port != "out":
        entry["from_port"] = src_port
    if dst_port != "in":
        entry["to_port"] = dst_port
    return entry


def group_command(graph: Graph, node_ids: Iterable[str], *, group_id: str | None = None,
                  title: str = "group") -> Macro:
    """The (unexecuted) command that replaces ``node_ids`` by one Group node.

    The group's inputs are the distinct tensors entering the selection, in the
    order their edges appear; its output is the one tensor leaving it.

    Args:
        graph: the document.
        node_ids: the selection.
        group_id: the group node's id; a fresh ``group_N`` when omitted.
        title: the group's title param.

    Returns:
        A :class:`Macro` to push on the history; ``macro.group_id`` names the node.

    Raises:
        GroupError: for an empty selection, unknown ids, an Input or Output in
            it, more than one tensor leaving it, or a selection that a path
            leaves and re-enters (grouping it would close a cycle).
    """
    wanted = list(dict.fromkeys(node_ids))
    if not wanted:
        raise GroupError("Select at least one node to group. Received: none")
    for nid in wanted:
        graph.node(nid)  # UnknownNodeError
    selected = set(wanted)
    order = [nid for nid in graph.topological_order() if nid in selected]
    for nid in order:
        ins, outs = graph.kinds.ports(graph.nodes[nid].kind)
        if not ins or not outs:
            raise GroupError(
                f"A group holds layers between inputs and outputs; Input and Output "
                f"nodes stay outside. Received: '{nid}' ({graph.nodes[nid].kind})")
    entering = [e for e in graph.edges if e.dst in selected and e.src not in selected]
    leaving = [e for e in graph.edges if e.src in selected and e.dst not in selected]
    for e in leaving:
        if graph.descendants(e.dst) & selected:
            raise GroupError(
                f"'{e.dst}' is fed by the selection and feeds it again, so grouping "
                f"would close a cycle. Received: a selection without '{e.dst}'")
    exits = list(dict.fromkeys((e.src, e.src_port) for e in leaving))
    if len(exits) > 1:
        names = ", ".join(f"'{s}'" if p == "out" else f"'{s}:{p}'" for s, p in exits)
        raise GroupError(f"A group has one output, so one tensor may leave the "
                         f"selection. Received: {len(exits)} ({names})",)
    if not exits:
        exits = [(order[-1], graph.output_ports(order[-1])[0].name)]
    sources = list(dict.fromkeys((e.src, e.src_port) for e in entering))
    gid = group_id or graph.new_id(GROUP_KIND)
    if gid in graph.nodes and gid not in selected:
        raise GroupError(f"Node ids must be unique. Received: '{gid}', already taken")

    nodes = []
    for nid in order:
        node = graph.nodes[nid]
        entry = {"id": nid, "kind": node.kind, "params": copy.deepcopy(node.params)}
        if node.name is not None:
            entry["name"] = node.name
        nodes.append(entry)
    edges = []
    for e in graph.edges:  # edge order is input order on multiple ports: keep it
        if e.dst in selected:
            src = e.src if e.src in selected else f"@in:{sources.index((e.src, e.src_port))}"
            edges.append(_edge_dict(src, e.src_port if e.src in selected else "out",
                                    e.dst, e.dst_port))
    sub = {"nodes": nodes, "edges": edges, "outputs": {"out": list(exits[0])}}

    children: list[Command] = [RemoveNode(graph, nid) for nid in order]
    first_index = min(list(graph.nodes).index(nid) for nid in order)
    positions = [graph.nodes[n].pos for n in order if graph.nodes[n].pos is not None]
    pos = (sum(p[0] for p in positions) / len(positions),
           sum(p[1] for p in positions) / len(positions)) if positions else None
    children.append(AddNode(graph, GROUP_KIND, {"graph": sub, "title": title}, id=gid,
                            pos=pos, index=first_index))
    # Outgoing edges go back where the old ones were in the edge order, so a merge
    # downstream keeps its input order.
    survivors = {e for e in graph.edges if e.src not in selected and e.dst not in selected}
    placed = 0
    for i, e in enumerate(graph.edges):
        if e.src in selected and e.dst not in selected:
            before = sum(1 for x in graph.edges[:i] if x in survivors) + placed
            children.append(Connect(graph, gid, e.dst, "out", e.dst_port, index=before))
            placed += 1
    for src, port in sources:
        children.append(Connect(graph, src, gid, port, "in"))
    macro = Macro(f"Group {len(order)} node{'s' if len(order) != 1 else ''}", children)
    macro.group_id = gid
    return macro


def ungroup_command(graph: Graph, group_id: str) -> Macro:
    """The (unexecuted) command that replaces Group node ``group_id`` by its layers.

    Inner nodes keep their ids where free (so group-then-ungroup restores them),
    else get ``<group id>/<inner id>``; they take the group's place in the node
    order, and the group's edges are rewired to them in the same edge positions.

    Raises:
        GroupError: if the node is not a Group or its sub-graph is malformed.
    """
    node = graph.node(group_id)
    if node.kind != GROUP_KIND:
        raise GroupError(f"Only a Group can be ungrouped. Received: '{group_id}' "
                         f"({node.kind})")
    return dissolve_command(graph, group_id, node.params.get("graph"), keep_ids=True,
                            text=f"Ungroup {node.label}")


def dissolve_command(graph: Graph, node_id: str, sub: dict, *, keep_ids: bool,
                     text: str) -> Macro:
    """The (unexecuted) command that replaces a node by the sub-graph ``sub``.

    Args:
        graph: the document.
        node_id: the node to replace (a Group, or any composite block).
        sub: its sub-graph in the Group ``graph`` form: ``nodes``, ``edges``
            (``"@port"``/``"@port:i"`` for its inputs) and ``outputs`` (port ->
            ``[inner id, port]``).
        keep_ids: inner ids stay as they are where free (ungroup); otherwise they
            become ``<node id>/<inner id>`` (expanding a block in place, so the
            compiled layer names do not change).
        text: the undo step's name.

    Raises:
        GroupError: if ``sub`` is malformed.
    """
    node = graph.node(node_id)
    try:
        inner_nodes = list(sub["nodes"])
        inner_edges = list(sub.get("edges", []))
        outputs = {port: tuple(ref) for port, ref in dict(sub.get("outputs", {})).items()}
        for entry in inner_nodes:
            entry["id"], entry["kind"]  # noqa: B018 - checks the keys exist
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise GroupError(f"'{node_id}' has a malformed sub-graph. Received: "
                         f"{type(exc).__name__}: {exc}") from None
    taken = set(graph.nodes) - {node_id}
    ids: dict[str, str] = {}
    for entry in inner_nodes:
        local = entry["id"]
        new = local if keep_ids and local not in taken else f"{node_id}/{local}"
        n = 2
        while new in taken:
            new, n = f"{node_id}/{local}_{n}", n + 1
        ids[local] = new
        taken.add(new)
    feeds = graph.in_edges(node_id)  # ordered by port, then connection order
    index = list(graph.nodes).index(node_id)
    children: list[Command] = [RemoveNode(graph, node_id)]
    for k, entry in enumerate(inner_nodes):
        name = entry.get("name")
        if not keep_ids and (node.name or name):  # as expand_graph names them
            name = f"{node.name or node_id}/{name or entry['id']}"
        children.append(AddNode(graph, entry["kind"], entry.get("params"),
                                id=ids[entry["id"]], name=name,
                                pos=node.pos, index=index + k))
    # Consumers first, at the positions the node's edges had (minus its own
    # incoming edges that preceded them, which are gone).
    out_edges = [(i, e) for i, e in enumerate(graph.edges) if e.src == node_id]
    for i, e in out_edges:
        if e.src_port not in outputs:
            raise GroupError(f"'{node_id}' has no inner tensor for its output "
                             f"'{e.src_port}'. Received: outputs {sorted(outputs)}")
        before = sum(1 for x in graph.edges[:i] if node_id not in (x.src, x.dst))
        before += sum(1 for j, _ in out_edges if j < i)
        src, port = outputs[e.src_port]
        children.append(Connect(graph, ids[src], e.dst, port, e.dst_port, index=before))
    for entry in inner_edges:
        src = entry["from"]
        if src.startswith("@"):
            port, _, k = src[1:].partition(":")
            on_port = [f for f in feeds if f.dst_port == port]
            k = int(k or 0)
            if k >= len(on_port):
                continue  # an input the node was never given
            children.append(Connect(graph, on_port[k].src, ids[entry["to"]],
                                    on_port[k].src_port, entry.get("to_port", "in")))
        else:
            children.append(Connect(graph, ids[src], ids[entry["to"]],
                                    entry.get("from_port", "out"),
                                    entry.get("to_port", "in")))
    macro = Macro(text, children)
    macro.node_ids = [ids[e["id"]] for e in inner_nodes]
    return macro

"""Editing operations of the canvas as undoable steps of the core history (no Qt).

Each function is one undo step (a ``History.macro``) built only from core
commands, so the canvas, the inspector and tests share exactly the same edits.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterable, Sequence

from builder.analysis.diagnostics import Diagnostic
from builder.analysis.layout import layered_layout
from builder.core import Edge, GraphError, History

CLIPBOARD_FORMAT = "keras-builder/nodes"


def can_connect(history: History, src: str, dst: str) -> bool:
    """Whether ``src`` has an output and ``dst`` a free (or multiple) input."""
    graph = history.graph
    outs = graph.output_ports(src)
    ins = graph.input_ports(dst)
    if not outs or not ins:
        return False
    taken = {e.dst_port for e in graph.in_edges(dst)}
    return any(p.multiple or p.name not in taken for p in ins)


def insert_node(history: History, kind: str, pos: tuple[float, float] | None = None, *,
                after: str | None = None, into: Edge | None = None,
                params: dict | None = None) -> str:
    """Adds a node of ``kind`` as one step, wired in where the user dropped it.

    Args:
        history: the document's history.
        kind: a catalogue kind.
        pos: top-left canvas position.
        after: a node to connect the new one after (its first output feeds it).
        into: an edge to split: ``src -> new -> dst``.
        params: parameters overriding the defaults.

    Returns:
        The new node's id.
    """
    graph = history.graph
    spec_in, spec_out = graph.kinds.ports(kind)
    with history.macro(f"Add {kind}"):
        node = history.add_node(kind, params, pos=pos)
        if into is not None and spec_in and spec_out:
            # The new edge into dst takes the old one's place, so a Concatenate
            # keeps its input order.
            place = history.disconnect(into)
            history.connect(into.src, node.id, into.src_port, None)
            history.connect(node.id, into.dst, None, into.dst_port, index=place)
        elif after is not None and after in graph and spec_in and \
                graph.output_ports(after):
            history.connect(after, node.id)
    return node.id


def delete_nodes(history: History, ids: Iterable[str]) -> int:
    """Removes nodes (with their edges) as one step; returns how many."""
    ids = [nid for nid in ids if nid in history.graph]
    if ids:
        with history.macro(f"Delete {len(ids)} node{'s' if len(ids) > 1 else ''}"):
            for nid in ids:
                history.remove_node(nid)
    return len(ids)


def delete_edges(history: History, edges: Iterable[Edge]) -> int:
    """Removes edges as one step; returns how many."""
    edges = [e for e in edges if e in history.graph.edges]
    if edges:
        with history.macro(f"Delete {len(edges)} connection{'s' * (len(edges) > 1)}"):
            for edge in edges:
                history.disconnect(edge)
    return len(edges)


def copy_nodes(history: History, ids: Iterable[str]) -> str:
    """The selected nodes and the edges among them as clipboard text (JSON)."""
    graph = history.graph
    wanted = set(ids)
    chosen = [nid for nid in graph.nodes if nid in wanted]
    nodes = [{"id": nid, "kind": graph.nodes[nid].kind, "name": graph.nodes[nid].name,
              "params": graph.nodes[nid].params, "pos": graph.nodes[nid].pos}
             for nid in chosen]
    keep = set(chosen)
    edges = [[e.src, e.dst, e.src_port, e.dst_port] for e in graph.edges
             if e.src in keep and e.dst in keep]
    return json.dumps({"format": CLIPBOARD_FORMAT, "nodes": nodes, "edges": edges})


def paste_nodes(history: History, text: str,
                offset: tuple[float, float] = (30.0, 30.0)) -> list[str]:
    """Adds the clipboard's nodes (fresh ids, shifted by ``offset``) as one step.

    Returns:
        The new ids, in clipboard order; empty when the text is not ours.
    """
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return []
    if not isinstance(data, dict) or data.get("format") != CLIPBOARD_FORMAT:
        return []
    graph = history.graph
    new_ids: dict[str, str] = {}
    with history.macro(f"Paste {len(data['nodes'])} nodes"):
        for entry in data["nodes"]:
            pos = entry.get("pos")
            if pos is not None:
                pos = (pos[0] + offset[0], pos[1] + offset[1])
            name = entry.get("name")
            if name and any(n.name == name for n in graph.nodes.values()):
                name = None  # Keras names must stay unique
            node = history.add_node(entry["kind"], entry.get("params"), name=name, pos=pos)
            new_ids[entry["id"]] = node.id
        for src, dst, sp, dp in data["edges"]:
            history.connect(new_ids[src], new_ids[dst], sp, dp)
    return list(new_ids.values())


def duplicate_nodes(history: History, ids: Iterable[str]) -> list[str]:
    """Copy and paste in one go."""
    return paste_nodes(history, copy_nodes(history, ids))


def auto_layout(history: History, size: Callable[[str], tuple[float, float]],
                h_gap: float, v_gap: float, *, undoable: bool = True):
    """Moves every node to a layered top-to-bottom layout.

    Args:
        history: the document's history.
        size: ``node id -> (width, height)`` of its box on the canvas.
        h_gap, v_gap: spacing between boxes.
        undoable: one undo step (``True``) or a plain edit (a file just opened).

    Returns:
        The :class:`~builder.analysis.layout.Layout` (its ``edge_points`` route
        the long edges).
    """
    graph = history.graph
    nodes = [(nid, *size(nid)) for nid in graph.nodes]
    edges = [(e.src, e.dst) for e in graph.edges]
    layout = layered_layout(nodes, edges, h_gap=h_gap, v_gap=v_gap)
    if undoable:
        with history.macro("Auto-layout"):
            for nid, pos in layout.positions.items():
                history.move(nid, pos)
    else:
        for nid, pos in layout.positions.items():
            graph.move(nid, pos)
    return layout


# -- one-click fixes ------------------------------------------------------------

_SET = re.compile(r"(?:Use|Set) (\w+) ?(?:=|to) ?('[^']*'|-?\d+(?:\.\d+)?)")
_INSERT = re.compile(r"Insert (\w+)")
_PROJECT = re.compile(r"1×1 Conv2D projection(?: with strides=(\d+))? \(filters=(\d+)\)")


def fix_action(history: History, diag: Diagnostic) -> tuple[str, Callable[[], Any]] | None:
    """The one-click repair a diagnostic's fix sentence describes, if there is one.

    Returns:
        ``(button text, apply)`` where ``apply()`` makes the repair as one undo
        step; ``None`` when the fix needs a person's judgement.
    """
    graph = history.graph
    if not diag.fix or diag.node is None or diag.node not in graph:
        return None
    node = graph.nodes[diag.node]
    spec = graph.kinds.get(node.kind)
    names = {p.name for p in spec.params}
    match = _SET.search(diag.fix)
    if match and match.group(1) in names:
        key, raw = match.group(1), match.group(2)
        value: Any = raw.strip("'") if raw.startswith("'") else (
            float(raw) if "." in raw else int(raw))

        def apply() -> None:
            history.seal()  # its own undo step, not merged into a typed edit
            history.set_param(diag.node, key, value)
            history.seal()

        return f"Set {key}={value!r}", apply
    match = _INSERT.search(diag.fix)
    if match and match.group(1) in graph.kinds and graph.in_edges(diag.node):
        kind = match.group(1)
        edge = graph.in_edges(diag.node)[0]
        return f"Insert {kind}", lambda: insert_node(history, kind, _above(graph, edge),
                                                       into=edge)
    match = _PROJECT.search(diag.fix)
    if match:
        stride, filters = int(match.group(1) or 1), int(match.group(2))
        edge = _projection_edge(history, diag.node, stride, filters)
        if edge is not None:
            params = {"filters": filters, "kernel_size": 1, "strides": stride,
                      "padding": "same"}
            return ("Insert 1×1 projection",
                    lambda: insert_node(history, "Conv2D", _above(graph, edge),
                                        into=edge, params=params))
    return None


def _above(graph, edge: Edge) -> tuple[float, float] | None:
    a, b = graph.nodes[edge.src].pos, graph.nodes[edge.dst].pos
    if a is None or b is None:
        return None
    return ((a[0] + b[0]) / 2 + 40, (a[1] + b[1]) / 2)


def _projection_edge(history: History, node_id: str, stride: int,
                     filters: int) -> Edge | None:
    infos = _analysis_of(history).nodes
    best: Edge | None = None
    for edge in history.graph.in_edges(node_id):
        info = infos.get(edge.src)
        shape = info.output_shape if info is not None else None
        if shape is None or len(shape) != 4:
            continue
        if stride > 1:
            if best is None or (shape[1] or 0) > (infos[best.src].output_shape[1] or 0):
                best = edge
        elif shape[3] != filters:
            return edge
    return best


def _analysis_of(history: History):
    from builder.analysis import analyze

    return analyze(history.graph)


def selected_after(ids: Sequence[str]) -> str | None:
    """The node a new one should follow: the single selected node, if one."""
    return ids[0] if len(ids) == 1 else None


__all__ = ["GraphError", "auto_layout", "can_connect", "copy_nodes", "delete_edges",
           "delete_nodes", "duplicate_nodes", "fix_action", "insert_node", "paste_nodes"]

"""Validating a project dict and building its graph, every problem at once.

The third and fourth stages of loading (see :mod:`builder.core.project`): each
problem is a :class:`~builder.core.errors.ProjectError` naming the node and the
field, and the graph is built from the parts that are valid, so graph-rule
problems (a cycle, a second edge into a single port) come out in the same pass.
"""

from __future__ import annotations

import difflib
import json
from typing import Any, Callable

from builder.core.errors import GraphError, ProjectError
from builder.core.graph import Graph, KindRegistry

#: The value of a project file's ``"format"`` key.
FORMAT = "keras-builder"

#: The ``schema_version`` this code writes and reads.
SCHEMA_VERSION = 1

#: The keys a project file may have, in the order they are written.
TOP_KEYS = ("format", "schema_version", "name", "description", "graph", "view",
            "training", "dataset")
_NODE_KEYS = ("id", "kind", "name", "params")
_EDGE_KEYS = ("from", "to", "from_port", "to_port")


def check_project(data: dict[str, Any], kinds: KindRegistry,
                  path: str | None) -> tuple[list[ProjectError], Graph]:
    """Validates ``data`` and builds its graph from the parts that are valid.

    Building alongside validation reports graph-rule problems (cycles, a second
    edge into a single port) in the same pass as the others.

    Args:
        data: a project dict at the current schema version.
        kinds: the kind registry; its ``validate_params(kind, params)`` is used
            when it has one.
        path: the file, for messages.

    Returns:
        ``(problems, graph)``: the problems in file order (empty when the
        project is sound) and the graph of the valid parts.
    """
    problems: list[ProjectError] = []

    def report(message: str, node: str | None = None, fld: str | None = None) -> None:
        problems.append(ProjectError(message, path=path, node=node, field=fld))

    for key in data:
        if key not in TOP_KEYS:
            report(f"is not a key of a project file (known: {', '.join(TOP_KEYS)}).",
                   fld=key)
    if data.get("format") != FORMAT:
        report(f"must be \"{FORMAT}\". Received: {data.get('format')!r}", fld="format")
    if data.get("schema_version") != SCHEMA_VERSION or not is_int(
            data.get("schema_version")):
        report(f"must be {SCHEMA_VERSION} (migrate first). "
               f"Received: {data.get('schema_version')!r}", fld="schema_version")
    for key, types, expected in (("name", str, "text"), ("description", str, "text"),
                                 ("graph", dict, "an object"), ("view", dict, "an object"),
                                 ("training", dict, "an object"),
                                 ("dataset", dict, "an object")):
        if key in data and not isinstance(data[key], types):
            report(f"must be {expected}. Received: {describe(data[key])}", fld=key)
    if "graph" not in data:
        report("is missing. Expected: {\"nodes\": [...], \"edges\": [...]}", fld="graph")

    graph = Graph(kinds)
    raw_graph = data.get("graph") if isinstance(data.get("graph"), dict) else {}
    for key in raw_graph:
        if key not in ("nodes", "edges"):
            report("is not a key of the graph (known: nodes, edges).", fld=f"graph.{key}")
    positions = _check_positions(data.get("view"), report)
    _check_nodes(raw_graph.get("nodes", []), graph, kinds, positions, report)
    for node_id in positions:
        if node_id not in graph:
            report("a position is given for a node that does not exist.",
                   node=node_id, fld="view.positions")
    _check_edges(raw_graph.get("edges", []), graph, kinds, report)
    return problems, graph


def _check_positions(view: Any, report: Callable[..., None]) -> dict[str, tuple]:
    if not isinstance(view, dict):
        return {}
    raw = view.get("positions", {})
    if not isinstance(raw, dict):
        report(f"must be an object of node id to [x, y]. Received: {describe(raw)}",
               fld="view.positions")
        return {}
    positions = {}
    for node_id, pos in raw.items():
        if (isinstance(pos, list) and len(pos) == 2
                and all(_is_number(v) for v in pos)):
            positions[node_id] = tuple(pos)
        else:
            report(f"must be [x, y], two numbers. Received: {pos!r}",
                   node=node_id, fld="view.positions")
    return positions


def _check_nodes(nodes: Any, graph: Graph, kinds: KindRegistry,
                 positions: dict[str, tuple], report: Callable[..., None]) -> None:
    if not isinstance(nodes, list):
        report(f"must be a list of nodes. Received: {describe(nodes)}", fld="graph.nodes")
        return
    first_index: dict[str, int] = {}
    validate_params = getattr(kinds, "validate_params", None)
    for i, entry in enumerate(nodes):
        where = f"graph.nodes[{i}]"
        if not isinstance(entry, dict):
            report(f"{where} must be an object. Received: {describe(entry)}", fld="nodes")
            continue
        node_id = entry.get("id")
        if "id" not in entry:
            report(f"{where} has no id.", fld="id")
            node_id = None
        elif not isinstance(node_id, str) or not node_id:
            report(f"{where}: an id must be non-empty text. Received: {node_id!r}",
                   fld="id")
            node_id = None
        elif node_id in first_index:
            report(f"is used by more than one node (graph.nodes[{first_index[node_id]}] "
                   f"and {where}); ids must be unique.", node=node_id, fld="id")
            node_id = None
        else:
            first_index[node_id] = i
        label = node_id or where
        ok = node_id is not None
        for key in entry:
            if key not in _NODE_KEYS:
                report(f"is not a key of a node (known: {', '.join(_NODE_KEYS)}).",
                       node=label, fld=key)
        kind = entry.get("kind")
        if "kind" not in entry:
            report("is missing.", node=label, fld="kind")
            kind, ok = None, False
        elif not isinstance(kind, str):
            report(f"must be text. Received: {kind!r}", node=label, fld="kind")
            kind, ok = None, False
        else:
            try:
                kinds.ports(kind)
            except GraphError as e:
                report(str(e), node=label, fld="kind")
                kind, ok = None, False
        name = entry.get("name")
        if name is not None and not isinstance(name, str):
            report(f"must be text or null. Received: {name!r}", node=label, fld="name")
            name = None
        params = entry.get("params", {})
        if not isinstance(params, dict):
            report(f"must be an object. Received: {describe(params)}", node=label,
                   fld="params")
            params = {}
        if kind is not None and validate_params is not None:
            # Missing params take their defaults (as Graph.add_node does), so a
            # file from before a parameter existed still loads.
            merged = kinds.defaults(kind)
            merged.update(params)
            try:
                found = validate_params(kind, merged)
            except Exception as e:  # a broken rule must not give a traceback
                found = [("params", f"could not be checked: {type(e).__name__}: {e}")]
            for fld, message in found:
                report(message, node=label, fld=fld)
        if ok:
            graph.add_node(kind, params, id=node_id, name=name,
                           pos=positions.get(node_id))


def _check_edges(edges: Any, graph: Graph, kinds: KindRegistry,
                 report: Callable[..., None]) -> None:
    if not isinstance(edges, list):
        report(f"must be a list of edges. Received: {describe(edges)}", fld="graph.edges")
        return
    for i, entry in enumerate(edges):
        where = f"graph.edges[{i}]"
        if not isinstance(entry, dict):
            report(f"{where} must be an object. Received: {describe(entry)}", fld="edges")
            continue
        src, dst = entry.get("from"), entry.get("to")
        where = f"{where} ({src} → {dst})"
        ok = True
        for key in entry:
            if key not in _EDGE_KEYS:
                report(f"{where}: not a key of an edge (known: {', '.join(_EDGE_KEYS)}).",
                       node=src if isinstance(src, str) else None, fld=key)
        for end, node_id in (("from", src), ("to", dst)):
            if end not in entry:
                report(f"{where}: the edge has no '{end}' node.", fld=end)
                ok = False
            elif not isinstance(node_id, str):
                report(f"{where}: must be a node id. Received: {node_id!r}", fld=end)
                ok = False
            elif node_id not in graph:
                close = difflib.get_close_matches(node_id, list(graph.nodes), n=3)
                hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                report(f"{where}: no node has this id.{hint}", node=node_id, fld=end)
                ok = False
        ports = {}
        for key, default, end, side in (("from_port", "out", src, 1),
                                        ("to_port", "in", dst, 0)):
            port = entry.get(key, default)
            if not isinstance(port, str):
                report(f"{where}: must be a port name. Received: {port!r}",
                       node=end if isinstance(end, str) else None, fld=key)
                ok = False
                continue
            ports[key] = port
            if isinstance(end, str) and end in graph:
                node = graph.node(end)
                names = [p.name for p in kinds.ports(node.kind)[side]]
                what = "output" if side else "input"
                if port not in names:
                    have = f"{what} ports {names}" if names else f"no {what} port"
                    report(f"{where}: {node.kind} has {have}. Received: {port!r}",
                           node=end, fld=key)
                    ok = False
        if not ok:
            continue
        try:
            graph.connect(src, dst, ports["from_port"], ports["to_port"])
        except GraphError as e:
            report(f"{where}: {e}", node=dst, fld="edges")


def is_int(value: Any) -> bool:
    """Whether ``value`` is a whole number (``True`` is not one in a file)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def describe(value: Any) -> str:
    """``[1, 2]`` → ``'a list [1, 2]'``: a value's JSON type and a short excerpt."""
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false",
             int: "a number", float: "a number", type(None): "null"}
    return f"{names.get(type(value), type(value).__name__)} {_short(value)}"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if _jsonable(value) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True

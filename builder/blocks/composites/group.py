"""Group: a user-defined block whose sub-graph is a param (saved in the project).

The ``graph`` param holds the sub-graph as data, the form
:meth:`SubGraph.to_dict` writes::

    {"nodes": [{"id": "c1", "kind": "Conv2D", "params": {...}, "name": "conv1"}],
     "edges": [{"from": "@in:0", "to": "c1"}, ...],
     "outputs": {"out": ["c1", "out"]}}

``"@in:i"`` is the group's i-th input (the order of the edges into its ``in``
port). :mod:`builder.core.grouping` creates and dissolves groups as undoable
commands.
"""

from __future__ import annotations

import heapq
from typing import Any

from builder.blocks.composites.base import (
    InnerEdge,
    InnerNode,
    SubGraph,
    composite,
    input_ref,
)
from builder.blocks.spec import Param, ShapeIssue
from builder.core.graph import PortSpec


def _fail(message: str):
    raise ShapeIssue(f"Group 'graph' is malformed: {message}", field="graph")


def subgraph_from_dict(data: Any) -> SubGraph:
    """Builds a :class:`SubGraph` from its JSON form, ordering nodes topologically.

    Raises:
        ShapeIssue: naming what is malformed.
    """
    from builder.blocks import CATALOG

    if not isinstance(data, dict):
        _fail(f"expected an object with nodes, edges and outputs. Received: {data!r}")
    nodes, edges, outputs = data.get("nodes"), data.get("edges", []), data.get("outputs")
    if not isinstance(nodes, list) or not nodes:
        _fail(f"'nodes' must be a non-empty list. Received: {nodes!r}")
    by_id: dict[str, InnerNode] = {}
    for entry in nodes:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            _fail(f"every node needs a text id. Received: {entry!r}")
        if entry["id"] in by_id or entry["id"].startswith("@"):
            _fail(f"node ids must be unique and not start with '@'. Received: "
                  f"{entry['id']!r}")
        kind = entry.get("kind")
        if kind not in CATALOG:
            _fail(f"node '{entry['id']}' has an unknown kind. Received: {kind!r}")
        params = CATALOG.get(kind).defaults()
        params.update(entry.get("params") or {})
        by_id[entry["id"]] = InnerNode(entry["id"], kind, params, entry.get("name"))
    if not isinstance(edges, list):
        _fail(f"'edges' must be a list. Received: {edges!r}")
    inner_edges = []
    for entry in edges:
        if not isinstance(entry, dict):
            _fail(f"every edge is an object with from and to. Received: {entry!r}")
        src, dst = entry.get("from"), entry.get("to")
        if not isinstance(src, str) or (src not in by_id and input_ref(src) is None):
            _fail(f"an edge comes from an unknown node. Received: {src!r}")
        if dst not in by_id:
            _fail(f"an edge goes to an unknown node. Received: {dst!r}")
        inner_edges.append(InnerEdge(src, dst, entry.get("from_port", "out"),
                                     entry.get("to_port", "in")))
    if not isinstance(outputs, dict) or not isinstance(outputs.get("out"), list) \
            or len(outputs["out"]) != 2 or outputs["out"][0] not in by_id:
        _fail(f"'outputs' must be {{\"out\": [node id, port]}}. Received: {outputs!r}")
    order = _topological(list(by_id), inner_edges)
    if len(order) != len(by_id):
        _fail("its edges form a cycle.")
    return SubGraph(tuple(by_id[n] for n in order), tuple(inner_edges),
                    {"out": (outputs["out"][0], outputs["out"][1])})


def _topological(ids: list[str], edges: list[InnerEdge]) -> list[str]:
    position = {nid: i for i, nid in enumerate(ids)}
    pending = {nid: 0 for nid in ids}
    after: dict[str, list[str]] = {nid: [] for nid in ids}
    for e in edges:
        if e.src in position:
            pending[e.dst] += 1
            after[e.src].append(e.dst)
    ready = [position[n] for n, c in pending.items() if c == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        nid = ids[heapq.heappop(ready)]
        order.append(nid)
        for dst in after[nid]:
            pending[dst] -= 1
            if pending[dst] == 0:
                heapq.heappush(ready, position[dst])
    return order


GROUP = composite(
    "Group",
    "A block you made by grouping nodes: its layers are kept inside it; ungroup to "
    "edit them on the canvas.",
    (Param("graph", "subgraph", {"nodes": [], "edges": [], "outputs": {}},
           "The grouped layers as data (made by Group, not typed by hand)."),
     Param("title", "str", "group", "Name shown on the block.")),
    lambda p, ins: subgraph_from_dict(p["graph"]),
    label=lambda p: p["title"] if isinstance(p.get("title"), str) else "group",
    inputs=(PortSpec("in", multiple=True, doc="the group's inputs, in order"),),
    min_inputs=1)

SPECS = (GROUP,)

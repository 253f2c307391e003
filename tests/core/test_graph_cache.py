"""The graph's cached adjacency and order, updated in place on appends, must
always equal what a full rebuild computes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from builder.core.errors import GraphError
from builder.core.graph import Graph

from .helpers import FakeKinds


def _cached(graph: Graph):
    incoming, outgoing = graph.adjacency()
    return ({k: list(v) for k, v in incoming.items()},
            {k: list(v) for k, v in outgoing.items()},
            list(graph.topological_order()))


def _rebuilt(graph: Graph):
    graph._adjacency_version = -1  # force the full rebuild the cache stands for
    return _cached(graph)


def _brute_order_ok(graph: Graph, order: list[str]) -> bool:
    rank = {nid: i for i, nid in enumerate(order)}
    return (sorted(order) == sorted(graph.nodes)
            and all(rank[e.src] < rank[e.dst] for e in graph.edges))


# Each step: (op, a, b, flag). Ops address nodes by index modulo the node count.
steps = st.lists(st.tuples(st.sampled_from(["add", "insert", "connect", "connect_at",
                                             "remove", "disconnect"]),
                           st.integers(0, 40), st.integers(0, 40), st.booleans()),
                 max_size=60)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_cache_matches_rebuild_after_any_edit_sequence(ops):
    graph = Graph(FakeKinds())
    graph.add_node("Src")
    for op, a, b, flag in ops:
        ids = list(graph.nodes)
        try:
            if op == "add":
                graph.add_node("Merge" if flag else "Layer")
            elif op == "insert":
                graph.add_node("Layer", index=a % (len(ids) + 1))
            elif op in ("connect", "connect_at") and ids:
                index = b % (len(graph.edges) + 1) if op == "connect_at" else None
                graph.connect(ids[a % len(ids)], ids[b % len(ids)], index=index)
            elif op == "remove" and len(ids) > 1:
                graph.remove_node(ids[a % len(ids)])
            elif op == "disconnect" and graph.edges:
                graph.disconnect(graph.edges[a % len(graph.edges)])
        except GraphError:
            pass  # refused edits (cycles, occupied ports) must leave the cache sound
        cached = _cached(graph)
        assert _brute_order_ok(graph, cached[2])
        assert cached == _rebuilt(graph)


def test_a_long_chain_loads_in_linear_steps():
    """1,500 appended nodes and edges never trigger a full rebuild."""
    graph = Graph(FakeKinds())
    prev = graph.add_node("Src").id
    rebuilds = 0
    original = graph._kahn

    def counting(*args):
        nonlocal rebuilds
        rebuilds += 1
        return original(*args)

    graph._kahn = counting
    for _ in range(1500):
        cur = graph.add_node("Layer").id
        graph.connect(prev, cur)
        prev = cur
    assert len(graph.topological_order()) == 1501
    assert rebuilds <= 1

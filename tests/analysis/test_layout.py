"""Auto-layout on plain data: layers go downwards, boxes never overlap, long
edges get way-points beside the layers they skip."""

from __future__ import annotations

import random

import pytest

from builder.analysis.layout import layered_layout


def _overlaps(layout, sizes):
    boxes = [(x, y, x + sizes[n][0], y + sizes[n][1]) for n, (x, y) in layout.positions.items()]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                return a, b
    return None


def test_chain_is_one_column_top_to_bottom():
    nodes = [(f"n{i}", 100, 40) for i in range(5)]
    edges = [(f"n{i}", f"n{i + 1}") for i in range(4)]
    layout = layered_layout(nodes, edges, v_gap=10)
    xs = {layout.positions[n][0] for n, _, _ in nodes}
    ys = [layout.positions[n][1] for n, _, _ in nodes]
    assert len(xs) == 1
    assert ys == [0, 50, 100, 150, 200]
    assert layout.height == 240
    assert layout.edge_points == [[]] * 4


def test_skip_edge_gets_waypoints_beside_the_skipped_layers():
    # a -> b -> c -> d and a shortcut a -> d, as in a residual block.
    nodes = [(n, 100, 40) for n in "abcd"]
    edges = [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")]
    layout = layered_layout(nodes, edges, h_gap=20, v_gap=10)
    assert [layout.positions[n][1] for n in "abcd"] == [0, 50, 100, 150]
    points = layout.edge_points[3]
    assert len(points) == 2  # one per skipped layer
    for (px, _), node in zip(points, "bc"):
        left = layout.positions[node][0]
        assert px < left - 10 or px > left + 110, "the shortcut runs through a node"


def test_branches_do_not_overlap_and_merge_below():
    nodes = [("in", 80, 30), ("l", 120, 30), ("r", 200, 30), ("m", 80, 30)]
    edges = [("in", "l"), ("in", "r"), ("l", "m"), ("r", "m")]
    layout = layered_layout(nodes, edges, h_gap=15)
    sizes = {n: (w, h) for n, w, h in nodes}
    assert _overlaps(layout, sizes) is None
    yl, yr = layout.positions["l"][1], layout.positions["r"][1]
    assert yl == yr
    gap = layout.positions["r"][0] - (layout.positions["l"][0] + 120)
    assert gap >= 15 - 1e-9 or layout.positions["l"][0] - (layout.positions["r"][0] + 200) >= 15 - 1e-9


def test_random_dags_never_overlap_and_edges_point_down():
    rng = random.Random(7)
    for _ in range(30):
        n = rng.randint(1, 40)
        nodes = [(i, rng.randint(40, 200), rng.randint(20, 60)) for i in range(n)]
        edges = [(a, b) for b in range(n) for a in range(b) if rng.random() < 0.08]
        layout = layered_layout(nodes, edges)
        sizes = {i: (w, h) for i, w, h in nodes}
        assert set(layout.positions) == set(range(n))
        assert _overlaps(layout, sizes) is None
        for a, b in edges:
            assert layout.positions[a][1] + sizes[a][1] <= layout.positions[b][1]
        lefts = [x for x, _ in layout.positions.values()]
        lefts += [x - 12 for pts in layout.edge_points for x, _ in pts]  # dummy half-width
        assert min(lefts) == pytest.approx(0)


def test_cycles_unknown_ids_and_self_loops_do_not_break_it():
    nodes = [("a", 10, 10), ("b", 10, 10), ("c", 10, 10)]
    edges = [("a", "b"), ("b", "c"), ("c", "a"), ("a", "a"), ("a", "zzz")]
    layout = layered_layout(nodes, edges)
    assert set(layout.positions) == {"a", "b", "c"}
    assert len(layout.edge_points) == len(edges)
    assert layout.edge_points[3] == [] and layout.edge_points[4] == []


def test_empty_graph():
    layout = layered_layout([], [])
    assert layout.positions == {} and layout.width == 0 and layout.height == 0


def test_stacked_residual_blocks_keep_the_main_path_straight():
    # 30 identity blocks: x -> a -> b -> c -> add(x, c). The shortcuts' dummies
    # must give way, not push the main path sideways block after block.
    nodes, edges, x = [("in", 160, 50)], [], "in"
    for k in range(30):
        a, b, c, add = (f"a{k}", f"b{k}", f"c{k}", f"add{k}")
        nodes += [(n, 160, 50) for n in (a, b, c, add)]
        edges += [(x, a), (a, b), (b, c), (c, add), (x, add)]
        x = add
    layout = layered_layout(nodes, edges)
    xs = [layout.positions[f"add{k}"][0] for k in range(30)]
    assert max(xs) - min(xs) < 5
    assert layout.width < 3 * 160

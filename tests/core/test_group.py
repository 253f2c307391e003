"""Group and ungroup: undoable, saved in the project, analysed like the layers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import builder.blocks  # noqa: F401 - registers the catalogue
from builder.analysis import analyze
from builder.core import Graph, History, Project, dumps_project, loads_project
from builder.core.grouping import GroupError, group_command, ungroup_command


def residual_graph() -> Graph:
    g = Graph()
    g.add_node("Input", {"shape": [8, 8, 3]}, id="in")
    g.add_node("Conv2D", {"filters": 4}, id="c1", name="conv one")
    g.add_node("ReLU", id="r1", pos=(10.0, 0.0))
    g.add_node("Conv2D", {"filters": 4}, id="c2", pos=(20.0, 4.0))
    g.add_node("Add", id="add")
    g.add_node("Output", id="out")
    for a, b in [("in", "c1"), ("c1", "r1"), ("r1", "c2"), ("c1", "add"), ("c2", "add"),
                 ("add", "out")]:
        g.connect(a, b)
    return g


def equivalent(a: Graph, b: Graph) -> bool:
    """Same nodes (ids, kinds, params, names) and, per node, the same inputs in the
    same order (node order may differ: a group's layers come back together)."""
    da, db = a.to_dict(), b.to_dict()
    by_id = lambda d: sorted(d["nodes"], key=lambda n: n["id"])  # noqa: E731
    return by_id(da) == by_id(db) and all(
        a.in_edges(n) == b.in_edges(n) for n in a.nodes)


def test_group_keeps_the_analysis_and_undo_restores_the_identical_graph():
    g = residual_graph()
    before, totals = g.to_dict(), analyze(g).totals
    history = History(g)
    macro = group_command(g, ["r1", "c2"], title="branch")
    history.push(macro)
    gid = macro.group_id
    assert set(g.nodes) == {"in", "c1", gid, "add", "out"}
    assert g.nodes[gid].kind == "Group" and g.nodes[gid].pos == (15.0, 2.0)
    # The merge keeps its input order: c1 first, the group (was c2) second.
    assert [e.src for e in g.in_edges("add")] == ["c1", gid]
    a = analyze(g)
    assert a.ok, [str(d) for d in a.errors]
    assert (a.totals.trainable, a.totals.flops) == (totals.trainable, totals.flops)
    assert history.undo_text.endswith("Group 2 nodes")
    history.undo()
    assert g.to_dict() == before
    history.redo()
    assert g.nodes[gid].kind == "Group"


def test_ungroup_restores_the_layers_and_undoes_exactly():
    g = residual_graph()
    original = g.copy()
    history = History(g)
    history.push(group_command(g, ["c1", "r1", "c2", "add"]))
    grouped = g.to_dict()
    gid = next(n for n in g.nodes if g.nodes[n].kind == "Group")
    history.push(ungroup_command(g, gid))
    assert equivalent(g, original)
    assert g.nodes["c1"].name == "conv one"
    history.undo()
    assert g.to_dict() == grouped


def test_a_group_saves_loads_and_compiles_like_its_layers(tmp_path):
    keras = pytest.importorskip("keras")
    from builder.compile import to_keras

    g = residual_graph()
    group = group_command(g, ["r1", "c2"])
    group.redo()
    text = dumps_project(Project(graph=g))
    loaded = loads_project(text).graph
    assert loaded.to_dict() == g.to_dict()
    model = to_keras(loaded)
    flat = to_keras(residual_graph())
    assert model.count_params() == flat.count_params()
    assert sorted(l.name for l in model.layers) == sorted(
        ["in", f"{group.group_id}_r1", f"{group.group_id}_c2", "conv_one", "add"])
    keras.backend.clear_session()


def test_inner_problems_name_the_grouped_layer():
    g = residual_graph()
    group_command(g, ["r1", "c2"]).redo()
    gid = next(n for n in g.nodes if g.nodes[n].kind == "Group")
    sub = g.nodes[gid].params["graph"]
    sub["nodes"][1]["params"]["filters"] = 5  # c2 no longer matches c1 for the Add
    g.set_param(gid, "graph", sub)
    a = analyze(g)
    assert any("Add" in str(d) for d in a.errors)
    sub["nodes"][1]["params"]["filters"] = 0
    g.set_param(gid, "graph", sub)
    (d,) = analyze(g).nodes[gid].diagnostics
    assert d.message.startswith("In 'c2' (Conv2D): Conv2D parameter 'filters' must be")


@pytest.mark.parametrize("selection, words", [
    ([], "at least one node"),
    (["in", "c1"], "Input and Output"),
    (["c1", "r1"], "one output"),
    (["c1", "c2"], "close a cycle"),
    (["c1", "c2", "add"], "close a cycle"),
])
def test_bad_selections_are_refused_and_change_nothing(selection, words):
    g = residual_graph()
    before = g.to_dict()
    with pytest.raises(GroupError, match=words):
        group_command(g, selection)
    assert g.to_dict() == before


def test_only_a_group_ungroups():
    with pytest.raises(GroupError, match="Only a Group"):
        ungroup_command(residual_graph(), "c1")


@st.composite
def graphs_and_selections(draw):
    """A random DAG of convs and adds (every node reachable from the Input), and a
    random non-empty selection of its inner nodes."""
    g = Graph()
    g.add_node("Input", {"shape": [6, 6, 2]}, id="in")
    ids = ["in"]
    for i in range(draw(st.integers(2, 7))):
        if len(ids) > 2 and draw(st.booleans()):
            a, b = draw(st.lists(st.sampled_from(ids[1:]), min_size=2, max_size=2,
                                 unique=True))
            g.add_node("Add", id=f"n{i}")
            g.connect(a, f"n{i}")
            g.connect(b, f"n{i}")
        else:
            g.add_node("Conv2D", {"filters": 2}, id=f"n{i}")
            g.connect(draw(st.sampled_from(ids)), f"n{i}")
        ids.append(f"n{i}")
    g.add_node("Output", id="out")
    g.connect(ids[-1], "out")
    selection = draw(st.lists(st.sampled_from(ids[1:]), min_size=1, unique=True))
    return g, selection


@settings(max_examples=150, deadline=None)
@given(graphs_and_selections())
def test_group_then_undo_is_identical_and_ungroup_is_equivalent(case):
    g, selection = case
    original = g.copy()
    before = g.to_dict()
    history = History(g)
    try:
        macro = group_command(g, selection)
    except GroupError:
        assert g.to_dict() == before
        return
    history.push(macro)
    grouped = g.to_dict()
    assert analyze(g).totals.params == analyze(original).totals.params
    history.undo()
    assert g.to_dict() == before
    history.redo()
    assert g.to_dict() == grouped
    history.push(ungroup_command(g, macro.group_id))
    assert equivalent(g, original)
    history.undo()
    history.undo()
    assert g.to_dict() == before

"""Composite blocks on the canvas: expand in place, collapse, group, ungroup.

Parameter totals are checked against the analysis of the untouched template:
the graph changes shape on the canvas, never in what it computes.
"""

from __future__ import annotations

import pytest

import builder
from builder.analysis import analyze
from builder.gui import blocks


def _template(name):
    if not (builder.templates_dir() / f"{name}.json").is_file():
        pytest.skip(f"template {name} not shipped")
    return builder.from_template(name)


def test_expand_a_stage_then_a_block_then_collapse(make_window):
    window = make_window(_template("cifar_resnet20"))
    doc = window.document
    graph, history = doc.graph, doc.history
    params = analyze(graph).totals.params
    stage = next(n for n in graph.nodes if blocks.is_block(history, n))
    assert window.scene.nodes[stage].composite  # drawn as a block
    window.scene.select([stage])
    window.actions_by_name["expand"].trigger()
    inner = [n for n in graph.nodes if n.startswith(stage + "/")]
    assert len(inner) >= 2 and window.scene.selected_ids() == inner  # model -> view
    assert stage not in window.scene.nodes and all(n in window.scene.nodes for n in inner)
    assert analyze(graph).totals.params == params and analyze(graph).ok
    # A block of the stage expands into its layers (double-click does it too).
    window.view.node_activated.emit(inner[0])
    layers = [n for n in graph.nodes if n.startswith(inner[0] + "/")]
    assert any(graph.nodes[n].kind == "Conv2D" for n in layers)
    assert analyze(graph).totals.params == params
    rects = [window.scene.nodes[n].sceneBoundingRect() for n in graph.nodes]
    for i, a in enumerate(rects):  # room was made: nothing overlaps
        for b in rects[i + 1:]:
            assert not a.adjusted(1, 1, -1, -1).intersects(b.adjusted(1, 1, -1, -1))
    window.scene.select([layers[0]])
    window.actions_by_name["collapse"].trigger()
    gid = window.scene.selected_ids()[0]
    assert graph.nodes[gid].kind == "Group" and not any(n.startswith(inner[0] + "/")
                                                        for n in graph.nodes)
    assert analyze(graph).totals.params == params and analyze(graph).ok
    for _ in range(3):
        window.actions_by_name["undo"].trigger()
    assert set(graph.nodes) == set(builder.from_template("cifar_resnet20").graph.nodes)
    assert set(window.scene.nodes) == set(graph.nodes)


def test_group_and_ungroup_a_selection(make_window, small_project):
    window = make_window(small_project)
    graph = window.document.graph
    before = graph.to_dict()
    window.scene.select(["conv", "relu"])
    window.actions_by_name["group"].trigger()
    gid = window.scene.selected_ids()[0]
    assert graph.nodes[gid].kind == "Group"
    assert graph.predecessors(gid) == ["input"] and graph.successors(gid) == ["output"]
    info = analyze(graph).nodes[gid]
    assert info.output_shape == (None, 26, 26, 8) and info.params == 80
    assert window.scene.nodes[gid].shape_line == "26×26×8"
    window.actions_by_name["ungroup"].trigger()
    assert analyze(graph).nodes["output"].output_shape == (None, 26, 26, 8)
    assert sorted(graph.nodes[n].kind for n in graph.nodes) == [
        "Conv2D", "Input", "Output", "ReLU"]
    window.actions_by_name["undo"].trigger()
    window.actions_by_name["undo"].trigger()
    assert graph.to_dict() == before


def test_grouping_refuses_what_it_cannot_keep_one_tensor(make_window, small_project):
    window = make_window(small_project)
    graph, history = window.document.graph, window.document.history
    history.add_node("Flatten", id="side", pos=(300, 200))
    history.connect("conv", "side")  # conv now feeds two consumers outside
    before = graph.to_dict()
    window.scene.select(["conv", "relu"])  # hands on conv's and relu's outputs
    assert window.group_selection() is None
    assert "A group hands one tensor on" in window.last_error
    window.scene.select(["input", "conv"])
    assert window.group_selection() is None
    assert "Inputs and Outputs stay outside groups" in window.last_error
    assert graph.to_dict() == before
    window.scene.select(["conv"])  # one tensor, two consumers: fine
    gid = window.group_selection()
    assert sorted(graph.successors(gid)) == ["relu", "side"]


def test_group_keeps_the_input_order_of_a_concatenate():
    from builder.core import Graph, History

    g = Graph()
    g.add_node("Input", {"shape": [8, 8, 3]}, id="x")
    g.add_node("Conv2D", {"filters": 4, "kernel_size": 1}, id="a")
    g.add_node("Conv2D", {"filters": 6, "kernel_size": 1}, id="b")
    g.add_node("Concatenate", id="cat")
    g.add_node("Output", id="out")
    for s, d in (("x", "a"), ("x", "b"), ("a", "cat"), ("b", "cat"), ("cat", "out")):
        g.connect(s, d)
    history = History(g)
    blocks.group(history, ["a"], title="left")
    assert g.predecessors("cat") == ["left", "b"]
    assert analyze(g).nodes["cat"].output_shape == (None, 8, 8, 10)
    blocks.expand(history, "left", analyze(g), lambda n: (188, 52))
    assert g.predecessors("cat") == ["left/a", "b"]


def test_inserting_into_an_edge_keeps_the_input_order_of_a_concatenate():
    from builder.core import Graph, History
    from builder.gui.edits import insert_node

    g = Graph()
    g.add_node("Input", {"shape": [8, 8, 3]}, id="x")
    g.add_node("Conv2D", {"filters": 4, "kernel_size": 1}, id="a")
    g.add_node("Conv2D", {"filters": 6, "kernel_size": 1}, id="b")
    g.add_node("Concatenate", id="cat")
    for s, d in (("x", "a"), ("x", "b"), ("a", "cat"), ("b", "cat")):
        g.connect(s, d)
    history = History(g)
    edge = next(e for e in g.edges if (e.src, e.dst) == ("a", "cat"))
    relu = insert_node(history, "ReLU", (0, 0), into=edge)
    assert g.predecessors("cat") == [relu, "b"]
    history.undo()
    assert g.predecessors("cat") == ["a", "b"]

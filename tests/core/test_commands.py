"""Each command undoes and redoes exactly, through the graph's own methods."""

from __future__ import annotations

import pytest

from builder.core import (
    AddNode,
    Connect,
    CycleError,
    Disconnect,
    DuplicateNodeError,
    GraphError,
    History,
    Macro,
    Move,
    PortOccupiedError,
    RemoveNode,
    Rename,
    SetParam,
    UnknownKindError,
    UnknownNodeError,
)
from builder.core.commands import identical

from .helpers import snapshot


@pytest.fixture
def chain(graph):
    """src -> a -> m <- b, m -> sink; a second edge into the merge."""
    graph.add_node("Src", id="src")
    graph.add_node("Layer", id="a")
    graph.add_node("Layer", id="b")
    graph.add_node("Merge", id="m")
    graph.add_node("Sink", id="sink")
    graph.connect("src", "a")
    graph.connect("src", "b")
    graph.connect("a", "m")
    graph.connect("b", "m")
    graph.connect("m", "sink")
    return graph


def _round_trip(graph, command):
    """Pushes ``command``; checks undo → before, redo → after, twice."""
    history = History(graph)
    before = snapshot(graph)
    history.push(command)
    after = snapshot(graph)
    assert after != before
    for _ in range(2):
        history.undo()
        assert snapshot(graph) == before
        history.redo()
        assert snapshot(graph) == after
    return history


def test_add_node_redo_keeps_id_and_index(chain):
    command = AddNode(chain, "Layer", {"units": 9}, index=1, pos=(1, 2), name="x")
    _round_trip(chain, command)
    assert list(chain.nodes)[1] == command.node_id == "layer_1"
    assert command.node.params["units"] == 9
    assert command.text == "Add Layer"


def test_add_node_fresh_id_is_not_reused_by_redo(graph):
    history = History(graph)
    first = history.add_node("Layer")
    history.undo()
    history.redo()
    assert list(graph.nodes) == [first.id]
    assert graph.node(first.id) is first  # the very node object comes back


def test_remove_node_restores_node_and_edge_order(chain):
    command = RemoveNode(chain, "a")
    _round_trip(chain, command)
    assert command.text == "Remove a"


def test_remove_node_with_many_edges_restores_multiple_port_order(chain):
    chain.connect("src", "m")  # m's inputs are now a, b, src in that order
    history = _round_trip(chain, RemoveNode(chain, "b"))
    history.undo()
    assert chain.predecessors("m") == ["a", "b", "src"]


def test_connect_redo_reinserts_at_same_index(chain):
    command = Connect(chain, "src", "m", index=1)
    _round_trip(chain, command)
    assert chain.edges.index(command.edge) == 1
    assert command.edge.dst_port == "in"


def test_disconnect_undo_reinserts_at_same_index(chain):
    edge = chain.edges[2]
    command = Disconnect(chain, edge)
    _round_trip(chain, command)
    assert command.index == 2


def test_set_param_existing_and_absent_keys(chain):
    _round_trip(chain, SetParam(chain, "a", "units", 128))
    history = _round_trip(chain, SetParam(chain, "a", "new_key", [1, 2]))
    history.undo()
    assert "new_key" not in chain.node("a").params  # unset, not left as None


def test_set_param_absent_key_to_none_is_still_undone_by_unset(chain):
    history = History(chain)
    history.set_param("a", "ghost", None)
    assert chain.node("a").params["ghost"] is None
    history.undo()
    assert "ghost" not in chain.node("a").params


def test_set_param_value_is_copied(chain):
    value = [3, 3]
    history = History(chain)
    history.set_param("a", "kernel", value)
    value.append(99)
    history.undo()
    history.redo()
    assert chain.node("a").params["kernel"] == [3, 3]


def test_move_and_rename(chain):
    _round_trip(chain, Move(chain, "a", (10.5, -3)))
    _round_trip(chain, Rename(chain, "a", "first"))
    assert Rename(chain, "a", "x").text == "Rename first"


def test_macro_runs_children_in_order_and_undoes_in_reverse(chain):
    macro = Macro("Replace a", [RemoveNode(chain, "a"), AddNode(chain, "Layer", id="a2"),
                                Connect(chain, "src", "a2"), Connect(chain, "a2", "m")])
    _round_trip(chain, macro)
    assert chain.predecessors("m") == ["b", "a2"]


def test_pushed_macro_rolls_back_when_a_child_fails(chain):
    history = History(chain)
    before = snapshot(chain)
    macro = Macro("Bad", [AddNode(chain, "Layer", id="x"), Connect(chain, "src", "x"),
                          Connect(chain, "x", "src")])  # src has no input port
    with pytest.raises(GraphError):
        history.push(macro)
    assert snapshot(chain) == before
    assert not history.can_undo


@pytest.mark.parametrize("make, error", [
    (lambda g: AddNode(g, "Nope"), UnknownKindError),
    (lambda g: AddNode(g, "Layer", id="a"), DuplicateNodeError),
    (lambda g: RemoveNode(g, "zzz"), UnknownNodeError),
    (lambda g: Connect(g, "m", "a"), PortOccupiedError),
    (lambda g: Connect(g, "sink", "src"), GraphError),
    (lambda g: Connect(g, "a", "a"), GraphError),
    (lambda g: SetParam(g, "zzz", "units", 1), UnknownNodeError),
    (lambda g: Move(g, "zzz", (0, 0)), UnknownNodeError),
    (lambda g: Rename(g, "zzz", "n"), UnknownNodeError),
])
def test_failing_command_is_not_recorded_and_changes_nothing(chain, make, error):
    history = History(chain)
    history.rename("a", "named")
    history.undo()  # leave something to redo: a failed push must not discard it
    before = snapshot(chain)
    with pytest.raises(error):
        history.push(make(chain))
    assert snapshot(chain) == before
    assert history.index == 0 and len(history) == 1 and history.can_redo


def test_cycle_is_refused(chain):
    history = History(chain)
    history.disconnect(chain.edges[-1])  # m -> sink
    history.add_node("Layer", id="back")
    history.connect("m", "back")
    with pytest.raises(CycleError):
        history.connect("back", "m")  # m feeds back: a cycle
    assert history.undo_text == "Connect m to back"


def test_identical_tells_types_apart():
    assert identical([1, {"a": 2.0}], [1, {"a": 2.0}])
    assert not identical(1, 1.0)
    assert not identical(True, 1)
    assert not identical(0.0, -0.0)
    assert not identical((1, 2), [1, 2])
    assert not identical({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert identical(float("nan"), float("nan"))

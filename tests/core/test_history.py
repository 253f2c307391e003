"""The history: merging, macros, clean state, limit, texts and signals."""

from __future__ import annotations

import pytest

from builder.core import GraphError, History, HistoryState, PortOccupiedError, SetParam

from .helpers import snapshot


@pytest.fixture
def history(graph):
    history = History(graph)
    history.add_node("Src", id="src")
    history.add_node("Layer", id="a")
    history.connect("src", "a")
    history.clear()
    return history


def test_push_undo_redo_and_texts(history):
    assert not history.can_undo and not history.can_redo
    assert history.undo_text == history.redo_text == ""
    history.set_param("a", "units", 8)
    assert history.can_undo and history.undo_text == "Set units"
    history.undo()
    assert history.graph.node("a").params["units"] == 4
    assert history.redo_text == "Set units" and history.undo_text == ""
    history.redo()
    assert history.graph.node("a").params["units"] == 8


def test_undo_and_redo_at_the_ends_do_nothing(history):
    events = []
    history.changed.connect(events.append)
    history.undo()
    history.redo()
    assert events == []


def test_push_discards_redo_steps(history):
    history.rename("a", "one")
    history.undo()
    history.move("a", (1, 1))
    assert not history.can_redo and len(history) == 1


def test_consecutive_edits_of_one_field_merge(history):
    for value in (1, 12, 128):
        history.set_param("a", "units", value)
    assert len(history) == 1
    history.undo()
    assert history.graph.node("a").params["units"] == 4
    history.redo()
    assert history.graph.node("a").params["units"] == 128


def test_edits_of_other_fields_or_nodes_do_not_merge(history):
    history.add_node("Layer", id="b")
    history.set_param("a", "units", 1)
    history.set_param("a", "act", "tanh")
    history.set_param("b", "act", "tanh")
    history.set_param("a", "units", 2)
    assert len(history) == 5


def test_merging_stops_after_undo_redo_seal_and_save(history):
    history.set_param("a", "units", 1)
    history.seal()
    history.set_param("a", "units", 2)
    assert len(history) == 2
    history.undo()
    history.redo()
    history.set_param("a", "units", 3)
    assert len(history) == 3
    history.mark_clean()
    history.set_param("a", "units", 4)
    assert len(history) == 4
    history.undo()
    assert history.is_clean and history.graph.node("a").params["units"] == 3


def test_no_merge_into_the_step_below_an_undone_one(history):
    history.set_param("a", "units", 1)
    history.rename("a", "x")
    history.undo()
    history.set_param("a", "units", 2)  # not merged into "units = 1"
    assert len(history) == 2 and not history.can_redo
    history.undo()
    assert history.graph.node("a").params["units"] == 1


def test_editing_back_to_the_start_drops_the_step(history):
    history.rename("a", "keep")
    history.set_param("a", "units", 5)
    history.set_param("a", "units", 4)  # back to the default
    assert len(history) == 1 and history.undo_text == "Rename a"


def test_editing_back_returns_to_clean(history):
    history.mark_clean()
    history.set_param("a", "units", 64)
    assert not history.is_clean
    history.set_param("a", "units", 4)
    assert history.is_clean


def test_setting_the_same_value_records_nothing(history):
    history.set_param("a", "units", 4)
    history.rename("a", None)
    history.move("a", None)
    assert len(history) == 0


def test_same_value_of_another_type_is_a_change(history):
    history.set_param("a", "units", 4.0)
    assert len(history) == 1
    history.undo()
    assert type(history.graph.node("a").params["units"]) is int


def test_consecutive_moves_merge(history):
    for x in range(5):
        history.move("a", (x, x))
    history.move("src", (9, 9))
    assert len(history) == 2
    history.undo()
    history.undo()
    assert history.graph.node("a").pos is None


def test_convenience_methods_return_results(history):
    node = history.add_node("Layer", {"units": 3}, id="b", pos=(1, 2))
    assert node is history.graph.node("b") and node.pos == (1, 2)
    edge = history.connect("a", "b")
    assert (edge.src, edge.dst, edge.dst_port) == ("a", "b", "in")
    assert history.set_param("b", "units", 7) == 3
    assert history.move("b", (5, 5)) == (1, 2)
    assert history.rename("b", "bee") is None
    assert history.disconnect(edge) == 1
    removed = history.remove_node("b")
    assert removed.id == "b" and "b" not in history.graph


def test_macro_is_one_step(history):
    before = snapshot(history.graph)
    with history.macro("Paste 2 nodes"):
        b = history.add_node("Layer")
        c = history.add_node("Sink")
        history.connect("a", b.id)
        history.connect(b.id, c.id)
    after = snapshot(history.graph)
    assert len(history) == 1 and history.undo_text == "Paste 2 nodes"
    history.undo()
    assert snapshot(history.graph) == before
    history.redo()
    assert snapshot(history.graph) == after


def test_nested_macros_flatten(history):
    with history.macro("Outer"):
        history.add_node("Layer", id="b")
        with history.macro("Inner"):
            history.add_node("Layer", id="c")
            history.connect("b", "c")
    assert len(history) == 1 and history.undo_text == "Outer"
    assert len(history._stack[0].children) == 3
    history.undo()
    assert list(history.graph.nodes) == ["src", "a"]


def test_macro_rolls_back_on_exception(history):
    before = snapshot(history.graph)
    events = []
    history.changed.connect(events.append)
    with pytest.raises(ZeroDivisionError):
        with history.macro("Broken"):
            history.add_node("Layer", id="b")
            history.connect("a", "b")
            history.set_param("a", "units", 99)
            1 / 0
    assert snapshot(history.graph) == before
    assert len(history) == 0 and events == []


def test_failed_push_inside_macro_can_be_caught(history):
    with history.macro("Partly"):
        history.add_node("Layer", id="b")
        with pytest.raises(PortOccupiedError):
            history.connect("b", "a")  # a's only input is taken
        history.connect("a", "b")
    assert len(history) == 1
    assert [type(c).__name__ for c in history._stack[0].children] == ["AddNode", "Connect"]


def test_inner_macro_failure_rolls_back_only_the_inner_block(history):
    with history.macro("Outer"):
        history.add_node("Layer", id="b")
        with pytest.raises(GraphError):
            with history.macro("Inner"):
                history.add_node("Layer", id="c")
                history.connect("c", "c")
        assert "c" not in history.graph
    assert list(history.graph.nodes) == ["src", "a", "b"]
    history.undo()
    assert list(history.graph.nodes) == ["src", "a"]


def test_empty_macro_records_nothing(history):
    with history.macro("Nothing"):
        pass
    assert len(history) == 0


def test_undo_inside_macro_is_refused(history):
    history.rename("a", "x")
    with pytest.raises(RuntimeError):
        with history.macro("M"):
            history.undo()


def test_clean_tracking(history):
    assert history.is_clean
    history.rename("a", "x")
    assert not history.is_clean
    history.mark_clean()
    assert history.is_clean
    history.undo()
    assert not history.is_clean
    history.redo()
    assert history.is_clean
    history.undo()
    history.rename("a", "y")  # the saved state is no longer reachable
    assert not history.is_clean
    history.undo()
    assert not history.is_clean


def test_changed_emits_state_after_each_change(history):
    states: list[HistoryState] = []
    history.changed.connect(states.append)
    history.set_param("a", "units", 2)
    history.set_param("a", "units", 3)  # merged: still a change of the history
    history.undo()
    history.redo()
    history.mark_clean()
    with history.macro("Two"):
        history.rename("a", "n")
        history.move("a", (1, 1))
    assert len(states) == 6
    assert states[0] == HistoryState(True, False, "Set units", "", False, 1, 1)
    assert states[2] == HistoryState(False, True, "", "Set units", True, 0, 1)
    assert states[4].is_clean and states[5].undo_text == "Two"


def test_graph_events_follow_commands(history):
    events = []
    history.graph.events.connect(lambda e: events.append(e.type))
    history.add_node("Layer", id="b")
    history.connect("a", "b")
    history.remove_node("b")
    history.undo()
    assert events == ["node_added", "edge_added", "edge_removed", "node_removed",
                      "node_added", "edge_added"]


def test_push_from_a_graph_event_handler_is_refused(history):
    def handler(event):
        history.rename("a", "re-entrant")

    history.graph.events.connect(handler)
    with pytest.raises(RuntimeError):
        history.move("a", (1, 1))


def test_limit_drops_oldest_steps(graph):
    history = History(graph, limit=3)
    history.add_node("Layer", id="a")
    history.mark_clean()
    for i in range(5):
        history.rename("a", f"n{i}")
    assert len(history) == 3 and history.index == 3
    for _ in range(5):
        history.undo()
    assert graph.node("a").name == "n1"
    assert not history.is_clean  # the saved state fell off the stack


def test_limit_keeps_clean_index_aligned(graph):
    history = History(graph, limit=2)
    history.add_node("Layer", id="a")
    history.rename("a", "x")
    history.mark_clean()
    history.rename("a", "y")
    history.undo()
    assert history.is_clean


def test_bad_limit():
    with pytest.raises(ValueError):
        History(None, limit=0)


def test_clear_forgets_and_marks_clean(history):
    history.rename("a", "x")
    history.clear()
    assert len(history) == 0 and history.is_clean and not history.can_undo


def test_merge_is_only_with_the_same_command_type(history):
    # A subclass with another meaning must not be swallowed by SetParam.merge_with.
    class SetParamFromTemplate(SetParam):
        pass

    history.set_param("a", "units", 2)
    history.push(SetParamFromTemplate(history.graph, "a", "units", 3))
    assert len(history) == 2

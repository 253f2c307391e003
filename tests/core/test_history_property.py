"""Random edit sequences on the real catalogue undo and redo exactly.

Starting from a random DAG, a state machine pushes random commands (every kind
of the catalogue, removals, connections that the graph may refuse, disconnections,
parameter edits that merge or set a value equal in Python but not in a file,
moves, renames, macros that may fail half-way) and interleaves undo, redo, saves
and seals. It keeps the snapshot of the graph (``to_dict``, positions, node and
edge order, value types) after each recorded step, predicts whether each edit is
recorded, merged or dropped, and checks after every rule that the graph equals
the snapshot at the history's cursor and that clean tracking agrees. Undoing
everything gives the initial graph and redoing everything the final one (at
random points and at the end).
"""

from __future__ import annotations

import math

import hypothesis.strategies as st
from hypothesis import HealthCheck, event, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from builder.blocks import CATALOG
from builder.core import Graph, GraphError, History

from .helpers import snapshot

KINDS = CATALOG.kinds()

values = st.one_of(
    # Equal in Python, different in a file: edits between them must be real steps.
    st.sampled_from([1, 1.0, True, 0, 0.0, -0.0, False]),
    st.none(), st.integers(-3, 300),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["same", "valid", "relu", "", "x"]),
    st.lists(st.integers(0, 9), max_size=3),
)
positions = st.one_of(st.none(), st.tuples(st.integers(-50, 50), st.integers(-50, 50)),
                      st.tuples(st.floats(-1e3, 1e3, width=32), st.just(0.0)))
names = st.one_of(st.none(), st.sampled_from(["stem", "head", "", "b"]))


def _aliases(value):
    """``value`` and the values equal to it in Python but not in a file."""
    aliases = [value]
    if isinstance(value, bool):
        aliases.append(int(value))
    elif isinstance(value, int):
        aliases += [float(value)] + ([bool(value)] if value in (0, 1) else [])
    elif isinstance(value, float):
        aliases += [-value] if value == 0 else []
        aliases += [int(value)] if value.is_integer() else []
    elif isinstance(value, list):
        aliases.append(tuple(value))
    return aliases


class _Rollback(Exception):
    """Raised on purpose inside a macro block."""


class HistoryMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.graph = Graph(CATALOG)
        self.history = History(self.graph)
        self.snapshots = [snapshot(self.graph)]  # [k]: the graph after k steps
        self.clean = 0  # index of the state marked clean, None if unreachable
        self.merge_key = None  # what the next edit must share to merge
        self.recent_keys = []  # fields edited lately, to edit again (and merge)

    # -- helpers -------------------------------------------------------------

    def _node(self, data):
        return data.draw(st.sampled_from(list(self.graph.nodes)))

    def _edit(self, data):
        """Pushes one random command.

        Returns:
            ``(ok, merge_key)``: whether the graph accepted it, and what a
            following edit must share to merge with it (``None``: never merges).
        """
        ops = ["add", "add", "connect", "connect", "connect", "param", "param", "alias",
               "move", "rename"]
        if len(self.graph) > 0:
            ops += ["remove"]
        if self.graph.edges:
            ops += ["disconnect", "disconnect"]
        again = [k for k in self.recent_keys if k[1] in self.graph]
        if again:
            ops += ["again", "again"]
        op = data.draw(st.sampled_from(ops))
        if len(self.graph) == 0:
            op = "add"
        h = self.history
        key = None
        try:
            if op == "add":
                existing = list(self.graph.nodes)
                node_id = data.draw(st.one_of(
                    st.none(), st.sampled_from(["n1", "n2", "n3"]),
                    *([st.sampled_from(existing)] if existing else [])))
                index = data.draw(st.one_of(st.none(), st.integers(0, len(self.graph) + 1)))
                params = data.draw(st.one_of(
                    st.none(), st.dictionaries(st.sampled_from(["filters", "units", "zz"]),
                                               values, max_size=2)))
                h.add_node(data.draw(st.sampled_from(KINDS)), params, id=node_id,
                           name=data.draw(names), pos=data.draw(positions), index=index)
            elif op == "remove":
                h.remove_node(self._node(data))
            elif op == "connect":
                # Mostly forward pairs in topological order (so that graphs grow
                # edges), sometimes any pair (cycles, missing ports: refused).
                order = self.graph.topological_order()
                srcs = [i for i, n in enumerate(order)
                        if CATALOG.ports(self.graph.node(n).kind)[1]]
                forward = data.draw(st.sampled_from([True, True, True, False]))
                if forward and srcs and srcs[0] < len(order) - 1:
                    i = data.draw(st.sampled_from([i for i in srcs if i < len(order) - 1]))
                    src = order[i]
                    dst = order[data.draw(st.integers(i + 1, len(order) - 1))]
                    dst_port = None
                else:
                    src, dst = self._node(data), self._node(data)
                    dst_port = data.draw(st.sampled_from([None, "in", "nope"]))
                index = data.draw(st.one_of(st.none(), st.integers(0, len(self.graph.edges))))
                h.connect(src, dst, dst_port=dst_port, index=index)
            elif op == "disconnect":
                edge = data.draw(st.sampled_from(self.graph.edges))
                event(f"disconnect, {len(self.graph.edges)} edges")
                h.disconnect(edge)
            elif op in ("param", "alias"):
                node = self.graph.node(self._node(data))
                if op == "param":
                    name = data.draw(st.sampled_from(sorted(node.params) + ["extra_key"]))
                    value = data.draw(values)
                else:
                    # The current value again, or one equal to it in Python only.
                    name = data.draw(st.sampled_from(sorted(node.params) or ["extra_key"]))
                    value = data.draw(st.sampled_from(_aliases(node.params.get(name))))
                key = ("param", node.id, name)
                h.set_param(node.id, name, value)
            elif op == "move":
                node_id = self._node(data)
                key = ("move", node_id)
                h.move(node_id, data.draw(positions))
            elif op == "rename":
                h.rename(self._node(data), data.draw(names))
            elif op == "again":
                # A field edited lately, edited again: merges if nothing came between.
                key = data.draw(st.sampled_from(again))
                if key[0] == "param":
                    h.set_param(key[1], key[2], data.draw(values))
                else:
                    h.move(key[1], data.draw(positions))
        except GraphError as e:
            event(f"{op} refused: {type(e).__name__}")
            return False, None
        event(f"{op} ok")
        if key is not None:
            self.recent_keys = [k for k in self.recent_keys if k != key][-3:] + [key]
        return True, key

    # -- rules ---------------------------------------------------------------

    @initialize(data=st.data())
    def start_from_a_graph(self, data):
        """A random starting DAG, built without the history: undo must stop here."""
        kinds = data.draw(st.lists(st.sampled_from(KINDS), max_size=10))
        for kind in kinds:
            self.graph.add_node(kind)
        order = list(self.graph.nodes)
        for i, j in data.draw(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)),
                                       max_size=14)):
            if i < j < len(order):
                try:
                    self.graph.connect(order[i], order[j])
                except GraphError:
                    pass
        self.snapshots = [snapshot(self.graph)]

    @rule(data=st.data())
    def edit(self, data):
        self._edit_rule(data)

    # Edits are what the test is about: give them more of the steps.
    @rule(data=st.data())
    def edit_more(self, data):
        self._edit_rule(data)

    @rule(data=st.data())
    def edit_again(self, data):
        self._edit_rule(data)

    def _edit_rule(self, data):
        before_index, before = self.history.index, snapshot(self.graph)
        ok, key = self._edit(data)
        now, index = snapshot(self.graph), self.history.index
        if not ok:
            assert now == before and index == before_index
            return
        if key is not None and key == self.merge_key:
            # Merges into the top step, which disappears if it now does nothing.
            assert index in (before_index, before_index - 1)
            assert (index == before_index - 1) == (now == self.snapshots[before_index - 1])
            self.snapshots[before_index] = now
            del self.snapshots[index + 1:]
            self.merge_key = key if index == before_index else None
        elif now == before:
            assert index == before_index  # an edit that changes nothing is not a step
        else:
            assert index == before_index + 1
            self._recorded(before_index, now)
            self.merge_key = key

    @rule(data=st.data(), fail=st.booleans())
    def macro(self, data, fail):
        before_index, before = self.history.index, snapshot(self.graph)
        done = 0
        try:
            with self.history.macro("Macro"):
                for _ in range(data.draw(st.integers(1, 4))):
                    done += self._edit(data)[0]
                if fail:
                    raise _Rollback
        except _Rollback:
            assert snapshot(self.graph) == before
            assert self.history.index == before_index
            return
        if done:  # a macro of accepted commands is one step, even if they cancel out
            assert self.history.index == before_index + 1
            self._recorded(before_index, snapshot(self.graph))
            self.merge_key = None
        else:
            assert self.history.index == before_index

    @precondition(lambda self: self.history.can_undo)
    @rule()
    def undo(self):
        self.history.undo()
        self.merge_key = None

    @precondition(lambda self: self.history.can_redo)
    @rule()
    def redo(self):
        self.history.redo()
        self.merge_key = None

    @rule(seal_only=st.booleans())
    def save(self, seal_only):
        if seal_only:
            self.history.seal()
        else:
            self.history.mark_clean()
            self.clean = self.history.index
        self.merge_key = None

    # -- checks --------------------------------------------------------------

    def _recorded(self, before_index, now):
        """A new step after ``before_index``: the undone steps are gone."""
        if self.clean is not None and self.clean > before_index:
            self.clean = None  # the saved state was among them
        del self.snapshots[before_index + 1:]
        self.snapshots.append(now)

    @invariant()
    def graph_matches_cursor(self):
        assert len(self.snapshots) == len(self.history) + 1
        assert snapshot(self.graph) == self.snapshots[self.history.index]

    @invariant()
    def clean_matches(self):
        assert self.history.is_clean == (self.clean == self.history.index)

    @invariant()
    def graph_is_consistent(self):
        ids = set(self.graph.nodes)
        assert all(e.src in ids and e.dst in ids for e in self.graph.edges)
        assert len(self.graph.topological_order()) == len(self.graph)
        for node in self.graph.nodes.values():
            assert node.pos is None or all(math.isfinite(v) for v in node.pos)

    @rule()
    def rewind(self):
        """Undo everything → the initial graph; redo everything → the newest one."""
        if len(self.history):
            self.merge_key = None  # undo and redo end merging
        self._undo_all_redo_all()

    def _undo_all_redo_all(self):
        while self.history.can_undo:
            self.history.undo()
        assert snapshot(self.graph) == self.snapshots[0]
        while self.history.can_redo:
            self.history.redo()
        assert snapshot(self.graph) == self.snapshots[-1]

    def teardown(self):
        # After a failed invariant the model is stale; do not report it twice.
        if snapshot(self.graph) == self.snapshots[self.history.index]:
            self._undo_all_redo_all()


HistoryMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestHistoryMachine = HistoryMachine.TestCase

"""Undoable edits of a :class:`~builder.core.graph.Graph` (orange-canvas-core style).

Commands are thin: each one calls the graph's public methods, so the graph keeps
enforcing its rules (a connect that would close a cycle raises ``CycleError`` and
changes nothing) and keeps emitting the events that views follow. A command never
touches the graph's internals.

A command is created unexecuted; :meth:`History.push
<builder.core.history.History.push>` calls :meth:`Command.redo` the first time.
After that, ``undo`` and ``redo`` alternate, each starting from the exact state the
other left, which is what lets every command restore node order and edge order
exactly.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Iterable

from builder.core.graph import Edge, Graph, Node, RemovedNode


def identical(a: Any, b: Any) -> bool:
    """Whether two JSON-like values are equal *and* of the same types.

    ``1 == 1.0 == True`` and ``0.0 == -0.0`` in Python, but they are different
    values in a project file, so an edit from one to the other is a real change.
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return (list(a) == list(b)
                and all(identical(a[k], b[k]) for k in a))
    return a == b


def _label(graph: Graph, node_id: str) -> str:
    node = graph.nodes.get(node_id)
    return node.label if node is not None else str(node_id)


class Command:
    """One undoable edit.

    Attributes:
        text: what the edit did, for menu items (``"Set filters"`` becomes
            ``"Undo Set filters"``).
    """

    text: str = ""

    def redo(self) -> None:
        """Does the edit (the first time) or does it again (after :meth:`undo`)."""
        raise NotImplementedError

    def undo(self) -> None:
        """Reverts the edit exactly."""
        raise NotImplementedError

    def merge_with(self, other: "Command") -> bool:
        """Absorbs ``other``, an executed command pushed right after this one.

        Returns:
            Whether ``other`` was absorbed; it is then not recorded on its own,
            and undoing this command undoes both.
        """
        return False

    def is_obsolete(self) -> bool:
        """Whether the executed command changed nothing (e.g. set a value back).

        The history drops obsolete commands instead of recording an undo step
        that does nothing.
        """
        return False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.text!r}>"


class AddNode(Command):
    """Adds a node; redo after undo puts back the same node, id and index.

    Args:
        graph: the document.
        kind, params, id, name, pos, index: as :meth:`Graph.add_node`.

    Attributes:
        node_id: the new node's id, once executed.
    """

    def __init__(self, graph: Graph, kind: str, params: dict[str, Any] | None = None, *,
                 id: str | None = None,  # noqa: A002 - the document's field name
                 name: str | None = None, pos: tuple[float, float] | None = None,
                 index: int | None = None):
        self.graph = graph
        self.kind = kind
        self.params = copy.deepcopy(params)
        self.id = id
        self.name = name
        self.pos = pos
        self.index = index
        self.node_id: str | None = None
        self._removed: RemovedNode | None = None
        self.text = f"Add {kind}"

    @property
    def node(self) -> Node:
        """The node this command added (while it is in the graph)."""
        return self.graph.node(self.node_id)

    def redo(self) -> None:
        if self._removed is not None:
            # The node object itself goes back, at its old index, with its id.
            self.graph.restore_node(self._removed)
            self._removed = None
            return
        node = self.graph.add_node(self.kind, self.params, id=self.id, name=self.name,
                                   pos=self.pos, index=self.index)
        self.node_id = node.id

    def undo(self) -> None:
        self._removed = self.graph.remove_node(self.node_id)


class RemoveNode(Command):
    """Removes a node and every edge touching it, as one step.

    Undo puts the node back at its index in the node order and each edge back at
    its index in the edge order (:meth:`Graph.restore_node`).
    """

    def __init__(self, graph: Graph, node_id: str):
        self.graph = graph
        self.node_id = node_id
        self.removed: RemovedNode | None = None
        self.text = f"Remove {_label(graph, node_id)}"

    def redo(self) -> None:
        self.removed = self.graph.remove_node(self.node_id)

    def undo(self) -> None:
        self.graph.restore_node(self.removed)


class Connect(Command):
    """Connects two nodes; redo after undo re-inserts the edge at the same index.

    Args:
        graph: the document.
        src, dst, src_port, dst_port, index: as :meth:`Graph.connect`.

    Attributes:
        edge: the new edge (ports resolved), once executed.
    """

    def __init__(self, graph: Graph, src: str, dst: str, src_port: str | None = None,
                 dst_port: str | None = None, *, index: int | None = None):
        self.graph = graph
        self.src, self.dst = src, dst
        self.src_port, self.dst_port = src_port, dst_port
        self.index = index
        self.edge: Edge | None = None
        self.text = f"Connect {_label(graph, src)} to {_label(graph, dst)}"

    def redo(self) -> None:
        if self.edge is None:
            self.edge = self.graph.connect(self.src, self.dst, self.src_port,
                                           self.dst_port, index=self.index)
            # The index the edge really got (None and past-the-end both append).
            self.index = self.graph.edges.index(self.edge)
            return
        e = self.edge
        self.graph.connect(e.src, e.dst, e.src_port, e.dst_port, index=self.index)

    def undo(self) -> None:
        self.graph.disconnect(self.edge)


class Disconnect(Command):
    """Removes an edge; undo re-inserts it at its former index in the edge order."""

    def __init__(self, graph: Graph, edge: Edge):
        self.graph = graph
        self.edge = edge
        self.index: int | None = None
        self.text = f"Disconnect {_label(graph, edge.src)} from {_label(graph, edge.dst)}"

    def redo(self) -> None:
        self.index = self.graph.disconnect(self.edge)

    def undo(self) -> None:
        e = self.edge
        self.graph.connect(e.src, e.dst, e.src_port, e.dst_port, index=self.index)


class SetParam(Command):
    """Sets one parameter of one node.

    Consecutive edits of the same node and field merge into one undo step (typing
    ``1``, ``12``, ``128`` into the inspector is one edit). Setting a key the node
    did not have is undone by :meth:`Graph.unset_param`, so the key disappears
    again instead of being left as ``None``.

    Attributes:
        old: the value before this edit (``None`` when the key was absent).
        had_key: whether the key existed before this edit.
    """

    def __init__(self, graph: Graph, node_id: str, key: str, value: Any):
        self.graph = graph
        self.node_id = node_id
        self.key = key
        self.value = copy.deepcopy(value)
        self.old: Any = None
        self.had_key = False
        self._executed = False
        self.text = f"Set {key}"

    def redo(self) -> None:
        if not self._executed:
            params = self.graph.node(self.node_id).params
            self.had_key = self.key in params
            self.old = copy.deepcopy(params.get(self.key))
            self._executed = True
        self.graph.set_param(self.node_id, self.key, self.value)

    def undo(self) -> None:
        if self.had_key:
            self.graph.set_param(self.node_id, self.key, self.old)
        else:
            self.graph.unset_param(self.node_id, self.key)

    def merge_with(self, other: Command) -> bool:
        if (type(other) is SetParam and other.node_id == self.node_id
                and other.key == self.key):
            self.value = copy.deepcopy(other.value)
            return True
        return False

    def is_obsolete(self) -> bool:
        return self.had_key and identical(self.old, self.value)


class Move(Command):
    """Moves a node on the canvas; consecutive moves of one node merge."""

    def __init__(self, graph: Graph, node_id: str, pos: tuple[float, float] | None):
        self.graph = graph
        self.node_id = node_id
        self.pos = tuple(pos) if pos is not None else None
        self.old: tuple[float, float] | None = None
        self._executed = False
        self.text = f"Move {_label(graph, node_id)}"

    def redo(self) -> None:
        old = self.graph.move(self.node_id, self.pos)
        if not self._executed:
            self.old = old
            self._executed = True

    def undo(self) -> None:
        self.graph.move(self.node_id, self.old)

    def merge_with(self, other: Command) -> bool:
        if type(other) is Move and other.node_id == self.node_id:
            self.pos = other.pos
            return True
        return False

    def is_obsolete(self) -> bool:
        return identical(self.old, self.pos)


class Rename(Command):
    """Sets a node's display and Keras name (``None`` shows the id)."""

    def __init__(self, graph: Graph, node_id: str, name: str | None):
        self.graph = graph
        self.node_id = node_id
        self.name = name
        self.old: str | None = None
        self._executed = False
        self.text = f"Rename {_label(graph, node_id)}"

    def redo(self) -> None:
        old = self.graph.rename(self.node_id, self.name)
        if not self._executed:
            self.old = old
            self._executed = True

    def undo(self) -> None:
        self.graph.rename(self.node_id, self.old)

    def is_obsolete(self) -> bool:
        return identical(self.old, self.name)


class Macro(Command):
    """A named group of commands, done and undone as one step.

    Pushing a ``Macro`` runs its children in order; if one raises, those already
    done are undone (newest first) and the error propagates, so the graph is left
    as it was. :meth:`History.macro <builder.core.history.History.macro>` builds
    one from the commands pushed inside a ``with`` block.

    Args:
        text: the step's name (``"Paste 3 nodes"``).
        children: unexecuted commands.
    """

    def __init__(self, text: str, children: Iterable[Command] = ()):
        self.text = text
        self.children: list[Command] = list(children)

    def redo(self) -> None:
        done: list[Command] = []
        try:
            for child in self.children:
                child.redo()
                done.append(child)
        except BaseException:
            for child in reversed(done):
                child.undo()
            raise

    def undo(self) -> None:
        for child in reversed(self.children):
            child.undo()

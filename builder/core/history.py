"""The undo history: a stack of executed commands with an undo/redo cursor.

Every edit of a document goes through its :class:`History`; the GUI mirrors
:attr:`History.changed` into its Undo/Redo actions and the window's
unsaved-changes mark, and follows the graph's own events for everything else.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from builder.core.commands import (
    AddNode,
    Command,
    Connect,
    Disconnect,
    Macro,
    Move,
    RemoveNode,
    Rename,
    SetParam,
)
from builder.core.events import Signal
from builder.core.graph import Edge, Graph, Node


@dataclass(frozen=True)
class HistoryState:
    """What :attr:`History.changed` reports after each change of the history.

    Attributes:
        can_undo, can_redo: whether Undo / Redo are enabled.
        undo_text, redo_text: the command texts (``"Set filters"``); empty when
            there is nothing to undo / redo. Menus show ``f"Undo {undo_text}"``.
        is_clean: whether the document equals its last saved state.
        index: how many recorded commands are done.
        count: how many commands are recorded.
    """

    can_undo: bool
    can_redo: bool
    undo_text: str
    redo_text: str
    is_clean: bool
    index: int
    count: int


class History:
    """Undo/redo of the edits of one graph.

    Args:
        graph: the document; edit it only through this history, or call
            :meth:`clear` after editing it directly (e.g. loading a file).
        limit: the most undo steps kept; the oldest go first. ``None`` keeps all.

    Attributes:
        graph: the document.
        changed: emits a :class:`HistoryState` after every push, undo, redo,
            :meth:`mark_clean` and :meth:`clear`.
    """

    def __init__(self, graph: Graph, limit: int | None = None):
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be None or at least 1. Received: {limit!r}")
        self.graph = graph
        self.limit = limit
        self.changed = Signal()
        self._stack: list[Command] = []
        self._index = 0  # commands [0, index) are done, [index, len) can be redone
        self._clean: int | None = 0  # index of the saved state; None: unreachable
        self._merge_open = False  # whether the next push may merge into the top
        self._macro: Macro | None = None
        self._busy = False

    # -- state ---------------------------------------------------------------

    @property
    def index(self) -> int:
        """How many recorded commands are done (0: the initial state)."""
        return self._index

    def __len__(self) -> int:
        return len(self._stack)

    @property
    def can_undo(self) -> bool:
        """Whether there is a done command to undo."""
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        """Whether there is an undone command to redo."""
        return self._index < len(self._stack)

    @property
    def undo_text(self) -> str:
        """Text of the command :meth:`undo` would undo; ``""`` if none."""
        return self._stack[self._index - 1].text if self.can_undo else ""

    @property
    def redo_text(self) -> str:
        """Text of the command :meth:`redo` would redo; ``""`` if none."""
        return self._stack[self._index].text if self.can_redo else ""

    @property
    def is_clean(self) -> bool:
        """Whether the graph is in the state last marked clean (saved)."""
        return self._clean == self._index

    @property
    def state(self) -> HistoryState:
        """A snapshot of the history's state, as :attr:`changed` emits it."""
        return HistoryState(self.can_undo, self.can_redo, self.undo_text,
                            self.redo_text, self.is_clean, self._index, len(self._stack))

    def mark_clean(self) -> None:
        """Records the current state as saved; :attr:`is_clean` is true until an edit."""
        self._clean = self._index
        # The next edit is its own step, so that undo can come back to the saved state.
        self._merge_open = False
        self._emit()

    def seal(self) -> None:
        """Ends merging: the next command starts a new undo step.

        The inspector calls this when a field loses focus, so that two separate
        edits of one field are two steps.
        """
        self._merge_open = False

    def clear(self) -> None:
        """Forgets every command and marks the current state clean."""
        self._check_idle("clear")
        self._stack.clear()
        self._index = 0
        self._clean = 0
        self._merge_open = False
        self._emit()

    # -- doing and undoing ---------------------------------------------------

    def push(self, command: Command) -> Command:
        """Executes ``command`` and records it (or merges it into the previous one).

        A command that raises (``CycleError``, ``UnknownNodeError``, ...) is not
        recorded, leaves the graph as it was and leaves redo possible.

        Returns:
            ``command``, executed, so callers can read its results.
        """
        self._check_idle("push")
        with self._running():
            command.redo()
        if self._macro is not None:
            self._macro.children.append(command)
            return command
        top = self._stack[self._index - 1] if self._merge_open and self._index else None
        if top is not None and top.merge_with(command):
            if top.is_obsolete():
                # Edited back to where it started: the step does nothing any more.
                del self._stack[self._index - 1]
                self._index -= 1
                self._merge_open = False
        elif command.is_obsolete():
            return command  # nothing changed: nothing to record, redo stays valid
        else:
            self._record(command)
            self._merge_open = True
        self._emit()
        return command

    def undo(self) -> None:
        """Undoes the newest done command; does nothing if there is none."""
        self._check_idle("undo")
        if not self.can_undo:
            return
        with self._running():
            self._stack[self._index - 1].undo()
        self._index -= 1
        self._merge_open = False
        self._emit()

    def redo(self) -> None:
        """Redoes the oldest undone command; does nothing if there is none."""
        self._check_idle("redo")
        if not self.can_redo:
            return
        with self._running():
            self._stack[self._index].redo()
        self._index += 1
        self._merge_open = False
        self._emit()

    @contextmanager
    def macro(self, text: str) -> Iterator[Macro]:
        """Groups the commands pushed inside a ``with`` block into one undo step.

        Commands run as they are pushed, so later ones see earlier results (a
        connect can use a node added just before). Nested macros flatten into
        the outermost one. If the block raises, its commands are undone, newest
        first, and the exception propagates; an empty macro records nothing.

        Example::

            with history.macro("Paste 2 nodes"):
                a = history.add_node("Conv2D")
                b = history.add_node("ReLU")
                history.connect(a.id, b.id)
        """
        self._check_idle("macro")
        outermost = self._macro is None
        if outermost:
            self._macro = Macro(text)
        macro = self._macro
        start = len(macro.children)
        try:
            yield macro
        except BaseException:
            try:
                with self._running():
                    for command in reversed(macro.children[start:]):
                        command.undo()
                del macro.children[start:]
            finally:
                if outermost:
                    self._macro = None
            raise
        if outermost:
            self._macro = None
            if macro.children:
                self._record(macro)
                self._merge_open = False
                self._emit()

    # -- convenience: build, push, return the useful result --------------------

    def add_node(self, kind: str, params: dict[str, Any] | None = None, *,
                 id: str | None = None,  # noqa: A002 - the document's field name
                 name: str | None = None, pos: tuple[float, float] | None = None,
                 index: int | None = None) -> Node:
        """Adds a node (undoably); arguments as :meth:`Graph.add_node`.

        Returns:
            The new node.
        """
        command = self.push(AddNode(self.graph, kind, params, id=id, name=name,
                                    pos=pos, index=index))
        return self.graph.node(command.node_id)

    def remove_node(self, node_id: str) -> Node:
        """Removes a node and its edges as one step; returns the removed node."""
        command = self.push(RemoveNode(self.graph, node_id))
        return command.removed.node

    def connect(self, src: str, dst: str, src_port: str | None = None,
                dst_port: str | None = None, *, index: int | None = None) -> Edge:
        """Connects two nodes (undoably); returns the new edge, ports resolved."""
        return self.push(Connect(self.graph, src, dst, src_port, dst_port,
                                 index=index)).edge

    def disconnect(self, edge: Edge) -> int:
        """Removes an edge (undoably); returns its former index."""
        return self.push(Disconnect(self.graph, edge)).index

    def set_param(self, node_id: str, key: str, value: Any) -> Any:
        """Sets a parameter (undoably, merging with an edit of the same field).

        Returns:
            The previous value (``None`` if the key was absent).
        """
        return self.push(SetParam(self.graph, node_id, key, value)).old

    def move(self, node_id: str, pos: tuple[float, float] | None) -> Any:
        """Moves a node (undoably, merging with a move of the same node).

        Returns:
            The previous position.
        """
        return self.push(Move(self.graph, node_id, pos)).old

    def rename(self, node_id: str, name: str | None) -> str | None:
        """Renames a node (undoably); returns the previous name."""
        return self.push(Rename(self.graph, node_id, name)).old

    # -- internals -----------------------------------------------------------

    def _record(self, command: Command) -> None:
        # A new step discards the undone ones; the saved state may go with them.
        del self._stack[self._index:]
        if self._clean is not None and self._clean > self._index:
            self._clean = None
        self._stack.append(command)
        self._index += 1
        if self.limit is not None and len(self._stack) > self.limit:
            drop = len(self._stack) - self.limit
            del self._stack[:drop]
            self._index -= drop
            if self._clean is not None:
                self._clean = self._clean - drop if self._clean >= drop else None

    @contextmanager
    def _running(self) -> Iterator[None]:
        self._busy = True
        try:
            yield
        finally:
            self._busy = False

    def _check_idle(self, what: str) -> None:
        if self._busy:
            # A graph-event subscriber editing the document while a command runs
            # would interleave two edits on the stack.
            raise RuntimeError(f"History.{what}() was called while a command was "
                               "running (from a graph event handler?).")
        if self._macro is not None and what in ("undo", "redo", "clear"):
            raise RuntimeError(f"History.{what}() was called inside a macro block.")

    def _emit(self) -> None:
        self.changed.emit(self.state)

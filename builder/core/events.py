"""A minimal synchronous event channel that views subscribe to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class GraphEvent:
    """One change of the document.

    Attributes:
        type: one of ``node_added``, ``node_removed``, ``edge_added``,
            ``edge_removed``, ``param_changed``, ``node_moved``, ``node_renamed``,
            ``graph_reset``.
        node: the node id concerned (both ends' ids are in ``edge`` for edge events).
        edge: the edge concerned, for edge events.
        key: the parameter name, for ``param_changed``.
        old: the previous value, where one applies.
        new: the new value, where one applies.
    """

    type: str
    node: str | None = None
    edge: Any = None
    key: str | None = None
    old: Any = None
    new: Any = None


@dataclass
class Signal:
    """Callbacks called in subscription order with one event each."""

    _callbacks: list[Callable[[Any], None]] = field(default_factory=list)

    def connect(self, callback: Callable[[Any], None]) -> None:
        """Subscribes ``callback``; it is called after every change."""
        self._callbacks.append(callback)

    def disconnect(self, callback: Callable[[Any], None]) -> None:
        """Unsubscribes ``callback``; unknown callbacks are ignored."""
        try:
            self._callbacks.remove(callback)
        except ValueError:
            pass

    def emit(self, event: Any) -> None:
        """Calls every subscriber with ``event``."""
        for callback in list(self._callbacks):
            callback(event)

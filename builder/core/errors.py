"""Typed errors of the document model.

Every error raised by :mod:`builder.core` derives from :class:`BuilderError`, so the
GUI and the CLI can catch one type and show its one-line message. Messages follow
Keras' style: what was expected, then ``Received: ...``.
"""

from __future__ import annotations


class BuilderError(Exception):
    """Base of every error the document model raises on purpose."""


class GraphError(BuilderError):
    """An edit that would break a rule of the graph."""


class UnknownKindError(GraphError):
    """A node kind that the catalogue does not hold."""


class UnknownNodeError(GraphError):
    """A node id that is not in the graph."""


class DuplicateNodeError(GraphError):
    """A node id that is already taken."""


class UnknownPortError(GraphError):
    """A port name that the node's kind does not have."""


class DuplicateEdgeError(GraphError):
    """An edge identical to one already in the graph."""


class PortOccupiedError(GraphError):
    """A second edge into an input port that takes only one."""


class CycleError(GraphError):
    """An edge that would close a cycle."""


class ProjectError(BuilderError):
    """A project file that cannot be read, migrated, validated or built.

    Attributes:
        path: the file, when there is one.
        node: the node id the problem is in, if any.
        field: the field (parameter or key) the problem is in, if any.
        problems: every problem found when this one was raised, this one first
            (loading reports them all at once); ``[self]`` by default.
    """

    def __init__(self, message: str, *, path: str | None = None,
                 node: str | None = None, field: str | None = None):
        self.path = path
        self.node = node
        self.field = field
        self.detail = message
        self.problems: list[ProjectError] = [self]
        where = []
        if path:
            where.append(str(path))
        if node:
            where.append(f"node '{node}'")
        if field:
            where.append(f"field '{field}'")
        super().__init__(f"{': '.join(where)}: {message}" if where else message)

"""The document model: graph, events, commands and undo, project files (stdlib only)."""

from builder.core.errors import (  # noqa: F401
    BuilderError,
    CycleError,
    DuplicateEdgeError,
    DuplicateNodeError,
    GraphError,
    PortOccupiedError,
    ProjectError,
    UnknownKindError,
    UnknownNodeError,
    UnknownPortError,
)
from builder.core.events import GraphEvent, Signal  # noqa: F401
from builder.core.graph import Edge, Graph, KindRegistry, Node, PortSpec, set_default_kinds  # noqa: F401

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
from builder.core.commands import (  # noqa: F401
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
from builder.core.history import History, HistoryState  # noqa: F401
from builder.core.project import (  # noqa: F401
    FORMAT,
    MIGRATIONS,
    SCHEMA_VERSION,
    Project,
    atomic_write,
    dumps_project,
    load_project,
    loads_project,
    migrate_project,
    project_to_dict,
    save_project,
    validate_project,
)

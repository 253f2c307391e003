"""A document: a project, its undo history and its live analysis (no Qt)."""

from __future__ import annotations

from pathlib import Path

from builder.analysis import Analyzer
from builder.core import Graph, History
from builder.core.project import Project, dumps_project


class Document:
    """What one window edits.

    Attributes:
        project: the project (graph, name, training settings, file path).
        history: the undo history; every edit goes through it.
        analyzer: keeps the analysis current as the graph changes.
    """

    def __init__(self, project: Project | None = None):
        self.project = project if project is not None else Project(graph=Graph())
        self.history = History(self.project.graph)
        self.analyzer = Analyzer(self.project.graph)
        #: True for a document recovered after a crash: unsaved though unedited.
        self.recovered = False

    @property
    def graph(self) -> Graph:
        """The network being edited."""
        return self.project.graph

    @property
    def path(self) -> str | None:
        """The file the document was loaded from or saved to."""
        return self.project.path

    @property
    def modified(self) -> bool:
        """Whether there are unsaved changes."""
        return self.recovered or not self.history.is_clean

    @property
    def title(self) -> str:
        """Window title: the file's name, or the project's name if never saved."""
        name = Path(self.project.path).name if self.project.path else self.project.name
        return f"{name}{' *' if self.modified else ''}"

    def text(self) -> str:
        """The project file's text (what Save writes and autosave keeps)."""
        return dumps_project(self.project)

    def close(self) -> None:
        """Stops following the graph."""
        self.analyzer.close()

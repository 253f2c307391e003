"""Diagnostics: what is wrong (or doubtful) in a graph, with the arithmetic and a fix."""

from __future__ import annotations

from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    """One finding of the analysis.

    Attributes:
        severity: ``"error"`` (the graph cannot compile) or ``"warning"``.
        node: the node id it is about, or ``None`` for the whole graph.
        field: the parameter at fault, if one is.
        message: what was expected, then ``Received: ...``; the arithmetic included.
        fix: one sentence saying how to repair it, if there is a fix.
    """

    severity: str
    node: str | None
    message: str
    field: str | None = None
    fix: str | None = None

    @property
    def is_error(self) -> bool:
        """Whether this finding stops the graph from compiling."""
        return self.severity == ERROR

    def __str__(self) -> str:
        where = f"{self.node}" if self.node else "graph"
        if self.field:
            where += f".{self.field}"
        text = f"{self.severity}: {where}: {self.message}"
        if self.fix:
            text += f" Fix: {self.fix}"
        return text

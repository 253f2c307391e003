"""Errors of the compile tier."""

from __future__ import annotations

from typing import Sequence

from builder.core.errors import BuilderError


class CompileError(BuilderError):
    """A graph that cannot become a Keras model.

    Raised before any layer is built when the analysis finds errors (the message
    lists them, one diagnostic per line, as ``str(diagnostic)`` prints them), or
    when Keras itself refuses a node the analysis accepted (the message names the
    node and quotes Keras).

    Attributes:
        diagnostics: the analysis errors that stopped compiling (empty when
            Keras refused).
        node: the node Keras refused, if that is what happened.
    """

    def __init__(self, message: str, *, diagnostics: Sequence = (),
                 node: str | None = None):
        super().__init__(message)
        self.diagnostics = list(diagnostics)
        self.node = node

"""Helpers of the core tests: a tiny kind registry and an exact graph snapshot."""

from __future__ import annotations

import difflib
import json
from typing import Any

from builder.core.errors import UnknownKindError
from builder.core.graph import Graph, PortSpec

_IN = (PortSpec("in"),)
_OUT = (PortSpec("out"),)


class FakeKinds:
    """Four kinds: a source, a one-input layer, a merge and a sink."""

    SPECS: dict[str, tuple[tuple, tuple, dict[str, Any]]] = {
        "Src": ((), _OUT, {"shape": [8]}),
        "Layer": (_IN, _OUT, {"units": 4, "act": "relu"}),
        "Merge": ((PortSpec("in", multiple=True),), _OUT, {}),
        "Sink": (_IN, (), {}),
    }

    def ports(self, kind):
        spec = self._spec(kind)
        return spec[0], spec[1]

    def defaults(self, kind):
        return {k: (list(v) if isinstance(v, list) else v)
                for k, v in self._spec(kind)[2].items()}

    def validate_params(self, kind, params):
        problems = []
        units = params.get("units", 1)
        if kind == "Layer" and (not isinstance(units, int) or isinstance(units, bool)
                                or units < 1):
            problems.append(("units", f"must be a whole number ≥ 1. Received: {units!r}"))
        for key in params:
            if key not in self._spec(kind)[2]:
                problems.append((key, f"is not a parameter of {kind}."))
        return problems

    def _spec(self, kind):
        try:
            return self.SPECS[kind]
        except (KeyError, TypeError):
            close = difflib.get_close_matches(str(kind), self.SPECS, n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownKindError(f"Unknown layer kind.{hint} Received: {kind!r}") from None


def snapshot(graph: Graph) -> tuple:
    """Everything that must come back exactly after undo/redo, types included."""
    return (
        json.dumps(graph.to_dict()),
        json.dumps(graph.positions()),
        list(graph.nodes),
        list(graph.edges),
        [(n.id, n.kind, n.name, repr(n.pos), repr(n.params)) for n in graph.nodes.values()],
    )

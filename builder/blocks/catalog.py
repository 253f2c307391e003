"""The catalogue: every kind by name, as the registry the graph asks about ports."""

from __future__ import annotations

import difflib
from typing import Any, Iterable, Sequence

from builder.blocks.params import check_params
from builder.blocks.spec import BlockSpec
from builder.core.errors import UnknownKindError
from builder.core.graph import PortSpec

#: Palette order of categories.
CATEGORIES = ("Input/Output", "Convolution", "Pooling", "Dense", "Activation",
              "Normalization", "Regularization", "Merge", "Reshape", "Detection", "Blocks")


class Catalog:
    """Specs by kind; implements :class:`builder.core.graph.KindRegistry`."""

    def __init__(self, specs: Iterable[BlockSpec] = ()):
        self._specs: dict[str, BlockSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: BlockSpec) -> None:
        """Adds ``spec``; a kind may be registered once."""
        if spec.kind in self._specs:
            raise ValueError(f"Kind '{spec.kind}' is already registered.")
        self._specs[spec.kind] = spec

    def get(self, kind: str) -> BlockSpec:
        """The spec of ``kind``; ``UnknownKindError`` naming close matches if absent."""
        try:
            return self._specs[kind]
        except (KeyError, TypeError):
            close = difflib.get_close_matches(str(kind), self._specs, n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownKindError(
                f"Unknown layer kind.{hint} Received: {kind!r}") from None

    def __contains__(self, kind: object) -> bool:
        return kind in self._specs

    def __iter__(self):
        return iter(self._specs.values())

    def kinds(self) -> list[str]:
        """Every kind, in registration order."""
        return list(self._specs)

    def by_category(self) -> dict[str, list[BlockSpec]]:
        """Specs grouped by palette category, categories in palette order."""
        groups: dict[str, list[BlockSpec]] = {c: [] for c in CATEGORIES}
        for spec in self._specs.values():
            groups.setdefault(spec.category, []).append(spec)
        return {c: specs for c, specs in groups.items() if specs}

    # KindRegistry
    def ports(self, kind: str) -> tuple[Sequence[PortSpec], Sequence[PortSpec]]:
        spec = self.get(kind)
        return spec.inputs, spec.outputs

    def defaults(self, kind: str) -> dict[str, Any]:
        return self.get(kind).defaults()

    def validate_params(self, kind: str, params: dict[str, Any]) -> list[tuple[str, str]]:
        """``(field, message)`` problems of ``params`` for ``kind``."""
        return check_params(self.get(kind), params)

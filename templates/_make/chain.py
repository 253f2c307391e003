"""A small helper that writes templates as a sequence of named layers.

Templates are *data*; this module only spares the generator from spelling out
every edge. ``Net`` keeps a cursor (the last node added) so a plain stack reads
top to bottom like the paper's table, and ``branch``/``join`` cover the graphs
with more than one path.
"""

from __future__ import annotations

from typing import Any

from builder.core import Graph
from builder.core.project import Project


class Net:
    """A graph under construction with a cursor at its most recent node.

    Args:
        input_shape: per-sample input shape, channels last.
        input_id: id of the Input node (keras.applications calls it
            ``input_layer``).
    """

    def __init__(self, input_shape: list[int], input_id: str = "input_layer"):
        self.graph = Graph()
        self.at = self.graph.add_node("Input", {"shape": list(input_shape)}, id=input_id).id

    def add(self, kind: str, node_id: str | None = None, after: str | list[str] | None = None,
            **params: Any) -> str:
        """Adds a node fed by ``after`` (default: the cursor) and moves the cursor to it.

        Args:
            kind: catalogue kind.
            node_id: the node's id, which is also its Keras layer name.
            after: the node (or nodes, in input order) feeding the new one.
            **params: parameters that differ from the kind's defaults.

        Returns:
            The new node's id.
        """
        node = self.graph.add_node(kind, params, id=node_id)
        sources = self.at if after is None else after
        for src in [sources] if isinstance(sources, str) else sources:
            self.graph.connect(src, node.id)
        self.at = node.id
        return node.id

    def conv(self, node_id: str, filters: int, kernel: int | list[int], strides: int = 1,
             padding: str = "same", activation: str = "relu", **params: Any) -> str:
        """A Conv2D with the arguments papers give (filters, kernel, stride)."""
        return self.add("Conv2D", node_id, filters=filters, kernel_size=kernel,
                        strides=strides, padding=padding, activation=activation, **params)

    def dense(self, node_id: str, units: int, activation: str = "relu", **params: Any) -> str:
        """A Dense layer."""
        return self.add("Dense", node_id, units=units, activation=activation, **params)

    def output(self, node_id: str = "output", after: str | None = None, **params: Any) -> str:
        """An Output head on ``after`` (default: the cursor)."""
        return self.add("Output", node_id, after=after, **params)

    def project(self, name: str, description: str) -> Project:
        """The finished template as a project."""
        return Project(graph=self.graph, name=name, description=description)

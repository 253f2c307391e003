"""The Keras oracle for composite blocks: a block on its own, compiled through its
expansion, must agree with our analysis on the block (output shapes, trainable
and non-trainable totals) and, layer by layer, on the flattened graph."""

from __future__ import annotations

import math

from builder.analysis import analyze
from builder.analysis.expand import expand_graph
from builder.compile import to_keras
from builder.core import Graph
from tests.compile.oracle import assert_matches_analysis


def block_graph(kind: str, shapes, **params) -> tuple[Graph, str]:
    """Inputs of per-sample ``shapes`` -> one ``kind`` node -> Output (if it has one)."""
    g = Graph()
    node = g.add_node(kind, params, id="blk")
    for i, shape in enumerate(shapes):
        g.connect(g.add_node("Input", {"shape": list(shape)}, id=f"in{i}").id, node.id)
    if g.kinds.ports(kind)[1]:
        g.connect(node.id, g.add_node("Output", id="out").id)
    return g, node.id


def keras_totals(model) -> tuple[int, int]:
    """(trainable, non-trainable) parameter counts of a Keras model."""
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return trainable, model.count_params() - trainable


def assert_block_matches_keras(graph: Graph, node_id: str):
    """Compiles ``graph`` and checks the composite node and every flat layer."""
    a = analyze(graph)
    assert a.ok, [str(d) for d in a.errors]
    info = a.nodes[node_id]
    model = to_keras(graph)
    assert keras_totals(model) == (info.trainable, info.non_trainable)
    assert (a.totals.trainable, a.totals.non_trainable) == keras_totals(model)
    if graph.kinds.ports(graph.nodes[node_id].kind)[1]:
        assert [tuple(model.outputs[0].shape)] == info.output_shapes[:1]
    flat, origin = expand_graph(graph, a)
    assert_matches_analysis(flat, model)
    assert set(origin.values()) <= set(graph.nodes)
    return model, info

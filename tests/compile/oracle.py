"""Reusable Keras oracles: a compiled model against the analysis, and the model a
generated script builds against the one ``to_keras`` builds."""

from __future__ import annotations

import math

import keras

from builder.analysis import analyze
from builder.analysis.expand import expand_graph, has_composites
from builder.compile import layer_names, to_source
from builder.compile.custom_layers import CUSTOM_LAYERS
from builder.compile.plan import make_plan


def weight_signature(weights) -> list[tuple]:
    """Weights as sorted ``(name, shape, trainable)``, comparable across sources."""
    return sorted((w.name.split("/")[-1], tuple(int(d) for d in w.shape),
                   bool(w.trainable)) for w in weights)


def output_shapes(layer) -> list[tuple]:
    """The shapes of a layer's outputs (one or several)."""
    outs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
    return [tuple(t.shape) for t in outs]


def node_layers(graph, model) -> dict[str, list]:
    """The Keras layers of each node that compiles to layers, first to last."""
    plan = make_plan(graph)
    return {p.id: [model.get_layer(layer.name) for layer in p.layers]
            for p in plan.nodes if p.layers}


def assert_matches_analysis(graph, model) -> None:
    """Every node's shapes and weights, and the totals, as the analysis says.

    A graph with composite blocks is checked layer by layer on its expansion
    (what compile builds); the block-level totals must agree too.
    """
    if has_composites(graph):
        block_totals = analyze(graph).totals
        graph = expand_graph(graph)[0]
        assert model.count_params() == block_totals.params
    a = analyze(graph)
    assert a.ok, [str(d) for d in a.errors]
    names = layer_names(graph)
    for nid, layers in node_layers(graph, model).items():
        info = a.nodes[nid]
        last = layers[-1]
        assert last.name == names[nid]
        assert output_shapes(last) == info.output_shapes, nid
        weights = [w for layer in layers for w in layer.weights]
        trainable = sum(math.prod(w.shape) for w in weights if w.trainable)
        assert (trainable, sum(math.prod(w.shape) for w in weights) - trainable) == \
            (info.trainable, info.non_trainable), nid
        assert weight_signature(weights) == sorted(
            (w.name, tuple(w.shape), w.trainable) for w in info.weights), nid
    for nid in make_plan(graph).inputs:
        layer = model.get_layer(names[nid])
        assert tuple(layer.output.shape) == a.nodes[nid].output_shape
    outputs = model.outputs
    plan = make_plan(graph)
    assert [tuple(t.shape) for t in outputs] == \
        [a.nodes[nid].output_shapes[0] for nid in plan.output_nodes]
    assert model.count_params() == a.totals.params
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    assert trainable == a.totals.trainable


def exec_source(source: str) -> dict:
    """Runs a generated script as a module that is not ``__main__``.

    The script re-registers custom layers under Keras Builder's names (as it
    should); put ours back afterwards so other tests load the real classes.
    """
    namespace = {"__name__": "generated_model"}
    try:
        exec(compile(source, "<generated>", "exec"), namespace)
    finally:
        for cls in CUSTOM_LAYERS.values():
            keras.saving.register_keras_serializable(package="keras_builder")(cls)
    return namespace


def build_from_source(graph, **kwargs):
    """The model that ``to_source(graph)``'s ``build_model()`` builds."""
    return exec_source(to_source(graph, **kwargs))["build_model"]()


def assert_same_models(expected, actual) -> None:
    """Same layers by name: class, config, output shapes and weights."""
    assert sorted(l.name for l in actual.layers) == sorted(l.name for l in expected.layers)
    for layer in expected.layers:
        other = actual.get_layer(layer.name)
        assert type(other).__name__ == type(layer).__name__, layer.name
        assert other.get_config() == layer.get_config(), layer.name
        assert output_shapes(other) == output_shapes(layer), layer.name
        assert other.count_params() == layer.count_params(), layer.name
        assert weight_signature(other.weights) == weight_signature(layer.weights)
    assert [tuple(t.shape) for t in actual.outputs] == \
        [tuple(t.shape) for t in expected.outputs]
    assert [t.name for t in actual.inputs] == [t.name for t in expected.inputs]
    assert actual.count_params() == expected.count_params()

"""Composite blocks in the analysis: nesting, lifted diagnostics, flattening,
incremental edits."""

from __future__ import annotations

import builder.blocks  # noqa: F401
from builder.analysis import Analyzer, analyze
from builder.analysis.expand import expand_graph
from builder.core import Graph


def chain(*nodes, shape=(16, 16, 8)) -> Graph:
    g = Graph()
    g.add_node("Input", {"shape": list(shape)}, id="in")
    x = "in"
    for node_id, kind, params in nodes:
        g.add_node(kind, params, id=node_id)
        g.connect(x, node_id)
        x = node_id
    g.connect(x, g.add_node("Output", id="out").id)
    return g


def stage(**params):
    base = {"block": "ResidualBasic", "blocks": 2, "params": {"filters": 8}}
    base.update(params)
    return ("s1", "Stage", base)


def test_composite_equals_its_flattened_layers():
    g = chain(stage(first={"strides": 2, "filters": 8, "se_ratio": 2}),
              ("se", "SqueezeExcite", {"ratio": 4}))
    a = analyze(g)
    assert a.ok, [str(d) for d in a.errors]
    flat, origin = expand_graph(g, a)
    f = analyze(flat)
    assert f.ok
    for attr in ("trainable", "non_trainable", "flops", "activations"):
        assert getattr(a.totals, attr) == getattr(f.totals, attr), attr
    # Stage -> block -> SE -> layer: three levels of hierarchical ids.
    assert "s1/block1/se/reduce" in flat.nodes
    assert origin["s1/block1/se/reduce"] == "s1"
    assert a.nodes["s1"].output_shape == f.nodes["s1/block2/out"].output_shape
    assert a.nodes["se"].receptive_field == f.nodes["se/scale"].receptive_field
    assert a.nodes["s1"].receptive_field == f.nodes["s1/block2/out"].receptive_field


def test_an_error_deep_inside_is_lifted_naming_the_inner_layer():
    # Identity shortcuts cannot add 8 channels to 16: the second block's Add says so.
    g = chain(stage(params={"filters": 16, "shortcut": "identity"},
                    first={"shortcut": "projection"}, blocks=2), shape=(8, 8, 8))
    assert analyze(g).ok
    g.set_param("s1", "first", {})  # first block now adds 8 + 16 channels
    a = analyze(g)
    (d,) = a.nodes["s1"].diagnostics
    assert d.is_error and d.node == "s1"
    assert d.message.startswith("In 'block1/add' (Add): Add needs inputs of the same shape")
    assert "Received: (8, 8, 8) and (8, 8, 16)" in d.message
    assert "1×1 Conv2D projection" in d.fix
    assert not a.ok


def test_inner_warnings_are_lifted_and_params_are_checked():
    g = chain(("c", "ConvBN", {"filters": 4, "kernel_size": 2, "strides": 2,
                                "padding": "valid"}), shape=(7, 7, 3))
    (d,) = analyze(g).nodes["c"].diagnostics
    assert not d.is_error and d.message.startswith("In 'conv' (Conv2D):")
    g.set_param("c", "filters", 0)
    (d,) = analyze(g).nodes["c"].diagnostics
    assert d.is_error and d.field == "filters"
    g.set_param("c", "filters", 4)
    g.set_param("c", "bogus", 1)
    assert any(x.field == "bogus" for x in analyze(g).nodes["c"].diagnostics)


def test_stage_params_must_belong_to_the_block():
    g = chain(stage(params={"filters": 8, "filtres": 3}))
    (d,) = analyze(g).nodes["s1"].diagnostics
    assert d.field == "params" and "filtres" in d.message


def test_incremental_analysis_follows_a_composite_param():
    g = chain(stage(), ("gap", "GlobalAvgPool2D", {}), ("fc", "Dense", {"units": 3}))
    live = Analyzer(g)
    before = live.analysis.totals.params
    g.set_param("s1", "blocks", 3)
    after = live.analysis
    assert after.totals.params > before
    assert after.totals.params == analyze(g).totals.params
    g.set_param("s1", "params", {"filters": 16})
    assert live.analysis.nodes["fc"].trainable == 16 * 3 + 3
    live.close()


def test_named_composites_name_their_layers():
    g = chain(("b", "Fire", {"squeeze": 2}))
    g.rename("b", "fire2")
    flat, _ = expand_graph(g)
    assert flat.nodes["b/squeeze1x1"].label == "fire2/squeeze1x1"


def test_aux_head_is_a_model_head():
    g = chain(("i", "InceptionV1", {}), shape=(14, 14, 16))
    aux = g.add_node("AuxClassifier", {"classes": 4}, id="aux").id
    g.connect("i", aux)
    a = analyze(g)
    assert a.ok and not a.warnings, [str(d) for d in a.diagnostics]
    flat, _ = expand_graph(g, a)
    assert flat.nodes["aux/output"].params["loss_weight"] == 0.3


def test_expanding_a_block_on_the_canvas_keeps_the_model_and_undoes_exactly():
    from builder.analysis.expand import ExpandError, explode_command
    from builder.core import History

    g = chain(stage(first={"strides": 2, "se_ratio": 2}), ("gap", "GlobalAvgPool2D", {}))
    g.rename("s1", "conv2")
    before = g.to_dict()
    flat_before = expand_graph(g)[0]
    history = History(g)
    history.push(explode_command(g, "s1"))
    assert {"s1/block1", "s1/block2"} <= set(g.nodes)
    assert g.nodes["s1/block1"].label == "conv2/block1"
    history.push(explode_command(g, "s1/block1"))
    assert g.nodes["s1/block1/se"].kind == "SqueezeExcite"
    flat_after = expand_graph(g)[0]
    # The layers, their names and their wiring are those of the unexpanded graph.
    assert {n: (v.kind, v.label) for n, v in flat_after.nodes.items()} == \
        {n: (v.kind, v.label) for n, v in flat_before.nodes.items()}
    assert sorted(map(str, flat_after.edges)) == sorted(map(str, flat_before.edges))
    history.undo()
    history.undo()
    assert g.to_dict() == before
    try:
        explode_command(g, "gap")
    except ExpandError as exc:
        assert "Only a composite block expands" in str(exc)
    else:
        raise AssertionError("a plain layer must not expand")

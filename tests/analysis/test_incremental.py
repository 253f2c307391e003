"""The incremental analyzer always agrees with a fresh analysis, doing less work."""

import random

from builder.analysis import Analyzer, analyze
from builder.core import Graph


def snapshot(analysis):
    return {nid: (info.output_shapes, info.trainable, info.non_trainable, info.flops,
                  info.activations, info.receptive_field, info.jump,
                  [str(d) for d in info.diagnostics])
            for nid, info in analysis.nodes.items()}


def conv_tower(depth=60):
    g = Graph()
    prev = g.add_node("Input", {"shape": [64, 64, 3]}).id
    ids = []
    for i in range(depth):
        kind = ["Conv2D", "BatchNormalization", "ReLU"][i % 3]
        nid = g.add_node(kind, {"filters": 16} if kind == "Conv2D" else {}).id
        g.connect(prev, nid)
        ids.append(nid)
        prev = nid
    pool = g.add_node("GlobalAvgPool2D").id
    g.connect(prev, pool)
    head = g.add_node("Dense", {"units": 10}).id
    g.connect(pool, head)
    g.connect(head, g.add_node("Output").id)
    return g, ids


def test_random_edits_match_fresh_analysis():
    g, ids = conv_tower()
    live = Analyzer(g)
    rng = random.Random(7)
    convs = [n for n in ids if g.nodes[n].kind == "Conv2D"]
    for step in range(150):
        nid = rng.choice(convs)
        key, value = rng.choice([("filters", rng.choice([8, 16, 32])),
                                 ("strides", rng.choice([1, 1, 2])),
                                 ("kernel_size", rng.choice([1, 3, 5])),
                                 ("padding", rng.choice(["same", "valid", 1])),
                                 ("filters", -1)])
        g.set_param(nid, key, value)
        if step % 10 == 0:  # structural edits too
            extra = g.add_node("Dropout", {"rate": 0.1}).id
            g.connect(rng.choice(ids), extra)
        assert snapshot(live.analysis) == snapshot(analyze(g))


def test_a_filters_edit_stops_at_the_first_unchanged_output():
    g, ids = conv_tower(90)
    live = Analyzer(g)
    live.analysis
    g.set_param(ids[30], "filters", 32)  # changes conv, BN, ReLU and the next conv's weights
    live.analysis
    assert live.recomputed == 4
    g.set_param(ids[30], "strides", 2)  # a shape change flows down the tower...
    live.analysis
    # ...to the global pool, whose (None, 16) output is the same either way.
    assert live.recomputed == (90 - 30) + 1
    before = live.analysis
    g.rename(ids[5], "renamed")  # names and positions cost no pass
    g.move(ids[5], (10.0, 20.0))
    assert live.analysis is before

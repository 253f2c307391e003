"""Every composite kind through the Keras oracle, at small sizes."""

from __future__ import annotations

import pytest

from builder.blocks import CATALOG
from builder.blocks.composites import is_composite
from tests.blocks.composites.oracle import assert_block_matches_keras, block_graph

keras = pytest.importorskip("keras")


def case(kind, *shapes, **params):
    text = ",".join(f"{k}={v}" for k, v in params.items())
    return pytest.param(kind, shapes, params, id=f"{kind}{{{text}}}")


CASES = [
    case("ResidualBasic", (8, 8, 6), filters=6),
    case("ResidualBasic", (8, 8, 4), filters=6, strides=2, shortcut="projection",
         use_bias=True),
    case("ResidualBasic", (8, 8, 4), filters=8, strides=2, shortcut="zero_pad"),
    case("ResidualBasic", (7, 7, 4), filters=8, strides=2, shortcut="zero_pad", se_ratio=4,
         survival=0.8),
    case("ResidualBottleneck", (8, 8, 5), filters=3, strides=2, use_bias=True,
         epsilon=1.001e-5),
    case("ResidualBottleneck", (8, 8, 12), filters=3, stride_at="3x3"),
    case("ResidualBottleneck", (8, 8, 12), filters=4, se_ratio=4, strides=2),
    case("ResNeXtBottleneck", (8, 8, 16), filters=16, cardinality=4, base_width=8,
         strides=2),
    case("PreactBasic", (8, 8, 4), filters=4),
    case("PreactBasic", (8, 8, 4), filters=6, strides=2, dropout=0.3),
    case("PreactBottleneck", (8, 8, 4), filters=2, strides=2),
    case("PreactBottleneck", (8, 8, 8), filters=2, strides=2, shortcut="identity"),
    case("WideResidual", (8, 8, 3), filters=2, width=3, strides=2),
    case("SqueezeExcite", (6, 6, 8), ratio=4),
    case("SqueezeExcite", (6, 6, 8), ratio=3, channels=8, use_bias=False),
    case("InceptionV1", (7, 7, 8), f1x1=4, f3x3_reduce=3, f3x3=5, f5x5_reduce=2, f5x5=3,
         pool_proj=2),
    case("AuxClassifier", (14, 14, 8), classes=5, units=16, filters=4),
    case("ConvBN", (7, 7, 3), filters=4, kernel_size=[1, 3], strides=2, padding="valid"),
    case("InceptionA", (9, 9, 8), pool_features=4),
    case("InceptionB", (9, 9, 8)),
    case("InceptionC", (5, 5, 8), channels_7x7=4),
    case("InceptionD", (9, 9, 8)),
    case("InceptionE", (3, 3, 8)),
    case("DenseLayer", (6, 6, 5), growth_rate=3),
    case("DenseBlock", (6, 6, 5), layers=3, growth_rate=2, dropout=0.2),
    case("Transition", (6, 6, 10), compression=0.5),
    case("Fire", (8, 8, 6), squeeze=2, expand1x1=4, expand3x3=4),
    case("FractalBlock", (6, 6, 3), columns=3, filters=4),
    case("Stage", (8, 8, 4), block="ResidualBottleneck", blocks=3,
         params={"filters": 2, "use_bias": True}, first={"strides": 2}),
    case("Stage", (8, 8, 4), block="PreactBottleneck", blocks=2,
         params={"filters": 2}, first={"shortcut": "projection"}, last={"strides": 2}),
    case("Group", (6, 6, 3), (6, 6, 4), title="two inputs", graph={
        "nodes": [{"id": "c", "kind": "Conv2D", "params": {"filters": 4}, "name": "conv"},
                  {"id": "a", "kind": "Add", "params": {}}],
        "edges": [{"from": "@in:0", "to": "c"}, {"from": "@in:1", "to": "a"},
                  {"from": "c", "to": "a"}],
        "outputs": {"out": ["a", "out"]}}),
    case("ConvPattern", (16, 16, 3), n=2, m=2, k=1, filters=4, units=8, classes=3),
]


@pytest.mark.parametrize("kind, shapes, params", CASES)
def test_composite_matches_keras(kind, shapes, params):
    graph, node = block_graph(kind, shapes, **params)
    assert_block_matches_keras(graph, node)


def test_every_composite_kind_has_a_case():
    covered = {c.values[0] for c in CASES}
    missing = [k for k in CATALOG.kinds() if is_composite(CATALOG.get(k))
               and k not in covered]
    assert not missing, f"Composite kinds without a Keras oracle case: {missing}"

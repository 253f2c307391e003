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

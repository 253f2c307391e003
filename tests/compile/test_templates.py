"""Every shipped template compiles to Keras exactly as the analysis says, and its
generated script builds the same model."""

import pytest

import builder
from builder.compile import to_keras

from .oracle import assert_matches_analysis, assert_same_models, build_from_source

TEMPLATES = sorted(p.stem for p in builder.templates_dir().glob("*.json"))


@pytest.mark.slow
@pytest.mark.parametrize("name", TEMPLATES)
def test_template_compiles_like_its_analysis(name):
    graph = builder.from_template(name).graph
    model = to_keras(graph)
    assert_matches_analysis(graph, model)
    assert_same_models(model, build_from_source(graph))


"""check_params: every problem is reported as (field, message), never raised."""

from __future__ import annotations

import pytest

from builder.blocks import CATALOG
from builder.blocks.params import check_params


def _conv(**changes):
    params = CATALOG.defaults("Conv2D")
    params.update(changes)
    return params


def test_defaults_of_every_kind_are_valid():
    for spec in CATALOG:
        assert check_params(spec, spec.defaults()) == [], spec.kind


@pytest.mark.parametrize("field, value, words", [
    ("filters", 3.5, "whole number"),
    ("filters", True, "whole number"),  # a bool is not a count
    ("kernel_size", "3", "whole number or a pair"),
    ("kernel_size", [3, 3, 3], "whole number or a pair"),
    ("padding", "full", "'valid', 'same'"),
    ("use_bias", 1, "true or false"),
    ("activation", "relu7", "must be one of"),
    ("filters", None, "must be set"),
])
def test_wrong_type_is_reported(field, value, words):
    problems = check_params(CATALOG.get("Conv2D"), _conv(**{field: value}))
    assert len(problems) == 1
    got_field, message = problems[0]
    assert got_field == field
    assert words in message
    assert f"Received: {value!r}" in message


@pytest.mark.parametrize("kind, field, value, words, culprit", [
    ("Conv2D", "filters", 0, "≥ 1", 0),
    ("Conv2D", "kernel_size", [3, 0], "≥ 1", 0),
    ("Conv2D", "padding", -1, "≥ 0", -1),
    ("Dropout", "rate", 1.5, "≤ 1", 1.5),
    ("BatchNormalization", "momentum", -0.1, "≥ 0", -0.1),
    ("ZeroPadding2D", "padding", [[0, -1], [1, 1]], "≥ 0", -1),
    ("LRN", "depth_radius", -1, "≥ 0", -1),
])
def test_out_of_range_is_reported(kind, field, value, words, culprit):
    params = CATALOG.defaults(kind)
    params[field] = value
    assert check_params(CATALOG.get(kind), params) == [
        (field, f"must be {words}. Received: {culprit!r}")]


def test_optional_params_take_none():
    params = CATALOG.defaults("MaxPool2D")
    assert params["strides"] is None
    assert check_params(CATALOG.get("MaxPool2D"), params) == []
    params = CATALOG.defaults("Conv2DTranspose")
    params["output_padding"] = [0, 1]
    assert check_params(CATALOG.get("Conv2DTranspose"), params) == []


def test_unknown_key_names_the_known_ones():
    problems = check_params(CATALOG.get("Dropout"), {**CATALOG.defaults("Dropout"),
                                                     "ratee": 0.3})
    assert problems == [("ratee", "is not a parameter of Dropout (it has: rate, seed).")]


def test_missing_key_is_reported():
    params = CATALOG.defaults("Conv2D")
    del params["filters"]
    assert check_params(CATALOG.get("Conv2D"), params) == [("filters", "is missing.")]


def test_several_problems_are_all_reported():
    params = CATALOG.defaults("Dense")
    params["units"] = -3
    del params["use_bias"]
    params["unit"] = 4
    fields = [field for field, _ in check_params(CATALOG.get("Dense"), params)]
    assert fields == ["units", "use_bias", "unit"]


def test_catalog_validates_by_kind():
    assert CATALOG.validate_params("Add", {}) == []
    assert CATALOG.validate_params("Add", {"axis": 1})[0][0] == "axis"

"""What the inspector's text fields accept, and how shapes are written."""

from __future__ import annotations

import pytest

from builder.gui.text import parse_value, shape_text, value_text


@pytest.mark.parametrize("text, kind, expected", [
    ("3", "int_or_pair", 3),
    ("3, 5", "int_or_pair", [3, 5]),
    ("same", "padding", "same"),
    ("'valid'", "padding", "valid"),
    ("2", "padding", 2),
    ("224x224x3", "shape", [224, 224, 3]),
    ("?, ?, 3", "shape", [None, None, 3]),
    ("-1", "int_list", [-1]),
    ("accuracy, top5", "str_list", ["accuracy", "top5"]),
    ("1x2, 3x4", "cropping", [[1, 2], [3, 4]]),
    ("1e-3", "float", 0.001),
    ("0.5, 0.25", "float_list", [0.5, 0.25]),
    ('{"filters": 64}', "params", {"filters": 64}),
])
def test_parse_value(text, kind, expected):
    assert parse_value(text, kind) == expected


def test_round_trip_through_the_text_field():
    for value, kind in (([3, 5], "int_or_pair"), ([224, 224, 3], "shape"),
                        ([[1, 2], [3, 4]], "cropping"), ({"a": 1}, "params")):
        assert parse_value(value_text(value), kind) == value


@pytest.mark.parametrize("text, kind", [("", "int"), ("abc", "int_or_pair"),
                                        ("[1, 2]", "params"), ("{", "params")])
def test_unreadable_text_is_a_value_error(text, kind):
    with pytest.raises(ValueError):
        parse_value(text, kind)


def test_empty_optional_field_is_none_and_shapes_drop_the_batch():
    assert parse_value("", "int_or_pair", optional=True) is None
    assert shape_text((None, 7, 7, 512)) == "7×7×512"
    assert shape_text((None, 4096)) == "4096" and shape_text(None) == "?"

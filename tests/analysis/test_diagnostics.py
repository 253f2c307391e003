"""Diagnostics speak arithmetic and name the fix; analyze never raises."""

import pytest

import builder.blocks  # noqa: F401 - registers the catalogue
from builder.analysis import analyze
from builder.core import Graph


def chain(*layers, shape=(32, 32, 3), output=True):
    """A graph Input → layers... → Output; returns (graph, ids)."""
    g = Graph()
    prev = g.add_node("Input", {"shape": list(shape)}).id
    ids = [prev]
    for kind, params in layers:
        nid = g.add_node(kind, params).id
        g.connect(prev, nid)
        prev = nid
        ids.append(nid)
    if output:
        out = g.add_node("Output").id
        g.connect(prev, out)
        ids.append(out)
    return g, ids


def messages(analysis, node=None):
    return [str(d) for d in analysis.diagnostics if node is None or d.node == node]


def test_conv_that_does_not_divide_spells_out_the_formula_and_the_fix():
    g, ids = chain(("Conv2D", {"filters": 8, "kernel_size": 4, "strides": 3,
                               "padding": "valid"}), ("Flatten", {}),
                   shape=(30, 30, 3))
    a = analyze(g)
    (d,) = [d for d in a.diagnostics if d.node == ids[1]]
    assert d.severity == "warning"
    assert "(30 - 4 + 2·0)/3 + 1 = 9.67 is not a whole number" in d.message
    assert "Keras floors it to 9" in d.message
    assert "padding='same'" in d.fix and "P=2" in d.fix
    # (30 - 4 + 2·2)/3 + 1 = 11 is whole: the suggested P really fits.
    g.set_param(ids[1], "padding", 2)
    a = analyze(g)
    assert a.nodes[ids[1]].output_shape == (None, 11, 11, 8)
    assert not messages(a, ids[1])


def test_kernel_larger_than_input_is_an_error_with_numbers():
    g, ids = chain(("Conv2D", {"kernel_size": 7, "padding": "valid"}), shape=(5, 5, 1))
    a = analyze(g)
    assert not a.ok
    (d,) = a.errors
    assert d.node == ids[1]
    assert "(5 - 7 + 2·0)/1 + 1 = -1" in d.message


def test_add_of_different_widths_suggests_a_projection():
    g = Graph()
    x = g.add_node("Input", {"shape": [28, 28, 64]}).id
    wide = g.add_node("Conv2D", {"filters": 128}).id
    add = g.add_node("Add").id
    out = g.add_node("Output").id
    g.connect(x, wide)
    g.connect(x, add)
    g.connect(wide, add)
    g.connect(add, out)
    a = analyze(g)
    (d,) = a.errors
    assert d.node == add
    assert "(28, 28, 64)" in d.message and "(28, 28, 128)" in d.message
    assert "1×1" in (d.fix or "")
    assert a.nodes[out].blocked  # downstream is blocked, not flooded with errors
    assert len(a.errors) == 1


def test_dense_on_an_image_tensor_suggests_flatten():
    g, ids = chain(("Conv2D", {"filters": 4}), ("Dense", {"units": 10}))
    a = analyze(g)
    (d,) = [d for d in a.diagnostics if d.node == ids[2]]
    assert "Flatten" in d.fix
    assert a.nodes[ids[2]].output_shape == (None, 32, 32, 10)  # what Keras does


def test_graph_without_input_or_output_and_stray_nodes():
    g = Graph()
    a = analyze(g)
    text = " ".join(messages(a))
    assert "at least one Input" in text and "at least one Output" in text
    g, ids = chain(("Conv2D", {}), ("Flatten", {}), ("Dense", {"units": 3}))
    stray = g.add_node("Dense", {"units": 5}).id
    g.connect(ids[2], stray)
    a = analyze(g)
    assert any(d.node == stray and "does not lead to any Output" in d.message
               for d in a.warnings)


def test_unconnected_node_reports_missing_input():
    g, ids = chain(("Flatten", {}))
    lonely = g.add_node("Dense", {"units": 2}).id
    a = analyze(g)
    (d,) = [d for d in a.errors if d.node == lonely]
    assert "no input connected" in d.message


@pytest.mark.parametrize("value", [-3, 0, 2.5, "many", None, [1, 2, 3], True])
def test_bad_param_values_become_errors_naming_the_field(value):
    g, ids = chain(("Conv2D", {}))
    g.set_param(ids[1], "filters", value)
    a = analyze(g)
    errors = [d for d in a.errors if d.node == ids[1]]
    assert errors and errors[0].field == "filters"
    assert "filters" in str(errors[0])


def test_unknown_param_key_is_reported():
    g, ids = chain(("Conv2D", {}))
    g.set_param(ids[1], "filterz", 3)
    a = analyze(g)
    assert any(d.field == "filterz" and "not a parameter of Conv2D" in d.message
               for d in a.errors)

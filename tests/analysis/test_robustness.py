"""No bad graph or param ever raises out of analyze (property tests)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from builder.analysis import analyze
from builder.blocks import CATALOG
from builder.core import Graph

junk = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 300), st.floats(allow_nan=True),
    st.text(max_size=6), st.lists(st.integers(-2, 9), max_size=4),
    st.lists(st.lists(st.integers(-2, 5), max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
kinds = st.sampled_from([k for k in CATALOG.kinds() if k not in ("Input", "Output")])


@settings(max_examples=300, deadline=None)
@given(kind=kinds, data=st.data(), shape=st.lists(st.integers(1, 40), min_size=1,
                                                 max_size=4))
def test_any_param_value_on_any_kind_never_raises(kind, data, shape):
    g = Graph()
    x = g.add_node("Input", {"shape": shape}).id
    node = g.add_node(kind).id
    g.connect(x, node)
    if CATALOG.get(kind).inputs[0].multiple:
        g.connect(g.add_node("Input", {"shape": shape}).id, node)
    spec = CATALOG.get(kind)
    if spec.outputs:  # heads such as AuxClassifier end in their own Output
        g.connect(node, g.add_node("Output").id)
    names = [p.name for p in spec.params] + ["bogus"]
    for name in data.draw(st.lists(st.sampled_from(names), max_size=3)):
        g.set_param(node, name, data.draw(junk))
    analysis = analyze(g)
    info = analysis.nodes[node]
    assert info.ok or info.diagnostics  # a failure always says why
    for d in analysis.diagnostics:
        assert str(d)  # every finding renders as one line
        assert "\n" not in str(d)

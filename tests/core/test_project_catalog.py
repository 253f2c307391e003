"""Project files with the real catalogue, and fuzzing: bad input gives ProjectError only."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from builder.blocks import CATALOG
from builder.core import (
    Graph,
    History,
    ProjectError,
    dumps_project,
    load_project,
    loads_project,
    save_project,
)
from builder.core.project import Project

from .helpers import snapshot


def _vgg_like() -> Project:
    graph = Graph(CATALOG)
    history = History(graph)
    with history.macro("Build"):
        history.add_node("Input", {"shape": [32, 32, 3]}, id="input", pos=(0, 0))
        history.add_node("Conv2D", {"filters": 64, "activation": "relu"}, id="conv1",
                         pos=(0, 80))
        history.add_node("Conv2D", {"filters": 64, "kernel_size": 1}, id="proj")
        history.add_node("Add", id="add")
        history.add_node("MaxPool2D", id="pool")
        history.add_node("Flatten", id="flat")
        history.add_node("Dense", {"units": 10, "activation": "softmax"}, id="fc",
                         name="classifier")
        history.add_node("Output", id="out")
        for src, dst in [("input", "conv1"), ("input", "proj"), ("conv1", "add"),
                         ("proj", "add"), ("add", "pool"), ("pool", "flat"),
                         ("flat", "fc"), ("fc", "out")]:
            history.connect(src, dst)
    return Project(graph, name="VGG-ish", training={"optimizer": {"name": "sgd"}},
                   dataset={"name": "cifar10"}, extra={"zoom": 1.25})


def test_round_trip_with_the_catalogue(tmp_path):
    project = _vgg_like()
    path = tmp_path / "vgg.json"
    save_project(project, path)
    loaded = load_project(path, CATALOG)
    assert snapshot(loaded.graph) == snapshot(project.graph)
    assert loaded.graph.predecessors("add") == ["conv1", "proj"]
    assert dumps_project(loaded) == path.read_text("utf-8")
    assert json.loads(dumps_project(loaded)) == json.loads(dumps_project(project))


def _bad(mutate) -> ProjectError:
    data = json.loads(dumps_project(_vgg_like()))
    mutate(data)
    with pytest.raises(ProjectError) as info:
        loads_project(json.dumps(data), CATALOG, path="vgg.json")
    assert "\n" not in str(info.value)
    return info.value


def _node(data, node_id):
    return next(n for n in data["graph"]["nodes"] if n["id"] == node_id)


def test_bad_filters_names_file_node_and_field():
    err = _bad(lambda d: _node(d, "conv1")["params"].update(filters="sixty-four"))
    assert str(err).startswith("vgg.json: node 'conv1': field 'filters': ")
    assert "Received: 'sixty-four'" in str(err)


def test_out_of_range_and_bad_choice():
    def mutate(d):
        _node(d, "conv1")["params"]["filters"] = 0
        _node(d, "fc")["params"]["activation"] = "relu7"

    err = _bad(mutate)
    assert [(p.node, p.field) for p in err.problems] == [("conv1", "filters"),
                                                         ("fc", "activation")]


def test_unknown_kind_suggests_from_the_catalogue():
    err = _bad(lambda d: _node(d, "conv1").update(kind="Conv2d"))
    assert "node 'conv1': field 'kind'" in str(err) and "'Conv2D'" in str(err)


def test_unknown_param_is_reported():
    err = _bad(lambda d: _node(d, "pool")["params"].update(filter=3))
    assert "node 'pool': field 'filter'" in str(err) and "MaxPool2D" in str(err)


def test_a_file_missing_a_newer_param_loads_with_its_default():
    data = json.loads(dumps_project(_vgg_like()))
    del _node(data, "conv1")["params"]["groups"]
    project = loads_project(json.dumps(data), CATALOG)
    assert project.graph.node("conv1").params["groups"] == 1


def test_second_edge_into_a_single_port_names_both_nodes():
    err = _bad(lambda d: d["graph"]["edges"].append({"from": "input", "to": "pool"}))
    assert "input → pool" in str(err) and "takes one edge" in str(err)


# -- fuzzing: never anything but ProjectError -------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=False,
                                                                   allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _paths(child, prefix + (i,))


_VALID = json.loads(dumps_project(_vgg_like()))
_PATHS = [p for p in _paths(_VALID) if p]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.sampled_from(_PATHS), json_values, st.booleans()),
                      min_size=1, max_size=3))
def test_corrupted_projects_give_project_errors_only(edits):
    data = copy.deepcopy(_VALID)
    for path, value, delete in edits:
        parent = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            if delete:
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    try:
        project = loads_project(json.dumps(data), CATALOG, path="f.json")
    except ProjectError as e:
        assert "\n" not in str(e) and str(e).startswith("f.json: ")
        assert all(isinstance(p, ProjectError) for p in e.problems)
    else:
        dumps_project(project)  # whatever loads can be saved again


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=200) | json_values.map(json.dumps))
def test_arbitrary_text_gives_project_errors_only(text):
    try:
        loads_project(text, CATALOG, path="f.json")
    except ProjectError as e:
        assert "\n" not in str(e)


# -- the tier rule ---------------------------------------------------------------------


def test_core_imports_only_the_standard_library_and_itself():
    import sys

    core = Path(__file__).resolve().parents[2] / "builder" / "core"
    for source in sorted(core.glob("*.py")):
        tree = ast.parse(source.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else []
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert (name == "builder.core" or name.startswith("builder.core.")
                        or top in sys.stdlib_module_names), f"{source.name} imports {name}"

"""Project files: format, round trip, migration and one-line error messages."""

from __future__ import annotations

import json

import pytest

from builder.core import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Graph,
    ProjectError,
    dumps_project,
    load_project,
    loads_project,
    migrate_project,
    project_to_dict,
    save_project,
    validate_project,
)
from builder.core.project import Project

from .helpers import snapshot


def _doc(**overrides):
    doc = {
        "format": "keras-builder",
        "schema_version": 1,
        "name": "tiny",
        "description": "",
        "graph": {
            "nodes": [
                {"id": "src", "kind": "Src", "params": {"shape": [8]}},
                {"id": "l1", "kind": "Layer", "name": "first", "params": {"units": 4}},
                {"id": "m", "kind": "Merge", "params": {}},
            ],
            "edges": [{"from": "src", "to": "l1"}, {"from": "l1", "to": "m"},
                      {"from": "src", "to": "m"}],
        },
        "view": {"positions": {"src": [0, 0], "l1": [0.5, 100]}, "zoom": 1.5},
        "training": {"epochs": 3},
        "dataset": {"name": "mnist"},
    }
    doc.update(overrides)
    return doc


def _error(text, kinds, path="p.json") -> ProjectError:
    if not isinstance(text, str):
        text = json.dumps(text)
    with pytest.raises(ProjectError) as info:
        loads_project(text, kinds, path=path)
    err = info.value
    assert "\n" not in str(err)
    assert str(err).startswith("p.json: ")
    assert err.problems[0] is err
    return err


# -- the format ----------------------------------------------------------------


def test_load_builds_everything(kinds):
    project = loads_project(json.dumps(_doc()), kinds, path="x.json")
    graph = project.graph
    assert list(graph.nodes) == ["src", "l1", "m"]
    assert graph.node("l1").name == "first"
    assert graph.node("l1").params == {"units": 4, "act": "relu"}  # default filled in
    assert graph.predecessors("m") == ["l1", "src"]
    assert graph.node("l1").pos == (0.5, 100) and graph.node("m").pos is None
    assert (project.name, project.path) == ("tiny", "x.json")
    assert project.training == {"epochs": 3} and project.dataset == {"name": "mnist"}
    assert project.extra == {"zoom": 1.5}


def test_dumps_shape_and_stability(kinds):
    project = loads_project(json.dumps(_doc()), kinds)
    text = dumps_project(project)
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text.startswith('{\n  "format": "keras-builder",\n  "schema_version": 1,\n')
    data = json.loads(text)
    assert list(data) == ["format", "schema_version", "name", "description", "graph",
                          "view", "training", "dataset"]
    assert data["view"] == {"positions": {"src": [0, 0], "l1": [0.5, 100]}, "zoom": 1.5}
    assert dumps_project(project) == text
    project.training = {"b": 1, "a": {"z": 1, "y": 2}}
    again = dumps_project(project)
    project.training = {"a": {"y": 2, "z": 1}, "b": 1}
    assert dumps_project(project) == again  # free-form dicts are key-sorted


def test_round_trip_is_identical(kinds):
    project = loads_project(json.dumps(_doc()), kinds)
    text = dumps_project(project)
    again = loads_project(text, kinds)
    assert project_to_dict(again) == project_to_dict(project) == json.loads(text)
    assert dumps_project(again) == text
    assert snapshot(again.graph) == snapshot(project.graph)


def test_round_trip_through_a_file(tmp_path, kinds):
    graph = Graph(kinds)
    graph.add_node("Src", id="s", pos=(1, 2))
    graph.add_node("Layer", {"units": 7}, name="ü-name")
    graph.connect("s", "layer_1")
    project = Project(graph, name="Projekt ✓", description="two\nlines",
                      training={"lr": 0.001}, extra={"zoom": 2})
    path = tmp_path / "p.kb.json"
    save_project(project, path)
    assert project.path == str(path)
    loaded = load_project(path, kinds)
    assert loaded.path == str(path)
    assert project_to_dict(loaded) == project_to_dict(project)
    assert path.read_text("utf-8") == dumps_project(loaded)


def test_defaults_for_optional_keys(kinds):
    project = loads_project(json.dumps({"format": "keras-builder", "schema_version": 1,
                                        "graph": {}}), kinds)
    assert (project.name, project.description, project.training, project.dataset,
            project.extra, len(project.graph)) == ("Untitled", "", {}, {}, {}, 0)


def test_bom_and_bytes_are_accepted(kinds):
    text = json.dumps(_doc())
    assert len(loads_project("\ufeff" + text, kinds).graph) == 3
    assert len(loads_project(b"\xef\xbb\xbf" + text.encode(), kinds).graph) == 3


def test_save_refuses_values_json_cannot_hold(kinds):
    graph = Graph(kinds)
    graph.add_node("Layer", {"units": float("nan")}, id="l")
    with pytest.raises(ProjectError, match="cannot be saved as JSON"):
        dumps_project(Project(graph))


def test_save_without_a_path(kinds):
    with pytest.raises(ProjectError, match="no file to save to"):
        save_project(Project(Graph(kinds)))


# -- parse -----------------------------------------------------------------------


def test_invalid_json_names_line_and_column(kinds):
    text = '{\n  "format": "keras-builder",\n  "name": "x"\n  "graph": {}\n}'
    err = _error(text, kinds)
    assert "line 4, column 3" in str(err) and "invalid JSON" in str(err)


@pytest.mark.parametrize("text, words", [
    ("", "line 1, column 1"),
    ("[1, 2]", "JSON object"),
    ('{"format": "keras-builder", "schema_version": NaN}', "NaN"),
    ('{"format": "keras-builder", "format": "x"}', "'format' appears twice"),
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
    ('{"format": "keras-builder", "schema_version": 1e400}', "too large"),
    ('{"format": "keras-builder", "schema_version": ' + "1" * 5000 + "}", "4300 digits"),
])
def test_unreadable_text(kinds, text, words):
    assert words in str(_error(text, kinds))


def test_a_single_problem_lists_itself():
    err = ProjectError("x", path="p")
    assert err.problems == [err]


def test_not_utf8(kinds):
    with pytest.raises(ProjectError, match="not UTF-8"):
        loads_project(b'{"name": "\xff"}', kinds, path="p.json")


def test_missing_file_and_directory(tmp_path, kinds):
    with pytest.raises(ProjectError, match="cannot be read") as info:
        load_project(tmp_path / "nope.json", kinds)
    assert str(info.value).startswith(str(tmp_path / "nope.json"))
    with pytest.raises(ProjectError, match="cannot be read"):
        load_project(tmp_path, kinds)


# -- migrate ---------------------------------------------------------------------


def test_wrong_or_missing_format(kinds):
    err = _error(_doc(format="something-else"), kinds)
    assert "field 'format'" in str(err) and "'something-else'" in str(err)
    doc = _doc()
    del doc["format"]
    err = _error(doc, kinds)
    assert "not a Keras Builder project" in str(err) and "keras-builder" in str(err)


def test_newer_schema_says_upgrade(kinds):
    err = _error(_doc(schema_version=SCHEMA_VERSION + 1), kinds)
    assert "Upgrade Keras Builder" in str(err) and err.field == "schema_version"


@pytest.mark.parametrize("version", [None, "1", 1.0, True])
def test_schema_version_must_be_a_whole_number(kinds, version):
    doc = _doc(schema_version=version)
    assert _error(doc, kinds).field == "schema_version"
    del doc["schema_version"]
    assert "is missing" in str(_error(doc, kinds))


def test_old_version_without_migration(kinds):
    err = _error(_doc(schema_version=-1), kinds)
    assert "no migration" in str(err)


def _v0_to_v1(data):
    # Version 0 called the name "title" and the nodes "layers" with a "type".
    data["name"] = data.pop("title")
    graph = data["graph"]
    graph["nodes"] = [{"id": n["id"], "kind": n["type"], "params": n.get("config", {})}
                      for n in graph.pop("layers")]
    return data


def test_migration_from_version_0(monkeypatch, kinds):
    monkeypatch.setitem(MIGRATIONS, 0, _v0_to_v1)
    old = {"format": "keras-builder", "schema_version": 0, "title": "Old",
           "graph": {"layers": [{"id": "s", "type": "Src"},
                                {"id": "l", "type": "Layer", "config": {"units": 2}}],
                     "edges": [{"from": "s", "to": "l"}]}}
    project = loads_project(json.dumps(old), kinds)
    assert project.name == "Old"
    assert project.graph.node("l").params["units"] == 2
    assert json.loads(dumps_project(project))["schema_version"] == SCHEMA_VERSION
    # migrate_project leaves its argument alone and returns the new version
    migrated = migrate_project(old)
    assert migrated["schema_version"] == 1 and "title" in old


def test_failing_migration_is_a_project_error(monkeypatch, kinds):
    monkeypatch.setitem(MIGRATIONS, 0, _v0_to_v1)
    err = _error({"format": "keras-builder", "schema_version": 0, "graph": {}}, kinds)
    assert "could not be migrated from schema_version 0 to 1" in str(err)
    assert "KeyError" in str(err)


# -- validate --------------------------------------------------------------------


def _node_doc(*nodes, edges=()):
    return _doc(graph={"nodes": list(nodes), "edges": list(edges)}, view={})


def test_bad_param_names_node_and_field(kinds):
    err = _error(_node_doc({"id": "conv1", "kind": "Layer", "params": {"units": "many"}}),
                 kinds)
    assert str(err).startswith("p.json: node 'conv1': field 'units': must be a whole")
    assert "Received: 'many'" in str(err)
    assert (err.path, err.node, err.field) == ("p.json", "conv1", "units")


def test_unknown_kind_suggests(kinds):
    err = _error(_node_doc({"id": "x", "kind": "Layr"}), kinds)
    assert "node 'x': field 'kind'" in str(err) and "Did you mean 'Layer'" in str(err)


def test_every_problem_is_collected(kinds):
    doc = _node_doc(
        {"id": "a", "kind": "Layer", "params": {"units": 0, "bogus": 1}},
        {"id": "a", "kind": "Src"},
        {"kind": "Layer"},
        {"id": "b", "kind": 5, "colour": "red"},
        {"id": "c", "kind": "Layer", "name": 3, "params": []},
        "not a node",
        edges=[{"from": "a", "to": "ghost"}, {"from": "a", "to": "c", "to_port": "side"},
               {"to": "c"}, {"from": "c", "to": "a", "weight": 2}],
    )
    doc["extra_top"] = 1
    doc["training"] = []
    doc["view"] = {"positions": {"a": [1], "zzz": [0, 0]}}
    err = _error(doc, kinds)
    found = {(p.node, p.field) for p in err.problems}
    assert found >= {
        (None, "extra_top"), (None, "training"),
        ("a", "units"), ("a", "bogus"), ("a", "id"), (None, "id"),
        ("b", "kind"), ("b", "colour"), ("c", "name"), ("c", "params"), (None, "nodes"),
        ("ghost", "to"), ("c", "to_port"), (None, "from"), ("c", "weight"),
        ("a", "view.positions"), ("zzz", "view.positions"),
    }
    for problem in err.problems:
        assert "\n" not in str(problem) and str(problem).startswith("p.json: ")
    assert validate_project(doc, kinds, "p.json") != []


def test_unknown_node_in_edge_suggests(kinds):
    err = _error(_node_doc({"id": "conv1", "kind": "Src"}, {"id": "relu", "kind": "Layer"},
                           edges=[{"from": "conv_1", "to": "relu"}]), kinds)
    assert "node 'conv_1': field 'from'" in str(err) and "Did you mean 'conv1'" in str(err)


def test_port_of_a_kind_without_outputs(kinds):
    err = _error(_node_doc({"id": "s", "kind": "Sink"}, {"id": "l", "kind": "Layer"},
                           edges=[{"from": "s", "to": "l"}]), kinds)
    assert "Sink has no output port" in str(err) and err.field == "from_port"


@pytest.mark.parametrize("edges, words", [
    ([{"from": "a", "to": "b"}, {"from": "b", "to": "a"}], "cycle"),
    ([{"from": "s", "to": "b"}, {"from": "a", "to": "b"}], "takes one edge"),
    ([{"from": "a", "to": "b"}, {"from": "a", "to": "b"}], "already connected"),
])
def test_graph_rules_name_the_edge(kinds, edges, words):
    doc = _node_doc({"id": "s", "kind": "Src"}, {"id": "a", "kind": "Layer"},
                    {"id": "b", "kind": "Layer"}, edges=edges)
    err = _error(doc, kinds)
    assert words in str(err)
    assert "graph.edges[1]" in str(err)
    assert f"({edges[1]['from']} → {edges[1]['to']})" in str(err)


def test_graph_problems_and_value_problems_together(kinds):
    doc = _node_doc({"id": "a", "kind": "Layer", "params": {"units": -1}},
                    {"id": "b", "kind": "Layer"},
                    edges=[{"from": "a", "to": "b"}, {"from": "b", "to": "a"}])
    err = _error(doc, kinds)
    assert [p.field for p in err.problems] == ["units", "edges"]


@pytest.mark.parametrize("key, value", [
    ("name", 3), ("description", ["x"]), ("graph", []), ("view", "v"),
    ("training", None), ("dataset", 1),
])
def test_top_level_types(kinds, key, value):
    err = _error(_doc(**{key: value}), kinds)
    assert err.field == key and "must be" in str(err)


@pytest.mark.parametrize("graph, field", [
    ({"nodes": {}, "edges": []}, "graph.nodes"),
    ({"nodes": [], "edges": "x"}, "graph.edges"),
    ({"nodes": [], "links": []}, "graph.links"),
])
def test_graph_shape(kinds, graph, field):
    assert _error(_doc(graph=graph, view={}), kinds).field == field


def test_missing_graph(kinds):
    doc = _doc()
    del doc["graph"]
    assert _error(doc, kinds).field == "graph"


def test_registry_without_validate_params(kinds):
    class Plain:
        ports = kinds.ports
        defaults = kinds.defaults

    project = loads_project(json.dumps(_node_doc({"id": "a", "kind": "Layer",
                                                  "params": {"units": "x"}})), Plain())
    assert project.graph.node("a").params["units"] == "x"  # left to the analysis


def test_a_broken_params_rule_is_reported_not_raised(kinds):
    class Broken(type(kinds)):
        def validate_params(self, kind, params):
            raise ZeroDivisionError("oops")

    err = _error(_node_doc({"id": "a", "kind": "Layer"}), Broken())
    assert "could not be checked: ZeroDivisionError: oops" in str(err)

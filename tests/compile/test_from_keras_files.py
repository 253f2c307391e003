"""Importing .keras files: config.json is vetted before Keras deserialises
anything, code in a file is never run, bad files give one line, and
``builder import`` writes a project (architecture only) or nothing."""

from __future__ import annotations

import json
import os
import zipfile

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

import builder  # noqa: E402
from builder.cli import main  # noqa: E402
from builder.compile import from_keras as from_keras_module  # noqa: E402
from builder.compile.keras_file import KerasImportError  # noqa: E402

L = keras.layers


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A small CNN with every layer kind MobileNet and ConvNeXt use, saved once."""
    x = keras.Input((32, 32, 3), name="pixels")
    y = L.Normalization(mean=[0.5, 0.5, 0.5], variance=[0.25, 0.25, 0.25], name="norm")(x)
    y = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="conv1")(y)
    y = L.BatchNormalization(name="conv1_bn")(y)
    y = L.ReLU(6.0, name="conv1_relu")(y)
    z = L.DepthwiseConv2D(3, padding="same", name="dw")(y)
    z = L.LayerNormalization(epsilon=1e-6, name="ln")(z)
    z = L.Dense(8, name="pw")(z)  # ConvNeXt's 1×1 conv: Dense on a 4-D tensor
    y = L.Add(name="residual")([y, z])
    y = L.GlobalAveragePooling2D(name="gap")(y)
    y = L.Dense(10, activation="softmax", name="predictions")(y)
    model = keras.Model(x, y, name="tiny_net")
    path = tmp_path_factory.mktemp("models") / "tiny_net.keras"
    model.save(path)
    return path, model


def write_keras(path, config, extra=None):
    """A .keras zip with ``config`` as config.json (and no weights)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def config_of(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


@pytest.fixture
def keras_never_loads(monkeypatch):
    """Fails the test if Keras is asked to deserialise anything."""
    def refuse(*args, **kwargs):
        raise AssertionError("Keras deserialised a file that should have been refused")

    monkeypatch.setattr(keras.saving, "load_model", refuse)
    monkeypatch.setattr(keras.saving, "deserialize_keras_object", refuse)


# -- from_keras on files -----------------------------------------------------------

def test_file_imports_and_matches_the_model(model_file):
    path, model = model_file
    project = builder.from_keras(path)  # verify=True: loads with safe_mode and compares
    graph = project.graph
    assert project.name == "tiny_net"
    assert graph.node("conv1_relu").params["max_value"] == 6.0
    assert graph.node("norm").params["mean"] == [0.5, 0.5, 0.5]
    a = builder.analyze(graph)
    assert a.totals.params == model.count_params()
    for layer in model.layers:
        assert a.nodes[layer.name].output_shape == tuple(layer.output.shape)


def test_file_imports_without_keras_loading_it(model_file, keras_never_loads):
    path, model = model_file
    graph = builder.from_keras(path, verify=False).graph
    assert builder.analyze(graph).totals.params == model.count_params()


def test_lambda_in_a_file_is_refused_before_keras_sees_it(model_file, tmp_path,
                                                          keras_never_loads):
    config = config_of(model_file[0])
    layers = config["config"]["layers"]
    marker = tmp_path / "code_ran"
    # A Lambda whose code would create a file if anything ever ran it.
    lam = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
           "name": "evil", "config": {"name": "evil", "trainable": True, "function": {
               "class_name": "__lambda__", "config": {
                   "code": f"open({str(marker)!r}, 'w')", "defaults": None,
                   "closure": None}}},
           "inbound_nodes": layers[-1]["inbound_nodes"]}
    custom = {"module": "my_company.layers", "class_name": "Secret",
              "registered_name": "my_company>Secret", "name": "secret",
              "config": {"name": "secret", "trainable": True},
              "inbound_nodes": layers[-2]["inbound_nodes"]}
    layers[-2:] = [custom, lam]
    config["config"]["output_layers"] = [["evil", 0, 0]]
    path = write_keras(tmp_path / "evil.keras", config)
    with pytest.raises(KerasImportError) as error:
        builder.from_keras(path)
    message = str(error.value)
    assert "\n" not in message
    assert "Lambda 'evil'" in message and "never run" in message
    assert "Secret from module 'my_company.layers' in layer 'secret'" in message
    assert not marker.exists()


def test_unknown_initializer_module_is_refused(model_file, tmp_path, keras_never_loads):
    config = config_of(model_file[0])
    conv = next(l for l in config["config"]["layers"] if l["name"] == "conv1")
    conv["config"]["kernel_initializer"] = {"module": "os", "class_name": "system",
                                            "config": {}, "registered_name": None}
    path = write_keras(tmp_path / "init.keras", config)
    with pytest.raises(KerasImportError, match="system from module 'os' in layer 'conv1'"):
        builder.from_keras(path)


@pytest.mark.parametrize("content, words", [
    (b"not a zip at all", "not a zip archive"),
    (None, "without one"),             # a zip with no config.json
    (b"{broken", "not valid JSON"),   # config.json that is not JSON
    (b"[1, 2]", "does not describe a model"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),  # nested past the stack
])
def test_bad_files_give_one_line(tmp_path, content, words, keras_never_loads):
    path = tmp_path / "bad.keras"
    if content == b"not a zip at all":
        path.write_bytes(content)
    elif content is None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("metadata.json", "{}")
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("config.json", content)
    with pytest.raises(KerasImportError) as error:
        builder.from_keras(path)
    assert words in str(error.value)
    assert "\n" not in str(error.value)


def test_truncated_file_gives_one_line(model_file, tmp_path):
    data = model_file[0].read_bytes()
    path = tmp_path / "cut.keras"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(KerasImportError) as error:
        builder.from_keras(path)
    assert "\n" not in str(error.value)


def test_damaged_weights_are_reported_by_the_verifying_load(model_file, tmp_path):
    path = write_keras(tmp_path / "no_weights.keras", config_of(model_file[0]),
                       {"model.weights.h5": b"garbage"})
    with pytest.raises(KerasImportError, match="Keras could not load"):
        builder.from_keras(path)
    # The architecture itself is fine: without verification it imports.
    assert builder.from_keras(path, verify=False).name == "tiny_net"


def test_other_formats_are_refused_by_name(tmp_path):
    h5 = tmp_path / "old.h5"
    h5.write_bytes(b"\x89HDF")
    with pytest.raises(KerasImportError, match="legacy HDF5"):
        builder.from_keras(h5)
    with pytest.raises(KerasImportError, match="SavedModel"):
        builder.from_keras(tmp_path)
    with pytest.raises(KerasImportError, match="No such file"):
        builder.from_keras(tmp_path / "missing.keras")


def test_vetting_happens_before_loading(model_file, monkeypatch, tmp_path):
    calls = []
    original = from_keras_module._load_vetted

    def spy(path):
        calls.append(path)
        return original(path)

    monkeypatch.setattr(from_keras_module, "_load_vetted", spy)
    config = config_of(model_file[0])
    config["config"]["layers"][1]["class_name"] = "Conv3D"
    with pytest.raises(KerasImportError, match="Conv3D 'norm'"):
        builder.from_keras(write_keras(tmp_path / "c3.keras", config))
    assert calls == []
    builder.from_keras(model_file[0])
    assert len(calls) == 1


# -- builder import -----------------------------------------------------------------

def test_cli_import_writes_a_project(model_file, tmp_path, capsys):
    out = tmp_path / "project.json"
    assert main(["import", str(model_file[0]), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Weights are not part of a project" in printed
    assert f"{model_file[1].count_params():,} params" in printed
    project = builder.load(out)
    names = [l.name for l in model_file[1].layers]
    assert [n.name for n in project.graph.nodes.values() if n.kind != "Output"] == names
    assert main(["summary", str(out)]) == 0
    table = capsys.readouterr().out
    assert all(name in table for name in names)


def test_cli_import_refuses_to_overwrite(model_file, tmp_path, capsys):
    out = tmp_path / "project.json"
    out.write_text("keep me")
    assert main(["import", str(model_file[0]), "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_text() == "keep me"
    assert main(["import", str(model_file[0]), "-o", str(out), "--force",
                 "--no-verify"]) == 0
    assert builder.load(out).name == "tiny_net"


def test_cli_import_of_a_bad_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"nope")
    out = tmp_path / "out.json"
    assert main(["import", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.startswith("builder import:")]
    assert len(lines) == 1 and "not a zip archive" in lines[0]
    assert "Traceback" not in err
    assert not out.exists()


def test_cli_import_lists_every_refused_layer(model_file, tmp_path, capsys):
    config = config_of(model_file[0])
    layers = {l["name"]: l for l in config["config"]["layers"]}
    layers["conv1_relu"]["class_name"] = "PReLU"
    layers["ln"]["class_name"] = "GroupNormalization"
    bad = write_keras(tmp_path / "two.keras", config)
    out = tmp_path / "out.json"
    assert main(["import", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "2 layers cannot be represented" in err
    assert "PReLU 'conv1_relu'" in err and "GroupNormalization 'ln'" in err
    assert not out.exists()


def test_a_custom_loss_in_the_compile_config_does_not_block_the_import(model_file,
                                                                        tmp_path):
    # Files load with compile=False, so the training setup is never deserialised
    # and need not be vetted.
    config = config_of(model_file[0])
    config["compile_config"] = {"loss": {"module": "my_company.losses",
                                         "class_name": "FancyLoss", "config": {},
                                         "registered_name": "my_company>FancyLoss"}}
    path = write_keras(tmp_path / "compiled.keras", config)
    assert builder.from_keras(path, verify=False).name == "tiny_net"


def test_keras_applications_layers_in_a_file(tmp_path):
    # ConvNeXt's own LayerScale and StochasticDepth (module
    # keras.src.applications.convnext) pass the vetting and load in safe mode; the
    # import compiles back to Keras Builder's layers of the same names.
    from keras.src.applications import convnext

    x = keras.Input((4, 4, 8), name="x")
    y = L.Dense(8, name="pointwise")(x)
    y = convnext.LayerScale(1e-6, 8, name="layer_scale")(y)
    y = convnext.StochasticDepth(0.1, name="drop_path")(y)
    model = keras.Model(x, x + y, name="convnext_block")
    path = tmp_path / "block.keras"
    model.save(path)
    graph = builder.from_keras(path).graph  # verify: loads it, compares every layer
    assert graph.node("layer_scale").kind == "LayerScale"
    assert graph.node("drop_path").params["rate"] == pytest.approx(0.1)
    rebuilt = builder.to_keras(graph)
    assert rebuilt.count_params() == model.count_params() == 8 * 8 + 8 + 8
    assert type(rebuilt.get_layer("layer_scale")).__module__ == \
        "builder.compile.custom_layers"


# -- malformed configs: bad input, never a crash ---------------------------------------

def _paths(value, path=()):
    """Every position in a JSON value, as a key path."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, path + (i,))


def _replace(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


def test_malformed_configs_are_bad_input_not_crashes(model_file):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from builder.compile.from_keras import convert_config

    document = config_of(model_file[0])
    paths = list(_paths(document))[1:]
    junk = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=3),
                     st.just([]), st.just({}), st.just([1, 2, 3]),
                     st.just({"class_name": "__keras_tensor__"}))

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(st.lists(st.tuples(st.sampled_from(paths), junk), min_size=1, max_size=3))
    def check(edits):
        mutated = document
        for path, new in edits:
            try:
                mutated = _replace(mutated, path, new)
            except (KeyError, IndexError, TypeError):
                continue  # an earlier edit removed this position
        try:
            imported = convert_config(mutated, "fuzz.keras")
        except KerasImportError as error:
            assert "\n" not in str(error)
            return
        builder.analyze(imported.project.graph)  # diagnostics, never an exception

    check()


def test_multi_port_layers_keep_their_ports_through_a_file(tmp_path):
    # SegNet's pooling indices: a layer with two outputs feeding one with two
    # inputs, from another module of Keras Builder's own layers.
    graph = builder.Graph()
    graph.add_node("Input", {"shape": [8, 8, 4]}, id="x")
    graph.add_node("MaxPoolWithArgmax2D", id="pool")
    graph.connect("x", "pool")
    graph.add_node("Conv2D", {"filters": 4}, id="conv")
    graph.connect("pool", "conv", "out")
    graph.add_node("MaxUnpool2D", id="unpool")
    graph.connect("conv", "unpool", None, "in")
    graph.connect("pool", "unpool", "indices", "indices")
    graph.add_node("Output", id="y")
    graph.connect("unpool", "y")
    path = tmp_path / "segnet_bit.keras"
    builder.to_keras(graph).save(path)
    back = builder.from_keras(path).graph  # verify: loads and compares
    assert sorted((e.src, e.src_port, e.dst, e.dst_port) for e in back.edges
                  if e.dst == "unpool") == [("conv", "out", "unpool", "in"),
                                            ("pool", "indices", "unpool", "indices")]

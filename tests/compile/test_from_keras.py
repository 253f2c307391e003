"""The importer on small models: Sequential and functional forms, several inputs
and outputs, nested models, every catalogue kind there and back, and refusals
that name every layer that cannot be represented."""

from __future__ import annotations

import math
import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

import builder  # noqa: E402
from builder.blocks import CATALOG, BlockSpec, Notes  # noqa: E402
from builder.compile.from_keras import import_keras, keras_layers  # noqa: E402
from builder.compile.keras_file import KerasImportError  # noqa: E402
from builder.core.errors import BuilderError  # noqa: E402

L = keras.layers


def assert_like_keras(model, graph):
    """Every (flattened) layer's output shape and weight counts, and the totals."""
    a = builder.analyze(graph)
    assert a.ok, [str(d) for d in a.errors]
    for layer in keras_layers(model):
        info = a.nodes[layer.name]
        assert graph.node(layer.name).name == layer.name
        outs = layer.output if isinstance(layer.output, list) else [layer.output]
        assert info.output_shapes == [tuple(t.shape) for t in outs], layer.name
        trainable = sum(math.prod(w.shape) for w in layer.trainable_weights)
        frozen = sum(math.prod(w.shape) for w in layer.non_trainable_weights)
        assert (info.trainable, info.non_trainable) == (trainable, frozen), layer.name
    assert a.totals.params == model.count_params()
    return a


def kinds(graph):
    return [n.kind for n in graph.nodes.values()]


# -- forms of models ------------------------------------------------------------

def test_sequential_with_input():
    model = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(8, 3, name="c1"),
                              L.MaxPooling2D(name="p1"), L.Flatten(name="f"),
                              L.Dense(10, activation="softmax", name="fc")], name="lenet")
    project = builder.from_keras(model)
    assert project.name == "lenet"
    assert kinds(project.graph) == ["Input", "Conv2D", "MaxPool2D", "Flatten", "Dense",
                                    "Output"]
    assert project.graph.node("fc").params["activation"] == "softmax"
    assert "Weights are not part of a project" in project.description
    assert_like_keras(model, project.graph)


def test_sequential_built_without_input_layer():
    model = keras.Sequential([L.Dense(4, name="d1"), L.ReLU(max_value=6.0, name="r")])
    model.build((None, 7))
    graph = builder.from_keras(model).graph
    assert kinds(graph)[0] == "Input"
    assert graph.nodes[next(iter(graph.nodes))].params["shape"] == [7]
    assert graph.node("r").params["max_value"] == 6.0
    assert_like_keras(model, graph)


def test_unbuilt_sequential_is_refused():
    with pytest.raises(KerasImportError, match="no input shape"):
        builder.from_keras(keras.Sequential([L.Dense(4)], name="unbuilt"))


def test_several_inputs_and_outputs():
    image = keras.Input((16, 16, 3), name="image")
    extra = keras.Input((5,), name="extra")
    x = L.Conv2D(4, 3, padding="same", name="conv")(image)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    joined = L.Concatenate(name="join")([x, extra])
    label = L.Dense(3, activation="softmax", name="label")(joined)
    box = L.Dense(4, name="box")(joined)
    model = keras.Model([image, extra], [label, box], name="two_heads")
    graph = builder.from_keras(model).graph
    outputs = [n for n in graph.nodes.values() if n.kind == "Output"]
    assert [graph.in_edges(n.id)[0].src for n in outputs] == ["label", "box"]
    assert [e.src for e in graph.in_edges("join")] == ["gap", "extra"]
    assert_like_keras(model, graph)
    rebuilt = builder.to_keras(graph)
    assert [tuple(t.shape) for t in rebuilt.outputs] == [(None, 3), (None, 4)]
    assert rebuilt.count_params() == model.count_params()


def test_inputs_keep_the_model_order():
    # Keras lists "b" first among the layers here (it reaches the Dense), but
    # the model takes [a, b].
    a, b = keras.Input((3,), name="a"), keras.Input((4,), name="b")
    model = keras.Model([a, b], [a, L.Dense(2, name="d")(b)])
    assert [l["name"] for l in model.get_config()["layers"]][:2] == ["b", "a"]
    graph = builder.from_keras(model).graph
    assert [n.id for n in graph.nodes.values() if n.kind == "Input"] == ["a", "b"]
    rebuilt = builder.to_keras(graph)
    assert [tuple(t.shape) for t in rebuilt.inputs] == [(None, 3), (None, 4)]
    assert [tuple(t.shape) for t in rebuilt.outputs] == [(None, 3), (None, 2)]


def test_dict_outputs_name_the_output_nodes():
    x = keras.Input((6,), name="x")
    model = keras.Model(x, {"score": L.Dense(1, name="s")(x),
                            "probs": L.Dense(3, name="p")(x)})
    graph = builder.from_keras(model).graph
    outputs = {n.id for n in graph.nodes.values() if n.kind == "Output"}
    assert outputs == {"score_output", "probs_output"}


def test_nested_models_are_flattened():
    stem = keras.Sequential([keras.Input((32, 32, 3)), L.Conv2D(8, 3, strides=2,
                             name="stem_conv"), L.BatchNormalization(name="stem_bn")],
                            name="stem")
    inner_in = keras.Input((15, 15, 8))
    branch = L.Conv2D(8, 1, name="branch_conv")(inner_in)
    block = keras.Model(inner_in, L.Add(name="block_add")([inner_in, branch]),
                        name="block")
    x = keras.Input((32, 32, 3), name="pixels")
    y = L.GlobalMaxPooling2D(name="pool")(block(stem(x)))
    model = keras.Model(x, y)
    graph = builder.from_keras(model).graph
    assert [n for n in graph.nodes if n not in ("pixels",)][:5] == \
        ["stem_conv", "stem_bn", "branch_conv", "block_add", "pool"]
    assert sorted(e.src for e in graph.in_edges("block_add")) == ["branch_conv",
                                                                  "stem_bn"]
    assert_like_keras(model, graph)


def test_frozen_layers_are_imported_with_a_warning():
    model = keras.Sequential([keras.Input((4,)), L.Dense(3, name="frozen")])
    model.get_layer("frozen").trainable = False
    imported = import_keras(model, verify=False)
    assert any("frozen" in w and "trainable=False" in w for w in imported.warnings)


def test_operations_recorded_by_the_functional_api():
    x = keras.Input((4, 4, 3), name="x")
    y = L.Conv2D(3, 1, name="conv")(x)
    model = keras.Model(x, keras.ops.multiply(x + y, y))
    graph = builder.from_keras(model).graph
    assert kinds(graph) == ["Input", "Conv2D", "Add", "Multiply", "Output"]
    assert_like_keras(model, graph)


def test_dropout_noise_shapes_map_to_drop_path_and_spatial_dropout():
    x = keras.Input((6, 6, 4), name="x")
    y = L.Dropout(0.2, noise_shape=(None, 1, 1, 1), name="drop_path")(x)
    y = L.Dropout(0.3, noise_shape=(None, 1, 1, 4), name="drop_channels")(y)
    graph = builder.from_keras(keras.Model(x, y)).graph
    assert graph.node("drop_path").kind == "StochasticDepth"
    assert graph.node("drop_path").params["rate"] == pytest.approx(0.2)
    assert graph.node("drop_channels").kind == "SpatialDropout2D"


# -- every catalogue kind, there and back ----------------------------------------------

def _single_layer_kinds():
    for spec in CATALOG:
        # Composite blocks compile through their expansion into these kinds.
        if spec.kind in ("Input", "Output") or type(spec) is not BlockSpec:
            continue
        calls = spec.keras(spec.defaults())
        if len(calls) == 1:
            yield spec.kind


#: Kinds whose inputs must come from a particular kind: (producer, its ports in order).
_FED_BY = {"MaxUnpool2D": ("MaxPoolWithArgmax2D", ("out", "indices"))}

#: Kinds that need particular input shapes: (port, per-sample shape) per Input.
_INPUTS = {
    "Proposals": [("objectness", [159_882]), ("deltas", [159_882, 4])],
    "MultiLevelRoIAlign": [("features", [8, 8, 4]), ("features", [4, 4, 4]),
                           ("boxes", [5, 4])],
    "RCNNDetections": [("class_logits", [4]), ("box_deltas", [16]), ("rois", [5, 4])],
    "RCNNMasks": [("mask_logits", [6, 6, 4]), ("classes", [3])],
}


@pytest.mark.parametrize("kind", list(_single_layer_kinds()))
def test_every_kind_round_trips(kind):
    spec = CATALOG.get(kind)
    graph = builder.Graph()
    graph.add_node("Input", {"shape": [8, 8, 4]}, id="x")
    graph.add_node(kind, id="node")
    if kind in _INPUTS:
        graph.remove_node("x")
        for i, (port, shape) in enumerate(_INPUTS[kind]):
            graph.add_node("Input", {"shape": shape}, id=f"x{i}")
            graph.connect(f"x{i}", "node", None, port)
    elif kind in _FED_BY:
        producer, ports = _FED_BY[kind]
        graph.add_node(producer, id="producer")
        graph.connect("x", "producer")
        for src_port, port in zip(ports, spec.inputs):
            graph.connect("producer", "node", src_port, port.name)
    elif spec.inputs[0].multiple:
        graph.add_node("Input", {"shape": [8, 8, 4]}, id="x2")
        graph.connect("x", "node")
        graph.connect("x2", "node")
    else:
        for i, port in enumerate(spec.inputs):
            if i:
                graph.add_node("Input", {"shape": [8, 8, 4]}, id=f"x{i + 1}")
            graph.connect("x" if i == 0 else f"x{i + 1}", "node", None, port.name)
    for port in spec.outputs:  # every output of a multi-output kind is a model output
        graph.add_node("Output", id=f"out_{port.name}")
        graph.connect("node", f"out_{port.name}", port.name)
    assert builder.analyze(graph).ok
    model = builder.to_keras(graph)
    back = builder.from_keras(model).graph
    node = back.node("node")
    assert node.kind == kind
    # Same Keras layer either way (params may be spelled differently: 1 vs [1, 1]).
    assert spec.keras(node.params) == spec.keras(graph.node("node").params)
    assert_like_keras(model, back)


# -- refusals -----------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="tests_from_keras")
class Doubler(L.Layer):
    def call(self, x):
        return x * 2


def test_unrepresentable_layers_are_all_named_in_one_error():
    x = keras.Input((8, 8, 3), name="x")
    y = L.Lambda(lambda t: t + 1, name="plus_one")(x)
    y = Doubler(name="twice")(y)
    y = L.Conv2D(4, 3, data_format="channels_last", name="fine")(y)
    z = L.Reshape((6, 6, 4, 1), name="to_volume")(y)
    z = L.Conv3D(2, 3, name="volume_conv")(z)
    model = keras.Model(x, [y, z], name="mixed")
    with pytest.raises(KerasImportError) as error:
        builder.from_keras(model)
    message = str(error.value)
    assert "\n" not in message
    assert "3 layers cannot be represented" in message
    for words in ("Lambda 'plus_one'", f"Doubler from module '{Doubler.__module__}' "
                  "in layer 'twice'", "Conv3D 'volume_conv'"):
        assert words in message, words
    assert "'fine'" not in message


def test_unsupported_options_are_named():
    x = keras.Input((8, 8, 3), name="x")
    y = L.BatchNormalization(axis=1, name="bn_rows")(x)
    y = L.ReLU(threshold=0.5, name="thresholded")(y)
    with pytest.raises(KerasImportError) as error:
        builder.from_keras(keras.Model(x, y))
    message = str(error.value)
    assert "BatchNormalization 'bn_rows'" in message and "axis=1" in message
    assert "ReLU 'thresholded'" in message and "threshold" in message


def test_shared_layers_are_refused():
    dense = L.Dense(4, name="shared")
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    model = keras.Model([a, b], L.Add(name="sum")([dense(a), dense(b)]))
    with pytest.raises(KerasImportError, match="Dense 'shared' is shared"):
        builder.from_keras(model)


def test_subclassed_models_are_refused():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(keras.ops.zeros((1, 3)))
    with pytest.raises(KerasImportError, match="functional or Sequential"):
        builder.from_keras(net)


def test_not_a_model_is_refused():
    with pytest.raises(BuilderError, match="Expected a keras.Model"):
        builder.from_keras(L.Dense(3))


def test_verification_catches_a_disagreement(monkeypatch):
    # If a converter were wrong, the import must refuse rather than mislead:
    # fake one that drops the bias and check that verify notices.
    from builder.compile import import_mapping

    original = import_mapping.CONVERTERS[("keras.layers", "Dense")]

    def no_bias(reader):
        kind, params = original(reader)
        return kind, {**params, "use_bias": False}

    monkeypatch.setitem(import_mapping.CONVERTERS, ("keras.layers", "Dense"), no_bias)
    model = keras.Sequential([keras.Input((5,)), L.Dense(3, name="fc")])
    with pytest.raises(KerasImportError, match="disagrees with Keras.*'fc'.*18"):
        builder.from_keras(model)
    assert builder.from_keras(model, verify=False).graph.node("fc").params["use_bias"] \
        is False


def test_normalization_statistics_are_kept():
    x = keras.Input((5, 5, 3), name="x")
    fixed = L.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 5.0, 6.0], name="fixed")
    adapted = L.Normalization(name="adapted")
    model = keras.Model(x, adapted(fixed(x)))
    graph = builder.from_keras(model).graph
    assert graph.node("fixed").params["mean"] == [1.0, 2.0, 3.0]
    assert graph.node("adapted").params["mean"] is None
    a = assert_like_keras(model, graph)
    assert (a.nodes["adapted"].trainable, a.nodes["adapted"].non_trainable) == (0, 7)
    spec = CATALOG.get("Normalization")
    assert spec.shape(graph.node("fixed").params, [(None, 5, 5, 3)], Notes()) == \
        [(None, 5, 5, 3)]

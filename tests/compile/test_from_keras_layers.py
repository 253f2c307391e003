"""ConvNeXt's residual-branch layers as Keras Builder custom layers: LayerScale and
StochasticDepth behave like keras.applications' own and survive a .keras round
trip."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from keras.src.applications import convnext  # noqa: E402

from builder.compile.custom_layers import LayerScale, StochasticDepth  # noqa: E402


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).normal(size=(4, 3, 3, 5)).astype("float32")


def test_layer_scale_matches_keras_applications(images):
    ours, theirs = LayerScale(0.25), convnext.LayerScale(0.25, 5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(images)),
                               keras.ops.convert_to_numpy(theirs(images)), rtol=1e-6)
    assert [tuple(w.shape) for w in ours.weights] == [(5,)]
    assert ours.count_params() == theirs.count_params() == 5
    ours.gamma.assign(np.arange(5, dtype="float32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(images)),
                               images * np.arange(5), rtol=1e-6)


def test_stochastic_depth_is_the_identity_at_inference(images):
    layer = StochasticDepth(0.5, seed=3)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(images)), images)
    assert layer.count_params() == 0


def test_stochastic_depth_drops_whole_samples_while_training():
    x = np.ones((2000, 2, 2, 3), "float32")
    out = keras.ops.convert_to_numpy(StochasticDepth(0.25, seed=7)(x, training=True))
    per_sample = out.reshape(len(x), -1)
    # Each sample is either all zeros or all 1/(1 - rate): its branch is dropped
    # as a whole, and the expectation is unchanged.
    kept = per_sample[per_sample[:, 0] != 0]
    np.testing.assert_allclose(kept, 1 / 0.75, rtol=1e-6)
    assert np.all(per_sample.min(axis=1) == per_sample.max(axis=1))
    assert abs((per_sample[:, 0] == 0).mean() - 0.25) < 0.05


def test_stochastic_depth_refuses_a_rate_of_one():
    with pytest.raises(ValueError, match="rate"):
        StochasticDepth(1.0)


def test_both_survive_a_keras_file(tmp_path, images):
    x = keras.Input((3, 3, 5))
    y = StochasticDepth(0.1, name="drop")(LayerScale(0.5, name="scale")(x))
    model = keras.Model(x, y)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded.get_layer("scale")) is LayerScale
    assert loaded.get_layer("drop").rate == pytest.approx(0.1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(images)),
                               keras.ops.convert_to_numpy(model(images)), rtol=1e-6)


def test_new_kinds_compile_to_the_same_model_from_source():
    import builder
    from .oracle import assert_same_models, build_from_source

    graph = builder.Graph()
    graph.add_node("Input", {"shape": [6, 6, 3]}, id="x")
    graph.add_node("Normalization", {"mean": [0.5, 0.5, 0.5], "variance": [0.2] * 3},
                   id="norm")
    graph.add_node("Conv2D", {"filters": 4, "activation": "silu"}, id="conv")
    graph.add_node("LayerScale", {"init_values": 0.1}, id="scale")
    graph.add_node("StochasticDepth", {"rate": 0.1}, id="drop")
    graph.add_node("Normalization", id="adapted")
    graph.add_node("Output", id="out")
    for src, dst in [("x", "norm"), ("norm", "conv"), ("conv", "scale"),
                     ("scale", "drop"), ("drop", "adapted"), ("adapted", "out")]:
        graph.connect(src, dst)
    expected = builder.to_keras(graph)
    assert_same_models(expected, build_from_source(graph))
    assert expected.count_params() == builder.analyze(graph).totals.params == \
        (3 * 3 * 3 * 4 + 4) + 4 + (4 + 4 + 1)

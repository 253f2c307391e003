"""Custom layers: LRN against a numpy reference and TensorFlow's own op."""

import numpy as np
import pytest

import keras

from builder.compile.custom_layers import (
    CUSTOM_LAYERS,
    LocalResponseNormalization,
    resolve_layer_class,
)

CASES = [
    # (depth_radius, bias, alpha, beta)
    (2, 2.0, 1e-4, 0.75),  # AlexNet
    (5, 1.0, 1.0, 0.5),    # TensorFlow's defaults
    (0, 1.0, 0.5, 0.75),   # a window of one channel
    (10, 0.5, 0.3, 1.0),   # a window wider than the tensor
    (1, 1.0, 2.0, 0.0),    # beta 0: identity
]


def lrn_reference(x, depth_radius, bias, alpha, beta):
    """The definition, written out channel by channel."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    channels = x.shape[-1]
    for c in range(channels):
        lo, hi = max(0, c - depth_radius), min(channels, c + depth_radius + 1)
        sqr_sum = np.sum(x[..., lo:hi] ** 2, axis=-1)
        out[..., c] = x[..., c] / (bias + alpha * sqr_sum) ** beta
    return out


@pytest.fixture(scope="module")
def images():
    return (np.random.default_rng(0).normal(size=(2, 5, 6, 7)) * 3).astype("float32")


@pytest.mark.parametrize("radius,bias,alpha,beta", CASES)
def test_lrn_matches_the_numpy_reference(images, radius, bias, alpha, beta):
    layer = LocalResponseNormalization(radius, bias, alpha, beta)
    got = keras.ops.convert_to_numpy(layer(images))
    np.testing.assert_allclose(got, lrn_reference(images, radius, bias, alpha, beta),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("radius,bias,alpha,beta", CASES)
def test_lrn_matches_tensorflow(images, radius, bias, alpha, beta):
    # TensorFlow is only the oracle here; the layer itself uses keras.ops only.
    tf = pytest.importorskip("tensorflow")
    want = tf.nn.local_response_normalization(
        images, depth_radius=radius, bias=bias, alpha=alpha, beta=beta).numpy()
    got = keras.ops.convert_to_numpy(
        LocalResponseNormalization(radius, bias, alpha, beta)(images))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_lrn_defaults_are_tensorflows():
    layer = LocalResponseNormalization()
    assert (layer.depth_radius, layer.bias, layer.alpha, layer.beta) == (5, 1.0, 1.0, 0.5)


def test_lrn_works_on_vectors_and_under_mixed_precision():
    x = np.linspace(-3, 3, 24, dtype="float32").reshape(4, 6)
    got = keras.ops.convert_to_numpy(LocalResponseNormalization(1, 1.0, 0.5, 0.75)(x))
    np.testing.assert_allclose(got, lrn_reference(x, 1, 1.0, 0.5, 0.75), rtol=1e-5)
    # Large activations: the sum of squares would overflow float16 (max 65504).
    big = np.full((1, 2, 2, 8), 200.0, dtype="float32")
    layer = LocalResponseNormalization(2, 2.0, 1e-4, 0.75, dtype="mixed_float16")
    out = layer(big)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out).astype("float64"),
                               lrn_reference(big, 2, 2.0, 1e-4, 0.75), rtol=2e-3)


def test_lrn_config_round_trip_and_output_shape():
    layer = LocalResponseNormalization(2, 2.0, 1e-4, 0.75, name="norm1")
    config = layer.get_config()
    assert {k: config[k] for k in ("depth_radius", "bias", "alpha", "beta", "name")} == \
        {"depth_radius": 2, "bias": 2.0, "alpha": 1e-4, "beta": 0.75, "name": "norm1"}
    clone = LocalResponseNormalization.from_config(config)
    assert clone.get_config() == config
    assert layer.compute_output_shape((None, 13, 13, 96)) == (None, 13, 13, 96)
    assert keras.saving.get_registered_name(LocalResponseNormalization) == \
        "keras_builder>LocalResponseNormalization"


def test_lrn_in_a_saved_model_loads_back(tmp_path, images):
    inputs = keras.Input((5, 6, 7))
    outputs = LocalResponseNormalization(2, 2.0, 1e-4, 0.75, name="lrn")(inputs)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "lrn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.get_layer("lrn"), LocalResponseNormalization)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(images)),
                               keras.ops.convert_to_numpy(model(images)), rtol=1e-6)


def test_lrn_refuses_a_negative_radius_and_unknown_channels():
    with pytest.raises(ValueError, match="depth_radius >= 0"):
        LocalResponseNormalization(depth_radius=-1)
    with pytest.raises(ValueError, match="known number of channels"):
        LocalResponseNormalization()(keras.Input((4, 4, None)))


def test_resolve_layer_class_prefers_custom_layers_then_keras():
    assert resolve_layer_class("LocalResponseNormalization") is LocalResponseNormalization
    assert CUSTOM_LAYERS["LocalResponseNormalization"] is LocalResponseNormalization
    assert resolve_layer_class("Conv2D") is keras.layers.Conv2D
    with pytest.raises(ValueError, match=r"Received: 'Conv3x3'"):
        resolve_layer_class("Conv3x3")
    with pytest.raises(ValueError, match="keras.layers"):
        resolve_layer_class("Input")  # a function of keras.layers, not a layer class

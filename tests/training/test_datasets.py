"""Datasets: built-in sets against their sources, user files, fitting the input."""

from __future__ import annotations

import numpy as np
import pytest

from builder.training.datasets import (
    SHAPE_CLASSES,
    augmentation_layers,
    dataset_spec,
    generate_shapes,
    load_dataset,
)
from builder.training.datasets.resize import convert_channels, resize_images
from builder.training.errors import DatasetError


def test_digits_are_scikit_learns_digits():
    from sklearn.datasets import load_digits

    oracle = load_digits()
    data = load_dataset({"name": "digits", "shuffle": False, "normalize": "none"})
    assert len(data.x_train) + len(data.x_val) == 1797
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    np.testing.assert_array_equal(x[..., 0], oracle.images)
    np.testing.assert_array_equal(y, oracle.target)
    assert data.num_classes == 10


def test_digits_resized_to_the_model_input_like_keras():
    import keras

    raw = load_dataset({"name": "digits", "shuffle": False})
    fitted = load_dataset({"name": "digits", "shuffle": False}, (32, 32, 1))
    expected = keras.ops.convert_to_numpy(
        keras.ops.image.resize(raw.x_train[:16], (32, 32), antialias=False))
    np.testing.assert_allclose(fitted.x_train[:16], expected, atol=1e-5)
    assert fitted.notes == ["resized digits images from (8, 8, 1) to (32, 32, 1)"]
    assert 0.0 <= fitted.x_train.min() and fitted.x_train.max() <= 1.0


def test_a_shape_mismatch_is_a_diagnostic_offering_resize():
    with pytest.raises(DatasetError) as info:
        load_dataset({"name": "digits", "resize": False}, (32, 32, 1))
    message = str(info.value)
    assert "(8, 8, 1)" in message and "(32, 32, 1)" in message
    assert '"resize": true' in message and "--resize" in message


def test_channels_convert_both_ways():
    grey = np.random.default_rng(0).uniform(size=(2, 4, 4, 1)).astype(np.float32)
    rgb = convert_channels(grey, 3)
    assert rgb.shape == (2, 4, 4, 3)
    np.testing.assert_allclose(convert_channels(rgb, 1), grey, atol=1e-6)
    data = load_dataset({"name": "digits", "limit": 20}, (16, 16, 3))
    assert data.x_train.shape == (20, 16, 16, 3)


def test_resize_downsamples_too():
    import keras

    x = np.random.default_rng(1).uniform(size=(3, 20, 12, 2)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(keras.ops.image.resize(x, (7, 5), antialias=False))
    np.testing.assert_allclose(resize_images(x, 7, 5), expected, atol=1e-5)


def test_shapes_are_seeded_and_annotated():
    a = generate_shapes(12, 24, seed=5, max_objects=3)
    b = generate_shapes(12, 24, seed=5, max_objects=3)
    c = generate_shapes(12, 24, seed=6, max_objects=3)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    assert a.images.shape == (12, 24, 24, 3) and a.masks.shape == (12, 3, 24, 24)
    for i in range(12):
        present = a.classes[i] >= 0
        assert present[0] and present.sum() >= 1
        assert set(a.classes[i][present]) <= set(range(len(SHAPE_CLASSES)))
        masks = a.masks[i][present]
        assert (masks.sum(axis=0) <= 1).all()  # instances do not overlap
        for k, mask in enumerate(masks):
            if not mask.any():
                continue  # fully hidden by a later shape
            ys, xs = np.nonzero(mask)
            y1, x1, y2, x2 = a.boxes[i, k]
            assert (y1, x1, y2, x2) == (ys.min(), xs.min(), ys.max() + 1, xs.max() + 1)
        assert not a.masks[i][~present].any()


def test_shapes_classification_any_size_balanced():
    data = load_dataset({"name": "shapes", "samples": 300, "image_size": 17, "seed": 2})
    assert data.x_train.shape[1:] == (17, 17, 3)
    counts = np.bincount(np.concatenate([data.y_train, data.y_val]), minlength=3)
    assert counts.min() > 60  # three classes drawn uniformly
    assert data.class_names == list(SHAPE_CLASSES)


def test_npz_dataset(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x=rng.uniform(0, 255, (50, 6, 6)).astype(np.uint8),
             y=rng.integers(0, 4, 50))
    data = load_dataset({"path": str(path), "validation_split": 0.2}, (6, 6, 1))
    assert data.x_train.shape == (40, 6, 6, 1) and data.x_val.shape == (10, 6, 6, 1)
    assert data.x_train.max() <= 1.0
    np.savez(tmp_path / "bad.npz", images=np.zeros(3))
    with pytest.raises(DatasetError, match="needs arrays 'x' and 'y'"):
        load_dataset({"path": str(tmp_path / "bad.npz")})


def test_user_files_that_do_not_fit_are_refused(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((10, 6, 6, 1)), y=np.zeros(10, int))
    with pytest.raises(DatasetError, match="Resize them"):
        load_dataset({"path": str(path)}, (8, 8, 1))
    assert load_dataset({"path": str(path), "resize": True}, (8, 8, 1)).input_shape == (8, 8, 1)


def test_csv_dataset_with_header_and_text_labels(tmp_path):
    path = tmp_path / "iris.csv"
    rows = ["a,b,species"] + [f"{i},{i * 2},{'cat' if i % 2 else 'dog'}" for i in range(20)]
    path.write_text("\n".join(rows) + "\n")
    data = load_dataset({"path": str(path), "shuffle": False}, (2,))
    assert data.class_names == ["cat", "dog"]
    assert data.x_train.shape == (16, 2)
    assert data.y_train[:4].tolist() == [1, 0, 1, 0]
    assert data.x_train.min() == 0.0 and data.x_train.max() <= 1.0
    path.write_text("a,b,c\n1,2,x\n3\n")
    with pytest.raises(DatasetError, match="line 3: expected 3 values"):
        load_dataset({"path": str(path)})


def test_image_folder_dataset(tmp_path):
    from PIL import Image

    for label, value in (("bright", 250), ("dark", 5)):
        (tmp_path / label).mkdir()
        for i in range(5):
            Image.new("RGB", (10, 8), (value, value, value)).save(tmp_path / label / f"{i}.png")
    (tmp_path / "notes.txt").write_text("ignored")
    data = load_dataset({"path": str(tmp_path), "validation_split": 0.2, "seed": 1},
                        (8, 10, 3))
    assert data.class_names == ["bright", "dark"]
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    assert x.shape == (10, 8, 10, 3)
    assert np.all(x[y == 0] > 0.9) and np.all(x[y == 1] < 0.1)


def test_keras_download_offline_says_how_to_get_the_file(monkeypatch):
    import keras

    def offline():
        raise Exception("URL fetch failure on https://...: None -- [Errno -3] "
                        "Temporary failure in name resolution")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    with pytest.raises(DatasetError) as info:
        load_dataset({"name": "cifar10"})
    message = str(info.value)
    assert "keras.datasets.cifar10.load_data()" in message
    assert "cifar-10-batches-py" in message and "--dataset digits" in message


def test_keras_dataset_when_available_uses_its_test_split(monkeypatch):
    import keras

    rng = np.random.default_rng(0)
    fake = ((rng.integers(0, 255, (30, 28, 28)), rng.integers(0, 10, 30)),
            (rng.integers(0, 255, (10, 28, 28)), rng.integers(0, 10, 10)))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: fake)
    data = load_dataset({"name": "mnist"}, (32, 32, 1))
    assert data.x_train.shape == (30, 32, 32, 1) and data.x_val.shape == (10, 32, 32, 1)


def test_unknown_names_and_settings_are_refused():
    with pytest.raises(DatasetError, match="Unknown dataset 'imagenet'"):
        load_dataset({"name": "imagenet"})
    with pytest.raises(DatasetError, match="Unknown dataset setting"):
        load_dataset({"name": "digits", "shufle": True})
    with pytest.raises(DatasetError, match="validation_split must be between 0 and 1"):
        load_dataset({"name": "digits", "validation_split": 1.5})
    assert dataset_spec("digits") == {"name": "digits"}
    assert dataset_spec("data/x.npz") == {"path": "data/x.npz"}


def test_augmentation_layers_keep_the_shape_and_change_images():
    import keras

    layers = augmentation_layers({"flip": "horizontal", "crop": 2, "rotation": 0.1,
                                  "seed": 3}, (12, 12, 3))
    x = np.random.default_rng(0).uniform(size=(8, 12, 12, 3)).astype(np.float32)
    out = x
    for layer in layers:
        out = layer(out, training=True)
    out = keras.ops.convert_to_numpy(out)
    assert out.shape == x.shape and not np.allclose(out, x)
    with pytest.raises(DatasetError, match="Unknown augmentation"):
        augmentation_layers({"mixup": 1}, (12, 12, 3))

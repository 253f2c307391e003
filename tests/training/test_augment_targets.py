"""Augmentation moves segmentation masks, localization boxes and detection
boxes (with instance masks) together with their images."""

from __future__ import annotations

import numpy as np
import pytest

from builder.training.augment import AugmentedBatches
from builder.training.datasets.shapes import generate_shapes
from builder.training.errors import DatasetError
from builder.training.target_transforms import AugmentSettings, augment_targets

SIZE = 32


def _scene(seed=0, count=6, max_objects=3):
    """Shapes on a black background, so a pixel's colour says whose it is."""
    s = generate_shapes(count, SIZE, seed=seed, max_objects=max_objects)
    images = np.zeros_like(s.images)
    colours = np.random.default_rng(seed).uniform(0.5, 1.0, (count, max_objects, 3))
    for k in range(max_objects):
        images = np.where(s.masks[:, k, :, :, None], colours[:, k, None, None, :], images)
    return s, images.astype(np.float32), colours


def _detection_truth(s):
    return np.concatenate([s.boxes / SIZE, s.classes[..., None].astype(np.float32)], -1)


def _eroded(mask):
    """The pixels of ``mask`` whose four neighbours are in it too."""
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return inner


def _tight_box(mask):
    ys, xs = np.nonzero(mask)
    return np.array([ys.min(), xs.min(), ys.max() + 1, xs.max() + 1]) / SIZE


def test_flip_moves_a_known_box_to_the_mirrored_place_exactly():
    image = np.zeros((1, SIZE, SIZE, 3), np.float32)
    image[0, 4:10, 2:12] = 1.0
    y = np.array([[2, 4 / 32, 2 / 32, 10 / 32, 12 / 32]], np.float32)  # localization
    settings = AugmentSettings(flip_x=True)
    flipped = None
    for seed in range(10):  # each sample flips with probability 1/2
        x, out, _ = augment_targets(image, y, "localization", settings,
                                    np.random.default_rng(seed))
        if x[0, 4, 20:30].all():
            flipped = out
            break
    assert flipped is not None
    np.testing.assert_array_equal(flipped[0], [2, 4 / 32, 20 / 32, 10 / 32, 30 / 32])
    # detection: both axes, the box agrees with the flipped pixels exactly
    det = np.array([[[4 / 32, 2 / 32, 10 / 32, 12 / 32, 1], [0, 0, 0, 0, -1]]], np.float32)
    for seed in range(8):
        x, out, _ = augment_targets(image, det, "detection",
                                    AugmentSettings(flip_y=True, flip_x=True),
                                    np.random.default_rng(seed))
        np.testing.assert_array_equal(out[0, 0, :4], _tight_box(x[0, ..., 0] > 0))
        np.testing.assert_array_equal(out[0, 1], [0, 0, 0, 0, -1])  # padding stays padding


@pytest.mark.parametrize("settings", [AugmentSettings(flip_x=True, flip_y=True),
                                      AugmentSettings(crop=6),
                                      AugmentSettings(rotation=0.1)],
                         ids=["flip", "crop", "rotation"])
def test_segmentation_mask_stays_on_its_object(settings):
    s, images, colours = _scene(seed=1)
    labels = np.zeros((len(images), SIZE, SIZE), np.int32)
    for k in range(3):  # mask value k + 1 for object k, so colours can be checked
        labels = np.where(s.masks[:, k], k + 1, labels)
    x, masks, _ = augment_targets(images, labels, "segmentation", settings,
                                  np.random.default_rng(0))
    assert masks.dtype == labels.dtype and masks.shape == labels.shape
    assert set(np.unique(masks)) <= set(np.unique(labels))  # nearest: no new values
    exact = settings.rotation == 0
    for i in range(len(x)):
        for k in range(3):
            where = masks[i] == k + 1
            if not where.any():
                continue
            error = np.abs(x[i][where] - colours[i, k]).max(axis=-1)
            if exact:
                assert error.max() < 1e-6
            else:  # bilinear edges blend with their neighbours; inside, it matches
                inner = _eroded(where)[where]
                assert inner.sum() >= 5 and np.mean(error[inner] < 0.05) > 0.95
        background = masks[i] == 0
        if exact:
            assert np.abs(x[i][background]).max() < 1e-6
    if settings.crop:  # something did move
        assert not np.array_equal(masks, labels)


@pytest.mark.parametrize("settings", [AugmentSettings(flip_x=True, crop=8),
                                      AugmentSettings(crop=12, rotation=0.2)],
                         ids=["flip_crop", "crop_rotation"])
def test_detection_boxes_follow_instance_masks_and_stay_inside(settings):
    s, images, _ = _scene(seed=2, count=16)
    y = _detection_truth(s)
    masks = s.masks.astype(np.uint8)
    x, out, out_masks = augment_targets(images, y, "detection", settings,
                                        np.random.default_rng(3), masks)
    assert out.shape == y.shape and out_masks.shape == masks.shape
    boxes, classes = out[..., :4], out[..., 4]
    assert boxes.min() >= 0.0 and boxes.max() <= 1.0
    for i in range(len(x)):
        for k in range(3):
            if classes[i, k] < 0:
                np.testing.assert_array_equal(boxes[i, k], 0)
                continue
            assert classes[i, k] == y[i, k, 4]
            visible = out_masks[i, k] > 0
            assert visible.any()
            tight = _tight_box(visible)
            if settings.rotation:  # the box is the tight box of the rotated mask
                np.testing.assert_allclose(boxes[i, k], tight, atol=1e-6)
            else:  # moved and clipped exactly; a cut object's mask fits inside
                assert np.all(tight[:2] >= boxes[i, k, :2] - 1e-6)
                assert np.all(tight[2:] <= boxes[i, k, 2:] + 1e-6)


def test_a_box_pushed_out_of_the_image_becomes_padding():
    image = np.zeros((1, SIZE, SIZE, 3), np.float32)
    image[0, 0:3, 0:3] = 1.0
    y = np.array([[[0, 0, 3 / 32, 3 / 32, 2]]], np.float32)
    gone = 0
    for seed in range(40):
        x, out, _ = augment_targets(image, y, "detection", AugmentSettings(crop=6),
                                    np.random.default_rng(seed))
        if not x.any():
            gone += 1
            np.testing.assert_array_equal(out[0, 0], [0, 0, 0, 0, -1])
        else:
            np.testing.assert_array_equal(out[0, 0, :4], _tight_box(x[0, ..., 0] > 0))
    assert gone > 0


def test_rotated_box_without_mask_encloses_the_rotated_object():
    s, images, _ = _scene(seed=3, count=12, max_objects=1)
    y = np.concatenate([s.classes[:, :1].astype(np.float32), s.boxes[:, 0] / SIZE], 1)
    x, out, _ = augment_targets(images, y, "localization", AugmentSettings(rotation=0.125),
                                np.random.default_rng(5))
    assert out[:, 1:].min() >= 0 and out[:, 1:].max() <= 1
    np.testing.assert_array_equal(out[:, 0], y[:, 0])
    for i in range(len(x)):
        tight = _tight_box(x[i].max(-1) > 0.5)
        box = out[i, 1:]
        assert np.all(box[:2] <= tight[:2] + 1.5 / SIZE)  # encloses (one pixel of slack
        assert np.all(box[2:] >= tight[2:] - 1.5 / SIZE)  # for bilinear edges)


def test_seeded_batches_are_reproducible_and_classification_is_unchanged():
    s, images, _ = _scene(seed=4, count=10)
    y = _detection_truth(s)
    augment = {"flip": "horizontal", "crop": 4, "rotation": 0.05}
    a = AugmentedBatches(images, y, 4, augment, seed=7, task="detection")
    b = AugmentedBatches(images, y, 4, augment, seed=7, task="detection")
    c = AugmentedBatches(images, y, 4, augment, seed=8, task="detection")
    for index in (2, 0, 1):  # order does not matter
        (xa, ya), (xb, yb) = a[index], b[index]
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a[0][0], c[0][0])
    a.on_epoch_end()
    b.on_epoch_end()
    np.testing.assert_array_equal(a[0][1], b[0][1])
    # localization with two heads: class and box targets, split after the transform
    loc = np.concatenate([s.classes[:, :1].astype(np.float32), s.boxes[:, 0] / SIZE], 1)
    x, (classes, boxes) = AugmentedBatches(images, loc, 5, {"flip": True}, outputs=2,
                                           task="localization")[0]
    assert classes.dtype == np.int32 and boxes.shape == (5, 4)
    # classification keeps the Keras layers, labels untouched
    labels = np.arange(10)
    batches = AugmentedBatches(images, labels, 10, {"flip": "horizontal"}, seed=1)
    assert batches.task is None and batches.layers
    x, out = batches[0]
    np.testing.assert_array_equal(np.sort(out), labels)


def test_bad_settings_name_the_key():
    with pytest.raises(DatasetError, match="Unknown augmentation"):
        AugmentSettings.parse({"zoom": 0.1})
    with pytest.raises(DatasetError, match="flip"):
        AugmentSettings.parse({"flip": "diagonal"})


def test_keras_fit_takes_the_augmented_batches_of_each_task():
    import keras

    s, images, _ = _scene(seed=5, count=12)
    masks = np.zeros((12, SIZE, SIZE), np.int32)
    for k in range(3):
        masks = np.where(s.masks[:, k], s.classes[:, k, None, None] + 1, masks)
    inp = keras.Input((SIZE, SIZE, 3))
    seg = keras.Model(inp, keras.layers.Conv2D(4, 3, padding="same",
                                               activation="softmax")(inp))
    seg.compile("adam", "sparse_categorical_crossentropy")
    augment = {"flip": "horizontal", "crop": 2, "rotation": 0.05}
    seg.fit(AugmentedBatches(images, masks, 6, augment, task="segmentation"), epochs=1,
            verbose=0)
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inp))
    loc = keras.Model(inp, [keras.layers.Dense(3, activation="softmax")(features),
                            keras.layers.Dense(4, activation="sigmoid")(features)])
    loc.compile("adam", ["sparse_categorical_crossentropy", "mse"])
    y = np.concatenate([s.classes[:, :1].astype(np.float32), s.boxes[:, 0] / SIZE], 1)
    history = loc.fit(AugmentedBatches(images, y, 6, augment, outputs=2,
                                       task="localization"), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_a_localization_run_with_augmentation_through_the_runner(tmp_path):
    import builder
    from builder.training.process import start_run

    project = builder.load(builder.template_path("localization"))
    handle = start_run(project, tmp_path / "run", training={"epochs": 1, "batch_size": 16},
                       dataset={**project.dataset, "samples": 40,
                                "augment": {"flip": "horizontal", "crop": 2,
                                            "rotation": 0.05}},
                       in_process=True)
    events = list(handle.events(timeout=120))
    # Class and box heads each got their own share of [class, box] (not [y, y]).
    assert handle.wait(120) == 0, events[-1]
    assert events[-1]["type"] == "finished"

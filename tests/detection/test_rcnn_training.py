"""The small Mask R-CNN and Faster R-CNN train on `shapes` (tiny scale: the losses fall),
detect well-formed boxes and masks, and the inference model holds the trained weights."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from builder.detection import rcnn_model  # noqa: E402
from builder.detection.rcnn_data import shapes_instances  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return shapes_instances(32, seed=3)


def _trained(build, data, epochs):
    """A fresh detector fitted on ``data`` (batches of 8, no XLA) for ``epochs``."""
    keras.utils.set_random_seed(0)
    det = build(config=rcnn_model.RCNNTrainingConfig(seed=0))
    before = [w.numpy().copy() for w in det.model.weights]
    # No XLA: compiling the graph costs more than these few steps.
    det.compile(learning_rate=2e-3, jit_compile=False)
    history = det.fit(data.images, data.y_true, data.masks if det.with_masks else None,
                      batch_size=8, epochs=epochs, verbose=0).history
    return det, before, history


@pytest.fixture(scope="module")
def mask(data):
    return _trained(rcnn_model.mask_rcnn, data, epochs=6)


def test_all_five_losses_fall(mask):
    det, _, history = mask
    assert det.loss_names == ("rpn_objectness", "rpn_box", "classifier", "box_reg", "mask")
    # Training-mode epoch means (the RoI sampling is random, so single batches
    # are noisy; whole epochs are not).
    for name in det.loss_names:
        values = history[f"{name}_loss"]
        assert np.all(np.isfinite(values)), (name, values)
        assert min(values[-2:]) < 0.85 * values[0], (name, values)


def test_inference_model_holds_the_trained_weights(mask, data):
    det, before, _ = mask
    # Every weight the training model updates is one of the inference model's.
    trained = {id(w) for w in det.train_model.trainable_weights}
    own = {id(w) for w in det.model.trainable_weights}
    assert trained == own
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, det.model.weights)]
    names = {w.path.split("/")[0] for w, c in zip(det.model.weights, changed) if c}
    assert {"rpn", "box_cls", "box_reg", "mask_logits"} <= names, names


def test_detections_are_well_formed(mask, data):
    det, _, _ = mask
    found = det.detect(data.images[:3], batch_size=2)
    assert len(found) == 3
    for boxes, scores, classes, masks in found:
        d = len(scores)
        assert boxes.shape == (d, 4) and classes.shape == (d,)
        assert masks.shape == (d, 64, 64) and masks.dtype == bool
        assert np.all(np.diff(scores) <= 1e-6) and np.all((scores >= 0) & (scores <= 1))
        real = scores > 0
        assert set(np.unique(classes[real])) <= {0, 1, 2}
        assert np.all(classes[~real] == -1) and not masks[~real].any()
        assert np.all((boxes[real] >= 0) & (boxes[real] <= 1))
        assert np.all(boxes[real, 2:] >= boxes[real, :2])
    result = det.evaluate(data.images[:8], data.y_true[:8], data.masks[:8], batch_size=8)
    for key in ("recall", "map50"):
        assert 0.0 <= result[key] <= 1.0
    assert np.isnan(result["mask_iou"]) or 0.0 <= result["mask_iou"] <= 1.0
    assert result["images_per_s"] > 0 and result["objects"] == int(
        (data.y_true[:8, :, 4] >= 0).sum())


def test_faster_rcnn_trains_boxes_only(data):
    det, _, history = _trained(rcnn_model.faster_rcnn, data[:24], epochs=4)
    assert det.loss_names == ("rpn_objectness", "rpn_box", "classifier", "box_reg")
    assert "mask_loss" not in history
    assert history["loss"][-1] < 0.8 * history["loss"][0], history["loss"]
    boxes, scores, classes = det.detect(data.images[:2])[0]
    assert boxes.shape == (len(scores), 4) and classes.shape == scores.shape


def test_mask_rcnn_needs_masks(mask, data):
    det, _, _ = mask
    with pytest.raises(ValueError, match="Received: masks=None"):
        det.fit(data.images[:2], data.y_true[:2], None, epochs=1, verbose=0)

"""The small SSD and the small YOLO train on `shapes` (tiny scale: the loss falls)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from builder.detection import models  # noqa: E402
from builder.detection.data import NUM_CLASSES, shapes_detection  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return shapes_detection(48, seed=3)


@pytest.mark.parametrize("build", [models.ssd, models.yolo], ids=["ssd", "yolo"])
def test_loss_falls_and_detections_come_out(build, data):
    keras.utils.set_random_seed(0)
    images, y_true = data
    det = build()
    det.compile(learning_rate=3e-3)
    # Training-mode losses per epoch: at this size BN's moving averages lag far
    # behind, so an inference-mode evaluation would not show the progress.
    losses = det.model.fit(images, y_true, batch_size=16, epochs=5, verbose=0).history["loss"]
    assert losses[-1] < 0.75 * losses[0], losses
    result = det.evaluate(images[:8], y_true[:8], NUM_CLASSES)
    assert 0.0 <= result["map50"] <= 1.0 and result["images_per_s"] > 0
    boxes, scores, classes = det.detect(images[:2])[0]
    assert boxes.shape == (20, 4) and np.all(np.diff(scores) <= 1e-6)
    assert set(np.unique(classes)) <= {0, 1, 2}


def test_anchor_config_must_fit_the_heads():
    import builder
    from builder.detection.anchors import SSD300
    graph = builder.from_template("ssd_small").graph
    models.check_anchors(graph, models.SSD_SMALL)
    with pytest.raises(ValueError, match=r"expected \[\(8, 4\).*Received: \[\(38, 4\)"):
        models.check_anchors(graph, SSD300)

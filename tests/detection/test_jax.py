"""The detection losses and decoding run under JAX too (static shapes): traced in one
``jax.jit``, the losses give TensorFlow's numbers and gradients, and both decoders run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("jax")

COMMON = textwrap.dedent("""
    import numpy as np
    from builder.detection.anchors import default_boxes
    from builder.detection.data import shapes_detection
    from builder.detection.models import SSD_SMALL
    from builder.detection.ops import MultiBoxLoss, postprocess
    from builder.detection.yolo import YoloLoss, yolo_postprocess
    _, y = shapes_detection(16, seed=5)
    rng = np.random.default_rng(0)
    anchors = default_boxes(SSD_SMALL)
    pred = rng.normal(size=(16, len(anchors), 8)).astype("float32")
    grid = rng.normal(size=(16, 4, 4, 13)).astype("float32")
""")

SCRIPT = COMMON + textwrap.dedent("""
    import json
    import jax

    def everything(y, pred, grid):
        multibox = lambda p: MultiBoxLoss(anchors)(y, p).mean()
        return (multibox(pred), jax.grad(multibox)(pred), YoloLoss(2, 3)(y, grid).mean(),
                postprocess(pred, anchors, pre_nms=50, max_detections=10),
                yolo_postprocess(grid, 2, max_detections=10))

    mb, grad, yl, ssd_out, yolo_out = jax.jit(everything)(y, pred, grid)
    grad = np.asarray(grad)
    print(json.dumps({"multibox": float(mb), "yolo": float(yl),
                      "grad": [bool(np.isfinite(grad).all()), float(np.abs(grad).sum())],
                      "ssd": list(ssd_out[0].shape), "yolo_boxes": list(yolo_out[0].shape)}))
""")


def test_losses_agree_with_tensorflow_and_trace_under_jax_jit():
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["grad"][0] and got["grad"][1] > 0
    assert got["ssd"] == [16, 10, 4] and got["yolo_boxes"] == [16, 10, 4]
    # The same numbers under this process's backend (TensorFlow by default).
    scope: dict = {}
    exec(COMMON, scope)
    y, pred, grid, anchors = scope["y"], scope["pred"], scope["grid"], scope["anchors"]
    assert got["multibox"] == pytest.approx(
        float(np.mean(scope["MultiBoxLoss"](anchors)(y, pred))), rel=1e-4)
    assert got["yolo"] == pytest.approx(float(np.mean(scope["YoloLoss"](2, 3)(y, grid))),
                                        rel=1e-4)

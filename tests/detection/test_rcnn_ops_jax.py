"""The R-CNN ops trace under JAX (one ``jax.jit``) and give TensorFlow's numbers."""

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
    from builder.detection.rcnn_boxes import FPNAnchors, anchors_per_level, fpn_anchors
    from builder.detection.rcnn_data import shapes_instances
    from builder.detection.roi_align import multilevel_roi_align
    from builder.detection.proposals import generate_proposals
    from builder.detection.rcnn_targets import rpn_targets, sample_rois, mask_targets
    from builder.detection.rcnn_losses import box_head_losses, mask_loss, rpn_losses
    from builder.detection.rcnn_postprocess import detect_boxes
    cfg = FPNAnchors(sizes=(16, 32, 64), strides=(4, 8, 16))
    anchors, counts = fpn_anchors(32, cfg), anchors_per_level(32, cfg)
    data = shapes_instances(2, size=32, seed=3)
    rng = np.random.default_rng(0)
    feats = [rng.normal(size=(2, 32 // s, 32 // s, 4)).astype("float32") for s in (4, 8, 16)]
    obj = rng.normal(size=(2, len(anchors))).astype("float32")
    deltas = rng.normal(0, 0.2, (2, len(anchors), 4)).astype("float32")
    w_cls = rng.normal(0, 0.1, (4 * 3 * 3, 4)).astype("float32")
    w_box = rng.normal(0, 0.1, (4 * 3 * 3, 16)).astype("float32")
    w_mask = rng.normal(0, 0.1, (4, 4)).astype("float32")

    def targets(boxes):
        labels, rpn_deltas = rpn_targets(anchors, data.y_true, batch_size_per_image=32, seed=1)
        rois = sample_rois(boxes, data.y_true, num_samples=16, seed=2)
        masks = mask_targets(data.masks, rois["rois"], rois["gt_index"], size=6)
        return dict(rois, labels=labels, rpn_deltas=rpn_deltas, masks=masks)

    def losses(feats, obj, deltas, t, ops):
        # Small boxes in a 32 px image: canonical 8 px at level 3 spreads them over levels.
        level_rule = dict(canonical_size=8, canonical_level=3, min_level=2, max_level=4)
        pooled = multilevel_roi_align(feats, t["rois"], 32, (3, 3), 2, **level_rule)
        flat = ops.reshape(pooled, (2, 16, -1))
        cls_loss, reg_loss = box_head_losses(flat @ w_cls, flat @ w_box, t["classes"],
                                             t["deltas"])
        fine = multilevel_roi_align(feats, t["rois"], 32, (6, 6), 2, **level_rule)
        m_loss = mask_loss(fine @ w_mask, t["classes"], t["masks"])
        o_loss, b_loss = rpn_losses(obj, deltas, t["labels"], t["rpn_deltas"])
        return [o_loss, b_loss, cls_loss, reg_loss, m_loss], flat

""")

SCRIPT = COMMON + textwrap.dedent("""
    import json
    import jax
    from keras import ops

    def everything(feats, obj, deltas):
        boxes, _ = generate_proposals(obj, deltas, anchors, counts, 40, 30)
        t = targets(boxes)

        def total(feats, obj, deltas):
            parts, flat = losses(feats, obj, deltas, t, ops)
            return sum(parts), (parts, flat)

        grads, (parts, flat) = jax.grad(total, argnums=(0, 1, 2), has_aux=True)(
            feats, obj, deltas)
        det = detect_boxes(flat @ w_cls, flat @ w_box, t["rois"], max_detections=5)
        return boxes, t, parts, grads, det

    boxes, t, parts, grads, det = jax.jit(everything)(feats, obj, deltas)
    print(json.dumps({"losses": [float(v) for v in parts],
                      "proposals": np.asarray(boxes).tolist(),
                      "targets": {k: np.asarray(v).tolist() for k, v in t.items()},
                      "det": list(det[0].shape),
                      "grad": [float(np.abs(np.asarray(g)).sum()) for g in grads[0]]
                              + [float(np.abs(np.asarray(g)).sum()) for g in grads[1:]]}))
""")


def test_rcnn_pipeline_traces_under_jax_jit_with_tensorflows_numbers():
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["det"] == [2, 5, 4]
    # Gradients reach every FPN level through RoIAlign, and the RPN outputs.
    assert all(g > 0 for g in got["grad"]), got["grad"]
    scope: dict = {}
    exec(COMMON, scope)
    from keras import ops

    from builder.detection.proposals import generate_proposals

    boxes, _ = generate_proposals(scope["obj"], scope["deltas"], scope["anchors"],
                                  scope["counts"], 40, 30)
    np.testing.assert_allclose(got["proposals"], ops.convert_to_numpy(boxes), atol=1e-5)
    # The backends' random generators differ, so the losses are compared on JAX's targets.
    t = {k: np.asarray(v, np.int32 if k in ("labels", "classes", "gt_index") else np.float32)
         for k, v in got["targets"].items()}
    assert (t["labels"] == 1).any() and (t["classes"] > 0).any() and t["masks"].any()
    parts, _ = scope["losses"](scope["feats"], scope["obj"], scope["deltas"], t, ops)
    np.testing.assert_allclose(got["losses"], [float(v) for v in parts], rtol=1e-4)
    assert all(v > 0 for v in got["losses"])

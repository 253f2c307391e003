"""R-CNN kinds against Keras: our shape, weight and refusal rules equal what the
layers really do, run eagerly on arrays (not only Keras' symbolic shapes, which
for these layers come from their own ``compute_output_shape``)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

from builder.blocks import CATALOG, Notes, ShapeIssue  # noqa: E402
from builder.compile.custom_layers import resolve_layer_class  # noqa: E402

B = 2  # images per batch in every eager run
SMALL = {"image_size": 64, "sizes": [16, 32, 64], "strides": [4, 8, 16],
         "pre_nms_top_n": 20, "post_nms_top_n": 12}


def _ours(kind, params, shapes):
    spec = CATALOG.get(kind)
    p = {**spec.defaults(), **params}
    assert CATALOG.validate_params(kind, p) == []
    ins = [(B, *s) for s in shapes]
    return spec, p, ins, spec.shape(p, ins, Notes())


def _layer(spec, p):
    (call,) = spec.keras(p)
    return resolve_layer_class(call.class_name)(**call.kwargs)


def _arrays(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(B, *s)).astype("float32") for s in shapes]


def _boxes(n, seed=1):
    rng = np.random.default_rng(seed)
    yx = rng.uniform(0.0, 0.6, size=(B, n, 2))
    hw = rng.uniform(0.1, 0.4, size=(B, n, 2))
    return np.concatenate([yx, yx + hw], axis=-1).astype("float32")


def _check(kind, params, shapes, arrays):
    spec, p, ins, outs = _ours(kind, params, shapes)
    layer = _layer(spec, p)
    result = layer(arrays)
    results = list(result) if isinstance(result, (list, tuple)) else [result]
    assert [tuple(r.shape) for r in results] == [tuple(s) for s in outs]
    ours = spec.weights(p, ins, outs)
    assert [(w.name, w.shape, w.trainable) for w in ours] == \
        [(w.name, tuple(w.shape), w.trainable) for w in layer.weights]
    assert sum(w.size for w in ours if w.trainable) == \
        sum(math.prod(w.shape) for w in layer.trainable_weights)
    assert spec.flops(p, ins, outs) >= 0 and spec.label(p)
    return p, layer, results


FPN = [(16, 16, 8), (8, 8, 8), (4, 4, 8)]


def test_rpn_head_matches_keras_and_plain_convolutions_level_by_level():
    feats = _arrays(FPN)
    p, layer, (scores, deltas) = _check("RPNHead", {"anchors": 3}, FPN, feats)
    assert p["anchors"] == 3
    conv = keras.layers.Conv2D(8, 3, padding="same", activation="relu")
    cls = keras.layers.Conv2D(3, 1)
    reg = keras.layers.Conv2D(12, 1)
    conv.build((None, None, None, 8))
    cls.build((None, None, None, 8))
    reg.build((None, None, None, 8))
    w = [v.numpy() for v in layer.weights]
    conv.set_weights(w[0:2])
    cls.set_weights(w[2:4])
    reg.set_weights(w[4:6])
    start = 0
    for f in feats:  # one set of weights on every level, (y, x, anchor) row-major
        t = conv(f)
        n = f.shape[1] * f.shape[2] * 3
        np.testing.assert_allclose(scores[:, start:start + n],
                                   np.reshape(cls(t), (B, n)), atol=1e-5)
        np.testing.assert_allclose(deltas[:, start:start + n],
                                   np.reshape(reg(t), (B, n, 4)), atol=1e-5)
        start += n
    assert start == scores.shape[1] == 16 * 16 * 3 + 8 * 8 * 3 + 4 * 4 * 3
    # Its multiply-adds are those of the three Conv2D kinds on every level.
    conv = CATALOG.get("Conv2D")
    expected = 0
    for shape in FPN:
        x = (None, *shape)
        for filters, kernel in ((8, 3), (3, 1), (12, 1)):
            cp = {**conv.defaults(), "filters": filters, "kernel_size": kernel,
                  "padding": "same"}
            expected += conv.flops(cp, [x], conv.shape(cp, [x], Notes()))
    spec = CATALOG.get("RPNHead")
    ins = [(None, *s) for s in FPN]
    assert spec.flops(p, ins, spec.shape(p, ins, Notes())) == expected


def test_rpn_head_refuses_levels_of_different_widths_like_keras():
    shapes = [(8, 8, 8), (4, 4, 6)]
    spec = CATALOG.get("RPNHead")
    with pytest.raises(ShapeIssue, match="one known channel count"):
        spec.shape(spec.defaults(), [(None, *s) for s in shapes], Notes())
    with pytest.raises(ValueError):
        _layer(spec, spec.defaults())(_arrays(shapes))


def test_proposals_match_keras_and_stay_inside_the_image():
    total = 1008
    shapes = [(total,), (total, 4)]
    arrays = [_arrays([(total,)])[0], 0.1 * _arrays([(total, 4)], seed=3)[0]]
    _, _, (boxes,) = _check("Proposals", SMALL, shapes, arrays)
    boxes = np.asarray(boxes)
    assert boxes.min() >= 0.0 and boxes.max() <= 1.0
    real = boxes[(boxes[..., 2] > boxes[..., 0])]
    assert len(real) > 0


def test_proposals_refuse_anchor_counts_the_rpn_does_not_give_like_keras():
    spec = CATALOG.get("Proposals")
    p = {**spec.defaults(), **SMALL, "image_size": 96}   # 96 px has more anchors
    with pytest.raises(ShapeIssue, match="1008 anchors") as err:
        spec.shape(p, [(None, 1008), (None, 1008, 4)], Notes())
    assert err.value.field == "image_size"
    arrays = [_arrays([(1008,)])[0], _arrays([(1008, 4)])[0]]
    with pytest.raises(ValueError, match="1008"):
        _layer(spec, p)(arrays)
    with pytest.raises(ValueError, match="1008"):  # already when a model is drawn
        _layer(spec, p)([keras.Input((1008,)), keras.Input((1008, 4))])


def test_multilevel_roi_align_folds_rois_into_the_batch_image_by_image():
    from builder.detection.roi_align import roi_align_numpy

    n = 5
    feats = _arrays([(16, 16, 4), (8, 8, 4), (4, 4, 4)])
    boxes = _boxes(n)
    params = {"output_size": 5, "canonical_size": 4096, "canonical_level": 2}
    _, _, (out,) = _check("MultiLevelRoIAlign", params, [s.shape[1:] for s in feats]
                          + [(n, 4)], feats + [boxes])
    # A huge canonical size sends every box to the finest level (P2).
    ref = roi_align_numpy(feats[0], boxes, (5, 5), 2, aligned=False)
    np.testing.assert_allclose(np.reshape(out, (B, n, 5, 5, 4)), ref, atol=1e-4)


def test_multilevel_roi_align_refuses_boxes_without_four_coordinates():
    spec = CATALOG.get("MultiLevelRoIAlign")
    with pytest.raises(ShapeIssue, match="4 coordinates"):
        spec.shape(spec.defaults(), [(None, 8, 8, 4), (None, 5, 3)], Notes())


def test_rcnn_detections_match_keras():
    n, k = 6, 4
    logits, deltas = _arrays([(k,), (4 * k,)])
    logits = np.reshape(logits, (B, k)).repeat(n, 0) * 3
    deltas = np.reshape(deltas, (B, 4 * k)).repeat(n, 0) * 0.1
    params = {"max_detections": 7, "score_threshold": 0.0}
    _, _, (boxes, scores, classes) = _check(
        "RCNNDetections", params, [(k,), (4 * k,), (n, 4)], [logits, deltas, _boxes(n)])
    classes = np.asarray(classes)
    assert classes.dtype == np.int32 and classes.min() >= -1 and classes.max() < k - 1
    assert np.all((np.asarray(scores) > 0) == (classes >= 0))


def test_rcnn_detections_refuse_box_deltas_of_the_wrong_width():
    spec = CATALOG.get("RCNNDetections")
    with pytest.raises(ShapeIssue, match="4K box deltas"):
        spec.shape(spec.defaults(), [(None, 4), (None, 12), (None, 6, 4)], Notes())
    with pytest.raises(ValueError, match="4K deltas"):
        _layer(spec, spec.defaults())([keras.Input((4,)), keras.Input((12,)),
                                       keras.Input((6, 4))])


def test_rcnn_masks_pick_each_detection_s_own_class_channel():
    d, m, k = 3, 6, 4
    logits = _arrays([(m, m, k)])[0].repeat(d, 0)  # (B*D, m, m, K)
    classes = np.array([[0, 2, -1], [1, -1, -1]], dtype="int32")
    spec, p, ins, outs = _ours("RCNNMasks", {}, [(m, m, k), (d,)])
    outs[0] = (B, d, m, m)
    layer = _layer(spec, p)
    got = np.asarray(layer([logits, classes]))
    assert got.shape == outs[0] and spec.weights(p, ins, outs) == [] == layer.weights
    per = logits.reshape(B, d, m, m, k)
    for b in range(B):
        for i in range(d):
            c = classes[b, i]
            want = 1 / (1 + np.exp(-per[b, i, :, :, c + 1])) if c >= 0 else 0.0
            np.testing.assert_allclose(got[b, i], want, atol=1e-6)


def test_frozen_batch_norm_compiles_frozen_in_keras_and_in_scripts():
    from builder.compile import to_keras, to_source
    from builder.core import Graph

    g = Graph()
    g.add_node("Input", {"shape": [4, 4, 3]}, id="x")
    g.add_node("BatchNormalization", {"trainable": False}, id="bn")
    g.add_node("Output", {"loss": "none"}, id="out")
    g.connect("x", "bn")
    g.connect("bn", "out")
    model = to_keras(g)
    assert not model.get_layer("bn").trainable and model.trainable_weights == []
    assert "trainable=False" in to_source(g)
    spec = CATALOG.get("BatchNormalization")
    assert "trainable" not in spec.keras(spec.defaults())[0].kwargs  # default unchanged


def test_a_frozen_keras_batch_norm_imports_frozen():
    from builder.compile.from_keras import import_keras

    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.BatchNormalization(
        name="bn", trainable=False)])
    imported = import_keras(model)
    node = imported.project.graph.nodes[imported.layer_nodes["bn"]]
    assert node.params["trainable"] is False
    assert not any("frozen" in w for w in imported.warnings)


def test_proposals_warn_when_post_nms_asks_for_more_than_can_survive():
    spec = CATALOG.get("Proposals")
    ins = [(None, 1008), (None, 1008, 4)]
    notes = Notes()
    spec.shape({**spec.defaults(), **SMALL}, ins, notes)
    assert notes.items == []
    spec.shape({**spec.defaults(), **SMALL, "pre_nms_top_n": 10, "post_nms_top_n": 40},
               ins, notes)
    ((message, _, field),) = notes.items
    assert "at most 30 candidates" in message and field == "post_nms_top_n"

"""Faster / Mask R-CNN layers (builder.blocks.rcnn's kinds), keras.ops only.

Like :mod:`builder.compile.custom_layers`, each class is registered under the
package ``keras_builder`` and has no module-level helpers, because
:func:`builder.compile.to_source` copies its source into generated scripts.
The detection arithmetic (anchors, box decoding, NMS, RoIAlign) lives in
:mod:`builder.detection`, which the classes import inside their methods: a
script that uses them needs Keras Builder installed, and this module stays
importable without loading it.

Shapes follow the kinds: boxes ``(y1, x1, y2, x2)`` normalised to [0, 1]; the
RoIs of ``B`` images are folded into the batch (``B·N``) between
``MultiLevelRoIAlign`` and ``RCNNDetections`` / ``RCNNMasks``.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="keras_builder")
class RPNHead(keras.layers.Layer):
    """Region proposal head shared by every FPN level (torchvision's RPNHead).

    On each level: 3x3 conv + ReLU, then 1x1 convs giving ``anchors``
    objectness logits and ``4 * anchors`` box deltas per location. Returns
    ``[objectness (B, total), deltas (B, total, 4)]`` flattened level by level,
    row-major over ``(y, x, anchor)`` (the order of
    ``builder.detection.rcnn_boxes.fpn_anchors``).

    Args:
        anchors: anchors per location.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).
    """

    def __init__(self, anchors=3, **kwargs):
        super().__init__(**kwargs)
        self.anchors = int(anchors)

    def build(self, input_shape):
        channels = {tuple(s)[-1] for s in input_shape}
        if len(channels) != 1 or None in channels:
            raise ValueError(
                "RPNHead needs feature maps with one known channel count. "
                f"Received: input_shape={input_shape}")
        c, a = channels.pop(), self.anchors
        init = keras.initializers.RandomNormal(stddev=0.01)  # torchvision's

        def weight(name, shape, initializer=init):
            return self.add_weight(name=name, shape=shape,
                                   initializer=initializer)
        self.conv_kernel = weight("conv_kernel", (3, 3, c, c))
        self.conv_bias = weight("conv_bias", (c,), "zeros")
        self.objectness_kernel = weight("objectness_kernel", (1, 1, c, a))
        self.objectness_bias = weight("objectness_bias", (a,), "zeros")
        self.deltas_kernel = weight("deltas_kernel", (1, 1, c, 4 * a))
        self.deltas_bias = weight("deltas_bias", (4 * a,), "zeros")
        self.built = True

    def call(self, inputs):
        ops = keras.ops
        scores, deltas = [], []
        for x in inputs:
            h, w = x.shape[1], x.shape[2]
            t = ops.relu(ops.conv(x, self.conv_kernel, padding="same")
                         + self.conv_bias)
            s = ops.conv(t, self.objectness_kernel) + self.objectness_bias
            d = ops.conv(t, self.deltas_kernel) + self.deltas_bias
            scores.append(ops.reshape(s, (-1, h * w * self.anchors)))
            deltas.append(ops.reshape(d, (-1, h * w * self.anchors, 4)))
        return [ops.concatenate(scores, axis=1),
                ops.concatenate(deltas, axis=1)]

    def compute_output_shape(self, input_shape):
        total = sum(s[1] * s[2] for s in input_shape) * self.anchors
        batch = input_shape[0][0]
        return (batch, total), (batch, total, 4)

    def get_config(self):
        config = super().get_config()
        config.update({"anchors": self.anchors})
        return config


@keras.saving.register_keras_serializable(package="keras_builder")
class Proposals(keras.layers.Layer):
    """RPN proposals: ``[objectness, deltas]`` -> boxes ``(B, P, 4)``.

    Decodes the deltas on the FPN anchors of an ``image_size`` image, keeps
    the ``pre_nms_top_n`` best per level, clips, drops boxes smaller than
    ``min_size``, NMS at ``nms_iou`` and keeps ``post_nms_top_n`` (zero boxes
    pad); no gradient flows back (builder.detection.proposals).

    Args:
        image_size: ``[height, width]`` in pixels.
        sizes: anchor size in pixels per level.
        ratios: anchor aspect ratios ``h / w``.
        strides: stride of each level.
        pre_nms_top_n, post_nms_top_n, nms_iou, min_size: as above.
        **kwargs: base layer arguments.
    """

    def __init__(self, image_size=(800, 800), sizes=(32, 64, 128, 256, 512),
                 ratios=(0.5, 1.0, 2.0), strides=(4, 8, 16, 32, 64),
                 pre_nms_top_n=1000, post_nms_top_n=1000, nms_iou=0.7,
                 min_size=1e-3, **kwargs):
        super().__init__(**kwargs)
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        self.image_size = [int(v) for v in image_size]
        self.sizes = [int(v) for v in sizes]
        self.ratios = [float(v) for v in ratios]
        self.strides = [int(v) for v in strides]
        self.pre_nms_top_n = int(pre_nms_top_n)
        self.post_nms_top_n = int(post_nms_top_n)
        self.nms_iou = float(nms_iou)
        self.min_size = float(min_size)
        from builder.detection import rcnn_boxes

        config = rcnn_boxes.FPNAnchors(tuple(self.sizes), tuple(self.ratios),
                                       tuple(self.strides))
        size = tuple(self.image_size)
        self.anchors = rcnn_boxes.fpn_anchors(size, config)
        self.anchors_per_level = rcnn_boxes.anchors_per_level(size, config)

    def build(self, input_shape):
        # Checked here, not in call(): symbolic model building skips call().
        if tuple(input_shape[0])[1] != len(self.anchors):
            raise ValueError(
                f"Proposals has {len(self.anchors)} anchors for image_size "
                f"{self.image_size} and strides {self.strides}. Received: "
                f"{tuple(input_shape[0])[1]} objectness logits")
        self.built = True

    def call(self, inputs):
        from builder.detection.proposals import generate_proposals

        objectness, deltas = inputs
        boxes, _ = generate_proposals(
            objectness, deltas, self.anchors, self.anchors_per_level,
            pre_nms_top_n=self.pre_nms_top_n,
            post_nms_top_n=self.post_nms_top_n, nms_iou=self.nms_iou,
            min_size=self.min_size)
        return boxes

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.post_nms_top_n, 4)

    def get_config(self):
        config = super().get_config()
        config.update({
            "image_size": self.image_size, "sizes": self.sizes,
            "ratios": self.ratios, "strides": self.strides,
            "pre_nms_top_n": self.pre_nms_top_n,
            "post_nms_top_n": self.post_nms_top_n, "nms_iou": self.nms_iou,
            "min_size": self.min_size})
        return config


@keras.saving.register_keras_serializable(package="keras_builder")
class MultiLevelRoIAlign(keras.layers.Layer):
    """RoIAlign on an FPN: ``[P_min, ..., P_max, boxes (B, N, 4)]`` ->
    ``(B * N, s, s, C)``; image ``b``'s boxes are rows ``b * N`` to
    ``b * N + N - 1``.

    Each box is pooled on the level ``floor(k0 + log2(sqrt(wh) / s0))``
    (clipped to the levels given), ``w, h`` in pixels of the image, whose size
    is the first map's times ``2 ** min_level``. The boxes are not
    differentiated through (they are proposals or detections).

    Args:
        output_size: bins per side ``s``.
        sampling_ratio: bilinear samples per bin per side.
        min_level: the FPN level of the first feature map.
        canonical_size: ``s0``, the box size read from ``canonical_level``.
        canonical_level: ``k0``.
        aligned: half-pixel offset of the sampling points.
        **kwargs: base layer arguments.
    """

    def __init__(self, output_size=7, sampling_ratio=2, min_level=2,
                 canonical_size=224, canonical_level=4, aligned=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.output_size = int(output_size)
        self.sampling_ratio = int(sampling_ratio)
        self.min_level = int(min_level)
        self.canonical_size = int(canonical_size)
        self.canonical_level = int(canonical_level)
        self.aligned = bool(aligned)

    def call(self, inputs):
        from builder.detection.roi_align import multilevel_roi_align

        ops = keras.ops
        features, boxes = list(inputs[:-1]), inputs[-1]
        scale = 2 ** self.min_level
        image = (features[0].shape[1] * scale, features[0].shape[2] * scale)
        pooled = multilevel_roi_align(
            features, ops.stop_gradient(boxes), image,
            output_size=(self.output_size, self.output_size),
            sampling_ratio=self.sampling_ratio,
            canonical_size=float(self.canonical_size),
            canonical_level=self.canonical_level, min_level=self.min_level,
            max_level=self.min_level + len(features) - 1, aligned=self.aligned)
        s, c = self.output_size, features[0].shape[-1]
        return ops.reshape(pooled, (-1, s, s, c))

    def compute_output_shape(self, input_shape):
        batch, n = input_shape[-1][0], input_shape[-1][1]
        rows = None if batch is None or n is None else batch * n
        return (rows, self.output_size, self.output_size, input_shape[0][-1])

    def get_config(self):
        config = super().get_config()
        config.update({
            "output_size": self.output_size,
            "sampling_ratio": self.sampling_ratio, "min_level": self.min_level,
            "canonical_size": self.canonical_size,
            "canonical_level": self.canonical_level, "aligned": self.aligned})
        return config


@keras.saving.register_keras_serializable(package="keras_builder")
class RCNNDetections(keras.layers.Layer):
    """Final detections: ``[class_logits (B*N, K), box_deltas (B*N, 4K),
    rois (B, N, 4)]`` -> ``[boxes (B, D, 4), scores (B, D), classes (B, D)]``.

    Softmax scores, class-specific decoding (weights 10, 10, 5, 5) on the
    RoIs, score threshold, per-class NMS, the ``max_detections`` best per
    image; classes are 0-based (the head's column 0 is background), -1 pads
    (builder.detection.rcnn_postprocess.detect_boxes).

    Args:
        score_threshold: smallest class score kept.
        nms_iou: per-class NMS IoU threshold.
        max_detections: ``D``.
        **kwargs: base layer arguments.
    """

    def __init__(self, score_threshold=0.05, nms_iou=0.5, max_detections=100,
                 **kwargs):
        super().__init__(**kwargs)
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.max_detections = int(max_detections)

    def build(self, input_shape):
        logits, deltas, rois = (tuple(s) for s in input_shape)
        if deltas[-1] != 4 * logits[-1] or len(rois) != 3 or rois[1] is None:
            raise ValueError(
                "RCNNDetections needs K logits and 4K deltas per RoI and RoIs "
                f"(B, N, 4). Received: input_shape={input_shape}")
        self.built = True

    def call(self, inputs):
        from builder.detection.rcnn_postprocess import detect_boxes

        ops = keras.ops
        logits, deltas, rois = inputs
        n, k = rois.shape[1], logits.shape[-1]
        boxes, scores, classes = detect_boxes(
            ops.reshape(logits, (-1, n, k)),
            ops.reshape(deltas, (-1, n, 4 * k)),
            ops.stop_gradient(rois), score_threshold=self.score_threshold,
            nms_iou=self.nms_iou, max_detections=self.max_detections)
        return [boxes, scores, ops.cast(classes, "int32")]

    def compute_output_spec(self, inputs):
        batch, d = inputs[2].shape[0], self.max_detections
        dtype = inputs[0].dtype
        return [keras.KerasTensor((batch, d, 4), dtype=dtype),
                keras.KerasTensor((batch, d), dtype=dtype),
                keras.KerasTensor((batch, d), dtype="int32")]

    def get_config(self):
        config = super().get_config()
        config.update({"score_threshold": self.score_threshold,
                       "nms_iou": self.nms_iou,
                       "max_detections": self.max_detections})
        return config


@keras.saving.register_keras_serializable(package="keras_builder")
class RCNNMasks(keras.layers.Layer):
    """Each detection's mask: ``[mask_logits (B*D, m, m, K), classes (B, D)]``
    -> ``(B, D, m, m)`` probabilities, the sigmoid of the channel of the
    detection's own class (``class + 1``; column 0 is background), zeros where
    ``classes`` is -1 (padding).
    """

    def call(self, inputs):
        from builder.detection.rcnn_postprocess import select_masks

        logits, classes = inputs
        d = classes.shape[1]
        logits = keras.ops.reshape(logits, (-1, d, *logits.shape[1:]))
        return select_masks(logits, classes)

    def compute_output_shape(self, input_shape):
        logits, classes = input_shape
        return (classes[0], classes[1], logits[1], logits[2])

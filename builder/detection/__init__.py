"""Single-shot object detection: default boxes, matching, MultiBox and YOLO losses,
decoding with per-class NMS, and mAP evaluation.

Keras-free parts (importable without keras): :mod:`builder.detection.anchors`
(default boxes, IoU, numpy reference matching and encoding, NMS reference),
:mod:`builder.detection.evaluate` (mAP@0.5) and :mod:`builder.detection.summary`
(feature maps and default boxes of a graph's detection heads). The losses and
post-processing (:mod:`builder.detection.ops`, :mod:`builder.detection.yolo`) are
written with ``keras.ops`` and static shapes, so they run under TensorFlow and JAX.

Conventions: boxes are ``(y1, x1, y2, x2)`` normalised to ``[0, 1]`` (the ``shapes``
data set's order, divided by the image size); default boxes are kept in centre
form ``(cy, cx, h, w)``; class 0 of a softmax head is the background.
"""

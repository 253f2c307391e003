"""The five Mask R-CNN losses in ``keras.ops``, normalised as torchvision normalises them.

Each loss is one scalar for the whole batch (torchvision concatenates the images'
samples before averaging):

* RPN objectness: binary cross-entropy on the sampled anchors (label 1 or 0), mean
  over them; RPN boxes: smooth L1 (beta 1/9) summed over positive anchors, divided by
  the number of sampled anchors.
* Box classifier: softmax cross-entropy over the sampled RoIs (class ``-1`` rows are
  padding and do not count); box regression: smooth L1 (beta 1/9) of the deltas of
  each positive RoI's own class, summed, divided by the number of sampled RoIs.
* Mask: per-pixel binary cross-entropy of the mask channel of the RoI's own class,
  mean over the pixels of the positive RoIs (0 when there is none).
"""

from __future__ import annotations

from keras import ops

from builder.detection.ops import smooth_l1

#: torchvision's smooth-L1 beta for both box losses.
BOX_BETA = 1.0 / 9.0


def _bce_with_logits(logits, targets):
    """Elementwise ``-t log sigmoid(x) - (1 - t) log(1 - sigmoid(x))``, stable for large |x|."""
    return (ops.maximum(logits, 0.0) - logits * targets
            + ops.log1p(ops.exp(-ops.abs(logits))))


def rpn_losses(objectness, deltas, labels, target_deltas):
    """RPN objectness and box losses.

    Args:
        objectness: ``(B, A)`` logits.
        deltas: ``(B, A, 4)`` predicted deltas.
        labels: ``(B, A)`` 1 positive, 0 negative, -1 ignored (:func:`rpn_targets`).
        target_deltas: ``(B, A, 4)`` regression targets.

    Returns:
        ``(objectness_loss, box_loss)`` scalars.
    """
    labels = ops.cast(labels, "int32")
    dtype = objectness.dtype
    sampled = ops.cast(labels >= 0, dtype)
    positive = ops.cast(labels == 1, dtype)
    count = ops.maximum(ops.sum(sampled), 1.0)
    bce = _bce_with_logits(objectness, positive)
    objectness_loss = ops.sum(bce * sampled) / count
    reg = ops.sum(smooth_l1(deltas - ops.cast(target_deltas, dtype), BOX_BETA), axis=-1)
    box_loss = ops.sum(reg * positive) / count
    return objectness_loss, box_loss


def box_head_losses(class_logits, box_deltas, classes, target_deltas):
    """Box-head classification and regression losses.

    Args:
        class_logits: ``(B, S, C + 1)`` logits (column 0 background).
        box_deltas: ``(B, S, (C + 1) * 4)`` class-specific deltas (class j at ``4j..4j+3``).
        classes: ``(B, S)`` targets: 0 background, c + 1 object class c, -1 padding.
        target_deltas: ``(B, S, 4)`` regression targets (weights 10, 10, 5, 5).

    Returns:
        ``(classifier_loss, box_reg_loss)`` scalars.
    """
    classes = ops.cast(classes, "int32")
    dtype = class_logits.dtype
    num = class_logits.shape[-1]
    valid = ops.cast(classes >= 0, dtype)
    positive = ops.cast(classes > 0, dtype)
    count = ops.maximum(ops.sum(valid), 1.0)
    target = ops.maximum(classes, 0)
    log_probs = ops.log_softmax(class_logits, axis=-1)
    picked = ops.sum(log_probs * ops.one_hot(target, num, dtype=dtype), axis=-1)
    classifier_loss = -ops.sum(picked * valid) / count
    per_class = ops.reshape(box_deltas, (-1, classes.shape[1], num, 4))
    own = ops.take_along_axis(per_class, target[:, :, None, None], axis=2)[:, :, 0]
    reg = ops.sum(smooth_l1(own - ops.cast(target_deltas, dtype), BOX_BETA), axis=-1)
    box_reg_loss = ops.sum(reg * positive) / count
    return classifier_loss, box_reg_loss


def mask_loss(mask_logits, classes, mask_targets):
    """Mask-head loss: per-pixel BCE on the channel of each positive RoI's class.

    Args:
        mask_logits: ``(B, S, m, m, C + 1)`` logits.
        classes: ``(B, S)`` 0 background, c + 1 object class c, -1 padding.
        mask_targets: ``(B, S, m, m)`` in ``[0, 1]`` (:func:`mask_targets`).

    Returns:
        Scalar loss (0 when the batch has no positive RoI).
    """
    classes = ops.cast(classes, "int32")
    dtype = mask_logits.dtype
    num = mask_logits.shape[-1]
    m_h, m_w = mask_logits.shape[2], mask_logits.shape[3]
    pick = ops.one_hot(ops.maximum(classes, 0), num, dtype=dtype)        # (B, S, C + 1)
    own = ops.sum(mask_logits * pick[:, :, None, None, :], axis=-1)      # (B, S, m, m)
    positive = ops.cast(classes > 0, dtype)
    bce = _bce_with_logits(own, ops.cast(mask_targets, dtype))
    per_roi = ops.sum(bce, axis=(2, 3))
    pixels = ops.maximum(ops.sum(positive), 1.0) * float(m_h * m_w)
    return ops.sum(per_roi * positive) / pixels

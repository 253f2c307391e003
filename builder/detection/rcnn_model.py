"""Mask R-CNN and Faster R-CNN built from a template: train, detect, evaluate.

The template compiles (:func:`builder.compile.to_keras`) to the *inference*
model: image -> backbone/FPN -> RPN -> proposals -> box head -> detections
(+ mask head on the detected boxes). Training needs a different graph, which
:func:`build_training_model` assembles from the **same layer objects**, so
whatever it learns is the inference model's weights:

    image, y_true, masks
      -> backbone/FPN -> rpn -> (objectness, deltas) --------------> RPN losses (2)
      -> proposals (stop_gradient) -> sample_rois(y_true) -> box_roi_align
      -> box head -> (class logits, box deltas) ---------------------> box losses (2)
      -> the sampled positives -> mask_roi_align -> mask head -> mask loss (1)

The training model's outputs are the five losses (one value per image, the
batch's loss repeated) and it compiles with identity losses, so ``fit`` sums
them and reports each one (``rpn_objectness_loss``, ...); the same code trains
under TensorFlow and JAX. Node ids of the template are the Keras layer names
this module looks up (see ``/work/notes/rcnn.md``): ``rpn``, ``proposals``,
``box_roi_align``, ``box_cls``, ``box_reg``, ``detections``, and for Mask R-CNN
``mask_roi_align`` and ``mask_logits``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import ops

import builder
from builder.compile import to_keras
from builder.detection.instance_eval import evaluate_instances
from builder.detection.rcnn_data import NUM_CLASSES, ground_truth_instances

#: Loss names, in the order the training model outputs them.
BOX_LOSSES = ("rpn_objectness", "rpn_box", "classifier", "box_reg")
MASK_LOSSES = BOX_LOSSES + ("mask",)


@dataclass(frozen=True)
class RCNNTrainingConfig:
    """How many anchors and RoIs each training image samples (torchvision's names).

    The defaults are scaled down from torchvision's (256 anchors, 512 RoIs) for
    64x64 scenes with at most three objects and 50 proposals per image (the small
    templates): 64 anchors and 32 RoIs, the same fractions, so at most 8 positive
    RoIs, all of which the mask head trains on (its convolutions cost the most).

    Attributes:
        rpn_batch_size_per_image: anchors sampled for the RPN losses.
        rpn_positive_fraction: at most this fraction of them positive.
        rpn_fg_iou: anchor IoU for a positive.
        rpn_bg_iou: anchor IoU below which an anchor is negative.
        box_batch_size_per_image: RoIs sampled for the box head.
        box_positive_fraction: at most this fraction of them positive.
        mask_rois_per_image: positive RoIs the mask head trains on (a static
            count; torchvision takes all positives).
        seed: seeds the anchor and RoI sampling.
    """

    rpn_batch_size_per_image: int = 64
    rpn_positive_fraction: float = 0.5
    rpn_fg_iou: float = 0.7
    rpn_bg_iou: float = 0.3
    box_batch_size_per_image: int = 32
    box_positive_fraction: float = 0.25
    mask_rois_per_image: int = 8
    seed: int | None = None


@keras.saving.register_keras_serializable(package="keras_builder")
def rcnn_identity_loss(y_true, y_pred):
    """The training model already outputs each loss; ``fit`` only averages it."""
    del y_true
    return ops.mean(y_pred, axis=-1)


def _config_dict(config: RCNNTrainingConfig) -> dict:
    return dataclasses.asdict(config)


def _loss_spec(batch):
    return keras.KerasTensor((batch, 1), dtype="float32")


def _per_image(value, like):
    """A scalar broadcast to ``(B, 1)``, so Keras sees one value per image."""
    return ops.ones_like(like[:, :1], dtype="float32") * ops.cast(value, "float32")


@keras.saving.register_keras_serializable(package="keras_builder")
class RPNLoss(keras.layers.Layer):
    """The RPN's objectness and box losses against anchors matched to ``y_true``."""

    def __init__(self, anchors, config, **kwargs):
        super().__init__(**kwargs)
        self.anchors = np.asarray(anchors, dtype=np.float32)
        self.config = config if isinstance(config, RCNNTrainingConfig) else (
            RCNNTrainingConfig(**config))
        self.seed_generator = keras.random.SeedGenerator(self.config.seed)

    def get_config(self):
        return {**super().get_config(), "anchors": self.anchors.tolist(),
                "config": _config_dict(self.config)}

    def call(self, objectness, deltas, y_true):
        from builder.detection.rcnn_losses import rpn_losses
        from builder.detection.rcnn_targets import rpn_targets
        c = self.config
        labels, target_deltas = rpn_targets(
            self.anchors, y_true, fg_iou=c.rpn_fg_iou, bg_iou=c.rpn_bg_iou,
            batch_size_per_image=c.rpn_batch_size_per_image,
            positive_fraction=c.rpn_positive_fraction, seed=self.seed_generator)
        obj_loss, box_loss = rpn_losses(objectness, deltas, labels, target_deltas)
        return _per_image(obj_loss, y_true[:, 0]), _per_image(box_loss, y_true[:, 0])

    def compute_output_spec(self, objectness, deltas, y_true):
        # Symbolic tracing cannot always follow the sampling (JAX: dynamic batch).
        return _loss_spec(y_true.shape[0]), _loss_spec(y_true.shape[0])


@keras.saving.register_keras_serializable(package="keras_builder")
class SampleRoIs(keras.layers.Layer):
    """Proposals -> sampled RoIs with their targets, and the positives for the mask head.

    Returns ``rois (B, S, 4)``, ``classes (B, S)`` (0 background, -1 ignore),
    ``deltas (B, S, 4)``, and the first ``M`` positives: ``mask_rois (B, M, 4)``,
    ``mask_classes (B, M)`` (0 where fewer than ``M`` positives exist, so the
    mask loss skips them) and ``mask_gt_index (B, M)``.
    """

    def __init__(self, config, with_masks: bool, **kwargs):
        super().__init__(**kwargs)
        self.config = config if isinstance(config, RCNNTrainingConfig) else (
            RCNNTrainingConfig(**config))
        self.with_masks = bool(with_masks)
        seed = self.config.seed
        self.seed_generator = keras.random.SeedGenerator(None if seed is None else seed + 1)

    def get_config(self):
        return {**super().get_config(), "config": _config_dict(self.config),
                "with_masks": self.with_masks}

    def call(self, proposals, y_true):
        from builder.detection.rcnn_targets import sample_rois
        c = self.config
        t = sample_rois(ops.stop_gradient(proposals), y_true,
                        num_samples=c.box_batch_size_per_image,
                        positive_fraction=c.box_positive_fraction, seed=self.seed_generator)
        rois = ops.stop_gradient(t["rois"])
        classes = ops.cast(t["classes"], "int32")
        out = [rois, classes, ops.stop_gradient(t["deltas"])]
        if not self.with_masks:
            return out
        # sample_rois puts the positives first, so the first M rows are the mask
        # head's: every positive, up to M; other rows get class 0 (no mask loss).
        m = c.mask_rois_per_image
        mask_classes = classes[:, :m]
        mask_classes = ops.where(mask_classes > 0, mask_classes, 0)
        gt_index = ops.cast(t["gt_index"][:, :m], "int32")
        return out + [rois[:, :m], mask_classes, gt_index]

    def compute_output_spec(self, proposals, y_true):
        b, s, m = y_true.shape[0], self.config.box_batch_size_per_image, \
            self.config.mask_rois_per_image
        out = [keras.KerasTensor((b, s, 4)), keras.KerasTensor((b, s), dtype="int32"),
               keras.KerasTensor((b, s, 4))]
        if self.with_masks:
            out += [keras.KerasTensor((b, m, 4)), keras.KerasTensor((b, m), dtype="int32"),
                    keras.KerasTensor((b, m), dtype="int32")]
        return out


@keras.saving.register_keras_serializable(package="keras_builder")
class BoxHeadLoss(keras.layers.Layer):
    """Classifier and box-regression losses of the box head on the sampled RoIs."""

    def __init__(self, rois_per_image: int, **kwargs):
        super().__init__(**kwargs)
        self.rois_per_image = int(rois_per_image)

    def get_config(self):
        return {**super().get_config(), "rois_per_image": self.rois_per_image}

    def call(self, class_logits, box_deltas, classes, target_deltas):
        from builder.detection.rcnn_losses import box_head_losses
        s = self.rois_per_image
        class_logits = ops.reshape(class_logits, (-1, s, class_logits.shape[-1]))
        box_deltas = ops.reshape(box_deltas, (-1, s, box_deltas.shape[-1]))
        cls_loss, reg_loss = box_head_losses(class_logits, box_deltas, classes, target_deltas)
        return _per_image(cls_loss, classes), _per_image(reg_loss, classes)

    def compute_output_spec(self, class_logits, box_deltas, classes, target_deltas):
        return _loss_spec(classes.shape[0]), _loss_spec(classes.shape[0])


@keras.saving.register_keras_serializable(package="keras_builder")
class MaskHeadLoss(keras.layers.Layer):
    """The mask loss: per-pixel BCE of the RoI's own class channel vs its mask target."""

    def __init__(self, rois_per_image: int, **kwargs):
        super().__init__(**kwargs)
        self.rois_per_image = int(rois_per_image)

    def get_config(self):
        return {**super().get_config(), "rois_per_image": self.rois_per_image}

    def call(self, mask_logits, masks, rois, classes, gt_index):
        from builder.detection.rcnn_losses import mask_loss
        from builder.detection.rcnn_targets import mask_targets
        m = mask_logits.shape[1]
        logits = ops.reshape(mask_logits, (-1, self.rois_per_image, m, m,
                                           mask_logits.shape[-1]))
        targets = ops.stop_gradient(mask_targets(masks, rois, gt_index, size=m))
        return _per_image(mask_loss(logits, classes, targets), classes)

    def compute_output_spec(self, mask_logits, masks, rois, classes, gt_index):
        return _loss_spec(classes.shape[0])


def _layer_inputs(layer) -> list:
    """The tensors a layer of the inference model was called on, as a flat list."""
    x = layer.input
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _unique(tensors) -> list:
    seen, out = set(), []
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def build_training_model(model: keras.Model, max_objects: int, with_masks: bool,
                         config: RCNNTrainingConfig) -> keras.Model:
    """The training graph on the inference ``model``'s own layers (see the module doc).

    Args:
        model: the compiled template (inference); the RPN's anchors are its
            ``proposals`` layer's (the order the RPN flattens its outputs in).
        max_objects: ``K``, rows of padded ground truth per image.
        with_masks: add the mask branch and its loss (Mask R-CNN).
        config: sampling sizes.

    Returns:
        A model ``{image, y_true[, masks]} -> {loss name: (B, 1)}``.
    """
    image_shape = tuple(model.inputs[0].shape[1:])
    image = keras.Input(image_shape, name="image")
    y_true = keras.Input((max_objects, 5), name="y_true")
    inputs = {"image": image, "y_true": y_true}

    rpn = model.get_layer("rpn")
    box_align = model.get_layer("box_roi_align")
    rpn_feeds, box_feeds = _layer_inputs(rpn), _layer_inputs(box_align)[:-1]
    mask_feeds = []
    if with_masks:
        mask_align = model.get_layer("mask_roi_align")
        mask_feeds = _layer_inputs(mask_align)[:-1]
    wanted = _unique(rpn_feeds + box_feeds + mask_feeds)
    # The backbone and FPN as a nested model of the same layers.
    backbone = keras.Model(model.inputs, wanted, name="rcnn_backbone")
    features = dict(zip(map(id, wanted), backbone(image)))

    objectness, deltas = rpn([features[id(t)] for t in rpn_feeds])
    proposal_layer = model.get_layer("proposals")
    proposals = proposal_layer([objectness, deltas])
    losses = {}
    losses["rpn_objectness"], losses["rpn_box"] = RPNLoss(
        proposal_layer.anchors, config, name="rpn_loss")(
        objectness, deltas, y_true)

    sampled = SampleRoIs(config, with_masks, name="sample_rois")(proposals, y_true)
    rois, classes, target_deltas = sampled[:3]
    box_head = keras.Model(box_align.output, [model.get_layer("box_cls").output,
                                              model.get_layer("box_reg").output],
                           name="rcnn_box_head")
    class_logits, box_deltas = box_head(
        box_align([features[id(t)] for t in box_feeds] + [rois]))
    losses["classifier"], losses["box_reg"] = BoxHeadLoss(
        config.box_batch_size_per_image, name="box_loss")(
        class_logits, box_deltas, classes, target_deltas)

    if with_masks:
        masks = keras.Input((max_objects,) + image_shape[:2], name="masks")
        inputs["masks"] = masks
        mask_rois, mask_classes, gt_index = sampled[3:]
        mask_head = keras.Model(mask_align.output, model.get_layer("mask_logits").output,
                                name="rcnn_mask_head")
        mask_logits = mask_head(
            mask_align([features[id(t)] for t in mask_feeds] + [mask_rois]))
        losses["mask"] = MaskHeadLoss(config.mask_rois_per_image, name="mask_loss")(
            mask_logits, masks, mask_rois, mask_classes, gt_index)
    outputs = {name: keras.layers.Identity(name=name)(value)
               for name, value in losses.items()}
    return keras.Model(inputs, outputs, name="rcnn_training")


@dataclass
class RCNN:
    """A trainable two-stage detector (Mask R-CNN, or Faster R-CNN without masks).

    Attributes:
        name: what reports call it.
        graph: the template's graph.
        model: the inference model (``to_keras(graph)``): image -> detections
            (+ mask logits).
        train_model: the training model on the same layers (outputs the losses).
        with_masks: whether it has the mask branch.
        num_classes: object classes (the heads have one more, background).
    """

    name: str
    graph: object
    model: keras.Model
    train_model: keras.Model
    with_masks: bool
    num_classes: int
    _detect: keras.Model | None = field(default=None, init=False, repr=False)

    @property
    def loss_names(self) -> tuple[str, ...]:
        return MASK_LOSSES if self.with_masks else BOX_LOSSES

    def compile(self, learning_rate: float = 1e-3, clipnorm: float | None = 10.0,
                jit_compile: bool | str = "auto") -> None:
        """Adam on the sum of the losses (each one reported as ``<name>_loss``).

        ``jit_compile`` is Keras' (XLA under TensorFlow and JAX when ``"auto"``).
        """
        self.train_model.compile(
            optimizer=keras.optimizers.Adam(learning_rate, clipnorm=clipnorm),
            loss={name: rcnn_identity_loss for name in self.loss_names},
            jit_compile=jit_compile)

    def _inputs(self, images, y_true, masks=None) -> tuple[dict, dict]:
        x = {"image": np.asarray(images, np.float32), "y_true": np.asarray(y_true, np.float32)}
        if self.with_masks:
            if masks is None:
                raise ValueError(f"{self.name} trains on instance masks (N, K, H, W). "
                                 "Received: masks=None")
            x["masks"] = np.asarray(masks, np.float32)
        dummy = np.zeros((len(images), 1), np.float32)
        return x, {name: dummy for name in self.loss_names}

    def fit(self, images, y_true, masks=None, **kwargs):
        """``train_model.fit`` on images, padded ground truth and (Mask R-CNN) masks.

        Keyword arguments go to ``keras.Model.fit`` (``batch_size``, ``epochs``, ...).
        """
        x, y = self._inputs(images, y_true, masks)
        return self.train_model.fit(x, y, **kwargs)

    def losses(self, images, y_true, masks=None, batch_size: int = 16) -> dict:
        """The training losses on a data set (training-time sampling, no update)."""
        x, y = self._inputs(images, y_true, masks)
        values = self.train_model.evaluate(x, y, batch_size=batch_size, verbose=0,
                                           return_dict=True)
        return {name: values[f"{name}_loss"] for name in self.loss_names}

    def detect(self, images, batch_size: int = 32) -> list[tuple]:
        """Per image ``(boxes (D, 4), scores (D,), classes (D,)[, masks (D, H, W) bool])``.

        Score-0 rows are padding (class -1); masks are pasted at image size.
        """
        if self._detect is None:
            self._detect = detection_model(self.model)
        return run_detector(self._detect, images, batch_size)

    def evaluate(self, images, y_true, masks=None, batch_size: int = 32) -> dict:
        """Box recall@0.5, mean mask IoU of matched instances, mAP@0.5, images/s.

        ``images_per_s`` times the detector (network, NMS and mask pasting) after
        one warm-up batch.
        """
        self.detect(images[:batch_size], batch_size=batch_size)  # trace outside the timing
        start = time.perf_counter()
        detections = self.detect(images, batch_size=batch_size)
        elapsed = time.perf_counter() - start
        if masks is None:
            masks = np.zeros(np.shape(y_true)[:2] + np.shape(images)[1:3], np.float32)
        gts = ground_truth_instances(np.asarray(y_true), np.asarray(masks))
        result = evaluate_instances(detections, gts, self.num_classes)
        result["images_per_s"] = len(images) / elapsed
        return result


def detection_model(model: keras.Model) -> keras.Model:
    """The inference model's ``detections`` (and ``masks``, if any) outputs, in that order."""
    outputs = list(model.get_layer("detections").output)
    if any(layer.name == "masks" for layer in model.layers):
        outputs.append(model.get_layer("masks").output)
    return keras.Model(model.inputs, outputs, name="rcnn_detect")


def run_detector(model: keras.Model, images, batch_size: int = 32) -> list[tuple]:
    """Runs :func:`detection_model`'s model; per image ``(boxes, scores, classes[, masks])``.

    Masks come back pasted at image size (bool), empty on padding rows.
    """
    from builder.detection.rcnn_postprocess import paste_masks_numpy
    images = np.asarray(images, np.float32)
    count = len(images)
    # Whole batches only: a smaller last batch would trace the NMS again.
    batch_size = max(1, min(batch_size, count))
    pad = -count % batch_size
    if pad:
        images = np.concatenate([images, np.repeat(images[-1:], pad, axis=0)])
    out = model.predict(images, batch_size=batch_size, verbose=0)
    out = [np.asarray(o)[:count] for o in out]
    size = images.shape[1:3]
    results = []
    for i in range(count):
        boxes, scores, classes = out[0][i], out[1][i], out[2][i]
        if len(out) > 3:
            masks = np.asarray(paste_masks_numpy(out[3][i], boxes, size), bool)
            masks &= (scores > 0)[:, None, None]
            results.append((boxes, scores, classes, masks))
        else:
            results.append((boxes, scores, classes))
    return results


def _build(name: str, template: str, with_masks: bool, num_classes: int,
           max_objects: int, config: RCNNTrainingConfig | None) -> RCNN:
    graph = builder.from_template(template).graph
    model = to_keras(graph)
    config = config or RCNNTrainingConfig()
    train_model = build_training_model(model, max_objects, with_masks, config)
    return RCNN(name, graph, model, train_model, with_masks, num_classes)


def mask_rcnn(template: str = "mask_rcnn_small", num_classes: int = NUM_CLASSES,
              max_objects: int = 3, config: RCNNTrainingConfig | None = None) -> RCNN:
    """Mask R-CNN from a template: inference model + training model on the same layers.

    Args:
        template: a Mask R-CNN template (``mask_rcnn_small`` trains on `shapes`).
        num_classes: object classes (its heads have ``num_classes + 1`` outputs).
        max_objects: ``K``, ground-truth rows per training image.
        config: anchor and RoI sampling sizes.
    """
    return _build("Mask R-CNN", template, True, num_classes, max_objects, config)


def faster_rcnn(template: str = "faster_rcnn_small", num_classes: int = NUM_CLASSES,
                max_objects: int = 3, config: RCNNTrainingConfig | None = None) -> RCNN:
    """Faster R-CNN (boxes only) from a template; see :func:`mask_rcnn`."""
    return _build("Faster R-CNN", template, False, num_classes, max_objects, config)

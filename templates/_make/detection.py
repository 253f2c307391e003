"""Single-shot detectors: SSD300 (VGG-16), a small SSD and a small YOLO for `shapes`.

Every detector ends in one tensor the losses of :mod:`builder.detection` read:
SSD ``(N, 4 + classes)`` per image (box offsets, then background + class logits
for each of the N default boxes), YOLO ``(S, S, B*5 + C)``.
"""

from __future__ import annotations

from chain import Net

_SSD_NOTE = (
    " Each head is a 3x3 conv per feature map giving A*4 box offsets and A*classes "
    "scores per cell (A = anchors per location), reshaped to one row per default box "
    "and concatenated; the output joins offsets and scores on the last axis. Its Output "
    "trains with the MultiBox loss (smooth L1 + softmax cross-entropy with "
    "3:1 hard-negative mining; matching and encoding inside the loss).")


def _shapes_detection(project, detection: dict, size: int):
    """Training settings for `builder train` on the shapes detection scenes."""
    project.training = {"optimizer": {"name": "adam", "learning_rate": 0.002},
                        "epochs": 10, "batch_size": 32, "seed": 0, "detection": detection}
    project.dataset = {"name": "shapes", "task": "detection", "image_size": size,
                       "samples": 1500, "validation_split": 0.2}
    return project


def _heads(net: Net, sources: list[tuple[str, int]], classes: int, kernel: int = 3) -> str:
    """Box and class heads on every ``(node, anchors)`` source, joined into one output."""
    locs, confs = [], []
    for k, (src, anchors) in enumerate(sources):
        net.conv(f"loc{k}", anchors * 4, kernel, activation="linear", after=src)
        locs.append(net.add("Reshape", f"loc{k}_flat", target_shape=[-1, 4]))
        net.conv(f"conf{k}", anchors * classes, kernel, activation="linear", after=src)
        confs.append(net.add("Reshape", f"conf{k}_flat", target_shape=[-1, classes]))
    loc = net.add("Concatenate", "loc", after=locs, axis=1)
    conf = net.add("Concatenate", "conf", after=confs, axis=1)
    return net.add("Concatenate", "detections", after=[loc, conf], axis=-1)


def ssd300(classes: int = 91):
    """SSD300 with torchvision's VGG-16 backbone (ssd300_vgg16)."""
    net = Net([300, 300, 3])
    widths = [(64, 2), (128, 2), (256, 3), (512, 3)]
    for b, (f, n) in enumerate(widths, start=1):
        for i in range(1, n + 1):
            net.conv(f"block{b}_conv{i}", f, 3)
        if b < 4:
            # pool3 rounds up (torch ceil_mode): 75 -> 38, as "same" does.
            net.add("MaxPool2D", f"block{b}_pool", pool_size=2, strides=2,
                    padding="same" if b == 3 else "valid")
    conv4_3 = net.at
    net.add("L2Normalization", "conv4_3_norm", after=conv4_3)
    norm = net.at
    net.add("MaxPool2D", "block4_pool", after=conv4_3, pool_size=2, strides=2)
    for i in range(1, 4):
        net.conv(f"block5_conv{i}", 512, 3)
    net.add("MaxPool2D", "block5_pool", pool_size=3, strides=1, padding="same")
    net.conv("fc6", 1024, 3, dilation_rate=6)
    fc7 = net.conv("fc7", 1024, 1)
    extras = [(256, 512, 2, 1), (128, 256, 2, 1), (128, 256, 1, "valid"),
              (128, 256, 1, "valid")]
    sources = [(norm, 4), (fc7, 6)]
    for k, (mid, out, stride, pad) in enumerate(extras, start=8):
        net.conv(f"conv{k}_1", mid, 1)
        net.conv(f"conv{k}_2", out, 3, strides=stride, padding=pad)
        sources.append((net.at, 6 if k < 10 else 4))
    _heads(net, sources, classes)
    net.output(loss="multibox", metrics=[])
    return net.project(
        "SSD300 (VGG-16)",
        "Liu et al. 2016, 'SSD: Single Shot MultiBox Detector', as torchvision builds "
        "ssd300_vgg16: VGG-16's convolutions without its FC layers (pool3 rounds up, "
        "75 -> 38), conv4_3 L2-normalised with 512 learned gains, pool5 3x3/1, fc6 as a "
        "3x3 conv with dilation 6 and fc7 as a 1x1 conv (1024 channels each), then four "
        "extra 1x1 -> 3x3 layers. Six feature maps 38, 19, 10, 5, 3, 1 with 4, 6, 6, 6, 4, "
        "4 default boxes per location give 8,732 boxes. At 91 classes (COCO with "
        "background) it has 35,641,826 parameters, torchvision's count: 14,714,688 for "
        "the thirteen VGG convs (torchvision's backbone keeps no FC layer: VGG's 123.6M "
        "FC weights are not part of it) + 512 L2 gains (one per conv4_3 channel) + "
        "5,769,216 for fc6 and fc7 + 2,459,520 for the four extra layers + 12,697,890 "
        "for the 3x3 box and class heads." + _SSD_NOTE)


def ssd_small(classes: int = 4, size: int = 64):
    """A small SSD for 64x64 `shapes` images: 8x8, 4x4, 2x2 and 1x1 feature maps."""
    net = Net([size, size, 3])
    net.add("ConvBN", "conv1", filters=16, kernel_size=3, strides=2)   # 32
    net.add("ConvBN", "conv2", filters=32, kernel_size=3, strides=2)   # 16
    net.add("ConvBN", "conv3", filters=64, kernel_size=3)
    net.add("ConvBN", "conv4", filters=64, kernel_size=3, strides=2)   # 8
    f8 = net.add("ConvBN", "conv5", filters=96, kernel_size=3)
    f4 = net.add("ConvBN", "conv6", filters=96, kernel_size=3, strides=2)  # 4
    f2 = net.add("ConvBN", "conv7", filters=96, kernel_size=3, strides=2)  # 2
    f1 = net.add("ConvBN", "conv8", filters=96, kernel_size=2, padding="valid")  # 1
    _heads(net, [(f8, 4), (f4, 4), (f2, 4), (f1, 4)], classes)
    net.output(loss="multibox", metrics=[])
    project = net.project(
        "Small SSD (shapes)",
        f"An SSD for {size}x{size} images that trains on the built-in `shapes` detection "
        "data on a CPU: five conv-BN-ReLU layers down to 8x8, then 4x4, 2x2 and 1x1 "
        "feature maps, 4 default boxes per location (ratios 1, 1', 2, 1/2; scales 0.15 "
        f"to 0.75), 340 boxes; {classes} scores per box = background + circle, square, "
        "triangle." + _SSD_NOTE)
    # The scales of builder.detection.models.SSD_SMALL; ratios follow from 4 boxes/cell.
    return _shapes_detection(project, {"min_scale": 0.15, "max_scale": 0.75}, size)


def yolo_small(size: int = 64, grid: int = 4, boxes: int = 2, classes: int = 3):
    """A YOLO v1-style grid detector: S x S cells, B boxes of 5 numbers, C classes."""
    net = Net([size, size, 3])
    # The small SSD's backbone, so that the two detectors differ only in their heads.
    net.add("ConvBN", "conv1", filters=16, kernel_size=3, strides=2)
    net.add("ConvBN", "conv2", filters=32, kernel_size=3, strides=2)
    net.add("ConvBN", "conv3", filters=64, kernel_size=3)
    net.add("ConvBN", "conv4", filters=64, kernel_size=3, strides=2)
    net.add("ConvBN", "conv5", filters=96, kernel_size=3)
    net.add("ConvBN", "conv6", filters=128, kernel_size=3,
            strides=size // (8 * grid))  # 8x8 -> S x S
    net.add("Flatten", "flatten")
    net.dense("fc1", 256, activation="leaky_relu")
    net.dense("fc2", grid * grid * (boxes * 5 + classes), activation="linear")
    net.add("Reshape", "grid", target_shape=[grid, grid, boxes * 5 + classes])
    net.output(loss="yolo", metrics=[])
    project = net.project(
        "Small YOLO (shapes)",
        f"Redmon et al. 2016, 'You Only Look Once', scaled down for {size}x{size} `shapes` "
        "images: the small SSD's conv-BN-ReLU backbone, then two FC layers that predict "
        f"an S x S = {grid}x{grid} grid, each cell B = {boxes} boxes (x, y, sqrt w, "
        f"sqrt h, confidence) and C = {classes} class scores. Trained with YOLO's sum-squared loss "
        "(lambda_coord = 5, lambda_noobj = 0.5) from builder.detection.yolo.")
    return _shapes_detection(project, {"boxes": boxes}, size)

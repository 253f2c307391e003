"""Semantic segmentation and localization templates (the lecture's last third).

FCN-8s (Long, Shelhamer & Darrell 2015), SegNet (Badrinarayanan, Kendall &
Cipolla 2015; DeconvNet's max unpooling with a VGG-16 encoder) and U-Net
(Ronneberger, Fischer & Brox 2015), each at the paper's size and as a small
variant that trains on the built-in ``shapes`` masks (4 classes: background,
circle, square, triangle); and a classification + box-regression network with
two heads on one backbone.
"""

from __future__ import annotations

from chain import Net

#: Per-pixel classes of the shapes data set: background + the three shapes.
SHAPES_CLASSES = 4

#: Per-pixel softmax cross-entropy and mean IoU (Keras' MeanIoU over the classes).
_SEG_HEAD = {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy", "mean_iou"]}


def _shapes_training(project, size: int, epochs: int = 8):
    # The small variants train out of the box on masks that ship offline.
    project.training = {"optimizer": {"name": "adam", "learning_rate": 0.003},
                        "epochs": epochs, "batch_size": 16, "seed": 0}
    project.dataset = {"name": "shapes", "task": "segmentation", "image_size": size,
                       "samples": 600, "validation_split": 0.2}
    return project


# -- FCN-8s -------------------------------------------------------------------

_VGG16 = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def fcn8s(input_shape=(224, 224, 3), classes: int = 21, widths=_VGG16, fc: int = 4096,
          fc_kernel: int = 7, small: bool = False):
    """FCN-8s: VGG-16 convolutionalised, scores fused from pool4 and pool3."""
    net = Net(list(input_shape))
    pools = []
    for b, convs in enumerate(widths, start=1):
        for i, filters in enumerate(convs, start=1):
            net.conv(f"block{b}_conv{i}", filters, 3)
        pools.append(net.add("MaxPool2D", f"block{b}_pool", pool_size=2, strides=2))
    # fc6/fc7 as convolutions: the 7x7x512 -> 4096 FC becomes a 7x7 conv.
    net.conv("fc6", fc, fc_kernel)
    net.add("Dropout", "drop6", rate=0.5)
    net.conv("fc7", fc, 1)
    net.add("Dropout", "drop7", rate=0.5)
    net.conv("score_fr", classes, 1, activation="linear")
    # 2x up (learned, bilinear-initialised in the paper), fuse pool4's scores,
    # 2x up again, fuse pool3's scores, then 8x up back to the input size.
    net.add("Conv2DTranspose", "upscore2", filters=classes, kernel_size=4, strides=2,
            padding="same", use_bias=False)
    net.conv("score_pool4", classes, 1, activation="linear", after=pools[3])
    net.add("Add", "fuse_pool4", after=["upscore2", "score_pool4"])
    net.add("Conv2DTranspose", "upscore_pool4", filters=classes, kernel_size=4, strides=2,
            padding="same", use_bias=False)
    net.conv("score_pool3", classes, 1, activation="linear", after=pools[2])
    net.add("Add", "fuse_pool3", after=["upscore_pool4", "score_pool3"])
    net.add("Conv2DTranspose", "upscore8", filters=classes, kernel_size=16, strides=8,
            padding="same", use_bias=False)
    net.add("Softmax", "pixel_softmax")
    net.output(**_SEG_HEAD)
    if small:
        project = net.project(
            "FCN-8s (small)",
            "FCN-8s at 64x64 with a narrow VGG-style backbone (five blocks of 3x3 convs "
            "and 2x2 pooling, 8 to 64 filters), fc6/fc7 as 2x2 and 1x1 convs, and the same "
            "skip architecture as the full template: scores from pool5 up 2x + pool4's, "
            "up 2x + pool3's, up 8x to 64x64. 4 per-pixel classes for the shapes masks "
            "(background, circle, square, triangle); per-pixel softmax cross-entropy, "
            "mean IoU.")
        return _shapes_training(project, input_shape[0])
    return net.project(
        "FCN-8s (VGG-16)",
        "Long, Shelhamer & Darrell 2015, 'Fully Convolutional Networks for Semantic "
        "Segmentation': VGG-16's 13 convs and five pools, fc6 and fc7 as 7x7 and 1x1 "
        "convolutions (4096 filters, dropout 0.5), a 1x1 score layer, and the skip "
        "architecture: 2x transpose-conv upsampling of the pool5 scores added to 1x1 "
        "scores of pool4, 2x up again plus scores of pool3, then 8x up (16x16 kernel, "
        "stride 8) to the input's size; per-pixel softmax over 21 PASCAL VOC classes. "
        "'same' padding replaces the paper's 100-pixel pad and crops, so shapes stay "
        "aligned at 224x224.")


def fcn8s_small():
    """FCN-8s at 64x64 for the shapes masks."""
    return fcn8s((64, 64, 3), SHAPES_CLASSES,
                 widths=((8,), (16,), (32, 32), (64, 64), (64, 64)), fc=128, fc_kernel=2,
                 small=True)


# -- SegNet (encoder-decoder with max unpooling) ------------------------------

def segnet(input_shape=(224, 224, 3), classes: int = 12, widths=_VGG16, small: bool = False):
    """SegNet: a VGG-16 encoder whose pooling indices drive a mirrored decoder."""
    net = Net(list(input_shape))
    pools = []
    for b, convs in enumerate(widths, start=1):
        for i, filters in enumerate(convs, start=1):
            _conv_bn(net, f"enc{b}_conv{i}", filters)
        pools.append(net.add("MaxPoolWithArgmax2D", f"enc{b}_pool", pool_size=2))
    for b in range(len(widths), 0, -1):
        # Unpool with the indices of the mirror encoder's pooling, then convs
        # back down to the previous block's width.
        unpool = net.add("MaxUnpool2D", f"dec{b}_unpool", pool_size=2)
        net.graph.connect(pools[b - 1], unpool, src_port="indices", dst_port="indices")
        convs = widths[b - 1]
        out = widths[b - 2][-1] if b > 1 else convs[0]
        for i in range(len(convs), 0, -1):
            _conv_bn(net, f"dec{b}_conv{i}", convs[i - 1] if i > 1 else out)
    net.conv("classifier", classes, 1, activation="softmax")
    net.output(**_SEG_HEAD)
    if small:
        project = net.project(
            "SegNet (small)",
            "SegNet/DeconvNet-style encoder-decoder at 32x32: three encoder blocks of "
            "3x3 conv + batch norm + ReLU, each ending in a max pooling that remembers "
            "where its maxima were (the lecture's 'Remember which element was max!'); "
            "the decoder mirrors it, max-unpooling with those positions and convolving "
            "the sparse maps dense again; 1x1 conv to 4 per-pixel classes (shapes masks: "
            "background, circle, square, triangle), softmax, mean IoU.")
        return _shapes_training(project, input_shape[0])
    return net.project(
        "SegNet (VGG-16 encoder)",
        "Badrinarayanan, Kendall & Cipolla 2015, 'SegNet': the 13 convolutions of "
        "VGG-16 (with batch norm) as encoder, no fully connected layers; each 2x2 max "
        "pooling passes its argmax indices to the mirror decoder block, whose max "
        "unpooling puts values back where the maxima were (DeconvNet, Noh et al. 2015) "
        "before 3x3 convs densify them; a 1x1 conv and softmax give 12 per-pixel "
        "classes (CamVid's 11 + void) at 224x224.")


def _conv_bn(net: Net, name: str, filters: int) -> str:
    net.conv(name, filters, 3, activation="linear", use_bias=False)
    net.add("BatchNormalization", f"{name}_bn")
    return net.add("ReLU", f"{name}_relu")


def segnet_small():
    """SegNet at 32x32 for the shapes masks."""
    return segnet((32, 32, 3), SHAPES_CLASSES, widths=((16,), (32,), (64, 64)), small=True)


# -- U-Net --------------------------------------------------------------------

def unet(input_shape=(572, 572, 1), classes: int = 2, base: int = 64, depth: int = 4,
         padding: str = "valid", small: bool = False):
    """U-Net: contracting path, expanding path with up-convs and copy-and-crop."""
    net = Net(list(input_shape))
    size = input_shape[0]
    skips = []
    for level in range(depth):
        filters = base * 2 ** level
        net.conv(f"down{level + 1}_conv1", filters, 3, padding=padding)
        skip = net.conv(f"down{level + 1}_conv2", filters, 3, padding=padding)
        if padding == "valid":
            size -= 4
        skips.append((skip, size))
        net.add("MaxPool2D", f"down{level + 1}_pool", pool_size=2, strides=2)
        size //= 2
    filters = base * 2 ** depth
    net.conv("bottom_conv1", filters, 3, padding=padding)
    net.conv("bottom_conv2", filters, 3, padding=padding)
    if padding == "valid":
        size -= 4
    for level in range(depth, 0, -1):
        filters = base * 2 ** (level - 1)
        # "up-convolution": 2x2 transpose conv that halves the channels.
        up = net.add("Conv2DTranspose", f"up{level}_upconv", filters=filters,
                     kernel_size=2, strides=2, padding="valid")
        size *= 2
        skip, skip_size = skips[level - 1]
        if skip_size != size:
            # Copy and crop: the valid convs lost border pixels the other path kept.
            crop = (skip_size - size) // 2
            skip = net.add("Cropping2D", f"up{level}_crop", after=skip,
                           cropping=[[crop, skip_size - size - crop]] * 2)
        net.add("Concatenate", f"up{level}_concat", after=[skip, up])
        net.conv(f"up{level}_conv1", filters, 3, padding=padding)
        net.conv(f"up{level}_conv2", filters, 3, padding=padding)
        if padding == "valid":
            size -= 4
    net.conv("classifier", classes, 1, activation="softmax")
    net.output(**_SEG_HEAD)
    if small:
        project = net.project(
            "U-Net (small)",
            f"U-Net at {input_shape[0]}x{input_shape[0]} with 'same' padding (no "
            f"cropping needed), {depth} levels starting at {base} filters, 2x2 "
            "up-convolutions and skip concatenations; 1x1 conv to 4 per-pixel classes "
            "for the shapes masks (background, circle, square, triangle), softmax, "
            "mean IoU.")
        return _shapes_training(project, input_shape[0])
    return net.project(
        "U-Net",
        "Ronneberger, Fischer & Brox 2015, 'U-Net', Figure 1: a 572x572x1 tile, four "
        "contracting steps of two unpadded 3x3 convs + ReLU and 2x2 max pooling "
        "(64 -> 1024 channels), an expanding path of 2x2 up-convolutions that halve the "
        "channels, concatenation with the cropped feature map of the contracting path "
        "(unpadded convs lose a border), two 3x3 convs each, and a 1x1 conv to 2 "
        "classes on the 388x388 output map; per-pixel softmax cross-entropy.")


def unet_small():
    """U-Net at 32x32 for the shapes masks."""
    return unet((32, 32, 3), SHAPES_CLASSES, base=8, depth=3, padding="same", small=True)


# -- classification + localization -------------------------------------------

def localization(input_shape=(32, 32, 3), classes: int = 3):
    """One backbone, two heads: class scores and a box, each with its own loss."""
    net = Net(list(input_shape))
    for b, filters in enumerate((16, 32, 64), start=1):
        net.conv(f"block{b}_conv1", filters, 3)
        net.conv(f"block{b}_conv2", filters, 3)
        net.add("MaxPool2D", f"block{b}_pool", pool_size=2, strides=2)
    net.add("Flatten", "flatten")
    features = net.dense("fc", 128)
    net.dense("class_scores", classes, activation="softmax")
    net.output("class_output", loss="sparse_categorical_crossentropy", loss_weight=1.0,
               metrics=["accuracy"])
    # The box is regressed as (y1, x1, y2, x2) / image size, hence the sigmoid.
    net.dense("box", 4, activation="sigmoid", after=features)
    net.output("box_output", loss="huber", loss_weight=10.0, metrics=[])
    project = net.project(
        "Classification + localization",
        "The lecture's 'treat localization as a regression problem': one CNN backbone "
        "(three blocks of two 3x3 convs and 2x2 pooling, FC-128) and two heads, class "
        "scores (softmax, cross-entropy) and a bounding box (4 numbers y1, x1, y2, x2 "
        "as fractions of the image size, sigmoid, Huber loss), trained together with "
        "loss weights 1 and 10. Sized for the shapes data set with one object per "
        "32x32 image (3 classes).")
    project.training = {"optimizer": {"name": "adam", "learning_rate": 0.001},
                        "epochs": 10, "batch_size": 32, "seed": 0}
    project.dataset = {"name": "shapes", "task": "localization", "image_size": 32,
                       "samples": 1000, "validation_split": 0.2}
    return project


#: file stem -> function building the template (merged into make.py's TEMPLATES)
TEMPLATES = {
    "fcn8s": fcn8s,
    "fcn8s_small": fcn8s_small,
    "segnet": segnet,
    "segnet_small": segnet_small,
    "unet": unet,
    "unet_small": unet_small,
    "localization": localization,
}

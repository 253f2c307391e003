"""The ImageNet winners before ResNet drawn as plain stacks: AlexNet, ZF Net, VGG."""

from __future__ import annotations

from chain import Net

# -- AlexNet --------------------------------------------------------------------


def alexnet():
    """AlexNet as the paper draws it: two GPU towers as groups=2 convs."""
    net = Net([227, 227, 3])
    net.conv("conv1", 96, 11, strides=4, padding="valid")
    net.add("LRN", "norm1")
    net.add("MaxPool2D", "pool1", pool_size=3, strides=2)
    net.conv("conv2", 256, 5, padding=2, groups=2)
    net.add("LRN", "norm2")
    net.add("MaxPool2D", "pool2", pool_size=3, strides=2)
    net.conv("conv3", 384, 3, padding=1)
    net.conv("conv4", 384, 3, padding=1, groups=2)
    net.conv("conv5", 256, 3, padding=1, groups=2)
    net.add("MaxPool2D", "pool5", pool_size=3, strides=2)
    net.add("Flatten", "flatten")
    net.dense("fc6", 4096)
    net.add("Dropout", "drop6", rate=0.5)
    net.dense("fc7", 4096)
    net.add("Dropout", "drop7", rate=0.5)
    net.dense("fc8", 1000, activation="softmax")
    net.output()
    return net.project(
        "AlexNet",
        "Krizhevsky, Sutskever & Hinton 2012, Figure 2: 227x227x3 input (the paper's "
        "'224' does not give its 55x55 maps), conv1 96@11x11/4, LRN, 3x3/2 overlapping "
        "max pool, conv2 256@5x5, LRN, pool, conv3 384@3x3, conv4 384@3x3, conv5 256@3x3, "
        "pool, FC-4096, FC-4096 (dropout 0.5 on both), FC-1000 softmax. The paper's two "
        "GPUs are groups=2 on conv2, conv4 and conv5 (each half sees only its own GPU's "
        "maps), as in Caffe's bvlc_alexnet reference model: 60,965,224 parameters. Set "
        "groups to 1 for the one-tower network (62,378,344). torchvision's alexnet is a "
        "different, later variant: see the 'alexnet_torchvision' template.")


def alexnet_torchvision():
    """torchvision.models.alexnet: the one-tower variant of 'One weird trick'."""
    net = Net([224, 224, 3])
    net.conv("features_0", 64, 11, strides=4, padding=2)
    net.add("MaxPool2D", "features_2", pool_size=3, strides=2)
    net.conv("features_3", 192, 5, padding=2)
    net.add("MaxPool2D", "features_5", pool_size=3, strides=2)
    net.conv("features_6", 384, 3, padding=1)
    net.conv("features_8", 256, 3, padding=1)
    net.conv("features_10", 256, 3, padding=1)
    net.add("MaxPool2D", "features_12", pool_size=3, strides=2)
    net.add("Flatten", "flatten")
    net.add("Dropout", "classifier_0", rate=0.5)
    net.dense("classifier_1", 4096)
    net.add("Dropout", "classifier_3", rate=0.5)
    net.dense("classifier_4", 4096)
    net.dense("classifier_6", 1000, activation="softmax")
    net.output()
    return net.project(
        "AlexNet (torchvision)",
        "torchvision.models.alexnet, after Krizhevsky 2014 'One weird trick for "
        "parallelizing convolutional neural networks': one tower, 224x224x3 input, "
        "conv 64@11x11/4 pad 2, 3x3/2 max pool, conv 192@5x5, pool, conv 384, 256, 256 "
        "@3x3, pool, dropout, FC-4096, dropout, FC-4096, FC-1000; no LRN. torchvision "
        "reports 61,100,840 parameters. Its first conv floors (224 - 11 + 4)/4 + 1 = 55.25 "
        "to 55 (the analysis points this out); its AdaptiveAvgPool2d(6) is the identity "
        "on the 6x6 maps of a 224x224 input and is left out. Node names follow "
        "torchvision's module paths.")


# -- ZF Net ---------------------------------------------------------------------


def zfnet():
    """ZF Net as Zeiler & Fergus' Figure 3 draws it."""
    net = Net([224, 224, 3])
    net.conv("conv1", 96, 7, strides=2, padding=1)
    net.add("MaxPool2D", "pool1", pool_size=3, strides=2, padding="same")
    net.add("LRN", "norm1")
    net.conv("conv2", 256, 5, strides=2, padding="valid")
    net.add("MaxPool2D", "pool2", pool_size=3, strides=2, padding="same")
    net.add("LRN", "norm2")
    net.conv("conv3", 384, 3, padding=1)
    net.conv("conv4", 384, 3, padding=1)
    net.conv("conv5", 256, 3, padding=1)
    net.add("MaxPool2D", "pool5", pool_size=3, strides=2)
    net.add("Flatten", "flatten")
    net.dense("fc6", 4096)
    net.add("Dropout", "drop6", rate=0.5)
    net.dense("fc7", 4096)
    net.add("Dropout", "drop7", rate=0.5)
    net.dense("fc8", 1000, activation="softmax")
    net.output()
    return net.project(
        "ZF Net",
        "Zeiler & Fergus 2013, 'Visualizing and Understanding Convolutional Networks', "
        "Figure 3: 224x224x3 input, conv1 96@7x7/2 (110x110), 3x3/2 max pool (55x55), "
        "contrast normalisation across maps (LRN), conv2 256@5x5/2 (26x26), pool (13x13), "
        "LRN, conv3 384@3x3, conv4 384@3x3, conv5 256@3x3 (13x13), 3x3/2 pool (6x6), "
        "FC-4096, FC-4096 (dropout 0.5), FC-1000 softmax: 62,357,608 parameters by the "
        "figure's sizes (one GPU, no groups; the paper states no total). conv1's pad 1 "
        "floors (224 - 7 + 2)/2 + 1 = 110.5 to the figure's 110, as the analysis notes.")


# -- VGG --------------------------------------------------------------------------

#: The VGG paper's Table 1, one row of (kernel, filters) lists per block.
VGG_CONFIGS = {
    "A": [[(3, 64)], [(3, 128)], [(3, 256)] * 2, [(3, 512)] * 2, [(3, 512)] * 2],
    "B": [[(3, 64)] * 2, [(3, 128)] * 2, [(3, 256)] * 2, [(3, 512)] * 2, [(3, 512)] * 2],
    "C": [[(3, 64)] * 2, [(3, 128)] * 2, [(3, 256)] * 2 + [(1, 256)],
          [(3, 512)] * 2 + [(1, 512)], [(3, 512)] * 2 + [(1, 512)]],
    "D": [[(3, 64)] * 2, [(3, 128)] * 2, [(3, 256)] * 3, [(3, 512)] * 3, [(3, 512)] * 3],
    "E": [[(3, 64)] * 2, [(3, 128)] * 2, [(3, 256)] * 4, [(3, 512)] * 4, [(3, 512)] * 4],
}

_VGG_TITLES = {
    "A": ("VGG-11 (configuration A)", 11),
    "A-LRN": ("VGG-11 with LRN (configuration A-LRN)", 11),
    "B": ("VGG-13 (configuration B)", 13),
    "C": ("VGG-16 with 1x1 convs (configuration C)", 16),
    "D": ("VGG-16 (configuration D)", 16),
    "E": ("VGG-19 (configuration E)", 19),
}

#: Table 2 of the paper (and the lecture): parameters in millions.
VGG_TABLE_2 = {"A": 133, "A-LRN": 133, "B": 133, "C": 134, "D": 138, "E": 144}


def vgg(config: str, input_shape=(224, 224, 3), classes: int = 1000):
    """VGG configuration ``config`` (A, A-LRN, B, C, D, E) of Simonyan & Zisserman."""
    blocks = VGG_CONFIGS["A" if config == "A-LRN" else config]
    net = Net(list(input_shape))
    for b, convs in enumerate(blocks, start=1):
        for i, (kernel, filters) in enumerate(convs, start=1):
            net.conv(f"block{b}_conv{i}", filters, kernel)
            if config == "A-LRN" and b == 1:
                # The paper: LRN "as in Krizhevsky" right after the first conv.
                net.add("LRN", "block1_lrn")
        net.add("MaxPool2D", f"block{b}_pool", pool_size=2, strides=2)
    net.add("Flatten", "flatten")
    net.dense("fc1", 4096)
    net.dense("fc2", 4096)
    net.dense("predictions", classes, activation="softmax")
    net.output()
    title, depth = _VGG_TITLES[config]
    extra = {
        "A-LRN": " Configuration A with local response normalisation after the first "
                 "conv (the paper found it does not help); LRN has no weights.",
        "C": " Configuration C adds a 1x1 conv (conv1) at the end of blocks 3, 4 and 5.",
        "D": " Layer names follow keras.applications.VGG16.",
        "E": " Layer names follow keras.applications.VGG19.",
    }.get(config, "")
    return net.project(
        title,
        f"Simonyan & Zisserman 2014, 'Very Deep Convolutional Networks', Table 1 "
        f"configuration {config}: {depth} weight layers, 3x3 'same' convs in five blocks "
        f"each ending in 2x2/2 max pooling, then FC-4096, FC-4096, FC-1000 softmax on "
        f"224x224x3. Table 2 (and the lecture) give {VGG_TABLE_2[config]}M parameters. "
        f"The paper trains with dropout 0.5 on fc1 and fc2; add Dropout nodes for that "
        f"(keras.applications leaves them out).{extra}")

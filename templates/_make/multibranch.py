"""Networks of multi-branch modules: GoogLeNet, Inception v3, DenseNet-121,
SqueezeNet 1.0/1.1 and a small FractalNet, each module one composite node."""

from __future__ import annotations

from chain import Net

# -- GoogLeNet ------------------------------------------------------------------

#: Table 1 of Szegedy et al. 2014: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5,
#: pool proj of each inception module.
GOOGLENET_TABLE_1 = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128), "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
_V1_FIELDS = ("f1x1", "f3x3_reduce", "f3x3", "f5x5_reduce", "f5x5", "pool_proj")


def _inception(net: Net, module: str) -> str:
    return net.add("InceptionV1", f"inception_{module}",
                   **dict(zip(_V1_FIELDS, GOOGLENET_TABLE_1[module])))


def googlenet():
    """GoogLeNet with its two auxiliary classifiers: three Output heads."""
    net = Net([224, 224, 3])
    net.conv("conv1", 64, 7, strides=2)
    net.add("MaxPool2D", "pool1", pool_size=3, strides=2, padding="same")
    net.add("LRN", "norm1")
    net.conv("conv2_reduce", 64, 1)
    net.conv("conv2", 192, 3)
    net.add("LRN", "norm2")
    net.add("MaxPool2D", "pool2", pool_size=3, strides=2, padding="same")
    _inception(net, "3a")
    _inception(net, "3b")
    net.add("MaxPool2D", "pool3", pool_size=3, strides=2, padding="same")
    a4 = _inception(net, "4a")
    net.add("AuxClassifier", "aux1", after=a4, loss_weight=0.3)
    net.at = a4
    _inception(net, "4b")
    _inception(net, "4c")
    d4 = _inception(net, "4d")
    net.add("AuxClassifier", "aux2", after=d4, loss_weight=0.3)
    net.at = d4
    _inception(net, "4e")
    net.add("MaxPool2D", "pool4", pool_size=3, strides=2, padding="same")
    _inception(net, "5a")
    _inception(net, "5b")
    net.add("GlobalAvgPool2D", "avg_pool")
    net.add("Dropout", "dropout", rate=0.4)
    net.dense("predictions", 1000, activation="softmax")
    net.output()
    return net.project(
        "GoogLeNet (Inception v1)",
        "Szegedy et al. 2014, 'Going Deeper with Convolutions', Table 1 and Figure 3: "
        "stem (conv 7x7/2 64, 3x3/2 max pool, LRN, conv 1x1 64, conv 3x3 192, LRN, "
        "max pool), inception modules 3a-3b, 4a-4e, 5a-5b with Table 1's widths "
        "(pooling 3x3/2 between groups), 7x7 average pool (global), dropout 0.4, "
        "FC-1000 softmax; 22 weight layers. Two auxiliary classifiers on 4a and 4d "
        "(5x5/3 average pool, 1x1 conv 128, FC-1024, dropout 0.7, FC-1000 softmax) "
        "add their losses with weight 0.3 (the 'loss_weight' of aux1/aux2): the "
        "model has three outputs and trains on the weighted sum of their losses. "
        "Table 1 lists each layer's weights (in units of 1,024); the main network has "
        "about 7M parameters and each auxiliary head 3.2M.")


# -- Inception v3 ------------------------------------------------------------------


def inception_v3():
    """keras.applications.InceptionV3: the factorised modules of Szegedy et al. 2016."""
    net = Net([299, 299, 3])

    def conv_bn(node_id, filters, kernel, strides=1, padding="same"):
        net.add("ConvBN", node_id, filters=filters, kernel_size=kernel, strides=strides,
                padding=padding)
    conv_bn("conv1", 32, 3, 2, "valid")
    conv_bn("conv2", 32, 3, 1, "valid")
    conv_bn("conv3", 64, 3)
    net.add("MaxPool2D", "pool1", pool_size=3, strides=2)
    conv_bn("conv4", 80, 1, 1, "valid")
    conv_bn("conv5", 192, 3, 1, "valid")
    net.add("MaxPool2D", "pool2", pool_size=3, strides=2)
    for i, pool_features in enumerate((32, 64, 64)):
        net.add("InceptionA", f"mixed{i}", pool_features=pool_features)
    net.add("InceptionB", "mixed3")
    for i, channels in zip(range(4, 8), (128, 160, 160, 192)):
        net.add("InceptionC", f"mixed{i}", channels_7x7=channels)
    net.add("InceptionD", "mixed8")
    net.add("InceptionE", "mixed9")
    net.add("InceptionE", "mixed10")
    net.add("GlobalAvgPool2D", "avg_pool")
    net.dense("predictions", 1000, activation="softmax")
    net.output()
    return net.project(
        "Inception v3",
        "Szegedy, Vanhoucke, Ioffe, Shlens & Wojna 2016, 'Rethinking the Inception "
        "Architecture', Table 1: BatchNorm everywhere, 5x5 convs factorised into two "
        "3x3 (mixed0-2, 35x35), n x n into 1 x n + n x 1 (mixed4-7, 17x17, n = 7), "
        "grid reductions (mixed3, mixed8) and expanded-filter-bank modules (mixed9-10, "
        "8x8) on 299x299x3. Follows keras.applications.InceptionV3 exactly "
        "(23,851,784 parameters), which leaves out the paper's auxiliary classifier; "
        "add an AuxClassifier on mixed7 for it.")


# -- DenseNet-121 -----------------------------------------------------------------------


def densenet121():
    """keras.applications.DenseNet121: dense blocks of 6/12/24/16 layers."""
    net = Net([224, 224, 3])
    net.add("ZeroPadding2D", "zero_padding2d", padding=3)
    net.conv("conv1_conv", 64, 7, strides=2, padding="valid", activation="linear",
             use_bias=False)
    net.add("BatchNormalization", "conv1_bn", epsilon=1.001e-5)
    net.add("Activation", "conv1_relu", activation="relu")
    net.add("ZeroPadding2D", "zero_padding2d_1", padding=1)
    net.add("MaxPool2D", "pool1", pool_size=3, strides=2)
    for i, layers in enumerate((6, 12, 24, 16), start=2):
        net.add("DenseBlock", f"conv{i}", layers=layers, growth_rate=32)
        if i < 5:
            net.add("Transition", f"pool{i}", compression=0.5)
    net.add("BatchNormalization", "bn", epsilon=1.001e-5)
    net.add("Activation", "relu", activation="relu")
    net.add("GlobalAvgPool2D", "avg_pool")
    net.dense("predictions", 1000, activation="softmax")
    net.output()
    return net.project(
        "DenseNet-121",
        "Huang, Liu, van der Maaten & Weinberger 2017, 'Densely Connected Convolutional "
        "Networks', Table 1, DenseNet-BC-121: stem (7x7/2 conv 64, BN, ReLU, 3x3/2 max "
        "pool), dense blocks of 6/12/24/16 BN-ReLU-1x1 conv (4k)-BN-ReLU-3x3 conv (k) "
        "layers with growth rate k = 32, each layer's output concatenated to its input, "
        "transitions (BN-ReLU-1x1 conv halving the channels, compression 0.5, 2x2 "
        "average pool) between blocks, BN-ReLU, global average pool, FC-1000 softmax. "
        "Follows keras.applications.DenseNet121 exactly (8,062,504 parameters).")


# -- SqueezeNet --------------------------------------------------------------------------


#: fire module n -> (s1x1, e1x1 = e3x3), the same in versions 1.0 and 1.1.
SQUEEZENET_FIRES = {2: (16, 64), 3: (16, 64), 4: (32, 128), 5: (32, 128), 6: (48, 192),
                    7: (48, 192), 8: (64, 256), 9: (64, 256)}


def _fire(net: Net, n: int, squeeze: int, expand: int) -> None:
    net.add("Fire", f"fire{n}", squeeze=squeeze, expand1x1=expand, expand3x3=expand)


def _squeeze_head(net: Net, classes: int) -> None:
    net.add("Dropout", "drop9", rate=0.5)
    net.conv("conv10", classes, 1, padding="valid")
    net.add("GlobalAvgPool2D", "avgpool10")
    net.add("Softmax", "predictions")
    net.output()


def squeezenet(version: str):
    """SqueezeNet 1.0 (the paper's Table 1) or 1.1 (the SqueezeNet repository)."""
    if version == "1.0":
        net = Net([227, 227, 3])
        net.conv("conv1", 96, 7, strides=2, padding="valid")
        net.add("MaxPool2D", "maxpool1", pool_size=3, strides=2)
        pools_after = {4: "maxpool4", 8: "maxpool8"}
    else:
        net = Net([224, 224, 3])
        net.conv("conv1", 64, 3, strides=2, padding="valid")
        net.add("MaxPool2D", "maxpool1", pool_size=3, strides=2)
        pools_after = {3: "maxpool3", 5: "maxpool5"}
    for n, (squeeze, expand) in SQUEEZENET_FIRES.items():
        _fire(net, n, squeeze, expand)
        if n in pools_after:
            net.add("MaxPool2D", pools_after[n], pool_size=3, strides=2)
    _squeeze_head(net, 1000)
    published = {"1.0": "1,248,424", "1.1": "1,235,496"}[version]
    if version == "1.0":
        layout = ("Iandola et al. 2016, 'SqueezeNet: AlexNet-level accuracy with 50x "
                  "fewer parameters', Table 1: 227x227x3 input (the paper's Caffe model; "
                  "Table 1's 111x111 conv1 needs it), conv1 96@7x7/2, 3x3/2 max pools "
                  "after conv1, fire4 and fire8, fire modules 2-9 (squeeze s1x1, "
                  "expand e1x1 + e3x3 concatenated)")
    else:
        layout = ("SqueezeNet 1.1 (the SqueezeNet repository's revision of Iandola et al. "
                  "2016): conv1 64@3x3/2 and the max pools moved earlier (after conv1, "
                  "fire3, fire5), 2.4x less computation for the same accuracy; "
                  "224x224x3 input, where conv1's (224 - 3)/2 + 1 = 111.5 floors to 111")
    return net.project(
        f"SqueezeNet {version}",
        f"{layout}, dropout 0.5, conv10 1x1 with one filter per class (its 'filters' are "
        f"the classes), global average pool, softmax; no FC layer. "
        f"torchvision.models.squeezenet{version.replace('.', '_')} publishes "
        f"{published} parameters (its max pools use ceil mode, which gives the same "
        f"sizes here).")


# -- FractalNet -------------------------------------------------------------------------


def fractalnet_small():
    """A small FractalNet for 32x32 images: three blocks of C = 3 columns."""
    net = Net([32, 32, 3])
    for b, filters in enumerate((32, 64, 128), start=1):
        net.add("FractalBlock", f"block{b}", columns=3, filters=filters)
        net.add("MaxPool2D", f"pool{b}", pool_size=2, strides=2)
    net.add("GlobalAvgPool2D", "avg_pool")
    net.dense("predictions", 10, activation="softmax")
    net.output()
    return net.project(
        "FractalNet (small)",
        "Larsson, Maire & Shakhnarovich 2017, 'FractalNet: Ultra-Deep Neural Networks "
        "without Residuals', Figure 1, scaled down for CIFAR-10: three fractal blocks of "
        "C = 3 columns (column c is 2^(c-1) conv3x3-BN-ReLU units deep, columns joined "
        "by element-wise means; 7 convs per block) of 32/64/128 filters, each followed "
        "by 2x2 max pooling, then global average pool and FC-10. The paper's CIFAR "
        "network has B = 5 blocks of C = 4 columns (filters 64-512); set 'columns' and "
        "'filters' on the blocks, and add blocks, to grow it.")

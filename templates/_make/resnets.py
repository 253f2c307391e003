"""Residual networks drawn as their authors drew them: a stem, stages, a head.

Every stage is one ``Stage`` node (a block repeated N times), so depth (blocks),
width (filters), SE ratio and the conv bias are params of the stage nodes; the
head's Dense units are the classes and the Input's shape the input size.
Layer names follow keras.applications (``conv1_conv``, ``conv2_block1_1_conv``,
``avg_pool``, ``predictions``).
"""

from __future__ import annotations

from chain import Net

#: Blocks per stage (He et al. 2015, Table 1).
IMAGENET_DEPTHS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3],
                   101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}
WIDTHS = [64, 128, 256, 512]
KERAS_EPS = 1.001e-5
TORCH_EPS = 1e-5

#: Published totals of the reference implementations named in the descriptions.
TORCHVISION = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160,
               152: 60_192_808}


def imagenet_stem(net: Net, use_bias: bool, eps: float, bn: bool = True) -> None:
    """conv1 7x7/2 (pad 3) - BN - ReLU, then pool1 3x3/2 max pool (pad 1)."""
    net.add("ZeroPadding2D", "conv1_pad", padding=3)
    net.conv("conv1_conv", 64, 7, strides=2, padding="valid", activation="linear",
             use_bias=use_bias)
    if bn:
        net.add("BatchNormalization", "conv1_bn", epsilon=eps)
        net.add("Activation", "conv1_relu", activation="relu")
    net.add("ZeroPadding2D", "pool1_pad", padding=1)
    net.add("MaxPool2D", "pool1_pool", pool_size=3, strides=2)


def classifier_head(net: Net, classes: int) -> None:
    """Global average pool, FC-classes with softmax, Output."""
    net.add("GlobalAvgPool2D", "avg_pool")
    net.dense("predictions", classes, activation="softmax")
    net.output()


def resnet(depth: int, use_bias: bool):
    """ResNet-18/34/50/101/152 (v1, post-activation)."""
    bottleneck = depth >= 50
    keras_style = use_bias
    eps = KERAS_EPS if keras_style else TORCH_EPS
    net = Net([224, 224, 3])
    imagenet_stem(net, use_bias, eps)
    block = "ResidualBottleneck" if bottleneck else "ResidualBasic"
    for stage, (blocks, width) in enumerate(zip(IMAGENET_DEPTHS[depth], WIDTHS), start=2):
        params = {"filters": width, "use_bias": use_bias, "epsilon": eps}
        if bottleneck and not keras_style:
            params["stride_at"] = "3x3"
        first = {"shortcut": "projection"} if bottleneck else {}
        if stage > 2:
            first = {"strides": 2, "shortcut": "projection"}
        net.add("Stage", f"conv{stage}", block=block, blocks=blocks, params=params,
                first=first)
    classifier_head(net, 1000)
    kind = "bottleneck (1x1-3x3-1x1, x4)" if bottleneck else "basic (two 3x3)"
    if keras_style:
        reference = (f"Layer names, the conv bias before each BatchNorm (use_bias true) "
                     f"and BN epsilon 1.001e-5 follow keras.applications.ResNet{depth}, "
                     f"which this equals layer by layer; set use_bias false on conv1_conv "
                     f"and every stage for torchvision's resnet{depth} "
                     f"({TORCHVISION[depth]:,} parameters).")
    else:
        reference = (f"As torchvision.models.resnet{depth} (published "
                     f"{TORCHVISION[depth]:,} parameters): no conv bias before BatchNorm "
                     f"(use_bias false on conv1_conv and the stages; set it true for "
                     f"keras.applications' convention), projection shortcuts where shapes "
                     f"change (option B).")
    return net.project(
        f"ResNet-{depth}",
        f"He, Zhang, Ren & Sun 2015, 'Deep Residual Learning for Image Recognition', "
        f"Table 1, {depth}-layer: stem conv1 7x7/2 64 + BN + ReLU and 3x3/2 max pool, "
        f"four stages conv2_x..conv5_x of {kind} residual blocks "
        f"({'/'.join(map(str, IMAGENET_DEPTHS[depth]))} blocks, widths 64/128/256/512; "
        f"edit a stage's 'blocks' for depth and 'filters' for width), global average "
        f"pool, FC-1000 softmax. {reference}")


def plain(depth: int):
    """The paper's plain-18/34: the ResNet without its shortcuts."""
    net = Net([224, 224, 3])
    imagenet_stem(net, False, TORCH_EPS)
    for stage, (blocks, width) in enumerate(zip(IMAGENET_DEPTHS[depth], WIDTHS), start=2):
        net.add("Stage", f"conv{stage}", block="ConvBN", blocks=2 * blocks,
                params={"filters": width, "scale": True, "epsilon": TORCH_EPS},
                first={"strides": 2} if stage > 2 else {})
    classifier_head(net, 1000)
    return net.project(
        f"Plain-{depth}",
        f"He et al. 2015, Figure 3 (middle) and Table 1: the {depth}-layer plain network "
        f"of the degradation experiment (Figure 4: plain-34 trains worse than plain-18, "
        f"ResNet-34 better than ResNet-18). ResNet-{depth} with the shortcuts removed: "
        f"stem, four stages of 3x3 conv-BN-ReLU layers "
        f"({'/'.join(str(2 * b) for b in IMAGENET_DEPTHS[depth])} layers, widths "
        f"64/128/256/512, the first of stages 3-5 with stride 2), global average pool, "
        f"FC-1000. The paper's ResNet-{depth} in that experiment uses zero-padding "
        f"(option A) shortcuts and so has exactly these parameters: set shortcut "
        f"'zero_pad' in the 'resnet{depth}' template's stages to compare "
        f"(torchvision's resnet{depth} minus its projection shortcuts).")


# -- CIFAR-10 ResNets (He et al. 2015, section 4.2) ---------------------------------

#: The paper's Table 6: parameters (millions) of the 6n+2-layer networks.
CIFAR_TABLE_6 = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7}


def _cifar_stem(net: Net) -> None:
    net.conv("conv1_conv", 16, 3, activation="linear", use_bias=False)
    net.add("BatchNormalization", "conv1_bn", epsilon=TORCH_EPS)
    net.add("Activation", "conv1_relu", activation="relu")


def cifar_resnet(depth: int):
    """CIFAR-10 ResNet-(6n+2) with option-A (zero-padding) shortcuts."""
    n = (depth - 2) // 6
    net = Net([32, 32, 3])
    _cifar_stem(net)
    for stage, width in enumerate([16, 32, 64], start=2):
        net.add("Stage", f"conv{stage}", block="ResidualBasic", blocks=n,
                params={"filters": width, "epsilon": TORCH_EPS},
                first={"strides": 2, "shortcut": "zero_pad"} if stage > 2 else {})
    classifier_head(net, 10)
    return net.project(
        f"ResNet-{depth} (CIFAR-10)",
        f"He et al. 2015, section 4.2: the 6n+2-layer CIFAR-10 network with n = {n}: "
        f"3x3 conv 16 + BN + ReLU on 32x32x3, three stages of n basic blocks (widths "
        f"16/32/64 on 32/16/8 maps, the first block of stages 2 and 3 with stride 2), "
        f"global average pool, FC-10 softmax. Shortcuts are identities, with option A "
        f"where the shape changes (subsample by 2 and pad the new channels with zeros), "
        f"so they add no parameters. Table 6 gives {CIFAR_TABLE_6[depth]}M parameters. "
        f"Edit 'blocks' on the three stages for other n.")


def cifar_plain(depth: int):
    """The plain twin of CIFAR ResNet-(6n+2): the same layers, no shortcuts."""
    n = (depth - 2) // 6
    net = Net([32, 32, 3])
    _cifar_stem(net)
    for stage, width in enumerate([16, 32, 64], start=2):
        net.add("Stage", f"conv{stage}", block="ConvBN", blocks=2 * n,
                params={"filters": width, "scale": True, "epsilon": TORCH_EPS},
                first={"strides": 2} if stage > 2 else {})
    classifier_head(net, 10)
    return net.project(
        f"Plain-{depth} (CIFAR-10)",
        f"He et al. 2015, section 4.2 and Figure 6 (left): the plain {depth}-layer "
        f"CIFAR-10 network, ResNet-{depth} without shortcuts: 3x3 conv 16, three stages "
        f"of {2 * n} 3x3 conv-BN-ReLU layers (16/32/64 filters, stride 2 at the start of "
        f"stages 2 and 3), global average pool, FC-10. With option-A shortcuts the "
        f"ResNet has the same {CIFAR_TABLE_6[depth]}M parameters (Table 6); deeper plain "
        f"nets train worse (the degradation problem).")


# -- ResNet v2, SE-ResNet, ResNeXt, Wide ResNet ---------------------------------------


def resnet50_v2():
    """keras.applications.ResNet50V2: pre-activation bottlenecks."""
    net = Net([224, 224, 3])
    imagenet_stem(net, True, KERAS_EPS, bn=False)
    for stage, (blocks, width) in enumerate(zip(IMAGENET_DEPTHS[50], WIDTHS), start=2):
        net.add("Stage", f"conv{stage}", block="PreactBottleneck", blocks=blocks,
                params={"filters": width, "use_bias": False, "epsilon": KERAS_EPS},
                first={"shortcut": "projection"},
                last={"strides": 2, "shortcut": "identity"} if stage < 5 else {})
    net.add("BatchNormalization", "post_bn", epsilon=KERAS_EPS)
    net.add("Activation", "post_relu", activation="relu")
    classifier_head(net, 1000)
    return net.project(
        "ResNet-50 v2 (pre-activation)",
        "He, Zhang, Ren & Sun 2016, 'Identity Mappings in Deep Residual Networks': "
        "full pre-activation bottleneck blocks (BN -> ReLU -> conv), 3/4/6/3 blocks of "
        "widths 64/128/256/512 x4, a final BN + ReLU before the global average pool and "
        "FC-1000. Follows keras.applications.ResNet50V2 exactly (layer names, conv "
        "biases, the stride on each stage's last block, 25,613,800 parameters).")


def se_resnet50():
    """SE-ResNet-50: ResNet-50 with squeeze-and-excitation in every block."""
    net = Net([224, 224, 3])
    imagenet_stem(net, False, TORCH_EPS)
    for stage, (blocks, width) in enumerate(zip(IMAGENET_DEPTHS[50], WIDTHS), start=2):
        net.add("Stage", f"conv{stage}", block="ResidualBottleneck", blocks=blocks,
                params={"filters": width, "use_bias": False, "epsilon": TORCH_EPS,
                        "se_ratio": 16},
                first={"strides": 2 if stage > 2 else 1, "shortcut": "projection"})
    classifier_head(net, 1000)
    return net.project(
        "SE-ResNet-50",
        "Hu, Shen & Sun 2018, 'Squeeze-and-Excitation Networks', Table 1: ResNet-50 "
        "(torchvision's, no conv bias) with an SE module (global pool -> FC C/r -> ReLU "
        "-> FC C -> sigmoid -> channel scale) on each residual branch before the "
        "addition, reduction ratio r = 16 (the stages' 'se_ratio'; 0 removes SE). The "
        "paper counts the extra weights as (2/r) * sum over stages of N_s * C_s^2: "
        "~2.5M on top of ResNet-50's ~25M (28.1M in its Table 2), here plus the "
        "FC biases.")


def resnext50():
    """ResNeXt-50 (32x4d), as torchvision.models.resnext50_32x4d."""
    net = Net([224, 224, 3])
    imagenet_stem(net, False, TORCH_EPS)
    for stage, (blocks, width) in enumerate(zip(IMAGENET_DEPTHS[50], WIDTHS), start=2):
        net.add("Stage", f"conv{stage}", block="ResNeXtBottleneck", blocks=blocks,
                params={"filters": width, "cardinality": 32, "base_width": 4,
                        "use_bias": False, "epsilon": TORCH_EPS},
                first={"strides": 2 if stage > 2 else 1, "shortcut": "projection"})
    classifier_head(net, 1000)
    return net.project(
        "ResNeXt-50 (32x4d)",
        "Xie, Girshick, Dollar, Tu & He 2017, 'Aggregated Residual Transformations', "
        "Table 1: ResNet-50's layout with bottlenecks whose 3x3 conv is grouped into "
        "cardinality C = 32 paths of width d = 4 (128/256/512/1024 inner channels per "
        "stage). As torchvision.models.resnext50_32x4d: no conv bias, stride on the "
        "3x3, 25,028,904 parameters. Stage params 'cardinality' and 'base_width' set "
        "C and d.")


def wrn_28_10():
    """Wide ResNet 28-10 for CIFAR-10."""
    depth, k = 28, 10
    n = (depth - 4) // 6
    net = Net([32, 32, 3])
    net.conv("conv1_conv", 16, 3, activation="linear", use_bias=False)
    for stage, width in enumerate([16, 32, 64], start=2):
        net.add("Stage", f"conv{stage}", block="WideResidual", blocks=n,
                params={"filters": width, "width": k, "dropout": 0.3,
                        "epsilon": TORCH_EPS},
                first={"strides": 1 if stage == 2 else 2, "shortcut": "projection"})
    net.add("BatchNormalization", "post_bn", epsilon=TORCH_EPS)
    net.add("Activation", "post_relu", activation="relu")
    classifier_head(net, 10)
    return net.project(
        "WRN-28-10",
        "Zagoruyko & Komodakis 2016, 'Wide Residual Networks', Table 1: depth 28 "
        "(n = 4 pre-activation basic blocks per stage) and widening factor k = 10 "
        "(16k/32k/64k = 160/320/640 channels), dropout 0.3 between the two 3x3 convs "
        "of each block, 1x1 projection shortcuts where the width or size changes, a "
        "final BN + ReLU, global average pool and FC-10 on 32x32x3. The paper reports "
        "36.5M parameters (Table 4). Stage params 'width' (k) and 'blocks' (n) "
        "reshape it.")

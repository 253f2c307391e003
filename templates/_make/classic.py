"""The plain stacks: linear classifier, MLP and LeNet-5."""

from __future__ import annotations

from chain import Net


def linear():
    """INPUT -> FC: the lecture's linear classifier on CIFAR-10 images."""
    net = Net([32, 32, 3])
    net.add("Flatten", "flatten")
    net.dense("scores", 10, activation="softmax")
    net.output()
    return net.project(
        "Linear classifier",
        "The lecture's linear classifier f(x) = Wx + b on 32x32x3 (CIFAR-10) images: "
        "flatten the 3,072 pixels and one FC layer to 10 class scores, with softmax for "
        "the cross-entropy loss. 3072*10 weights + 10 biases = 30,730 parameters. "
        "Edit the Input shape and the FC units (classes) for other data.")


def mlp():
    """INPUT -> [FC -> RELU]*2 -> FC."""
    net = Net([32, 32, 3])
    net.add("Flatten", "flatten")
    net.dense("fc1", 512)
    net.dense("fc2", 256)
    net.dense("predictions", 10, activation="softmax")
    net.output()
    return net.project(
        "MLP",
        "A multi-layer perceptron, the lecture's INPUT -> [FC -> RELU]*K -> FC pattern "
        "with K = 2: 3,072 -> 512 -> 256 -> 10 on 32x32x3 images. "
        "(3072+1)*512 + (512+1)*256 + (256+1)*10 = 1,707,274 parameters.")


def lenet():
    """LeNet-5 as LeCun et al. 1998 draw it, with ReLU and max pooling."""
    net = Net([32, 32, 1])
    net.conv("c1", 6, 5, padding="valid")
    net.add("MaxPool2D", "s2", pool_size=2, strides=2)
    net.conv("c3", 16, 5, padding="valid")
    net.add("MaxPool2D", "s4", pool_size=2, strides=2)
    net.conv("c5", 120, 5, padding="valid")
    net.add("Flatten", "flatten")
    net.dense("f6", 84)
    net.dense("predictions", 10, activation="softmax")
    net.output()
    project = net.project(
        "LeNet-5",
        "LeCun, Bottou, Bengio & Haffner 1998, 'Gradient-based learning applied to "
        "document recognition': 32x32x1 input, C1 conv 6@5x5 (28x28), S2 2x2 pool, "
        "C3 conv 16@5x5 (10x10), S4 2x2 pool, C5 conv 120@5x5 (1x1, the paper's C5 is a "
        "conv that acts as FC-120), F6 FC-84, output FC-10 with softmax. Modernised as is "
        "usual today: ReLU instead of the scaled tanh and max pooling instead of the "
        "trainable sub-sampling, which train faster and reach > 95% on the 8x8 digits "
        "resized to 32x32; C3 connects to all 6 C1 maps (the paper's sparse table gives "
        "C3 1,516 weights, here 2,416), so 61,706 parameters against the paper's ~60,000.")
    # The default project trains out of the box on data that ships offline
    # (builder train lenet): >= 95 % validation accuracy in 10 epochs.
    project.training = {"optimizer": {"name": "adam", "learning_rate": 0.001},
                        "epochs": 10, "batch_size": 32, "seed": 0}
    project.dataset = {"name": "digits", "validation_split": 0.2, "resize": True}
    return project

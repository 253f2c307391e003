"""Helpers the template tests share: the list of templates, the generator, and
shrinking a template to a size that trains in a blink."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import builder
from builder.analysis import analyze

ROOT = Path(__file__).resolve().parents[2]
MAKE_DIR = ROOT / "templates" / "_make"

#: Every shipped template (other issues add theirs: detection, segmentation, ...).
TEMPLATES = sorted(p.stem for p in builder.templates_dir().glob("*.json"))


def generator():
    """The template generator module (templates/_make/make.py), loaded in isolation.

    Its sibling modules have plain names (``chain``, ``detection``, ...) that test
    packages share (tests/detection is the package ``detection`` here), so they
    are imported with same-named modules hidden, and afterwards removed from
    ``sys.modules`` and ``sys.path`` again: neither side shadows the other.
    """
    if "template_make" not in sys.modules:
        own = {p.stem for p in MAKE_DIR.glob("*.py")}
        hidden = {name: sys.modules.pop(name) for name in own if name in sys.modules}
        path = list(sys.path)
        try:
            sys.path.insert(0, str(MAKE_DIR))
            spec = importlib.util.spec_from_file_location("template_make",
                                                          MAKE_DIR / "make.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        finally:
            sys.path[:] = path
            for name in own:
                sys.modules.pop(name, None)
            sys.modules.update(hidden)
        sys.modules["template_make"] = module
    return sys.modules["template_make"]


def output_heads(graph) -> list[dict]:
    """The params of every Output node, inner ones (auxiliary heads) included, in
    the order of the compiled model's outputs."""
    from builder.analysis.expand import expand_graph

    flat, _ = expand_graph(graph)
    return [n.params for n in flat.nodes.values() if n.kind == "Output"]


#: Layers between a head's classifier and its Output that keep the class count.
_PASS_THROUGH = {"Softmax", "Activation", "GlobalAvgPool2D", "GlobalMaxPool2D", "Dropout",
                 "Flatten"}


#: The classification templates of issue #3 (tests/templates covers these; other
#: issues' templates, written by the same generator, are tested by their owners).
CLASSIFICATION = sorted({
    "linear", "mlp", "lenet", "alexnet", "alexnet_torchvision", "zfnet", "vgg11",
    "vgg11_lrn", "vgg13", "vgg16c", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50",
    "resnet101", "resnet152", "plain18", "plain34",
    *(f"cifar_{kind}{depth}" for kind in ("resnet", "plain") for depth in (20, 32, 44, 56, 110)),
    "resnet50_v2", "googlenet", "inception_v3", "se_resnet50", "resnext50_32x4d",
    "wrn_28_10", "densenet121", "squeezenet1_0", "squeezenet1_1", "fractalnet_small",
})


def classification_templates() -> list[str]:
    """:data:`CLASSIFICATION`, in name order."""
    return list(CLASSIFICATION)


def head_layers(graph) -> list[str]:
    """The layers that set a head's class count: the Dense (or, in SqueezeNet, the
    1x1 Conv2D) that ends each top-level head, plus every AuxClassifier."""
    heads = []
    for out in (n.id for n in graph.nodes.values() if n.kind == "Output"):
        node = out
        while True:
            preds = graph.predecessors(node)
            if len(preds) != 1:
                break
            node = preds[0]
            if graph.nodes[node].kind not in _PASS_THROUGH:
                break
        if graph.nodes[node].kind in ("Dense", "Conv2D"):
            heads.append(node)
    return heads + [n.id for n in graph.nodes.values() if n.kind == "AuxClassifier"]


def set_classes(graph, classes: int) -> None:
    """Gives every head ``classes`` outputs."""
    field = {"Dense": "units", "Conv2D": "filters", "AuxClassifier": "classes"}
    for nid in head_layers(graph):
        graph.set_param(nid, field[graph.nodes[nid].kind], classes)


def set_input_size(graph, size: int) -> None:
    """Makes every image Input ``size`` x ``size``, channels kept."""
    for node in [n for n in graph.nodes.values() if n.kind == "Input"]:
        shape = list(node.params["shape"])
        if len(shape) == 3:
            graph.set_param(node.id, "shape", [size, size, shape[2]])


def shrink(graph, classes: int = 3, sizes=(32, 48, 64, 75, 96, 128, 160, 224)):
    """Sets every head to ``classes`` units and the Input to the smallest square
    size in ``sizes`` the network accepts; returns that size.

    Raises:
        AssertionError: no size in ``sizes`` analyses without errors.
    """
    set_classes(graph, classes)
    for size in sizes:
        set_input_size(graph, size)
        if analyze(graph).ok:
            return size
    raise AssertionError(f"no input size in {sizes} analyses without errors: "
                         f"{[str(d) for d in analyze(graph).errors][:3]}")


def train_one_step(name: str, classes: int = 3) -> dict:
    """Shrinks template ``name``, compiles it and runs one training step on a batch
    of two random images; returns the step's logs.

    Eager execution: for one step, tracing a graph costs far more than it saves.
    """
    import keras
    import numpy as np

    graph = builder.from_template(name).graph
    size = shrink(graph, classes=classes)
    model = builder.to_keras(graph)
    heads = output_heads(graph)
    assert len(model.outputs) == len(heads)
    model.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss=[h["loss"] for h in heads],
                  loss_weights=[h["loss_weight"] for h in heads],
                  run_eagerly=True)
    rng = np.random.default_rng(0)
    channels = graph.nodes["input_layer"].params["shape"][-1]
    x = rng.random((2, size, size, channels), dtype=np.float32)
    y = np.array([0, classes - 1])
    logs = model.train_on_batch(x, [y] * len(heads), return_dict=True)
    keras.backend.clear_session()
    return logs

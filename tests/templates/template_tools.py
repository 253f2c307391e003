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

TEMPLATES = sorted(p.stem for p in builder.templates_dir().glob("*.json"))


def generator():
    """The template generator module (templates/_make/make.py)."""
    if "template_make" not in sys.modules:
        sys.path.insert(0, str(MAKE_DIR))
        spec = importlib.util.spec_from_file_location("template_make", MAKE_DIR / "make.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["template_make"] = module
        spec.loader.exec_module(module)
    return sys.modules["template_make"]


def output_nodes(graph) -> list[str]:
    """The Output nodes, in node order (the order of the model's outputs)."""
    return [n.id for n in graph.nodes.values() if n.kind == "Output"]


def head_dense(graph) -> list[str]:
    """The Dense nodes that end a head: followed (maybe via activations) by Output."""
    heads = []
    for nid in output_nodes(graph):
        node = nid
        while graph.nodes[node].kind != "Dense":
            preds = graph.predecessors(node)
            if len(preds) != 1:
                break
            node = preds[0]
        if graph.nodes[node].kind == "Dense":
            heads.append(node)
    return heads


def shrink(graph, classes: int = 3, sizes=(32, 48, 64, 75, 96, 128, 160, 224)):
    """Sets every head to ``classes`` units and the Input to the smallest square
    size in ``sizes`` the network accepts; returns that size.

    Raises:
        AssertionError: no size in ``sizes`` analyses without errors.
    """
    for nid in head_dense(graph):
        graph.set_param(nid, "units", classes)
    inputs = [n for n in graph.nodes.values() if n.kind == "Input"]
    for size in sizes:
        for node in inputs:
            shape = list(node.params["shape"])
            if len(shape) == 3:
                graph.set_param(node.id, "shape", [size, size, shape[2]])
        if analyze(graph).ok:
            return size
    raise AssertionError(f"no input size in {sizes} analyses without errors: "
                         f"{[str(d) for d in analyze(graph).errors][:3]}")

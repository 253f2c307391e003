"""Graph → ``keras.Model`` through the functional API."""

from __future__ import annotations

from typing import Any

import keras

from builder.compile.custom_layers import resolve_layer_class
from builder.compile.errors import CompileError
from builder.compile.plan import PlannedNode, make_plan, sanitize_layer_name
from builder.core.graph import Graph


def to_keras(graph: Graph, *, name: str | None = None) -> keras.Model:
    """Builds the functional ``keras.Model`` a graph describes.

    Each Input node becomes a ``keras.Input`` named after the node; every other
    node becomes the chain of layers its kind maps to, the last one named after
    the node (``node.name``, else its id; sanitized and made unique only when it
    has to be, see :func:`builder.compile.plan.layer_names`), earlier ones after
    the node plus a suffix (``conv1_pad``). The tensors feeding Output nodes are
    the model's outputs, in node order; the Inputs they depend on are its inputs,
    in node order. One input (output) is passed alone, several as a list.

    Args:
        graph: the graph to compile.
        name: the model's name; Keras' default when omitted.

    Returns:
        The model, built (shapes known) but not compiled for training.

    Raises:
        CompileError: if the analysis finds errors (the message lists them), or
            Keras refuses a node (the message names it).
    """
    plan = make_plan(graph)
    tensors: dict[tuple[str, str], Any] = {}
    for planned in plan.nodes:
        if planned.is_output:
            continue
        if planned.is_input:
            tensors[(planned.id, planned.outputs[0])] = keras.Input(
                shape=tuple(planned.params["shape"]), name=planned.name)
            continue
        feeds = [tensors[key] for key in planned.inputs]
        if not planned.layers:  # a kind that adds no layer passes its input on
            tensors[(planned.id, planned.outputs[0])] = feeds[0]
            continue
        result = _call_layers(planned, feeds if planned.as_list else feeds[0])
        results = list(result) if isinstance(result, (list, tuple)) else [result]
        if len(results) != len(planned.outputs):
            raise CompileError(
                f"Node '{planned.label}' ({planned.kind}) has {len(planned.outputs)} "
                f"output port(s). Received: {len(results)} tensor(s) from Keras",
                node=planned.id)
        for port, tensor in zip(planned.outputs, results):
            tensors[(planned.id, port)] = tensor
    inputs = [tensors[(nid, plan.node(nid).outputs[0])] for nid in plan.inputs]
    outputs = [tensors[key] for key in plan.outputs]
    try:
        return keras.Model(
            inputs=inputs[0] if len(inputs) == 1 else inputs,
            outputs=outputs[0] if len(outputs) == 1 else outputs,
            name=sanitize_layer_name(name) if name else None)
    except Exception as exc:
        raise CompileError(f"Keras refused to build the model. Received: "
                           f"{type(exc).__name__}: {exc}") from exc


def _call_layers(planned: PlannedNode, x: Any) -> Any:
    """Creates the node's layers and applies them in a chain to ``x``."""
    for layer in planned.layers:
        try:
            cls = resolve_layer_class(layer.class_name)
            x = cls(**layer.kwargs, name=layer.name)(x)
        except Exception as exc:
            # The analysis accepted the node, so this is a catalogue bug; say
            # which node, and keep Keras' own words.
            raise CompileError(
                f"Keras refused node '{planned.label}' ({planned.kind}) at layer "
                f"{layer.class_name}({_kwargs_text(layer.kwargs)}). Received: "
                f"{type(exc).__name__}: {str(exc).strip()}", node=planned.id) from exc
    return x


def _kwargs_text(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


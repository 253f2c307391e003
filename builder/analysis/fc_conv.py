"""FC <-> CONV: the lecture's observation that an FC layer looking at a whole
volume is a convolution whose filter is as large as the volume.

    FC with K units on a flattened H×W×C volume
      == CONV with K filters of F = H×W (padding 'valid'), then Flatten

Both have H·W·C·K weights and K biases, and with the Dense kernel reshaped to
(H, W, C, K) they compute the same numbers (Keras flattens channels-last
volumes row-major). An FC on a vector coming from a 1×1 volume becomes a 1×1
CONV, so a whole classifier head converts layer by layer.

The functions return unexecuted core commands (one Macro), to push on the
history: undo restores the identical graph. They need the analysis for the
input shape, hence this tier.
"""

from __future__ import annotations

from builder.analysis.analyzer import Analysis, analyze
from builder.core.commands import AddNode, Command, Connect, Disconnect, Macro, RemoveNode
from builder.core.graph import Graph


class FcConvError(ValueError):
    """The node cannot be converted; the message says why."""


def _only_consumer(graph: Graph, node_id: str) -> str | None:
    dsts = {e.dst for e in graph.out_edges(node_id)}
    return dsts.pop() if len(dsts) == 1 else None


def _replace(graph: Graph, old: str, kind: str, params: dict, src: tuple[str, str],
             flatten: str | None = None, flatten_first: bool = False) -> list[Command]:
    """Commands putting a ``kind`` node with ``old``'s id, name and place in the
    node order where ``old`` is, fed by tensor ``src``.

    With ``flatten``: the Flatten next to ``old`` swaps sides. ``flatten_first``
    says where it ends up: ``src -> Flatten -> new`` (CONV -> FC) rather than
    ``src -> new -> Flatten`` (FC -> CONV). Consumers keep their edge positions.
    """
    node = graph.nodes[old]
    index = list(graph.nodes).index(old)
    gone = {old} | ({flatten} if flatten else set())
    tail_before = flatten if (flatten and flatten_first) else old
    outgoing = [(i, e) for i, e in enumerate(graph.edges)
                if e.src == tail_before and e.dst not in gone]
    cmds: list[Command] = []
    if flatten:  # free the Flatten of its edges that RemoveNode(old) will not take
        for e in list(graph.in_edges(flatten)) + list(graph.out_edges(flatten)):
            if old not in (e.src, e.dst):
                cmds.append(Disconnect(graph, e))
    cmds.append(RemoveNode(graph, old))
    cmds.append(AddNode(graph, kind, params, id=old, name=node.name, pos=node.pos,
                        index=index))
    if flatten and flatten_first:
        cmds += [Connect(graph, src[0], flatten, src[1]), Connect(graph, flatten, old)]
        tail = old
    elif flatten:
        cmds += [Connect(graph, src[0], old, src[1]), Connect(graph, old, flatten)]
        tail = flatten
    else:
        cmds.append(Connect(graph, src[0], old, src[1]))
        tail = old
    survivors = {e for e in graph.edges if e.src not in gone and e.dst not in gone}
    placed = 0
    for i, e in outgoing:
        at = sum(1 for x in graph.edges[:i] if x in survivors) + placed
        cmds.append(Connect(graph, tail, e.dst, "out", e.dst_port, index=at))
        placed += 1
    return cmds


def fc_to_conv(graph: Graph, node_id: str, analysis: Analysis | None = None) -> Macro:
    """The command replacing Dense ``node_id`` by the equivalent Conv2D.

    Handles a Dense fed by a Flatten of an H×W×C volume (the Flatten moves after
    the new F = H×W convolution) and a Dense applied to a 4-D tensor (a 1×1
    convolution). The node keeps its id, name, units (as filters), bias and
    activation.

    Raises:
        FcConvError: if the node is not such a Dense.
    """
    analysis = analysis or analyze(graph)
    node = graph.node(node_id)
    if node.kind != "Dense":
        raise FcConvError(f"FC -> CONV converts a Dense node. Received: '{node_id}' "
                          f"({node.kind})")
    (edge,) = graph.in_edges(node_id) or [None]
    info = analysis.nodes.get(node_id)
    if edge is None or info is None or not info.ok:
        raise FcConvError(f"FC -> CONV needs '{node_id}' connected and analysed without "
                          "errors. Received: no known input shape")
    params = {"filters": node.params["units"], "use_bias": node.params["use_bias"],
              "activation": node.params["activation"], "padding": "valid"}
    feeder = graph.nodes[edge.src]
    shape = info.input_shapes[0]
    if len(shape) == 4:
        params["kernel_size"] = 1
        return Macro(f"FC -> CONV {node.label}", _replace(
            graph, node_id, "Conv2D", params, (edge.src, edge.src_port)))
    volume = analysis.nodes[edge.src].input_shapes[0] if feeder.kind == "Flatten" else None
    if volume is None or len(volume) != 4 or None in volume[1:]:
        raise FcConvError(
            f"FC -> CONV needs the Dense fed by Flatten of a volume of known size. "
            f"Received: '{node_id}' fed by '{edge.src}' ({feeder.kind}) with "
            f"{shape[1:]}")
    if _only_consumer(graph, edge.src) != node_id:
        raise FcConvError(
            f"FC -> CONV moves the Flatten '{edge.src}' after the new convolution, so it "
            f"must feed only '{node_id}'. Received: it feeds other layers too")
    params["kernel_size"] = [volume[1], volume[2]] if volume[1] != volume[2] else volume[1]
    (into_flatten,) = graph.in_edges(edge.src)
    return Macro(f"FC -> CONV {node.label}", _replace(
        graph, node_id, "Conv2D", params, (into_flatten.src, into_flatten.src_port),
        flatten=edge.src))


def conv_to_fc(graph: Graph, node_id: str, analysis: Analysis | None = None) -> Macro:
    """The command replacing Conv2D ``node_id`` by the equivalent Dense (the reverse).

    Handles a convolution whose filter covers its whole input (valid padding,
    1×1 output) followed only by a Flatten (the Flatten moves before the new
    Dense), and a 1×1 stride-1 convolution (a Dense on the last axis).

    Raises:
        FcConvError: if the node is not such a convolution.
    """
    analysis = analysis or analyze(graph)
    node = graph.node(node_id)
    if node.kind != "Conv2D":
        raise FcConvError(f"CONV -> FC converts a Conv2D node. Received: '{node_id}' "
                          f"({node.kind})")
    p = node.params
    info = analysis.nodes.get(node_id)
    edges = graph.in_edges(node_id)
    if not edges or info is None or not info.ok:
        raise FcConvError(f"CONV -> FC needs '{node_id}' connected and analysed without "
                          "errors. Received: no known input shape")
    if p["groups"] != 1 or p["dilation_rate"] not in (1, [1, 1]):
        raise FcConvError(f"CONV -> FC needs groups=1 and no dilation. Received: "
                          f"groups={p['groups']}, dilation_rate={p['dilation_rate']}")
    params = {"units": p["filters"], "use_bias": p["use_bias"],
              "activation": p["activation"]}
    x = info.input_shapes[0]
    out = info.output_shape
    kernel = p["kernel_size"] if isinstance(p["kernel_size"], list) else \
        [p["kernel_size"]] * 2
    src = (edges[0].src, edges[0].src_port)
    if kernel == [1, 1] and p["strides"] in (1, [1, 1]) and p["padding"] in ("valid", "same", 0):
        return Macro(f"CONV -> FC {node.label}", _replace(
            graph, node_id, "Dense", params, src))
    flatten = _only_consumer(graph, node_id)
    covers = kernel == [x[1], x[2]] and out[1:3] == (1, 1) and p["padding"] in ("valid", 0)
    if not covers or flatten is None or graph.nodes[flatten].kind != "Flatten":
        raise FcConvError(
            f"CONV -> FC needs a filter as large as its input (F = {x[1]}x{x[2]}, padding "
            f"'valid') followed only by a Flatten, or a 1x1 stride-1 filter. Received: "
            f"kernel_size={p['kernel_size']}, padding={p['padding']!r}, input "
            f"{x[1]}x{x[2]}")
    return Macro(f"CONV -> FC {node.label}", _replace(
        graph, node_id, "Dense", params, src, flatten=flatten, flatten_first=True))

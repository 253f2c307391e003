"""What a graph's detection heads predict: feature maps, anchors per location, boxes.

SSD heads and two-stage detectors' RPNs (``RPNHead`` nodes, whose anchor sizes
come from the ``Proposals`` node they feed) are both listed.

Keras-free (core + analysis only). The heads are recognised by the structure the
SSD templates use: a ``Concatenate`` on the last axis of two ``Concatenate``
(axis 1) nodes, the first joining box heads (a ``Conv2D`` reshaped to
``[-1, 4]`` per feature map), the second the class heads (reshaped to
``[-1, K]``). A box conv's input ``H x W`` is the feature map and
``filters / 4`` the anchors per location.
"""

from __future__ import annotations

from dataclasses import dataclass

from builder.analysis import analyze


@dataclass(frozen=True)
class HeadRow:
    """One feature map that carries default boxes."""

    feature_node: str
    height: int
    width: int
    anchors: int
    scores: int  # class scores per box (background included)

    @property
    def boxes(self) -> int:
        """Default boxes on this map: ``H * W * anchors``."""
        return self.height * self.width * self.anchors


def _is_concat(graph, node_id, axes) -> bool:
    node = graph.nodes[node_id]
    return node.kind == "Concatenate" and node.params.get("axis") in axes


def detection_heads(graph, analysis=None) -> list[HeadRow]:
    """The SSD heads of ``graph``, in the order their boxes are concatenated.

    Args:
        graph: a :class:`builder.core.Graph`.
        analysis: its analysis if already computed.

    Returns:
        One row per feature map; empty if the graph has no SSD output.
    """
    analysis = analysis or analyze(graph)
    for nid in analysis.order:
        preds = graph.predecessors(nid)
        if not (_is_concat(graph, nid, (-1, 2)) and len(preds) == 2 and
                all(_is_concat(graph, p, (1,)) for p in preds)):
            continue
        locs, confs = (graph.predecessors(p) for p in preds)
        if len(locs) != len(confs):
            continue
        rows = []
        for loc, conf in zip(locs, confs):
            loc_node, conf_node = graph.nodes[loc], graph.nodes[conf]
            if loc_node.kind != "Reshape" or conf_node.kind != "Reshape" or \
                    list(loc_node.params["target_shape"]) != [-1, 4]:
                break
            conv = graph.predecessors(loc)[0]
            if graph.nodes[conv].kind != "Conv2D":
                break
            shape = analysis.nodes[conv].input_shapes[0]
            rows.append(HeadRow(graph.predecessors(conv)[0], shape[1], shape[2],
                                graph.nodes[conv].params["filters"] // 4,
                                conf_node.params["target_shape"][-1]))
        else:
            return rows
    return []


@dataclass(frozen=True)
class RPNRow:
    """One feature map an ``RPNHead`` places anchors on."""

    rpn_node: str
    feature_node: str
    height: int
    width: int
    anchors: int
    size: int | None  # anchor size in pixels (from the Proposals node), if known
    stride: int | None

    @property
    def boxes(self) -> int:
        """Anchors on this map: ``H * W * anchors``."""
        return self.height * self.width * self.anchors


def rpn_heads(graph, analysis=None) -> list[RPNRow]:
    """One row per feature map of every ``RPNHead`` node, in the RPN's order.

    Args:
        graph: a :class:`builder.core.Graph`.
        analysis: its analysis if already computed.

    Returns:
        The rows; empty if the graph has no RPN or its shapes are unknown.
    """
    analysis = analysis or analyze(graph)
    rows = []
    for nid in analysis.order:
        node = graph.nodes[nid]
        info = analysis.nodes.get(nid)
        if node.kind != "RPNHead" or info is None or not info.input_shapes:
            continue
        sizes = strides = ()
        for edge in graph.out_edges(nid):
            target = graph.nodes[edge.dst]
            if target.kind == "Proposals":
                sizes, strides = target.params["sizes"], target.params["strides"]
                break
        for i, (src, shape) in enumerate(zip(graph.predecessors(nid), info.input_shapes)):
            if len(shape) != 4 or shape[1] is None or shape[2] is None:
                return []
            rows.append(RPNRow(nid, src, shape[1], shape[2], node.params["anchors"],
                               sizes[i] if i < len(sizes) else None,
                               strides[i] if i < len(strides) else None))
    return rows


def _rpn_summary(rows: list[RPNRow]) -> str:
    lines = ["Region proposal network (anchors)",
             f"{'feature map':<16}{'size':>9}{'stride':>8}{'anchor px':>11}"
             f"{'anchors/loc':>13}{'anchors':>10}"]
    for r in rows:
        stride = "" if r.stride is None else str(r.stride)
        size = "" if r.size is None else str(r.size)
        lines.append(f"{r.feature_node:<16}{f'{r.height}x{r.width}':>9}{stride:>8}"
                     f"{size:>11}{r.anchors:>13}{r.boxes:>10,}")
    lines.append(f"{'total':<16}{'':>9}{'':>8}{'':>11}{'':>13}"
                 f"{sum(r.boxes for r in rows):>10,}")
    return "\n".join(lines)


def detection_summary(graph, analysis=None) -> str:
    """A small text table of the detection heads, or ``""`` if there are none."""
    analysis = analysis or analyze(graph)
    rows = detection_heads(graph, analysis)
    if not rows:
        rpn = rpn_heads(graph, analysis)
        return _rpn_summary(rpn) if rpn else ""
    lines = ["Detection heads (default boxes)",
             f"{'feature map':<16}{'size':>9}{'anchors/loc':>13}{'boxes':>9}"]
    for r in rows:
        lines.append(f"{r.feature_node:<16}{f'{r.height}x{r.width}':>9}{r.anchors:>13}"
                     f"{r.boxes:>9,}")
    scores = {r.scores for r in rows}
    lines.append(f"{'total':<16}{'':>9}{'':>13}{sum(r.boxes for r in rows):>9,}")
    if len(scores) == 1:
        lines.append(f"{scores.pop()} scores per box (background included)")
    return "\n".join(lines)

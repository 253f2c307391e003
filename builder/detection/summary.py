"""What a graph's SSD heads predict: feature maps, anchors per location, default boxes.

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


def detection_summary(graph, analysis=None) -> str:
    """A small text table of the detection heads, or ``""`` if there are none."""
    rows = detection_heads(graph, analysis)
    if not rows:
        return ""
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

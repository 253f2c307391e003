"""Layered top-to-bottom auto-layout on plain data (Sugiyama style, as dagre does).

The canvas hands over boxes as ``(id, width, height)`` and edges as
``(src, dst)`` pairs and gets back top-left positions plus way-points for edges
that span several layers, so long skip connections (ResNet shortcuts) run
beside the layers they skip instead of through them. Pure Python, no Qt: the
same function lays out a window's canvas and a headless render.

Steps: longest-path layering, a dummy node per layer an edge skips, barycentre
ordering sweeps to reduce crossings, then per layer the x coordinates closest
(in least squares) to the neighbours' centres that keep the minimum gap, found
exactly with the pool-adjacent-violators algorithm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Sequence

NodeBox = tuple[Hashable, float, float]  # (id, width, height)

_DUMMY_WIDTH = 24.0


@dataclass
class Layout:
    """Where everything goes.

    Attributes:
        positions: top-left ``(x, y)`` of each box by id.
        edge_points: for each input edge (same order), the way-points between
            its ends: empty for an edge between neighbouring layers.
        layers: the ids of each layer, top to bottom, left to right.
        width: the extent of the drawing.
        height: the extent of the drawing.
    """

    positions: dict[Hashable, tuple[float, float]]
    edge_points: list[list[tuple[float, float]]] = field(default_factory=list)
    layers: list[list[Hashable]] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0


def layered_layout(nodes: Sequence[NodeBox], edges: Sequence[tuple[Hashable, Hashable]],
                   *, h_gap: float = 40.0, v_gap: float = 44.0,
                   sweeps: int = 4) -> Layout:
    """Lays out a directed graph in layers from top to bottom.

    Args:
        nodes: ``(id, width, height)`` per box, in a stable order (ties keep it).
        edges: ``(src, dst)`` pairs; unknown ids and self-loops are ignored,
            and edges that close a cycle are laid out as if reversed.
        h_gap: the least horizontal space between boxes of one layer.
        v_gap: the vertical space between layers.
        sweeps: ordering passes (down and up count as one).

    Returns:
        A :class:`Layout`.
    """
    size = {nid: (float(w), float(h)) for nid, w, h in nodes}
    ids = list(size)
    valid = [(s, d) for s, d in edges if s in size and d in size and s != d]
    layer_of = _layers(ids, valid)

    # Chains of dummies stand in for edges that skip layers.
    succ: dict[Hashable, list[Hashable]] = {nid: [] for nid in ids}
    pred: dict[Hashable, list[Hashable]] = {nid: [] for nid in ids}
    chains: list[list[Hashable]] = []
    for k, (s, d) in enumerate(valid):
        top, bottom = (s, d) if layer_of[s] < layer_of[d] else (d, s)
        chain = []
        prev = top
        for layer in range(layer_of[top] + 1, layer_of[bottom]):
            dummy = ("__dummy__", k, layer)
            size[dummy] = (_DUMMY_WIDTH, 0.0)
            layer_of[dummy] = layer
            succ[dummy], pred[dummy] = [], []
            succ[prev].append(dummy)
            pred[dummy].append(prev)
            chain.append(dummy)
            prev = dummy
        succ[prev].append(bottom)
        pred[bottom].append(prev)
        chains.append(chain if top == s else chain[::-1])

    count = max(layer_of.values(), default=-1) + 1
    layers: list[list[Hashable]] = [[] for _ in range(count)]
    for nid in layer_of:  # real nodes first in input order, then dummies
        layers[layer_of[nid]].append(nid)

    _order(layers, pred, succ, sweeps)
    x = _coordinates(layers, pred, succ, size, h_gap)

    positions: dict[Hashable, tuple[float, float]] = {}
    centres: dict[Hashable, tuple[float, float]] = {}
    y = 0.0
    for layer in layers:
        height = max((size[n][1] for n in layer), default=0.0)
        for nid in layer:
            w, h = size[nid]
            centres[nid] = (x[nid], y + height / 2)
            positions[nid] = (x[nid] - w / 2, y + (height - h) / 2)
        y += height + v_gap
    left = min((positions[n][0] for n in positions), default=0.0)
    right = max((positions[n][0] + size[n][0] for n in positions), default=0.0)
    shift = -left
    real = {nid: (positions[nid][0] + shift, positions[nid][1]) for nid in ids}
    points = [[(centres[d][0] + shift, centres[d][1]) for d in chain] for chain in chains]
    # Edges dropped as invalid still get an (empty) entry, keeping the input order.
    all_points: list[list[tuple[float, float]]] = []
    it = iter(points)
    for s, d in edges:
        all_points.append(next(it) if (s in real and d in real and s != d) else [])
    return Layout(positions=real, edge_points=all_points,
                  layers=[[n for n in layer if not _is_dummy(n)] for layer in layers],
                  width=right - left, height=max(y - v_gap, 0.0))


def _is_dummy(nid: Hashable) -> bool:
    return isinstance(nid, tuple) and len(nid) == 3 and nid[0] == "__dummy__"


def _layers(ids: list[Hashable], edges: list[tuple[Hashable, Hashable]]) -> dict:
    """Longest-path layering; nodes on a cycle are placed after what feeds them."""
    indeg = {nid: 0 for nid in ids}
    out: dict[Hashable, list[Hashable]] = {nid: [] for nid in ids}
    for s, d in edges:
        out[s].append(d)
        indeg[d] += 1
    layer = {nid: 0 for nid in ids}
    ready = [nid for nid in ids if indeg[nid] == 0]
    done = set()
    while True:
        while ready:
            nid = ready.pop()
            done.add(nid)
            for d in out[nid]:
                if layer[d] < layer[nid] + 1:
                    layer[d] = layer[nid] + 1
                indeg[d] -= 1
                if indeg[d] == 0:
                    ready.append(d)
        stuck = [nid for nid in ids if nid not in done]
        if not stuck:
            break
        # Break a cycle at the first stuck node (input order) and carry on.
        indeg[stuck[0]] = 0
        ready.append(stuck[0])
    # Edges now pointing upwards (cycle-breaking) must still span >= 1 layer.
    for s, d in edges:
        if layer[s] == layer[d]:
            layer[d] += 1
    return layer


def _order(layers: list[list[Hashable]], pred: dict, succ: dict, sweeps: int) -> None:
    """Barycentre heuristic: sorts each layer by the mean position of neighbours."""
    for sweep in range(sweeps):
        down = sweep % 2 == 0
        seq = range(1, len(layers)) if down else range(len(layers) - 2, -1, -1)
        for i in seq:
            ref = layers[i - 1] if down else layers[i + 1]
            index = {nid: k for k, nid in enumerate(ref)}
            nbrs = pred if down else succ
            keyed = []
            for k, nid in enumerate(layers[i]):
                near = [index[n] for n in nbrs[nid] if n in index]
                keyed.append((sum(near) / len(near) if near else float(k), k, nid))
            keyed.sort(key=lambda t: (t[0], t[1]))
            layers[i][:] = [nid for _, _, nid in keyed]


def _coordinates(layers: list[list[Hashable]], pred: dict, succ: dict,
                 size: dict, gap: float) -> dict[Hashable, float]:
    """x centres: each layer as close as it can be to its neighbours' centres."""
    x: dict[Hashable, float] = {}
    for layer in layers:  # initial packing
        cursor = 0.0
        for nid in layer:
            w = size[nid][0]
            x[nid] = cursor + w / 2
            cursor += w + gap
    for sweep in range(4):
        down = sweep % 2 == 0
        seq = range(1, len(layers)) if down else range(len(layers) - 2, -1, -1)
        nbrs = pred if down else succ
        for i in seq:
            layer = layers[i]
            desired = []
            weights = []
            for nid in layer:
                # A real box follows its real neighbours: the dummies of a skip
                # edge must not pull the main path sideways (ResNet would drift
                # right by half a column per block).
                near = [x[n] for n in nbrs[nid] if not _is_dummy(n)] \
                    if not _is_dummy(nid) else []
                near = near or [x[n] for n in nbrs[nid]]
                if near:
                    near.sort()
                    mid = len(near) // 2
                    desired.append(near[mid] if len(near) % 2 else
                                   (near[mid - 1] + near[mid]) / 2)
                    # Real boxes win over the dummies of a skip edge, which
                    # give way beside them (and stay straight by following
                    # each other).
                    weights.append(1.0 if _is_dummy(nid) else 1000.0)
                else:
                    desired.append(x[nid])
                    weights.append(0.1)
            for nid, value in zip(layer, _place(layer, desired, weights, size, gap)):
                x[nid] = value
    return x


def _place(layer: list[Hashable], desired: list[float], weights: list[float],
           size: dict, gap: float) -> list[float]:
    """Weighted least-squares x centres keeping boxes ``gap`` apart, in order.

    With ``offset_i`` the least distance from the first centre to the i-th,
    ``x_i = z_i + offset_i`` where ``z`` must be non-decreasing: an isotonic
    regression of ``desired_i - offset_i``, solved by pool-adjacent-violators.
    """
    offsets = [0.0]
    for a, b in zip(layer, layer[1:]):
        offsets.append(offsets[-1] + (size[a][0] + size[b][0]) / 2 + gap)
    blocks: list[list[float]] = []  # [mean, weight, count]
    for d, o, w in zip(desired, offsets, weights):
        blocks.append([d - o, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks[-1]
            total = w1 + w2
            blocks[-1] = [(m1 * w1 + m2 * w2) / total, total, c1 + c2]
    z = []
    for mean, _, c in blocks:
        z.extend([mean] * c)
    return [zi + o for zi, o in zip(z, offsets)]

"""RoIAlign (He et al. 2017) in ``keras.ops`` with torchvision's semantics, and a numpy reference.

Boxes are normalised corners ``(y1, x1, y2, x2)``; on a feature map of ``H x W``
cells a box covers ``y1 * H .. y2 * H`` (so the spatial scale is the map's size,
whatever stride produced it). As ``torchvision.ops.roi_align``:

* ``aligned=True`` shifts the box by half a cell (``-0.5``) so that cell ``i`` has
  its centre at ``i + 0.5``; ``aligned=False`` does not shift and makes boxes at
  least one cell tall and wide.
* Each of the ``oh x ow`` bins averages ``sampling_ratio x sampling_ratio``
  bilinear samples placed at the centres of a regular sub-grid of the bin.
* A sample outside ``[-1, H] x [-1, W]`` contributes 0; inside, coordinates are
  clamped to ``[0, H - 1]`` (resp. W) before interpolation.

torchvision's adaptive ``sampling_ratio <= 0`` (``ceil(roi_size / output)``) makes the
number of samples depend on the box, which static shapes cannot express, so a fixed
positive ratio is required.

The sampling grid is separable, so each sample's four neighbours come from two
index/weight pairs per axis. Two equivalent ways compute the pooled values:
``"dense"`` folds the bilinear weights and the bin average into one ``(oh, H)``
and one ``(ow, W)`` matrix per box and multiplies (fast on small maps, no
scatter in the gradient); ``"gather"`` takes each sample's neighbours from the flat
``(B * H * W, C)`` map with ``ops.take`` (cost independent of the map size; for
large maps such as P2 of an 800 px image). Gradients reach the features (and the
box coordinates) either way.
"""

from __future__ import annotations

import math

import numpy as np
from keras import ops

#: Largest map (``H * W`` cells) that ``method="auto"`` pools with dense products.
DENSE_MAX_CELLS = 64 * 64


def _check(output_size, sampling_ratio):
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    oh, ow = (int(v) for v in output_size)
    if oh < 1 or ow < 1:
        raise ValueError(f"roi_align output_size must be positive. Received: {output_size}")
    if int(sampling_ratio) != sampling_ratio or sampling_ratio < 1:
        raise ValueError("roi_align needs a fixed positive sampling_ratio (static shapes). "
                         f"Received: sampling_ratio={sampling_ratio}")
    return oh, ow, int(sampling_ratio)


def _axis_samples(lo, hi, size: int, bins: int, ratio: int, aligned: bool):
    """Neighbour indices and bilinear weights along one axis.

    Args:
        lo, hi: ``(B, N)`` normalised box edges on this axis.

    Returns:
        ``(i0, i1, w0, w1)`` of shape ``(B, N, bins * ratio)``: int32 indices of the
        lower/upper neighbour and their weights (0 for samples outside the map).
    """
    offset = 0.5 if aligned else 0.0
    start = lo * size - offset
    length = hi * size - offset - start
    if not aligned:
        length = ops.maximum(length, 1.0)
    # Sample j of bin p sits at (p + (j + 0.5) / ratio) bins from the start.
    steps = (np.arange(bins * ratio, dtype=np.float32) + 0.5) / ratio
    pos = ops.expand_dims(start, -1) + ops.expand_dims(length / bins, -1) * steps
    inside = ops.cast((pos >= -1.0) & (pos <= float(size)), pos.dtype)
    pos = ops.maximum(pos, 0.0)
    low = ops.floor(pos)
    at_edge = low >= size - 1
    low = ops.where(at_edge, float(size - 1), low)
    high = ops.where(at_edge, float(size - 1), low + 1.0)
    frac = ops.where(at_edge, 0.0, pos - low)
    return (ops.cast(low, "int32"), ops.cast(high, "int32"),
            (1.0 - frac) * inside, frac * inside)


def roi_align(features, boxes, output_size=(7, 7), sampling_ratio: int = 2,
              aligned: bool = True, method: str = "auto"):
    """Bilinear RoIAlign of ``N`` boxes per image.

    Args:
        features: ``(B, H, W, C)`` feature map.
        boxes: ``(B, N, 4)`` normalised corner boxes.
        output_size: ``(oh, ow)`` bins (or one int).
        sampling_ratio: samples per bin along each axis (a fixed positive int).
        aligned: torchvision's half-pixel offset (``True`` for Mask R-CNN).
        method: ``"dense"`` (two matrix products per box; cost grows with ``H * W``),
            ``"gather"`` (four gathers per sample; cost independent of the map) or
            ``"auto"``: dense for maps of at most :data:`DENSE_MAX_CELLS` cells.

    Returns:
        ``(B, N, oh, ow, C)`` pooled features.
    """
    oh, ow, sr = _check(output_size, sampling_ratio)
    _, h, w, _ = features.shape
    boxes = ops.cast(boxes, features.dtype)
    y0, y1, wy0, wy1 = _axis_samples(boxes[..., 0], boxes[..., 2], h, oh, sr, aligned)
    x0, x1, wx0, wx1 = _axis_samples(boxes[..., 1], boxes[..., 3], w, ow, sr, aligned)
    if method == "auto":
        method = "dense" if h * w <= DENSE_MAX_CELLS else "gather"
    if method == "dense":
        return _dense(features, (y0, y1, wy0, wy1), (x0, x1, wx0, wx1), oh, ow, sr)
    if method != "gather":
        raise ValueError("roi_align method must be 'auto', 'dense' or 'gather'. "
                         f"Received: method={method!r}")
    return _gather(features, (y0, y1, wy0, wy1), (x0, x1, wx0, wx1), oh, ow, sr)


def _axis_matrix(low, high, w_low, w_high, size: int, bins: int, ratio: int):
    """``(B, N, bins, size)``: row p averages the interpolation weights of bin p's samples."""
    dtype = w_low.dtype
    full = (ops.one_hot(low, size, dtype=dtype) * ops.expand_dims(w_low, -1)
            + ops.one_hot(high, size, dtype=dtype) * ops.expand_dims(w_high, -1))
    n = full.shape[1]
    return ops.mean(ops.reshape(full, (-1, n, bins, ratio, size)), axis=3)


def _dense(features, ys, xs, oh, ow, sr):
    """RoIAlign as two small matrix products per box (Ay @ F @ Ax^T).

    Bilinear weights and the bin average factor over the two axes, so each box's
    output is ``Ay (oh, H) . F (H, W, C) . Ax (ow, W)^T``: dense arithmetic that
    beats gathering (and scattering gradients) on small maps.
    """
    _, h, w, _ = features.shape
    ay = _axis_matrix(*ys, h, oh, sr)                                    # (B, N, oh, H)
    ax = _axis_matrix(*xs, w, ow, sr)                                    # (B, N, ow, W)
    rows = ops.einsum("bnph,bhwc->bnpwc", ay, features)                 # (B, N, oh, W, C)
    # A broadcast batched matmul; as an einsum this step needs a large transpose.
    return ops.matmul(ops.expand_dims(ax, 2), rows)                      # (B, N, oh, ow, C)


def _gather(features, ys, xs, oh, ow, sr):
    """RoIAlign by gathering each sample's four neighbours (cost independent of the map size)."""
    _, h, w, c = features.shape
    y0, y1, wy0, wy1 = ys
    x0, x1, wx0, wx1 = xs
    n = y0.shape[1]
    flat = ops.reshape(features, (-1, c))
    # Offset of each image in the flat map; a cumulative sum instead of arange(B)
    # keeps the batch size symbolic when a functional model traces this.
    image = ops.cumsum(ops.ones_like(y0[:, :1, :1]), axis=0) - 1        # (B, 1, 1)
    base = ops.expand_dims(image * (h * w), -1)                          # (B, 1, 1, 1)
    out = 0.0
    for yi, wy in ((y0, wy0), (y1, wy1)):
        for xi, wx in ((x0, wx0), (x1, wx1)):
            index = base + ops.expand_dims(yi * w, -1) + ops.expand_dims(xi, -2)  # (B,N,P,Q)
            weight = ops.expand_dims(wy, -1) * ops.expand_dims(wx, -2)
            out = out + ops.take(flat, index, axis=0) * ops.expand_dims(weight, -1)
    out = ops.reshape(out, (-1, n, oh, sr, ow, sr, c))
    return ops.mean(out, axis=(3, 5))


def fpn_levels(boxes, image_size, canonical_size: float = 224.0, canonical_level: int = 4,
               min_level: int = 2, max_level: int = 5):
    """FPN level of each box: ``floor(k0 + log2(sqrt(w * h) / s0))`` clipped (int32).

    ``w, h`` are in image pixels; torchvision's ``LevelMapper`` adds ``1e-6`` before
    the floor so a box of exactly ``s0 * 2**j`` lands on level ``k0 + j``.
    """
    ih, iw = (image_size, image_size) if isinstance(image_size, int) else image_size
    h = (boxes[..., 2] - boxes[..., 0]) * float(ih)
    w = (boxes[..., 3] - boxes[..., 1]) * float(iw)
    scale = ops.sqrt(ops.maximum(h * w, 1e-12))
    level = ops.floor(canonical_level + ops.log2(scale / canonical_size) + 1e-6)
    return ops.cast(ops.clip(level, min_level, max_level), "int32")


def multilevel_roi_align(features, boxes, image_size, output_size=(7, 7),
                         sampling_ratio: int = 2, canonical_size: float = 224.0,
                         canonical_level: int = 4, min_level: int = 2, max_level: int = 5,
                         aligned: bool = True, method: str = "auto"):
    """RoIAlign of each box on its FPN level (Lin et al. 2017, eq. 1; torchvision's rule).

    Every box is pooled on every level and the right level is selected (static
    shapes: the cost is one RoIAlign per level).

    Args:
        features: list of ``(B, H_k, W_k, C)`` maps, level ``min_level`` first.
        boxes: ``(B, N, 4)`` normalised corner boxes.
        image_size: ``int`` or ``(height, width)`` of the image in pixels.
        output_size, sampling_ratio, aligned, method: as :func:`roi_align`.
        canonical_size, canonical_level, min_level, max_level: the level rule.

    Returns:
        ``(B, N, oh, ow, C)``.
    """
    features = list(features)
    if len(features) != max_level - min_level + 1:
        raise ValueError(f"multilevel_roi_align needs one feature map per level {min_level}.."
                         f"{max_level}. Received: {len(features)} maps")
    level = fpn_levels(boxes, image_size, canonical_size, canonical_level, min_level,
                       max_level)
    out = 0.0
    for k, fmap in enumerate(features):
        pooled = roi_align(fmap, boxes, output_size, sampling_ratio, aligned, method)
        chosen = ops.cast(level == min_level + k, pooled.dtype)
        out = out + pooled * chosen[:, :, None, None, None]
    return out


def _bilinear_numpy(fmap: np.ndarray, y: float, x: float) -> np.ndarray:
    """torchvision's ``bilinear_interpolate`` for one point of a ``(H, W, C)`` map."""
    h, w = fmap.shape[:2]
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return np.zeros(fmap.shape[2])
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= h - 1:
        y_low = y_high = h - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= w - 1:
        x_low = x_high = w - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (hy * hx * fmap[y_low, x_low] + hy * lx * fmap[y_low, x_high]
            + ly * hx * fmap[y_high, x_low] + ly * lx * fmap[y_high, x_high])


def roi_align_numpy(features, boxes, output_size=(7, 7), sampling_ratio: int = 2,
                    aligned: bool = True) -> np.ndarray:
    """Reference RoIAlign: loops over images, boxes, bins and samples (torchvision's CPU kernel).

    Args and returns as :func:`roi_align`; ``sampling_ratio <= 0`` is torchvision's
    adaptive ``ceil(roi_size / output)``, allowed here.
    """
    features = np.asarray(features, np.float64)
    boxes = np.asarray(boxes, np.float64)
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
    bsz, h, w, c = features.shape
    out = np.zeros((bsz, boxes.shape[1], oh, ow, c))
    offset = 0.5 if aligned else 0.0
    for b in range(bsz):
        for n, (by1, bx1, by2, bx2) in enumerate(boxes[b]):
            y_start, x_start = by1 * h - offset, bx1 * w - offset
            roi_h, roi_w = by2 * h - offset - y_start, bx2 * w - offset - x_start
            if not aligned:
                roi_h, roi_w = max(roi_h, 1.0), max(roi_w, 1.0)
            bin_h, bin_w = roi_h / oh, roi_w / ow
            gh = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / oh)
            gw = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / ow)
            count = max(gh * gw, 1)
            for py in range(oh):
                for px in range(ow):
                    acc = np.zeros(c)
                    for iy in range(gh):
                        y = y_start + py * bin_h + (iy + 0.5) * bin_h / gh
                        for ix in range(gw):
                            x = x_start + px * bin_w + (ix + 0.5) * bin_w / gw
                            acc += _bilinear_numpy(features[b], y, x)
                    out[b, n, py, px] = acc / count
    return out

"""pyqtgraph set-up shared by the panel's plots (PySide6 binding, no OpenGL)."""

from __future__ import annotations

import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import PySide6  # noqa: E402,F401 - pyqtgraph must find the binding already loaded
import pyqtgraph as pg  # noqa: E402

pg.setConfigOptions(antialias=True, background="w", foreground="#333", useOpenGL=False)

#: Line colours for overlaid runs (Tableau 10).
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf")


def plot(title: str, left: str, bottom: str, *, log_y: bool = False,
         legend: bool = True) -> pg.PlotWidget:
    """A white plot with a title, axis labels, a light grid and a legend."""
    w = pg.PlotWidget()
    item = w.getPlotItem()
    item.setTitle(title, size="10pt")
    item.setLabel("left", left)
    item.setLabel("bottom", bottom)
    item.showGrid(x=True, y=True, alpha=0.2)
    item.setLogMode(y=log_y)
    item.setMenuEnabled(False)
    # A fixed-width value axis: otherwise each new tick-label width re-lays out
    # the whole plot (AxisItem.boundingRect), the panel's costliest paint work.
    item.getAxis("left").setWidth(54)
    if legend:
        item.addLegend(offset=(-5, 5), labelTextSize="8pt")
    w.setMinimumSize(200, 150)
    return w


def pen(color: str, width: float = 1.6, dashed: bool = False):
    from PySide6.QtCore import Qt  # noqa: PLC0415

    p = pg.mkPen(color, width=width)
    if dashed:
        p.setStyle(Qt.DashLine)
    return p


def finite(xs, ys):
    """Pairs whose y is a number (a missing metric is ``None`` in the events)."""
    pairs = [(x, y) for x, y in zip(xs, ys) if y is not None]
    return [p[0] for p in pairs], [p[1] for p in pairs]

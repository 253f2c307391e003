"""How fast is the desktop builder? (offscreen; prints measured figures and ratios)

Targets (issue #6):
  * window shown with the default project drawn: < 1.5 s from process start,
    with no TensorFlow or Keras imported (asserted);
  * an inspector edit to updated shapes on the canvas: < 16 ms for VGG-16 and
    for ResNet-152 expanded (516 nodes);
  * opening a >= 500-node graph, auto-layout included: < 1 s;
  * pan and zoom paint time: > 30 frames per second.

Every figure is measured in this run, next to a baseline measured in the same
run (an empty interpreter's start, a from-scratch analysis), because the
machine may be busy. Run: ``.venv/bin/python benchmarks/gui.py``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

_STARTUP = r"""
import time, sys
t0 = time.perf_counter()
from builder.gui.app import open_window
app, window = open_window(None, offer_recovery=False, remember_layout=False)
window.view.viewport().repaint()
app.processEvents()
heavy = [m for m in ("tensorflow", "keras") if m in sys.modules]
print("SHOWN", time.perf_counter() - t0, len(window.document.graph), ",".join(heavy), flush=True)
"""


def startup(runs: int = 3) -> None:
    """Process start to window drawn, against an empty interpreter's start."""
    env = {**os.environ, "KERAS_BUILDER_CONFIG_DIR": tempfile.mkdtemp()}
    totals, insides, empties = [], [], []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        empties.append(time.perf_counter() - t)
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", _STARTUP], capture_output=True,
                             text=True, env=env, check=True)
        totals.append(time.perf_counter() - t)
        line = next(x for x in out.stdout.splitlines() if x.startswith("SHOWN"))
        parts = line.split(" ")
        insides.append(float(parts[1]))
        nodes = int(parts[2])
        heavy = parts[3] if len(parts) > 3 else ""
        assert heavy == "", f"TensorFlow/Keras imported at start-up: {heavy}"
    total, empty = statistics.median(totals), statistics.median(empties)
    print(f"start-up, default project ({nodes} nodes) shown and drawn: "
          f"{total * 1e3:.0f} ms from process start (target < 1500 ms; "
          f"{statistics.median(insides) * 1e3:.0f} ms after the interpreter is up; "
          f"an empty interpreter takes {empty * 1e3:.0f} ms, ratio {total / empty:.1f}x); "
          f"TensorFlow/Keras imported: no")


def _window(project):
    from builder.gui.app import application
    from builder.gui.document import Document
    from builder.gui.main_window import MainWindow

    app = application()
    window = MainWindow(Document(project), remember_layout=False)
    window.resize(1500, 920)
    window.show()
    app.processEvents()
    return app, window


def _median_ms(times) -> float:
    return statistics.median(times) * 1e3


def inspector_edit(name: str, project, node_id: str, runs: int = 41) -> None:
    """Spin-box edit -> history -> incremental analysis -> canvas items updated."""
    from builder.analysis import analyze

    app, window = _window(project)
    window.scene.select([node_id])
    app.processEvents()
    editor = window.inspector.editors["filters"]
    item = window.scene.nodes[node_id]
    start = editor.value()
    times, paints = [], []
    for k in range(runs):
        value = start + 1 + (k % 2)
        t = time.perf_counter()
        editor.setValue(value)  # what a keystroke in the inspector does
        times.append(time.perf_counter() - t)
        assert f"-{value}" in item.label, item.label
        t = time.perf_counter()
        window.view.viewport().repaint()
        paints.append(time.perf_counter() - t)
    graph = window.document.graph
    full = []
    for _ in range(9):
        t = time.perf_counter()
        analyze(graph)
        full.append(time.perf_counter() - t)
    edit = _median_ms(times)
    print(f"inspector edit -> shapes on the canvas, {name} ({len(graph)} nodes): "
          f"{edit:.2f} ms (target < 16 ms); + repainting the view {_median_ms(paints):.2f} ms; "
          f"a from-scratch analysis alone takes {_median_ms(full):.2f} ms "
          f"(ratio {_median_ms(full) / edit:.2f}x)")
    window.document.history.mark_clean()
    window.close()


def open_big(runs: int = 5) -> None:
    """A 516-node graph without positions: auto-layout, items, first paint."""
    from builder.analysis import analyze
    from builder.core.project import Project
    from builder.gui.document import Document
    from networks import resnet152

    app, window = _window(Project(graph=resnet152()))
    times, bases = [], []
    for _ in range(runs):
        graph = resnet152()
        t = time.perf_counter()
        analyze(graph)
        bases.append(time.perf_counter() - t)
        graph = resnet152()
        t = time.perf_counter()
        window.set_document(Document(Project(graph=graph)))
        window.view.fit_all()
        window.view.viewport().repaint()
        times.append(time.perf_counter() - t)
    print(f"open ResNet-152 expanded ({len(graph)} nodes), auto-layout + items + first paint: "
          f"{_median_ms(times):.0f} ms (target < 1000 ms; a from-scratch analysis "
          f"takes {_median_ms(bases):.0f} ms of it)")
    view = window.view
    for label, zoom in (("fitted", None), ("at 100 %", 1.0), ("at 50 %", 0.5)):
        if zoom is None:
            view.fit_all()
        else:
            view.set_zoom(zoom)
        bar = view.verticalScrollBar()
        paints = []
        for k in range(30):
            bar.setValue(bar.minimum() + (bar.maximum() - bar.minimum()) * k // 29)
            t = time.perf_counter()
            view.viewport().repaint()
            paints.append(time.perf_counter() - t)
        ms = _median_ms(paints)
        print(f"pan/zoom paint, ResNet-152 {label}: {ms:.1f} ms per frame = "
              f"{1000 / ms:.0f} fps (target > 30 fps; worst {max(paints) * 1e3:.1f} ms)")
    window.document.history.mark_clean()
    window.close()


def open_template_expanded(name: str = "resnet152", runs: int = 3) -> None:
    """The shipped template flattened to every layer, opened with auto-layout."""
    import builder
    from builder.analysis.expand import expand_graph
    from builder.core.project import Project
    from builder.gui.document import Document

    if not (builder.templates_dir() / f"{name}.json").is_file():
        print(f"(template {name} not shipped: skipped)")
        return
    flat, _ = expand_graph(builder.from_template(name).graph)
    app, window = _window(Project(graph=flat.copy()))
    times = []
    for _ in range(runs):
        graph = flat.copy()
        for node in graph.nodes.values():
            node.pos = None
        t = time.perf_counter()
        window.set_document(Document(Project(graph=graph)))
        window.view.viewport().repaint()
        times.append(time.perf_counter() - t)
    print(f"open template {name} expanded ({len(flat)} nodes), auto-layout + items + "
          f"first paint: {_median_ms(times):.0f} ms (target < 1000 ms)")
    window.document.history.mark_clean()
    window.close()


def main() -> None:
    import builder
    from networks import resnet152
    from builder.core.project import Project

    print(f"machine: {os.cpu_count()} CPUs, possibly shared; Qt platform "
          f"{os.environ['QT_QPA_PLATFORM']}")
    startup()
    vgg = builder.from_template("vgg16")
    inspector_edit("VGG-16, first conv", vgg, "block1_conv1")
    inspector_edit("ResNet-152 expanded, stem conv", Project(graph=resnet152()), "conv2d_1")
    open_big()
    open_template_expanded()


if __name__ == "__main__":
    main()

"""How fast is the pure-Python analysis, against building the model with Keras?

Prints medians measured in this run and their ratios. Targets (issue #2):
full analyze of a 500-layer graph and of VGG-16 under 2 ms; one param edit
recomputed incrementally under 0.5 ms; at least 500x faster than
``to_keras`` + ``count_params`` on the same graph.

Run: ``make bench`` or ``.venv/bin/python benchmarks/analysis.py [--keras-runs N]``.
Every shipped template (issue #3: load time, analysis of ResNet-152 and Inception
v3 as composites) is timed by ``benchmarks/templates.py``, which reuses this
module's helpers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import builder  # noqa: E402
from builder.analysis import Analyzer, analyze  # noqa: E402
from builder.analysis.node_info import MEMO  # noqa: E402
from networks import resnet152, vgg16  # noqa: E402


def median_ms(fn, runs: int, before=None) -> float:
    """Median wall time of ``fn(state)`` in milliseconds; ``before()`` runs untimed
    before each call and returns its ``state``."""
    times = []
    for _ in range(runs):
        state = before() if before else None
        start = time.perf_counter()
        fn(state)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def opened(graph):
    """A fresh copy of ``graph`` and an empty memo: a file just opened."""
    MEMO.clear()
    return graph.copy()


def incremental_ms(graph, node: str, key: str, values, runs: int) -> tuple[float, int]:
    """Median time of one set_param plus the analysis refresh it triggers."""
    live = Analyzer(graph)
    live.analysis
    times, counts = [], []
    for i in range(runs):
        value = values[i % len(values)]
        start = time.perf_counter()
        graph.set_param(node, key, value)
        live.analysis
        times.append(time.perf_counter() - start)
        counts.append(live.recomputed)
    live.close()
    return statistics.median(times) * 1e3, max(counts)


def keras_ms(graph, runs: int) -> float:
    """Median time of to_keras + count_params (Keras already imported)."""
    def build(_):
        import keras

        model = builder.to_keras(graph)
        model.count_params()
        keras.backend.clear_session()
    return median_ms(build, runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--keras-runs", type=int, default=3)
    args = parser.parse_args()

    graphs = {"ResNet-152 (expanded)": resnet152(), "VGG-16": vgg16()}
    print(f"{'graph':<24}{'nodes':>6}{'params':>14} {'opened':>8}{'cold':>7}{'warm':>7}"
          f"{'edit':>8}{'(nodes)':>8}{'shape-edit':>11}{'(nodes)':>8}   (ms)")
    results = {}
    for name, g in graphs.items():
        totals = analyze(g).totals
        fresh = median_ms(analyze, args.runs, before=lambda: opened(g))
        cold = median_ms(lambda _: analyze(g), args.runs, before=MEMO.clear)
        warm = median_ms(lambda _: analyze(g), args.runs)
        convs = [n for n in g.topological_order() if g.nodes[n].kind == "Conv2D"]
        mid = convs[len(convs) // 2]
        edit, edit_nodes = incremental_ms(g, mid, "filters", [96, 64], args.runs)
        first = convs[0]
        shape_edit, shape_nodes = incremental_ms(
            g, first, "strides", [1, 2], max(20, args.runs // 10))
        print(f"{name:<24}{len(g):>6}{totals.params:>14,} {fresh:>8.2f}{cold:>7.2f}"
              f"{warm:>7.2f}{edit:>8.3f}{edit_nodes:>8}{shape_edit:>11.2f}{shape_nodes:>8}")
        results[name] = fresh
    print("\nopened: a new copy of the graph (no cached topological order) and an empty")
    print("memo of rule outcomes, as for a file just opened; cold: memo emptied, graph")
    print("kept; warm: both kept, as the editor re-analysing; edit: set filters on a")
    print("middle conv + refresh; shape-edit: set the first conv's stride, which changes")
    print("every shape downstream. Medians.\n")

    import keras  # noqa: F401  - import time is not part of the comparison

    for name, g in graphs.items():
        k = keras_ms(g, args.keras_runs)
        print(f"{name:<24} to_keras + count_params: {k:8.1f} ms median of "
              f"{args.keras_runs}  -> analyze (opened) is {k / results[name]:,.0f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Analysis speed of networks drawn with composite blocks, against Keras.

ResNet-152 as a stem, four Stage blocks and a head (keras.applications-exact),
and Inception v3 as a stem and its mixed0..mixed10 modules. Issue #3's target:
full analysis under 5 ms median each, and at least 300x faster than building
the same model with Keras (to_keras + count_params) in the same run.

Run: ``.venv/bin/python benchmarks/composites.py [--runs N] [--keras-runs N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import builder  # noqa: E402
from builder.analysis import Analyzer, analyze  # noqa: E402
from builder.analysis.expand import expand_graph  # noqa: E402
from builder.analysis.node_info import MEMO  # noqa: E402
from builder.blocks.composites import base  # noqa: E402
from builder.core import Graph  # noqa: E402

EPS = 1.001e-5


def _chain(g: Graph, x: str, *nodes) -> str:
    for node_id, kind, params in nodes:
        g.add_node(kind, params, id=node_id)
        g.connect(x, node_id)
        x = node_id
    return x


def resnet152() -> Graph:
    """ResNet-152: stem, Stage conv2..conv5 (3, 8, 36, 3 bottlenecks), head."""
    g = Graph()
    g.add_node("Input", {"shape": [224, 224, 3]}, id="input_layer")
    x = _chain(g, "input_layer",
               ("conv1_pad", "ZeroPadding2D", {"padding": 3}),
               ("conv1_conv", "Conv2D", {"filters": 64, "kernel_size": 7, "strides": 2,
                                         "padding": "valid"}),
               ("conv1_bn", "BatchNormalization", {"epsilon": EPS}),
               ("conv1_relu", "Activation", {"activation": "relu"}),
               ("pool1_pad", "ZeroPadding2D", {"padding": 1}),
               ("pool1_pool", "MaxPool2D", {"pool_size": 3, "strides": 2}))
    for stage, (filters, blocks, strides) in enumerate(
            [(64, 3, 1), (128, 8, 2), (256, 36, 2), (512, 3, 2)], start=2):
        x = _chain(g, x, (f"conv{stage}", "Stage", {
            "block": "ResidualBottleneck", "blocks": blocks,
            "params": {"filters": filters, "use_bias": True, "epsilon": EPS},
            "first": {"strides": strides, "shortcut": "projection"}}))
    x = _chain(g, x, ("avg_pool", "GlobalAvgPool2D", {}),
               ("predictions", "Dense", {"units": 1000, "activation": "softmax"}))
    _chain(g, x, ("output", "Output", {}))
    return g


def inception_v3() -> Graph:
    """Inception v3: the stem of ConvBN units, then mixed0..mixed10."""
    g = Graph()
    g.add_node("Input", {"shape": [299, 299, 3]}, id="input_layer")

    def cbn(node_id, filters, k, strides=1, padding="same"):
        return (node_id, "ConvBN", {"filters": filters, "kernel_size": k,
                                    "strides": strides, "padding": padding})
    modules = [("mixed0", "InceptionA", {"pool_features": 32}),
               ("mixed1", "InceptionA", {"pool_features": 64}),
               ("mixed2", "InceptionA", {"pool_features": 64}),
               ("mixed3", "InceptionB", {}),
               ("mixed4", "InceptionC", {"channels_7x7": 128}),
               ("mixed5", "InceptionC", {"channels_7x7": 160}),
               ("mixed6", "InceptionC", {"channels_7x7": 160}),
               ("mixed7", "InceptionC", {"channels_7x7": 192}),
               ("mixed8", "InceptionD", {}), ("mixed9", "InceptionE", {}),
               ("mixed10", "InceptionE", {})]
    x = _chain(g, "input_layer",
               cbn("stem1", 32, 3, 2, "valid"), cbn("stem2", 32, 3, 1, "valid"),
               cbn("stem3", 64, 3), ("pool1", "MaxPool2D", {"pool_size": 3, "strides": 2}),
               cbn("stem4", 80, 1, 1, "valid"), cbn("stem5", 192, 3, 1, "valid"),
               ("pool2", "MaxPool2D", {"pool_size": 3, "strides": 2}), *modules,
               ("avg_pool", "GlobalAvgPool2D", {}),
               ("predictions", "Dense", {"units": 1000, "activation": "softmax"}))
    _chain(g, x, ("output", "Output", {}))
    return g


def median_ms(fn, runs: int, before=None) -> float:
    """Median wall time of ``fn(state)`` in ms; ``before()`` runs untimed first."""
    times = []
    for _ in range(runs):
        state = before() if before else None
        start = time.perf_counter()
        fn(state)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def forget():
    """Empties every memo: rule outcomes and expansions."""
    MEMO.clear()
    base._EXPANSIONS.clear()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--keras-runs", type=int, default=3)
    args = parser.parse_args()
    graphs = {"ResNet-152 (stages)": resnet152(), "Inception v3 (modules)": inception_v3()}
    print(f"{'graph':<24}{'nodes':>6}{'layers':>7}{'params':>13}{'opened':>8}{'warm':>7}"
          f"{'edit':>7}{'flat':>7}{'flat opened':>12}{'ratio':>9}   (ms, medians)")
    opened = {}
    for name, g in graphs.items():
        a = analyze(g)
        assert a.ok, [str(d) for d in a.errors]
        flat, _ = expand_graph(g, a)
        fresh = median_ms(analyze, args.runs, before=lambda: (forget(), g.copy())[1])
        warm = median_ms(lambda _: analyze(g), args.runs)
        live = Analyzer(g)
        live.analysis
        stage = next(n for n in g.nodes if g.nodes[n].kind in ("Stage", "InceptionC"))
        key = "blocks" if g.nodes[stage].kind == "Stage" else "channels_7x7"
        start = g.nodes[stage].params[key]
        values = [start - 1, start]

        def edit(i):
            g.set_param(stage, key, values[i % 2])
            live.analysis
        edits = []
        for i in range(args.runs):
            t = time.perf_counter()
            edit(i)
            edits.append(time.perf_counter() - t)
        live.close()
        flat_ms = median_ms(lambda _: analyze(expand_graph(g)[0]), max(5, args.runs // 10))
        # Baseline: the same network drawn layer by layer, just opened.
        flat_opened = median_ms(analyze, args.runs, before=lambda: (forget(), flat.copy())[1])
        print(f"{name:<24}{len(g):>6}{len(flat):>7}{a.totals.params:>13,}{fresh:>8.2f}"
              f"{warm:>7.2f}{statistics.median(edits) * 1e3:>7.2f}{flat_ms:>7.1f}"
              f"{flat_opened:>12.2f}{flat_opened / fresh:>8.1f}x")
        opened[name] = fresh
    print("\nopened: copy of the graph, every memo emptied (a file just opened); warm: "
          "memos kept;\nedit: one stage/module param changed and re-analysed "
          "incrementally (memo kept);\nflat: expand to every layer and analyse that "
          "(what summary and compile do);\nflat opened: the expanded graph "
          "(every layer a node) just opened, the baseline; ratio: flat opened / "
          "opened.\n")
    import keras

    for name, g in graphs.items():
        times = []
        for _ in range(args.keras_runs):
            t = time.perf_counter()
            builder.to_keras(g).count_params()
            times.append(time.perf_counter() - t)
            keras.backend.clear_session()
        k = statistics.median(times) * 1e3
        print(f"{name:<24} to_keras + count_params: {k:8.1f} ms median of "
              f"{args.keras_runs} -> analyze (opened) is {k / opened[name]:,.0f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

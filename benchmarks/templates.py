"""How fast does every shipped template open and analyse, against Keras?

For each template prints, measured in this run: the median time to load the
file from disk (``builder.load``: parse, validate, build the graph), the median
full analysis of the graph as just opened (fresh graph copy, empty memo of rule
outcomes, composites expanded from scratch), the time Keras takes to build the
same model (``to_keras`` + ``count_params``), and the ratio of the two.

Targets (issue #3): loading any template under 100 ms; full analysis of
ResNet-152 and Inception v3 under 5 ms median each, at least 300x faster than
the Keras build.

Run: ``.venv/bin/python benchmarks/templates.py [--keras-runs N] [names...]``.
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
from builder.analysis import analyze  # noqa: E402
from builder.analysis.node_info import MEMO  # noqa: E402

import analysis as analysis_bench  # noqa: E402  - benchmarks/analysis.py

#: Templates whose analysis has a target of its own (ms, least ratio).
TARGETS = {"resnet152": (5.0, 300), "inception_v3": (5.0, 300)}
LOAD_TARGET_MS = 100.0


def _forget_expansions() -> None:
    # Composite expansions are memoised per (kind, params); a file just opened
    # has none yet. The module exists once the composites land.
    try:
        from builder.blocks.composites import base
    except ImportError:
        return
    getattr(base, "_EXPANSIONS", {}).clear()


def opened(graph):
    """A fresh copy of ``graph``, no memo and no expansions: a file just opened."""
    _forget_expansions()
    MEMO.clear()
    return graph.copy()


def median_wall_and_cpu_ms(fn, runs: int, before) -> tuple[float, float]:
    """Medians of wall time and of this thread's CPU time of ``fn(before())``.

    On a shared machine the wall time includes the moments the scheduler gives
    the core to someone else; the CPU time does not, and shows the work itself.
    """
    wall, cpu = [], []
    for _ in range(runs):
        state = before()
        start, start_cpu = time.perf_counter(), time.thread_time()
        fn(state)
        cpu.append(time.thread_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return statistics.median(wall) * 1e3, statistics.median(cpu) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="templates (default: all)")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--keras-runs", type=int, default=1)
    args = parser.parse_args()
    names = args.names or sorted(p.stem for p in builder.templates_dir().glob("*.json"))
    median_ms = analysis_bench.median_ms

    import keras  # noqa: F401  - import time is not part of the comparison

    print(f"{'template':<22}{'nodes':>6}{'params':>14}{'load':>8}{'analyse':>9}"
          f"{'(cpu)':>7}{'cold':>7}{'keras':>9}{'ratio':>8}   (ms, medians)")
    failed = []
    for name in names:
        path = builder.template_path(name)
        load = median_ms(lambda _: builder.load(path), max(5, args.runs // 5))
        graph = builder.load(path).graph
        totals = analyze(graph).totals
        full, full_cpu = median_wall_and_cpu_ms(analyze, args.runs,
                                                before=lambda: opened(graph))
        cold = median_ms(lambda _: analyze(graph), args.runs, before=MEMO.clear)
        build = analysis_bench.keras_ms(graph, args.keras_runs)
        ratio = build / full
        mark = ""
        limit, least = TARGETS.get(name, (None, None))
        if load > LOAD_TARGET_MS or (limit and (full_cpu > limit or ratio < least)):
            mark = "  MISSED TARGET"
            failed.append(name)
        elif limit and full > limit:
            mark = "  (wall time over target: machine busy)"
        print(f"{name:<22}{len(graph):>6}{totals.params:>14,}{load:>8.2f}{full:>9.2f}"
              f"{full_cpu:>7.2f}{cold:>7.2f}{build:>9.0f}{ratio:>7,.0f}x{mark}", flush=True)
    print(f"\nload: builder.load from disk; analyse: analyze() of a graph just opened "
          f"(fresh copy, no memo, no composite expansions; median of {args.runs}), wall "
          f"time and (cpu) this thread's CPU time; cold: "
          f"memo of rule outcomes emptied but expansions kept, as when re-analysing after "
          f"an edit; keras: to_keras + count_params (median of {args.keras_runs}); "
          f"ratio = keras / analyse.")
    print("Targets: load < 100 ms for every template; resnet152 and inception_v3 "
          "analyse < 5 ms (judged on CPU time, which a busy machine does not inflate) "
          "and >= 300x.")
    if failed:
        print(f"Missed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How fast is a run, against a plain script calling ``model.fit``?

A run (child process, event stream, checkpoints, backup, CSV log) trains a
CIFAR-size CNN on synthetic 32x32x3 data; in the same benchmark, in this
process, a plain ``model.fit`` trains the same compiled model (same graph,
optimizer, loss, data, batch size, validation data) with ``verbose=0``.
Throughput is images per second over the epochs after the first (the first
includes tracing and compilation), from epoch-end wall-clock times, so
checkpoint and backup writing count against the run. Also printed: the time
from asking for the run to its ``started`` event and to its first ``batch``
event. Target (issue 4): ratio >= 0.95.

Run: ``.venv/bin/python benchmarks/training.py [--samples N] [--epochs E] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from builder.core import Graph  # noqa: E402
from builder.core.project import Project  # noqa: E402


def cifar_cnn() -> Graph:
    """A small VGG-style CNN for 32x32x3 images: 4 conv layers, 2 pools, 2 FC."""
    g = Graph()
    prev = g.add_node("Input", {"shape": [32, 32, 3]}, id="images").id
    for i, filters in enumerate((32, 32, 64, 64)):
        conv = g.add_node("Conv2D", {"filters": filters, "kernel_size": 3,
                                     "padding": "same", "activation": "relu"},
                          id=f"conv{i + 1}").id
        g.connect(prev, conv)
        prev = conv
        if i % 2:
            pool = g.add_node("MaxPool2D", {"pool_size": 2, "strides": 2},
                              id=f"pool{i // 2 + 1}").id
            g.connect(prev, pool)
            prev = pool
    for node, kind, params in (("flatten", "Flatten", {}),
                               ("fc1", "Dense", {"units": 128, "activation": "relu"}),
                               ("predictions", "Dense", {"units": 10,
                                                         "activation": "softmax"}),
                               ("output", "Output", {})):
        g.add_node(kind, params, id=node)
        g.connect(prev, node)
        prev = node
    return g


def synthetic(path: Path, samples: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (samples, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, samples)
    np.savez(path, x=x, y=y)


def images_per_second(epoch_ends: list[float], samples: int) -> float:
    """Throughput over the epochs after the first."""
    spans = np.diff(epoch_ends)
    return samples / float(np.median(spans))


def run_once(project: Project, data: Path, epochs: int, batch: int, folder: Path):
    from builder.training.process import start_run

    asked = time.time()
    handle = start_run(project, folder, dataset={"path": str(data), "validation_split": 0.1,
                                                 "shuffle": False},
                       training={"epochs": epochs, "batch_size": batch})
    started = first_batch = None
    ends, samples = [], 0
    for event in handle.events(timeout=600):
        if event["type"] == "started":
            started, samples = event["time"] - asked, event["samples"]
        elif event["type"] == "batch" and first_batch is None:
            first_batch = event["time"] - asked
        elif event["type"] == "epoch":
            ends.append(event["time"])
        elif event["type"] == "failed":
            raise SystemExit(f"the run failed: {event['message']}")
    handle.wait()
    return images_per_second(ends, samples), started, first_batch


def plain_once(project: Project, data: Path, epochs: int, batch: int) -> float:
    import keras

    import builder
    from builder.training import model_setup
    from builder.training.datasets import load_dataset
    from builder.training.optimizers import build_optimizer

    keras.utils.set_random_seed(0)
    model = builder.to_keras(project.graph)
    d = load_dataset({"path": str(data), "validation_split": 0.1, "shuffle": False},
                     (32, 32, 3))
    steps = -(-len(d.x_train) // batch)
    model.compile(optimizer=build_optimizer({}, steps, epochs),
                  **model_setup.compile_args(project.graph, model))
    ends: list[float] = []
    clock = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: ends.append(time.time()))
    model.fit(d.x_train, d.y_train, batch_size=batch, epochs=epochs,
              validation_data=(d.x_val, d.y_val), shuffle=True, verbose=0, callbacks=[clock])
    return images_per_second(ends, len(d.x_train))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    project = Project(cifar_cnn(), name="cifar-cnn")
    runs, plains, startups, firsts = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "synthetic.npz"
        synthetic(data, args.samples)
        for r in range(args.repeats):  # alternate, so background load hits both alike
            ips, started, first = run_once(project, data, args.epochs, args.batch_size,
                                           Path(tmp) / f"run{r}")
            runs.append(ips)
            startups.append(started)
            firsts.append(first)
            plains.append(plain_once(project, data, args.epochs, args.batch_size))
            print(f"  repeat {r + 1}: run {ips:7.1f} img/s   plain fit {plains[-1]:7.1f} img/s",
                  flush=True)
    run, plain = statistics.median(runs), statistics.median(plains)
    print(f"CIFAR-size CNN, {args.samples} synthetic 32x32x3 images, batch {args.batch_size}, "
          f"{args.epochs} epochs, {os.cpu_count()} CPUs")
    print(f"images/s   run {run:.1f}   plain model.fit {plain:.1f}   "
          f"ratio {run / plain:.3f}   (target >= 0.95)")
    print(f"start -> 'started' event  {statistics.median(startups):.2f} s;  "
          f"start -> first 'batch' event  {statistics.median(firsts):.2f} s "
          f"(child process start, TensorFlow import, data, model, first step)")


if __name__ == "__main__":
    main()

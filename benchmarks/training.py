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

On a GPU machine the issue asks for the same comparison for ResNet-50 at
224x224 on synthetic data under JAX with mixed precision::

    KERAS_BACKEND=jax python benchmarks/training.py --model resnet50 \
        --backend jax --mixed-precision --samples 2048 --batch-size 128

(``--model resnet50`` opens ``templates/resnet50.json``; 1,000 classes.)
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


def synthetic(path: Path, samples: int, shape: tuple[int, ...] = (32, 32, 3),
              classes: int = 10) -> None:
    """Random uint8 images; every class appears (the dataset counts classes)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (samples, *shape), dtype=np.uint8)
    y = rng.permutation(np.arange(samples) % classes)
    np.savez(path, x=x, y=y)


def images_per_second(epoch_ends: list[float], samples: int) -> float:
    """Throughput over the epochs after the first."""
    spans = np.diff(epoch_ends)
    return samples / float(np.median(spans))


def run_once(project: Project, data: Path, epochs: int, batch: int, folder: Path,
             extra: dict | None = None):
    from builder.training.process import start_run

    asked = time.time()
    handle = start_run(project, folder, dataset={"path": str(data), "validation_split": 0.1,
                                                 "shuffle": False},
                       training={"epochs": epochs, "batch_size": batch, **(extra or {})})
    started = first_batch = last = None
    seen: dict[str, int] = {}
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
        last = event["type"]
        seen[last] = seen.get(last, 0) + 1
    handle.wait()
    if len(ends) < 2:  # a child that died without a 'failed' event (a native crash)
        log = (folder / "stderr.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"the run ended after '{last}' with {len(ends)} epoch events "
                         f"(exit code {handle.returncode}; events {seen}); its stderr:\n{log}")
    return images_per_second(ends, samples), started, first_batch


def plain_once(project: Project, data: Path, epochs: int, batch: int,
               mixed: bool = False) -> float:
    import keras

    import builder
    from builder.training import model_setup
    from builder.training.datasets import load_dataset
    from builder.training.optimizers import build_optimizer

    keras.utils.set_random_seed(0)
    # The same precision set-up a run makes (model_setup), so both train alike.
    model_setup.set_precision(mixed)
    model = builder.to_keras(project.graph)
    if mixed:
        model = model_setup.last_layers_float32(model)
    d = load_dataset({"path": str(data), "validation_split": 0.1, "shuffle": False},
                     tuple(model.inputs[0].shape[1:]))
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
    parser.add_argument("--model", choices=("cifar_cnn", "resnet50"), default="cifar_cnn")
    parser.add_argument("--backend", default=None,
                        help="the run's Keras backend (set KERAS_BACKEND to the same)")
    parser.add_argument("--mixed-precision", action="store_true")
    args = parser.parse_args()
    if args.model == "resnet50":
        import builder

        project = builder.from_template("resnet50")
        shape, classes = (224, 224, 3), 1000
    else:
        project = Project(cifar_cnn(), name="cifar-cnn")
        shape, classes = (32, 32, 3), 10
    extra: dict = {"mixed_precision": args.mixed_precision}
    if args.backend:
        extra["backend"] = args.backend
    runs, plains, startups, firsts = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "synthetic.npz"
        synthetic(data, args.samples, shape, classes)
        for r in range(args.repeats):  # alternate, so background load hits both alike
            ips, started, first = run_once(project, data, args.epochs, args.batch_size,
                                           Path(tmp) / f"run{r}", extra)
            runs.append(ips)
            startups.append(started)
            firsts.append(first)
            plains.append(plain_once(project, data, args.epochs, args.batch_size,
                                     args.mixed_precision))
            print(f"  repeat {r + 1}: run {ips:7.1f} img/s   plain fit {plains[-1]:7.1f} img/s",
                  flush=True)
    run, plain = statistics.median(runs), statistics.median(plains)
    import keras

    print(f"{project.name or args.model}, {args.samples} synthetic "
          f"{'x'.join(map(str, shape))} images, batch {args.batch_size}, {args.epochs} epochs, "
          f"backend {keras.backend.backend()}, mixed precision "
          f"{'on' if args.mixed_precision else 'off'}, {os.cpu_count()} CPUs")
    print(f"images/s   run {run:.1f}   plain model.fit {plain:.1f}   "
          f"ratio {run / plain:.3f}   (target >= 0.95)")
    print(f"start -> 'started' event  {statistics.median(startups):.2f} s;  "
          f"start -> first 'batch' event  {statistics.median(firsts):.2f} s "
          f"(child process start, TensorFlow import, data, model, first step)")


if __name__ == "__main__":
    main()

"""``builder train``, ``evaluate``, ``export`` and ``lr-find``: the work behind
the thin dispatchers in :mod:`builder.cli`.

Each function takes the parsed arguments and returns the exit status; a
problem the user can fix is a :class:`~builder.core.errors.BuilderError`
with a one-line message, which the CLI prints.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from builder.training.errors import TrainingError

EXIT_FAILED = 1


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``builder train``."""
    parser.add_argument("project", nargs="?",
                        help="project file (.json) or template name (lenet)")
    parser.add_argument("--dataset", help="digits, shapes, mnist, fashion_mnist, cifar10, "
                        "cifar100, or a path to an image folder, .npz or .csv")
    parser.add_argument("--epochs", type=int, help="epochs to train (default: project's, "
                        "else 10); with --resume, the new total")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float, help="the optimizer's rate")
    parser.add_argument("--out", help="run directory (default: a new folder under runs/)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue a run from its backup after a stop or crash")
    parser.add_argument("--backend", help="tensorflow (default), jax or torch, "
                        "where installed")
    parser.add_argument("--device", help="auto (default), cpu, gpu or gpu:N")
    parser.add_argument("--mixed-precision", action="store_true", default=None,
                        help="float16 compute, float32 last layer (GPU only)")
    parser.add_argument("--jit", choices=("auto", "on", "off"),
                        help="XLA / jit compilation (default auto)")
    parser.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                        help="stop after this many epochs without val_loss improving")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--validation-split", type=float)
    parser.add_argument("--resize", action="store_true", default=None,
                        help="resize images to the model's input")
    parser.add_argument("--limit", type=int, help="use only the first N training samples")
    parser.add_argument("--events", action="store_true",
                        help="print the JSON-lines events instead of a progress bar")
    parser.add_argument("--in-process", action="store_true",
                        help="train in this process (debugging) instead of a child")


def _overrides(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    training: dict[str, Any] = {}
    for key in ("epochs", "batch_size", "backend", "device", "mixed_precision", "seed"):
        if getattr(args, key) is not None:
            training[key] = getattr(args, key)
    if args.jit is not None:
        training["jit_compile"] = {"auto": "auto", "on": True, "off": False}[args.jit]
    if args.early_stopping is not None:
        training["early_stopping"] = {"patience": args.early_stopping}
    dataset: dict[str, Any] = {}
    if args.dataset:
        from builder.training.datasets import dataset_spec  # noqa: PLC0415

        dataset.update(dataset_spec(args.dataset))
    for key in ("validation_split", "resize", "limit"):
        if getattr(args, key) is not None:
            dataset[key] = getattr(args, key)
    return training, dataset


def train(args: argparse.Namespace, open_project) -> int:
    """``builder train``: starts a run (or resumes one) and shows its progress."""
    from builder.training.process import resume_run, start_run  # noqa: PLC0415
    from builder.training.progress import ProgressPrinter  # noqa: PLC0415
    from builder.training.run_dir import new_run_dir  # noqa: PLC0415

    training, dataset = _overrides(args)
    if args.resume:
        if args.project:
            raise TrainingError("Give either a PROJECT or --resume RUN_DIR. Received: both")
        extra = {"epochs": training.pop("epochs")} if "epochs" in training else {}
        if training or dataset or args.learning_rate is not None:
            raise TrainingError("A resumed run keeps its settings (only --epochs may "
                                "change). Received: "
                                f"{', '.join(sorted([*training, *dataset]))}")
        handle = resume_run(args.resume, in_process=args.in_process, **extra)
    else:
        if not args.project:
            raise TrainingError("Which project? Expected: builder train PROJECT "
                                "(try: builder train lenet --dataset digits)")
        project = open_project(args.project)
        if args.learning_rate is not None:
            optimizer = dict(project.training.get("optimizer") or {})
            optimizer["learning_rate"] = args.learning_rate
            training["optimizer"] = optimizer
        out = Path(args.out) if args.out else new_run_dir(project.name or "run")
        handle = start_run(project, out, training=training, dataset=dataset,
                           in_process=args.in_process)
    printer = None if args.events else ProgressPrinter(sys.stdout)
    if printer is not None:
        print(f"Run directory: {handle.run_dir}", flush=True)
    interrupted = False
    while True:
        try:
            for event in handle.events():
                if printer is None:
                    sys.stdout.write(json.dumps(event) + "\n")
                    sys.stdout.flush()
                else:
                    printer.handle(event)
            break
        except KeyboardInterrupt:  # Ctrl-C: a cooperative stop, then the events' end
            if interrupted:
                getattr(handle, "kill", handle.stop)()
            interrupted = True
            handle.stop()
    handle.wait()
    last = handle.terminal or {}
    if last.get("type") == "failed":
        if getattr(args, "debug", False) and last.get("traceback"):
            print(last["traceback"], file=sys.stderr)
        print(f"builder train: {last.get('message')}", file=sys.stderr)
        return EXIT_FAILED
    return 130 if interrupted else 0


def evaluate(args: argparse.Namespace) -> int:
    """``builder evaluate RUN``: the trained model's metrics on the validation split."""
    metrics = evaluate_run(args.run, which=args.model)
    if args.json:
        json.dump(metrics, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"{metrics['model']} on {metrics['dataset']} validation split "
              f"({metrics['samples']} samples)")
        for key, value in metrics["metrics"].items():
            print(f"  {key:<16} {value:.4f}")
    return 0


def evaluate_run(run_dir: str | Path, which: str = "best") -> dict[str, Any]:
    """Evaluates a run's ``best`` (or ``last``) model on its validation split."""
    import keras  # noqa: PLC0415

    import builder.compile.custom_layers  # noqa: F401,PLC0415 - registers the layers
    import builder.detection.ops  # noqa: F401,PLC0415 - and a detector's loss
    import builder.detection.yolo  # noqa: F401,PLC0415
    from builder.training import cyclical  # noqa: F401,PLC0415 - and the schedule
    from builder.training.datasets import load_dataset  # noqa: PLC0415
    from builder.training.run_dir import read_config  # noqa: PLC0415

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    path = run_dir / f"{which}.keras"
    if not path.is_file():
        raise TrainingError(f"{run_dir}: has no {path.name} (has the run finished an "
                            "epoch?)")
    model = keras.saving.load_model(path, safe_mode=True)
    data = load_dataset(config["dataset"], tuple(model.inputs[0].shape[1:]))
    y_val = data.y_val if len(model.outputs) == 1 else [data.y_val] * len(model.outputs)
    values = model.evaluate(data.x_val, y_val, batch_size=config["training"]["batch_size"],
                            verbose=0, return_dict=True)
    return {"run": str(run_dir), "model": path.name, "dataset": data.name,
            "samples": len(data.x_val),
            "metrics": {(k if k == "loss" or k.startswith("val_") else k): float(v)
                        for k, v in values.items()}}


def export(args: argparse.Namespace) -> int:
    """``builder export``: writes the model in a format and checks it reloads the same."""
    from builder.training.export import export_model, load_source  # noqa: PLC0415

    model, project, run_dir = load_source(args.source)
    result = export_model(model, args.format, args.output, project=project, run_dir=run_dir)
    where = f"{run_dir}'s trained model" if run_dir else "the project (untrained weights)"
    print(f"Exported {where} as {result.format} to {result.path}; reloaded, its outputs "
          f"match Keras within {result.max_difference:.2g} on a batch of {result.batch}")
    return 0


def lr_find_command(args: argparse.Namespace, open_project) -> int:
    """``builder lr-find``: the LR range test on the project's data; the suggestion."""
    import keras  # noqa: PLC0415

    import builder  # noqa: PLC0415
    from builder.training import model_setup  # noqa: PLC0415
    from builder.training.datasets import dataset_spec, load_dataset  # noqa: PLC0415
    from builder.training.lr_find import lr_find  # noqa: PLC0415
    from builder.training.run_config import resolve_run  # noqa: PLC0415

    project = open_project(args.project)
    spec = dict(project.dataset or {"name": "digits"})
    if args.dataset:
        spec = {k: v for k, v in spec.items() if k not in ("name", "path")}
        spec.update(dataset_spec(args.dataset))
    if args.limit:
        spec["limit"] = args.limit
    run = resolve_run({k: v for k, v in project.training.items()
                       if k not in ("optimizer", "schedule")})
    keras.utils.set_random_seed(run["seed"])
    model = builder.to_keras(project.graph)
    data = load_dataset(spec, tuple(model.inputs[0].shape[1:]))
    model_setup.check_classes(model, data.num_classes, data.name)
    loss = model_setup.compile_args(project.graph, model)["loss"]
    if isinstance(loss, list):
        loss = loss[0]
    batch_size = args.batch_size or run["batch_size"]
    ticks = max(1, args.steps // 20)

    def on_step(i: int, lr: float, value: float) -> None:
        if not args.json and (i % ticks == 0 or i == args.steps - 1):
            print(f"\r  sweep {i + 1}/{args.steps}  lr {lr:.2e}  loss {value:.4f}",
                  end="", flush=True)

    result = lr_find(model, data.x_train, data.y_train, loss=loss,
                     optimizer=project.training.get("optimizer"), min_lr=args.min_lr,
                     max_lr=args.max_lr, steps=args.steps, batch_size=batch_size,
                     seed=run["seed"], on_step=on_step)
    if args.json:
        json.dump(result.to_dict(), sys.stdout)
        sys.stdout.write("\n")
        return 0
    print()
    print(text_plot(result.lrs, result.smoothed, mark=result.suggested_lr))
    base, top = result.suggested_range
    print(f"Suggested learning rate: {result.suggested_lr:.3g} (steepest descent of the "
          f"smoothed loss; loss was lowest at {result.lr_at_min:.3g})")
    print(f"Cyclical range: base_lr {base:.3g}, max_lr {top:.3g}")
    print('  "schedule": ' + json.dumps({"name": "cyclical", "base_lr": float(f"{base:.3g}"),
                                        "max_lr": float(f"{top:.3g}")}))
    if result.stopped_early:
        print("  (the sweep stopped early: the loss diverged)")
    return 0


def text_plot(lrs: list[float], losses: list[float], mark: float | None = None,
              width: int = 60, height: int = 12) -> str:
    """Loss against log10(learning rate) drawn in characters; ``|`` at ``mark``."""
    if not lrs:
        return "(no points)"
    logs = [math.log10(v) for v in lrs]
    low, high = min(logs), max(logs)
    finite = [v for v in losses if math.isfinite(v)]
    bottom, top = min(finite), max(finite)
    span_x = (high - low) or 1.0
    span_y = (top - bottom) or 1.0
    grid = [[" "] * width for _ in range(height)]
    for x, y in zip(logs, losses):
        if not math.isfinite(y):
            continue
        col = min(width - 1, int((x - low) / span_x * (width - 1)))
        row = min(height - 1, int((top - y) / span_y * (height - 1)))
        grid[row][col] = "*"
    if mark is not None:
        col = min(width - 1, max(0, int((math.log10(mark) - low) / span_x * (width - 1))))
        for row in grid:
            if row[col] == " ":
                row[col] = "|"
    lines = [f"{top:9.3f} " + "".join(grid[0])]
    lines += ["          " + "".join(r) for r in grid[1:-1]]
    lines.append(f"{bottom:9.3f} " + "".join(grid[-1]))
    lines.append(f"          {lrs[0]:<10.1e}{'learning rate (log scale)':^{width - 20}}"
                 f"{lrs[-1]:>10.1e}")
    return "\n".join(lines)

"""Executing a run: the work a child process (or a test's thread) does.

:func:`execute` reads a run directory, trains, and reports everything as
events through ``emit``; it never raises: a failure is a ``failed`` event
with the message and traceback. The child process (:mod:`~builder.training.child`)
and the in-process runner (:mod:`~builder.training.process`) both call it.
"""

from __future__ import annotations

import math
import os
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from builder.core.errors import BuilderError
from builder.training.events import make_event

Emit = Callable[[dict[str, Any]], None]


def execute(run_dir: str | os.PathLike, emit: Emit, stop: threading.Event | None = None,
            *, resume: bool = False) -> str:
    """Trains the run in ``run_dir``; returns the type of the last event sent.

    Args:
        run_dir: a directory made by :func:`~builder.training.run_dir.create_run_dir`.
        emit: receives each event dict.
        stop: set it to stop at the next batch (a ``stopped`` event follows).
        resume: continue from the run's backup (weights, optimizer state and
            so the schedule's step, epoch, best value, early-stopping counters).
    """
    stop = stop or threading.Event()
    progress = {"epoch": None, "step": None}

    def relay(event: dict[str, Any]) -> None:
        if "epoch" in event and event["type"] in ("batch", "epoch"):
            progress.update(epoch=event["epoch"], step=event.get("step"))
        emit(event)

    try:
        return _train(Path(run_dir), relay, stop, resume)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes an event
        if isinstance(exc, KeyboardInterrupt):
            emit(make_event("stopped", forced=False, **progress))
            return "stopped"
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if not isinstance(exc, BuilderError):
            message = f"{type(exc).__name__}: {message}"
        emit(make_event("failed", message=message, traceback=traceback.format_exc(),
                        **progress))
        return "failed"


def _train(run_dir: Path, emit: Emit, stop: threading.Event, resume: bool) -> str:
    import keras  # noqa: PLC0415 - the caller chose the backend first

    from builder import to_keras  # noqa: PLC0415
    from builder.training import model_setup as ms  # noqa: PLC0415
    from builder.training.callbacks import (  # noqa: PLC0415
        EventCallback,
        RunCheckpoints,
        read_backup,
    )
    from builder.training.datasets import load_dataset  # noqa: PLC0415
    from builder.training.errors import TrainingError  # noqa: PLC0415
    from builder.training.optimizers import build_optimizer  # noqa: PLC0415
    from builder.training.run_config import resolve_run  # noqa: PLC0415
    from builder.training.run_dir import load_run_project, read_config  # noqa: PLC0415
    from builder.training.schedules import plateau_callback  # noqa: PLC0415
    from builder.training.tasks import get_task, task_name  # noqa: PLC0415

    started_at = time.monotonic()
    config = read_config(run_dir)
    training = config["training"]
    run = resolve_run({k: v for k, v in training.items() if k not in ("optimizer",
                                                                       "schedule")})
    if keras.backend.backend() != run["backend"]:
        raise TrainingError(f"This process runs Keras on {keras.backend.backend()}; the "
                            f"run asks for {run['backend']}. Start it in a child process "
                            f"(builder.training.start_run). Received: backend="
                            f"{run['backend']!r}")
    processes = (0, 1)
    if run["distribution"] == "multi_process":
        processes = ms.start_processes()
    state = read_backup(run_dir) if resume else None
    if resume and state is None and (run_dir / "backup").exists():
        raise TrainingError(f"{run_dir}: the backup is incomplete; cannot resume")
    # A fresh run starts from the seed; a resumed one from seed + epoch, so it
    # does not replay the first epochs' shuffles.
    keras.utils.set_random_seed(int(run["seed"]) + (state["epoch"] if state else 0))
    project = load_run_project(run_dir)

    ms.set_precision(run["mixed_precision"])
    device = ms.device_name(str(run["device"]))
    with _device(device), ms.distribution_scope(run["distribution"]) as distribution:
        model = to_keras(project.graph, name=config.get("name"))
        if run["mixed_precision"]:
            model = ms.last_layers_float32(model)
        if len(model.inputs) != 1:
            raise TrainingError(f"Training takes models with one input. Received: "
                                f"{len(model.inputs)} inputs")
        data = load_dataset(config["dataset"], tuple(model.inputs[0].shape[1:]))
        if processes[1] > 1:
            data.x_train, data.y_train = ms.shard_for_process(data.x_train, data.y_train,
                                                              *processes)
            data.x_val, data.y_val = ms.shard_for_process(data.x_val, data.y_val, *processes)
        steps_per_epoch = math.ceil(len(data.x_train) / run["batch_size"])
        optimizer = build_optimizer(training, steps_per_epoch, run["epochs"])
        # The task plug-in says what fit trains on which targets (builder.training.tasks).
        task = get_task(task_name(config, project.graph, model))
        setup = task.setup(model, project.graph, data, training)
        model = setup.fit_model
        model.compile(optimizer=optimizer, jit_compile=run["jit_compile"],
                      **setup.compile_args)
        if state is not None:
            model.optimizer.build(model.trainable_variables)
            model.load_weights(run_dir / "backup" / state["weights"])
        heads = len(model.outputs)
        augment = config["dataset"].get("augment")
        if augment and not setup.augmentable:
            raise TrainingError(f"The {task.name} task does not take augmentation "
                                f"(yet). Received: augment={augment!r}")
        if augment:
            from builder.training.augment import AugmentedBatches  # noqa: PLC0415

            train_args: dict[str, Any] = {"x": AugmentedBatches(
                data.x_train, data.y_train, run["batch_size"], augment, heads,
                int(run["seed"]), task=task.name)}  # targets move with their images
        else:
            train_args = {"x": setup.x_train, "y": setup.y_train,
                          "batch_size": run["batch_size"]}

    initial_epoch = state["epoch"] if state else 0
    emit(make_event(
        "started", epochs=run["epochs"], initial_epoch=initial_epoch,
        steps_per_epoch=steps_per_epoch, batch_size=run["batch_size"],
        samples=len(data.x_train), val_samples=len(data.x_val), dataset=data.name,
        classes=data.num_classes, backend=keras.backend.backend(),
        device=device or "auto", distribution=distribution,
        process=processes[0], processes=processes[1],
        mixed_precision=run["mixed_precision"], resumed=state is not None,
        step=state["step"] if state else 0, run_dir=str(run_dir), pid=os.getpid(),
        notes=data.notes, restored=fingerprint(model) if state else None))
    if initial_epoch >= run["epochs"]:
        emit(make_event("finished", epoch=initial_epoch, step=state["step"],
                        reason="completed", best=_best(state), seconds=0.0))
        return "finished"

    callbacks: list[keras.callbacks.Callback] = []
    early = None
    if run["early_stopping"]:
        early = keras.callbacks.EarlyStopping(**run["early_stopping"], verbose=0)
        callbacks.append(early)
    plateau = plateau_callback(training)
    if plateau is not None:
        callbacks.append(plateau)
    events = EventCallback(emit, stop, steps_per_epoch, run["batch_events_per_second"])
    events.step = state["step"] if state else 0
    checkpoints = RunCheckpoints(run_dir, emit, run["monitor"], state, early, plateau,
                                 progress=events)
    callbacks += [events, checkpoints]
    with _device(device):
        model.fit(**train_args, epochs=run["epochs"],
                  initial_epoch=initial_epoch, validation_data=(setup.x_val, setup.y_val),
                  shuffle=True, verbose=0, callbacks=callbacks)
    epoch = checkpoints.history[-1]["epoch"] if checkpoints.history else initial_epoch
    # Batches run, not optimizer updates (mixed precision skips overflowing ones).
    step = events.step
    if stop.is_set():
        model.save(run_dir / ".last.keras.tmp.keras")
        os.replace(run_dir / ".last.keras.tmp.keras", run_dir / "last.keras")
        emit(make_event("stopped", epoch=events.epoch, step=step, forced=False))
        return "stopped"
    reason = "early_stopping" if early is not None and early.stopped_epoch else "completed"
    metrics = _task_metrics(task, model, project.graph, data, training, run_dir, device)
    emit(make_event("finished", epoch=epoch, step=step, reason=reason,
                    best={"monitor": checkpoints.monitor, "value": checkpoints.best,
                          "epoch": checkpoints.best_epoch},
                    seconds=time.monotonic() - started_at, **metrics))
    return "finished"


def _task_metrics(task: Any, model: Any, graph: Any, data: Any, training: dict[str, Any],
                  run_dir: Path, device: str | None) -> dict[str, Any]:
    """The task's end-of-run metrics (a detector's mAP@0.5) on the best checkpoint:
    ``{"metrics": {...}, "evaluated": {split, samples, model}}`` for the
    ``finished`` event (``{}`` when the task has none)."""
    if not task.has_metrics:
        return {}
    best = run_dir / "best.keras"
    if best.is_file():
        model.load_weights(best)  # the weights `builder predict` uses by default
    with _device(device):
        metrics = task.evaluate(model, graph, data, training)
    if not metrics:
        return {}
    return {"metrics": metrics, "evaluated": {
        "split": "validation", "samples": len(data.x_val),
        "model": best.name if best.is_file() else "last.keras"}}


def fingerprint(model: Any) -> dict[str, Any]:
    """What a resume restored: the optimizer's step and checksums of the model's
    and the optimizer's variables (sums of absolute values, in float64)."""
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    def checksum(variables: Any) -> float:
        return float(sum(np.abs(np.asarray(keras.ops.convert_to_numpy(v), np.float64)).sum()
                         for v in variables))

    optimizer = model.optimizer
    slots = [v for v in optimizer.variables if v is not optimizer.iterations]
    return {"step": int(keras.ops.convert_to_numpy(optimizer.iterations)),
            "weights_checksum": checksum(model.weights),
            "optimizer_checksum": checksum(slots)}


def _best(state: dict | None) -> dict | None:
    if not state:
        return None
    return {"monitor": state.get("monitor"), "value": state.get("best"),
            "epoch": state.get("best_epoch")}


def _device(name: str | None) -> Any:
    """A fresh ``keras.device`` scope (scopes cannot be entered twice), or none."""
    import keras  # noqa: PLC0415

    return keras.device(name) if name else _null()


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None

"""Run directories: where a run's config, events, models and backup live.

::

    runs/lenet-20261127-031500/
        project.json     the project as it was when the run started
        config.json      the resolved training and dataset settings
        events.jsonl     every event of the run (and of its resumptions)
        log.csv          one row per epoch (Keras' metric names)
        last.keras       the model after the latest epoch
        best.keras       the model at the best epoch of the monitored metric
        backup/          the state that ``--resume`` continues from
        stderr.log       what the child process printed (TensorFlow's notes, ...)

This module imports no Keras.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from builder.core.project import Project, atomic_write, dumps_project
from builder.training.datasets.prepare import check_spec
from builder.training.errors import TrainingError
from builder.training.run_config import resolve_run

PROJECT_FILE = "project.json"
CONFIG_FILE = "config.json"
EVENTS_FILE = "events.jsonl"


def new_run_dir(project_name: str, root: str | Path = "runs") -> Path:
    """A fresh, not yet existing folder ``root/<name>-<UTC time>[-n]``."""
    slug = re.sub(r"[^a-z0-9]+", "-", project_name.lower()).strip("-") or "run"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = Path(root) / f"{slug}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def create_run_dir(project: Project, run_dir: str | Path,
                   training: dict[str, Any] | None = None,
                   dataset: dict[str, Any] | None = None) -> Path:
    """Writes ``project.json`` and the resolved ``config.json`` into ``run_dir``.

    Args:
        project: the project to train.
        run_dir: the folder; created if needed; refused if it holds a run.
        training: overrides of the project's ``"training"`` section.
        dataset: overrides of the project's ``"dataset"`` section.

    Returns:
        The run directory.

    Raises:
        TrainingError: ``run_dir`` already holds a run, or a setting is invalid.
    """
    run_dir = Path(run_dir)
    if (run_dir / CONFIG_FILE).exists():
        raise TrainingError(f"{run_dir}: already holds a run; continue it with "
                            f"--resume {run_dir} or choose another --out folder")
    config = resolve_config(project, training, dataset)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(run_dir / PROJECT_FILE, dumps_project(project))
    atomic_write(run_dir / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
    return run_dir


def resolve_config(project: Project, training: dict[str, Any] | None = None,
                   dataset: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run config of ``project`` with overrides: every setting resolved.

    Returns:
        ``{"name", "training": {optimizer, schedule, epochs, ...}, "dataset",
        "created"}``; the dataset defaults to ``digits``.

    Raises:
        TrainingError: an invalid setting (one line naming it).
    """
    from builder.training.config import check_training  # noqa: PLC0415

    merged_training = {**project.training, **(training or {})}
    merged_dataset = {**project.dataset, **(dataset or {})} or {"name": "digits"}
    optimizer = check_training({k: merged_training[k] for k in ("optimizer", "schedule")
                                if k in merged_training})
    run = resolve_run(merged_training)
    check_spec(merged_dataset)
    return {"name": project.name, "training": {**optimizer, **run},
            "dataset": merged_dataset,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a run directory.

    Raises:
        TrainingError: not a run directory.
    """
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise TrainingError(f"{run_dir}: is not a run directory (no {CONFIG_FILE})")
    return json.loads(path.read_text(encoding="utf-8"))


def update_config(run_dir: str | Path, **training: Any) -> None:
    """Changes run settings of an existing run (``--resume --epochs 20``)."""
    config = read_config(run_dir)
    config["training"].update(training)
    resolve_run({k: v for k, v in config["training"].items()
                 if k not in ("optimizer", "schedule")})
    atomic_write(Path(run_dir) / CONFIG_FILE, json.dumps(config, indent=2) + "\n")


def load_run_project(run_dir: str | Path) -> Project:
    """The project snapshot of a run."""
    import builder  # noqa: PLC0415

    return builder.load(Path(run_dir) / PROJECT_FILE)


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` is a run directory."""
    return (Path(path) / CONFIG_FILE).is_file()


def checkpoint_path(run_dir: str | Path, which: str = "best") -> Path:
    """The run's ``which.keras`` (``best``, else ``last``; or ``last``).

    Raises:
        TrainingError: the run has saved no model yet (one line).
    """
    run_dir = Path(run_dir)
    names = [f"{which}.keras"] + (["last.keras"] if which == "best" else [])
    for name in names:
        if (run_dir / name).is_file():
            return run_dir / name
    raise TrainingError(f"{run_dir}: the run has no trained model yet (no "
                        f"{' or '.join(names)}); train it for an epoch first")

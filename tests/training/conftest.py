"""Runs shared by the training tests of this folder (trained once per session)."""

from __future__ import annotations

import contextlib
import io
import json
from types import SimpleNamespace

import pytest


@pytest.fixture(scope="session")
def ssd_run(tmp_path_factory):
    """ssd_small trained for 3 short epochs through `builder train` on 160 shapes
    scenes (128 to train, 32 to validate), in this process and without XLA.

    Its ``training.detection`` keeps detections down to a score of 0.05 (at most
    4 per image) so that the drawing tests have boxes to look at.

    Returns:
        ``SimpleNamespace(code, events, run)``: the exit status, the JSON-lines
        events printed, the run directory.
    """
    import builder
    from builder.cli import main

    root = tmp_path_factory.mktemp("ssd-run")
    project = builder.from_template("ssd_small")
    project.dataset = {**project.dataset, "samples": 160}
    project.training = {**project.training, "detection": {
        **project.training["detection"], "score_threshold": 0.05, "max_detections": 4}}
    builder.save(project, root / "ssd.json")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["train", str(root / "ssd.json"), "--dataset", "shapes", "--epochs", "3",
                     "--batch-size", "16", "--out", str(root / "run"), "--in-process",
                     "--jit", "off", "--events"])
    events = [json.loads(line) for line in out.getvalue().splitlines()
              if line.startswith("{")]
    return SimpleNamespace(code=code, events=events, run=root / "run")

"""Runs in a child process: kill -9, a prompt stop, and an exact resume after each."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

import builder
from builder.training.callbacks import read_backup
from builder.training.events import read_events
from builder.training.process import resume_run, start_run

DIGITS = {"name": "digits", "limit": 256}


@pytest.fixture(scope="module")
def lenet():
    return builder.load(builder.template_path("lenet"))


def fingerprint_of(path):
    """Step and checksums of a saved model, computed here (not by the runner)."""
    import keras

    model = keras.saving.load_model(path)
    opt = model.optimizer
    def checksum(variables):
        return float(sum(np.abs(np.asarray(v.numpy(), np.float64)).sum() for v in variables))
    return {"step": int(opt.iterations.numpy()),
            "weights_checksum": checksum(model.weights),
            "optimizer_checksum": checksum([v for v in opt.variables
                                            if v is not opt.iterations])}


def test_kill_minus_9_stop_and_resume_continue_exactly(tmp_path, lenet):
    run_dir = tmp_path / "run"
    # batch 8: 32 steps an epoch, so epoch 2 is surely under way when we kill
    handle = start_run(lenet, run_dir, dataset=DIGITS,
                       training={"epochs": 3, "batch_size": 8,
                                 "schedule": {"name": "cosine"},
                                 "batch_events_per_second": 0})
    seen = []
    for event in handle.events(timeout=120):
        seen.append(event)
        if event["type"] == "batch" and event["epoch"] == 2 and event["batch"] == 5:
            os.kill(handle.pid, signal.SIGKILL)
    assert handle.wait(30) == -signal.SIGKILL
    assert seen[-1]["type"] == "failed" and "SIGKILL" in seen[-1]["message"]
    assert not any(e["type"] == "epoch" and e["epoch"] == 2 for e in seen)
    state = read_backup(run_dir)
    assert state["epoch"] == 1 and state["step"] == 32
    saved = fingerprint_of(run_dir / "last.keras")  # written with the epoch-1 backup

    # A cooperative stop of the resumed run: prompt, and resumable in turn.
    interrupted = resume_run(run_dir)
    first_step = None
    for event in interrupted.events(timeout=120):
        if event["type"] == "started":  # asked before the first step: lands in epoch 2
            interrupted.stop(grace=60)
        if event["type"] == "batch" and first_step is None:
            first_step = time.monotonic()
    assert event["type"] == "stopped" and event["forced"] is False
    assert event["step"] <= 32 + 3  # at the next batch (or two, dispatched already)
    assert time.monotonic() - first_step < 5.0
    assert interrupted.wait(30) == 0 and not interrupted.is_running
    assert read_backup(run_dir)["epoch"] == 1  # stopped within epoch 2

    resumed = resume_run(run_dir)
    events = list(resumed.events(timeout=120))
    assert resumed.wait(30) == 0
    started = events[0]
    assert started["type"] == "started" and started["resumed"] is True
    assert started["initial_epoch"] == 1 and started["step"] == 32
    restored = started["restored"]
    assert restored["step"] == saved["step"] == 32
    assert restored["weights_checksum"] == pytest.approx(saved["weights_checksum"], rel=1e-12)
    assert restored["optimizer_checksum"] == pytest.approx(saved["optimizer_checksum"],
                                                           rel=1e-12)
    batches = [e for e in events if e["type"] == "batch"]
    assert batches[0]["epoch"] == 2 and batches[0]["step"] == 33  # the count goes on
    assert [e["epoch"] for e in events if e["type"] == "epoch"] == [2, 3]
    assert events[-1]["type"] == "finished"
    assert events[-1]["epoch"] == 3 and events[-1]["step"] == 96
    # the cosine schedule went on from step 32: its last rate is its end value
    assert [e for e in events if e["type"] == "epoch"][-1]["learning_rate"] < 1e-6
    log = list(read_events((run_dir / "events.jsonl").read_text().splitlines()))
    assert [e["type"] for e in log].count("started") == 3
    assert (run_dir / "log.csv").read_text().count("\n") == 4  # header + 3 epochs

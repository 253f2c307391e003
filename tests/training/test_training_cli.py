"""builder train / evaluate / lr-find on the command line; the progress display."""

from __future__ import annotations

import io
import json

import pytest

from builder.cli import main
from builder.training.events import make_event
from builder.training.progress import ProgressPrinter, bar


def test_train_then_evaluate(tmp_path, capsys):
    run_dir = tmp_path / "run"
    # In process: the child-process path has its own tests (test_child_runs.py).
    code = main(["train", "lenet", "--dataset", "digits", "--epochs", "1", "--limit", "64",
                 "--batch-size", "16", "--out", str(run_dir), "--in-process"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"Run directory: {run_dir}" in out
    assert "Training on digits: 64 samples" in out
    assert "Epoch 1/1  loss" in out and "val_accuracy" in out
    assert "Finished after 1 epochs, 4 steps" in out
    assert "\r" not in out  # not a terminal: whole lines only
    epoch = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()
             if '"type":"epoch"' in line][0]

    assert main(["evaluate", str(run_dir), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["samples"] == 16 and metrics["model"] == "best.keras"
    assert metrics["metrics"]["loss"] == pytest.approx(epoch["val_loss"], rel=1e-4)
    assert metrics["metrics"]["accuracy"] == pytest.approx(epoch["val_accuracy"])

    assert main(["evaluate", str(run_dir)]) == 0
    assert "best.keras on digits validation split (16 samples)" in capsys.readouterr().out

    # One more epoch from the backup, this time as raw JSON-lines events.
    assert main(["train", "--resume", str(run_dir), "--epochs", "2", "--events",
                 "--in-process"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["type"] == "started" and events[0]["initial_epoch"] == 1
    assert events[-1]["type"] == "finished" and events[-1]["step"] == 8


def test_train_refuses_bad_requests_in_one_line(tmp_path, capsys):
    assert main(["train", "lenet", "--dataset", "imagenet", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("builder train:") and "Unknown dataset 'imagenet'" in err
    assert "\n" not in err
    assert main(["train"]) == 2
    assert "Which project?" in capsys.readouterr().err
    assert main(["train", "lenet", "--resume", str(tmp_path)]) == 2
    assert "either a PROJECT or --resume" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err


def test_lr_find_prints_a_plot_and_a_suggestion(capsys):
    code = main(["lr-find", "lenet", "--dataset", "digits", "--steps", "40", "--limit", "256",
                 "--min-lr", "1e-5", "--max-lr", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Suggested learning rate:" in out and "Cyclical range: base_lr" in out
    assert '"schedule": {"name": "cyclical"' in out
    assert "learning rate (log scale)" in out and "*" in out


def test_export_on_the_command_line(tmp_path, capsys):
    target = tmp_path / "lenet.onnx"
    assert main(["export", "lenet", "--format", "onnx", "-o", str(target)]) == 0
    out = capsys.readouterr().out
    assert target.is_file() and "match Keras within" in out and "untrained" in out


def test_progress_bar_on_a_terminal_and_lines_elsewhere():
    events = [make_event("started", epochs=2, steps_per_epoch=4, dataset="digits",
                         samples=128, val_samples=32, batch_size=32, backend="tensorflow"),
              make_event("batch", epoch=1, batch=2, step=2, loss=0.5, accuracy=0.25),
              make_event("epoch", epoch=1, step=4, loss=0.4, accuracy=0.5, val_loss=0.3,
                         val_accuracy=0.75, learning_rate=0.001, seconds=1.5),
              make_event("stopped", epoch=2, step=5, forced=True)]
    tty, pipe = io.StringIO(), io.StringIO()
    printer_tty, printer_pipe = ProgressPrinter(tty, tty=True), ProgressPrinter(pipe, tty=False)
    for event in events:
        printer_tty.handle(event)
        printer_pipe.handle(event)
    assert "\rEpoch 1/2 [" in tty.getvalue().replace("\033[K", "")
    assert "2/4  loss 0.5000  accuracy 0.2500" in tty.getvalue()
    assert "\r" not in pipe.getvalue()
    lines = pipe.getvalue().splitlines()
    assert lines[1] == ("Epoch 1/2  loss 0.4000  accuracy 0.5000  val_loss 0.3000  "
                        "val_accuracy 0.7500  lr 0.001  (1.5 s)")
    assert lines[2] == "Stopped at epoch 2, step 5 (killed after the grace period)"
    assert bar(2, 4, width=10) == "[=====>    ]"

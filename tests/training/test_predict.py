"""`builder predict` end to end on tiny runs: classification (digits), segmentation
(unet_small on shapes masks), detection (ssd_small on shapes scenes, conftest's
``ssd_run``).

The runs train one short epoch in this process (module fixture); predictions go
through the command line's ``main`` so argument parsing, errors and exit codes
are the user's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import builder
from builder.cli import main
from builder.training.datasets.shapes import generate_shapes, shapes_detection
from builder.training.drawing import colour, display_scale, output_size
from builder.training.run_dir import create_run_dir
from builder.training.runner import execute

ROOT = Path(__file__).resolve().parents[2]


def _train(project, run_dir: Path, training: dict, dataset: dict) -> list[dict]:
    events: list[dict] = []
    create_run_dir(project, run_dir, training=training, dataset=dataset)
    assert execute(run_dir, events.append) == "finished", events[-1]
    return events


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict-runs")
    # No XLA: compiling costs more than the few steps these runs take.
    quick = {"epochs": 1, "batch_size": 16, "jit_compile": False}
    out = {}
    out["digits"] = root / "lenet"
    _train(builder.from_template("lenet"), out["digits"], quick,
           {"name": "digits", "limit": 64})
    out["unet"] = root / "unet"
    _train(builder.from_template("unet_small"), out["unet"], quick,
           {"samples": 40})
    return out


def _predict(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["predict", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


def test_classification_top5(runs, tmp_path, capsys):
    from builder.training.datasets.sources import load_digits

    x = load_digits({})[0]
    image = _png(tmp_path / "digit.png", (x[0, ..., 0] * 255 / 16).astype(np.uint8))
    out = tmp_path / "out.png"
    code, stdout, _ = _predict(capsys, str(runs["digits"]), str(image), "-o", str(out),
                               "--json")
    assert code == 0
    report = json.loads(stdout)
    assert report["task"] == "classification" and report["model"] == "best.keras"
    (result,) = report["images"]
    top = result["top"]
    assert len(top) == 5
    probs = [t["probability"] for t in top]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    assert {t["label"] for t in top} <= {str(i) for i in range(10)}
    assert len({t["class"] for t in top}) == 5
    with Image.open(out) as picture:
        assert picture.size == output_size(8, 8, result) == (8 * 32 + 240, 8 * 32)


def test_segmentation_overlay(runs, tmp_path, capsys):
    scenes = generate_shapes(1, 32, seed=11)
    image = _png(tmp_path / "scene.png", (scenes.images[0] * 255).astype(np.uint8))
    out = tmp_path / "seg.png"
    code, stdout, _ = _predict(capsys, str(runs["unet"]), str(image), "-o", str(out),
                               "--json")
    assert code == 0
    (result,) = json.loads(stdout)["images"]
    assert result["task"] == "segmentation"
    assert result["mask"]["shape"] == [32, 32]
    assert sum(c["fraction"] for c in result["classes"]) == pytest.approx(1.0)
    assert {c["label"] for c in result["classes"]} <= {"background", "circle", "square",
                                                       "triangle"}
    with Image.open(out) as picture:
        assert picture.size == output_size(32, 32, result)


def test_detection_boxes_drawn(ssd_run, tmp_path, capsys):
    """ssd_small after 3 short epochs (conftest), detections kept down to 0.05."""
    assert ssd_run.events[-1]["type"] == "finished", ssd_run.events[-1]
    images, _ = shapes_detection(2, 64, seed=21)
    pixels = (images * 255).astype(np.uint8)
    paths = [_png(tmp_path / f"scene{i}.png", pixels[i]) for i in range(2)]
    out = tmp_path / "det.png"
    code, stdout, _ = _predict(capsys, str(ssd_run.run), str(paths[0]), "-o", str(out),
                               "--json")
    assert code == 0
    (result,) = json.loads(stdout)["images"]
    rows = result["detections"]
    assert 1 <= len(rows) <= 4
    for row in rows:
        assert len(row["box"]) == 4 and all(0.0 <= v <= 1.0 for v in row["box"])
        assert 0.05 <= row["score"] <= 1.0
        assert row["label"] in ("circle", "square", "triangle")
    s = display_scale(64, 64)
    plain = np.asarray(Image.fromarray(pixels[0]).resize((64 * s, 64 * s), Image.NEAREST))
    with Image.open(out) as picture:
        assert picture.size == (64 * s, 64 * s)
        drawn = np.asarray(picture.convert("RGB"))
    assert np.any(drawn != plain)
    # The last box drawn is on top: its bottom edge carries its class colour.
    y1, x1, y2, x2 = rows[-1]["box"]
    h, w = drawn.shape[:2]
    yy, xx = int(y2 * (h - 1)), int((x1 + x2) / 2 * (w - 1))
    patch = drawn[max(0, yy - 2):yy + 3, max(0, xx - 2):xx + 3].reshape(-1, 3)
    assert any(tuple(p) == colour(rows[-1]["class"]) for p in patch)
    # Far from every box the picture is the input.
    far = np.ones((h, w), bool)
    for row in rows:
        b = np.array(row["box"]) * [h - 1, w - 1, h - 1, w - 1]
        far[max(0, int(b[0]) - 20):int(b[2]) + 4, max(0, int(b[1]) - 140):int(b[3]) + 140] = False
    assert np.array_equal(drawn[far], plain[far])

    # Two images: drawn side by side, one result each, plain-text report.
    out2 = tmp_path / "two.png"
    code, stdout, _ = _predict(capsys, str(ssd_run.run), *map(str, paths), "-o", str(out2))
    assert code == 0 and stdout.count("scene") == 2 and "Wrote" in stdout
    with Image.open(out2) as picture:
        assert picture.size == (2 * 64 * s + 8, 64 * s)


def test_bad_inputs_one_line_exit_2(runs, tmp_path, capsys):
    out = tmp_path / "never.png"
    image = _png(tmp_path / "ok.png", np.zeros((8, 8, 3), np.uint8))
    not_image = tmp_path / "notes.png"
    not_image.write_text("not a picture")
    cases = [
        ([str(tmp_path / "no-run"), str(image)], "is not a run directory"),
        ([str(runs["digits"]), str(tmp_path / "missing.png")], "no such image file"),
        ([str(runs["digits"]), str(not_image)], "is not a readable image"),
    ]
    for args, words in cases:
        code, _, err = _predict(capsys, *args, "-o", str(out))
        assert code == 2, (args, err)
        assert len(err.strip().splitlines()) == 1 and words in err, err
        assert err.startswith("builder predict: ")
        assert not out.exists()
    assert list(tmp_path.glob(".never.png*")) == []  # no temporary file left either


def test_wrong_channels(tmp_path, capsys):
    """A model of 4-channel images refuses an RGB picture (alpha is dropped on reading)."""
    x = np.random.default_rng(0).uniform(0, 255, (24, 6, 6, 4)).astype(np.float32)
    np.savez(tmp_path / "four.npz", x=x, y=np.arange(24) % 2)
    text = json.dumps({
        "format": "keras-builder", "schema_version": 1, "name": "four",
        "graph": {"nodes": [
            {"id": "image", "kind": "Input", "params": {"shape": [6, 6, 4]}},
            {"id": "flat", "kind": "Flatten", "params": {}},
            {"id": "fc", "kind": "Dense", "params": {"units": 2, "activation": "softmax"}},
            {"id": "output", "kind": "Output", "params": {}}],
            "edges": [{"from": "image", "to": "flat"}, {"from": "flat", "to": "fc"},
                      {"from": "fc", "to": "output"}]}})
    (tmp_path / "four.json").write_text(text)
    run = tmp_path / "run"
    _train(builder.load(tmp_path / "four.json"), run,
           {"epochs": 1, "batch_size": 8, "jit_compile": False},
           {"path": str(tmp_path / "four.npz")})
    rgba = _png(tmp_path / "rgba.png", np.zeros((6, 6, 4), np.uint8))
    out = tmp_path / "out.png"
    code, _, err = _predict(capsys, str(run), str(rgba), "-o", str(out))
    assert code == 2 and "4 channels" in err and "has 3" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_cli_process_missing_run(tmp_path):
    """The installed command: one line on stderr, status 2, nothing written."""
    out = tmp_path / "out.png"
    proc = subprocess.run([sys.executable, "-m", "builder", "predict", str(tmp_path / "x"),
                           str(tmp_path / "a.png"), "-o", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "is not a run directory" in proc.stderr
    assert not out.exists()


def test_results_tab_worker_draws_detection_and_segmentation_samples(runs, ssd_run,
                                                                    tmp_path):
    """The GUI's analysis child draws a detection or segmentation run's validation
    samples with the same drawing as `builder predict` (no confusion matrix)."""
    from builder.gui.training.inspect_worker import SHOWN, inspect

    for key, task in (("ssd", "detection"), ("unet", "segmentation")):
        out = tmp_path / f"{key}.npz"
        inspect(ssd_run.run if key == "ssd" else runs[key], out)
        with np.load(out) as data:
            assert str(data["task"]) == task
            drawn, captions, images = data["drawn"], data["captions"], data["images"]
            assert data["confusion"].shape == (0, 0)
        side = images.shape[1] * display_scale(*images.shape[1:3])
        assert drawn.shape == (SHOWN, side, side, 3) and drawn.dtype == np.uint8
        assert len(captions) == SHOWN and all(str(c) for c in captions)
        plain = np.stack([np.asarray(Image.fromarray((i * 255).astype(np.uint8)).resize(
            (side, side), Image.NEAREST)) for i in images[:SHOWN]])
        assert np.any(drawn != plain)  # boxes or class colours on top of the samples

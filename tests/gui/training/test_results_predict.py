"""Results tab: "Predict on image file…" runs `builder predict` in a child process
and shows the drawn picture and the top-5; detection runs show drawn samples."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import builder
from builder.gui.training.results import ResultsView
from builder.gui.training.state import read_run

CHILD_TIMEOUT = 120_000  # ms: the child imports TensorFlow on a busy machine


@pytest.fixture
def digits_run(tmp_path):
    """A LeNet run trained for one short epoch in this process."""
    from builder.training.run_dir import create_run_dir
    from builder.training.runner import execute

    run = tmp_path / "runs" / "lenet-1"
    create_run_dir(builder.from_template("lenet"), run,
                   training={"epochs": 1, "batch_size": 16, "jit_compile": False},
                   dataset={"name": "digits", "limit": 64})
    events: list[dict] = []
    assert execute(run, events.append) == "finished", events[-1]
    return run


def test_predict_on_image_file(qtbot, digits_run, tmp_path):
    view = ResultsView()
    qtbot.addWidget(view)
    view.resize(1400, 420)
    view.set_runs([read_run(digits_run)])
    assert view.run_box.currentText() == "lenet-1"

    from builder.training.datasets.sources import load_digits

    digit = (load_digits({})[0][3, ..., 0] * 255 / 16).astype(np.uint8)
    image = tmp_path / "three.png"
    Image.fromarray(digit).save(image)
    with qtbot.waitSignal(view.predicted, timeout=CHILD_TIMEOUT) as got:
        assert view.predict_file(str(image))
        assert not view.predict_button.isEnabled()  # one prediction at a time
    report = got.args[0]
    assert isinstance(report, dict), report
    assert report["task"] == "classification"
    top = report["images"][0]["top"]
    assert len(top) == 5
    lines = view.predict_list.toPlainText().splitlines()
    assert len(lines) == 5 and lines[0].startswith(top[0]["label"])
    pixmap = view.predict_picture.pixmap()
    assert not pixmap.isNull() and max(pixmap.width(), pixmap.height()) == 240
    assert view.predict_button.isEnabled()
    view.grab().save(str(tmp_path / "results-predict.png"))

    # A file that is no image: the child's one line, nothing shown.
    bad = tmp_path / "notes.png"
    bad.write_text("hello")
    with qtbot.waitSignal(view.predicted, timeout=CHILD_TIMEOUT) as got:
        assert view.predict_file(str(bad))
    assert isinstance(got.args[0], str) and "is not a readable image" in got.args[0]
    assert view.predict_note.text().startswith("prediction failed: ")
    assert view.predict_picture.pixmap().isNull()


def test_detection_samples_drawn(qtbot):
    """A detection run's analysis shows the worker's drawn samples, captions as tips."""
    view = ResultsView()
    qtbot.addWidget(view)
    drawn = np.zeros((8, 256, 256, 3), np.uint8)
    drawn[:, 40:44, :] = (255, 127, 14)
    view.show_result({
        "task": np.array("detection"), "drawn": drawn,
        "captions": np.array([f"square 0.{k}" for k in range(8)]),
        "confusion": np.zeros((0, 0)), "class_names": np.array(["circle", "square"]),
        "conv_layers": np.array(["conv1"]), "feature_layer": np.array("conv1"),
        "features": np.zeros((4, 4, 2), np.float32)})
    assert "detection" in view.pred_box.title() and "detection run" in view.note.text()
    assert view.pred_grid.count() == 8
    first = view.pred_grid.itemAt(0).widget()
    assert first.toolTip() == "square 0.0" and not first.pixmap().isNull()
    assert view.confusion.rowCount() == 0 and view.conf_box.isHidden()

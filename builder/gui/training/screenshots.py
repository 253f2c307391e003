"""Screenshots of the training panel for the README (real runs, not mock-ups).

``python -m builder.gui.training.screenshots [OUT_DIR]`` opens LeNet-5, trains
it on digits with a warm-up + cosine schedule and grabs the window mid-run
(``training_live.png``), then queues the lecture's optimizers for a few epochs
each and grabs the overlay (``training_compare.png``), the set-up tab
(``training_setup.png``) and the results tab (``training_results.png``).
Takes a few minutes on a CPU.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else "resources/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KERAS_BUILDER_CONFIG_DIR", tempfile.mkdtemp(prefix="kb-shots-"))
    from PySide6.QtCore import Qt  # noqa: PLC0415

    import builder  # noqa: PLC0415
    from builder.gui.app import open_window  # noqa: PLC0415
    from builder.gui.document import Document  # noqa: PLC0415

    project = builder.load(builder.template_path("lenet"))
    project.path = None
    project.dataset = {"name": "digits", "validation_split": 0.2}
    project.training.update({"epochs": 8, "batch_size": 32,
                             "optimizer": {"name": "momentum", "learning_rate": 0.05},
                             "schedule": {"name": "cosine", "warmup_epochs": 1}})
    app, window = open_window(None, offer_recovery=False, remember_layout=False)
    window.set_document(Document(project))
    window.resize(1600, 1000)
    window.show()
    window.resizeDocks([window.docks["training"]], [560], Qt.Vertical)
    panel = window.training_panel
    panel.controller.niceness = 0

    def wait(condition, seconds: float) -> None:
        end = time.time() + seconds
        while not condition() and time.time() < end:
            app.processEvents()
            time.sleep(0.01)
        for _ in range(5):
            app.processEvents()
            time.sleep(0.02)

    panel.tabs.setCurrentWidget(panel.setup)
    panel.setup.load_samples(8)
    wait(lambda: "samples of" in panel.setup.samples_note.text(), 30)
    window.grab().save(str(out / "training_setup.png"))

    panel.start()
    wait(lambda: len(panel.controller.series.epoch["epoch"]) >= 4
         and panel.controller.series.step > 4 * 45 + 15, 300)
    panel.live.redraw()
    app.processEvents()
    window.grab().save(str(out / "training_live.png"))
    wait(lambda: not panel.controller.running, 300)

    # The six short runs go on a thread here (one TensorFlow start instead of six).
    panel.controller.in_process = True
    panel.compare_optimizers(epochs=4)
    wait(lambda: not panel.controller.running and not panel.controller.queue, 900)
    panel.tabs.setCurrentWidget(panel.runs)
    panel.runs.metric.setCurrentText("val_loss")
    names = [r.name for r in panel.runs.runs if r.name.endswith(
        ("-sgd", "-momentum", "-nesterov", "-adagrad", "-rmsprop", "-adam"))]
    panel.runs.select(names)
    wait(lambda: False, 0.5)
    window.grab().save(str(out / "training_compare.png"))

    panel.tabs.setCurrentWidget(panel.results)
    panel.results.run_box.setCurrentIndex(panel.results.run_box.count() - 1)
    panel.results.analyse()
    wait(lambda: panel.results.result is not None, 300)
    window.grab().save(str(out / "training_results.png"))
    panel.shutdown()
    window.confirm_discard = lambda: "discard"
    window.close()
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

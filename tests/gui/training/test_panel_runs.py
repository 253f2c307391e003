"""Runs from the training panel: real child processes on a slice of digits."""

from __future__ import annotations

import gc
import time

import numpy as np
import pytest

RUN_TIMEOUT = 90_000  # ms; TensorFlow's import in the child dominates


# It measures the event loop, so it runs in a process of its own (make test runs
# `-m isolated` after the parallel pass): in a worker that ran other GUI tests,
# their leftovers' timers and the collector's passes over their Keras models
# land in the measured gaps and the figure stops being the editor's.
@pytest.mark.isolated
def test_a_real_run_grows_the_plots_shows_the_final_metric_and_never_stalls(
        panel_window, qtbot, tmp_path, gap_meter):
    """A LeNet run from Start to the end, then its results, export, LR test, options."""
    window = panel_window
    panel = window.training_panel
    meter = gap_meter
    # What earlier tests left in this worker's heap is not the editor's: keep the
    # collector from rescanning it mid-run (a full pass over a heap holding several
    # Keras models takes longer than the whole budget).
    gc.collect()
    gc.freeze()
    # Enough epochs that the run outlasts the first poll on a fast machine too,
    # so the plots are seen growing.
    panel.setup.epochs.setValue(4)
    assert panel.start()
    meter.start()
    t0 = time.perf_counter()
    qtbot.waitUntil(lambda: len(panel.controller.series.batch["step"]) >= 3, timeout=RUN_TIMEOUT)
    first = len(panel.live.c_smooth.getData()[0])
    # Edits fork: the graph stays editable and the run goes on with its snapshot.
    window.document.history.set_param("c1", "filters", 8)
    qtbot.waitUntil(lambda: not panel.controller.running, timeout=RUN_TIMEOUT)
    meter.stop()
    gc.unfreeze()
    seconds = time.perf_counter() - t0
    series = panel.controller.series
    assert series.status == "finished", series.message
    xs, ys = panel.live.c_smooth.getData()
    assert len(xs) > first and len(xs) == len(series.batch["step"])
    assert series.started["epochs"] == 4
    assert len(panel.live.c_val.getData()[0]) == 4  # one point per epoch
    assert "val_accuracy" in panel.live.status.text()
    assert f"{series.epoch['val_accuracy'][-1]:.4f}" in panel.live.status.text()
    assert "finished" in panel.live.log.toPlainText()
    assert panel.live.progress.value() == 1000
    # The set-up's estimate (for the rate preview) is the engine's steps per epoch.
    assert panel.setup.preview_data[2] == series.started["steps_per_epoch"]
    # The run trained the snapshot; the document keeps the edit.
    run_dir = panel.controller.run_dir
    assert '"filters": 6' in (run_dir / "project.json").read_text()
    assert window.document.graph.nodes["c1"].params["filters"] == 8
    rate = panel.live.redraws / seconds
    print(f"\nevent loop: worst gap {meter.worst_ms:.0f} ms wall, {meter.worst_cpu_ms:.0f} ms "
          f"of GUI-thread CPU; {meter.share_over(100):.2%} of {len(meter.gaps)} ticks over "
          f"100 ms; {panel.live.redraws} redraws in {seconds:.1f} s ({rate:.1f}/s); "
          f"{panel.controller.events_seen} events")
    # The GUI's own work never holds the loop 100 ms; the wall gaps on this shared,
    # overloaded 2-core machine also hold time the OS gave other processes.
    assert meter.worst_cpu_ms < 100, f"the GUI thread worked {meter.worst_cpu_ms:.0f} ms"
    assert meter.worst_ms < 1000 and meter.share_over(100) < 0.05
    assert panel.live.redraws <= seconds * 21  # throttled to ~20 Hz
    qtbot.waitUntil(lambda: [r.name for r in panel.runs.runs] == [run_dir.name]
                    and panel.runs.runs[0].series.status == "finished", timeout=5_000)

    # After the run: the Keras-backed tools each ask a child process; started
    # together, they overlap (the editor's process never imports TensorFlow).
    results, setup = panel.results, panel.setup
    assert results.run_box.currentText() == panel.controller.run_dir.name
    assert results.analyse()
    out = tmp_path / "model.keras"
    assert results.export("keras", str(out))
    assert setup.lr_test.start(steps=100)
    setup.detect()
    qtbot.waitUntil(lambda: results.result is not None and results.last_export_code is not None
                    and not setup.lr_test._proc and setup.detect_button.isEnabled(),
                    timeout=3 * RUN_TIMEOUT)
    r = results.result
    m = r["confusion"]
    assert m.shape == (10, 10) and m.sum() == series.started["val_samples"]
    # best.keras is the epoch of the lowest val_loss: its accuracy is that epoch's.
    best_epoch = series.best["epoch"]
    assert series.best["monitor"] == "val_loss"
    assert m.trace() / m.sum() == pytest.approx(
        series.epoch["val_accuracy"][best_epoch - 1], abs=1e-6)
    assert results.confusion.rowCount() == 10
    assert r["top_probs"].shape == (16, 5) and (np.diff(r["top_probs"], axis=1) <= 0).all()
    assert list(r["conv_layers"])[:1] == ["c1"] and r["features"].shape == (28, 28, 6)
    assert results.feature_grid.count() == 6 and results.pred_grid.count() == 16
    assert results.last_export_code == 0, results.export_log.toPlainText()
    assert out.is_file()

    lr = setup.lr_test.result
    assert lr is not None, setup.lr_test.note.text()
    assert len(lr["lrs"]) == len(lr["losses"]) <= 100 and lr["lrs"] == sorted(lr["lrs"])
    setup.lr_test.use_button.click()
    chosen = window.document.project.training["optimizer"]["learning_rate"]
    assert chosen == pytest.approx(lr["suggested_lr"], rel=1e-2)

    assert "GPU" in setup.options_note.text(), setup.options_note.text()
    assert "tensorflow" in [setup.backend.itemText(i) for i in range(setup.backend.count())]

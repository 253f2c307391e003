"""Stop, resume, kill -9 and a comparison of two runs, from the panel.

(Apart from test_panel_runs.py so that xdist's loadfile spreads the runs over workers.)
"""

from __future__ import annotations

import os
import signal

RUN_TIMEOUT = 90_000  # ms; TensorFlow's import in the child dominates


def test_stop_resume_then_killed_from_outside_shows_failed_and_the_editor_works_on(
        panel_window, qtbot):
    """One run's life: Stop mid-run, Resume, then a kill -9 from outside."""
    window = panel_window
    panel = window.training_panel
    panel.controller.niceness = 0  # only the responsiveness test needs the yielding child
    panel.setup.epochs.setValue(30)  # long enough to be stopped surely mid-run
    assert panel.start()
    qtbot.waitUntil(lambda: len(panel.controller.series.epoch["epoch"]) >= 1,
                    timeout=RUN_TIMEOUT)
    panel.stop_button.click()
    qtbot.waitUntil(lambda: not panel.controller.running, timeout=RUN_TIMEOUT)
    series = panel.controller.series
    assert series.status == "stopped"
    stopped_at, done = series.step, len(series.epoch["epoch"])
    assert 1 <= done < 30 and stopped_at < series.total_steps
    assert "Stopped" in panel.live.status.text()

    panel.resume_button.click()
    qtbot.waitUntil(lambda: len(panel.controller.series.epoch["epoch"]) >= done + 1,
                    timeout=RUN_TIMEOUT)
    series = panel.controller.series
    assert series.started["resumed"] is True
    assert series.epoch["epoch"][: done + 1] == list(range(1, done + 2))
    steps = series.batch["step"]
    assert steps == sorted(steps) and steps[-1] > stopped_at  # one curve, continued

    os.kill(panel.controller.handle.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: not panel.controller.running, timeout=30_000)
    assert series.status == "failed" and "SIGKILL" in series.message
    assert "Failed" in panel.live.status.text() and "SIGKILL" in panel.live.status.text()
    log = panel.live.log.toPlainText()
    assert "stopped at epoch" in log and "(resumed)" in log and "FAILED" in log  # kept
    qtbot.waitUntil(lambda: panel.runs.runs[0].series.status == "failed", timeout=5_000)
    # The editor works on: an edit and its undo; Start is offered again.
    before = len(window.document.graph)
    window.document.history.add_node("ReLU")
    assert len(window.document.graph) == before + 1
    window.document.history.undo()
    assert len(window.document.graph) == before
    assert panel.start_button.isEnabled() and not panel.stop_button.isEnabled()


def test_compare_two_optimizers_overlays_both_runs(panel_window, qtbot):
    panel = panel_window.training_panel
    # On a thread of this process: the queue and the overlay are what is tested here;
    # the child-process path is the other tests'.
    panel.controller.in_process = True
    panel.compare_optimizers(("sgd", "adam"), epochs=1)
    assert len(panel.controller.queue) == 1  # the first started, the second waits
    qtbot.waitUntil(lambda: not panel.controller.running and not panel.controller.queue
                    and len(panel.runs.runs) == 2
                    and all(r.series.status in ("finished", "stopped", "failed")
                            for r in panel.runs.runs),
                    timeout=2 * RUN_TIMEOUT)
    runs = panel.runs.runs
    assert sorted(r.optimizer for r in runs) == ["adam", "sgd"]
    assert all(r.series.status == "finished" for r in runs), [(r.name, r.series.status, r.series.message) for r in runs]
    assert sorted(panel.runs.selected_names()) == sorted(r.name for r in runs)
    curves = panel.runs.curve_data()
    assert len(curves) == 2
    by_name = {r.name: r for r in runs}
    for (xs, ys), name in zip(curves, panel.runs.selected_names()):
        assert xs == [1] and ys == [by_name[name].series.epoch["val_loss"][0]]
    panel.runs.metric.setCurrentText("batch loss (smoothed)")
    assert all(len(xs) >= 2 for xs, _ in panel.runs.curve_data())

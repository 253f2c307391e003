"""Training panel: cost of one live redraw as a run grows, with and without
downsampling, and the event loop's worst gap while 20 Hz redraws run.

A synthetic stream (no Keras) feeds the panel's LiveView exactly as a run's
events do: 10 batch events a second of simulated time, an epoch event every
100 steps. Prints the median redraw time at 1k, 10k and 100k batch points, with
MAX_POINTS downsampling and without (the baseline), and their ratio.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/training_panel.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def feed(view, series, n: int, start: int = 0) -> None:
    for step in range(start + 1, start + n + 1):
        epoch, batch = divmod(step - 1, 100)
        series.feed({"type": "batch", "time": step * 0.1, "epoch": epoch + 1,
                     "batch": batch + 1, "step": step, "loss": 2.0 / (1 + step / 500),
                     "accuracy": min(1.0, step / 5000), "learning_rate": 0.01})
        if batch == 99:
            series.feed({"type": "epoch", "epoch": epoch + 1, "loss": 1.0, "val_loss": 1.1,
                         "accuracy": 0.5, "val_accuracy": 0.5, "seconds": 10.0})


def median_redraw(view, app, repeats: int = 15) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        view.redraw()
        view.repaint()  # paint now: what the event loop would do next
        app.processEvents()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    from PySide6.QtWidgets import QApplication

    import builder.gui.training.live as live
    from builder.gui.training.state import RunSeries

    app = QApplication.instance() or QApplication([])
    view = live.LiveView()
    view.resize(1400, 420)
    view.show()
    series = RunSeries()
    series.feed({"type": "started", "time": 0.0, "epochs": 1000, "steps_per_epoch": 100,
                 "batch_size": 32, "step": 0})
    view.follow(series)
    done = 0
    print(f"{'points':>8} {'downsampled ms':>15} {'all points ms':>14} {'ratio':>6}")
    for size in (1_000, 10_000, 100_000):
        feed(view, series, size - done, done)
        done = size
        live.MAX_POINTS = 2000
        fast = median_redraw(view, app)
        live.MAX_POINTS = 10**9
        slow = median_redraw(view, app)
        live.MAX_POINTS = 2000
        print(f"{size:>8} {fast * 1000:>15.1f} {slow * 1000:>14.1f} {slow / fast:>6.1f}")
    # 3 s of a live run at 100k points: events arrive every 100 ms, redraws at 20 Hz.
    gaps, last, end, step = [], time.perf_counter(), time.perf_counter() + 3.0, done
    next_event = 0.0
    while time.perf_counter() < end:
        now = time.perf_counter()
        if now >= next_event:
            feed(view, series, 1, step)
            step += 1
            view._dirty = True
            next_event = now + 0.1
        app.processEvents()
        gaps.append(time.perf_counter() - last)
        last = time.perf_counter()
        time.sleep(0.005)
    print(f"live at 100k points: worst event-loop gap {max(gaps) * 1000:.0f} ms, "
          f"{view.redraws} redraws in total")
    print("(measured on a shared machine; wall times include other processes' load)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

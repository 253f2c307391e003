"""The command line's progress display, driven by a run's events.

On a terminal one line redraws in place (``\\r``) while an epoch runs; when the
output is a file or a pipe only whole lines are written: one per epoch, plus
the start and the end. Both come from the same events the GUI plots.
"""

from __future__ import annotations

import sys
from typing import IO, Any

_SHOWN = ("loss", "accuracy", "val_loss", "val_accuracy")


def format_metrics(event: dict[str, Any], names: tuple[str, ...] = _SHOWN) -> str:
    """``loss 0.1234  accuracy 0.9650`` for the metrics present in ``event``."""
    parts = [f"{k} {event[k]:.4f}" for k in names if isinstance(event.get(k), (int, float))]
    rate = event.get("learning_rate")
    if isinstance(rate, (int, float)) and "learning_rate" not in names:
        parts.append(f"lr {rate:.3g}")
    return "  ".join(parts)


def bar(done: int, total: int, width: int = 24) -> str:
    """``[=========>      ]`` for ``done`` of ``total``."""
    total = max(total, 1)
    filled = min(width, int(width * done / total))
    head = ">" if filled < width else ""
    return "[" + "=" * filled + head + " " * (width - filled - len(head)) + "]"


class ProgressPrinter:
    """Prints a run's events as a progress bar (terminal) or lines (elsewhere).

    Args:
        stream: where to print (default stdout).
        tty: force terminal (True) or line (False) output; default: ask the stream.
    """

    def __init__(self, stream: IO[str] | None = None, tty: bool | None = None):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.epochs = 0
        self.steps = 0
        self._open_line = False

    def _line(self, text: str) -> None:
        if self._open_line:
            self.stream.write("\r\033[K")
            self._open_line = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def handle(self, event: dict[str, Any]) -> None:
        """Shows one event."""
        kind = event.get("type")
        if kind == "started":
            self.epochs = event.get("epochs", 0)
            self.steps = event.get("steps_per_epoch", 0)
            what = "Resuming" if event.get("resumed") else "Training"
            self._line(f"{what} on {event.get('dataset')}: {event.get('samples')} samples, "
                       f"{event.get('val_samples')} for validation, batch "
                       f"{event.get('batch_size')}, {self.epochs} epochs "
                       f"({event.get('backend')})"
                       + (f", from epoch {event['initial_epoch'] + 1}"
                          if event.get("resumed") else ""))
            for note in event.get("notes") or []:
                self._line(f"  note: {note}")
        elif kind == "batch" and self.tty:
            text = (f"Epoch {event['epoch']}/{self.epochs} "
                    f"{bar(event['batch'], self.steps)} {event['batch']}/{self.steps}  "
                    f"{format_metrics(event, ('loss', 'accuracy'))}")
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
            self._open_line = True
        elif kind == "epoch":
            self._line(f"Epoch {event['epoch']}/{self.epochs}  {format_metrics(event)}  "
                       f"({event.get('seconds', 0):.1f} s)")
        elif kind == "finished":
            best = event.get("best") or {}
            how = "Stopped early" if event.get("reason") == "early_stopping" else "Finished"
            value = best.get("value")
            self._line(f"{how} after {event.get('epoch')} epochs, {event.get('step')} steps"
                       + (f"; best {best.get('monitor')} {value:.4f} at epoch "
                          f"{best.get('epoch')}" if isinstance(value, (int, float)) else ""))
            metrics = event.get("metrics") or {}
            if metrics:  # a task's end-of-run metrics (builder.training.tasks)
                where = event.get("evaluated") or {}
                self._line(f"  on the {where.get('split', 'validation')} split "
                           f"({where.get('samples', '?')} samples, {where.get('model', '')}): "
                           + "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        elif kind == "stopped":
            self._line(f"Stopped at epoch {event.get('epoch')}, step {event.get('step')}"
                       + (" (killed after the grace period)" if event.get("forced") else ""))
        elif kind == "failed":
            self._line(f"Failed: {event.get('message')}")

"""The events a run streams: one JSON object per line.

Every event has ``"type"`` and ``"time"`` (Unix seconds). The types:

=============  ==================================================================
``started``    ``epochs``, ``initial_epoch``, ``steps_per_epoch``, ``batch_size``,
               ``samples``, ``val_samples``, ``backend``, ``device``, ``resumed``,
               ``run_dir``, ``pid``, ``notes`` (what was done to the data)
``batch``      ``epoch`` (1-based), ``batch`` (1-based in the epoch), ``step``
               (optimizer steps so far), ``loss``, ``accuracy``, ...,
               ``learning_rate``; sent at most ``batch_events_per_second`` a
               second, and always for the last batch of an epoch
``epoch``      ``epoch``, ``step``, ``loss``, ``accuracy``, ``val_loss``,
               ``val_accuracy``, ``learning_rate``, ``seconds`` (epoch wall time)
``checkpoint`` ``epoch``, ``step``, ``kind`` (``best``, ``last``, ``backup``), ``path``
``finished``   ``epoch``, ``step``, ``reason`` (``completed``, ``early_stopping``),
               ``best`` (the monitored value and its epoch), ``seconds``
``stopped``    ``epoch``, ``step``, ``forced`` (killed after the grace period)
``failed``     ``message`` (one line), ``traceback``, ``epoch`` and ``step`` if known
=============  ==================================================================

Metric names are Keras' own (``loss``, ``accuracy``, ``val_loss``,
``val_accuracy``, ``learning_rate``), so a plot can use them as they come.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Iterable, Iterator

EVENT_TYPES = ("started", "batch", "epoch", "checkpoint", "finished", "stopped", "failed")

#: Types that end a run's stream.
TERMINAL = ("finished", "stopped", "failed")


def make_event(type_: str, **fields: Any) -> dict[str, Any]:
    """An event dict with ``type`` and ``time`` first and JSON-safe values."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"Unknown event type. Expected one of {EVENT_TYPES}. "
                         f"Received: {type_!r}")
    event: dict[str, Any] = {"type": type_, "time": time.time()}
    event.update((k, _plain(v)) for k, v in fields.items())
    return event


def _plain(value: Any) -> Any:
    """Numbers from numpy / backend tensors as Python floats; NaN/inf as None."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None


def encode(event: dict[str, Any]) -> str:
    """One line of JSON (no newline inside; NaN never appears)."""
    return json.dumps(event, allow_nan=False, separators=(",", ":"))


def decode(line: str) -> dict[str, Any] | None:
    """The event on ``line``, or ``None`` for a line that is not an event."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and event.get("type") in EVENT_TYPES else None


def read_events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The events among ``lines`` (an ``events.jsonl`` file, a pipe)."""
    for line in lines:
        event = decode(line)
        if event is not None:
            yield event

"""The child process of a run: ``python -m builder.training.child RUN_DIR [--resume]``.

Events go to the original stdout, one JSON object per line, and are appended
to ``RUN_DIR/events.jsonl``. Everything else that would print to stdout (Keras,
TensorFlow, a stray ``print``) is sent to stderr, so it cannot corrupt the
stream. A line ``stop`` on stdin (or stdin closing: the parent is gone) asks
for a cooperative stop at the next batch. The backend is chosen by the parent
through ``KERAS_BACKEND`` before Keras is imported here.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    resume = "--resume" in args
    args = [a for a in args if a != "--resume"]
    if len(args) != 1:
        print("usage: python -m builder.training.child RUN_DIR [--resume]", file=sys.stderr)
        return 2
    run_dir = Path(args[0])
    # The parent decides when to stop; Ctrl-C in a terminal reaches the whole
    # process group, and the parent turns it into a cooperative stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    events_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    stream = os.fdopen(events_fd, "w", buffering=1, encoding="utf-8")

    from builder.training.events import encode  # noqa: PLC0415
    from builder.training.runner import execute  # noqa: PLC0415

    log = open(run_dir / "events.jsonl", "a", buffering=1, encoding="utf-8")
    lock = threading.Lock()
    parent_alive = [True]

    def emit(event: dict) -> None:
        line = encode(event) + "\n"
        with lock:
            log.write(line)
            if parent_alive[0]:
                try:
                    stream.write(line)
                except (BrokenPipeError, OSError):
                    parent_alive[0] = False

    stop = threading.Event()

    def listen() -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=listen, daemon=True, name="stop-listener").start()
    last = execute(run_dir, emit, stop, resume=resume)
    log.close()
    return {"finished": 0, "stopped": 0}.get(last, 1)


if __name__ == "__main__":
    sys.exit(main())

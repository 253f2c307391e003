"""Starting runs and following them: the API the CLI and the GUI use.

::

    handle = start_run(project, run_dir, training={"epochs": 3})
    for event in handle.events():      # blocks; ends after the terminal event
        print(event["type"], event.get("val_accuracy"))
    handle.stop()                      # from another thread / a button

:class:`RunHandle` runs the training in a child process (a crash, an
out-of-memory or a hard stop never takes the caller with it, and GPU memory is
returned when it ends); :class:`InProcessRun` runs it on a thread of this
process with the same interface and events, for tests and debugging.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from builder.core.project import Project
from builder.training.errors import TrainingError
from builder.training.events import TERMINAL, decode, encode, make_event
from builder.training.run_dir import EVENTS_FILE, create_run_dir, read_config

#: Seconds a stop waits for the cooperative end before killing the child.
GRACE_SECONDS = 5.0


class _Handle:
    """What both runners share: a queue of events and a way to read it."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.terminal: dict[str, Any] | None = None
        self._done = False

    def _put(self, event: dict[str, Any]) -> None:
        if event["type"] in TERMINAL:
            self.terminal = event
        self.queue.put(event)

    def events(self, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Yields events as they come until the run ends.

        Args:
            timeout: seconds to wait for each event; ``TimeoutError`` past it.
        """
        while not self._done:
            try:
                event = self.queue.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"no event for {timeout} s from the run in "
                                   f"{self.run_dir}") from None
            if event is None:
                self._done = True
                return
            yield event

    def poll(self) -> list[dict[str, Any]]:
        """The events that have arrived since the last call, without waiting."""
        out = []
        while True:
            try:
                event = self.queue.get_nowait()
            except queue.Empty:
                return out
            if event is None:
                self._done = True
                return out
            out.append(event)


class RunHandle(_Handle):
    """A run in a child process.

    Attributes:
        run_dir: the run directory.
        process: the ``subprocess.Popen`` of the child.
        terminal: the ``finished`` / ``stopped`` / ``failed`` event once seen.
    """

    def __init__(self, run_dir: Path, process: subprocess.Popen):
        super().__init__(run_dir)
        self.process = process
        self._forced = False
        self._reader = threading.Thread(target=self._read, daemon=True,
                                        name=f"run-events-{process.pid}")
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            event = decode(line)
            if event is not None:
                self._put(event)
        code = self.process.wait()
        if self.terminal is None:
            # Killed (by stop() after the grace period, by the OS, kill -9):
            # the child could not say so itself; record it for it.
            if self._forced:
                event = make_event("stopped", forced=True, returncode=code)
            else:
                event = make_event("failed", returncode=code, traceback=self._stderr_tail(),
                                   message=f"The training process ended unexpectedly "
                                           f"({_describe_exit(code)}); see "
                                           f"{self.run_dir / 'stderr.log'}")
            with open(self.run_dir / EVENTS_FILE, "a", encoding="utf-8") as log:
                log.write(encode(event) + "\n")
            self._put(event)
        self.queue.put(None)

    def _stderr_tail(self) -> str:
        try:
            return (self.run_dir / "stderr.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    @property
    def is_running(self) -> bool:
        return self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, grace: float = GRACE_SECONDS, wait: bool = False) -> None:
        """Asks the child to stop at the next batch; kills it after ``grace`` s.

        Returns at once unless ``wait``; the ``stopped`` event follows on the
        stream (``"forced": true`` when it had to be killed).
        """
        if not self.is_running:
            return
        try:
            assert self.process.stdin is not None
            self.process.stdin.write("stop\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

        def enforce() -> None:
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.kill()

        timer = threading.Thread(target=enforce, daemon=True, name="run-stop")
        timer.start()
        if wait:
            timer.join()
            self._reader.join()

    def kill(self) -> None:
        """Ends the child now (SIGKILL); the stream ends with a forced ``stopped``."""
        if self.is_running:
            self._forced = True
            self.process.kill()

    def wait(self, timeout: float | None = None) -> int:
        """Waits for the child to exit and its events to be read; the exit code."""
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout)
        return code


class InProcessRun(_Handle):
    """A run on a thread of this process: the same events, for tests.

    The current process' Keras backend must be the run's.
    """

    def __init__(self, run_dir: Path, resume: bool = False):
        super().__init__(run_dir)
        self._stop = threading.Event()
        self._result: str | None = None
        self._log = open(run_dir / EVENTS_FILE, "a", buffering=1, encoding="utf-8")
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, args=(resume,), daemon=True,
                                        name="in-process-run")
        self._thread.start()

    def _emit(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._log.write(encode(event) + "\n")
        self._put(event)

    def _work(self, resume: bool) -> None:
        from builder.training.runner import execute  # noqa: PLC0415

        try:
            self._result = execute(self.run_dir, self._emit, self._stop, resume=resume)
        finally:
            self._log.close()
            self.queue.put(None)

    @property
    def is_running(self) -> bool:
        return self._thread.is_alive()

    @property
    def returncode(self) -> int | None:
        if self.is_running:
            return None
        return {"finished": 0, "stopped": 0}.get(self._result or "", 1)

    def stop(self, grace: float = GRACE_SECONDS, wait: bool = False) -> None:
        """Stops at the next batch (a thread cannot be killed: no grace period)."""
        self._stop.set()
        if wait:
            self._thread.join()

    def wait(self, timeout: float | None = None) -> int | None:
        self._thread.join(timeout)
        return self.returncode


def child_environment(training: dict[str, Any]) -> dict[str, str]:
    """The environment of a child: backend, visible devices, quiet TensorFlow."""
    env = dict(os.environ)
    env["KERAS_BACKEND"] = training.get("backend", "tensorflow")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    device = str(training.get("device", "auto"))
    if device == "cpu" or device.startswith("cpu:"):
        env["CUDA_VISIBLE_DEVICES"] = "-1"  # no GPU memory taken at all
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def launch(run_dir: str | os.PathLike, *, resume: bool = False,
           python: str | None = None, process_id: int | None = None) -> RunHandle:
    """Starts the child process of an existing run directory.

    Args:
        run_dir: the run directory.
        resume: continue from its backup.
        python: the interpreter (default: this one).
        process_id: this worker's id in a ``multi_process`` run (0 is the
            coordinator); required for such a run.
    """
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    env = child_environment(config["training"])
    if config["training"].get("distribution") == "multi_process":
        if process_id is None:
            raise TrainingError("A multi-process run needs this process' id "
                                "(builder train --process-id N). Received: none")
        env.update(KERAS_DISTRIBUTION_JOB_ADDRESSES=str(config["training"]["coordinator"]),
                   KERAS_DISTRIBUTION_NUM_PROCESSES=str(config["training"]["num_processes"]),
                   KERAS_DISTRIBUTION_PROCESS_ID=str(process_id))
    stderr = open(run_dir / "stderr.log", "ab")
    command = [python or sys.executable, "-m", "builder.training.child", str(run_dir)]
    if resume:
        command.append("--resume")
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=stderr, env=env,
                               text=True, encoding="utf-8", bufsize=1)
    stderr.close()
    return RunHandle(run_dir, process)


def start_run(project: Project, run_dir: str | os.PathLike, *,
              training: dict[str, Any] | None = None,
              dataset: dict[str, Any] | None = None,
              in_process: bool = False,
              process_id: int | None = None) -> RunHandle | InProcessRun:
    """Creates ``run_dir`` for ``project`` and starts training it.

    Args:
        project: the project (its graph, training and dataset sections).
        run_dir: a new folder for the run.
        training: overrides of the project's training settings.
        dataset: overrides of the project's dataset settings.
        in_process: run on a thread here instead of a child process.
        process_id: this worker's id in a ``multi_process`` run.

    Returns:
        The handle: ``events()``, ``poll()``, ``stop()``, ``is_running``,
        ``returncode``.

    Raises:
        TrainingError: invalid settings (before anything starts).
    """
    run_dir = create_run_dir(project, run_dir, training, dataset)
    return InProcessRun(run_dir) if in_process else launch(run_dir, process_id=process_id)


def resume_run(run_dir: str | os.PathLike, *, in_process: bool = False,
               process_id: int | None = None, **training: Any) -> RunHandle | InProcessRun:
    """Continues a run from its backup (``training`` may raise ``epochs``)."""
    from builder.training.run_dir import update_config  # noqa: PLC0415

    if training:
        update_config(run_dir, **training)
    read_config(run_dir)  # a clear error when it is not a run directory
    return InProcessRun(Path(run_dir), resume=True) if in_process else launch(
        run_dir, resume=True, process_id=process_id)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        import signal  # noqa: PLC0415

        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"

"""Saves are atomic: a failure or a kill mid-save never damages the previous file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from builder.core import Graph, ProjectError, atomic_write, load_project, save_project
from builder.core.project import Project

from .helpers import FakeKinds


def _project(kinds, n=3, name="p") -> Project:
    graph = Graph(kinds)
    graph.add_node("Src", id="src", pos=(0, 0))
    prev = "src"
    for i in range(n):
        node = graph.add_node("Layer", {"units": i + 1}, pos=(0, 10 * i))
        graph.connect(prev, node.id)
        prev = node.id
    return Project(graph, name=name)


@pytest.fixture
def saved(tmp_path, kinds):
    path = tmp_path / "model.json"
    save_project(_project(kinds, name="old"), path)
    return path


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != "model.json")


def test_save_writes_the_file_and_nothing_else(saved):
    assert json.loads(saved.read_text())["name"] == "old"
    assert _leftovers(saved.parent) == []


def test_save_keeps_the_file_mode(saved, kinds):
    os.chmod(saved, 0o640)
    save_project(_project(kinds, name="new"), saved)
    assert saved.stat().st_mode & 0o777 == 0o640


def test_new_file_gets_the_usual_mode(tmp_path, kinds):
    path = tmp_path / "fresh.json"
    save_project(_project(kinds), path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


class _DiskFull:
    """A file object that writes half of the data, then fails like a full disk."""

    def __init__(self, real):
        self.real = real

    def write(self, data):
        self.real.write(data[: len(data) // 2])
        self.real.flush()
        raise OSError(28, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()


def _fail_write(monkeypatch):
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda *a, **k: _DiskFull(real_fdopen(*a, **k)))


def _fail_fsync(monkeypatch):
    def fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", fsync)


def _fail_replace(monkeypatch):
    def replace(src, dst):
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("inject", [_fail_write, _fail_fsync, _fail_replace])
def test_failed_save_leaves_old_file_and_no_temp_file(saved, kinds, monkeypatch, inject):
    before = saved.read_bytes()
    inject(monkeypatch)
    project = _project(kinds, n=50, name="new")
    with pytest.raises(ProjectError) as info:
        save_project(project, saved)
    monkeypatch.undo()
    assert str(info.value).startswith(f"{saved}: could not be saved: ")
    assert "\n" not in str(info.value)
    assert saved.read_bytes() == before
    assert _leftovers(saved.parent) == []
    assert project.path is None  # not saved, so not "this project's file"


def test_interrupt_mid_save_cleans_up_and_propagates(saved, kinds, monkeypatch):
    before = saved.read_bytes()

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_project(_project(kinds, name="new"), saved)
    monkeypatch.undo()
    assert saved.read_bytes() == before and _leftovers(saved.parent) == []


def test_unserialisable_project_does_not_touch_the_disk(saved, kinds):
    before = saved.read_bytes()
    project = _project(kinds, name="new")
    project.training = {"callback": object()}
    with pytest.raises(ProjectError, match="cannot be saved as JSON"):
        save_project(project, saved)
    assert saved.read_bytes() == before and _leftovers(saved.parent) == []


def test_save_into_missing_directory(tmp_path, kinds):
    with pytest.raises(ProjectError, match="could not be saved"):
        save_project(_project(kinds), tmp_path / "no" / "such" / "dir.json")


def test_atomic_write_text_and_bytes(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write(path, "héllo\n")
    assert path.read_bytes() == "héllo\n".encode()
    atomic_write(str(path), b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"


_CHILD = textwrap.dedent("""
    import sys
    sys.path[:0] = {paths!r}
    from tests_core_helpers import FakeKinds
    import builder.core.project as project_module
    from builder.core import Graph, save_project
    from builder.core.project import Project

    kinds = FakeKinds()
    projects = []
    for size in (300, 1200):  # two sizes, so that a torn file could not pass
        graph = Graph(kinds)
        graph.add_node("Src", id="src")
        for i in range(size):
            graph.add_node("Layer", {{"units": i + 1}}, pos=(i, i))
        for i in range(1, 50):  # some edges too (connecting all would be slow)
            graph.connect("src" if i == 1 else f"layer_{{i - 1}}", f"layer_{{i}}")
        projects.append(Project(graph, name=f"size {{size}}",
                                description="x" * (size * 5000)))
    # Serialise once: writing megabytes is then nearly all of each save, so the
    # kills land mid-write (a plain open-and-write fails this test at once).
    texts = {{id(p): project_module.dumps_project(p) for p in projects}}
    project_module.dumps_project = lambda p: texts[id(p)]
    print("ready", flush=True)
    i = 0
    while True:
        save_project(projects[i % 2], {target!r})
        i += 1
""")


def test_killed_while_saving_never_leaves_a_broken_file(tmp_path, kinds):
    """SIGKILL a process that saves in a loop; the file always loads."""
    target = tmp_path / "model.json"
    save_project(_project(kinds, name="initial"), target)
    helpers_dir = tmp_path / "mods"
    helpers_dir.mkdir()
    (helpers_dir / "tests_core_helpers.py").write_text(
        Path(__file__).with_name("helpers.py").read_text())
    root = str(Path(__file__).resolve().parents[2])
    script = _CHILD.format(paths=[str(helpers_dir), root], target=str(target))
    names = set()
    for delay in (0.05, 0.13, 0.21, 0.34, 0.5):
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                 text=True)
        try:
            assert child.stdout.readline().strip() == "ready"
            time.sleep(delay)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        project = load_project(target, FakeKinds())  # a torn file would raise here
        names.add(project.name)
        assert len(project.graph) in (4, 301, 1201)
    assert names & {"size 300", "size 1200"}  # the child really was saving
    # A kill can leave a temporary file (never the target) behind; nothing else.
    assert all(p.name.startswith(".model.json.") and p.name.endswith(".tmp")
               for p in tmp_path.iterdir() if p.name not in ("model.json", "mods"))

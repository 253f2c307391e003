"""Settings, recent files and crash recovery of the desktop builder.

Settings live in an INI file under one configuration folder: the
``KERAS_BUILDER_CONFIG_DIR`` environment variable when set (tests point it at a
temporary folder), else Qt's per-user configuration location. Recovery files
are autosaved project texts named after the process that wrote them, so the
next start can tell a crashed session's file from a running one's.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

from builder.core.project import atomic_write

ENV_CONFIG = "KERAS_BUILDER_CONFIG_DIR"
MAX_RECENT = 10


def config_dir() -> Path:
    """The folder of settings and recovery files (created on demand)."""
    env = os.environ.get(ENV_CONFIG)
    if env:
        path = Path(env)
    else:
        base = QStandardPaths.writableLocation(QStandardPaths.AppConfigLocation)
        path = Path(base or Path.home() / ".config") / "keras-builder"
    path.mkdir(parents=True, exist_ok=True)
    return path


def settings() -> QSettings:
    """The INI settings of the builder."""
    return QSettings(str(config_dir() / "settings.ini"), QSettings.IniFormat)


def recent_files() -> list[str]:
    """Recently opened or saved files, newest first, existing ones only."""
    value = settings().value("recent", [])
    if isinstance(value, str):
        value = [value]
    return [p for p in (value or []) if Path(p).is_file()]


def add_recent(path: str) -> list[str]:
    """Moves ``path`` to the top of the recent files; returns the new list."""
    path = str(Path(path).resolve())
    files = [path] + [p for p in recent_files() if p != path]
    files = files[:MAX_RECENT]
    store = settings()
    store.setValue("recent", files)
    store.sync()
    return files


class Recovery:
    """The autosave file of this process and the leftovers of crashed ones."""

    def __init__(self, folder: Path | None = None, pid: int | None = None):
        self.folder = (folder or config_dir()) / "recovery"
        self.pid = pid if pid is not None else os.getpid()

    @property
    def path(self) -> Path:
        """This process' recovery file."""
        return self.folder / f"autosave-{self.pid}.json"

    def save(self, text: str) -> None:
        """Writes the document's text atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, text)

    def discard(self) -> None:
        """Removes this process' file (after a save or a clean exit)."""
        self.path.unlink(missing_ok=True)

    def leftovers(self) -> list[Path]:
        """Recovery files of processes that are no longer running, newest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.glob("autosave-*.json"):
            try:
                pid = int(path.stem.split("-", 1)[1])
            except ValueError:
                continue
            if pid != self.pid and not _alive(pid):
                found.append(path)
        return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True

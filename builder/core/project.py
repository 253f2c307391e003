"""Project files: versioned JSON, loaded in stages, saved atomically.

A project file looks like::

    {
      "format": "keras-builder",
      "schema_version": 1,
      "name": "VGG-16",
      "description": "...",
      "graph": {"nodes": [...], "edges": [...]},      # Graph.to_dict()
      "view": {"positions": {"conv1": [120, 40]}},    # + other view settings
      "training": {...},
      "dataset": {...}
    }

Loading is staged: **parse** (invalid JSON names the line and column) →
**migrate** (:data:`MIGRATIONS` lifts an old ``schema_version`` one step at a
time) → **validate** (every problem, each naming the node and field) → **build**
(the graph's own rules: cycles, a second edge into a single port). Any problem is
a :class:`~builder.core.errors.ProjectError` whose message is one line; a file is
data and is never executed.

Saving writes a temporary file beside the target, flushes it to disk and renames
it over the target, so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, NoReturn

from builder.core import graph as graph_module
from builder.core.errors import ProjectError
from builder.core.graph import Graph, KindRegistry
from builder.core.schema import FORMAT, SCHEMA_VERSION, check_project, describe, is_int

#: ``{n: migrate}``: each function takes a version-``n`` project dict and returns
#: it as version ``n + 1`` (the loader sets ``schema_version`` afterwards).
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


@dataclass
class Project:
    """A document: the graph plus everything else a project file holds.

    Attributes:
        graph: the network; node positions live on its nodes.
        name: the project's name, shown in the title bar.
        description: free text.
        training: training settings (optimizer, schedule, ...), owned by the
            training tier.
        dataset: dataset settings, owned by the training tier.
        path: the file it was loaded from or last saved to, if any.
        extra: view settings other than node positions (zoom, expanded
            composites, ...), saved under ``"view"``.
    """

    graph: Graph
    name: str = "Untitled"
    description: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# -- saving --------------------------------------------------------------------


def project_to_dict(project: Project) -> dict[str, Any]:
    """The project as plain JSON-able data, in the file's key order."""
    view: dict[str, Any] = {"positions": project.graph.positions()}
    view.update((k, v) for k, v in _sorted(project.extra).items() if k != "positions")
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "name": project.name,
        "description": project.description,
        "graph": project.graph.to_dict(),
        "view": view,
        "training": _sorted(project.training),
        "dataset": _sorted(project.dataset),
    }


def dumps_project(project: Project) -> str:
    """The project file's text: 2-space indents, stable key order, final newline.

    The top-level keys come in a fixed order, the graph in node and edge order
    with parameters in catalogue order, and the free-form dicts (training,
    dataset, view settings) with sorted keys, so saving twice gives the same bytes.

    Raises:
        ProjectError: a value that JSON cannot hold (``NaN``, a set, ...).
    """
    try:
        return json.dumps(project_to_dict(project), indent=2, ensure_ascii=False,
                          allow_nan=False) + "\n"
    except (TypeError, ValueError) as e:
        _fail([ProjectError(f"cannot be saved as JSON: {e}.", path=project.path)])


def save_project(project: Project, path: str | os.PathLike | None = None) -> None:
    """Writes the project atomically to ``path`` (default: ``project.path``).

    On success ``project.path`` becomes ``path``. On failure the previous file is
    left byte for byte as it was and no temporary file is left behind.

    Raises:
        ProjectError: the project cannot be serialised or the file cannot be
            written (the OS error's text is in the message).
    """
    target = path if path is not None else project.path
    if target is None:
        _fail([ProjectError("The project has no file to save to. Received: path=None")])
    target = os.fspath(target)
    data = dumps_project(project).encode("utf-8")  # fails before touching the disk
    try:
        atomic_write(target, data)
    except OSError as e:
        _fail([ProjectError(f"could not be saved: {e.strerror or e}.", path=target)])
    project.path = target


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Replaces the file at ``path`` with ``data`` all at once.

    Writes a temporary file in the same directory (so the rename stays on one
    file system), flushes it to disk, then ``os.replace``-s it onto ``path``.
    Readers see the old content or the new, never a part; a crash or kill at any
    moment leaves the old file intact (at worst a stray ``.*.tmp`` file).

    Raises:
        OSError: the write failed; the old file is untouched and the temporary
            file removed.
    """
    path = os.fspath(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); keep the target's mode instead.
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _mode_for(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable; not possible everywhere (Windows), and the
    # file is already safely written, so failure here is not an error.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [_sorted(v) for v in value]
    return value


# -- loading -------------------------------------------------------------------


def load_project(path: str | os.PathLike, kinds: KindRegistry | None = None) -> Project:
    """Reads a project file: parse → migrate → validate → build.

    Args:
        path: the file.
        kinds: the kind registry (the catalogue); the graph's default if omitted.

    Raises:
        ProjectError: the first problem, with every problem found in
            ``.problems``. Its message is one line naming the file, and the node
            and field where there is one.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        _fail([ProjectError(f"cannot be read: {e.strerror or e}.", path=path)])
    return loads_project(raw, kinds, path)


def loads_project(text: str | bytes, kinds: KindRegistry | None = None,
                  path: str | os.PathLike | None = None) -> Project:
    """Builds a project from the text of a project file.

    Args:
        text: the file's content (``bytes`` are decoded as UTF-8).
        kinds: the kind registry; the graph's default if omitted.
        path: the file the text came from, for messages and ``Project.path``.

    Raises:
        ProjectError: as :func:`load_project`.
    """
    path = os.fspath(path) if path is not None else None
    data = migrate_project(_parse(text, path), path)
    problems, graph = check_project(data, _registry(kinds, path), path)
    if problems:
        _fail(problems)
    view = data.get("view", {})
    return Project(
        graph=graph,
        name=data.get("name", "Untitled"),
        description=data.get("description", ""),
        training=data.get("training", {}),
        dataset=data.get("dataset", {}),
        path=path,
        extra={k: v for k, v in view.items() if k != "positions"},
    )


def migrate_project(data: dict[str, Any], path: str | None = None) -> dict[str, Any]:
    """Checks the format and lifts ``data`` to :data:`SCHEMA_VERSION`.

    Returns:
        A new dict at the current schema version (``data`` is not changed).

    Raises:
        ProjectError: not a Keras Builder project, a version from a newer Keras
            Builder, or a version that no migration leads from.
    """
    if not isinstance(data, dict):
        _fail([ProjectError(f"must hold a JSON object. Received: {describe(data)}",
                            path=path)])
    if "format" not in data:
        _fail([ProjectError(f"is missing, so this is not a Keras Builder project. "
                            f"Expected: \"format\": \"{FORMAT}\"",
                            path=path, field="format")])
    if data["format"] != FORMAT:
        _fail([ProjectError(f"this is not a Keras Builder project. Expected: "
                            f"\"{FORMAT}\". Received: {data['format']!r}",
                            path=path, field="format")])
    if "schema_version" not in data:
        _fail([ProjectError(f"is missing. Expected: a whole number such as "
                            f"{SCHEMA_VERSION}", path=path, field="schema_version")])
    version = data["schema_version"]
    if not is_int(version):
        _fail([ProjectError(f"must be a whole number. Received: {version!r}",
                            path=path, field="schema_version")])
    if version > SCHEMA_VERSION:
        _fail([ProjectError(
            f"the file was saved by a newer Keras Builder (schema_version {version}; "
            f"this version reads up to {SCHEMA_VERSION}). Upgrade Keras Builder to "
            f"open it. Received: {version}", path=path, field="schema_version")])
    data = copy.deepcopy(data)
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            _fail([ProjectError(
                f"no migration leads from schema_version {version} to "
                f"{SCHEMA_VERSION}. Received: {version}", path=path,
                field="schema_version")])
        try:
            data = step(data)
        except ProjectError as e:
            _fail([ProjectError(e.detail, path=path, node=e.node, field=e.field)])
        except Exception as e:  # a malformed old file must not give a traceback
            _fail([ProjectError(
                f"could not be migrated from schema_version {version} to {version + 1}: "
                f"{type(e).__name__}: {e}", path=path)])
        if not isinstance(data, dict):
            _fail([ProjectError(f"the migration from schema_version {version} did not "
                                f"return an object. Received: {describe(data)}", path=path)])
        version += 1
        data["schema_version"] = version
    return data


def validate_project(data: dict[str, Any], kinds: KindRegistry | None = None,
                     path: str | None = None) -> list[ProjectError]:
    """Every problem of a migrated project dict, build problems included.

    Returns:
        The problems in file order; empty when the project loads.
    """
    return check_project(data, _registry(kinds, path), path)[0]


def _fail(problems: list[ProjectError]) -> NoReturn:
    """Raises the first problem with every problem attached as ``.problems``."""
    first = problems[0]
    first.problems = list(problems)
    raise first


def _registry(kinds: KindRegistry | None, path: str | None) -> KindRegistry:
    kinds = kinds if kinds is not None else graph_module._default_kinds
    if kinds is None:
        _fail([ProjectError("cannot be loaded without a catalogue of kinds. Import "
                            "builder.blocks first or pass kinds=.", path=path)])
    return kinds


def _parse(text: str | bytes, path: str | None) -> Any:
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as e:
            _fail([ProjectError(f"is not UTF-8 text (byte {e.start}). Project files "
                                f"are JSON in UTF-8.", path=path)])
    elif text.startswith("\ufeff"):
        text = text[1:]
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite,
                          object_pairs_hook=_object_without_duplicates)
    except json.JSONDecodeError as e:
        _fail([ProjectError(f"invalid JSON at line {e.lineno}, column {e.colno}: "
                            f"{e.msg}.", path=path)])
    except _JSONValueError as e:
        _fail([ProjectError(f"invalid JSON: {e}", path=path)])
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        _fail([ProjectError(f"invalid JSON: {e}.", path=path)])
    except RecursionError:
        _fail([ProjectError("invalid JSON: nested too deeply to read.", path=path)])


class _JSONValueError(Exception):
    pass


def _reject_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which are not JSON and could never be
    # saved again.
    raise _JSONValueError(f"{name} is not a JSON number; numbers must be finite.")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _JSONValueError(f"{text} is too large for a number.")
    return value


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of repeated keys; in a hand-edited file that is
    # silent data loss, so say so.
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _JSONValueError(f"the key {key!r} appears twice in one object.")
        obj[key] = value
    return obj

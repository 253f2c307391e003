"""Keras Builder: draw convolutional networks, see every shape and count live,
compile them to Keras, train and export them.

The public API scripts and tests use::

    import builder
    project = builder.load("templates/vgg16.json")
    analysis = builder.analyze(project.graph)     # pure Python, milliseconds
    model = builder.to_keras(project.graph)       # imports keras on first use
    print(builder.to_source(project.graph))
    builder.save(project, "copy.json")

Importing ``builder`` does not import Keras, TensorFlow or Qt.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from builder.analysis import Analysis, Analyzer, Diagnostic, analyze
from builder.blocks import CATALOG
from builder.core import BuilderError, Graph, ProjectError
from builder.core.project import Project, load_project, save_project

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["Analysis", "Analyzer", "BuilderError", "CATALOG", "Diagnostic", "Graph",
           "Project", "ProjectError", "analyze", "from_keras", "from_template", "load",
           "save", "template_path", "templates_dir", "to_keras", "to_source"]

__version__ = "0.1.0"


def load(path: str | Path) -> Project:
    """Loads a project file; raises :class:`ProjectError` with a one-line message."""
    return load_project(path, CATALOG)


def save(project: Project, path: str | Path) -> None:
    """Saves ``project`` atomically: a failed save leaves the old file intact."""
    save_project(project, path)


def to_keras(graph: Graph, **kwargs: Any) -> "keras.Model":
    """Compiles ``graph`` into a functional ``keras.Model`` (imports Keras)."""
    from builder.compile import to_keras as compile_model

    return compile_model(graph, **kwargs)


def to_source(graph: Graph, **kwargs: Any) -> str:
    """Python source that builds the same model with plain Keras."""
    from builder.compile import to_source as emit

    return emit(graph, **kwargs)


def from_keras(model_or_path: "keras.Model | str | Path", *, verify: bool = True) -> Project:
    """A project holding the architecture of a functional or Sequential Keras model,
    or of a ``.keras`` file (vetted, then loaded with ``safe_mode=True``).

    Layer names become node names; weights are not part of a project. Raises
    :class:`BuilderError` (one line naming every layer that cannot be represented).
    """
    from builder.compile.from_keras import from_keras as convert

    return convert(model_or_path, verify=verify)


def templates_dir() -> Path:
    """The folder of the shipped templates."""
    return Path(__file__).resolve().parent.parent / "templates"


def template_path(name: str) -> Path:
    """The file of template ``name`` (``"vgg16"``); ``ProjectError`` if none."""
    path = templates_dir() / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in templates_dir().glob("*.json"))
        raise ProjectError(f"No template called '{name}'. Known templates: "
                           f"{', '.join(known) or 'none'}")
    return path


def from_template(name: str) -> Project:
    """Loads template ``name`` as a new, unsaved project."""
    project = load(template_path(name))
    project.path = None
    return project

"""Starting the desktop builder: ``builder``, ``builder gui PROJECT [--screenshot]``.

Start-up imports Qt and the pure-Python tiers only; Keras and TensorFlow load
the first time something is compiled, trained or turned into code.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT_TEMPLATES = ("lenet", "vgg16")


def _headless() -> bool:
    return sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                     or os.environ.get("WAYLAND_DISPLAY"))


def application():
    """The QApplication (created once; offscreen when there is no display)."""
    if _headless():
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("Keras Builder")
        app.setOrganizationName("keras-builder")
        app.setStyle("Fusion")
    return app


def default_project():
    """The project ``make run`` opens: LeNet if shipped, else VGG-16."""
    import builder

    for name in DEFAULT_TEMPLATES:
        if (builder.templates_dir() / f"{name}.json").is_file():
            return builder.from_template(name)
    return None


def load_document(source: str | None):
    """The document for ``source`` (a file, a template name, or the default)."""
    from builder.cli import _open
    from builder.gui.document import Document

    project = _open(source) if source else default_project()
    return Document(project) if project is not None else Document()


def open_window(source: str | None = None, *, offer_recovery: bool = True,
                remember_layout: bool = True):
    """Creates the application and shows a main window on ``source``."""
    app = application()
    from builder.gui.main_window import MainWindow

    window = MainWindow(load_document(source), remember_layout=remember_layout)
    window.show()
    if not remember_layout:
        window.default_dock_sizes()
    if offer_recovery and not os.environ.get("KERAS_BUILDER_NO_RECOVERY"):
        window.offer_recovery()
    return app, window


def screenshot(window, path: str | Path) -> None:
    """Lets the window draw, then saves what it shows."""
    import time

    app = application()
    # Long enough for the throttled panels (summary: 150 ms) to draw too.
    deadline = time.monotonic() + 0.35
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    if not window.grab().save(str(path)):
        from builder.core import BuilderError

        raise BuilderError(f"Could not write the screenshot. Received: '{path}'")


def run(project: str | None = None, screenshot_path: str | None = None) -> int:
    """Opens the builder; with ``screenshot_path``, saves a picture and quits.

    Returns:
        The exit status.
    """
    pictures = screenshot_path is not None
    if not pictures and _headless() and not os.environ.get("QT_QPA_PLATFORM"):
        print("builder gui: no display found (DISPLAY is not set). Use --screenshot PNG "
              "to draw the window headless, or set QT_QPA_PLATFORM=offscreen.",
              file=sys.stderr)
        return 2
    # Screenshots use the default layout, and never touch the user's saved one.
    app, window = open_window(project, offer_recovery=not pictures,
                              remember_layout=not pictures)
    if screenshot_path:
        screenshot(window, screenshot_path)
        window.document.history.mark_clean()  # nothing to ask about when quitting
        window.close()
        return 0
    return app.exec()

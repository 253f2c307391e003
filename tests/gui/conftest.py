"""GUI test set-up: offscreen Qt, isolated settings, a main window per test."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest.importorskip("pytestqt", reason="pytest-qt runs the GUI tests")


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """Settings, recent files and recovery files go to a temporary folder."""
    folder = tmp_path / "config"
    monkeypatch.setenv("KERAS_BUILDER_CONFIG_DIR", str(folder))
    return folder


@pytest.fixture
def make_window(qtbot, isolated_settings):
    """``make_window(project=None)`` -> a shown MainWindow that closes without asking."""
    from builder.gui.document import Document
    from builder.gui.files import Recovery
    from builder.gui.main_window import MainWindow

    windows = []

    def make(project=None, recovery=None):
        window = MainWindow(Document(project) if project is not None else None,
                            recovery=recovery or Recovery(isolated_settings))
        window.confirm_discard = lambda: "discard"
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.confirm_discard = lambda: "discard"
        window.close()


@pytest.fixture
def small_project():
    """Input 28x28x1 -> conv3-8 -> ReLU -> Output, laid out top to bottom."""
    from builder.core import Graph
    from builder.core.project import Project

    g = Graph()
    g.add_node("Input", {"shape": [28, 28, 1]}, id="input", pos=(0, 0))
    g.add_node("Conv2D", {"filters": 8, "kernel_size": 3, "padding": "valid"}, id="conv", pos=(0, 100))
    g.add_node("ReLU", id="relu", pos=(0, 200))
    g.add_node("Output", id="output", pos=(0, 300))
    g.connect("input", "conv")
    g.connect("conv", "relu")
    g.connect("relu", "output")
    return Project(graph=g, name="small")

"""Regenerates the README screenshots (offscreen): the main window with VGG-16,
with ResNet-152 (expanded, auto-laid out), and a rendered diagram.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python resources/screenshots/make_screenshots.py``
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("KERAS_BUILDER_CONFIG_DIR", tempfile.mkdtemp())
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "benchmarks"))

import builder  # noqa: E402
from builder.core.project import Project  # noqa: E402
from builder.gui.app import application, screenshot  # noqa: E402
from builder.gui.document import Document  # noqa: E402
from builder.gui.main_window import MainWindow  # noqa: E402


def shoot(project, name: str, select: str | None = None, tab: int = 0) -> None:
    """Opens ``project`` in a 1500x920 window, selects a node, saves the picture."""
    app = application()
    window = MainWindow(Document(project), remember_layout=False)
    window.resize(1500, 920)
    window.show()
    window.default_dock_sizes()
    app.processEvents()
    window.view.frame(window.scene.items_rect())
    if select:
        window.scene.select([select])
    window.right_tabs.setCurrentIndex(tab)
    screenshot(window, HERE / name)
    window.document.history.mark_clean()
    window.close()


def main() -> None:
    from networks import resnet152

    shoot(builder.from_template("vgg16"), "vgg16.png", select="block1_conv2")
    shoot(builder.from_template("vgg16"), "vgg16_summary.png", tab=1)
    shoot(Project(graph=resnet152(), name="ResNet-152 (expanded)"), "resnet152.png",
          select="conv2d_2")


if __name__ == "__main__":
    main()

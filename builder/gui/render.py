"""``builder render PROJECT -o diagram.png|svg``: the canvas drawing, headless.

The picture comes from the very scene and items the window shows, so a diagram
in a paper looks like the canvas.
"""

from __future__ import annotations

from pathlib import Path

from builder.core import BuilderError

FORMATS = (".png", ".svg")


def render(document, path: str | Path, scale: float = 2.0) -> Path:
    """Draws ``document``'s graph into a PNG (at ``scale``) or an SVG file.

    Raises:
        BuilderError: an unknown extension or a file that cannot be written.
    """
    from PySide6.QtCore import QRectF, QSize, Qt
    from PySide6.QtGui import QImage, QPainter

    from builder.gui.app import application
    from builder.gui.canvas.scene import GraphScene
    from builder.gui.main_window import prepare

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise BuilderError(f"The diagram must be a .png or .svg file. Received: '{path}'")
    application()
    layout = prepare(document)
    scene = GraphScene(document)
    if layout is not None:
        scene.set_routes(layout)
    source = scene.itemsBoundingRect().adjusted(-24, -24, 24, 24)
    scene.setSceneRect(source)
    scene.clearSelection()
    if suffix == ".png":
        image = QImage(int(source.width() * scale), int(source.height() * scale),
                       QImage.Format_ARGB32)
        image.fill(Qt.white)
        painter = QPainter(image)
        painter.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing)
        scene.render(painter, QRectF(0, 0, image.width(), image.height()), source)
        painter.end()
        ok = image.save(str(path))
    else:
        from PySide6.QtSvg import QSvgGenerator

        generator = QSvgGenerator()
        generator.setFileName(str(path))
        generator.setSize(QSize(int(source.width()), int(source.height())))
        generator.setViewBox(QRectF(0, 0, source.width(), source.height()))
        generator.setTitle(document.project.name or "Keras Builder diagram")
        painter = QPainter(generator)
        ok = painter.isActive()
        scene.render(painter, QRectF(0, 0, source.width(), source.height()), source)
        painter.end()
        ok = ok and path.is_file()
    scene.detach()
    if not ok:
        raise BuilderError(f"Could not write the diagram. Received: '{path}'")
    return path

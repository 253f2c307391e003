"""The desktop builder (PySide6): the only tier that imports Qt.

The window follows the document through its events (napari style): widgets are
thin adapters over :class:`builder.gui.document.Document`, and every edit goes
through the document's undo history. Nothing here imports Keras until code is
generated, a model is compiled or trained.
"""

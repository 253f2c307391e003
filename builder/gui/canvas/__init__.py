"""The node-graph canvas: items, the scene that follows the document, the view
and its mouse interactions."""

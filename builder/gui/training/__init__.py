"""The training panel: set-up, live plots, runs, results (issue 7).

:func:`install` puts it into a main window's bottom dock. Building it imports
no Keras; runs happen in child processes.
"""

from builder.gui.training.panel import TrainingPanel, install

__all__ = ["TrainingPanel", "install"]

"""Training tier: optimizers, schedules, datasets, runs, checkpoints and export.

Importing this package imports no Keras; the keras-backed modules
(:mod:`~builder.training.optimizers`, :mod:`~builder.training.schedules`,
:mod:`~builder.training.cyclical`, :mod:`~builder.training.lr_find`) load Keras
when imported. The GUI may use :mod:`~builder.training.config` and
:mod:`~builder.training.schedule_preview` freely.
"""

from __future__ import annotations

from builder.training.config import TrainingConfigError, validate_training
from builder.training.schedule_preview import schedule_preview

__all__ = ["TrainingConfigError", "schedule_preview", "validate_training"]

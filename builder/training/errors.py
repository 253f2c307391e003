"""Typed errors of the training tier: one-line messages, Keras style."""

from __future__ import annotations

from builder.core.errors import BuilderError


class TrainingError(BuilderError):
    """A training, evaluation or export request that cannot be carried out."""


class DatasetError(TrainingError):
    """A dataset that cannot be found, read, or fed to the model."""


class ExportError(TrainingError):
    """An export that failed, or whose artefact does not match the model."""

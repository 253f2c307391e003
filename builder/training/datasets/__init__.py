"""Datasets: built-in (digits, shapes), Keras' downloads, and the user's files.

Nothing here needs the internet unless a Keras download set is asked for.
"""

from builder.training.datasets.prepare import (
    Dataset,
    augmentation_layers,
    dataset_spec,
    fit_to_input,
    load_dataset,
    resolve_name,
)
from builder.training.datasets.shapes import SHAPE_CLASSES, ShapeScenes, generate_shapes

__all__ = ["Dataset", "SHAPE_CLASSES", "ShapeScenes", "augmentation_layers",
           "dataset_spec", "fit_to_input", "generate_shapes", "load_dataset",
           "resolve_name"]

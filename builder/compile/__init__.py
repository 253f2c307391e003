"""Graph → Keras: functional models, readable source, custom layers (imports keras)."""

from builder.compile.errors import CompileError
from builder.compile.plan import layer_names
from builder.compile.to_keras import to_keras
from builder.compile.to_source import to_source

__all__ = ["CompileError", "layer_names", "to_keras", "to_source"]

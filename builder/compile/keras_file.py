"""Reading a ``.keras`` file's ``config.json`` as data, and vetting it before Keras
deserialises anything.

A ``.keras`` file is a zip of ``config.json`` (the architecture), ``metadata.json``
and ``model.weights.h5``. :func:`read_model_config` opens the zip with the
standard library only and parses the JSON; :func:`vet_references` walks every
object the config names (layers, initializers, dtype policies, activations) and
lists those that are not Keras' own or Keras Builder's, and any serialized code
(``__lambda__``). Only a file that passes is handed to
``keras.saving.load_model(..., safe_mode=True)``. Nothing here imports Keras.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Iterator

from builder.core.errors import BuilderError

#: Largest config.json read (a zip entry can claim any size; NASNet's is ~2 MB).
MAX_CONFIG_BYTES = 64 * 1024 * 1024

#: Modules whose classes a config may name. Layer classes are checked against
#: the catalogue separately; this list covers everything else a layer carries.
ALLOWED_MODULES = frozenset({
    "keras", "keras.layers", "keras.models", "keras.initializers", "keras.regularizers",
    "keras.constraints", "keras.activations", "keras.src.ops.numpy",
    "keras.src.applications.convnext", "keras.src.models.functional",
    "keras.src.models.sequential", "keras.src.models.model",
    "builder.compile.custom_layers",
})

#: Prefix of Keras Builder's own modules of custom layers.
OWN_MODULES_PREFIX = "builder.compile."

#: Serialized values Keras stores as data (tensors named by the graph, tuples).
_DATA_CLASSES = frozenset({"__keras_tensor__", "__tuple__", "__numpy__", "__ellipsis__",
                           "__slice__"})


class KerasImportError(BuilderError):
    """A Keras model or file that cannot become a project; the message is one line."""


def read_model_config(path: str | Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a ``.keras`` file.

    Raises:
        KerasImportError: the file is missing, not a zip, has no
            ``config.json``, or that is not a JSON object.
    """
    path = Path(path)
    if path.is_dir():
        raise KerasImportError(
            f"Expected a .keras file (Keras 3's zip format). Received: the directory "
            f"'{path}' (a SavedModel cannot be imported; save it with model.save("
            f"'model.keras') first)")
    if not path.exists():
        raise KerasImportError(f"No such file. Received: '{path}'")
    if path.suffix.lower() in (".h5", ".hdf5"):
        raise KerasImportError(
            f"Expected a .keras file; legacy HDF5 models are not imported. Received: "
            f"'{path}' (load it in Keras and save it with model.save('model.keras'))")
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                info = archive.getinfo("config.json")
            except KeyError:
                raise KerasImportError(
                    f"Expected a .keras file with a config.json inside. Received: "
                    f"'{path}', a zip without one") from None
            if info.file_size > MAX_CONFIG_BYTES:
                raise KerasImportError(
                    f"config.json is too large to be a model architecture "
                    f"(limit {MAX_CONFIG_BYTES // 2**20} MB). Received: "
                    f"{info.file_size:,} bytes in '{path}'")
            raw = archive.read(info)
    except zipfile.BadZipFile:
        raise KerasImportError(
            f"Expected a .keras file (a zip archive). Received: '{path}', which is "
            f"not a zip archive or is damaged") from None
    except (OSError, RuntimeError, ValueError, EOFError) as exc:
        raise KerasImportError(f"Cannot read '{path}'. Received: "
                               f"{type(exc).__name__}: {exc}") from None
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise KerasImportError(f"config.json in '{path}' is not valid JSON. "
                               f"Received: {exc}") from None
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise KerasImportError(
            f"config.json in '{path}' does not describe a model (expected an object "
            f"with 'class_name' and 'config'). Received: {type(config).__name__}")
    return config


def vet_references(config: Any) -> list[tuple[str | None, str]]:
    """Problems with the objects ``config`` names, as ``(layer name, text)``.

    Checks every nested ``{"class_name": ..., "module": ...}`` object, wherever
    it sits: layers of nested models, initializers, activations given as
    objects. Serialized functions (``Lambda`` layers, ``__lambda__``) and
    classes from modules outside :data:`ALLOWED_MODULES` are problems; each
    text names the class, its module and the layer holding it.
    """
    problems: list[tuple[str | None, str]] = []
    reported: set[str | None] = set()
    for layer, obj in _objects(config, None):
        class_name = obj.get("class_name")
        module = obj.get("module")
        if layer in reported:
            continue  # one problem per layer is enough to refuse it
        where = f" in layer '{layer}'" if layer else ""
        if class_name == "Lambda":
            text = f"Lambda '{layer}' (its Python code is never run)"
        elif class_name == "__lambda__":
            text = f"a serialized Python function{where} (never run)"
        elif class_name in _DATA_CLASSES:
            continue
        elif isinstance(class_name, str) and class_name.startswith("__"):
            text = f"serialized object {class_name}{where}"
        elif module is not None and not _allowed(module):
            text = f"{class_name} from module '{module}'{where}"
        elif module is None and obj.get("registered_name"):
            text = f"{class_name} (registered as '{obj.get('registered_name')}'){where}"
        else:
            continue
        reported.add(layer)
        problems.append((layer, text))
    return problems


def _allowed(module: Any) -> bool:
    # Keras Builder's own layers live in builder.compile modules (custom_layers,
    # segmentation_layers, ...): our code, safe for Keras to import.
    return isinstance(module, str) and (module in ALLOWED_MODULES or
                                        module.startswith(OWN_MODULES_PREFIX))


def _objects(value: Any, layer: str | None) -> Iterator[tuple[str | None, dict]]:
    """Every serialized object in ``value``, with the name of the layer it sits in."""
    if isinstance(value, dict):
        if "class_name" in value:
            config = value.get("config")
            # Layers (and models) always serialize "trainable"; dtype policies,
            # which also have a "name", do not.
            if isinstance(config, dict) and isinstance(config.get("name"), str) and \
                    "trainable" in config:
                layer = config["name"]
            yield layer, value
        for item in value.values():
            yield from _objects(item, layer)
    elif isinstance(value, list):
        for item in value:
            yield from _objects(item, layer)

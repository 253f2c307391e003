"""Keras → graph: a functional or Sequential model (or a ``.keras`` file) becomes a
project whose analysis equals Keras layer by layer.

Both sources go through one path: the model's serialized config (what
``config.json`` in a ``.keras`` file holds, or ``serialize_keras_object(model)``
for a model in memory) is vetted (:mod:`builder.compile.keras_file`), then
walked layer by layer (:mod:`builder.compile.import_mapping` converts each
config), nested models flattened in place. Only a file that passes the vetting
is loaded by Keras (``safe_mode=True``, to check it against our analysis); code
stored in a file is never run. Every layer that cannot be represented is named
in one error.

Node ids and names are the Keras layer names (ids made unique where nested
models repeat a name), so ``builder summary`` rows line up with
``model.summary()``; every model output gets an ``Output`` node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from builder.analysis import analyze
from builder.blocks import CATALOG
from builder.compile.import_mapping import (
    INPUT_LAYER,
    MODEL_CLASSES,
    Unsupported,
    convert_layer,
)
from builder.compile.keras_file import KerasImportError, read_model_config, vet_references
from builder.core.errors import GraphError
from builder.core.graph import Graph
from builder.core.project import Project

WEIGHTS_NOTE = "Weights are not part of a project: only the architecture was imported."

#: A tensor of the Keras graph: (layer name, node index, tensor index).
_Key = tuple[str, int, int]
#: A tensor of ours: (node id, output port); ``None`` where a layer was refused.
_Ref = tuple[str, str]


@dataclass
class Imported:
    """What an import produced.

    Attributes:
        project: the new project (unsaved).
        warnings: settings dropped on the way (regularizers, frozen layers, ...).
        keras_layers: how many Keras layers (nested models flattened) it holds.
        layer_nodes: node id of each imported Keras layer, by layer name.
        source: where it came from, for messages.
    """

    project: Project
    warnings: list[str] = field(default_factory=list)
    keras_layers: int = 0
    layer_nodes: dict[str, str] = field(default_factory=dict)
    source: str = ""


def from_keras(model_or_path: Any, *, verify: bool = True) -> Project:
    """A project holding the architecture of a Keras model or ``.keras`` file.

    Args:
        model_or_path: a functional or Sequential ``keras.Model``, or the path of
            a ``.keras`` file.
        verify: compare the import with Keras itself (per-layer output shapes
            and parameter counts) and refuse it if they differ; for a file this
            loads it with ``safe_mode=True`` after vetting its config.

    Returns:
        The project (weights are not part of it).

    Raises:
        KerasImportError: one line naming every layer that cannot be represented,
            or why the file cannot be read.
    """
    return import_keras(model_or_path, verify=verify).project


def import_keras(model_or_path: Any, *, verify: bool = True) -> Imported:
    """Like :func:`from_keras`, with the warnings and layer map of the import."""
    if isinstance(model_or_path, (str, Path)):
        path = Path(model_or_path)
        document = read_model_config(path)
        source = path.name
        imported = _convert(document, source)
        if verify:
            _verify(imported, _load_vetted(path))
        return imported
    model = model_or_path
    document = _serialize(model)
    imported = _convert(document, "keras.Model")
    if verify:
        _verify(imported, model)
    return imported


def convert_config(document: dict[str, Any], source: str = "model") -> Imported:
    """Converts a serialized model (``config.json``'s content) without Keras.

    Raises:
        KerasImportError: as :func:`from_keras`.
    """
    return _convert(document, source)


def format_report(imported: Imported, output: str | None = None) -> str:
    """Lines the ``builder import`` command prints about an import."""
    analysis = analyze(imported.project.graph)
    totals = analysis.totals
    nodes = len(imported.project.graph.nodes)
    where = f" into {output}" if output else ""
    lines = [f"Imported {imported.keras_layers} Keras layers of '{imported.project.name}' "
             f"from {imported.source}{where}: {nodes} nodes, {totals.params:,} params "
             f"({totals.trainable:,} trainable)."]
    lines += [f"warning: {w}" for w in imported.warnings]
    lines.append(WEIGHTS_NOTE)
    return "\n".join(lines)


# -- serialized model → graph ---------------------------------------------------

def _convert(document: dict[str, Any], source: str) -> Imported:
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise KerasImportError(f"Expected a serialized Keras model. Received: "
                               f"{type(document).__name__} from {source}")
    model_name = str(document["config"].get("name") or "model")
    try:
        walker = _walk(document, source, model_name)
    except (AttributeError, TypeError, KeyError, ValueError, IndexError,
            RecursionError) as exc:
        # config.json is untrusted input: a malformed one is bad input, not a bug.
        raise KerasImportError(
            f"The model config from {source} is malformed. Received: "
            f"{type(exc).__name__}: {exc}") from None
    graph = walker.build_graph()
    description = (f"Imported from {source}: {walker.layer_count} Keras layers. "
                   f"{WEIGHTS_NOTE}")
    project = Project(graph=graph, name=model_name, description=description)
    return Imported(project, walker.warnings, walker.layer_count, walker.layer_nodes,
                    source)


def _walk(document: dict[str, Any], source: str, model_name: str) -> "_Walker":
    walker = _Walker()
    # Only the architecture is vetted: the compile config (losses, optimizer)
    # is never deserialised, since files are loaded with compile=False.
    for layer, text in vet_references(document["config"]):
        walker.problem(layer, text)
    if (document.get("module"), document.get("class_name")) not in MODEL_CLASSES:
        raise KerasImportError(
            f"Expected a functional or Sequential Keras model. Received: "
            f"{document.get('class_name')} from module '{document.get('module')}' "
            f"(subclassed models have no graph to import)")
    # Walking reads data only, so it runs even after the vetting found problems:
    # the error then names every layer that cannot be represented, not the first.
    outputs = walker.model(document, None)
    walker.add_outputs(outputs, document["config"])
    if walker.problems:
        items = list(walker.problems.values())
        count = f"{len(items)} layer{'s' if len(items) != 1 else ''}"
        raise KerasImportError(
            f"Cannot import model '{model_name}' from {source}: {count} cannot be "
            f"represented: {'; '.join(items)}")
    if not any(kind == "Output" for _, kind, _, _ in walker.nodes):
        raise KerasImportError(f"Model '{model_name}' from {source} has no outputs. "
                               f"Received: output_layers="
                               f"{document['config'].get('output_layers')!r}")
    return walker


class _Walker:
    """Walks serialized models, collecting nodes, edges and problems."""

    def __init__(self):
        self.nodes: list[tuple[str, str, dict, str | None]] = []  # id, kind, params, name
        self.edges: list[tuple[str, str, str, str]] = []  # src, port, dst, port
        self.ids: set[str] = set()
        self.problems: dict[str, str] = {}  # one per layer, in order found
        self.warnings: list[str] = []
        self.layer_nodes: dict[str, str] = {}
        self.layer_count = 0

    def problem(self, layer: str | None, text: str) -> None:
        key = layer if layer is not None else f"#{len(self.problems)}"
        self.problems.setdefault(key, text)

    def claim(self, wanted: str) -> str:
        node_id, n = wanted, 1
        while node_id in self.ids:
            n += 1
            node_id = f"{wanted}_{n}"
        self.ids.add(node_id)
        return node_id

    def add(self, kind: str, params: dict, name: str | None,
            inputs: Sequence[tuple[_Ref, str]], id_hint: str | None = None) -> str:
        """Adds a node fed by ``(tensor, input port)`` pairs; returns its id."""
        node_id = self.claim(id_hint or name or kind.lower())
        self.nodes.append((node_id, kind, params, name))
        self.edges.extend((src, src_port, node_id, port)
                          for (src, src_port), port in inputs)
        return node_id

    # -- models ---------------------------------------------------------------

    def model(self, entry: dict, inputs: list[_Ref | None] | None) -> list[_Ref | None]:
        """Flattens a model entry; returns the node id of each of its outputs."""
        config = entry.get("config") or {}
        if entry.get("class_name") == "Sequential":
            return self.sequential(entry, config, inputs)
        return self.functional(config, inputs)

    def sequential(self, entry: dict, config: dict,
                   inputs: list[_Ref | None] | None) -> list[_Ref | None]:
        layers = list(config.get("layers") or [])
        name = config.get("name") or "sequential"
        if inputs is None:
            if layers and _is_input_layer(layers[0]):
                x = self.input_node(layers.pop(0))
            else:
                shape = config.get("build_input_shape") or \
                    (entry.get("build_config") or {}).get("input_shape")
                if not shape:
                    self.problem(name, f"Sequential '{name}' has no input shape (build "
                                       f"it or start it with keras.Input)")
                    return [None]
                x = (self.add("Input", {"shape": list(shape)[1:]}, None, [],
                              id_hint=f"{name}_input"), "out")
        else:
            if len(inputs) != 1:
                self.problem(name, f"Sequential '{name}' called on {len(inputs)} "
                                   f"tensors (it takes one)")
                return [None]
            x = inputs[0]
            if layers and _is_input_layer(layers[0]):
                layers.pop(0)
        for layer in layers:
            shape = (layer.get("build_config") or {}).get("input_shape")
            x = self.layer(layer, [x], [tuple(shape)] if shape else None)[0]
        return [x]

    def functional(self, config: dict,
                   inputs: list[_Ref | None] | None) -> list[_Ref | None]:
        name = config.get("name") or "model"
        input_keys = _keys(config.get("input_layers"))
        output_keys = _keys(config.get("output_layers"))
        tensors: dict[_Key, _Ref | None] = {}
        if inputs is not None:
            if len(inputs) != len(input_keys):
                self.problem(name, f"model '{name}' takes {len(input_keys)} inputs. "
                                   f"Received: {len(inputs)}")
                return [None] * len(output_keys)
            tensors.update(zip(input_keys, inputs))
        else:
            # Input nodes in the model's input order (the layer list may differ),
            # so the compiled model takes its inputs in the same order.
            entries = {_layer_name(l): l for l in config.get("layers") or []
                       if _is_input_layer(l)}
            for key in input_keys:
                if key[0] in entries and key not in tensors:
                    tensors[key] = self.input_node(entries[key[0]])
        pending = list(config.get("layers") or [])
        while pending:
            waiting = []
            for layer in pending:
                if not self.functional_layer(layer, tensors, inputs is None):
                    waiting.append(layer)
            if len(waiting) == len(pending):
                for layer in waiting:
                    self.problem(_layer_name(layer), f"{_describe(layer)} is fed by "
                                 f"tensors the model never defines")
                break
            pending = waiting
        return [tensors.get(key) for key in output_keys]

    def functional_layer(self, layer: dict, tensors: dict[_Key, _Ref | None],
                         top: bool) -> bool:
        """Adds one layer of a functional config; ``False`` if its inputs are not
        defined yet."""
        name = _layer_name(layer)
        if _is_input_layer(layer):
            if (name, 0, 0) not in tensors:
                tensors[(name, 0, 0)] = self.input_node(layer) if top else None
            return True
        calls = layer.get("inbound_nodes") or []
        if not calls:
            self.warnings.append(f"{_describe(layer)} is never called; left out.")
            return True
        args = [_tensor_keys(call) for call in calls]
        if any(key not in tensors for keys, _ in args for key in keys):
            return False
        if len(calls) > 1:
            self.problem(name, f"{_describe(layer)} is shared (called {len(calls)} "
                               f"times); a graph node is called once")
            for i in range(len(calls)):
                tensors[(name, i, 0)] = None
            return True
        keys, extra = args[0]
        feeds = [tensors[key] for key in keys]
        if extra:
            self.problem(name, f"{_describe(layer)} is called with {extra}, which a "
                               f"graph cannot hold")
            feeds.append(None)
        shapes = _arg_shapes(calls[0])
        outs = self.layer(layer, feeds, shapes)
        for i, out in enumerate(outs):
            tensors[(name, 0, i)] = out
        return True

    def layer(self, layer: dict, feeds: list[_Ref | None], shapes) -> list[_Ref | None]:
        """Adds a (non-input) layer entry fed by ``feeds``; returns its outputs.

        A feed of ``None`` comes from a layer that could not be represented: the
        layer is still converted, so that its own problems are reported too, but
        adds no node.
        """
        name = _layer_name(layer)
        module, class_name = layer.get("module"), layer.get("class_name")
        if (module, class_name) in MODEL_CLASSES:
            return self.model(layer, feeds)
        try:
            kind, params = convert_layer(module, class_name, layer.get("config") or {},
                                         shapes, self.warnings, _describe(layer))
        except Unsupported as exc:
            where = "" if module in ("keras.layers", None) else f" from module '{module}'"
            self.problem(name, f"{class_name} '{name}'{where} ({exc})")
            return [None]
        if any(f is None for f in feeds):
            return [None]
        spec = CATALOG.get(kind)
        ports = spec.inputs
        if ports and ports[0].multiple:
            targets = [ports[0].name] * len(feeds)
        elif len(feeds) == len(ports):
            targets = [p.name for p in ports]  # Keras passes them in port order
        else:
            self.problem(name, f"{_describe(layer)} takes {len(ports)} tensor"
                               f"{'s' if len(ports) != 1 else ''}. Received: {len(feeds)}")
            return [None]
        if not str(module).startswith("keras.src.ops"):  # "x + y" is not a layer
            self.layer_count += 1
        node_id = self.add(kind, params, name, list(zip(feeds, targets)))
        self.layer_nodes.setdefault(name, node_id)
        return [(node_id, port.name) for port in spec.outputs]

    def input_node(self, layer: dict) -> _Ref | None:
        name = _layer_name(layer)
        config = layer.get("config") or {}
        shape = config.get("batch_shape") or config.get("batch_input_shape")
        for flag in ("sparse", "ragged"):
            if config.get(flag):
                self.problem(name, f"InputLayer '{name}' is {flag}; only dense "
                                   f"tensors are supported")
                return None
        if not shape or len(shape) < 2:
            self.problem(name, f"InputLayer '{name}' has no per-sample shape. "
                               f"Received: batch_shape={shape!r}")
            return None
        node_id = self.add("Input", {"shape": list(shape)[1:]}, name, [])
        self.layer_nodes.setdefault(name, node_id)
        return node_id, "out"

    def add_outputs(self, outputs: list[_Ref | None], config: dict) -> None:
        names = _output_names(config.get("output_layers"))
        for i, ref in enumerate(outputs):
            if ref is None:
                continue
            label = names[i] if i < len(names) else ref[0]
            self.add("Output", CATALOG.defaults("Output"), None, [(ref, "in")],
                     id_hint=f"{label}_output")

    def build_graph(self) -> Graph:
        graph = Graph(CATALOG)
        try:
            for node_id, kind, params, name in self.nodes:
                graph.add_node(kind, params, id=node_id, name=name)
            for src, src_port, dst, dst_port in self.edges:
                graph.connect(src, dst, src_port, dst_port)
        except GraphError as exc:
            raise KerasImportError(f"The imported layers do not form a valid graph. "
                                   f"Received: {exc}") from exc
        return graph


def _is_input_layer(layer: dict) -> bool:
    return (layer.get("module"), layer.get("class_name")) == INPUT_LAYER or \
        layer.get("class_name") == "InputLayer"


def _layer_name(layer: dict) -> str:
    return str(layer.get("name") or (layer.get("config") or {}).get("name") or "?")


def _describe(layer: dict) -> str:
    return f"{layer.get('class_name')} '{_layer_name(layer)}'"


def _keys(value: Any) -> list[_Key]:
    """``input_layers``/``output_layers`` in any of Keras' forms → tensor keys."""
    if isinstance(value, dict):
        return [k for v in value.values() for k in _keys(v)]
    if isinstance(value, (list, tuple)):
        if len(value) == 3 and isinstance(value[0], str) and \
                all(isinstance(v, int) for v in value[1:]):
            return [(value[0], int(value[1]), int(value[2]))]
        return [k for v in value for k in _keys(v)]
    return []


def _output_names(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [str(k) for k in value]
    return [k[0] for k in _keys(value)]


def _tensor_keys(call: Any) -> tuple[list[_Key], str]:
    """The tensors a call consumes, in order, and a description of any
    non-tensor argument (a constant, a keyword that changes behaviour)."""
    keys: list[_Key] = []
    extras: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            history = (value.get("config") or {}).get("keras_history") or []
            if len(history) == 3:
                keys.append((str(history[0]), int(history[1]), int(history[2])))
            else:
                extras.append(f"a tensor without history ({where})")
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, where)
        elif isinstance(value, dict) and value.get("class_name") == "__tuple__":
            walk((value.get("config") or {}).get("value"), where)
        elif value is not None:
            extras.append(f"{where}={value!r}")

    if isinstance(call, dict):
        walk(call.get("args", []), "an argument")
        for key, value in (call.get("kwargs") or {}).items():
            if key in ("mask", "training") and value in (None, False):
                continue
            walk(value, key)
    else:  # Keras 2 style [[name, node, tensor, kwargs], ...]
        for item in call if isinstance(call, list) else []:
            if isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str):
                keys.append((item[0], int(item[1]), int(item[2])))
            else:
                extras.append(f"an argument {item!r}")
    return keys, ", ".join(extras)


def _arg_shapes(call: Any) -> list[tuple] | None:
    """Shapes of the tensors a call consumes, as the config records them."""
    shapes = []

    def walk(value: Any) -> None:
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            shape = (value.get("config") or {}).get("shape")
            shapes.append(tuple(shape) if isinstance(shape, (list, tuple)) else None)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    if isinstance(call, dict):
        walk(call.get("args", []))
    if not shapes or any(s is None for s in shapes):
        return None
    return shapes


# -- Keras side -------------------------------------------------------------------

def _serialize(model: Any) -> dict[str, Any]:
    import keras

    if not isinstance(model, keras.Model):
        raise KerasImportError(f"Expected a keras.Model or the path of a .keras file. "
                               f"Received: {type(model).__name__}")
    try:
        document = keras.saving.serialize_keras_object(model)
    except Exception as exc:  # subclassed models without get_config, mostly
        raise KerasImportError(
            f"Expected a functional or Sequential Keras model. Received: "
            f"{type(model).__name__} '{model.name}', which cannot be serialized "
            f"({type(exc).__name__}: {exc})") from None
    # Tuples → lists, as in a file, so both sources are walked alike.
    return _plain(document)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _load_vetted(path: Path):
    """Loads a file whose config passed the vetting, with Keras' safe mode on."""
    import keras

    import builder.compile.custom_layers  # noqa: F401 - registers our layers

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:
        text = " ".join(str(exc).split())
        raise KerasImportError(f"Keras could not load '{path.name}' (safe mode). "
                               f"Received: {type(exc).__name__}: {text[:300]}") from None


def keras_layers(model: Any, *, nested: bool = False) -> list[Any]:
    """The layers of ``model`` with nested models replaced by their layers (a
    nested model's own input layers left out: its callers feed it)."""
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(keras_layers(layer, nested=True))
        elif not (nested and isinstance(layer, keras.layers.InputLayer)):
            found.append(layer)
    return found


def compare_with_model(imported: Imported, model: Any) -> list[str]:
    """Where the import's analysis disagrees with ``model``, one line each.

    Every flattened Keras layer is compared with its node: output shape (an
    unknown size in Keras matches any) and trainable plus non-trainable
    parameter count; then the model's total.
    """
    graph = imported.project.graph
    analysis = analyze(graph)
    problems = [str(d) for d in analysis.errors]
    if problems:
        return problems
    for layer in keras_layers(model):
        node_id = imported.layer_nodes.get(layer.name)
        if node_id is None:
            continue
        info = analysis.nodes[node_id]
        try:
            outs = layer.output if isinstance(layer.output, (list, tuple)) \
                else [layer.output]
            keras_shapes = [tuple(t.shape) for t in outs]
        except (AttributeError, ValueError):
            keras_shapes = None
        ours = info.output_shapes
        if keras_shapes is not None and not _shapes_agree(keras_shapes, ours):
            problems.append(f"layer '{layer.name}': Keras gives shape "
                            f"{', '.join(map(str, keras_shapes))}, the analysis "
                            f"{', '.join(map(str, ours)) or 'none'}")
        params = sum(math.prod(w.shape) for w in layer.weights)
        if params != info.trainable + info.non_trainable:
            problems.append(f"layer '{layer.name}': Keras has {params:,} params, the "
                            f"analysis {info.trainable + info.non_trainable:,}")
    if model.count_params() != analysis.totals.params:
        problems.append(f"model: Keras has {model.count_params():,} params, the analysis "
                        f"{analysis.totals.params:,}")
    return problems


def _shapes_agree(keras_shapes: list[tuple], ours: list[tuple]) -> bool:
    """Equal shapes, where an unknown size in Keras (a nested model built for any
    size) matches any size of ours."""
    return len(keras_shapes) == len(ours) and all(
        len(k) == len(o) and all(a is None or a == b for a, b in zip(k, o))
        for k, o in zip(keras_shapes, ours))


def _verify(imported: Imported, model: Any) -> None:
    problems = compare_with_model(imported, model)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise KerasImportError(
            f"The import of '{imported.project.name}' disagrees with Keras: "
            f"{'; '.join(problems[:3])}{more}")

"""Graph → readable, standalone Python that builds the same ``keras.Model``.

The script is what a person would write by hand with the functional API: one
line per layer, keyword arguments only where they differ from the Keras
defaults, ``x`` along a plain chain and a named variable wherever a tensor is
used twice or waits while another branch is built. It produces the same layers,
names and weights as :func:`builder.compile.to_keras` (a test checks it).

Custom layers (LRN, ...) are copied into the script as their class source
rather than imported from ``builder.compile.custom_layers``: a script is what
people take to a cluster or a colleague, where Keras Builder is not installed,
and the classes are written to be self-contained for exactly this. They keep
their ``register_keras_serializable`` name, so a ``.keras`` file saved by the
script loads in Keras Builder and the other way round.
"""

from __future__ import annotations

import builtins
import inspect
import json
import keyword
import re
from typing import Any, Sequence

from builder.analysis.expand import has_composites
from builder.compile.custom_layers import CUSTOM_LAYERS, resolve_layer_class
from builder.compile.plan import (
    Plan,
    PlannedLayer,
    PlannedNode,
    make_plan,
    sanitize_layer_name,
)
from builder.core.graph import Graph

#: PEP 8's limit for teams that agree on longer lines (this project's): one line
#: per layer in most networks. Generated lines stay within it wherever a name allows.
MAX_LINE = 99
_INDENT = "    "

# Keras normalises these with ``standardize_tuple``, so ``(3, 3)`` and ``3`` mean
# the same; the short form is what people write. (Not for every tuple: a
# Reshape's ``(2, 2)`` is not ``2``.)
_BROADCAST_KWARGS = {"kernel_size", "strides", "pool_size", "dilation_rate", "size",
                     "padding", "cropping"}

# Names a tensor variable must not take: the script's own, and builtins
# (``input``, ``max``, ``sum``, ...) that shadowing would make confusing.
_RESERVED = {"x", "inputs", "outputs", "keras", "layers", "ops", "model"}


def to_source(graph: Graph, *, function_name: str = "build_model",
              name: str | None = None) -> str:
    """Writes a standalone Python script that builds the graph's model.

    Args:
        graph: the graph to write out.
        function_name: the name of the function that builds the model.
        name: the model's name; Keras' default when omitted.

    Returns:
        PEP 8 source: imports, any custom layer classes, ``def build_model():``
        and a ``__main__`` guard that prints the model's summary.

    Raises:
        CompileError: if the analysis finds errors (as :func:`to_keras`).
        ValueError: if ``function_name`` is not a Python identifier.
    """
    if not function_name.isidentifier() or keyword.iskeyword(function_name):
        raise ValueError(f"function_name must be a Python identifier. "
                         f"Received: {function_name!r}")
    plan = make_plan(graph)
    helpers: list[str] = []
    written = None
    if has_composites(graph):
        # One helper function per block (see source_blocks); every layer
        # written out when the helpers cannot reproduce the plan's names.
        from builder.compile.source_blocks import write_blocks

        written = write_blocks(graph, plan, function_name, name,
                               _RESERVED | set(CUSTOM_LAYERS))
    if written is not None:
        helpers, body = written
    else:
        body = _Writer(plan, function_name).body(name)
    used = sorted({layer.class_name for p in plan.nodes for layer in p.layers
                   if layer.class_name in CUSTOM_LAYERS})
    sources = {c: _class_source(CUSTOM_LAYERS[c]) for c in used}
    imports = ["import keras", "from keras import layers"]
    # Where the source is not available (a frozen app ships bytecode only), the
    # script imports the class instead, and then needs Keras Builder installed.
    imports += [f"from builder.compile.custom_layers import {c}"
                for c, text in sources.items() if text is None]
    header = ('"""A Keras model drawn in Keras Builder.\n\n'
              f"Run it to print the model's summary, or import {function_name}() "
              'from it.\n"""\n\n' + "\n".join(imports))
    sections = [header]
    inlined = [text for text in sources.values() if text is not None]
    if inlined:
        sections.append(
            "# Custom layers are copied in so that this script needs only Keras;\n"
            "# they keep Keras Builder's registered names, so .keras files load in "
            "both.\n" + "\n\n\n".join(inlined))
    sections += helpers
    sections.append(f"def {function_name}():\n"
                    f'{_INDENT}"""Builds the model (not yet compiled for training)."""\n'
                    + "\n".join(body))
    sections.append('if __name__ == "__main__":\n'
                    f"{_INDENT}{function_name}().summary()")
    return "\n\n\n".join(sections) + "\n"


def _class_source(cls: type) -> str | None:
    """The class's source code, or ``None`` where Python cannot find it."""
    try:
        return inspect.getsource(cls).rstrip()
    except (OSError, TypeError):
        return None


class _Writer:
    """Chooses statement order and variable names, then writes the lines."""

    def __init__(self, plan: Plan, function_name: str):
        self.plan = plan
        self.by_id = {p.id: p for p in plan.nodes}
        self.taken = set(_RESERVED) | {function_name} | set(CUSTOM_LAYERS)
        self.consumers: dict[tuple[str, str], list[str]] = {}
        for planned in plan.nodes:
            for key in planned.inputs:
                self.consumers.setdefault(key, []).append(planned.id)

    def body(self, model_name: str | None) -> list[str]:
        plan = self.plan
        order = self._order()
        var: dict[tuple[str, str], str] = {}
        lines: list[str] = []
        for nid in plan.inputs:
            planned = self.by_id[nid]
            target = "inputs" if len(plan.inputs) == 1 else self._variable(planned.label)
            var[(nid, planned.outputs[0])] = target
            args = [f"shape={_literal(tuple(planned.params['shape']))}",
                    f"name={_literal(planned.name)}"]
            lines += _call(f"{target} = ", "keras.Input", args)
        for index, nid in enumerate(order):
            planned = self.by_id[nid]
            feeds = [var[key] for key in planned.inputs]
            if not planned.layers:  # adds no layer: its output is its input
                var[(nid, planned.outputs[0])] = feeds[0]
                continue
            following = order[index + 1] if index + 1 < len(order) else None
            if len(planned.outputs) == 1:
                final = intermediate = self._target(planned, following)
                var[(nid, planned.outputs[0])] = final
            else:  # unpack the tensors of a multi-output layer, one per port
                names = [self._variable(f"{planned.label}_{port}")
                         for port in planned.outputs]
                var.update(zip(((nid, port) for port in planned.outputs), names))
                final = ", ".join(names)
                intermediate = (self._variable(planned.label)
                                if len(planned.layers) > 1 else final)
            feed = f"[{', '.join(feeds)}]" if planned.as_list else feeds[0]
            for i, layer in enumerate(planned.layers):
                target = final if i == len(planned.layers) - 1 else intermediate
                lines += _call(f"{target} = ", _callee(layer.class_name),
                               _arguments(layer), feed)
                feed = target
        ins = [var[(nid, self.by_id[nid].outputs[0])] for nid in plan.inputs]
        outs = [var[key] for key in plan.outputs]
        args = [f"inputs={_seq(ins)}", f"outputs={_seq(outs)}"]
        if model_name:
            args.append(f"name={_literal(sanitize_layer_name(model_name))}")
        lines += _call("return ", "keras.Model", args)
        return lines

    def _order(self) -> list[str]:
        """Layer nodes in a topological order that follows chains.

        After a node, one of its consumers comes next whenever one is ready, so
        a branch is written out before the next begins and ``x`` can carry it.
        """
        nodes = [p for p in self.plan.nodes if not p.is_input and not p.is_output]
        ids = [p.id for p in nodes]
        known = set(ids)
        return chain_order(ids, {p.id: {src for src, _ in p.inputs if src in known}
                                 for p in nodes})

    def _target(self, planned: PlannedNode, following: str | None) -> str:
        """``x`` when the tensor goes straight into the next line, else a name."""
        if len(planned.outputs) == 1:
            users = self.consumers.get((planned.id, planned.outputs[0]), [])
            if len(users) == 1:
                user = self.by_id[users[0]]
                if user.id == following and user.layers and not user.as_list:
                    return "x"
                if user.is_output and following is None and \
                        len(self.plan.output_nodes) == 1:
                    return "x"
        return self._variable(planned.label)

    def _variable(self, label: str) -> str:
        """A fresh snake_case identifier made from a node label."""
        base = re.sub(r"[^0-9a-zA-Z]+", "_", label).strip("_").lower() or "t"
        if base[0].isdigit():
            base = f"t_{base}"
        if keyword.iskeyword(base) or hasattr(builtins, base) or base in _RESERVED:
            base += "_"
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name


def _callee(class_name: str) -> str:
    return class_name if class_name in CUSTOM_LAYERS else f"layers.{class_name}"


def _arguments(layer: PlannedLayer) -> list[str]:
    """Argument texts as people write them: required ones positionally
    (``Conv2D(64, 3, ...)``), then ``key=value`` for those that differ from the
    class defaults, then the name."""
    cls = resolve_layer_class(layer.class_name)
    signature = inspect.signature(cls.__init__).parameters
    names = list(signature)
    kwargs = dict(layer.kwargs)
    args = []
    for param in list(signature.values())[1:]:  # after self
        if param.kind is not param.POSITIONAL_OR_KEYWORD or \
                param.default is not param.empty or param.name not in kwargs:
            break
        args.append(_literal(_value(param.name, kwargs.pop(param.name))))
    ordered = sorted(kwargs.items(),
                     key=lambda kv: names.index(kv[0]) if kv[0] in signature else len(names))
    for key, value in ordered:
        default = signature[key].default if key in signature else inspect.Parameter.empty
        if default is not inspect.Parameter.empty and \
                _canonical(key, value) == _canonical(key, default):
            continue
        args.append(f"{key}={_literal(_value(key, value))}")
    args.append(f"name={_literal(layer.name)}")
    return args


def _value(key: str, value: Any) -> Any:
    return _short(value) if key in _BROADCAST_KWARGS else value


def _short(value: Any) -> Any:
    """``(3, 3)`` → ``3``; anything else unchanged."""
    if isinstance(value, (list, tuple)) and value and \
            all(type(v) is int for v in value) and len(set(value)) == 1:
        return value[0]
    return value


def _canonical(key: str, value: Any) -> Any:
    """A form in which equal Keras arguments compare equal (and 1 != True)."""
    if key in _BROADCAST_KWARGS:
        value = _short(value)
    if isinstance(value, (list, tuple)):
        return tuple(_canonical("", v) for v in value)
    if isinstance(value, bool):
        return ("bool", value)
    return value


def _literal(value: Any) -> str:
    """Python source for a JSON-like value, double-quoted strings (black style)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple):
        inner = ", ".join(_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return f"[{', '.join(_literal(v) for v in value)}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}"
                               for k, v in value.items()) + "}"
    return repr(value)


def _seq(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"[{', '.join(names)}]"


def _call(prefix: str, callee: str, args: list[str], feed: str | None = None) -> list[str]:
    """Lines of ``prefix + callee(args)(feed)``, wrapped black-style past MAX_LINE."""
    one, two = _INDENT, _INDENT * 2
    tail = "" if feed is None else f"({feed})"
    line = f"{one}{prefix}{callee}({', '.join(args)}){tail}"
    if len(line) <= MAX_LINE:
        return [line]
    head = f"{one}{prefix}{callee}({', '.join(args)})"
    if feed is not None and feed.startswith("[") and len(head) + 1 <= MAX_LINE:
        # The constructor fits; the list of merged branches moves down.
        return [head + "(", *_wrapped(feed, two), f"{one})"]
    inner = two + ", ".join(args)
    arg_lines = [inner] if len(inner) <= MAX_LINE else [f"{two}{a}," for a in args]
    lines = [f"{one}{prefix}{callee}(", *arg_lines]
    if feed is None:
        return lines + [f"{one})"]
    if len(f"{one}){tail}") <= MAX_LINE:
        return lines + [f"{one}){tail}"]
    return lines + [f"{one})(", *_wrapped(feed, two), f"{one})"]


def _wrapped(feed: str, indent: str) -> list[str]:
    """``feed`` on one line, or a long ``[a, b, ...]`` one item per line."""
    if len(indent + feed) <= MAX_LINE or not feed.startswith("["):
        return [indent + feed]
    items = feed[1:-1].split(", ")
    return [f"{indent}[", *(f"{indent}{_INDENT}{item}," for item in items), f"{indent}]"]


def chain_order(ids: list[str], sources: dict[str, set[str]]) -> list[str]:
    """A topological order of ``ids`` that follows chains: after a statement,
    the next one is a consumer of it when one is ready (so a script reads as
    ``x = ...(x)`` runs), else the earliest ready one.

    Args:
        ids: statement ids in their original order (ties go to the earliest).
        sources: for each id, the ids among ``ids`` it reads.
    """
    position = {nid: i for i, nid in enumerate(ids)}
    users: dict[str, list[str]] = {nid: [] for nid in ids}
    for nid in ids:
        for src in sources[nid]:
            users[src].append(nid)
    waiting = {nid: len(sources[nid]) for nid in ids}
    ready = [nid for nid in ids if waiting[nid] == 0]
    order: list[str] = []
    while ready:
        last = order[-1] if order else None
        following = [nid for nid in ready if last in sources[nid]]
        nid = min(following or ready, key=position.__getitem__)
        ready.remove(nid)
        order.append(nid)
        for user in users[nid]:
            waiting[user] -= 1
            if waiting[user] == 0:
                ready.append(user)
    return order

"""Readable source for graphs with composite blocks: one helper function per
distinct block, called with the block's name prefix.

    def residual_bottleneck(inputs, name):
        \"\"\"ResidualBottleneck(filters=64, shortcut='projection').\"\"\"
        x = layers.Conv2D(256, 1, name=f"{name}_0_conv")(inputs)
        ...

    x = stage(x, "conv2")      # calls residual_bottleneck(x, f"{name}_block1"), ...

:func:`write_blocks` returns ``None`` whenever the helpers would not reproduce
the plan's layer names exactly (a name made unique by the plan, a block with
layers left out of the model); :func:`builder.compile.to_source` then writes
every layer out, which is always exact.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from builder.analysis import analyze
from builder.analysis.expand import CompositeOutcome
from builder.analysis.node_info import MEMO
from builder.blocks.composites.base import expansion, is_composite
from builder.compile.plan import Plan, PlannedLayer, sanitize_layer_name
from builder.compile.to_source import (
    _arguments,
    _call,
    _callee,
    _literal,
    _seq,
    chain_order,
)
from builder.core.graph import Graph

_IN = "\x00in"  # the tensor(s) a helper function receives


@dataclass
class _Stmt:
    """One node of a body: its layers, or a call of a block's helper."""

    id: str
    local: str  # the name component: sanitized node name or id
    inputs: list  # tensor keys: (node id, port) or (_IN, index)
    as_list: bool
    outputs: list[str]
    layers: list = field(default_factory=list)  # LayerCall
    call: "_Fn | None" = None
    is_output: bool = False


@dataclass
class _Fn:
    name: str
    lines: list[str]
    names: list[str]  # layer names relative to the prefix ("1_conv", "block1_add")
    extra: list[str]  # relative paths of inner Output nodes it returns after its ports
    ports: int


def _snake(kind: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", kind).lower()


class _Writer:
    """Writes helper functions (memoised per distinct block) and bodies."""

    def __init__(self, taken: set[str]):
        self.fns: dict[Any, _Fn] = {}
        self.order: list[_Fn] = []
        self.taken = taken

    def function(self, spec, params: dict, shapes: list) -> _Fn:
        """The helper of one block (shared by every block that writes the same)."""
        key = (spec.kind, repr(params), tuple(shapes))
        found = self.fns.get(key)
        if found is not None:
            return found
        outcome = MEMO.outcome(spec, params, shapes)
        sub = outcome.sub if isinstance(outcome, CompositeOutcome) and outcome.sub \
            else expansion(spec, params, shapes)
        inner = outcome.inner if isinstance(outcome, CompositeOutcome) else {}
        many = _takes_list(spec)
        if spec.inputs and spec.inputs[0].multiple:
            refs = {f"@{spec.inputs[0].name}:{i}": (_IN, i) for i in range(len(shapes))}
            refs[f"@{spec.inputs[0].name}"] = (_IN, 0)
        else:
            refs = {f"@{p.name}": (_IN, i) for i, p in enumerate(spec.inputs)}
        stmts = []
        for node in sub.nodes:
            node_spec = _catalog().get(node.kind)
            ins = [refs[e.src] if e.src.startswith("@") else (e.src, e.src_port)
                   for e in sub.incoming[node.id]]
            stmt = _Stmt(node.id, sanitize_layer_name(node.name or node.id), ins,
                         _takes_list(node_spec), [p.name for p in node_spec.outputs],
                         is_output=node.kind == "Output")
            if is_composite(node_spec):
                info = inner.get(node.id)
                stmt.call = self.function(node_spec, node.params,
                                          list(info.input_shapes) if info else [])
            elif not stmt.is_output:
                stmt.layers = list(node_spec.keras(node.params))
            stmts.append(stmt)
        bound = {(_IN, i): (f"inputs[{i}]" if many else "inputs")
                 for i in range(max(1, len(shapes)))}
        body, outs, names, extra = self.body(stmts, bound, dict(sub.outputs))
        defaults = spec.defaults()
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items()
                          if v != defaults.get(k) and k != "graph")
        doc = f"{spec.kind}({shown})." if len(shown) < 70 else \
            f"{spec.kind}: {spec.label(params)}."
        text = [f'    """{doc}"""', *_loops(body), f"    return {', '.join(outs)}"]
        for fn in self.order:  # the same code under another key: share it
            if fn.lines[1:] == text and fn.name.startswith(_snake(spec.kind)):
                self.fns[key] = fn
                return fn
        name = _snake(spec.kind)
        n = 1
        while name in self.taken:
            n += 1
            name = f"{_snake(spec.kind)}_{n}"
        self.taken.add(name)
        fn = _Fn(name, [f"def {name}(inputs, name):", *text], names, extra,
                 len(sub.outputs))
        self.fns[key] = fn
        self.order.append(fn)
        return fn

    def body(self, stmts: list[_Stmt], bound: dict, outputs: dict,
             prefix_expr: str | None = "name"):
        """Lines of a body; returns (lines, returned vars, layer names, extra paths)."""
        by_id = {s.id: s for s in stmts}
        users: dict[Any, list[str]] = {}
        for s in stmts:
            for key in s.inputs:
                users.setdefault(key, []).append(s.id)
        order = _chain_order(stmts)
        var = dict(bound)
        taken = {"x", "inputs", "name", "outputs", "i"}
        lines: list[str] = []
        names: list[str] = []
        extra: list[str] = []
        extra_vars: list[str] = []
        returned = {v for v in outputs.values()}

        def fresh(label: str) -> str:
            base = re.sub(r"[^0-9a-zA-Z]+", "_", label).strip("_").lower() or "t"
            lead = re.match(r"^(\d+)_(\w+)$", base)
            if lead:  # keras.applications' "0_bn" reads better as "bn0"
                base = f"{lead.group(2)}{lead.group(1)}"
            if base[0].isdigit():
                base = f"t_{base}"
            v, k = base, 1
            while v in taken or v in self.taken:
                k += 1
                v = f"{base}_{k}"
            taken.add(v)
            return v

        def name_expr(local: str) -> str:
            if prefix_expr is None:
                return _literal(local)
            return f'f"{{{prefix_expr}}}_{local}"'

        for i, nid in enumerate(order):
            s = by_id[nid]
            feeds = [var[k] for k in s.inputs]
            if s.is_output:
                extra.append(s.id)
                extra_vars.append(feeds[0])
                continue
            following = order[i + 1] if i + 1 < len(order) else None
            n_out = len(s.outputs) + (len(s.call.extra) if s.call else 0)
            targets = []
            for port in s.outputs:
                key = (s.id, port)
                user = users.get(key, [])
                if len(s.outputs) == 1 and n_out == 1 and len(user) == 1 and \
                        user[0] == following and not by_id[user[0]].as_list and \
                        not by_id[user[0]].is_output and key not in returned:
                    targets.append("x")
                elif n_out == 1 and following is None and not user and \
                        list(returned) == [key]:
                    targets.append("x")  # the last line makes what is returned
                else:
                    targets.append(fresh(s.local if len(s.outputs) == 1
                                         else f"{s.local}_{port}"))
                var[key] = targets[-1]
            feed = f"[{', '.join(feeds)}]" if s.as_list else (feeds[0] if feeds else "")
            if s.call is not None:
                more = [fresh(f"{s.local}_{p}") for p in s.call.extra]
                extra += [f"{s.id}/{p}" for p in s.call.extra]
                extra_vars += more
                names += [f"{s.local}_{n}" for n in s.call.names]
                lines += _call(f"{', '.join(targets + more)} = ", s.call.name,
                               [feed, name_expr(s.local)])
                continue
            if not s.layers:
                var[(s.id, s.outputs[0])] = feeds[0]
                continue
            for j, call in enumerate(s.layers):
                last = j == len(s.layers) - 1
                local = s.local if last else sanitize_layer_name(s.local + call.suffix)
                names.append(local)
                target = ", ".join(targets) if last else fresh(local)
                args = _arguments(PlannedLayer(call.class_name, dict(
                    (k, v) for k, v in call.kwargs.items() if k != "name"), "\x00"))
                args[-1] = f"name={name_expr(local)}"
                lines += _call(f"{target} = ", _callee(call.class_name), args, feed)
                feed = target
        outs = [var[key] for key in outputs.values()] + extra_vars
        return lines, outs, names, extra


_REPEAT = re.compile(r'^    x = (\w+)\(x, f"\{name\}_([A-Za-z_]*?)(\d+)"\)$')


def _loops(lines: list[str]) -> list[str]:
    """Runs of three or more ``x = block(x, f"{name}_blockK")`` with K counting up
    become a ``for`` loop (a ResNet-152 stage repeats one block 35 times)."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _REPEAT.match(lines[i])
        j = i + 1
        if m:
            fn, stem, first = m.group(1), m.group(2), int(m.group(3))
            while j < len(lines):
                n = _REPEAT.match(lines[j])
                if not n or (n.group(1), n.group(2), int(n.group(3))) != \
                        (fn, stem, first + j - i):
                    break
                j += 1
        if m and j - i >= 3:
            out += [f"    for i in range({first}, {first + j - i}):",
                    f'        x = {fn}(x, f"{{name}}_{stem}{{i}}")']
            i = j
        else:
            out.append(lines[i])
            i += 1
    return out


def _chain_order(stmts: list[_Stmt]) -> list[str]:
    """Topological order that follows chains (as the flat writer does)."""
    ids = [s.id for s in stmts]
    known = set(ids)
    return chain_order(ids, {s.id: {k[0] for k in s.inputs if k[0] in known} for s in stmts})


def _catalog():
    from builder.blocks import CATALOG
    return CATALOG


def _takes_list(spec) -> bool:
    return len(spec.inputs) > 1 or any(p.multiple for p in spec.inputs)


def write_blocks(graph: Graph, plan: Plan, function_name: str, model_name: str | None,
                 reserved: set[str]) -> tuple[list[str], list[str]] | None:
    """Helper functions and the build function's body, or ``None`` (see module doc).

    Returns:
        ``(helper function sources, body lines)``.
    """
    analysis = analyze(graph)
    writer = _Writer(set(reserved) | {function_name})
    get = _catalog().get
    stmts = []
    for nid in analysis.order:
        node = graph.nodes[nid]
        spec = get(node.kind)
        if node.kind == "Input":
            continue
        ins = [(e.src, e.src_port) for e in graph.in_edges(nid)]
        stmt = _Stmt(nid, sanitize_layer_name(node.label), ins, _takes_list(spec),
                     [p.name for p in spec.outputs], is_output=node.kind == "Output")
        if is_composite(spec):
            stmt.call = writer.function(spec, node.params,
                                        list(analysis.nodes[nid].input_shapes))
        elif not stmt.is_output:
            stmt.layers = list(spec.keras(node.params))
        stmts.append(stmt)
    lines: list[str] = []
    bound = {}
    input_names = []
    single = len(plan.inputs) == 1
    for nid in plan.inputs:
        planned = plan.node(nid)
        target = "inputs" if single else re.sub(r"\W+", "_", planned.label).lower()
        bound[(nid, planned.outputs[0])] = target
        input_names.append(target)
        lines += _call(f"{target} = ", "keras.Input",
                       [f"shape={_literal(tuple(planned.params['shape']))}",
                        f"name={_literal(planned.name)}"])
    body, heads, names, paths = writer.body(stmts, bound, {}, prefix_expr=None)
    produced = names + [plan.node(n).name for n in plan.inputs]
    planned = [layer.name for p in plan.nodes for layer in p.layers] + \
        [plan.node(n).name for n in plan.inputs]
    by_path = dict(zip(paths, heads))
    if Counter(produced) != Counter(planned) or \
            any(fid not in by_path for fid in plan.output_nodes):
        return None
    # Model outputs in the flat graph's Output order, the order to_keras uses.
    outs = [by_path[fid] for fid in plan.output_nodes]
    args = [f"inputs={_seq(input_names)}", f"outputs={_seq(outs)}"]
    if model_name:
        args.append(f"name={_literal(sanitize_layer_name(model_name))}")
    lines += body + _call("return ", "keras.Model", args)
    return ["\n".join(fn.lines) for fn in writer.order], lines

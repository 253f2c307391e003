"""What the analysis knows about one node, and how it works it out from its inputs."""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Sequence

from builder.analysis.diagnostics import ERROR, WARNING, Diagnostic
from builder.blocks.params import check_params, params_ok
from builder.blocks.spec import BlockSpec, Notes, ShapeIssue, WeightSpec

#: Receptive-field state of a tensor every element of which sees the whole input.
GLOBAL = "global"


class Outcome:
    """What a kind's rules say for given params and input shapes (no node id)."""

    __slots__ = ("problems", "outs", "weights", "trainable", "non_trainable", "flops",
                 "activations", "error", "notes", "receptive")

    def __init__(self):
        self.problems: Sequence[tuple[str, str]] = ()
        self.outs: list[tuple] = []
        self.weights: list[WeightSpec] = []
        self.trainable = self.non_trainable = self.flops = self.activations = 0
        self.error: tuple | None = None  # (message, fix, field)
        self.notes: list[tuple] = []
        self.receptive: Any = None


_NOTHING = Outcome()


class NodeInfo:
    """Shapes, counts and findings of one node.

    Attributes:
        id: the node id.
        kind: its kind.
        input_shapes: shapes arriving on its inputs, in input order.
        outcome: what the kind's rules gave (shared between identical nodes).
        receptive_field: ``(h, w)`` input pixels one output element sees,
            ``"global"`` after flattening or global pooling, ``None`` if not spatial.
        jump: ``(h, w)`` distance in input pixels between neighbouring outputs.
        diagnostics: findings about this node.
        blocked: ``True`` when parameters are invalid or an upstream node failed,
            so nothing is known here.
        ok: whether the outputs are known and the node has no error.
    """

    __slots__ = ("id", "kind", "input_shapes", "outcome", "receptive_field", "jump",
                 "diagnostics", "blocked", "ok")

    def __init__(self, node_id: str, kind: str):
        self.id = node_id
        self.kind = kind
        self.input_shapes: Sequence[tuple] = ()
        self.outcome = _NOTHING
        self.receptive_field: Any = None
        self.jump: Any = None
        self.diagnostics: Sequence[Diagnostic] = ()
        self.blocked = False
        self.ok = False

    @property
    def output_shapes(self) -> list[tuple]:
        """One shape per output port (an ``Output`` node shows its input); empty
        when unknown."""
        return self.outcome.outs

    @property
    def output_shape(self) -> tuple | None:
        """The first output's shape, or ``None`` if unknown."""
        outs = self.outcome.outs
        return outs[0] if outs else None

    @property
    def weights(self) -> list[WeightSpec]:
        """The weight tensors, as Keras creates them."""
        return self.outcome.weights

    @property
    def trainable(self) -> int:
        """Trainable parameter count."""
        return self.outcome.trainable

    @property
    def non_trainable(self) -> int:
        """Non-trainable parameter count (BatchNorm's moving statistics)."""
        return self.outcome.non_trainable

    @property
    def params(self) -> int:
        """All parameters, trainable and not."""
        o = self.outcome
        return o.trainable + o.non_trainable

    @property
    def flops(self) -> int:
        """Multiply-adds per sample."""
        return self.outcome.flops

    @property
    def activations(self) -> int:
        """Elements stored per sample for its outputs."""
        return self.outcome.activations

    def same_outputs(self, other: "NodeInfo | None") -> bool:
        """Whether downstream nodes would see no difference between the two."""
        return (other is not None and self.outcome.outs == other.outcome.outs
                and self.receptive_field == other.receptive_field
                and self.jump == other.jump and self.ok == other.ok)

    def __repr__(self) -> str:
        return (f"NodeInfo({self.id!r}, {self.kind}, out={self.output_shapes}, "
                f"params={self.params}, flops={self.flops})")


def _receptive(spec: BlockSpec, rule: Any, ins: Sequence[NodeInfo], out_shape) -> tuple:
    if spec.kind == "Input":
        if out_shape is not None and len(out_shape) == 4:
            return (1, 1), (1, 1)
        return None, None
    if not ins:
        return None, None
    first = ins[0]
    rf, jump = first.receptive_field, first.jump
    if len(ins) > 1 and rf not in (None, GLOBAL):
        # A merge sees what its widest input sees.
        for other in ins[1:]:
            if other.receptive_field == GLOBAL:
                return GLOBAL, None
            if other.receptive_field is not None:
                rf = tuple(max(a, b) for a, b in zip(rf, other.receptive_field))
    if rule is None or rf is None or rf == GLOBAL:
        return (GLOBAL, None) if rule == GLOBAL else (rf, jump)
    if rule == GLOBAL:
        return GLOBAL, None
    (kh, kw), (sh, sw) = rule
    jh, jw = jump
    return ((_exact(rf[0] + (kh - 1) * jh), _exact(rf[1] + (kw - 1) * jw)),
            (_exact(jh * sh), _exact(jw * sw)))


def _exact(value):
    # Up-sampling strides are fractions; whole values become ints again so
    # tables print "3", not "Fraction(3, 1)".
    if type(value) is not int:
        value = Fraction(value)
        if value.denominator == 1:
            return int(value)
    return value


def evaluate(spec: BlockSpec, params: dict[str, Any], ins: list[tuple]) -> Outcome:
    """Runs a kind's rules on ``params`` and input shapes ``ins``; never raises.

    A composite block's rules are its expansion's (see :mod:`.expand`).
    """
    if getattr(spec, "expand", None) is not None:
        from builder.analysis.expand import evaluate_composite
        return evaluate_composite(spec, params, ins)
    out = Outcome()
    problems = () if params_ok(spec, params) else check_params(spec, params)
    if problems:
        out.problems = problems
        return out
    notes = Notes()
    try:
        outs = spec.shape(params, ins, notes)
        out.weights = spec.weights(params, ins, outs)
        out.flops = spec.flops(params, ins, outs)
        out.activations = spec.activations(params, ins, outs)
        out.receptive = spec.receptive(params) if spec.receptive is not None else None
    except ShapeIssue as issue:
        out.error = (issue.message, issue.fix, issue.field)
        out.notes = notes.items
        return out
    except Exception as exc:  # a rule must never take the editor down
        out.error = (f"{spec.kind} could not be analysed with these parameters. "
                     f"Received: {type(exc).__name__}: {exc}", None, None)
        return out
    out.notes = notes.items
    out.outs = outs if outs else ins[:1]
    for w in out.weights:
        if w.trainable:
            out.trainable += w.size
        else:
            out.non_trainable += w.size
    return out


class Memo:
    """Rule outcomes by (kind, params, input shapes), bounded.

    Rules are pure, and real networks repeat themselves (ResNet-152 has 36
    identical blocks in one stage), so most nodes of a big graph, and every node
    an edit does not touch, cost one dictionary look-up.
    """

    def __init__(self, limit: int = 20000):
        self.limit = limit
        self.entries: dict[tuple, Outcome] = {}

    def clear(self) -> None:
        """Forgets every outcome (benchmarks use it to measure cold passes)."""
        self.entries.clear()

    def outcome(self, spec: BlockSpec, params: dict[str, Any], ins: list[tuple]) -> Outcome:
        """The outcome for these arguments, computed at most once while remembered."""
        values = tuple(params.values())
        # Types are part of the key: 1 == 1.0 == True must not share an outcome.
        key = (spec.kind, tuple(params), values, tuple(map(type, values)), tuple(ins))
        try:
            found = self.entries.get(key)
        except TypeError:  # list-valued params (kernel [3, 3], shape [224, 224, 3])
            key = (spec.kind, tuple(params), _freeze(values), repr(values), tuple(ins))
            found = self.entries.get(key)
        if found is not None:
            return found
        result = evaluate(spec, params, ins)
        if len(self.entries) >= self.limit:
            self.entries.clear()
        self.entries[key] = result
        return result


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    return value


#: The process-wide memo the analysis uses.
MEMO = Memo()


_MIN_INPUTS: dict[str, int] = {}


def _min_inputs(spec: BlockSpec) -> int:
    n = _MIN_INPUTS.get(spec.kind)
    if n is None:
        ports = spec.inputs
        n = _MIN_INPUTS[spec.kind] = getattr(spec, "min_inputs", None) or (
            0 if not ports else (2 if ports[0].multiple else len(ports)))
    return n


def _missing_inputs(info: NodeInfo, spec: BlockSpec, connected: int) -> NodeInfo:
    if getattr(spec, "min_inputs", None):
        message = (f"{spec.kind} needs at least {spec.min_inputs} input"
                   f"{'s' if spec.min_inputs != 1 else ''}. Received: {connected}")
        fix = "Connect the tensors it takes, in order."
    elif spec.inputs[0].multiple:
        message = (f"{spec.kind} merges two or more tensors. Received: {connected} "
                   f"input{'s' if connected != 1 else ''}")
        fix = "Connect the branches to merge to it."
    elif len(spec.inputs) > 1:  # named ports, one tensor each (MaxUnpool2D)
        names = ", ".join(f"'{p.name}'" for p in spec.inputs)
        message = (f"{spec.kind} expects {len(spec.inputs)} inputs, one on each port "
                   f"({names}). Received: {connected}")
        fix = "Connect a tensor to every input port."
    else:
        message = f"{spec.kind} has no input connected. Received: 0 inputs"
        fix = "Connect the previous layer's output to it."
    info.diagnostics = [Diagnostic(ERROR, info.id, message, fix=fix)]
    info.blocked = True
    return info


def infer(node_id: str, spec: BlockSpec, params: dict[str, Any],
          inputs: Sequence[Any], connected: int, memo: Memo = MEMO) -> NodeInfo:
    """Works out one node from its inputs' infos; never raises.

    This runs for every node on every full pass, so it is written for speed:
    the rules' outcome comes from the memo, and the common case allocates only
    the :class:`NodeInfo`.

    Args:
        node_id: the node's id.
        spec: its kind's spec.
        params: its parameters.
        inputs: the infos of the nodes feeding it, in input order (one per edge,
            with ``output_shapes`` already narrowed to the edge's port).
        connected: how many edges arrive (to tell "not connected" from "blocked").
        memo: where rule outcomes are remembered.
    """
    info = NodeInfo(node_id, spec.kind)
    ins = []
    for i in inputs:
        if not i.ok:
            info.blocked = True
            return info
        ins.append(i.outcome.outs[0])
    minimum = _MIN_INPUTS.get(spec.kind)
    if minimum is None:
        minimum = _min_inputs(spec)
    if connected < minimum:
        return _missing_inputs(info, spec, connected)
    info.input_shapes = ins
    out = memo.outcome(spec, params, ins)
    if out.problems or out.error is not None or out.notes:
        _report(info, spec, out)
        if out.problems or out.error is not None:
            return info
    info.outcome = out
    rule = out.receptive
    if len(inputs) == 1:
        first = inputs[0]
        rf, jump = first.receptive_field, first.jump
        if rule is None:  # pass-through layers (BN, ReLU, ...), inlined for speed
            info.receptive_field, info.jump = rf, jump
            info.ok = True
            return info
        if type(rule) is tuple and type(rf) is tuple and type(jump[0]) is int \
                and type(jump[1]) is int:
            # Integer kernels and strides on an integer grid: the conv/pool case.
            (kh, kw), (sh, sw) = rule
            if type(sh) is int and type(sw) is int:
                info.receptive_field = (rf[0] + (kh - 1) * jump[0],
                                        rf[1] + (kw - 1) * jump[1])
                info.jump = (jump[0] * sh, jump[1] * sw)
                info.ok = True
                return info
    info.receptive_field, info.jump = _receptive(spec, rule, inputs,
                                                 out.outs[0] if out.outs else None)
    info.ok = True
    return info


def _report(info: NodeInfo, spec: BlockSpec, out: Outcome) -> None:
    node_id = info.id
    if out.problems:
        info.diagnostics = [
            Diagnostic(ERROR, node_id, f"{spec.kind} parameter '{field}' {message}",
                       field=field)
            for field, message in out.problems]
        info.blocked = True
        return
    found = []
    if out.error is not None:
        message, fix, field = out.error
        found.append(Diagnostic(ERROR, node_id, message, field=field, fix=fix))
    for message, fix, field in out.notes:
        found.append(Diagnostic(WARNING, node_id, message, field=field, fix=fix))
    info.diagnostics = found

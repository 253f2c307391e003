"""Parameter values: normalising (int → pair, padding forms) and checking.

Normalisers are what rules call, so every spec reads params the same way.
:func:`check_params` never raises: it returns ``(field, message)`` problems that
the analysis reports on the node and the project loader reports with the file.
"""

from __future__ import annotations

import numbers
from typing import Any, Iterable

from builder.blocks.spec import BlockSpec, Param


def pair(value: Any) -> tuple[int, int]:
    """``3`` → ``(3, 3)``; ``[3, 5]`` → ``(3, 5)``."""
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def padding_mode(value: Any) -> tuple[str, tuple[int, int] | None]:
    """Splits a padding param into Keras' mode and explicit zero-padding.

    Returns:
        ``("valid"|"same", None)`` for the Keras modes, or ``("valid", (ph, pw))``
        for an explicit zero-padding ``P``, which compiles to ``ZeroPadding2D``
        followed by a valid convolution.
    """
    if isinstance(value, str):
        return value, None
    return "valid", pair(value)


def cropping(value: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """Keras' ``Cropping2D``/``ZeroPadding2D`` forms → ``((top, bottom), (left, right))``."""
    if isinstance(value, (list, tuple)):
        if isinstance(value[0], (list, tuple)):
            return (int(value[0][0]), int(value[0][1])), (int(value[1][0]), int(value[1][1]))
        h, w = pair(value)
        return (h, h), (w, w)
    n = int(value)
    return (n, n), (n, n)


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _ints(values: Iterable[Any]) -> bool:
    return all(_is_int(v) for v in values)


def _check_one(p: Param, v: Any) -> str | None:
    if v is None:
        return None if p.optional else "must be set. Received: None"
    t = p.type
    if t == "int":
        if not _is_int(v):
            return f"must be a whole number. Received: {v!r}"
    elif t == "float":
        if not _is_number(v):
            return f"must be a number. Received: {v!r}"
    elif t == "bool":
        if not isinstance(v, bool):
            return f"must be true or false. Received: {v!r}"
    elif t == "str":
        if not isinstance(v, str):
            return f"must be text. Received: {v!r}"
    elif t == "choice":
        if v not in p.choices:
            return f"must be one of {list(p.choices)}. Received: {v!r}"
        return None
    elif t in ("int_or_pair", "padding"):
        if t == "padding" and isinstance(v, str):
            if v not in ("valid", "same"):
                return f"must be 'valid', 'same', P or [Ph, Pw]. Received: {v!r}"
            return None
        if isinstance(v, (list, tuple)):
            if len(v) != 2 or not _ints(v):
                return f"must be a whole number or a pair [h, w]. Received: {v!r}"
            values = list(v)
        elif _is_int(v):
            values = [v]
        else:
            return f"must be a whole number or a pair [h, w]. Received: {v!r}"
        return _check_range(p, values)
    elif t == "cropping":
        try:
            (a, b), (c, d) = cropping(v)
        except (TypeError, ValueError, IndexError):
            return f"must be n, [h, w] or [[top, bottom], [left, right]]. Received: {v!r}"
        flat = _flatten(v)
        if not _ints(flat):
            return f"must be whole numbers. Received: {v!r}"
        return _check_range(p, [a, b, c, d])
    elif t == "shape":
        if not isinstance(v, (list, tuple)) or not v:
            return f"must be a list of sizes such as [224, 224, 3]. Received: {v!r}"
        if not all(d is None or (_is_int(d) and d > 0) for d in v):
            return f"sizes must be positive whole numbers or null. Received: {v!r}"
        return None
    elif t == "int_list":
        if not isinstance(v, (list, tuple)) or not _ints(v):
            return f"must be a list of whole numbers. Received: {v!r}"
        return None
    elif t in ("params", "subgraph"):
        # A block's params for a stage's blocks, or a Group's sub-graph: JSON
        # objects whose content the expansion checks (and the analysis reports).
        if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
            return f"must be an object of named values. Received: {v!r}"
        return None
    elif t == "str_list":
        if not isinstance(v, (list, tuple)) or not all(isinstance(s, str) for s in v):
            return f"must be a list of names. Received: {v!r}"
        return None
    elif t == "float_list":
        # One number (broadcast) or a non-empty list of numbers, e.g. per channel.
        if _is_number(v):
            return None
        if not isinstance(v, (list, tuple)) or not v or not all(_is_number(x) for x in v):
            return f"must be a number or a list of numbers. Received: {v!r}"
        return None
    if t in ("int", "float"):
        return _check_range(p, [v])
    return None


def _flatten(v: Any) -> list[Any]:
    if isinstance(v, (list, tuple)):
        return [x for item in v for x in _flatten(item)]
    return [v]


def _check_range(p: Param, values: list[Any]) -> str | None:
    for x in values:
        if p.min is not None and x < p.min:
            return f"must be ≥ {p.min:g}. Received: {x!r}"
        if p.max is not None and x > p.max:
            return f"must be ≤ {p.max:g}. Received: {x!r}"
    return None


def check_params(spec: BlockSpec, params: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems with ``params`` for ``spec``, as ``(field, message)`` pairs.

    Unknown keys and missing required keys are problems too; an empty list means
    every value has the right type and lies in range.
    """
    problems = []
    known = set()
    for p in spec.params:
        known.add(p.name)
        if p.name not in params:
            problems.append((p.name, "is missing."))
            continue
        message = _check_one(p, params[p.name])
        if message:
            problems.append((p.name, message))
    for key in params:
        if key not in known:
            names = ", ".join(sorted(known)) or "none"
            problems.append((key, f"is not a parameter of {spec.kind} (it has: {names})."))
    return problems


def _fast_check(p: Param):
    """A predicate that accepts the common valid values of ``p`` cheaply.

    The analysis validates every node on every full pass, so the usual cases
    (an in-range int, a bool, a known choice) must cost one or two comparisons;
    anything else falls back to :func:`_check_one` for the precise message.
    """
    lo = float("-inf") if p.min is None else p.min
    hi = float("inf") if p.max is None else p.max
    if p.type in ("int", "int_or_pair"):
        return lambda v: type(v) is int and lo <= v <= hi
    if p.type == "float":
        return lambda v: (type(v) is float or type(v) is int) and lo <= v <= hi
    if p.type == "bool":
        return lambda v: v is True or v is False
    if p.type == "choice":
        choices = frozenset(c for c in p.choices if c is not None)
        return lambda v: type(v) is str and v in choices
    if p.type == "padding":
        return lambda v: v == "same" or v == "valid" or (type(v) is int and lo <= v <= hi)
    return lambda v: False


_CHECKERS: dict[int, tuple] = {}


def params_ok(spec: BlockSpec, params: dict[str, Any]) -> bool:
    """Cheap test that ``params`` has every key of ``spec`` with common valid values.

    ``False`` does not mean invalid: call :func:`check_params` for the verdict.
    """
    checkers = _CHECKERS.get(id(spec))
    if checkers is None:
        checkers = _CHECKERS[id(spec)] = (spec, tuple(
            (p.name, _fast_check(p)) for p in spec.params))
    if len(params) != len(checkers[1]):
        return False
    for name, ok in checkers[1]:
        if name not in params or not ok(params[name]):
            return False
    return True

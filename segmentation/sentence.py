"""A segment rule read as a sentence, in the fields' display names.

``loyaltyTier in ["gold", "platinum"] and xEvent[eventType = "purchase" and
timestamp occurs <= 30 days before now].count() >= 1`` reads "Loyalty tier is gold
or platinum, and did purchase at least once in the last 30 days". Shapes without
words of their own (arithmetic, functions) fall back to their PQL, so the
sentence never hides a part of the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from segmentation.model import (
    Anchor,
    And,
    BetweenWindow,
    BoolConst,
    Compare,
    DateLit,
    DateTimeLit,
    EventCondition,
    FieldRef,
    InList,
    ListMatch,
    Lit,
    Not,
    NullCheck,
    Occurs,
    Or,
    Period,
    PointWindow,
    RelativeWindow,
    SegmentRef,
    Sequence,
    TextMatch,
)
from segmentation.pql.formatter import fragment_to_pql

Namer = Callable[[str, str], str]  # (scope, column) -> display name
_CMP = {
    "=": "is",
    "!=": "is not",
    ">": "is more than",
    ">=": "is at least",
    "<": "is less than",
    "<=": "is at most",
}
_COUNT = {
    ">=": "at least",
    ">": "more than",
    "<=": "at most",
    "<": "fewer than",
    "=": "exactly",
    "!=": "not exactly",
}
_TEXT = {
    "contains": "contains",
    "startsWith": "starts with",
    "endsWith": "ends with",
    "equals": "is",
    "like": "is like",
    "matches": "matches the pattern",
}
_NOT_TEXT = {
    "contains": "does not contain",
    "startsWith": "does not start with",
    "endsWith": "does not end with",
    "equals": "is not",
    "like": "is not like",
    "matches": "does not match the pattern",
}
_LIST = {
    "intersects": "includes any of",
    "includes": "includes",
    "subsetOf": "has only values from",
    "supersetOf": "includes all of",
}


def _value(node: Any, name: Namer, scope: str) -> str:
    if isinstance(node, DateLit | DateTimeLit):
        return f"{node.value:%Y-%m-%d %H:%M}" if isinstance(node, DateTimeLit) else str(node.value)
    if isinstance(node, Lit):
        return _scalar(node.value)
    if isinstance(node, Anchor):
        return node.name
    return _field(node, name, scope)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return _either([_scalar(v) for v in value], "or")
    return str(value)


def _either(words: list[str], joint: str) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + f" {joint} " + words[-1]


def _times(n: float | int) -> str:
    if n == 1:
        return "once"
    if n == 2:
        return "twice"
    return f"{n:g} times"


def _unit(amount: int, unit: str) -> str:
    return f"{amount} {unit}" + ("" if amount == 1 else "s")


def window(w: Any, name: Namer = lambda _scope, column: column, scope: str = "profile") -> str:
    """``in the last 30 days``, ``before 2026-01-01``, ``this month``, ``after their
    Created at`` ..."""
    if w is None:
        return ""
    if isinstance(w, RelativeWindow) and isinstance(w.anchor, Anchor) and w.anchor.name == "now":
        span = _unit(w.amount, w.unit)
        if w.direction == "before" and w.cmp in ("<=", "<"):
            return f"in the last {span}"
        if w.direction == "before" and w.cmp in (">", ">="):
            return f"more than {span} ago"
        if w.direction in ("after", "from") and w.cmp in ("<=", "<"):
            return f"in the next {span}"
    if isinstance(w, PointWindow):
        if isinstance(w.anchor, Period):
            return f"{w.anchor.which} {w.anchor.unit}"
        return f"{w.direction} {_value(w.anchor, name, scope)}"
    if isinstance(w, BetweenWindow):
        return f"between {_value(w.start, name, scope)} and {_value(w.end, name, scope)}"
    return f"({fragment_to_pql(w, scope)})"


def _field(ref: Any, name: Namer, scope: str) -> str:
    """A field's display name (inside an event filter a profile attribute is "their
    .."); other operands as their PQL (``scope``: where the operand stands)."""
    if isinstance(ref, FieldRef):
        shown = name(ref.scope, ref.path)
        return f"their {shown}" if scope == "event" and ref.scope == "profile" else shown
    return fragment_to_pql(ref, scope)


def _filters(where: Any, name: Namer) -> str:
    return "" if where is None else f" where {describe(where, name, 'event')}"


def describe(expr: Any, name: Namer | None = None, scope: str = "profile") -> str:
    """The expression in words; ``name`` gives a column's display name (default: itself);
    ``scope`` is "event" for the filter of an event condition."""
    name = name or (lambda _scope, column: column)
    if expr is None:
        return "Everyone"
    if isinstance(expr, And):
        return ", and ".join(_part(i, name, scope) for i in expr.items)
    if isinstance(expr, Or):
        return ", or ".join(_part(i, name, scope) for i in expr.items)
    if isinstance(expr, Not):
        return f"not ({describe(expr.item, name, scope)})"
    if isinstance(expr, BoolConst):
        return "everyone" if expr.value else "nobody"
    if isinstance(expr, Compare):
        if isinstance(expr.right, Lit) and isinstance(expr.right.value, bool) and expr.op == "=":
            return f"{_field(expr.left, name, scope)} is {'true' if expr.right.value else 'false'}"
        right = _value(expr.right, name, scope)
        return f"{_field(expr.left, name, scope)} {_CMP[expr.op]} {right}"
    if isinstance(expr, InList):
        verb = "is not" if expr.negate else "is"
        joint = "nor" if expr.negate else "or"
        listed = [
            _value(v, name, scope) if isinstance(v, DateLit | DateTimeLit) else _scalar(v)
            for v in expr.values
        ]
        return f"{_field(expr.operand, name, scope)} {verb} {_either(listed, joint)}"
    if isinstance(expr, TextMatch):
        verb = (_NOT_TEXT if expr.negate else _TEXT)[expr.op]
        case = "" if expr.case_sensitive or expr.op in ("like", "matches") else " (any case)"
        return f"{_field(expr.operand, name, scope)} {verb} “{expr.value}”{case}"
    if isinstance(expr, NullCheck):
        return f"{_field(expr.operand, name, scope)} is {'empty' if expr.is_null else 'not empty'}"
    if isinstance(expr, ListMatch):
        values = ", ".join(_scalar(v) for v in expr.values)
        if expr.other is not None:  # another field or an expression
            values = _field(expr.other, name, scope)
        return f"{_field(expr.operand, name, scope)} {_LIST[expr.op]} {values}"
    if isinstance(expr, Occurs):
        return f"{_field(expr.operand, name, scope)} is {window(expr.window, name, scope)}"
    if isinstance(expr, EventCondition):
        return _event(expr, name)
    if isinstance(expr, Sequence):
        steps = []
        for i, step in enumerate(expr.steps):
            what = _either(step.event_types, "or") or "any event"
            text = f"{what}{_filters(step.where, name)}"
            if step.count > 1:
                text += f" {_times(step.count)}"
            if i and step.within_previous is not None:
                gap = step.within_previous
                text += f" within {_unit(gap.amount, gap.unit)}"
            steps.append(text)
        when = window(expr.steps[0].window, name, "event")
        return "did " + ", then ".join(steps) + (f", {when}" if when else "")
    if isinstance(expr, SegmentRef):
        return f"is in the segment {expr.segment}"
    return fragment_to_pql(expr, scope)


def _part(item: Any, name: Namer, scope: str) -> str:
    text = describe(item, name, scope)
    return f"({text})" if isinstance(item, And | Or) else text


def _event(cond: EventCondition, name: Namer) -> str:
    what = _either(cond.event_types, "or") or "any event"
    where = _filters(cond.where, name)
    when = window(cond.window, name, "event")
    tail = f" {when}" if when else ""
    if cond.measure == "count":
        if cond.op == "=" and cond.value == 0:
            return f"did not do {what}{where}{tail}"
        if cond.op == ">=" and cond.value == 1:
            return f"did {what}{where}{tail}"
        return f"did {what}{where} {_COUNT[cond.op]} {_times(cond.value)}{tail}"
    field = name("event", cond.field or "")
    measure = {"sum": "total", "avg": "average", "average": "average"}.get(
        cond.measure, cond.measure
    )
    return f"{measure} {field} of {what}{where}{tail} {_CMP[cond.op]} {cond.value:g}"

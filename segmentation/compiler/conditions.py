# ruff: noqa: S608 -- SQL is assembled from checked, quoted identifiers; values are $n params
"""Tree -> SQL boolean over ``profiles p`` joined with the one events pass ``ev``.

Logic is two-valued: a condition on a missing value may render SQL NULL, which
a WHERE treats as false and AND/OR combine exactly as false would; only NOT
needs care, so it is compiled as ``NOT coalesce(x, FALSE)``.

Event conditions do not become subqueries: each registers one aggregate
(``count(*) FILTER (WHERE ...)``, ``sum(x) FILTER (...)``) with the shared
``EventPass`` and the boolean reads ``ev.aN``. Sequences register CTEs there too.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from segmentation.compiler.events import EventPass
from segmentation.compiler.operands import TEMPORAL, Context, OperandCompiler, Val
from segmentation.compiler.schema import EVENT_TYPE_COLUMN, TIMESTAMP_COLUMN, element_type, kind_of
from segmentation.compiler.sqlparts import sql_and, sql_or
from segmentation.compiler.timewindows import SQL_INTERVAL_FN
from segmentation.errors import ConflictError, InvalidInputError, NotFoundError, UnsupportedError
from segmentation.model import (
    And,
    BoolConst,
    Compare,
    EventCondition,
    FieldRef,
    InList,
    ListMatch,
    Not,
    NullCheck,
    Occurs,
    Or,
    SegmentRef,
    Sequence,
    TextMatch,
)

MAX_SEGMENT_DEPTH = 50
_PY_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass
class Compiler(OperandCompiler):
    """Conditions; operands and time come from OperandCompiler."""

    events: EventPass | None = None
    resolve_segment: Callable[[str], Any] | None = None
    segment_stack: list[str] = field(default_factory=list)
    uses_profile_fields: bool = False

    # --- conditions ----------------------------------------------------------------

    def condition(self, node: Any, ctx: Context | None = None) -> str:
        ctx = ctx or Context()
        method = getattr(self, "_c_" + type(node).__name__, None)
        if method is None:
            raise UnsupportedError(f"condition of kind {getattr(node, 'kind', node)!r}")
        return method(node, ctx)

    def _c_And(self, node: And, ctx: Context) -> str:
        return sql_and([self.condition(item, ctx) for item in _flatten(node, And)])

    def _c_Or(self, node: Or, ctx: Context) -> str:
        return sql_or([self.condition(item, ctx) for item in _flatten(node, Or)])

    def _c_Not(self, node: Not, ctx: Context) -> str:
        depth = 0
        while isinstance(node, Not):  # a chain of NOTs folds to its parity
            node, depth = node.item, depth + 1
        inner = self.condition(node, ctx)
        if inner in ("TRUE", "FALSE"):
            return inner if depth % 2 == 0 else {"TRUE": "FALSE", "FALSE": "TRUE"}[inner]
        folded = f"coalesce({inner}, FALSE)"
        return folded if depth % 2 == 0 else f"(NOT {folded})"

    def _c_BoolConst(self, node: BoolConst, ctx: Context) -> str:
        return "TRUE" if node.value else "FALSE"

    def _c_Compare(self, node: Compare, ctx: Context) -> str:
        left, right = self.operand(node.left, ctx), self.operand(node.right, ctx)
        op = node.op
        if left.is_literal and not right.is_literal:
            left, right, op = right, left, _FLIP[op]
        if left.kind in TEMPORAL and right.is_literal and right.kind in (*TEMPORAL, "text"):
            return self._temporal_compare(left, op, self._as_span(right, left))
        if left.kind in TEMPORAL and right.kind in TEMPORAL:
            a, b = self._align_temporal(left, right)
            return f"({a} {op} {b})"
        self._check_comparable(left, right, op)
        return f"({self.bind(left, right.kind)} {op} {self.bind(right, left.kind)})"

    def _c_InList(self, node: InList, ctx: Context) -> str:
        target = self.operand(node.operand, ctx)
        if target.kind in ("list", "struct", "other"):
            raise InvalidInputError(
                f"'in' needs a single value but {target.label} is a {target.kind}"
                + (": use intersects/includes for lists." if target.kind == "list" else ".")
            )
        x = self.bind(target)
        values = [self._bind_scalar(v, target, "in") for v in node.values]
        listed = ", ".join(values)
        if node.negate:  # notIn requires a value: false on null
            return f"({x} IS NOT NULL AND {x} NOT IN ({listed}))"
        return f"({x} IN ({listed}))"

    def _c_TextMatch(self, node: TextMatch, ctx: Context) -> str:
        target = self.operand(node.operand, ctx)
        if target.kind != "text":
            raise InvalidInputError(
                f"{node.op} needs a text field but {target.label} is a {target.kind}."
            )
        if node.op == "matches":
            try:
                re.compile(node.value)
            except re.error as exc:
                raise InvalidInputError(f"Bad regular expression {node.value!r}: {exc}.") from exc
        x, v = self.bind(target), self.params.bind(node.value, "VARCHAR")
        if not node.case_sensitive and node.op not in ("like", "matches"):
            x, v = f"lower({x})", f"lower({v})"
        sql = {
            "contains": f"contains({x}, {v})",
            "startsWith": f"starts_with({x}, {v})",
            "endsWith": f"ends_with({x}, {v})",
            "equals": f"({x} = {v})",
            "like": f"({x} {'LIKE' if node.case_sensitive else 'ILIKE'} {v})",
            "matches": f"regexp_matches({x}, {v})",
        }[node.op]
        if node.op == "matches" and not node.case_sensitive:
            sql = f"regexp_matches({x}, {v}, 'i')"
        return f"(NOT {sql})" if node.negate else sql

    def _c_NullCheck(self, node: NullCheck, ctx: Context) -> str:
        x = self.bind(self.operand(node.operand, ctx))
        return f"({x} IS {'' if node.is_null else 'NOT '}NULL)"

    def _c_ListMatch(self, node: ListMatch, ctx: Context) -> str:
        target = self.operand(node.operand, ctx)
        if target.kind != "list":
            raise InvalidInputError(
                f"{node.op} needs a list field but {target.label} is a {target.kind}."
            )
        elem = element_type(target.value)
        item = Val(kind=kind_of(elem), label=f"items of {target.label}")
        values = [self._coerce_scalar(v, item, node.op) for v in node.values]
        x, vs = target.sql, self.params.bind(values, f"{elem}[]")
        return {
            "intersects": f"list_has_any({x}, {vs})",
            "includes": f"list_has_all({x}, {vs})",
            "subsetOf": f"list_has_all({vs}, {x})",
            "supersetOf": f"list_has_all({x}, {vs})",
        }[node.op]

    def _c_Occurs(self, node: Occurs, ctx: Context) -> str:
        target = self.operand(node.operand, ctx)
        if target.kind not in TEMPORAL:
            raise InvalidInputError(
                f"occurs needs a date or timestamp field but {target.label} is a {target.kind}."
            )
        return self.window(node.window, target, ctx)

    def _c_EventCondition(self, node: EventCondition, ctx: Context) -> str:
        if ctx.scope == "event":
            raise UnsupportedError("an event condition inside an event filter")
        if node.measure != "count" and not node.field:
            raise InvalidInputError(f"{node.measure} of events needs a field to aggregate.")
        if not self.schema.has_events:  # no events at all: count 0, sum 0, the rest missing
            if node.measure in ("count", "sum"):
                return "TRUE" if _PY_CMP[node.op](0, node.value) else "FALSE"
            return "FALSE"
        selector = self.event_filter(node.event_types, node.where, node.window)
        measured = None
        if node.measure != "count":
            measured = self.schema.resolve(node.field, "event")
            if measured.kind != "number":
                raise InvalidInputError(
                    f"{node.measure} needs a number field but {measured.describe()} is not."
                )
        column = self.events.aggregate(
            node.measure, measured.sql(None) if measured else None, selector
        )
        value = self.params.bind(node.value)
        if node.measure in ("count", "sum"):
            return f"(coalesce(ev.{column}, 0) {node.op} {value})"
        return f"(ev.{column} {node.op} {value})"

    def _c_Sequence(self, node: Sequence, ctx: Context) -> str:
        if ctx.scope == "event":
            raise UnsupportedError("a sequence inside an event filter")
        if not self.schema.has_events:
            return "FALSE"
        steps = []
        for step in node.steps:
            selector = self.event_filter(step.event_types, step.where, step.window)
            within = None
            if step.within_previous is not None:
                fn, mult = SQL_INTERVAL_FN[step.within_previous.unit]
                amount = self.params.bind(step.within_previous.amount * mult, "INTEGER")
                within = f"{fn}({amount})"
            steps.append((selector, step.count, within))
        name = self.events.sequence(steps, self.params)
        return f"(p.profile_id IN (SELECT profile_id FROM {name}))"

    def _c_SegmentRef(self, node: SegmentRef, ctx: Context) -> str:
        if self.resolve_segment is None:
            raise InvalidInputError(
                f"inSegment({node.segment!r}) needs saved segments, and none are available here."
            )
        if node.segment in self.segment_stack or len(self.segment_stack) >= MAX_SEGMENT_DEPTH:
            chain = " -> ".join([*self.segment_stack, node.segment])
            raise ConflictError(f"Segments refer to each other in a cycle: {chain}.")
        try:
            expr = self.resolve_segment(node.segment)
        except KeyError:
            expr = None
        if expr is None:
            raise NotFoundError(f"inSegment({node.segment!r}): no such segment.")
        self.segment_stack.append(node.segment)
        try:
            return self.condition(expr, ctx)
        finally:
            self.segment_stack.pop()

    # --- events ----------------------------------------------------------------------

    def event_filter(self, event_types: list[str], where: Any, window: Any) -> str:
        """The SQL that picks one condition's events (read inside the events pass)."""
        ectx = Context(scope="event", alias=None)
        parts = []
        if event_types:
            kind_col = self.schema.resolve(EVENT_TYPE_COLUMN, "event")
            listed = ", ".join(self.params.bind(t, "VARCHAR") for t in event_types)
            parts.append(f"({kind_col.sql(None)} IN ({listed}))")
        if where is not None:
            parts.append(self.condition(where, ectx))
        if window is not None:
            parts.append(
                self.window(
                    window, self.operand(FieldRef(path=TIMESTAMP_COLUMN, scope="event"), ectx), ectx
                )
            )
        return sql_and(parts)


def _flatten(node: Any, cls: type) -> list[Any]:
    """Items of nested groups of the same kind, without recursion."""
    out, stack = [], list(reversed(node.items))
    while stack:
        item = stack.pop()
        if isinstance(item, cls):
            stack.extend(reversed(item.items))
        else:
            out.append(item)
    return out

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

import datetime as dt
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from segmentation.compiler.events import EventPass
from segmentation.compiler.schema import (
    EVENT_TYPE_COLUMN,
    TIMESTAMP_COLUMN,
    Schema,
    Scope,
    element_type,
    kind_of,
)
from segmentation.compiler.sqlparts import Params, sql_and, sql_or
from segmentation.compiler.timewindows import (
    SQL_INTERVAL_FN,
    UTC,
    Clock,
    Span,
    SqlTime,
    TimeValue,
    between_sql,
    literal_span,
    window_sql,
)
from segmentation.errors import ConflictError, InvalidInputError, NotFoundError, UnsupportedError
from segmentation.model import (
    Anchor,
    And,
    Arith,
    BetweenWindow,
    BoolConst,
    Compare,
    DateLit,
    DateTimeLit,
    EventCondition,
    FieldRef,
    Func,
    InList,
    ListMatch,
    Lit,
    Not,
    NullCheck,
    Occurs,
    Or,
    SegmentRef,
    Sequence,
    TextMatch,
)

TEMPORAL = ("date", "timestamp", "timestamptz")
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
class Val:
    """A compiled operand. Literals stay unbound (``sql`` None) until the other side's
    kind is known, so ``signupDate < "2024-01-01"`` can bind a DATE."""

    kind: str
    label: str
    sql: str | None = None
    value: Any = None
    span: Span | None = None  # anchors, dates and timestamps given as values

    @property
    def is_literal(self) -> bool:
        return self.sql is None


@dataclass
class Context:
    """Where a field is read: profile attributes (alias p) or events inside a filter."""

    scope: Scope = "profile"
    alias: str | None = "p"


@dataclass
class Compiler:
    schema: Schema
    clock: Clock
    params: Params
    events: EventPass
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

    # --- time ------------------------------------------------------------------------

    def window(self, window: Any, target: Val, ctx: Context) -> str:
        cmp = self._cmp_for(target)
        if isinstance(window, BetweenWindow):
            return between_sql(
                window, self.span(window.start, ctx), self.span(window.end, ctx), cmp
            )
        return window_sql(window, self.span(window.anchor, ctx), cmp, self._shift)

    def span(self, point: Any, ctx: Context) -> Span:
        fixed = literal_span(self.clock, point)
        if fixed is not None:
            return fixed
        anchor = self.operand(point, ctx)
        if anchor.kind not in TEMPORAL:
            raise InvalidInputError(f"{anchor.label} is not a date or timestamp.")
        if anchor.kind == "date":
            return Span(SqlTime(anchor.sql, "date"), SqlTime(f"({anchor.sql} + 1)", "date"))
        return Span(SqlTime(anchor.sql, anchor.kind))

    def _shift(self, value: TimeValue, amount: int, unit: str) -> TimeValue:
        if isinstance(value, dt.datetime):
            return self.clock.shift(value, amount, unit)
        fn, mult = SQL_INTERVAL_FN[unit]
        n = self.params.bind(amount * mult, "INTEGER")
        kind = "timestamp" if value.kind == "date" else value.kind
        return SqlTime(f"({value.sql} + {fn}({n}))", kind)

    def _cmp_for(self, target: Val) -> Callable[[str, TimeValue], str]:
        def cmp(op: str, bound: TimeValue) -> str:
            return f"{target.sql} {op} {self._time_sql(bound, target.kind)}"

        return cmp

    def _time_sql(self, bound: TimeValue, kind: str) -> str:
        """A bound as SQL of ``kind``: DATE columns compare by local date."""
        if isinstance(bound, dt.datetime):
            if kind == "date":
                return self.params.bind(self.clock.local_date(bound), "DATE")
            if kind == "timestamptz":
                return self.params.bind(bound.replace(tzinfo=UTC), "TIMESTAMPTZ")
            return self.params.bind(bound, "TIMESTAMP")
        if bound.kind == kind:
            return bound.sql
        sql_type = {"date": "DATE", "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ"}[kind]
        return f"CAST({bound.sql} AS {sql_type})"

    def _temporal_compare(self, target: Val, op: str, span: Span) -> str:
        cmp = self._cmp_for(target)
        if span.is_instant:
            return f"({cmp(op, span.start)})"
        if op == "=":
            return f"({cmp('>=', span.start)} AND {cmp('<', span.stop)})"
        if op == "!=":
            return f"({cmp('<', span.start)} OR {cmp('>=', span.stop)})"
        bound = {"<": ("<", span.start), "<=": ("<", span.stop), ">": (">=", span.stop)}
        return f"({cmp(*bound.get(op, ('>=', span.start)))})"

    def _as_span(self, literal: Val, target: Val) -> Span:
        if literal.span is not None:
            return literal.span
        text = str(literal.value)
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                return self.clock.day_span(dt.date.fromisoformat(text))
            instant = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise InvalidInputError(
                f"{target.label} is a {target.kind}; {text!r} is not a date (YYYY-MM-DD) "
                "or a timestamp."
            ) from exc
        if instant.tzinfo is not None:
            instant = instant.astimezone(UTC).replace(tzinfo=None)
        return Span(instant)

    def _align_temporal(self, a: Val, b: Val) -> tuple[str, str]:
        if a.kind == b.kind:
            return a.sql, b.sql
        if "timestamptz" in (a.kind, b.kind):
            return (
                self._time_sql(SqlTime(a.sql, a.kind), "timestamptz"),
                self._time_sql(SqlTime(b.sql, b.kind), "timestamptz"),
            )
        return (
            self._time_sql(SqlTime(a.sql, a.kind), "timestamp"),
            self._time_sql(SqlTime(b.sql, b.kind), "timestamp"),
        )

    # --- operands --------------------------------------------------------------------

    def operand(self, node: Any, ctx: Context) -> Val:
        if isinstance(node, FieldRef):
            return self._field(node, ctx)
        if isinstance(node, Lit):
            if isinstance(node.value, list):
                raise InvalidInputError("A list is not allowed here; use 'in' or a list function.")
            return Val(kind=_py_kind(node.value), label=repr(node.value), value=node.value)
        if isinstance(node, (DateLit, DateTimeLit, Anchor)):
            kind = "date" if isinstance(node, DateLit) else "timestamp"
            return Val(
                kind=kind,
                label=str(getattr(node, "value", getattr(node, "name", ""))),
                span=literal_span(self.clock, node),
            )
        if isinstance(node, Arith):
            return self._arith(node, ctx)
        if isinstance(node, Func):
            return self._func(node, ctx)
        raise UnsupportedError(f"operand of kind {getattr(node, 'kind', node)!r}")

    def _field(self, node: FieldRef, ctx: Context) -> Val:
        if node.scope == "event" and ctx.scope != "event":
            raise InvalidInputError(
                f"The event field {node.path!r} can only be used inside an event condition."
            )
        if node.scope == "profile" and ctx.scope == "event":
            raise UnsupportedError(f"the profile field {node.path!r} inside an event filter")
        resolved = self.schema.resolve(node.path, node.scope)
        if node.scope == "profile":
            self.uses_profile_fields = True
        # a list keeps its DuckDB type in ``value`` for the element type
        return Val(
            kind=resolved.kind,
            label=resolved.describe(),
            sql=resolved.sql(ctx.alias),
            value=resolved.duck_type,
        )

    def _arith(self, node: Arith, ctx: Context) -> Val:
        left, right = self.operand(node.left, ctx), self.operand(node.right, ctx)
        for side in (left, right):
            if side.kind != "number":
                raise InvalidInputError(
                    f"Arithmetic needs numbers but {side.label} is a {side.kind}."
                )
        return Val(
            kind="number",
            label="an arithmetic expression",
            sql=f"({self.bind(left)} {node.op} {self.bind(right)})",
        )

    def _func(self, node: Func, ctx: Context) -> Val:
        local = self.clock.local(self.clock.as_of)
        if node.name.startswith("current"):
            if node.args:
                raise InvalidInputError(f"{node.name}() takes no arguments.")
            value = {
                "currentMonth": local.month,
                "currentYear": local.year,
                "currentDayOfMonth": local.day,
            }[node.name]
            return Val(kind="number", label=f"{node.name}()", value=value)
        if len(node.args) != 1:
            raise InvalidInputError(f"{node.name}() applies to exactly one date or timestamp.")
        arg = self.operand(node.args[0], ctx)
        if arg.kind not in TEMPORAL:
            raise InvalidInputError(
                f"{node.name}() needs a date or timestamp but {arg.label} is a {arg.kind}."
            )
        part = {"getMonth": "month", "getYear": "year", "getDayOfMonth": "day"}[node.name]
        if arg.is_literal:
            local_start = self.clock.local(arg.span.start)
            return Val(kind="number", label=f"{node.name}()", value=getattr(local_start, part))
        x = arg.sql
        if arg.kind != "date" and self.clock.tz.key != "UTC":
            tz = self.params.bind(self.clock.tz.key, "VARCHAR")
            x = (
                f"timezone({tz}, {x})"
                if arg.kind == "timestamptz"
                else f"timezone({tz}, timezone('UTC', {x}))"
            )
        return Val(kind="number", label=f"{node.name}()", sql=f"date_part('{part}', {x})")

    # --- binding -----------------------------------------------------------------------

    def bind(self, val: Val, want: str | None = None) -> str:
        if not val.is_literal:
            return val.sql
        if val.span is not None:
            return self._time_sql(val.span.start, want if want in TEMPORAL else "timestamp")
        return self.params.bind(val.value)

    def _bind_scalar(self, value: Any, target: Val, what: str) -> str:
        return self.params.bind(
            self._coerce_scalar(value, target, what), _SQL_TYPES.get(target.kind)
        )

    def _coerce_scalar(self, value: Any, target: Val, what: str) -> Any:
        kind = _py_kind(value)
        if target.kind == kind or (target.kind == "other"):
            return value
        if target.kind in TEMPORAL and kind == "text":
            span = self._as_span(Val(kind="text", label=repr(value), value=value), target)
            if target.kind == "date":
                return self.clock.local_date(span.start)
            return span.start if target.kind == "timestamp" else span.start.replace(tzinfo=UTC)
        raise InvalidInputError(
            f"{what}: {target.label} is a {target.kind} field and cannot be compared "
            f"with the {kind} value {_short(value)}."
        )

    def _check_comparable(self, left: Val, right: Val, op: str) -> None:
        kinds = {left.kind, right.kind}
        if len(kinds) == 1 and left.kind in ("text", "number", "bool"):
            return
        if left.kind == "other" or right.kind == "other":
            return
        subject = left if not left.is_literal else right
        other = right if subject is left else left
        raise InvalidInputError(
            f"Type mismatch: {subject.label} is a {subject.kind} and cannot be compared "
            f"({op}) with {other.label if not other.is_literal else _short(other.value)} "
            f"({other.kind})."
        )


_SQL_TYPES = {"text": "VARCHAR", "number": None, "bool": "BOOLEAN"}


def _py_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "text"
    return "other"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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

"""Operands (fields, literals, arithmetic, date functions) and time windows as SQL.

Literals stay unbound until the other side's kind is known, so that
``signupDate < "2024-01-01"`` binds a DATE and ``lastLogin < today`` binds the
start of today in the workspace timezone.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from segmentation.compiler.schema import Schema, Scope, element_type, kind_of
from segmentation.compiler.sqlparts import Params
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
from segmentation.errors import InvalidInputError, UnsupportedError
from segmentation.model import (
    Anchor,
    Arith,
    BetweenWindow,
    DateLit,
    DateTimeLit,
    FieldRef,
    Func,
    ItemRef,
    Lit,
    substr_bounds,
)
from segmentation.pattern_check import RegexDialectError, check_regex

TEMPORAL = ("date", "timestamp", "timestamptz")
_TEXT_FUNCS = {  # name -> (kind of the result, SQL with {} for the text)
    "upperCase": ("text", "upper({})"),
    "lowerCase": ("text", "lower({})"),
    "trim": ("text", "trim({})"),
    "length": ("number", "length({})"),
}


_LIST_FUNCS = ("count", "distinct", "intersection")
# the name of a list item inside a lambda body
ITEM = "_li"


def present_items(list_sql: str) -> str:
    """The list without its missing items (a lambda: DuckDB's syntax, Spark's after sqlglot)."""
    return f"list_filter({list_sql}, lambda {ITEM}: {ITEM} IS NOT NULL)"


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
    item: Val | None = None  # inside exists T from <list>: T, the lambda's item
    item_name: str | None = None  # what the list's name calls an item: order of orders


@dataclass
class OperandCompiler:
    schema: Schema
    clock: Clock
    params: Params
    uses_profile_fields = False

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
            kind = "list" if isinstance(node.value, list) else _py_kind(node.value)
            return Val(kind=kind, label=_short(node.value), value=node.value)
        if isinstance(node, ItemRef):
            return self._item(node, ctx)
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
        divisor = self.bind(right)
        if node.op in "/%" and not (right.is_literal and right.value != 0):
            # dividing by zero gives no value (DuckDB would give NaN or inf, Spark an error)
            divisor = f"nullif({divisor}, 0)"
        return Val(
            kind="number",
            label="an arithmetic expression",
            sql=f"({self.bind(left)} {node.op} {divisor})",
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
        if node.name in _TEXT_FUNCS or node.name in ("regexGroup", "substr"):
            return self._text_func(node, ctx)
        if node.name in _LIST_FUNCS:
            return self._list_func(node, ctx)
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

    def _text_func(self, node: Func, ctx: Context) -> Val:
        """upperCase, lowerCase, trim, length; regexGroup is NULL when the text does not match."""
        arg = self.operand(node.args[0], ctx) if node.args else None
        if arg is None or arg.kind != "text":
            what = f"{arg.label} is a {arg.kind}" if arg else "nothing is given"
            raise InvalidInputError(f"{node.name}() needs a text but {what}.")
        x, label = self.bind(arg, "VARCHAR"), f"{node.name}() of {arg.label}"
        if node.name in _TEXT_FUNCS:
            kind, sql = _TEXT_FUNCS[node.name]
            return Val(kind=kind, label=label, sql=sql.format(x))
        if node.name == "substr":
            return self._substr(node, x, label)
        pattern, group = [getattr(a, "value", None) for a in node.args[1:]] + [None] * (
            3 - len(node.args)
        )
        if len(node.args) != 3 or not (
            isinstance(pattern, str) and type(group) is int and group >= 0
        ):
            raise InvalidInputError("regexGroup() takes a pattern and a group number.")
        try:
            if group > check_regex(pattern):
                raise InvalidInputError(f"The pattern {pattern!r} has no group {group}.")
        except RegexDialectError as exc:
            raise InvalidInputError(f"Bad regular expression {pattern!r}: {exc}.") from exc
        p = self.params.bind(pattern, "VARCHAR")
        # the group number is a checked int: DuckDB wants it as a constant
        sql = f"(CASE WHEN regexp_matches({x}, {p}) THEN regexp_extract({x}, {p}, {group}) END)"
        return Val(kind="text", label=label, sql=sql)

    def _substr(self, node: Func, x: str, label: str) -> Val:
        """0-based, end exclusive; SQL's substring is 1-based with a length. Bounds past
        the end of the text give what there is (an empty text at worst)."""
        bounds = substr_bounds(node.args)
        if bounds is None:
            raise InvalidInputError("substr() takes a begin and an end, 0 <= begin <= end.")
        begin, end = bounds  # checked ints: written into the SQL as numbers
        length = "" if end is None else f", {end - begin}"
        return Val(kind="text", label=label, sql=f"substring({x}, {begin + 1}{length})")

    def _list_func(self, node: Func, ctx: Context) -> Val:
        """count (missing for a missing list), distinct and intersection (repeats and
        missing items dropped, on every engine: DuckDB's list_distinct drops NULLs,
        Spark's keeps one)."""
        args = [self.operand(arg, ctx) for arg in node.args]
        wanted = 2 if node.name == "intersection" else 1
        if node.name == "count" and len(args) == 1 and args[0].kind == "map":
            label = f"the number of entries of {args[0].label}"
            return Val(kind="number", label=label, sql=f"cardinality({args[0].sql})")
        for arg in args:
            if arg.kind != "list":
                raise InvalidInputError(
                    f"{node.name}() needs lists but {arg.label} is a {arg.kind}."
                )
        if len(args) != wanted:
            raise InvalidInputError(f"{node.name}() takes {wanted} list(s), not {len(args)}.")
        items, label = args[0], f"{node.name}() of {args[0].label}"
        if items.is_literal:
            raise InvalidInputError(f"{node.name}() needs a list field, not {items.label}.")
        if node.name == "count":
            return Val(kind="number", label=label, sql=f"array_length({items.sql})")
        if node.name == "distinct":
            sql = f"list_distinct({present_items(items.sql)})"
            return Val(kind="list", label=label, sql=sql, value=items.value)
        other = self.bind_list(args[1], items)
        sql = f"list_intersect({present_items(items.sql)}, {other})"
        if not args[1].is_literal:  # with a missing list: missing (DuckDB would give [])
            sql = f"(CASE WHEN {other} IS NULL THEN NULL ELSE {sql} END)"
        return Val(kind="list", label=label, sql=sql, value=items.value)

    def bind_list(self, val: Val, like: Val) -> str:
        """A list operand as SQL; a written-out list takes the items' type of ``like``."""
        if not val.is_literal:
            self.check_items(val, like)
            return val.sql
        item = Val(kind=kind_of(element_type(like.value)), label=f"items of {like.label}")
        values = [self._coerce_scalar(v, item, "list") for v in val.value]
        return self.params.bind(values, f"{element_type(like.value)}[]")

    def check_items(self, a: Val, b: Val) -> None:
        """Two lists whose items compare (text with text, numbers with numbers ...)."""
        kinds = {kind_of(element_type(v.value)) for v in (a, b)}
        if len(kinds) != 1 and "other" not in kinds:
            raise InvalidInputError(
                f"Type mismatch: the items of {a.label} and of {b.label} cannot be compared."
            )

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

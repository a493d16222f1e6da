"""The compiler's portable SQL, as another engine's SQL: a few rewrite rules on sqlglot's tree.

The compiler writes one SQL text from a portable subset (no ASOF JOIN, no
subquery inside expressions, regex flags inside the pattern, md5 buckets instead
of ``hash()``), in DuckDB's spelling, which DuckDB runs as it is. For Spark,
:func:`to_spark` parses that text with sqlglot, lets sqlglot's own generator do
what it does right (quoting, types, ``RLIKE``, ``EXPLODE(FILTER(...))``), and
applies the rules below for what it does not. Each rule is one small function
of one node with a test of its own (tests/test_dialects.py).

Bound values become literal nodes: Spark's bound datetime parameters are read
in the session time zone, literals of a stated type are not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp

from segmentation.errors import UnsupportedError

Rule = Callable[[exp.Expression], exp.Expression]


def literal(value: Any) -> exp.Expression:
    """A Python value as a sqlglot literal (the compiler wraps each in a CAST)."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, Decimal)):
        return exp.Literal.number(str(value))
    if isinstance(value, float):
        return exp.Literal.number(repr(value))
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:  # an instant: the offset keeps it off the session zone
            return exp.Literal.string(value.astimezone(dt.UTC).isoformat(" "))
        return exp.Literal.string(value.isoformat(" "))
    if isinstance(value, (dt.date, str)):
        return exp.Literal.string(str(value))
    if isinstance(value, (list, tuple)):
        return exp.Array(expressions=[literal(v) for v in value])
    raise UnsupportedError(f"a value of type {type(value).__name__} in a Spark query")


def inline_params(params: list[Any]) -> Rule:
    """``$n`` -> the n-th value as a literal node."""

    def rule(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and str(node.this).isdigit():
            return literal(params[int(node.this) - 1])
        return node

    return rule


def drop_materialized(node: exp.Expression) -> exp.Expression:
    """``WITH x AS MATERIALIZED (...)`` -> ``WITH x AS (...)``: Spark has no hint for it."""
    if isinstance(node, exp.CTE) and node.args.get("materialized"):
        node.set("materialized", None)
    return node


def _rewritten(*args: exp.Expression) -> Any:
    """The arguments of a replaced node with the list rules applied (transform does not
    visit a replacement's subtree): ``list_has_all(list_intersect(..), ..)``."""
    done = [arg.transform(list_functions) for arg in args]
    return done[0] if len(done) == 1 else done


def list_functions(node: exp.Expression) -> exp.Expression:
    """``list_has_any(a, b)`` -> ``arrays_overlap(a, b)``; ``list_has_all(a, b)`` ->
    ``size(array_except(b, a)) = 0`` (every item of b is in a); ``list_intersect`` ->
    ``array_intersect``; ``array_length(a)`` ->
    ``CASE WHEN a IS NULL THEN NULL ELSE size(a) END`` (without ANSI mode Spark's size
    of a missing list is -1)."""
    if isinstance(node, exp.ArraySize):
        items = _rewritten(node.this)
        return exp.Case(
            ifs=[exp.If(this=exp.Is(this=items.copy(), expression=exp.Null()), true=exp.Null())],
            default=exp.Anonymous(this="SIZE", expressions=[items]),
        )
    if isinstance(node, exp.ArrayOverlaps):
        a, b = _rewritten(node.this), _rewritten(node.expression)
        return exp.Anonymous(this="ARRAYS_OVERLAP", expressions=[a, b])
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "list_intersect":
        return exp.Anonymous(this="ARRAY_INTERSECT", expressions=_rewritten(*node.expressions))
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "list_has_all":
        a, b = _rewritten(*node.expressions)
        missing = exp.Anonymous(this="ARRAY_EXCEPT", expressions=[b, a])
        return exp.EQ(
            this=exp.Anonymous(this="SIZE", expressions=[missing]),
            expression=exp.Literal.number(0),
        )
    return node


_INTERVALS = {
    "to_milliseconds": ("SECOND", 0.001),
    "to_seconds": ("SECOND", 1),
    "to_minutes": ("MINUTE", 1),
    "to_hours": ("HOUR", 1),
    "to_days": ("DAY", 1),
    "to_months": ("MONTH", 1),
    "to_years": ("YEAR", 1),
}


def intervals(node: exp.Expression) -> exp.Expression:
    """``to_days(CAST(7 AS INTEGER))`` -> ``INTERVAL '7' DAY`` (after ``inline_params``).

    Spark's interval literal takes a constant; the compiler's amounts always are one.
    """
    name = "to_days" if isinstance(node, exp.ToDays) else None
    if isinstance(node, exp.Anonymous):
        name = str(node.this).lower()
    if name not in _INTERVALS:
        return node
    arg = node.this if isinstance(node, exp.ToDays) else node.expressions[0]
    while isinstance(arg, (exp.Cast, exp.Paren)):
        arg = arg.this
    if not isinstance(arg, exp.Literal) or arg.is_string:
        raise UnsupportedError(f"{name}() of a computed amount on Spark")
    unit, scale = _INTERVALS[name]
    amount = Decimal(arg.this) * Decimal(str(scale))
    return exp.Interval(
        this=exp.Literal.string(format(amount.normalize(), "f")), unit=exp.var(unit)
    )


def time_zones(node: exp.Expression) -> exp.Expression:
    """DuckDB's ``timezone(tz, timezone('UTC', x))`` (UTC wall clock -> local wall clock)
    -> ``convert_timezone('UTC', tz, x)``; ``timezone(tz, x)`` of an instant ->
    ``convert_timezone(current_timezone(), tz, CAST(x AS TIMESTAMP_NTZ))`` (Spark casts
    an instant to the session zone's wall clock)."""
    if not (isinstance(node, exp.Anonymous) and str(node.this).lower() == "timezone"):
        return node
    tz, x = node.expressions
    inner = x
    if (
        isinstance(inner, exp.Anonymous)
        and str(inner.this).lower() == "timezone"
        and inner.expressions[0].name.upper() == "UTC"
    ):
        return exp.Anonymous(
            this="CONVERT_TIMEZONE",
            expressions=[exp.Literal.string("UTC"), tz, inner.expressions[1]],
        )
    wall = exp.Cast(this=x, to=exp.DataType.build("TIMESTAMP_NTZ", dialect="spark"))
    session = exp.Anonymous(this="CURRENT_TIMEZONE", expressions=[])
    return exp.Anonymous(this="CONVERT_TIMEZONE", expressions=[session, tz, wall])


def md5_buckets(node: exp.Expression) -> exp.Expression:
    """``CAST(('0x' || hex) AS UBIGINT)`` (DuckDB reads hex in casts) ->
    ``CAST(conv(hex, 16, 10) AS BIGINT)``; used by ``sqlparts.bucket_sql``."""
    if not (isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.UBIGINT):
        return node
    inner = node.this.this if isinstance(node.this, exp.Paren) else node.this
    if not (isinstance(inner, exp.DPipe) and inner.this.name.lower() == "0x"):
        return node
    digits = exp.Anonymous(
        this="CONV",
        expressions=[inner.expression, exp.Literal.number(16), exp.Literal.number(10)],
    )
    return exp.Cast(this=digits, to=exp.DataType.build("BIGINT"))


# DuckDB's functions of list items and maps that Spark spells otherwise ({n}: the n-th
# argument). Spark's try_element_at is missing, not an error, past the end or for an
# absent key; its aggregate folds a lambda where DuckDB has list_sum and list_avg.
_ITEM_FUNCTIONS = {
    "list_extract": "TRY_ELEMENT_AT({0}, {1})",
    "map_extract_value": "TRY_ELEMENT_AT({0}, {1})",
    "cardinality": "SIZE({0})",  # list_functions makes the size of a missing map missing
    "list_slice": "SLICE({0}, {1}, {2} - {1} + 1)",
    "list_sum": "AGGREGATE({0}, CAST(0 AS DOUBLE), (_acc, _x) -> _acc + COALESCE(_x, 0))",
    "list_avg": "AGGREGATE(FILTER({0}, _x -> _x IS NOT NULL), STRUCT(CAST(0 AS DOUBLE) AS s, "
    "0 AS n), (_acc, _x) -> STRUCT(_acc.s + _x AS s, _acc.n + 1 AS n), "
    "_acc -> IF(_acc.n = 0, NULL, _acc.s / _acc.n))",
}


def item_functions(node: exp.Expression) -> exp.Expression:
    """``list_sum(x)`` -> ``AGGREGATE(x, ..)`` and the rest of ``_ITEM_FUNCTIONS`` (the
    arguments first: transform does not visit a replacement's subtree)."""
    name = str(node.this).lower() if isinstance(node, exp.Anonymous) else ""
    if name not in _ITEM_FUNCTIONS:
        return node
    args = [arg.transform(item_functions) for arg in node.expressions]
    marks = _ITEM_FUNCTIONS[name].format(*(f"__arg{i}" for i in range(len(args))))
    spelled = sqlglot.parse_one(marks, read="spark")
    for column in list(spelled.find_all(exp.Column)):
        if column.name.startswith("__arg"):
            column.replace(args[int(column.name[5:])].copy())
    return spelled


SPARK_RULES: tuple[Rule, ...] = (
    drop_materialized,
    item_functions,
    list_functions,
    time_zones,
    md5_buckets,
)


def to_spark(sql: str, params: list[Any] | None = None) -> str:
    """The compiler's SQL (DuckDB spelling, ``$n`` values) as one Spark SQL text."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    tree = tree.transform(inline_params(list(params or [])))
    for rule in (*SPARK_RULES, intervals):
        tree = tree.transform(rule)
    return tree.sql(dialect="spark")

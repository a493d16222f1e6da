"""compiler/dialects.py: each rewrite rule, text in / text out, and the values it inlines."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlglot

from segmentation.compiler import dialects
from segmentation.errors import UnsupportedError

# (rule, DuckDB SQL in, Spark SQL out)
RULES = [
    (
        dialects.drop_materialized,
        "WITH a AS MATERIALIZED (SELECT 1 AS x) SELECT x FROM a",
        "WITH a AS (SELECT 1 AS x) SELECT x FROM a",
    ),
    (
        dialects.list_functions,
        "SELECT list_has_any(xs, ys) FROM t",
        "SELECT ARRAYS_OVERLAP(xs, ys) FROM t",
    ),
    (
        dialects.list_functions,
        "SELECT list_has_all(xs, ys) FROM t",
        "SELECT SIZE(ARRAY_EXCEPT(ys, xs)) = 0 FROM t",
    ),
    (
        dialects.list_functions,
        "SELECT list_intersect(xs, ys) FROM t",
        "SELECT ARRAY_INTERSECT(xs, ys) FROM t",
    ),
    (
        dialects.list_functions,
        "SELECT list_has_all(list_intersect(xs, ys), zs) FROM t",
        "SELECT SIZE(ARRAY_EXCEPT(zs, ARRAY_INTERSECT(xs, ys))) = 0 FROM t",
    ),
    (
        dialects.list_functions,
        "SELECT array_length(xs) > 2 FROM t",
        "SELECT CASE WHEN xs IS NULL THEN NULL ELSE SIZE(xs) END > 2 FROM t",
    ),
    (
        dialects.item_functions,
        "SELECT list_extract(xs, 1), map_extract_value(m, 'k') FROM t",
        "SELECT TRY_ELEMENT_AT(xs, 1), TRY_ELEMENT_AT(m, 'k') FROM t",
    ),
    (
        dialects.item_functions,
        "SELECT list_slice(xs, 1, 5), cardinality(m) FROM t",
        "SELECT SLICE(xs, 1, 5 - 1 + 1), SIZE(m) FROM t",
    ),
    (
        dialects.item_functions,
        "SELECT list_sum(list_transform(xs, lambda _li: list_extract(_li.ys, 1))) FROM t",
        "SELECT AGGREGATE(TRANSFORM(xs, _li -> TRY_ELEMENT_AT(_li.ys, 1)), CAST(0 AS DOUBLE), "
        "(_acc, _x) -> _acc + COALESCE(_x, 0)) FROM t",
    ),
    (
        dialects.item_functions,
        "SELECT list_avg(xs) FROM t",
        "SELECT AGGREGATE(FILTER(xs, _x -> NOT _x IS NULL), "
        "STRUCT(CAST(0 AS DOUBLE) AS s, 0 AS n), "
        "(_acc, _x) -> STRUCT(_acc.s + _x AS s, _acc.n + 1 AS n), "
        "_acc -> IF(_acc.n = 0, NULL, _acc.s / _acc.n)) FROM t",
    ),
    (
        dialects.intervals,
        "SELECT t - to_days(CAST(7 AS INTEGER)) FROM e",
        "SELECT t - INTERVAL '7' DAY FROM e",
    ),
    (
        dialects.intervals,
        "SELECT t + to_months(2), t + to_years(10), t + to_milliseconds(250) FROM e",
        "SELECT t + INTERVAL '2' MONTH, t + INTERVAL '10' YEAR, t + INTERVAL '0.25' SECOND FROM e",
    ),
    (
        dialects.time_zones,
        "SELECT timezone('America/New_York', timezone('UTC', t)) FROM e",
        "SELECT CONVERT_TIMEZONE('UTC', 'America/New_York', t) FROM e",
    ),
    (
        dialects.time_zones,
        "SELECT timezone('America/New_York', t) FROM e",
        "SELECT CONVERT_TIMEZONE(CURRENT_TIMEZONE(), 'America/New_York', "
        "CAST(t AS TIMESTAMP_NTZ)) FROM e",
    ),
    (
        dialects.md5_buckets,
        "SELECT CAST(('0x' || substr(md5(profile_id), 1, 8)) AS UBIGINT) % 100 FROM p",
        "SELECT CAST(CONV(SUBSTRING(MD5(profile_id), 1, 8), 16, 10) AS BIGINT) % 100 FROM p",
    ),
]


@pytest.mark.parametrize(
    "rule,duck,spark", RULES, ids=[f"{r.__name__}-{i}" for i, (r, _, _) in enumerate(RULES)]
)
def test_rule(rule, duck, spark):
    tree = sqlglot.parse_one(duck, read="duckdb").transform(rule)
    assert tree.sql(dialect="spark") == spark


def test_rules_leave_other_nodes_alone():
    sql = "SELECT CAST(x AS UBIGINT), timezone_hour(t), upper(s) FROM t"
    tree = sqlglot.parse_one(sql, read="duckdb")
    for rule in (*dialects.SPARK_RULES, dialects.intervals):
        tree = tree.transform(rule)
    assert tree.sql(dialect="duckdb") == sqlglot.parse_one(sql, read="duckdb").sql("duckdb")


INLINED = [
    # Spark reads backslash escapes in strings: quotes and backslashes are escaped so
    ("CAST($1 AS VARCHAR)", ["O'Brien; --"], "CAST('O\\'Brien; --' AS STRING)"),
    ("CAST($1 AS VARCHAR)", ["a\\b"], "CAST('a\\\\b' AS STRING)"),
    ("CAST($1 AS BIGINT)", [-5], "CAST(-5 AS BIGINT)"),
    ("CAST($1 AS DOUBLE)", [1.5e-07], "CAST(1.5e-07 AS DOUBLE)"),
    ("CAST($1 AS BOOLEAN)", [True], "CAST(TRUE AS BOOLEAN)"),
    ("CAST($1 AS DATE)", [dt.date(2024, 2, 29)], "CAST('2024-02-29' AS DATE)"),
    # naive UTC -> TIMESTAMP_NTZ: no session zone can shift it
    (
        "CAST($1 AS TIMESTAMP)",
        [dt.datetime(2024, 6, 1, 2, 30)],
        "CAST('2024-06-01 02:30:00' AS TIMESTAMP_NTZ)",
    ),
    # an instant keeps its offset
    (
        "CAST($1 AS TIMESTAMPTZ)",
        [dt.datetime(2024, 6, 1, 2, 30, tzinfo=dt.UTC)],
        "CAST('2024-06-01 02:30:00+00:00' AS TIMESTAMP)",
    ),
    ("CAST($1 AS VARCHAR[])", [["a", "b"]], "CAST(ARRAY('a', 'b') AS ARRAY<STRING>)"),
    ("$2 + $1", [1, 2], "2 + 1"),
]


@pytest.mark.parametrize("sql,params,spark", INLINED, ids=range(len(INLINED)))
def test_values_become_typed_literals(sql, params, spark):
    assert dialects.to_spark(f"SELECT {sql}", params) == f"SELECT {spark}"


def test_unsupported_values_and_computed_intervals_are_refused():
    with pytest.raises(UnsupportedError, match="bytes"):
        dialects.to_spark("SELECT $1", [b"x"])
    with pytest.raises(UnsupportedError, match="computed amount"):
        dialects.to_spark("SELECT t + to_days(n) FROM e")

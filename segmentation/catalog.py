"""The field catalog: what columns profiles and events have, and what is in them.

It drives the builder's dropdowns and field search, so it is computed once per
load (``refresh_catalog``) and read cheaply afterwards (``load_catalog``). On
tables over ``EXACT_LIMIT`` rows distinct counts use ``approx_count_distinct``
and top values come from a Bernoulli sample scaled up to the table; such rows
are flagged ``approximate``. Event types are always counted exactly, and up to
``MAX_EVENT_TYPES`` of them are kept, since they fill a dropdown.
"""

# SQL text here carries identifiers (through quote_ident, after checking they exist) and
# our own constants only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal

import duckdb
from pydantic import BaseModel

from segmentation.compiler.schema import kind_of as compiler_kind
from segmentation.store import Database, quote_ident

EXACT_LIMIT = 100_000
SAMPLE_ROWS = 200_000
TOP_N = 10
MAX_EVENT_TYPES = 500
LOW_CARDINALITY = 20

Kind = Literal["text", "number", "boolean", "date", "timestamp", "list", "other"]
_SOURCES = (("profiles", "profile"), ("events", "event"))


class FieldInfo(BaseModel):
    name: str
    source: Literal["profile", "event"]
    type: str
    kind: Kind
    null_share: float
    distinct_count: int | None
    approximate: bool
    min: str | None
    max: str | None
    top_values: list[tuple[str, int]]


def kind_of(duck_type: str) -> Kind:
    """The user-facing kind of a DuckDB type, from the compiler's one classification."""
    kind = compiler_kind(duck_type)
    return _USER_KIND.get(kind, kind)


_USER_KIND = {"bool": "boolean", "timestamptz": "timestamp", "struct": "other", "map": "other"}


# --- writing -------------------------------------------------------------------------


def refresh_catalog(db: Database, tx: duckdb.DuckDBPyConnection | None = None) -> None:
    """Recompute the catalog rows of both data tables and store them in one transaction
    (``tx``, the load's own, when given: this thread's reads then see the new tables)."""
    rows: list[tuple] = []
    now = datetime.now(UTC).replace(tzinfo=None)
    for table, source in _SOURCES:
        if db.table_exists(table):
            rows += [(*row, now) for row in _table_rows(db, table, source)]
    with db.write(within=tx) as con:
        con.execute("DELETE FROM catalog")
        if rows:
            con.executemany("INSERT INTO catalog VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _table_rows(db: Database, table: str, source: str) -> list[tuple]:
    columns = db.columns(table)
    t = quote_ident(table)
    total = db.scalar(f"SELECT count(*) FROM {t}") or 0
    approximate = total > EXACT_LIMIT
    stats = _column_stats(db, t, columns, approximate) if total else {}
    top = _top_values(db, t, columns, stats, total, approximate) if total else {}
    rows = []
    for name, duck_type in columns:
        non_null, distinct, low, high = stats.get(name, (0, None, None, None))
        exact = source == "event" and name == "eventType"
        if exact and name in top:
            distinct = len(top[name])
        rows.append(
            (
                name,
                source,
                duck_type,
                (1 - non_null / total) if total else 0.0,
                distinct,
                approximate and not exact,
                low,
                high,
                json.dumps(top.get(name, [])),
            )
        )
    return rows


def _column_stats(
    db: Database, t: str, columns: list[tuple[str, str]], approximate: bool
) -> dict[str, tuple]:
    """One aggregate scan: non-null count, distinct count, min and max per column."""
    parts = []
    for name, duck_type in columns:
        c = quote_ident(name)
        kind = kind_of(duck_type)
        parts.append(f"count({c})")
        if kind in ("list", "other"):
            parts += ["NULL", "NULL", "NULL"]
            continue
        parts.append(f"approx_count_distinct({c})" if approximate else f"count(DISTINCT {c})")
        parts += [f"CAST(min({c}) AS VARCHAR)", f"CAST(max({c}) AS VARCHAR)"]
    found = db.one(f"SELECT {', '.join(parts)} FROM {t}")
    stats = {name: tuple(found[4 * i : 4 * i + 4]) for i, (name, _) in enumerate(columns)}
    for name, duck_type in columns:
        if kind_of(duck_type) == "list":
            c = quote_ident(name)
            func = "approx_count_distinct(e)" if approximate else "count(DISTINCT e)"
            distinct = db.scalar(f"SELECT {func} FROM (SELECT unnest({c}) AS e FROM {t})")
            stats[name] = (stats[name][0], distinct, None, None)
    return stats


def _top_values(
    db: Database,
    t: str,
    columns: list[tuple[str, str]],
    stats: dict[str, tuple],
    total: int,
    approximate: bool,
) -> dict[str, list[tuple[str, int]]]:
    """Most frequent values of text, boolean, list and low-cardinality columns."""
    wanted = []
    for name, duck_type in columns:
        kind = kind_of(duck_type)
        distinct = stats[name][1]
        # Ids and timestamps repeat little: their top values would say nothing.
        if name == "profile_id" or kind in ("timestamp", "other") or not stats[name][0]:
            continue
        if kind in ("text", "boolean", "list") or (
            distinct is not None and distinct <= LOW_CARDINALITY
        ):
            wanted.append((name, kind))
    result: dict[str, list[tuple[str, int]]] = {}
    if not wanted:
        return result
    # Event types are counted exactly on the table; the rest, on a big table, on a sample.
    sampled = approximate and any(name != "eventType" for name, _ in wanted)
    percent = min(100.0, 100.0 * SAMPLE_ROWS / total)
    prefix = ""
    if sampled:
        cols = ", ".join(quote_ident(n) for n, _ in wanted if n != "eventType")
        prefix = (
            f"WITH __sample AS MATERIALIZED (SELECT {cols} FROM {t} "
            f"USING SAMPLE {percent:.6f} PERCENT (bernoulli)) "
        )
    branches = []
    for i, (name, kind) in enumerate(wanted):
        c = quote_ident(name)
        value = f"CAST(unnest({c}) AS VARCHAR)" if kind == "list" else f"CAST({c} AS VARCHAR)"
        frm = "__sample" if sampled and name != "eventType" else t
        branches.append(
            f"SELECT {i} AS i, v, count(*) AS n FROM (SELECT {value} AS v FROM {frm}) "
            "WHERE v IS NOT NULL GROUP BY v"
        )
    limits = " ".join(
        f"WHEN {i} THEN {MAX_EVENT_TYPES}" for i, (n, _) in enumerate(wanted) if n == "eventType"
    )
    limit = f"CASE i {limits} ELSE {TOP_N} END" if limits else str(TOP_N)
    sql = (
        f"{prefix}SELECT i, v, n FROM (SELECT *, row_number() OVER "
        f"(PARTITION BY i ORDER BY n DESC, v) AS rk FROM ({' UNION ALL '.join(branches)})) "
        f"WHERE rk <= {limit} ORDER BY i, rk"
    )
    for i, v, n in db.rows(sql):
        name = wanted[i][0]
        # Sample counts scaled to the table: an estimate, flagged approximate.
        factor = 100.0 / percent if sampled and name != "eventType" else 1.0
        result.setdefault(name, []).append((v, round(n * factor)))
    return result


# --- reading -------------------------------------------------------------------------


def load_catalog(db: Database) -> list[FieldInfo]:
    """Every catalogued field, profile fields first, role columns before the rest."""
    rows = db.rows(
        "SELECT name, source, type, null_share, distinct_count, approximate, min_value, "
        "max_value, top_values FROM catalog ORDER BY source = 'event', "
        "CASE name WHEN 'profile_id' THEN 0 WHEN 'eventType' THEN 1 "
        "WHEN 'timestamp' THEN 2 ELSE 3 END, lower(name), name"
    )
    return [
        FieldInfo(
            name=name,
            source=source,
            type=duck_type,
            kind=kind_of(duck_type),
            null_share=null_share or 0.0,
            distinct_count=distinct,
            approximate=bool(approximate),
            min=low,
            max=high,
            top_values=[(str(v), int(n)) for v, n in json.loads(top or "[]")],
        )
        for name, source, duck_type, null_share, distinct, approximate, low, high, top in rows
    ]


def event_types(db: Database) -> list[tuple[str, int]]:
    """(event type, count) by count descending, for the builder's dropdowns."""
    top = db.scalar("SELECT top_values FROM catalog WHERE source = 'event' AND name = 'eventType'")
    if top is not None:
        return [(str(v), int(n)) for v, n in json.loads(top)]
    if not db.table_exists("events"):
        return []
    return [
        (str(v), int(n))
        for v, n in db.rows(
            'SELECT "eventType", count(*) FROM events WHERE "eventType" IS NOT NULL '
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        )
    ]

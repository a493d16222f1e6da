"""Preview: the qualified profiles, one page at a time, in a stable order.

A segment is evaluated once per (query, as-of, data version, engine): the engine
writes its ids once, and they are kept,
numbered in profile id order, in a temporary table on a connection of the
preview cache's own. Counting is then free, and any page reads only its slice
of the numbered ids (DuckDB skips the rest by zone maps), so the hundredth
page costs what the first does.
"""

# ruff: noqa: S608 - SQL text holds only checked, quoted identifiers; values are bound

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import duckdb
import pandas as pd
from pydantic import BaseModel, ConfigDict

from segmentation.engines.base import Engine
from segmentation.errors import InvalidInputError
from segmentation.store import Database, quote_ident

MAX_PAGE = 10_000
CACHED_SEGMENTS = 8


class PreviewPage(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    total: int
    rows: pd.DataFrame
    offset: int
    limit: int
    next_offset: int | None
    columns: list[str]
    engine: str = "duckdb"  # who evaluated the segment


class PreviewCache:
    """Numbered id lists of recently previewed segments, least recently used out."""

    def __init__(self, db: Database, size: int = CACHED_SEGMENTS):
        self._db = db
        self._size = size
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._tables: OrderedDict[str, tuple[str, int]] = OrderedDict()

    def page(
        self,
        engine: Engine,
        sql: str,
        params: list,
        version: str,
        columns: list[str],
        limit: int,
        offset: int,
    ) -> tuple[int, pd.DataFrame]:
        with self._lock:
            con = self._connection()
            table, total = self._ensure(engine, con, sql, params, version)
            select = ", ".join(f"p.{quote_ident(c)}" for c in columns)
            rows = con.execute(
                f"WITH page AS (SELECT rn, profile_id FROM {table} WHERE rn > ? AND rn <= ?) "
                f"SELECT {select} FROM page JOIN profiles p USING (profile_id) ORDER BY page.rn",
                [offset, offset + limit],
            ).df()
        return total, rows

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = self._db.new_connection()
        return self._con

    def _ensure(self, engine: Engine, con, sql: str, params: list, version: str):
        key = hashlib.sha256(repr((sql, params, version, engine.name)).encode()).hexdigest()[:16]
        if key in self._tables:
            self._tables.move_to_end(key)
            return self._tables[key]
        table = f"preview_{key}"
        engine.ids_into(sql, params, con, table, numbered=True)
        total = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        self._tables[key] = (table, total)
        while len(self._tables) > self._size:
            _, (old_table, _) = self._tables.popitem(last=False)
            con.execute(f"DROP TABLE IF EXISTS {old_table}")
        return table, total


def preview_page(
    engine: Engine,
    cache: PreviewCache,
    sql: str,
    params: list,
    *,
    version: str,
    columns: list[str] | None,
    limit: int,
    offset: int,
) -> PreviewPage:
    """Page ``offset .. offset + limit`` of the profiles ``sql`` selects, by profile id."""
    if limit < 1 or limit > MAX_PAGE:
        raise InvalidInputError(f"The page size must be between 1 and {MAX_PAGE}; got {limit}.")
    if offset < 0:
        raise InvalidInputError(f"The offset must be 0 or more; got {offset}.")
    types = engine.schema().profile_columns or {}
    chosen = _check_columns(columns, list(types))
    total, rows = cache.page(engine, sql, params, version, chosen, limit, offset)
    for name in chosen:  # pandas reads DATE as a timestamp; show it as the date it is
        if types[name] == "DATE" and len(rows):
            rows[name] = rows[name].dt.date
    next_offset = offset + limit if offset + limit < total else None
    return PreviewPage(
        total=total,
        rows=rows,
        offset=offset,
        limit=limit,
        next_offset=next_offset,
        columns=chosen,
        engine=engine.name,
    )


def _check_columns(columns: list[str] | None, known: list[str]) -> list[str]:
    if not columns:
        return known
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise InvalidInputError(
            f"Unknown profile column(s): {', '.join(unknown)}. Known: {', '.join(known)}."
        )
    return ["profile_id", *[c for c in columns if c != "profile_id"]]

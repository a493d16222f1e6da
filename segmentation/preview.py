"""Preview: the qualified profiles, one page at a time, in a stable order.

A segment is evaluated once per (query, as-of, data version, engine): the engine
writes its ids once, and they are kept, numbered in profile id order, in a table
of an in-memory database attached to the workspace's DuckDB instance. Every
connection of that instance sees it, so each thread reads pages on its own
connection and pages of one or many segments are read at the same time; only
the first evaluation of a segment is waited for, by those asking for that one.

The profiles table is not stored in id order, so fetching the rows of a page
reads all of it. Rows are therefore fetched a block of ``BLOCK`` numbers at a
time and the blocks kept (least recently used out): paging through a segment
reads the table once per block, not once per page. Blocks are keyed like the
ids, on the data version, so a page always shows the data as it is. What a
caller renders of a block's rows (the API's JSON) is kept with the block too, so
a page is a slice of it, and the page's DataFrame is made only if it is read.
"""

# ruff: noqa: S608 - SQL text holds only checked, quoted identifiers; values are bound

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import duckdb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, PrivateAttr

from segmentation.engines.base import Engine
from segmentation.errors import InvalidInputError
from segmentation.store import Database, quote_ident

MAX_PAGE = 10_000
CACHED_SEGMENTS = 8
BLOCK = 1_000  # profile rows fetched at once: 20 pages of 50
CACHED_BLOCKS = 64


# rows (profile columns) and their DuckDB types -> one item per row (e.g. its JSON text)
Render = Callable[[pd.DataFrame, dict[str, str]], list[str]]


@dataclass
class _Block:
    """Numbered profile rows (every column, then ``rn``) and what was rendered of them."""

    rows: pd.DataFrame
    numbers: np.ndarray = field(init=False)
    rendered: dict[Render, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.numbers = self.rows["rn"].to_numpy()

    def render(self, render: Render, types: dict[str, str]) -> list[str]:
        done = self.rendered.get(render)
        if done is None:  # two threads may both make it: the same items, one kept
            done = self.rendered[render] = render(self.rows.iloc[:, :-1], types)
        return done


@dataclass
class _Slice:
    """Rows ``start .. stop`` of ``blocks`` put end to end."""

    blocks: list[_Block]
    start: int
    stop: int

    def frame(self) -> pd.DataFrame:
        frames = [b.rows for b in self.blocks]
        whole = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        return whole.iloc[self.start : self.stop]

    def render(self, render: Render, types: dict[str, str]) -> list[str]:
        if len(self.blocks) == 1:
            return self.blocks[0].render(render, types)[self.start : self.stop]
        items = [item for b in self.blocks for item in b.render(render, types)]
        return items[self.start : self.stop]


class PreviewPage(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    total: int
    offset: int
    limit: int
    next_offset: int | None
    columns: list[str]
    engine: str = "duckdb"  # who evaluated the segment
    _part: _Slice = PrivateAttr()
    _types: dict[str, str] = PrivateAttr()  # every profile column's DuckDB type

    @cached_property
    def rows(self) -> pd.DataFrame:
        """The page's rows, ``columns`` only, made when first read."""
        frame = self._part.frame()
        every = self.columns == list(self._types)
        picked = slice(0, -1) if every else frame.columns.get_indexer(self.columns)
        return frame.iloc[:, picked].reset_index(drop=True)

    def rendered(self, render: Render) -> list[str]:
        """``render(rows, types)`` of the page's rows, one item per row. With every column
        shown, each block of rows is rendered once and kept with it (a client paging
        through a segment pays for each row once, not once per page); ``render`` must
        be one function, the same every time, for that."""
        if self.columns == list(self._types):
            return self._part.render(render, self._types)
        return render(self.rows, {c: self._types[c] for c in self.columns})


@dataclass
class _Segment:
    """One evaluated segment: its numbered ids' table, filled once under ``lock``."""

    key: str
    table: str
    total: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class PreviewCache:
    """Numbered id lists of recently previewed segments and blocks of their rows."""

    def __init__(self, db: Database, size: int = CACHED_SEGMENTS, blocks: int = CACHED_BLOCKS):
        self._db = db
        self._size = size
        self._max_blocks = blocks
        self._lock = threading.Lock()  # held only to look up and evict, never over a query
        self._segments: OrderedDict[str, _Segment] = OrderedDict()
        self._blocks: OrderedDict[tuple[str, int], _Block] = OrderedDict()
        # one per cache: two services over one workspace keep their own ids
        self._catalog = f"preview_cache_{uuid.uuid4().hex[:12]}"
        self._attached = False

    def page(
        self,
        engine: Engine,
        sql: str,
        params: list,
        version: str,
        types: dict[str, str],
        limit: int,
        offset: int,
    ) -> tuple[int, _Slice]:
        """(total, rows ``offset + 1 .. offset + limit``): every column of ``types`` (all
        the profiles' columns: blocks serve any choice of them), then their number ``rn``."""
        segment = self._segment(engine, sql, params, version)
        try:
            return segment.total, self._rows(segment, types, limit, offset)
        except duckdb.CatalogException:
            if self._is_cached(segment):
                raise
            # evicted by another thread between lookup and read: evaluate it again
            segment = self._segment(engine, sql, params, version)
            return segment.total, self._rows(segment, types, limit, offset)

    # --- the numbered ids ----------------------------------------------------------

    def _segment(self, engine: Engine, sql: str, params: list, version: str) -> _Segment:
        key = hashlib.sha256(repr((sql, params, version, engine.name)).encode()).hexdigest()[:16]
        with self._lock:
            known = self._segments.get(key)
            if known is not None and known.total is not None:
                self._segments.move_to_end(key)
                return known
        con = self._db.connection()  # the rest needs the file: here, before changing anything
        with self._lock:
            self._attach(con)
            segment = self._segments.get(key)
            if segment is None:
                segment = _Segment(key, f"{self._catalog}.preview_{key}")
                self._segments[key] = segment
            self._segments.move_to_end(key)
            evicted = self._evict()
        for old in evicted:
            con.execute(f"DROP TABLE IF EXISTS {old.table}")
        with segment.lock:
            if segment.total is None:
                try:
                    segment.total = self._evaluate(engine, sql, params, segment)
                except BaseException:
                    with self._lock:
                        self._segments.pop(key, None)
                    raise
        return segment

    def _attach(self, con: duckdb.DuckDBPyConnection) -> None:
        if not self._attached:
            con.execute(f"ATTACH ':memory:' AS {self._catalog}")
            self._attached = True

    def _evaluate(self, engine: Engine, sql: str, params: list, segment: _Segment) -> int:
        """The engine writes the ids to a temporary table of this thread's connection;
        they are copied to the shared in-memory database, where every thread sees them."""
        con = self._db.connection()
        temp = f"preview_{segment.key}"
        try:
            engine.ids_into(sql, params, con, temp, numbered=True)
            con.execute(
                f"CREATE OR REPLACE TABLE {segment.table} AS SELECT * FROM temp.main.{temp}"
            )
        finally:
            con.execute(f"DROP TABLE IF EXISTS temp.main.{temp}")
        return con.execute(f"SELECT count(*) FROM {segment.table}").fetchone()[0]

    def _evict(self) -> list[_Segment]:
        """Segments beyond the cache's size, least recently used first (lock held); one
        still being evaluated stays (its table does not exist yet to be dropped)."""
        done = [s for s in self._segments.values() if s.total is not None]
        evicted = done[: max(0, len(self._segments) - self._size)]
        for old in evicted:
            del self._segments[old.key]
            for block in [b for b in self._blocks if b[0] == old.key]:
                del self._blocks[block]
        return evicted

    def _is_cached(self, segment: _Segment) -> bool:
        with self._lock:
            return self._segments.get(segment.key) is segment

    # --- the rows ------------------------------------------------------------------

    def _rows(self, segment: _Segment, types: dict[str, str], limit: int, offset: int) -> _Slice:
        """Rows numbered ``offset + 1 .. offset + limit`` (a profile whose id has no row in
        the profiles table, an event-only id, has no row here either)."""
        end = min(offset + limit, segment.total)
        if offset >= end:
            return _Slice([_Block(self._fetch(segment, types, offset, offset))], 0, 0)
        first, last = offset // BLOCK, (end - 1) // BLOCK
        blocks = self._cached_blocks(segment, first, last)
        missing = [k for k, block in blocks.items() if block is None]
        if missing:
            low, high = missing[0] * BLOCK, min((missing[-1] + 1) * BLOCK, segment.total)
            fetched = self._fetch(segment, types, low, high)
            blocks.update(self._keep_blocks(segment, fetched, missing))
        kept = list(blocks.values())
        numbers = kept[0].numbers if first == last else np.concatenate([b.numbers for b in kept])
        start, stop = numbers.searchsorted(offset, "right"), numbers.searchsorted(end, "right")
        return _Slice(kept, int(start), int(stop))

    def _fetch(self, segment: _Segment, types: dict[str, str], low: int, high: int):
        """Profile rows numbered ``low + 1 .. high``, on this thread's own connection."""
        select = ", ".join(f"p.{quote_ident(c)}" for c in types)
        rows = (
            self._db.connection()
            .execute(
                f"WITH page AS (SELECT rn, profile_id FROM {segment.table} "
                "WHERE rn > ? AND rn <= ?) "
                f"SELECT {select}, page.rn FROM page JOIN profiles p USING (profile_id) "
                "ORDER BY page.rn",
                [low, high],
            )
            .df()
        )
        for name, duck_type in types.items():  # pandas reads DATE as a timestamp: a date
            if duck_type == "DATE" and len(rows):
                rows[name] = rows[name].dt.date
        return rows

    def _cached_blocks(self, segment: _Segment, first: int, last: int) -> dict[int, _Block | None]:
        with self._lock:
            found = {}
            for k in range(first, last + 1):
                found[k] = self._blocks.get((segment.key, k))
                if found[k] is not None:
                    self._blocks.move_to_end((segment.key, k))
            return found

    def _keep_blocks(
        self, segment: _Segment, fetched: pd.DataFrame, numbers: list[int]
    ) -> dict[int, _Block]:
        blocks = {}
        block_of = (fetched["rn"] - 1) // BLOCK
        for k in numbers:
            blocks[k] = _Block(fetched[block_of == k].reset_index(drop=True))
        with self._lock:
            if self._segments.get(segment.key) is segment:  # not evicted meanwhile
                for k, block in blocks.items():
                    self._blocks[(segment.key, k)] = block
                while len(self._blocks) > self._max_blocks:
                    self._blocks.popitem(last=False)
        return blocks


def preview_page(
    engine: Engine,
    cache: PreviewCache,
    sql: str,
    params: list,
    *,
    version: str,
    types: dict[str, str],
    columns: list[str] | None,
    limit: int,
    offset: int,
) -> PreviewPage:
    """Page ``offset .. offset + limit`` of the profiles ``sql`` selects, by profile id;
    ``types``: the profiles' columns and their DuckDB types."""
    if limit < 1 or limit > MAX_PAGE:
        raise InvalidInputError(f"The page size must be between 1 and {MAX_PAGE}; got {limit}.")
    if offset < 0:
        raise InvalidInputError(f"The offset must be 0 or more; got {offset}.")
    chosen = _check_columns(columns, list(types))
    total, part = cache.page(engine, sql, params, version, types, limit, offset)
    next_offset = offset + limit if offset + limit < total else None
    page = PreviewPage(
        total=total,
        offset=offset,
        limit=limit,
        next_offset=next_offset,
        columns=chosen,
        engine=engine.name,
    )
    page._part, page._types = part, types
    return page


def _check_columns(columns: list[str] | None, known: list[str]) -> list[str]:
    if not columns:
        return known
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise InvalidInputError(
            f"Unknown profile column(s): {', '.join(unknown)}. Known: {', '.join(known)}."
        )
    return ["profile_id", *[c for c in columns if c != "profile_id"]]

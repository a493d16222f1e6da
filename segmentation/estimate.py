"""Size estimates with honest intervals, breakdowns and overlaps.

Small workspaces are counted exactly. Above a threshold, estimates read sample
tables holding the profiles whose md5 bucket (``compiler.sqlparts.bucket_sql``,
the same on every engine) falls in the first ``slices * k`` of
``SAMPLE_BUCKETS`` buckets, and the events of those same profiles, stored in
slice order (Spark reads the same buckets from the full tables). One estimate
reads one slice of about ``TARGET_SAMPLE`` profiles (the others are skipped by
DuckDB's zone maps). The slice is picked by a hash of the definition's PQL, so the same definition
always gets the same estimate, while different definitions get independent
samples: with one shared sample, every segment would inherit the same luck of
the draw and the intervals would miss together. Each slice is a simple random
sample of profiles, so a Wilson score interval with the finite-population
correction is honest.
"""

# ruff: noqa: S608 - SQL text holds only checked, quoted identifiers; values are bound

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
from pydantic import BaseModel

from segmentation.bins import Bins, bins
from segmentation.catalog import kind_of
from segmentation.compiler.sqlparts import bucket_sql
from segmentation.errors import InvalidInputError
from segmentation.store import Database, quote_ident

if TYPE_CHECKING:
    from segmentation.engines.base import Engine

SAMPLE_BUCKETS = 10_000
EXACT_THRESHOLD = 250_000
TARGET_SAMPLE = 100_000
Z95 = 1.959963984540054
SAMPLE_SLICES = 16
SAMPLE_SHARE = 0.25
SAMPLE_TABLES = ("sample_profiles", "sample_events")
# Compiles the definition with CompileOptions updates ({} for the full data, or an
# engine's ``slice_options``) into (SQL, params).
CompileFn = Callable[[dict[str, Any]], tuple[str, list]]


class Estimate(BaseModel):
    """AEP's estimate fields, in snake_case, plus ``exact``."""

    estimated_size: int
    low: int
    high: int
    standard_error: float
    confidence: float = 0.95
    profiles_read: int
    profiles_matched: int
    total_profiles: int
    sample_size: int
    exact: bool
    engine: str = "duckdb"  # who evaluated it


class SampleInfo(BaseModel):
    buckets: int | None  # buckets per slice; None when estimates are exact
    slices: int = 0
    profiles: list[int] = []  # profiles in each slice
    total_profiles: int

    @property
    def sampled(self) -> bool:
        return self.buckets is not None


def slice_tables(index: int) -> tuple[str, str]:
    return (f"sample_profiles_{index}", f"sample_events_{index}")


def pick_slice(key: str, info: SampleInfo) -> int:
    """A stable slice for a definition (its canonical PQL): same text, same sample."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % max(1, info.slices)


def sample_plan(
    total: int, threshold: int = EXACT_THRESHOLD, target: int = TARGET_SAMPLE
) -> tuple[int, int] | None:
    """(buckets per slice, slices) for ``total`` profiles; None: count exactly.
    Every engine samples by this plan, so both pick the same profiles."""
    if total <= threshold:
        return None
    buckets = max(1, math.ceil(target / total * SAMPLE_BUCKETS))
    # at most a quarter of the data is copied into the samples
    slices = max(1, min(SAMPLE_SLICES, int(SAMPLE_SHARE * SAMPLE_BUCKETS) // buckets))
    return buckets, slices


def refresh_sample(
    db: Database,
    threshold: int = EXACT_THRESHOLD,
    target: int = TARGET_SAMPLE,
    tx: duckdb.DuckDBPyConnection | None = None,
) -> SampleInfo:
    """(Re)build the sample tables after a load (in its transaction ``tx`` when given);
    none when the data is small."""
    total = db.scalar("SELECT count(*) FROM profiles") if db.table_exists("profiles") else 0
    has_events = db.table_exists("events")
    plan = sample_plan(total, threshold, target)
    with db.write(within=tx) as con:
        _drop_samples(con)
        if plan is None:
            con.execute("DELETE FROM workspace_meta WHERE key = 'sample_buckets'")
            return SampleInfo(buckets=None, total_profiles=total)
        buckets, slices = plan
        bucket = bucket_sql("profile_id", "$1")
        for table, source in zip(SAMPLE_TABLES, ("profiles", "events"), strict=True):
            if source == "events" and not has_events:
                continue
            con.execute(
                f"CREATE TABLE {table} AS SELECT * EXCLUDE (_b), _b // $2 AS _slice FROM "
                f"(SELECT *, {bucket} AS _b FROM {source}) WHERE _b < $2 * $3 ORDER BY _slice",
                [SAMPLE_BUCKETS, buckets, slices],
            )
        for index in range(slices):
            for view, table in zip(slice_tables(index), SAMPLE_TABLES, strict=True):
                if table == "sample_events" and not has_events:
                    continue
                con.execute(
                    f"CREATE VIEW {view} AS SELECT * EXCLUDE (_slice) FROM {table} "
                    f"WHERE _slice = {index}"
                )
        db.set_meta("sample_buckets", f"{buckets}:{slices}", con)
    return sample_info(db)


def _drop_samples(con) -> None:
    views = con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal "
        "AND regexp_matches(view_name, '^sample_(profiles|events)_[0-9]+$')"
    ).fetchall()
    for (view,) in views:
        con.execute(f"DROP VIEW IF EXISTS {view}")
    for table in SAMPLE_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def sample_info(db: Database) -> SampleInfo:
    total = db.scalar("SELECT count(*) FROM profiles") if db.table_exists("profiles") else 0
    meta = db.get_meta("sample_buckets")
    if meta is None or not db.table_exists("sample_profiles"):
        return SampleInfo(buckets=None, total_profiles=total)
    buckets, slices = (int(x) for x in meta.split(":"))
    counts = dict(db.rows("SELECT _slice, count(*) FROM sample_profiles GROUP BY 1"))
    return SampleInfo(
        buckets=buckets,
        slices=slices,
        profiles=[int(counts.get(i, 0)) for i in range(slices)],
        total_profiles=total,
    )


def wilson_interval(matched: int, read: int, total: int, z: float = Z95):
    """Interval for a population count from a sample of ``read`` of ``total``."""
    if read == 0 or total == 0:
        return 0.0, 0, 0
    p = matched / read
    fpc = (total - read) / (total - 1) if total > 1 else 0.0
    if fpc <= 0:
        return 0.0, matched, matched
    n = read / fpc  # the effective sample size grows as the sample nears the population
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    se = total * math.sqrt(p * (1 - p) / read * fpc)
    low = max(matched, math.floor(total * max(0.0, center - half)))
    high = min(total - (read - matched), math.ceil(total * min(1.0, center + half)))
    return se, low, high


def estimate(engine: Engine, compile_fn: CompileFn, key: str) -> Estimate:
    """Exact count, or the estimate from the slice that ``key`` (the PQL) picks."""
    info = engine.sample_info()
    if not info.sampled:
        sql, params = compile_fn({})
        count = engine.count(sql, params)
        return Estimate(
            estimated_size=count,
            low=count,
            high=count,
            standard_error=0.0,
            profiles_read=info.total_profiles,
            profiles_matched=count,
            total_profiles=info.total_profiles,
            sample_size=info.total_profiles,
            exact=True,
            engine=engine.name,
        )
    index = pick_slice(key, info)
    sql, params = compile_fn(engine.slice_options(index, info))
    matched = engine.count(sql, params)
    read, total = info.profiles[index], info.total_profiles
    se, low, high = wilson_interval(matched, read, total)
    size = round(total * matched / read) if read else 0
    return Estimate(
        estimated_size=size,
        low=min(low, size),
        high=max(high, size),
        standard_error=se,
        profiles_read=read,
        profiles_matched=matched,
        total_profiles=total,
        sample_size=read,
        exact=False,
        engine=engine.name,
    )


def breakdown(
    engine: Engine, compile_fn: CompileFn, key: str, column: str, top: int = 15
) -> pd.DataFrame:
    """Estimated size of the segment per value of a profile attribute; a number or a
    date with more than ``top`` values, per range of them, in order (``position``)."""
    types = engine.schema().profile_columns or {}
    if column not in types:
        raise InvalidInputError(f"Unknown profile column {column!r} for a breakdown.")
    info = engine.sample_info()
    updates = engine.slice_options(pick_slice(key, info), info) if info.sampled else {}
    sql, params = compile_fn(updates)
    source = quote_ident(updates.get("tables", engine.tables)[0])
    col = f"p.{quote_ident(column)}"
    members = f"FROM ({sql}) q JOIN {source} p ON p.profile_id = q.profile_id"
    ranges = _ranges(engine, members, params, col, kind_of(types[column]), top)
    value = ranges.sql if ranges else f"CAST({col} AS VARCHAR)"
    rows = engine.rows(
        f"SELECT {value} AS value, count(*) AS matched {members} GROUP BY 1 ORDER BY 2 DESC, 1",
        params,
    )
    counts = pd.DataFrame(rows, columns=["value", "matched"]).astype({"matched": "int64"})
    if ranges:
        counts = _in_order(counts, ranges)
    counts["value"] = counts["value"].fillna("(missing)")
    if len(counts) > top and not ranges:
        rest = counts.iloc[top:]["matched"].sum()
        other = pd.DataFrame({"value": ["(other)"], "matched": [rest]})
        counts = pd.concat([counts.iloc[:top], other], ignore_index=True)
    total = info.total_profiles
    read = info.profiles[pick_slice(key, info)] if info.sampled else total
    bounds = [wilson_interval(int(m), read, total) for m in counts["matched"]]
    scale = total / read if read else 1.0
    counts["estimated_size"] = (counts["matched"] * scale).round().astype("int64")
    counts["low"] = [int(b[1]) for b in bounds]
    counts["high"] = [int(b[2]) for b in bounds]
    return counts


def _ranges(
    engine: Engine, members: str, params: list[Any], col: str, kind: str, top: int
) -> Bins | None:
    if kind not in ("number", "date", "timestamp"):
        return None
    [(distinct, lo, hi)] = engine.rows(
        f"SELECT count(DISTINCT {col}), min({col}), max({col}) {members}", params
    )
    return bins(col, kind, lo, hi) if distinct > top else None


def _in_order(counts: pd.DataFrame, ranges: Bins) -> pd.DataFrame:
    """Ranges from the lowest, missing values last; ``position`` keeps that order."""
    counts = counts.sort_values("value", na_position="last", ignore_index=True)
    counts["value"] = [None if pd.isna(k) else ranges.label(int(k)) for k in counts["value"]]
    counts["position"] = range(len(counts))
    return counts


def overlap(engine: Engine, compile_fns: dict[str, CompileFn]) -> pd.DataFrame:
    """Pairwise intersections and Jaccard indices of several segments.

    All segments are read on the same slice (an intersection needs the same
    profiles on both sides); returns one row per ordered pair of labels.
    """
    info = engine.sample_info()
    updates = engine.slice_options(0, info) if info.sampled else {}
    scale = info.total_profiles / info.profiles[0] if info.sampled and info.profiles[0] else 1.0
    con = engine.db.connection()
    labels = list(compile_fns)
    con.execute("CREATE OR REPLACE TEMP TABLE overlap_members (k INTEGER, profile_id VARCHAR)")
    try:
        for i, label in enumerate(labels):
            sql, params = compile_fns[label](updates)
            engine.ids_into(sql, params, con, "overlap_one")
            con.execute(f"INSERT INTO overlap_members SELECT {i}, profile_id FROM overlap_one")
        pairs = con.execute(
            "SELECT a.k, b.k, count(*) FROM overlap_members a "
            "JOIN overlap_members b USING (profile_id) GROUP BY 1, 2"
        ).fetchall()
    finally:
        con.execute("DROP TABLE IF EXISTS overlap_members")
        con.execute("DROP TABLE IF EXISTS overlap_one")
    counts = {(int(a), int(b)): int(n) for a, b, n in pairs}
    rows = []
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            both, size_a, size_b = (
                counts.get((i, j), 0),
                counts.get((i, i), 0),
                counts.get((j, j), 0),
            )
            union_size = size_a + size_b - both
            rows.append(
                {
                    "segment_a": a,
                    "segment_b": b,
                    "size_a": round(size_a * scale),
                    "size_b": round(size_b * scale),
                    "intersection": round(both * scale),
                    "jaccard": both / union_size if union_size else 0.0,
                    # what a marketer asks: how many of A are also in B
                    "share_of_a": both / size_a if size_a else 0.0,
                }
            )
    return pd.DataFrame(rows)

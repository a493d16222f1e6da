"""Size estimates with honest intervals, breakdowns and overlaps.

Small workspaces are counted exactly. Above a threshold, estimates read sample
tables holding the profiles whose ``hash(profile_id)`` falls in the first
``slices * k`` of ``SAMPLE_BUCKETS`` buckets, and the events of those same
profiles, stored in slice order. One estimate reads one slice of about
``TARGET_SAMPLE`` profiles (the others are skipped by DuckDB's zone maps). The
slice is picked by a hash of the definition's PQL, so the same definition
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

import duckdb
import pandas as pd
from pydantic import BaseModel

from segmentation.errors import InvalidInputError
from segmentation.store import Database, quote_ident

SAMPLE_BUCKETS = 10_000
EXACT_THRESHOLD = 250_000
TARGET_SAMPLE = 100_000
Z95 = 1.959963984540054
SAMPLE_SLICES = 16
SAMPLE_SHARE = 0.25
SAMPLE_TABLES = ("sample_profiles", "sample_events")
# Compiles the definition against the full tables (None) or a slice's views.
CompileFn = Callable[[tuple[str, str] | None], tuple[str, list]]


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
    with db.write(within=tx) as con:
        _drop_samples(con)
        if total <= threshold:
            con.execute("DELETE FROM workspace_meta WHERE key = 'sample_buckets'")
            return SampleInfo(buckets=None, total_profiles=total)
        buckets = max(1, math.ceil(target / total * SAMPLE_BUCKETS))
        # at most a quarter of the data is copied into the samples
        slices = max(1, min(SAMPLE_SLICES, int(SAMPLE_SHARE * SAMPLE_BUCKETS) // buckets))
        for table, source in zip(SAMPLE_TABLES, ("profiles", "events"), strict=True):
            if source == "events" and not has_events:
                continue
            con.execute(
                f"CREATE TABLE {table} AS SELECT *, (hash(profile_id) % $1) // $2 AS _slice "
                f"FROM {source} WHERE hash(profile_id) % $1 < $2 * $3 ORDER BY _slice",
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


def estimate(db: Database, compile_fn: CompileFn, key: str) -> Estimate:
    """Exact count, or the estimate from the slice that ``key`` (the PQL) picks."""
    info = sample_info(db)
    if not info.sampled:
        sql, params = compile_fn(None)
        count = db.scalar(f"SELECT count(*) FROM ({sql})", params)
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
        )
    index = pick_slice(key, info)
    sql, params = compile_fn(slice_tables(index))
    matched = db.scalar(f"SELECT count(*) FROM ({sql})", params)
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
    )


def breakdown(
    db: Database, compile_fn: CompileFn, key: str, column: str, top: int = 15
) -> pd.DataFrame:
    """Estimated size of the segment per value of a profile attribute."""
    if column not in [name for name, _ in db.columns("profiles")]:
        raise InvalidInputError(f"Unknown profile column {column!r} for a breakdown.")
    info = sample_info(db)
    tables = slice_tables(pick_slice(key, info)) if info.sampled else None
    sql, params = compile_fn(tables)
    source = tables[0] if tables else "profiles"
    counts = db.df(
        f"SELECT CAST(p.{quote_ident(column)} AS VARCHAR) AS value, count(*) AS matched "
        f"FROM ({sql}) q JOIN {source} p USING (profile_id) GROUP BY 1 ORDER BY 2 DESC, 1",
        params,
    )
    counts["value"] = counts["value"].fillna("(missing)")
    if len(counts) > top:
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


def overlap(db: Database, compile_fns: dict[str, CompileFn]) -> pd.DataFrame:
    """Pairwise intersections and Jaccard indices of several segments.

    All segments are read on the same slice (an intersection needs the same
    profiles on both sides); returns one row per ordered pair of labels.
    """
    info = sample_info(db)
    tables = slice_tables(0) if info.sampled else None
    scale = info.total_profiles / info.profiles[0] if info.sampled and info.profiles[0] else 1.0
    con = db.connection()
    labels = list(compile_fns)
    con.execute("CREATE OR REPLACE TEMP TABLE overlap_members (k INTEGER, profile_id VARCHAR)")
    try:
        for i, label in enumerate(labels):
            sql, params = compile_fns[label](tables)
            con.execute(f"INSERT INTO overlap_members SELECT {i}, profile_id FROM ({sql})", params)
        pairs = con.execute(
            "SELECT a.k, b.k, count(*) FROM overlap_members a "
            "JOIN overlap_members b USING (profile_id) GROUP BY 1, 2"
        ).fetchall()
    finally:
        con.execute("DROP TABLE IF EXISTS overlap_members")
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
                }
            )
    return pd.DataFrame(rows)

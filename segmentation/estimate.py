"""Size estimates with honest intervals, breakdowns and overlaps.

Small workspaces are counted exactly. Above a threshold, estimates read two
sample tables holding the profiles whose ``hash(profile_id)`` falls in the
first k of ``SAMPLE_BUCKETS`` buckets, and the events of those same profiles.
The sample is a simple random sample of profiles (the hash is independent of
any segment rule), so a Wilson score interval with the finite-population
correction is honest, and the same definition always gets the same estimate.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd
from pydantic import BaseModel, ConfigDict

from segmentation.store import Database, quote_ident

SAMPLE_BUCKETS = 10_000
EXACT_THRESHOLD = 250_000
TARGET_SAMPLE = 100_000
Z95 = 1.959963984540054
SAMPLE_TABLES = ("sample_profiles", "sample_events")
# Compiles the definition against the full tables (False) or the samples (True).
CompileFn = Callable[[bool], tuple[str, list]]


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
    buckets: int | None
    profiles: int
    total_profiles: int


def refresh_sample(
    db: Database, threshold: int = EXACT_THRESHOLD, target: int = TARGET_SAMPLE
) -> SampleInfo:
    """(Re)build the sample tables after a load; none when the data is small."""
    total = db.scalar("SELECT count(*) FROM profiles") if db.table_exists("profiles") else 0
    with db.write() as con:
        for table in SAMPLE_TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")
        if total <= threshold:
            con.execute("DELETE FROM workspace_meta WHERE key = 'sample_buckets'")
            return SampleInfo(buckets=None, profiles=total, total_profiles=total)
        buckets = max(1, math.ceil(target / total * SAMPLE_BUCKETS))
        con.execute(
            "CREATE TABLE sample_profiles AS SELECT * FROM profiles WHERE hash(profile_id) % ? < ?",
            [SAMPLE_BUCKETS, buckets],
        )
        if db.table_exists("events"):
            con.execute(
                "CREATE TABLE sample_events AS SELECT * FROM events WHERE hash(profile_id) % ? < ?",
                [SAMPLE_BUCKETS, buckets],
            )
        db.set_meta("sample_buckets", str(buckets), con)
    profiles = db.scalar("SELECT count(*) FROM sample_profiles")
    return SampleInfo(buckets=buckets, profiles=profiles, total_profiles=total)


def sample_info(db: Database) -> SampleInfo:
    total = db.scalar("SELECT count(*) FROM profiles") if db.table_exists("profiles") else 0
    buckets = db.get_meta("sample_buckets")
    if buckets is None or not db.table_exists("sample_profiles"):
        return SampleInfo(buckets=None, profiles=total, total_profiles=total)
    profiles = db.scalar("SELECT count(*) FROM sample_profiles")
    return SampleInfo(buckets=int(buckets), profiles=profiles, total_profiles=total)


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


def estimate(db: Database, compile_fn: CompileFn) -> Estimate:
    info = sample_info(db)
    if info.buckets is None:
        sql, params = compile_fn(False)
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
    sql, params = compile_fn(True)
    matched = db.scalar(f"SELECT count(*) FROM ({sql})", params)
    se, low, high = wilson_interval(matched, info.profiles, info.total_profiles)
    size = round(info.total_profiles * matched / info.profiles) if info.profiles else 0
    return Estimate(
        estimated_size=size,
        low=min(low, size),
        high=max(high, size),
        standard_error=se,
        profiles_read=info.profiles,
        profiles_matched=matched,
        total_profiles=info.total_profiles,
        sample_size=info.profiles,
        exact=False,
    )


def breakdown(db: Database, compile_fn: CompileFn, column: str, top: int = 15) -> pd.DataFrame:
    """Estimated size of the segment per value of a profile attribute."""
    known = [name for name, _ in db.columns("profiles")]
    if column not in known:
        from segmentation.errors import InvalidInputError

        raise InvalidInputError(f"Unknown profile column {column!r} for a breakdown.")
    info = sample_info(db)
    sampled = info.buckets is not None
    sql, params = compile_fn(sampled)
    table = SAMPLE_TABLES[0] if sampled else "profiles"
    counts = db.df(
        f"SELECT CAST(p.{quote_ident(column)} AS VARCHAR) AS value, count(*) AS matched "
        f"FROM ({sql}) q JOIN {table} p USING (profile_id) GROUP BY 1 ORDER BY 2 DESC, 1",
        params,
    )
    counts["value"] = counts["value"].fillna("(missing)")
    if len(counts) > top:
        rest = counts.iloc[top:]["matched"].sum()
        counts = pd.concat(
            [counts.iloc[:top], pd.DataFrame({"value": ["(other)"], "matched": [rest]})],
            ignore_index=True,
        )
    read, total = info.profiles, info.total_profiles
    bounds = [
        wilson_interval(int(m), read, total) if sampled else (0.0, m, m) for m in counts["matched"]
    ]
    scale = total / read if sampled and read else 1.0
    counts["estimated_size"] = (counts["matched"] * scale).round().astype("int64")
    counts["low"] = [int(b[1]) for b in bounds]
    counts["high"] = [int(b[2]) for b in bounds]
    return counts


def overlap(db: Database, compiled: dict[str, tuple[str, list]], sampled: bool) -> pd.DataFrame:
    """Pairwise intersections and Jaccard indices of several segments.

    ``compiled`` maps a label to (SQL, params); returns one row per ordered pair.
    """
    info = sample_info(db)
    scale = info.total_profiles / info.profiles if sampled and info.profiles else 1.0
    labels = list(compiled)
    parts, params = [], []
    for i, label in enumerate(labels):
        sql, p = compiled[label]
        parts.append(f"SELECT {i} AS k, profile_id FROM ({sql})")
        params.extend(p)
    union = " UNION ALL ".join(parts)
    pairs = db.df(
        f"WITH m AS ({union}) SELECT a.k AS a, b.k AS b, count(*) AS n "
        "FROM m a JOIN m b USING (profile_id) GROUP BY 1, 2",
        params,
    )
    counts = {(int(r.a), int(r.b)): int(r.n) for r in pairs.itertuples()}
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

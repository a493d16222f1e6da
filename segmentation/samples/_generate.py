"""``generate_demo``: write the Northwind Outfitters demo files with DuckDB."""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from segmentation.errors import InvalidInputError
from segmentation.samples import _sql, _vocab

DEFAULT_END = dt.datetime(2026, 11, 27, 23, 0, 0)
"""Black Friday 2026, 23:00 UTC: the fixed "now" of the demo (the app shifts it on load)."""

WINDOW_MONTHS = 18
EVENTS_PER_EPISODE = 5
SORT_LIMIT = 5_000_000
"""Up to this many events the file is sorted by profile and time; above it,
events come out in generation order (by profile, then session) to spare a sort."""

MAX_PROFILES = 1_000_000_000
ROW_GROUP_ROWS = 122_880

_SEASONS = [  # (first month-day, last month-day, weight, campaign)
    (1122, 1202, 1.0, "black_friday"),
    (1203, 1222, 0.75, "holiday_gifts"),
    (310, 410, 0.6, "spring_sale"),
    (615, 720, 0.45, "summer_outdoor"),
]


class DemoFiles(BaseModel):
    """What ``generate_demo`` wrote."""

    model_config = ConfigDict(frozen=True)

    profiles_path: Path
    events_path: Path
    profiles: int
    events: int
    format: Literal["csv", "parquet"]
    seed: int
    end: dt.datetime
    elapsed_s: float


def generate_demo(
    out_dir: str | Path,
    *,
    profiles: int = 5000,
    events_per_profile: float = 25,
    seed: int = 42,
    fmt: Literal["csv", "parquet"] = "csv",
    end: dt.datetime | None = None,
    memory_limit: str = "4GB",
    threads: int | None = None,
    sort_events: bool | None = None,
) -> DemoFiles:
    """Write ``profiles`` and ``events`` files of the demo brand into ``out_dir``.

    CSV gives ``profiles.csv`` and ``events.csv.gz`` (interests as JSON-array
    text); Parquet gives ``profiles.parquet`` and ``events.parquet`` (interests
    as a real list). Exactly ``profiles`` profiles and
    ``round(profiles * events_per_profile)`` events over the 18 months before
    ``end`` (default ``DEFAULT_END``). The same arguments give byte-identical
    files. ``sort_events`` (default: when at most ``SORT_LIMIT`` events) orders
    events by profile and time; otherwise by profile and session.
    """
    started = time.perf_counter()
    n_events = _check(profiles, events_per_profile, seed, fmt)
    end = _naive_utc(end or DEFAULT_END)
    if sort_events is None:
        sort_events = n_events <= SORT_LIMIT
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = (
        ("profiles.csv", "events.csv.gz")
        if fmt == "csv"
        else ("profiles.parquet", "events.parquet")
    )
    work = Path(tempfile.mkdtemp(prefix=".demo-", dir=out))
    try:
        config: dict[str, Any] = {
            "memory_limit": memory_limit,
            "preserve_insertion_order": False,
            "temp_directory": str(work / "spill"),
        }
        if threads:
            config["threads"] = threads
        con = duckdb.connect(":memory:", config=config)
        try:
            _build(con, profiles, n_events, seed, end)
            _write(con, fmt, work / names[0], work / names[1], sort_events)
        finally:
            con.close()
        for name in names:
            os.replace(work / name, out / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return DemoFiles(
        profiles_path=out / names[0],
        events_path=out / names[1],
        profiles=profiles,
        events=n_events,
        format=fmt,
        seed=seed,
        end=end,
        elapsed_s=round(time.perf_counter() - started, 3),
    )


def _check(profiles: Any, events_per_profile: Any, seed: Any, fmt: Any) -> int:
    if isinstance(profiles, bool) or not isinstance(profiles, int):
        raise InvalidInputError(f"profiles must be a whole number, got {profiles!r}")
    if not 1 <= profiles <= MAX_PROFILES:
        raise InvalidInputError(f"profiles must be between 1 and {MAX_PROFILES}, got {profiles}")
    if isinstance(events_per_profile, bool) or not isinstance(events_per_profile, int | float):
        raise InvalidInputError(f"events_per_profile must be a number, got {events_per_profile!r}")
    if not math.isfinite(events_per_profile) or not 0 <= events_per_profile <= 10_000:
        raise InvalidInputError(
            f"events_per_profile must be between 0 and 10000, got {events_per_profile}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or not -(2**63) <= seed < 2**63:
        raise InvalidInputError(f"seed must be a 64-bit whole number, got {seed!r}")
    if fmt not in ("csv", "parquet"):
        raise InvalidInputError(f'fmt must be "csv" or "parquet", got {fmt!r}')
    return math.floor(profiles * events_per_profile + 0.5)


def _naive_utc(value: dt.datetime) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise InvalidInputError(f"end must be a datetime, got {value!r}")
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.replace(microsecond=0)


def _months_before(value: dt.datetime, months: int) -> dt.datetime:
    total = value.year * 12 + value.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    next_month = dt.date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_month - dt.timedelta(days=1)).day
    return value.replace(year=year, month=month, day=min(value.day, last_day))


def _epoch(value: dt.datetime) -> int:
    return int((value - dt.datetime(1970, 1, 1)).total_seconds())


def _lut(weights: list[float]) -> list[int]:
    """1000 slots mapping a uniform draw to a 1-based index with the given weights."""
    total = sum(weights)
    bounds, acc = [], 0.0
    for weight in weights:
        acc += weight
        bounds.append(acc / total)
    lut, k = [], 0
    for slot in range(1000):
        while k < len(bounds) - 1 and (slot + 0.5) / 1000 > bounds[k]:
            k += 1
        lut.append(k + 1)
    return lut


def _calendar(base_day: int, end_day: int) -> tuple[list[float], list[int]]:
    """Per day from ``base_day``: the seasonal weight and the season (0 for none)."""
    weights, seasons = [], []
    for day in range(base_day, end_day + 2):
        date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
        month_day = date.month * 100 + date.day
        weight, season = (0.16 if date.month <= 2 else 0.25), 0
        for index, (first, last, season_weight, _) in enumerate(_SEASONS, start=1):
            if first <= month_day <= last:
                weight, season = season_weight, index
        weights.append(weight)
        seasons.append(season)
    return weights, seasons


def _variables(profiles: int, n_events: int, seed: int, end: dt.datetime) -> dict[str, Any]:
    end_s = _epoch(end)
    ws_s = _epoch(_months_before(end, WINDOW_MONTHS))
    base_day, end_day = ws_s // 86400, end_s // 86400
    day_w, day_season = _calendar(base_day, end_day)
    email_mod = 10 ** max(4, len(str(profiles - 1)))
    personas = _vocab.PERSONAS
    countries = _vocab.COUNTRIES
    categories = _vocab.CATEGORIES
    return {
        "seed": seed,
        "n_profiles": profiles,
        "n_events": n_events,
        "id_width": max(6, len(str(profiles - 1))),
        "end_s": end_s,
        "ws_s": ws_s,
        "end_day_s": end_day * 86400,
        "base_day": base_day,
        "day_w": day_w,
        "day_season": day_season,
        "season_campaign": [season[3] for season in _SEASONS],
        "email_mod": email_mod,
        "email_mult": 7919,
        "email_add": 1234 % email_mod,
        "persona_lut": _lut([p[1] for p in personas]),
        "p_weight": [p[2] for p in personas],
        "p_atc": [p[3] for p in personas],
        "p_co": [p[4] for p in personas],
        "p_pur": [p[5] for p in personas],
        "p_optin": [p[6] for p in personas],
        "p_engager": [p[7] for p in personas],
        "p_daily": [p[8] for p in personas],
        "country_lut": _lut([c[1] for c in countries]),
        "country_code": [c[0] for c in countries],
        "country_lang": [c[2] + 1 for c in countries],
        "cities": [c[3] for c in countries],
        "first_f": _vocab.FIRST_FEMALE,
        "first_m": _vocab.FIRST_MALE,
        "last": _vocab.LAST,
        "domains": _vocab.EMAIL_DOMAINS,
        "tiers": _vocab.LOYALTY_TIERS,
        "interests": _vocab.INTERESTS,
        "category_lut": _lut([30, 22, 22, 14, 12]),
        "cat_name": [c[0] for c in categories],
        "cat_prefix": [c[1] for c in categories],
        "cat_lo": [c[2] for c in categories],
        "cat_hi": [c[3] for c in categories],
        "cat_interests": [c[4] for c in categories],
    }


def _set(con: duckdb.DuckDBPyConnection, name: str, value: Any) -> None:
    # The name is one of ours (a fixed identifier); the value is bound.
    if not name.replace("_", "").isalnum():
        raise ValueError(name)
    con.execute("SET VARIABLE " + name + " = ?", [value])


def _build(
    con: duckdb.DuckDBPyConnection, profiles: int, n_events: int, seed: int, end: dt.datetime
) -> None:
    for name, value in _variables(profiles, n_events, seed, end).items():
        _set(con, name, value)
    for macro in _sql.MACROS:
        con.execute(macro)
    con.execute(_sql.PRICES)
    con.execute(_sql.CORE0)
    n_episodes = -(-n_events // EVENTS_PER_EPISODE)
    w_total, forced = con.execute(_sql.TOTALS).fetchone()  # type: ignore[misc]
    if forced > n_episodes:  # too few events to give every abandoner a last visit
        con.execute(_sql.DROP_FORCED)
        forced = 0
    _set(con, "w_total", w_total)
    _set(con, "m_free", n_episodes - forced)
    con.execute(_sql.CORE)
    con.execute("DROP TABLE core0")
    con.execute(_sql.EPISODES)
    con.execute(_sql.LTV)


def _write(
    con: duckdb.DuckDBPyConnection,
    fmt: str,
    profiles_path: Path,
    events_path: Path,
    sort_events: bool,
) -> None:
    interests = _sql.INTERESTS_LIST
    if fmt == "csv":
        interests = "to_json(" + interests + ")::VARCHAR"
    profiles_sql = _sql.PROFILES.replace("{interests}", interests)
    events_sql = _sql.EVENTS + (_sql.EVENTS_ORDER if sort_events else "")
    # Results come out in query order (ORDER BY, or the generation order: by profile,
    # then session), which is the same on any thread count.
    con.execute("SET preserve_insertion_order = true")
    if fmt == "csv":
        con.sql(profiles_sql).write_csv(str(profiles_path))
    else:
        _write_parquet(con, profiles_sql, profiles_path)
    con.execute("DROP TABLE ltv")
    if fmt == "csv":
        con.sql(events_sql).write_csv(str(events_path), compression="gzip")
    else:
        _write_parquet(con, events_sql, events_path)


def _write_parquet(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> None:
    """Stream a query into Parquet with row groups of exactly ``ROW_GROUP_ROWS``.

    DuckDB's own writer cuts row groups where its parallel batches end, which moves
    with thread scheduling; cutting them here keeps the file byte-identical.
    """
    reader = con.sql(sql).to_arrow_reader(ROW_GROUP_ROWS)
    schema = reader.schema
    pending: list[pa.RecordBatch] = []
    rows = 0
    with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
        for batch in reader:
            pending.append(batch)
            rows += batch.num_rows
            while rows >= ROW_GROUP_ROWS:
                table = pa.Table.from_batches(pending, schema)
                writer.write_table(table.slice(0, ROW_GROUP_ROWS), row_group_size=ROW_GROUP_ROWS)
                rest = table.slice(ROW_GROUP_ROWS)
                pending, rows = rest.to_batches(), rest.num_rows
        if rows:
            writer.write_table(pa.Table.from_batches(pending, schema))

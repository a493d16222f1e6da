# ruff: noqa: S608 -- SQL is assembled from checked, quoted identifiers; values are $n params
"""Assemble whole queries: ``WITH ev ... SELECT p.profile_id FROM profiles p LEFT JOIN ev``.

The universe (the rows the condition is tested on) is narrowed when the condition
is *strict*, i.e. can only hold for profiles found in the events pass or in a
chain (``Compiler.drivers``):

- ``ev JOIN profiles p``: only profiles with a row in ``ev`` can qualify;
- with ``events_within_profiles`` and no profile attribute in the condition, the
  profiles table is not read at all: ``FROM ev`` (or the union of ``ev`` and the
  chains' results), since every profile id there is a known profile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from segmentation.compiler.conditions import Compiler
from segmentation.compiler.events import EventPass
from segmentation.compiler.schema import TIMESTAMP_COLUMN, Schema
from segmentation.compiler.sqlparts import Params, bucket_sql, finalize
from segmentation.compiler.timewindows import Clock
from segmentation.errors import InvalidInputError, SegmentationError
from segmentation.model import Expression
from segmentation.store import quote_ident


class CompileOptions(BaseModel):
    """How to evaluate: when (``as_of``, naive UTC), where (``timezone``), on what."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    as_of: dt.datetime
    timezone: str = "UTC"
    resolve_segment: Callable[[str], Any] | None = None
    # (first, stop, buckets): keep profiles whose md5 bucket (``sqlparts.bucket_sql``,
    # 0 .. buckets - 1) is in [first, stop); md5 gives the same buckets on every engine
    sample: tuple[int, int, int] | None = None
    # (profiles table, events table): estimates read sample tables of the same shape
    tables: tuple[str, str] = ("profiles", "events")
    # A fact about the data, not a choice: every event's profile_id exists in the
    # profiles table (ingest rejects events of unknown profiles). When true, segments
    # that need at least one event are evaluated from the events alone. Setting it on
    # data with orphan events would let those ids into results.
    events_within_profiles: bool = False

    @field_validator("as_of")
    @classmethod
    def _naive_utc(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    @model_validator(mode="after")
    def _check_sample(self) -> CompileOptions:
        if self.sample is not None:
            first, stop, total = self.sample
            if total < 1 or not 0 <= first <= stop <= total:
                raise ValueError(
                    "sample must be (first, stop, buckets), 0 <= first <= stop <= buckets"
                )
        return self


class CompiledQuery(BaseModel):
    """SQL with numbered ``$n`` parameters: run it as ``db.rows(q.sql, q.params)``."""

    model_config = ConfigDict(frozen=True)

    sql: str
    params: list[Any] = Field(default_factory=list)


def _new_compiler(schema: Schema, options: CompileOptions) -> Compiler:
    params = Params()
    as_of = params.bind(options.as_of, "TIMESTAMP")
    sample = None
    if options.sample is not None:
        first, stop, total = options.sample
        bucket = bucket_sql("profile_id", params.bind(total, "BIGINT"))
        low, high = params.bind(first, "BIGINT"), params.bind(stop, "BIGINT")
        sample = f"{bucket} >= {low} AND {bucket} < {high}"
    ts = schema.resolve(TIMESTAMP_COLUMN, "event").sql(None) if schema.has_events else '"timestamp"'
    events = EventPass(
        timestamp_sql=ts,
        as_of_sql=as_of,
        sample_sql=sample,
        table=options.tables[1],
        profiles_table=options.tables[0],
        event_columns=frozenset(schema.event_columns or ()),
    )
    return Compiler(
        schema=schema,
        clock=Clock(options.as_of, options.timezone),
        params=params,
        events=events,
        resolve_segment=options.resolve_segment,
    )


def _compile_condition(compiler: Compiler, expr: Expression) -> str:
    try:
        return compiler.condition(expr)
    except RecursionError as exc:
        raise InvalidInputError("The segment definition is nested too deeply to evaluate.") from exc
    except SegmentationError:
        raise


def _from_clause(compiler: Compiler, tables: tuple[str, str]) -> tuple[str, list[str]]:
    """The profile universe (alias p) with the events pass joined; plus WHERE parts."""
    schema, events = compiler.schema, compiler.events
    where: list[str] = []
    if schema.has_profiles:
        source = f"{quote_ident(tables[0])} p"
    elif schema.has_events:  # no profile table: the people seen in events
        source = f"(SELECT DISTINCT profile_id FROM {quote_ident(tables[1])}) p"
    else:
        source = "(SELECT CAST(NULL AS VARCHAR) AS profile_id WHERE FALSE) p"
    if events.sample_sql:
        where.append(events.sample_sql.replace("(profile_id)", "(p.profile_id)"))
    if events.aggregates:
        source += " LEFT JOIN ev ON ev.profile_id = p.profile_id"
    return source, where


def _universe(
    expr: Expression, compiler: Compiler, options: CompileOptions
) -> Literal["profiles", "ev_join", "ev", "union"]:
    """Which rows to test the condition on (see the module docstring).

    ``ev_join``: ``ev JOIN profiles``; ``ev``: ``FROM ev`` alone; ``union``: the ids
    in ``ev`` and the chains' results; ``profiles``: every profile, ``LEFT JOIN ev``.
    """
    schema = compiler.schema
    if not (schema.has_events and schema.has_profiles):
        return "profiles"
    drivers = compiler.drivers(expr)
    if not drivers:
        return "profiles"
    alone = options.events_within_profiles and not compiler.uses_profile(expr)
    if drivers == {"ev"}:
        return "ev" if alone else "ev_join"
    return "union" if alone else "profiles"


def _narrowed_from(
    compiler: Compiler, universe: str, tables: tuple[str, str]
) -> tuple[str, list[str]]:
    """FROM and WHERE parts for a narrowed universe; ids are ``pid`` of the result."""
    events = compiler.events
    if universe == "ev_join":
        source = f"ev JOIN {quote_ident(tables[0])} p ON p.profile_id = ev.profile_id"
    elif universe == "ev":
        source = "ev"
    else:  # union: ids from the events pass and every chain (distinct)
        names = (["ev"] if events.aggregates else []) + events.sequence_names
        parts = [f"SELECT profile_id FROM {name}" for name in names]
        if len(parts) == 1:
            parts[0] = parts[0].replace("SELECT", "SELECT DISTINCT", 1)
        source = f"({' UNION '.join(parts)}) p"
        if events.aggregates:
            source += " LEFT JOIN ev ON ev.profile_id = p.profile_id"
    # the events pass (and so ev and the chains) is already limited to the sample
    return source, []


def _with(compiler: Compiler) -> str:
    ctes = compiler.events.ctes()
    return ("WITH " + ", ".join(ctes) + " ") if ctes else ""


def compile_segment(expr: Expression, schema: Schema, options: CompileOptions) -> CompiledQuery:
    """SQL selecting one column ``profile_id``: the profiles that qualify.

    Profiles are taken from ``profiles`` (whose ``profile_id`` is its key, so
    rows are distinct); without a profiles table, from the ids seen in events.
    Strict conditions start from the events pass instead (module docstring).
    """
    compiler = _new_compiler(schema, options)
    universe = _universe(expr, compiler, options)
    condition = _compile_condition(compiler, expr)
    if not _fits(compiler, universe):  # defensive: the analysis and the compile disagree
        compiler, universe = _new_compiler(schema, options), "profiles"
        condition = _compile_condition(compiler, expr)
    if universe == "profiles":
        source, where = _from_clause(compiler, options.tables)
    else:
        source, where = _narrowed_from(compiler, universe, options.tables)
    pid = "ev.profile_id" if universe == "ev" else "p.profile_id"
    source += compiler.events.hit_joins(pid)
    where.append(condition)
    where_sql = " AND ".join(w for w in where if w != "TRUE") or "TRUE"
    sql = f"{_with(compiler)}SELECT {pid} FROM {source} WHERE {where_sql}"
    return _finish(sql, compiler)


def _fits(compiler: Compiler, universe: str) -> bool:
    events = compiler.events
    if universe in ("ev", "union") and compiler.uses_profile_fields:
        return False
    if universe in ("ev", "ev_join"):
        return bool(events.aggregates)
    if universe == "union":
        return bool(events.aggregates or events.sequence_names)
    return True


def compile_count(expr: Expression, schema: Schema, options: CompileOptions) -> CompiledQuery:
    """SQL returning one row, one column ``n``: the number of qualifying profiles."""
    query = compile_segment(expr, schema, options)
    return CompiledQuery(sql=f"SELECT count(*) AS n FROM ({query.sql})", params=query.params)


def compile_many(
    exprs: dict[str, Expression], schema: Schema, options: CompileOptions
) -> CompiledQuery:
    """Rows ``(segment_key, profile_id)`` for several definitions in one query.

    All their event conditions share one events pass, and profiles are read once:
    each profile row yields the keys of the definitions it meets.
    """
    if not exprs:
        return CompiledQuery(
            sql="SELECT CAST(NULL AS VARCHAR) AS segment_key, "
            "CAST(NULL AS VARCHAR) AS profile_id WHERE FALSE",
            params=[],
        )
    compiler = _new_compiler(schema, options)
    cases = []
    for key, expr in exprs.items():
        condition = _compile_condition(compiler, expr)
        key_sql = compiler.params.bind(str(key), "VARCHAR")
        cases.append(f"CASE WHEN coalesce({condition}, FALSE) THEN {key_sql} END")
    source, where = _from_clause(compiler, options.tables)
    source += compiler.events.hit_joins("p.profile_id")
    where_sql = " AND ".join(where) or "TRUE"
    keys = f"list_filter([{', '.join(cases)}], lambda x: x IS NOT NULL)"
    sql = (
        f"{_with(compiler)}SELECT segment_key, profile_id FROM ("
        f"SELECT unnest({keys}) AS segment_key, p.profile_id AS profile_id "
        f"FROM {source} WHERE {where_sql})"
    )
    return _finish(sql, compiler)


def _finish(sql: str, compiler: Compiler) -> CompiledQuery:
    sql, params = finalize(sql, compiler.params.values)
    return CompiledQuery(sql=sql, params=params)

# ruff: noqa: S608 -- SQL is assembled from checked, quoted identifiers; values are $n params
"""Assemble whole queries: ``WITH ev ... SELECT p.profile_id FROM profiles p LEFT JOIN ev``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from segmentation.compiler.conditions import Compiler
from segmentation.compiler.events import EventPass
from segmentation.compiler.schema import TIMESTAMP_COLUMN, Schema
from segmentation.compiler.sqlparts import Params, finalize
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
    # (buckets kept, buckets total): keep profiles with hash(profile_id) % total < kept
    sample: tuple[int, int] | None = None
    # (profiles table, events table): estimates read sample tables of the same shape
    tables: tuple[str, str] = ("profiles", "events")

    @field_validator("as_of")
    @classmethod
    def _naive_utc(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    @model_validator(mode="after")
    def _check_sample(self) -> CompileOptions:
        if self.sample is not None:
            kept, total = self.sample
            if total < 1 or not 0 <= kept <= total:
                raise ValueError("sample must be (kept, total) with 0 <= kept <= total, total >= 1")
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
        kept, total = options.sample
        sample = (
            f"hash(profile_id) % {params.bind(total, 'UBIGINT')} < {params.bind(kept, 'UBIGINT')}"
        )
    ts = schema.resolve(TIMESTAMP_COLUMN, "event").sql(None) if schema.has_events else '"timestamp"'
    events = EventPass(
        timestamp_sql=ts, as_of_sql=as_of, sample_sql=sample, table=options.tables[1]
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
        where.append(events.sample_sql.replace("profile_id", "p.profile_id", 1))
    if events.aggregates:
        source += " LEFT JOIN ev ON ev.profile_id = p.profile_id"
    return source, where


def _with(compiler: Compiler) -> str:
    ctes = compiler.events.ctes()
    return ("WITH " + ", ".join(ctes) + " ") if ctes else ""


def compile_segment(expr: Expression, schema: Schema, options: CompileOptions) -> CompiledQuery:
    """SQL selecting one column ``profile_id``: the profiles that qualify.

    Profiles are taken from ``profiles`` (whose ``profile_id`` is its key, so
    rows are distinct); without a profiles table, from the ids seen in events.
    """
    compiler = _new_compiler(schema, options)
    condition = _compile_condition(compiler, expr)
    source, where = _from_clause(compiler, options.tables)
    where.append(condition)
    where_sql = " AND ".join(w for w in where if w != "TRUE") or "TRUE"
    sql = f"{_with(compiler)}SELECT p.profile_id FROM {source} WHERE {where_sql}"
    return _finish(sql, compiler)


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

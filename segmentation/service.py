"""SegmentationService: the one API the dashboard, the CLI, notebooks and tests use."""

# ruff: noqa: S608 - SQL text holds only checked, quoted identifiers; values are bound

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import threading
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from segmentation import columns, cron_picker, field_labels, sentence
from segmentation import estimate as estimates
from segmentation.aep_json import ExpressionFormat, definitions_from_aep, definitions_to_aep
from segmentation.catalog import FieldInfo, event_types, load_catalog, refresh_catalog
from segmentation.compiler import CompileOptions, Schema, compile_many, compile_segment
from segmentation.cron import check_timezone, describe, next_runs
from segmentation.definitions import Definition, DefinitionStore
from segmentation.engines import Engine, EngineConfig, open_engine
from segmentation.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    SegmentationError,
)
from segmentation.exports import ExportManager, ExportRequest
from segmentation.expression_input import expression_from_data
from segmentation.field_labels import FieldLabel
from segmentation.ingest import (
    TIMESTAMP_COLUMN,
    IngestPreview,
    IngestReport,
    ingest,
    ingest_preview,
)
from segmentation.jobs import KIND as JOB_KIND
from segmentation.jobs import JobRunner, SegmentJob, order_by_dependency
from segmentation.library import LibraryEntry, build_library
from segmentation.model import And, Expression, Or, segment_refs, walk
from segmentation.pql import parse, to_pql
from segmentation.pql.locate import fields_located
from segmentation.preview import PreviewCache, PreviewPage, preview_page
from segmentation.schedules import ScheduleRunner, ScheduleStore
from segmentation.search import (
    FieldHit,
    ProfileView,
    SegmentHit,
    profile_view,
    search_fields,
    search_profile,
    search_segments,
)
from segmentation.store import Database, quote_ident
from segmentation.tasks import ACTIVE, Task, TaskContext, TaskRunner
from segmentation.tokens import TokenStore
from segmentation.utc import naive_utc

Query = str | Expression | dict[str, Any]
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def to_utc_naive(value: dt.datetime | str | None) -> dt.datetime:
    """The evaluation time as naive UTC (how timestamps are stored)."""
    if value is None:
        return utc_now()
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidInputError(
                f"as_of {value!r} is not a time; use ISO form, e.g. 2026-01-31T12:00:00."
            ) from exc
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    return naive_utc(value, "as_of")


MAX_NODES = 2_000
# the library reads each segment's last job status from the newest jobs only
LIBRARY_JOBS = 500


def _text(query: Query) -> str | None:
    """The PQL text of a query given as text (errors then point into it)."""
    return query if isinstance(query, str) and not _UUID.match(query.strip()) else None


def _check_size(expr: Expression) -> Expression:
    """DuckDB's planning time grows fast with thousands of terms; refuse early."""
    nodes = sum(1 for _ in walk(expr))
    if nodes > MAX_NODES:
        raise InvalidInputError(
            f"This segment has {nodes:,} parts; at most {MAX_NODES:,} can be evaluated. "
            "Use `in [...]` for long lists of values, or split it into segments."
        )
    return expr


class SegmentationService:
    """Open with :meth:`open`; one per workspace file per process is plenty."""

    def __init__(self, db: Database, exports_dir: Path | None = None):
        self.db = db
        self._schema_cache: tuple[str, Schema] | None = None
        # long work of every kind (jobs, exports, previews) runs as tasks; each
        # component registers its kind and recovery hook before recover() below
        self.tasks = TaskRunner(db)
        self.definitions = DefinitionStore(db, self._validate, self._blockers)
        self._preview_cache = PreviewCache(db)
        self._engine_obj: Engine | None = None  # built from the workspace's setting on use
        self._engine_lock = threading.Lock()
        self.jobs = Jobs(self)
        base = Path(db.path).parent if not db.is_memory else Path("workspace")
        self.exports_dir = exports_dir or base / "exports"
        # Rejected rows of each load, as CSV files a person downloads, fixes and reloads.
        self.rejects_dir = self.exports_dir.parent / "rejects"
        self.schedules = ScheduleStore(db, self._check_segment_ids)
        self.scheduler = ScheduleRunner(self.schedules, self._run_scheduled)
        self.exports = ExportManager(db, self.exports_dir, self.tasks)
        self.search = Search(db)
        self.previews = Previews(self)
        self.tokens = TokenStore(db)
        self.tasks.recover()

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, **config: Any):
        exports_dir = config.pop("exports_dir", None)
        db = Database.open(path, **config)
        return cls(db, exports_dir=Path(exports_dir) if exports_dir else None)

    def close(self) -> None:
        self.scheduler.stop()
        self.tasks.close()
        self.db.close()

    # --- workspace -----------------------------------------------------------------

    @property
    def timezone(self) -> str:
        return self.db.get_meta("timezone", "UTC") or "UTC"

    # --- engine ---------------------------------------------------------------------

    @property
    def engine(self) -> str:
        """Who evaluates segments: "duckdb" (embedded, the default) or "spark"."""
        return self.engine_config.name

    @property
    def engine_config(self) -> EngineConfig:
        def read() -> EngineConfig:
            raw = self.db.get_meta("engine")
            return EngineConfig.model_validate_json(raw) if raw else EngineConfig()

        return self.db.memo("engine_config", read)

    @property
    def _engine(self) -> Engine:
        config = self.engine_config  # another service over this workspace may have switched it
        with self._engine_lock:
            if self._engine_obj is None or self._engine_obj.config != config:
                self._engine_obj = open_engine(self.db, config)
            return self._engine_obj

    def set_engine(
        self,
        name: Literal["duckdb", "spark"],
        *,
        master: str | None = None,
        data: str | os.PathLike[str] | None = None,
    ) -> EngineConfig:
        """Evaluate on DuckDB, or on Spark (``master``: local[N], spark://host:port or
        sc://host:port; ``data``: the folder of profiles/ and events/ Parquet). Kept in
        the workspace. Switching to Spark with data in the workspace file moves that data
        to Parquet under ``data``; every saved definition must fit the data's fields."""
        if name not in ("duckdb", "spark"):
            raise InvalidInputError(f"Unknown engine {name!r}: choose duckdb or spark.")
        if name == "duckdb":
            config = EngineConfig()
        else:
            if not data:
                raise InvalidInputError("The Spark engine needs --data: the folder of its Parquet.")
            config = EngineConfig(
                name="spark", master=master or "local[*]", data=str(Path(data).resolve())
            )
        engine = open_engine(self.db, config)
        if name == "spark":
            from segmentation.engines.spark import prepare_workspace

            prepare_workspace(self.db, engine)
        self._check_definitions_fit(engine)
        self.db.set_meta("engine", config.model_dump_json())
        with self._engine_lock:
            self._engine_obj, self._schema_cache = engine, None
        self._record_event_profiles(None)
        engine.refresh()
        refresh_catalog(self.db)  # the fields of the data it now reads
        return config

    def _check_definitions_fit(self, engine: Engine) -> None:
        """Every saved definition compiles against the engine's data, or nothing changes."""
        schema = engine.schema()
        if not schema.has_profiles:
            return  # no data yet: checked when it is loaded
        options = self._options(utc_now()).model_copy(update={"tables": engine.tables})
        for definition in self.definitions.all():
            try:
                compile_segment(definition.expression, schema, options)
            except SegmentationError as exc:
                raise InvalidInputError(
                    f"The definition {definition.name!r} does not fit the {engine.name} data: "
                    f"{exc.message}"
                ) from exc

    def set_timezone(self, name: str) -> None:
        self.db.set_meta("timezone", check_timezone(name))

    def info(self) -> dict[str, Any]:
        def count(table: str) -> int:
            return (
                self.db.scalar(f"SELECT count(*) FROM {table}")
                if self.db.table_exists(table)
                else 0
            )

        last = self.db.one(
            "SELECT table_name, loaded_at, rows_loaded FROM loads ORDER BY loaded_at DESC LIMIT 1"
        )
        return {
            "path": self.db.path,
            "profiles": count("profiles"),
            "events": count("events"),
            "definitions": count("definitions"),
            "timezone": self.timezone,
            "engine": self.engine,
            "last_load": None
            if last is None
            else {"table": last[0], "loaded_at": last[1], "rows": last[2]},
        }

    def ingest(
        self,
        table: Literal["profiles", "events"],
        source: str | os.PathLike[str],
        *,
        mode: Literal["replace", "append"] = "replace",
        **options: Any,
    ) -> IngestReport:
        options.setdefault("rejects_dir", self.rejects_dir)
        if self.engine == "spark":  # the data lives as Parquet under the data location
            from segmentation.engines.spark import ingest_to_parquet

            report = ingest_to_parquet(
                self.db,
                self.engine_config.data,
                table,
                mode,
                lambda: ingest(self.db, table, source, mode=mode, derive=self._derive, **options),
            )
            self._engine.refresh()  # the new files: views, Spark's tables, samples
        else:
            report = ingest(self.db, table, source, mode=mode, derive=self._derive, **options)
        self._schema_cache = None
        return report

    def _derive(self, tx: Any) -> None:
        """What a load derives beyond the catalog, in the load's own transaction."""
        self._record_event_profiles(tx)
        self._engine.refresh(tx)

    def ingest_preview(
        self,
        table: Literal["profiles", "events"],
        source: str | os.PathLike[str],
        *,
        mode: Literal["replace", "append"] = "append",
        **options: Any,
    ) -> IngestPreview:
        """What :meth:`ingest` with the same options would store, storing nothing: the
        first parsed rows, each column's detected type and every problem of the file."""
        options.setdefault("rejects_dir", self.rejects_dir)
        return ingest_preview(self.db, table, source, mode=mode, **options)

    def _record_event_profiles(self, tx: Any) -> None:
        """Whether every event's profile is loaded; then event-only segments need
        not read the profiles table at all (the compiler's fast plan)."""
        within = self.db.table_exists("profiles") and self.db.table_exists("events")
        if within:
            orphans = self.db.scalar(
                "SELECT count(*) FROM (SELECT DISTINCT profile_id FROM events) e "
                "ANTI JOIN profiles p USING (profile_id)"
            )
            within = orphans == 0
        self.db.set_meta("events_within_profiles", "1" if within else "0", tx)

    def _events_within_profiles(self) -> bool:
        return self.db.get_meta("events_within_profiles") == "1"

    def table_frame(
        self, table: Literal["profiles", "events"], limit: int | None = 100_000
    ) -> pd.DataFrame:
        """The stored rows of a data table (the first ``limit``), for downloads."""
        if table not in ("profiles", "events"):
            raise InvalidInputError(f"Unknown table {table!r}; use profiles or events.")
        if not self.db.table_exists(table):
            return pd.DataFrame()
        if limit is None:
            return self.db.df(f"SELECT * FROM {table}")
        return self.db.df(f"SELECT * FROM {table} LIMIT ?", [limit])

    def catalog(self) -> list[FieldInfo]:
        return load_catalog(self.db)

    def default_columns(self, query: Query | None = None) -> list[str]:
        """Columns worth showing next to profile_id: contacts, then the query's own fields."""
        expr = self.expression(query) if query is not None else None
        return columns.default_columns(self.catalog(), expr)

    def job_changes(self, job_id: str, segment_id: str | None = None) -> pd.DataFrame:
        """Who entered and who left in a job, with their contact columns (names, email)."""
        changes = self.jobs.changes(job_id, segment_id)
        contacts = columns.contact_columns(self.catalog())
        if changes.empty or not contacts or not self.db.table_exists("profiles"):
            return changes
        select = ", ".join(quote_ident(c) for c in ["profile_id", *contacts])
        people = self.db.df(
            f"SELECT {select} FROM profiles WHERE profile_id IN (SELECT unnest(?::VARCHAR[]))",
            [sorted(set(changes["profile_id"]))],
        )
        # a profile that left may be gone from the table since (a replace): blank contacts
        return changes.merge(people, on="profile_id", how="left")

    def library(self) -> list[LibraryEntry]:
        """Every saved segment with its last size, size history, schedules and last job."""
        return build_library(
            self.definitions.all(),
            self.jobs.history(),
            self.schedules.list(),
            self.jobs.list(limit=LIBRARY_JOBS),
        )

    def sentence(self, query: Query | None) -> str:
        """The rule in words, with the fields' display names ("Loyalty tier is gold, and ...")."""
        expr = self.expression(query) if query is not None else None
        shown = {(lbl.source, lbl.name): lbl.display_name for lbl in self.field_labels()}
        return sentence.describe(expr, lambda scope, column: shown.get((scope, column), column))

    def field_labels(self) -> list[FieldLabel]:
        """Display name and description of every catalog field (derived until set)."""
        return field_labels.labels(self.db, self.catalog())

    def set_field_label(
        self,
        name: str,
        *,
        display_name: str,
        description: str = "",
        source: Literal["profile", "event"] = "profile",
    ) -> FieldLabel:
        """Name a field for people; an empty display name and description reset it."""
        return field_labels.set_label(
            self.db,
            self.catalog(),
            name,
            source=source,
            display_name=display_name,
            description=description,
        )

    def event_types(self) -> list[tuple[str, int]]:
        return event_types(self.db)

    def schema(self) -> Schema:
        key = f"{self._data_version()}:{self._engine.name}"
        cached = self._schema_cache
        if cached is None or cached[0] != key:  # read with no lock held: two may read it
            cached = self._schema_cache = (key, self._engine.schema())
        return cached[1]

    # --- compiling -----------------------------------------------------------------

    def expression(self, query: Query) -> Expression:
        """PQL text, an Expression (or its dict), or a saved definition's id -> Expression."""
        if not isinstance(query, str):
            return _check_size(expression_from_data(query))
        text = query.strip()
        if _UUID.match(text):
            return self.definitions.get(text.lower()).expression
        return _check_size(parse(query))

    def _resolve_ref(self, ref: str) -> Expression:
        return self.definitions.get(ref).expression

    def _options(self, as_of: dt.datetime) -> CompileOptions:
        return CompileOptions(
            as_of=as_of,
            timezone=self.timezone,
            resolve_segment=self._resolve_ref,
            tables=self._engine.tables,
            events_within_profiles=self._events_within_profiles(),
        )

    def compile(self, query: Query, as_of: dt.datetime | None = None) -> tuple[str, list]:
        """The SQL (and its parameters) selecting the qualified profile ids."""
        with fields_located(_text(query)):
            return self._compiler_for(self.expression(query), to_utc_naive(as_of))({})

    def _validate(self, expr: Expression, own_id: str | None) -> None:
        """Refuse what could not be evaluated: too many parts (as a preview would), unknown
        references, cycles and (with data loaded) unknown fields."""
        _check_size(expr)
        self._check_cycles(expr, own_id)
        if not self.db.table_exists("profiles"):
            return

        def resolve(ref: str) -> Expression:
            target = self.definitions.get(ref)
            return expr if target.id == own_id else target.expression

        options = self._options(utc_now())
        options = options.model_copy(update={"resolve_segment": resolve})
        compile_segment(expr, self.schema(), options)

    def _check_cycles(self, expr: Expression, own_id: str | None) -> None:
        def visit(e: Expression, path: list[Definition]) -> None:
            for ref in segment_refs(e):
                target = self.definitions.get(ref)
                chain = " -> ".join(d.name for d in [*path, target])
                if target.id == own_id or any(d.id == target.id for d in path):
                    raise ConflictError(f"Segment references form a cycle: {chain}.")
                visit(target.expression, [*path, target])

        visit(expr, [self.definitions.get(own_id)] if own_id else [])

    def _blockers(self, definition: Definition) -> list[str]:
        reasons = []
        for other in self.definitions.all():
            if other.id == definition.id:
                continue
            refs = {r.lower() for r in segment_refs(other.expression)}
            if definition.id.lower() in refs or definition.name.lower() in refs:
                reasons.append(f"definition {other.name!r}")
        reasons.extend(self._schedule_blockers(definition))
        reasons.extend(self._job_blockers(definition))
        return reasons

    def _job_blockers(self, definition: Definition) -> list[str]:
        """A job evaluating it would record it SUCCEEDED with no members, after it went."""
        active = [t for s in ACTIVE for t in self.tasks.list(JOB_KIND, status=s, limit=1000)]
        return [
            f"segment job {task.id}, which is evaluating it (cancel it, or wait until it ends)"
            for task in active
            if any(
                seg.get("segment_id") == definition.id
                for seg in (task.payload or {}).get("segments", [])
            )
        ]

    # --- preview and estimate ------------------------------------------------------

    def preview(
        self,
        query: Query,
        as_of: dt.datetime | None = None,
        limit: int = 50,
        offset: int = 0,
        columns: list[str] | None = None,
    ) -> PreviewPage:
        # "now" is taken to the minute, so paging through a segment sees one result
        when = to_utc_naive(as_of) if as_of else utc_now().replace(second=0)
        sql, params = self._compiled(query, when)
        return preview_page(
            self._engine,
            self._preview_cache,
            sql,
            params,
            version=self._data_version(),
            types=self.schema().profile_columns or {},
            columns=columns,
            limit=limit,
            offset=offset,
        )

    def _compiled(self, query: Query, when: dt.datetime) -> tuple[str, list]:
        """:meth:`compile`, kept until the workspace changes for queries given as text
        (what a client paging through a preview sends again and again)."""
        if not isinstance(query, str):
            return self.compile(query, when)
        return self.db.memo(("compiled", query, when), lambda: self.compile(query, when))

    def _data_version(self) -> str:
        return self.db.memo(
            "data_version", lambda: str(self.db.scalar("SELECT count(*) FROM loads"))
        )

    def estimate(self, query: Query, as_of: dt.datetime | None = None) -> estimates.Estimate:
        expr, when = self.expression(query), to_utc_naive(as_of)
        with fields_located(_text(query)):
            return estimates.estimate(self._engine, self._compiler_for(expr, when), to_pql(expr))

    def breakdown(self, query: Query, column: str, as_of: dt.datetime | None = None):
        expr, when = self.expression(query), to_utc_naive(as_of)
        compile_fn = self._compiler_for(expr, when)
        return estimates.breakdown(self._engine, compile_fn, to_pql(expr), column)

    def overlap(self, queries: dict[str, Query], as_of: dt.datetime | None = None):
        when = to_utc_naive(as_of)
        fns = {k: self._compiler_for(self.expression(q), when) for k, q in queries.items()}
        return estimates.overlap(self._engine, fns)

    def waterfall(self, query: Query, as_of: dt.datetime | None = None) -> pd.DataFrame:
        """Per top-level condition: its own estimated size and the size of the
        group up to it, so a user sees which condition narrows the audience most."""
        expr, when = self.expression(query), to_utc_naive(as_of)
        items = list(expr.items) if isinstance(expr, And | Or) else [expr]
        group = type(expr) if isinstance(expr, And | Or) else And
        rows = []
        for k, item in enumerate(items, start=1):
            so_far = items[0] if k == 1 else group(items=items[:k])
            alone, cumulative = self.estimate(item, when), self.estimate(so_far, when)
            rows.append(
                {
                    "step": k,
                    "condition": to_pql(item),
                    "alone": alone.estimated_size,
                    "so_far": cumulative.estimated_size,
                    "so_far_low": cumulative.low,
                    "so_far_high": cumulative.high,
                    "exact": cumulative.exact,
                }
            )
        return pd.DataFrame(rows)

    def last_evaluation(self, segment: str) -> dict[str, Any] | None:
        """The job result the current members come from (what-if runs aside), and
        whether it predates the current version (its members are then stale)."""
        definition = self.definitions.get(segment)
        row = self.db.one(
            "SELECT job_id, as_of, version, qualified, evaluated_at FROM membership_history "
            "WHERE segment_id = ? AND NOT what_if ORDER BY evaluated_at DESC LIMIT 1",
            [definition.id],
        )
        if row is None:
            return None
        job_id, as_of, version, qualified, evaluated_at = row
        return {
            "job_id": job_id,
            "as_of": as_of,
            "version": version,
            "qualified": qualified,
            "evaluated_at": evaluated_at,
            "stale": version != definition.version,
        }

    def _compiler_for(self, expr: Expression, as_of: dt.datetime) -> estimates.CompileFn:
        def compile_on(updates: dict[str, Any]) -> tuple[str, list]:
            options = self._options(as_of).model_copy(update=updates)
            compiled = compile_segment(expr, self.schema(), options)
            return compiled.sql, list(compiled.params)

        return compile_on

    # --- membership ----------------------------------------------------------------

    def members(self, segment: str, statuses: list[str] | None = None) -> pd.DataFrame:
        return self.jobs.runner.members(self.definitions.get(segment).id, statuses)

    def export_rows(self, request: ExportRequest | dict[str, Any]) -> dict[str, int]:
        """Rows an export would write per segment, before it runs (its status and date filters)."""
        req = request if isinstance(request, ExportRequest) else ExportRequest(**request)
        counts: dict[str, int] = {}
        for segment in req.segments:
            members = self.members(segment, list(req.statuses))
            times = pd.to_datetime(members["last_qualification_time"])
            keep = pd.Series(True, index=members.index)
            if req.qualified_after is not None:
                keep &= times >= req.qualified_after
            if req.qualified_before is not None:
                keep &= times < req.qualified_before
            counts[segment] = int(keep.sum())
        return counts

    def newest_event_time(self) -> dt.datetime | None:
        """The latest event timestamp loaded (naive UTC), from the catalog; None without events."""
        field = next(
            (f for f in self.catalog() if f.source == "event" and f.name == TIMESTAMP_COLUMN), None
        )
        return dt.datetime.fromisoformat(field.max) if field is not None and field.max else None

    # --- AEP JSON ------------------------------------------------------------------

    def export_aep(
        self, ids: list[str] | None = None, expression_format: ExpressionFormat = "pql/text"
    ) -> list[dict[str, Any]]:
        """Definitions as AEP JSON; the expression as PQL text or AEP's pql/json tree."""
        defs = self.definitions.bulk_get(ids) if ids else self.definitions.all()
        return definitions_to_aep(defs, expression_format)

    def import_aep(self, payload: Any, on_conflict: Literal["error", "skip", "rename"] = "error"):
        """Create definitions from AEP JSON (one object or a list); all or nothing."""
        specs = definitions_from_aep(payload)
        for spec in specs:
            self._validate(parse(spec.pql), None)
        existing = {d.name.lower() for d in self.definitions.all()}
        clashes = [s.name for s in specs if s.name.lower() in existing]
        if clashes and on_conflict == "error":
            raise ConflictError(f"Definitions already exist with these names: {clashes}.")
        planned = []
        for spec in specs:
            name = spec.name
            if name.lower() in existing:
                if on_conflict == "skip":
                    continue
                name = f"{name} (imported)"
                if name.lower() in existing:
                    raise ConflictError(f"Definitions named {spec.name!r} and {name!r} exist.")
            planned.append((name, spec))
        created = []
        for name, spec in planned:
            created.append(
                self.definitions.create(
                    name=name,
                    pql=spec.pql,
                    description=spec.description,
                    tags=spec.tags,
                    ttl_days=spec.ttl_days,
                )
            )
        return created

    # --- schedules -----------------------------------------------------------------

    def _check_segment_ids(self, segments: list[str]) -> None:
        """Schedules keep ids, which survive renames; a name is refused with its id."""
        for segment in segments:
            if segment == "*":
                continue
            definition = self.definitions.get(segment)
            if definition.id != segment:
                raise InvalidInputError(
                    f"Schedules name segments by id: use {definition.id!r} for {definition.name!r}."
                )

    def _run_scheduled(self, segments: list[str], schedule_id: str) -> str:
        job = self.jobs.run(segments, schedule_id=schedule_id)
        if job.status != "SUCCEEDED":  # the schedule shows the job's error as its last error
            raise SegmentationError(f"Job {job.id} {job.status}: {job.error or 'no details'}")
        return job.id

    def _schedule_blockers(self, definition: Definition) -> list[str]:
        return [f"schedule {s.name!r}" for s in self.schedules.uses_segment(definition.id)]

    def start_scheduler(self) -> None:
        """Run due schedules in a background thread of this process (the dashboard)."""
        self.scheduler.start()

    def run_scheduler_forever(self, poll_seconds: float = 30.0) -> None:
        self.scheduler.poll_seconds = poll_seconds
        try:
            self.scheduler.run_forever()
        finally:
            self.scheduler.stop()

    @staticmethod
    def cron_next_runs(cron: str, timezone: str = "UTC", n: int = 5) -> list[dt.datetime]:
        return next_runs(cron, timezone, dt.datetime.now(dt.UTC), n)

    @staticmethod
    def cron_describe(cron: str) -> str:
        return describe(cron)

    @staticmethod
    def cron_from_pick(frequency: str, hour: int, minute: int, **days: Any) -> str:
        """The Quartz cron of a schedule picked in words (see cron_picker)."""
        return cron_picker.build(frequency, hour, minute, **days)

    @staticmethod
    def cron_to_pick(cron: str) -> cron_picker.SchedulePick | None:
        """The words-picker form of a cron, or None when only the cron says it."""
        return cron_picker.from_cron(cron)


class Search:
    """svc.search: segments, fields and profiles."""

    def __init__(self, db: Database):
        self._db = db

    def segments(self, query: str, limit: int = 50) -> list[SegmentHit]:
        return search_segments(self._db, query, limit)

    def fields(self, query: str) -> list[FieldHit]:
        return search_fields(self._db, query)

    def profile(self, term: str, events_limit: int = 20):
        return search_profile(self._db, term, events_limit)

    def profile_view(self, profile_id: str, events_limit: int = 20) -> ProfileView:
        return profile_view(self._db, profile_id, events_limit)


class Previews:
    """svc.previews: AEP's asynchronous preview and estimate of one query, run as a
    task. The query is parsed and checked against the data before the task is
    recorded (bad PQL never becomes a task), and it is evaluated at the moment it
    was asked, so its pages and its estimate agree however late they are read."""

    KIND = "preview"

    def __init__(self, svc: SegmentationService, workers: int = 2, queued: int = 16):
        self._svc = svc
        svc.tasks.register(self.KIND, workers=workers, queued=queued, retry_after=2)

    def start(self, query: Query, as_of: dt.datetime | None = None) -> Task:
        expr = self._svc.expression(query)
        when = to_utc_naive(as_of)
        self._svc.compile(expr, when)  # unknown fields, wrong types: refused now
        pql = to_pql(expr)

        def evaluate(ctx: TaskContext) -> dict[str, Any]:
            page = self._svc.preview(expr, when, limit=1)
            ctx.progress(0.5, f"{page.total:,} qualified profiles")
            estimate = self._svc.estimate(expr, when)
            return {"total": page.total, "estimate": estimate.model_dump()}

        # URL-safe and unpadded: AEP's preview ids go into paths
        preview_id = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        payload = {"pql": pql, "as_of": when.isoformat()}
        return self._svc.tasks.submit(self.KIND, evaluate, payload=payload, task_id=preview_id)

    def get(self, preview_id: str) -> Task:
        return self._svc.tasks.get(preview_id, self.KIND)

    def page(self, preview: str | Task, limit: int = 1000, offset: int = 0) -> PreviewPage:
        """A page of the qualified profiles of a finished preview (its id, or its task)."""
        task = preview if isinstance(preview, Task) else self.get(preview)
        if task.status != "SUCCEEDED":
            raise ConflictError(f"Preview {task.id} is {task.status}; it has no results yet.")
        as_of = dt.datetime.fromisoformat(task.payload["as_of"])
        return self._svc.preview(task.payload["pql"], as_of, limit=limit, offset=offset)

    def delete(self, preview_id: str) -> None:
        self._svc.tasks.delete(preview_id, self.KIND)


class Jobs:
    """svc.jobs: run definitions (or "*") and read the results."""

    def __init__(self, svc: SegmentationService):
        self._svc = svc
        self.runner = JobRunner(svc.db, svc.tasks, self._compile_many, lambda: svc._engine)

    def _definitions(self, segments: list[str] | str) -> list[Definition]:
        if segments == "*" or segments == ["*"]:
            defs = self._svc.definitions.all()
        else:
            if isinstance(segments, str):
                segments = [segments]
            defs = self._svc.definitions.bulk_get(segments)
        if not defs:
            raise InvalidInputError("There are no segment definitions to evaluate.")
        unique = {d.id: d for d in defs}
        return order_by_dependency(
            list(unique.values()),
            lambda d: [self._svc.definitions.get(r).id for r in segment_refs(d.expression)],
        )

    def _compile_many(self, defs: list[Definition], as_of: dt.datetime):
        """One query for the definitions that compile, and why each other one does not
        (a field dropped or retyped by a load since it was saved)."""
        if not self._svc.db.table_exists("profiles"):
            raise InvalidInputError("Load profiles before running a segment job.")
        schema, options = self._svc.schema(), self._svc._options(as_of)
        failed: dict[str, str] = {}
        for d in defs:
            try:
                compile_segment(d.expression, schema, options)
            except SegmentationError as exc:
                failed[d.id] = exc.message
        compiled = compile_many(
            {d.id: d.expression for d in defs if d.id not in failed}, schema, options
        )
        sql = f"SELECT segment_key AS segment_id, profile_id FROM ({compiled.sql})"
        return sql, list(compiled.params), failed

    def run(self, segments: list[str] | str, as_of: dt.datetime | None = None, **kwargs):
        defs = self._definitions(segments)
        return self.runner.run(defs, to_utc_naive(as_of), **kwargs)

    def start(self, segments: list[str] | str, as_of: dt.datetime | None = None, **kwargs):
        defs = self._definitions(segments)
        return self.runner.start(defs, to_utc_naive(as_of), **kwargs)

    def get(self, job_id: str) -> SegmentJob:
        return self.runner.get(job_id)

    def list(self, limit: int = 50, offset: int = 0, status: str | None = None):
        return self.runner.list(limit=limit, offset=offset, status=status)

    def count(self, status: str | None = None) -> int:
        """How many jobs there are (with ``status``), for paging through :meth:`list`."""
        return self.runner.count(status)

    def cancel(self, job_id: str) -> SegmentJob:
        return self.runner.cancel(job_id)

    def wait(self, job_id: str, timeout: float = 60.0) -> SegmentJob:
        return self.runner.wait(job_id, timeout)

    def changes(self, job_id: str, segment_id: str | None = None) -> pd.DataFrame:
        self.runner.get(job_id)
        return self.runner.changes(job_id, segment_id)

    def history(self, segment_id: str | None = None) -> pd.DataFrame:
        return self.runner.history(segment_id)


__all__ = ["NotFoundError", "SegmentationService"]

"""Segment jobs: evaluate definitions and record who entered and who exited.

A job computes every qualified (segment, profile) pair into a temporary table
first, outside the write lock, then merges it into ``memberships`` in one
write transaction. A job that is cancelled or dies before the commit leaves
membership exactly as the last good run left it.
"""

# ruff: noqa: S608 - SQL text holds only checked, quoted identifiers; values are bound

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Literal

import pandas as pd
from pydantic import BaseModel, Field

from segmentation.definitions import Definition
from segmentation.engines.base import Engine
from segmentation.errors import ConflictError, NotFoundError, SegmentationError
from segmentation.store import Database

JobStatus = Literal["NEW", "PROCESSING", "SUCCEEDED", "FAILED", "CANCELLING", "CANCELLED"]
FINISHED = ("SUCCEEDED", "FAILED", "CANCELLED")
Progress = Callable[[float, str], None]
# Compiles {definition id: definition} into (SQL, params) selecting (segment_id, profile_id).
CompileMany = Callable[[list[Definition], dt.datetime], tuple[str, list]]


class TimeSpan(BaseModel):
    start_time_in_ms: int | None = None
    end_time_in_ms: int | None = None
    total_time_in_ms: int | None = None


class JobMetrics(BaseModel):
    """AEP's job metrics, in snake_case."""

    total_time: TimeSpan = Field(default_factory=TimeSpan)
    profile_segmentation_time: TimeSpan = Field(default_factory=TimeSpan)
    total_profiles: int = 0
    segmented_profile_counter: dict[str, int] = Field(default_factory=dict)
    segmented_profile_by_status_counter: dict[str, dict[str, int]] = Field(default_factory=dict)


class JobSegment(BaseModel):
    segment_id: str
    name: str
    version: int


class SegmentJob(BaseModel):
    id: str
    status: JobStatus
    segments: list[JobSegment]
    as_of: dt.datetime
    schedule_id: str | None = None
    source: Literal["api", "scheduler"] = "api"
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    metrics: JobMetrics = Field(default_factory=JobMetrics)
    error: str | None = None
    engine: str = "duckdb"  # who evaluated the definitions


class JobCancelled(SegmentationError):
    """Raised inside a job when a cancel was asked for."""


def _ms(t: dt.datetime) -> int:
    return int(t.replace(tzinfo=dt.UTC).timestamp() * 1000)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def order_by_dependency(defs: list[Definition], refs: Callable[[Definition], list[str]]):
    """Referenced definitions first (a topological order; cycles were refused on save)."""
    by_id = {d.id: d for d in defs}
    ordered: list[Definition] = []
    seen: set[str] = set()

    def visit(d: Definition) -> None:
        if d.id in seen:
            return
        seen.add(d.id)
        for ref in refs(d):
            if ref in by_id:
                visit(by_id[ref])
        ordered.append(d)

    for d in defs:
        visit(d)
    return ordered


class JobRunner:
    def __init__(self, db: Database, compile_many: CompileMany, engine: Callable[[], Engine]):
        self._db = db
        self._compile_many = compile_many
        self._engine = engine  # the workspace's current engine (it can be switched)
        self._cancel: dict[str, threading.Event] = {}
        self._connections: dict[str, object] = {}
        self._committed: set[str] = set()
        self._guard = threading.Lock()

    # --- reading -------------------------------------------------------------------

    def get(self, job_id: str) -> SegmentJob:
        row = self._db.one(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", [job_id])
        if row is None:
            raise NotFoundError(f"No segment job with id {job_id!r}.")
        return _row_to_job(row)

    def list(self, limit: int = 50, offset: int = 0, status: str | None = None):
        where, params = ("WHERE status = ?", [status]) if status else ("", [])
        rows = self._db.rows(
            f"SELECT {_JOB_COLUMNS} FROM jobs {where} ORDER BY created_at DESC, id "
            "LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [_row_to_job(r) for r in rows]

    # --- running -------------------------------------------------------------------

    def run(
        self,
        defs: list[Definition],
        as_of: dt.datetime,
        *,
        schedule_id: str | None = None,
        progress: Progress | None = None,
    ) -> SegmentJob:
        """Evaluate ``defs`` now, in this thread; returns the finished job."""
        job = self.create(defs, as_of, schedule_id=schedule_id)
        return self.execute(job, defs, progress=progress)

    def start(self, defs: list[Definition], as_of: dt.datetime, **kwargs) -> SegmentJob:
        """Create the job and evaluate it in a background thread."""
        job = self.create(defs, as_of, schedule_id=kwargs.get("schedule_id"))
        thread = threading.Thread(
            target=self.execute,
            args=(job, defs),
            kwargs={"progress": kwargs.get("progress")},
            name=f"segment-job-{job.id[:8]}",
            daemon=True,
        )
        thread.start()
        return job

    def create(self, defs: list[Definition], as_of: dt.datetime, schedule_id: str | None = None):
        job = SegmentJob(
            id=str(uuid.uuid4()),
            status="NEW",
            segments=[JobSegment(segment_id=d.id, name=d.name, version=d.version) for d in defs],
            as_of=as_of,
            schedule_id=schedule_id,
            source="scheduler" if schedule_id else "api",
            created_at=_now(),
            engine=self._engine().name,
        )
        self._cancel[job.id] = threading.Event()
        with self._db.write() as con:
            con.execute(
                f"INSERT INTO jobs ({_JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [job.id, job.status, _segments_json(job), job.as_of, schedule_id, os.getpid()]
                + [job.created_at, None, None, job.metrics.model_dump_json(), None, job.engine],
            )
        return job

    def cancel(self, job_id: str) -> SegmentJob:
        with self._db.write() as con:
            marked = con.execute(
                "UPDATE jobs SET status = 'CANCELLING' WHERE id = ? "
                "AND status IN ('NEW', 'PROCESSING') RETURNING id",
                [job_id],
            ).fetchall()
        if not marked:
            job = self.get(job_id)
            raise ConflictError(f"Segment job {job_id} already {job.status}; nothing to cancel.")
        event = self._cancel.get(job_id)
        if event is None:  # no thread of this process runs it: nothing to wait for
            self._set_status(job_id, "CANCELLED", finished_at=_now())
            return self.get(job_id)
        event.set()
        with self._guard:  # after the merge commits the connection is gone: no interrupt
            con = self._connections.get(job_id)
            if con is not None:
                con.interrupt()
        return self.get(job_id)

    def execute(self, job: SegmentJob, defs: list[Definition], progress: Progress | None = None):
        report = progress or (lambda fraction, message: None)
        metrics = job.metrics
        metrics.total_time = TimeSpan(start_time_in_ms=_ms(job.created_at))
        self._set_status(job.id, "PROCESSING", started_at=_now(), metrics=metrics)
        outcome: BaseException | None = None
        try:
            report(0.05, f"Evaluating {len(defs)} definition(s)")
            self._evaluate(job, defs, metrics, report)
            status, error = "SUCCEEDED", None
        except BaseException as exc:  # recorded, never raised into the UI (but see below)
            status, error = self._outcome(job.id, exc)
            outcome = exc
        finally:
            with self._guard:
                self._connections.pop(job.id, None)
            self._cancel.pop(job.id, None)
            committed = job.id in self._committed
            self._committed.discard(job.id)
        if committed:  # membership was written: the job did its work
            status, error = "SUCCEEDED", None
        finished = _now()
        metrics.total_time.end_time_in_ms = _ms(finished)
        metrics.total_time.total_time_in_ms = _ms(finished) - _ms(job.created_at)
        self._set_status(job.id, status, finished_at=finished, metrics=metrics, error=error)
        if outcome is not None and not isinstance(outcome, Exception):
            raise outcome  # e.g. Streamlit's rerun: recorded above, then let it through
        report(1.0, f"Job {status.lower()}")
        return self.get(job.id)

    def _outcome(self, job_id: str, exc: BaseException) -> tuple[str, str | None]:
        event = self._cancel.get(job_id)
        if isinstance(exc, JobCancelled) or (event is not None and event.is_set()):
            return "CANCELLED", None
        if not isinstance(exc, Exception):
            return "CANCELLED", "The job was interrupted before it finished (page reloaded?)."
        return "FAILED", getattr(exc, "message", None) or str(exc)

    def _check_cancel(self, job_id: str) -> None:
        event = self._cancel.get(job_id)
        if event is not None and event.is_set():
            raise JobCancelled("cancelled")

    def _evaluate(self, job: SegmentJob, defs, metrics: JobMetrics, report: Progress) -> None:
        con = self._db.connection()
        self._connections[job.id] = con
        seg_start = _now()
        table = f"job_{job.id.replace('-', '')}"
        sql, params = self._compile_many(defs, job.as_of)
        self._check_cancel(job.id)
        report(0.2, f"Finding qualified profiles on {job.engine}")
        # a failure here (e.g. on Spark) leaves membership as the last good run left it
        self._engine().ids_into(sql, params, con, table)
        self._check_cancel(job.id)
        report(0.7, "Recording entered and exited profiles")
        try:
            with self._db.write() as tx:
                self._merge(tx, job, table)
                self._check_cancel(job.id)
                with self._guard:  # past this point a cancel no longer applies
                    self._connections.pop(job.id, None)
                    self._committed.add(job.id)
        finally:
            for temp in (table, "job_segments", "job_current"):
                con.execute(f"DROP TABLE IF EXISTS {temp}")
        seg_end = _now()
        metrics.profile_segmentation_time = TimeSpan(
            start_time_in_ms=_ms(seg_start),
            end_time_in_ms=_ms(seg_end),
            total_time_in_ms=_ms(seg_end) - _ms(seg_start),
        )
        self._fill_counts(job, metrics)

    def _merge(self, tx, job: SegmentJob, table: str) -> None:
        """Turn the qualified pairs into statuses, the change log and the history."""
        tx.execute("CREATE OR REPLACE TEMP TABLE job_segments (segment_id VARCHAR, version INT)")
        tx.executemany(
            "INSERT INTO job_segments VALUES (?, ?)",
            [[s.segment_id, s.version] for s in job.segments],
        )
        # a definition deleted while the job ran gets no membership back
        tx.execute("DELETE FROM job_segments WHERE segment_id NOT IN (SELECT id FROM definitions)")
        tx.execute(
            "CREATE OR REPLACE TEMP TABLE job_current AS SELECT m.* FROM memberships m "
            "SEMI JOIN job_segments s USING (segment_id) "
            "WHERE m.status IN ('realized', 'existing')"
        )
        tx.execute(
            "DELETE FROM memberships WHERE segment_id IN (SELECT segment_id FROM job_segments)"
        )
        # Straight into memberships (no copy of the new state first), with one join of
        # the qualified pairs and the current members: in both -> existing, only
        # qualified -> realized, only current -> exited. The pairs are distinct:
        # profile ids are keys and the events pass is grouped by them.
        tx.execute(
            f"""INSERT INTO memberships
            SELECT s.segment_id, coalesce(q.profile_id, c.profile_id),
                   CASE WHEN q.profile_id IS NULL THEN 'exited'
                        WHEN c.profile_id IS NULL THEN 'realized' ELSE 'existing' END,
                   CASE WHEN q.profile_id IS NULL THEN c.last_qualification_time
                        ELSE ?::TIMESTAMP END,
                   s.version
            FROM {table} q
            FULL JOIN job_current c
                ON c.segment_id = q.segment_id AND c.profile_id = q.profile_id
            JOIN job_segments s ON s.segment_id = coalesce(q.segment_id, c.segment_id)""",
            [job.as_of],
        )
        tx.execute(
            "INSERT INTO membership_changes SELECT ?, m.segment_id, m.version, m.profile_id, "
            "CASE m.status WHEN 'realized' THEN 'entered' ELSE 'exited' END FROM memberships m "
            "SEMI JOIN job_segments s USING (segment_id) "
            "WHERE m.status IN ('realized', 'exited')",
            [job.id],
        )
        tx.execute(
            """INSERT INTO membership_history
            SELECT ?, s.segment_id, s.version, ?,
                   coalesce(n.realized + n.existing, 0), coalesce(n.realized, 0),
                   coalesce(n.existing, 0), coalesce(n.exited, 0), ?
            FROM job_segments s LEFT JOIN (
                SELECT segment_id,
                       count(*) FILTER (WHERE status = 'realized') AS realized,
                       count(*) FILTER (WHERE status = 'existing') AS existing,
                       count(*) FILTER (WHERE status = 'exited') AS exited
                FROM memberships SEMI JOIN job_segments USING (segment_id)
                GROUP BY segment_id
            ) n USING (segment_id)""",
            [job.id, job.as_of, _now()],
        )

    def _fill_counts(self, job: SegmentJob, metrics: JobMetrics) -> None:
        has_profiles = self._db.table_exists("profiles")
        metrics.total_profiles = (
            self._db.scalar("SELECT count(*) FROM profiles") if has_profiles else 0
        )
        rows = self._db.rows(
            "SELECT segment_id, qualified, realized, existing, exited FROM membership_history "
            "WHERE job_id = ?",
            [job.id],
        )
        for segment_id, qualified, realized, existing, exited in rows:
            metrics.segmented_profile_counter[segment_id] = qualified
            metrics.segmented_profile_by_status_counter[segment_id] = {
                "realized": realized,
                "existing": existing,
                "exited": exited,
            }

    def _set_status(self, job_id: str, status: str, **fields) -> None:
        sets, params = ["status = ?"], [status]
        for name in ("started_at", "finished_at", "error"):
            if name in fields:
                sets.append(f"{name} = ?")
                params.append(fields[name])
        if "metrics" in fields:
            sets.append("metrics = ?")
            params.append(fields["metrics"].model_dump_json())
        with self._db.write() as con:
            con.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", [*params, job_id])

    def wait(self, job_id: str, timeout: float = 60.0) -> SegmentJob:
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.status in FINISHED or time.monotonic() > deadline:
                return job
            time.sleep(0.05)

    def recover(self) -> int:
        """Mark jobs left unfinished by a process that died as FAILED (not this
        process's own: DuckDB lets one process write the file, so others are dead)."""
        with self._db.write() as con:
            rows = con.execute(
                "UPDATE jobs SET status = 'FAILED', finished_at = ?, error = ? "
                "WHERE status IN ('NEW', 'PROCESSING', 'CANCELLING') "
                "AND pid IS DISTINCT FROM ? RETURNING id",
                [
                    _now(),
                    "The program running this job stopped before it finished; "
                    "membership is as the last successful job left it.",
                    os.getpid(),
                ],
            ).fetchall()
        return len(rows)

    # --- results -------------------------------------------------------------------

    def members(self, segment_id: str, statuses: list[str] | None = None) -> pd.DataFrame:
        statuses = statuses or ["realized", "existing"]
        return self._db.df(
            "SELECT profile_id, status, last_qualification_time FROM memberships "
            "WHERE segment_id = ? AND list_contains(?, status) ORDER BY profile_id",
            [segment_id, statuses],
        )

    def changes(self, job_id: str, segment_id: str | None = None) -> pd.DataFrame:
        return self._db.df(
            "SELECT segment_id, profile_id, change FROM membership_changes WHERE job_id = ? "
            "AND (? IS NULL OR segment_id = ?) ORDER BY segment_id, change, profile_id",
            [job_id, segment_id, segment_id],
        )

    def history(self, segment_id: str | None = None) -> pd.DataFrame:
        return self._db.df(
            "SELECT h.*, j.status AS job_status FROM membership_history h "
            "JOIN jobs j ON j.id = h.job_id WHERE ? IS NULL OR h.segment_id = ? "
            "ORDER BY h.evaluated_at",
            [segment_id, segment_id],
        )


_JOB_COLUMNS = (
    "id, status, segments, as_of, schedule_id, pid, created_at, started_at, finished_at, "
    "metrics, error, engine"
)


def _segments_json(job: SegmentJob) -> str:
    return json.dumps([s.model_dump() for s in job.segments])


def _row_to_job(row: tuple) -> SegmentJob:
    return SegmentJob(
        id=row[0],
        status=row[1],
        segments=[JobSegment(**s) for s in json.loads(row[2])],
        as_of=row[3],
        schedule_id=row[4],
        source="scheduler" if row[4] else "api",
        created_at=row[6],
        started_at=row[7],
        finished_at=row[8],
        metrics=JobMetrics.model_validate_json(row[9]) if row[9] else JobMetrics(),
        error=row[10],
        engine=row[11] or "duckdb",
    )

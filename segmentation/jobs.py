"""Segment jobs: evaluate definitions and record who entered and who exited.

A job computes every qualified (segment, profile) pair into a temporary table
first, outside the write lock, then merges it into ``memberships`` in one
write transaction. A job that is cancelled or dies before the commit leaves
membership exactly as the last good run left it.

Only a run as of now, or as of a time at or after the latest run so far (in time
order, as the demo's weekly history runs), updates the current membership. A run
as of another time (a date ahead, or before the latest run) is a *what-if*: its
counts and its entered/exited lists, measured against the current membership,
are kept in the history marked ``what_if``, and members, exports and profile
memberships are untouched. Each membership row names the job it comes from and
that job's as-of.
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

import duckdb
import pandas as pd
from pydantic import BaseModel, Field

from segmentation.definitions import Definition
from segmentation.engines.base import Engine
from segmentation.errors import ConflictError, NotFoundError, SegmentationError
from segmentation.store import Database

JobStatus = Literal["NEW", "PROCESSING", "SUCCEEDED", "FAILED", "CANCELLING", "CANCELLED"]
FINISHED = ("SUCCEEDED", "FAILED", "CANCELLED")
Progress = Callable[[float, str], None]
# Compiles definitions into (SQL, params) selecting (segment_id, profile_id), and the
# reason of each definition that does not compile ({definition id: reason}).
CompileMany = Callable[[list[Definition], dt.datetime], tuple[str, list, dict[str, str]]]
# A run as of more than this after the moment it is made is as of the future: a what-if.
NOW_TOLERANCE = dt.timedelta(minutes=1)


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
    # FAILED when this definition could not be evaluated (say a field's type changed
    # under it): its membership is then as the last successful run left it, and the
    # job's other definitions are evaluated all the same.
    status: Literal["SUCCEEDED", "FAILED"] | None = None
    error: str | None = None


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
    what_if: bool = Field(
        False,
        description="as of another time than the current membership's: counts and changes "
        "were recorded, members were not changed",
    )


class MembershipRun(BaseModel):
    """The run a segment's current membership comes from."""

    segment_id: str
    job_id: str | None = Field(None, description="None for membership older than this record")
    as_of: dt.datetime | None = None


def current_runs(db: Database, segment_ids: list[str]) -> list[MembershipRun]:
    """Which job set each segment's current membership, and as of when (segments
    without members are left out)."""
    rows = db.rows(
        "SELECT segment_id, any_value(job_id), any_value(as_of) FROM memberships "
        "WHERE list_contains(?, segment_id) GROUP BY segment_id ORDER BY segment_id",
        [segment_ids],
    )
    return [MembershipRun(segment_id=s, job_id=j, as_of=a) for s, j, a in rows]


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
                f"INSERT INTO jobs ({_JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [job.id, job.status, _segments_json(job), job.as_of, schedule_id, os.getpid()]
                + [job.created_at, None, None, job.metrics.model_dump_json(), None, False]
                + [job.engine],
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
            status, error = "SUCCEEDED", job.error
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
            status, error = "SUCCEEDED", job.error
        finished = _now()
        metrics.total_time.end_time_in_ms = _ms(finished)
        metrics.total_time.total_time_in_ms = _ms(finished) - _ms(job.created_at)
        self._set_status(
            job.id,
            status,
            finished_at=finished,
            metrics=metrics,
            error=error,
            segments=job,
            what_if=job.what_if,
        )
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
        report(0.2, f"Finding qualified profiles on {job.engine}")
        failed = self._qualify(con, job, defs, table)
        for segment in job.segments:
            segment.status = "FAILED" if segment.segment_id in failed else "SUCCEEDED"
            segment.error = failed.get(segment.segment_id)
        if len(failed) == len(defs):
            raise SegmentationError(_failures_text(job))
        job.error = _failures_text(job) if failed else None
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
            for temp in (table, "job_segments", "job_current", "job_what_if", "job_one"):
                con.execute(f"DROP TABLE IF EXISTS {temp}")
        seg_end = _now()
        metrics.profile_segmentation_time = TimeSpan(
            start_time_in_ms=_ms(seg_start),
            end_time_in_ms=_ms(seg_end),
            total_time_in_ms=_ms(seg_end) - _ms(seg_start),
        )
        self._fill_counts(job, metrics)

    def _qualify(
        self, con: duckdb.DuckDBPyConnection, job: SegmentJob, defs: list[Definition], table: str
    ) -> dict[str, str]:
        """Fill ``table`` with the qualified pairs of every definition that can be
        evaluated; the reason of each one that cannot, by id. All share one query; if
        that query fails, each definition runs alone so that one bad definition fails
        itself, not the job. The engine evaluates (a failure on Spark leaves membership
        as the last good run left it); the pairs land in the workspace either way."""
        engine = self._engine()
        sql, params, failed = self._compile_many(defs, job.as_of)
        self._check_cancel(job.id)
        try:
            engine.ids_into(sql, params, con, table)
            return failed
        except duckdb.InterruptException:
            raise
        except (duckdb.Error, SegmentationError):
            self._check_cancel(job.id)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} (segment_id VARCHAR, profile_id VARCHAR)"
        )
        for definition in defs:
            if definition.id in failed:
                continue
            self._check_cancel(job.id)
            sql, params, bad = self._compile_many([definition], job.as_of)
            failed.update(bad)
            if bad:
                continue
            try:
                engine.ids_into(sql, params, con, "job_one")
                con.execute(f"INSERT INTO {table} SELECT * FROM job_one")
            except duckdb.InterruptException:
                raise
            except duckdb.Error as exc:
                failed[definition.id] = _first_line(exc)
            except SegmentationError as exc:
                failed[definition.id] = exc.message
        return failed

    def _merge(self, tx, job: SegmentJob, table: str) -> None:
        """Turn the qualified pairs into statuses, the change log and the history."""
        tx.execute("CREATE OR REPLACE TEMP TABLE job_segments (segment_id VARCHAR, version INT)")
        tx.executemany(
            "INSERT INTO job_segments VALUES (?, ?)",
            [[s.segment_id, s.version] for s in job.segments if s.status != "FAILED"],
        )
        # a definition deleted while the job ran gets no membership back
        tx.execute("DELETE FROM job_segments WHERE segment_id NOT IN (SELECT id FROM definitions)")
        tx.execute(
            "CREATE OR REPLACE TEMP TABLE job_current AS SELECT m.* FROM memberships m "
            "SEMI JOIN job_segments s USING (segment_id) "
            "WHERE m.status IN ('realized', 'existing')"
        )
        job.what_if = self._is_what_if(tx, job)
        if job.what_if:  # the new state goes to a scratch table; memberships stay
            target = "job_what_if"
            tx.execute(f"CREATE OR REPLACE TEMP TABLE {target} AS FROM memberships LIMIT 0")
        else:
            target = "memberships"
            tx.execute(
                "DELETE FROM memberships WHERE segment_id IN (SELECT segment_id FROM job_segments)"
            )
        # Straight into memberships (no copy of the new state first), with one join of
        # the qualified pairs and the current members: in both -> existing, only
        # qualified -> realized, only current -> exited. The pairs are distinct:
        # profile ids are keys and the events pass is grouped by them.
        tx.execute(
            f"""INSERT INTO {target} (segment_id, profile_id, status, last_qualification_time,
                                      version, job_id, as_of)
            SELECT s.segment_id, coalesce(q.profile_id, c.profile_id),
                   CASE WHEN q.profile_id IS NULL THEN 'exited'
                        WHEN c.profile_id IS NULL THEN 'realized' ELSE 'existing' END,
                   CASE WHEN q.profile_id IS NULL THEN c.last_qualification_time
                        ELSE $as_of::TIMESTAMP END,
                   s.version, $job, $as_of::TIMESTAMP
            FROM {table} q
            FULL JOIN job_current c
                ON c.segment_id = q.segment_id AND c.profile_id = q.profile_id
            JOIN job_segments s ON s.segment_id = coalesce(q.segment_id, c.segment_id)""",
            {"as_of": job.as_of, "job": job.id},
        )
        tx.execute(
            "INSERT INTO membership_changes SELECT ?, m.segment_id, m.version, m.profile_id, "
            f"CASE m.status WHEN 'realized' THEN 'entered' ELSE 'exited' END FROM {target} m "
            "SEMI JOIN job_segments s USING (segment_id) "
            "WHERE m.status IN ('realized', 'exited')",
            [job.id],
        )
        tx.execute(
            f"""INSERT INTO membership_history
            SELECT ?, s.segment_id, s.version, ?,
                   coalesce(n.realized + n.existing, 0), coalesce(n.realized, 0),
                   coalesce(n.existing, 0), coalesce(n.exited, 0), ?, ?
            FROM job_segments s LEFT JOIN (
                SELECT segment_id,
                       count(*) FILTER (WHERE status = 'realized') AS realized,
                       count(*) FILTER (WHERE status = 'existing') AS existing,
                       count(*) FILTER (WHERE status = 'exited') AS exited
                FROM {target} SEMI JOIN job_segments USING (segment_id)
                GROUP BY segment_id
            ) n USING (segment_id)""",
            [job.id, job.as_of, _now(), job.what_if],
        )

    @staticmethod
    def _is_what_if(tx, job: SegmentJob) -> bool:
        """As of the future, or before the latest run that set a segment's membership."""
        if job.as_of > job.created_at + NOW_TOLERANCE:
            return True
        latest = tx.execute(
            "SELECT max(as_of) FROM membership_history SEMI JOIN job_segments USING (segment_id) "
            "WHERE NOT what_if"
        ).fetchone()[0]
        return latest is not None and job.as_of < latest

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
        for name in ("started_at", "finished_at", "error", "what_if"):
            if name in fields:
                sets.append(f"{name} = ?")
                params.append(fields[name])
        if "metrics" in fields:
            sets.append("metrics = ?")
            params.append(fields["metrics"].model_dump_json())
        if "segments" in fields:
            sets.append("segments = ?")
            params.append(_segments_json(fields["segments"]))
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
        """The current members, with the job they come from and its as-of."""
        statuses = statuses or ["realized", "existing"]
        return self._db.df(
            "SELECT profile_id, status, last_qualification_time, job_id, as_of FROM memberships "
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
    "metrics, error, what_if, engine"
)


def _failures_text(job: SegmentJob) -> str:
    failed = [s for s in job.segments if s.status == "FAILED"]
    lines = "; ".join(f"{s.name!r}: {s.error}" for s in failed)
    return (
        f"{len(failed)} of {len(job.segments)} definition(s) could not be evaluated, and "
        f"their membership is as their last successful run left it: {lines}"
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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
        what_if=bool(row[11]),
        engine=row[12] or "duckdb",
    )

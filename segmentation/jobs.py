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
from collections.abc import Callable
from typing import Literal

import duckdb
import pandas as pd
from pydantic import BaseModel, Field

from segmentation.definitions import Definition
from segmentation.engines.base import Engine
from segmentation.errors import ConflictError, NotFoundError, SegmentationError
from segmentation.faults import crash_point
from segmentation.store import Database
from segmentation.tasks import FINISHED, INTERRUPTED, Task, TaskContext, TaskRunner, TaskStatus

JobStatus = TaskStatus
KIND = "segment-job"
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
    pql: str | None = None  # what was evaluated (None in jobs recorded before it was kept)
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
    progress: float = 0.0  # 0..1, while it runs
    message: str = ""


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
    """Segment jobs as tasks of kind ``segment-job`` (see ``tasks``): the task keeps the
    status, progress, cancel and recovery; the job adds what to evaluate (the payload)
    and what came of it (the result: metrics, per-definition outcome, what-if)."""

    def __init__(
        self,
        db: Database,
        tasks: TaskRunner,
        compile_many: CompileMany,
        engine: Callable[[], Engine],
    ):
        self._db = db
        self._tasks = tasks
        self._compile_many = compile_many
        self._engine = engine  # the workspace's current engine (it can be switched)
        # one job at a time writes memberships; a few more may wait their turn
        tasks.register(KIND, workers=1, queued=8, retry_after=10)

    # --- reading -------------------------------------------------------------------

    def get(self, job_id: str) -> SegmentJob:
        try:
            return _to_job(self._tasks.get(job_id, KIND))
        except NotFoundError:
            raise NotFoundError(f"No segment job with id {job_id!r}.") from None

    def list(self, limit: int = 50, offset: int = 0, status: str | None = None):
        tasks = self._tasks.list(KIND, status=status, limit=limit, offset=offset)
        return [_to_job(t) for t in tasks]

    def count(self, status: str | None = None) -> int:
        return self._tasks.count(KIND, status=status)

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
        task = self._tasks.run(
            KIND,
            self._task_fn(defs, progress),
            payload=_payload(defs, as_of, schedule_id, self._engine().name),
        )
        return _to_job(task)

    def start(self, defs: list[Definition], as_of: dt.datetime, **kwargs) -> SegmentJob:
        """Queue the job on the task runner's job worker (RunnerBusyError when full)."""
        payload = _payload(defs, as_of, kwargs.get("schedule_id"), self._engine().name)
        task = self._tasks.submit(
            KIND, self._task_fn(defs, kwargs.get("progress")), payload=payload
        )
        return _to_job(task)

    def cancel(self, job_id: str) -> SegmentJob:
        self.get(job_id)
        try:
            self._tasks.cancel(job_id)
        except ConflictError:
            job = self.get(job_id)
            state = job.status if job.status in FINISHED else "finishing"
            raise ConflictError(
                f"Segment job {job_id} already {state}; nothing to cancel."
            ) from None
        return self.get(job_id)

    def wait(self, job_id: str, timeout: float = 60.0) -> SegmentJob:
        self._tasks.wait(job_id, timeout)
        return self.get(job_id)

    def _task_fn(self, defs: list[Definition], progress: Progress | None):
        def evaluate(ctx: TaskContext) -> dict:
            job = _to_job(ctx.task)
            try:
                return self._execute(ctx, job, defs, progress)
            except Exception:
                # Nothing was committed: keep which definitions failed and the timing,
                # not the counts of a merge that was rolled back.
                job.metrics.segmented_profile_counter.clear()
                job.metrics.segmented_profile_by_status_counter.clear()
                ctx.save_result(_result(job))
                raise

        return evaluate

    def _execute(
        self, ctx: TaskContext, job: SegmentJob, defs: list[Definition], progress: Progress | None
    ) -> dict:
        def report(fraction: float, message: str) -> None:
            ctx.progress(fraction, message)
            if progress is not None:
                progress(fraction, message)

        metrics = job.metrics
        metrics.total_time = TimeSpan(start_time_in_ms=_ms(job.created_at))
        report(0.05, f"Evaluating {len(defs)} definition(s)")
        con = self._db.connection()
        seg_start = _now()
        table = f"job_{job.id.replace('-', '')}"
        report(0.2, f"Finding qualified profiles on {job.engine}")
        try:
            with ctx.interruptible(con):
                failed = self._qualify(con, ctx, job, defs, table)
            for segment in job.segments:
                segment.status = "FAILED" if segment.segment_id in failed else "SUCCEEDED"
                segment.error = failed.get(segment.segment_id)
            if len(failed) == len(defs):
                raise SegmentationError(_failures_text(job))
            job.error = _failures_text(job) if failed else None
            report(0.7, "Recording entered and exited profiles")
            with self._db.write() as tx:
                self._merge(tx, job, table)
                seg_end = _now()
                metrics.profile_segmentation_time = TimeSpan(
                    start_time_in_ms=_ms(seg_start),
                    end_time_in_ms=_ms(seg_end),
                    total_time_in_ms=_ms(seg_end) - _ms(seg_start),
                )
                self._fill_counts(tx, job, metrics)
                metrics.total_time.end_time_in_ms = _ms(seg_end)
                metrics.total_time.total_time_in_ms = _ms(seg_end) - _ms(job.created_at)
                crash_point("job.merged")
                # the job's status commits with its membership: they always agree
                ctx.complete_within(tx, _result(job))
            crash_point("job.committed")
        finally:
            for temp in (table, "job_segments", "job_current", "job_what_if", "job_one"):
                con.execute(f"DROP TABLE IF EXISTS {temp}")
        if progress is not None:
            progress(1.0, "Job succeeded")
        return _result(job)

    def _qualify(
        self,
        con: duckdb.DuckDBPyConnection,
        ctx: TaskContext,
        job: SegmentJob,
        defs: list[Definition],
        table: str,
    ) -> dict[str, str]:
        """Fill ``table`` with the qualified pairs of every definition that can be
        evaluated; the reason of each one that cannot, by id. All share one query; if
        that query fails, each definition runs alone so that one bad definition fails
        itself, not the job. The engine evaluates (a failure on Spark leaves membership
        as the last good run left it); the pairs land in the workspace either way."""
        engine = self._engine()
        sql, params, failed = self._compile_many(defs, job.as_of)
        ctx.check_cancel()
        try:
            engine.ids_into(sql, params, con, table)
            return failed
        except duckdb.InterruptException:
            raise
        except (duckdb.Error, SegmentationError):
            ctx.check_cancel()
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} (segment_id VARCHAR, profile_id VARCHAR)"
        )
        for definition in defs:
            if definition.id in failed:
                continue
            ctx.check_cancel()
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

    def _fill_counts(self, tx, job: SegmentJob, metrics: JobMetrics) -> None:
        has_profiles = self._db.table_exists("profiles")
        metrics.total_profiles = (
            tx.execute("SELECT count(*) FROM profiles").fetchone()[0] if has_profiles else 0
        )
        rows = tx.execute(
            "SELECT segment_id, qualified, realized, existing, exited FROM membership_history "
            "WHERE job_id = ?",
            [job.id],
        ).fetchall()
        for segment_id, qualified, realized, existing, exited in rows:
            metrics.segmented_profile_counter[segment_id] = qualified
            metrics.segmented_profile_by_status_counter[segment_id] = {
                "realized": realized,
                "existing": existing,
                "exited": exited,
            }

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
            "JOIN tasks j ON j.id = h.job_id WHERE ? IS NULL OR h.segment_id = ? "
            "ORDER BY h.evaluated_at",
            [segment_id, segment_id],
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


def _payload(
    defs: list[Definition], as_of: dt.datetime, schedule_id: str | None, engine: str
) -> dict:
    segments = [
        JobSegment(segment_id=d.id, name=d.name, version=d.version, pql=d.pql) for d in defs
    ]
    return {
        "segments": [seg.model_dump() for seg in segments],
        "as_of": as_of.isoformat(),
        "schedule_id": schedule_id,
        "engine": engine,
    }


def _result(job: SegmentJob) -> dict:
    return {
        "segments": [seg.model_dump() for seg in job.segments],
        "metrics": job.metrics.model_dump(),
        "what_if": job.what_if,
        "error": job.error,
    }


def _to_job(task: Task) -> SegmentJob:
    """The job a task of kind ``segment-job`` is: its payload, and its result once any."""
    payload, result = task.payload or {}, task.result or {}
    error = task.error
    if task.status == "SUCCEEDED":
        error = result.get("error")  # definitions that failed while the others ran
    elif error == INTERRUPTED:
        error = f"{INTERRUPTED} Membership is as the last successful job left it."
    schedule_id = payload.get("schedule_id")
    return SegmentJob(
        id=task.id,
        status=task.status,
        segments=[JobSegment(**seg) for seg in result.get("segments") or payload["segments"]],
        as_of=dt.datetime.fromisoformat(payload["as_of"]),
        schedule_id=schedule_id,
        source="scheduler" if schedule_id else "api",
        created_at=task.created_at,
        started_at=task.started_at,
        finished_at=task.finished_at,
        metrics=JobMetrics.model_validate(result["metrics"])
        if "metrics" in result
        else JobMetrics(),
        error=error,
        what_if=bool(result.get("what_if")),
        engine=payload.get("engine", "duckdb"),
        progress=task.progress,
        message=task.message,
    )

"""Schedules: cron-timed segment jobs, their store and the runner that fires them.

Timestamps are stored and returned as naive UTC, like every other table of the
workspace; ``Schedule.next_run`` is the exception, an aware datetime in the
schedule's own timezone, because that is what a person reads.

When is a schedule due? Slots are owed from its *anchor*: the later of its last
run and the moment it was created, activated, or given a new cron or timezone
(so switching a schedule on, or changing its time, never fires it at once for a
slot from before). It is due when the first cron time after the anchor is not
in the future. After downtime a schedule that missed several slots runs once,
and its last run becomes now. A run whose job fails to start still counts as
the slot's run (no retry every poll); the error is kept in ``last_error``.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import uuid
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import duckdb
from pydantic import BaseModel, computed_field

from segmentation.cron import check_timezone, describe, next_runs, parse_cron
from segmentation.errors import (
    InvalidInputError,
    NameTakenError,
    NotFoundError,
    SegmentationError,
)
from segmentation.store import Database

log = logging.getLogger(__name__)

# Runners whose daemon thread is alive. A daemon thread still inside DuckDB when the
# interpreter finalizes is unwound by force and aborts the whole process ("FATAL: exception
# not rethrown"), so they are stopped at exit, before finalization.
_RUNNING: weakref.WeakSet[ScheduleRunner] = weakref.WeakSet()


@atexit.register
def stop_all_runners() -> None:
    for runner in list(_RUNNING):
        runner.stop(timeout=5)


ALL_SEGMENTS = "*"
_EDITABLE = ("name", "cron", "timezone", "segments", "active")
# the column order of _schedule_row and _row_to_schedule, spelled out in each statement
_SELECT_ALL = (
    "SELECT id, name, cron, timezone, segments, active, created_at, updated_at, "
    "last_run_at, last_job_id, last_error, anchor_at FROM schedules"
)
_SELECT_ONE = (
    "SELECT id, name, cron, timezone, segments, active, created_at, updated_at, "
    "last_run_at, last_job_id, last_error, anchor_at FROM schedules WHERE id = ?"
)
_INSERT = (
    "INSERT INTO schedules (id, name, cron, timezone, segments, active, created_at, "
    "updated_at, last_run_at, last_job_id, last_error, anchor_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

SegmentValidator = Callable[[list[str]], None]
RunJob = Callable[[list[str], str], str]


def utcnow() -> datetime:
    """Now as naive UTC, the workspace's convention for stored times."""
    return datetime.now(UTC).replace(tzinfo=None)


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


class Schedule(BaseModel):
    id: str
    name: str
    cron: str
    timezone: str = "UTC"
    segments: list[str]
    active: bool = True
    created_at: datetime
    updated_at: datetime
    last_run_at: datetime | None = None
    last_job_id: str | None = None
    last_error: str | None = None
    anchor_at: datetime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def description(self) -> str:
        return describe(self.cron)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def next_run(self) -> datetime | None:
        """The next cron time from now, in the schedule's timezone; None when off."""
        if not self.active:
            return None
        runs = next_runs(self.cron, self.timezone, utcnow(), 1)
        return runs[0] if runs else None

    def owed_from(self) -> datetime:
        """Naive UTC moment after which the next slot is owed (see module docs)."""
        anchor = self.anchor_at or self.created_at
        if self.last_run_at is not None and self.last_run_at > anchor:
            return self.last_run_at
        return anchor

    def due(self, now: datetime) -> bool:
        if not self.active:
            return False
        first = next_runs(self.cron, self.timezone, self.owed_from(), 1)
        return bool(first) and _naive_utc(first[0]) <= _naive_utc(now)


class ScheduleStore:
    """CRUD over the ``schedules`` table; every write is one ``db.write()``."""

    def __init__(
        self,
        db: Database,
        validate_segments: SegmentValidator | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.db = db
        self._validate_segments = validate_segments
        self.clock = clock

    # --- reading -------------------------------------------------------------------

    def get(self, schedule_id: str) -> Schedule:
        row = self.db.one(_SELECT_ONE, [schedule_id])
        if row is None:
            raise NotFoundError(f"No schedule with id '{schedule_id}'.")
        return _row_to_schedule(row)

    def list(self) -> list[Schedule]:
        rows = self.db.rows(_SELECT_ALL + " ORDER BY lower(name), id")
        return [_row_to_schedule(row) for row in rows]

    def uses_segment(self, segment_id: str) -> list[Schedule]:
        """Schedules naming ``segment_id`` itself ("*" schedules do not count)."""
        return [s for s in self.list() if segment_id in s.segments]

    # --- writing -------------------------------------------------------------------

    def create(
        self,
        name: str,
        cron: str,
        segments: list[str],
        timezone: str = "UTC",
        active: bool = True,
    ) -> Schedule:
        now = _naive_utc(self.clock())
        schedule = Schedule(
            id=str(uuid.uuid4()),
            name=_check_name(name),
            cron=parse_cron(cron).text,
            timezone=check_timezone(timezone),
            segments=self._check_segments(segments),
            active=_check_active(active),
            created_at=now,
            updated_at=now,
            anchor_at=now,
        )
        with self.db.write() as con:
            self._check_unique(con, schedule.name, schedule.id)
            self._check_segments(schedule.segments)  # again under the lock: a delete raced
            con.execute(_INSERT, _schedule_row(schedule))
        return schedule

    def update(self, schedule_id: str, **changes: Any) -> Schedule:
        """Change any of name, cron, timezone, segments, active."""
        unknown = sorted(set(changes) - set(_EDITABLE))
        if unknown:
            raise InvalidInputError(
                f"cannot change {', '.join(unknown)} of a schedule; "
                f"editable: {', '.join(_EDITABLE)}"
            )
        checked: dict[str, Any] = {}
        if "name" in changes:
            checked["name"] = _check_name(changes["name"])
        if "cron" in changes:
            checked["cron"] = parse_cron(changes["cron"]).text
        if "timezone" in changes:
            checked["timezone"] = check_timezone(changes["timezone"])
        if "segments" in changes:
            checked["segments"] = self._check_segments(changes["segments"])
        if "active" in changes:
            checked["active"] = _check_active(changes["active"])
        with self.db.write() as con:
            current = self._get_in(con, schedule_id)
            if "name" in checked:
                self._check_unique(con, checked["name"], schedule_id)
            if "segments" in checked:  # again under the lock: a delete raced
                self._check_segments(checked["segments"])
            now = _naive_utc(self.clock())
            retimed = (
                checked.get("cron", current.cron) != current.cron
                or checked.get("timezone", current.timezone) != current.timezone
                or (checked.get("active", current.active) and not current.active)
            )
            updated = current.model_copy(
                update={
                    **checked,
                    "updated_at": now,
                    "anchor_at": now if retimed else current.anchor_at,
                }
            )
            con.execute("DELETE FROM schedules WHERE id = ?", [schedule_id])
            con.execute(_INSERT, _schedule_row(updated))
        return updated

    def set_active(self, schedule_id: str, active: bool) -> Schedule:
        return self.update(schedule_id, active=active)

    def delete(self, schedule_id: str) -> None:
        with self.db.write() as con:
            self._get_in(con, schedule_id)
            con.execute("DELETE FROM schedules WHERE id = ?", [schedule_id])

    def record_run(
        self, schedule_id: str, at: datetime, job_id: str | None, error: str | None
    ) -> None:
        """Note a run (or a failed one); a schedule deleted meanwhile is ignored."""
        with self.db.write() as con:
            con.execute(
                "UPDATE schedules SET last_run_at = ?, last_job_id = coalesce(?, last_job_id), "
                "last_error = ? WHERE id = ?",
                [_naive_utc(at), job_id, error, schedule_id],
            )

    # --- helpers -------------------------------------------------------------------

    def _get_in(self, con: duckdb.DuckDBPyConnection, schedule_id: str) -> Schedule:
        row = con.execute(_SELECT_ONE, [schedule_id]).fetchone()
        if row is None:
            raise NotFoundError(f"No schedule with id '{schedule_id}'.")
        return _row_to_schedule(row)

    @staticmethod
    def _check_unique(con: duckdb.DuckDBPyConnection, name: str, own_id: str) -> None:
        # names compare without case or outer spaces: "Nightly" and "nightly" clash
        clash = con.execute(
            "SELECT id FROM schedules WHERE lower(name) = lower(?) AND id <> ?", [name, own_id]
        ).fetchone()
        if clash is not None:
            raise NameTakenError(f"A schedule named '{name}' already exists.")

    def _check_segments(self, segments: list[str]) -> list[str]:
        if isinstance(segments, str):
            segments = [segments]
        if not isinstance(segments, list | tuple) or not all(isinstance(s, str) for s in segments):
            raise InvalidInputError("segments must be a list of definition ids, or ['*']")
        cleaned = list(dict.fromkeys(s.strip() for s in segments if s.strip()))
        if not cleaned:
            raise InvalidInputError(
                "a schedule needs at least one segment; give definition ids or '*' for all"
            )
        if ALL_SEGMENTS in cleaned:
            if len(cleaned) > 1:
                raise InvalidInputError(
                    "'*' already means every definition; give it alone or list ids only"
                )
            return cleaned
        if self._validate_segments is not None:
            self._validate_segments(cleaned)
        return cleaned


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError("a schedule needs a name")
    if len(name.strip()) > 200:
        raise InvalidInputError("a schedule name can be at most 200 characters")
    return name.strip()


def _check_active(active: Any) -> bool:
    if not isinstance(active, bool):
        raise InvalidInputError(f"active must be true or false, not {active!r}")
    return active


def _schedule_row(s: Schedule) -> list[Any]:
    return [
        s.id,
        s.name,
        s.cron,
        s.timezone,
        json.dumps(s.segments),
        s.active,
        s.created_at,
        s.updated_at,
        s.last_run_at,
        s.last_job_id,
        s.last_error,
        s.anchor_at,
    ]


def _row_to_schedule(row: tuple) -> Schedule:
    return Schedule(
        id=row[0],
        name=row[1],
        cron=row[2],
        timezone=row[3],
        segments=json.loads(row[4]),
        active=bool(row[5]),
        created_at=row[6],
        updated_at=row[7],
        last_run_at=row[8],
        last_job_id=row[9],
        last_error=row[10],
        anchor_at=row[11],
    )


# --- the runner --------------------------------------------------------------------


class ScheduleRunner:
    """Fires due schedules: call :meth:`tick`, or let :meth:`start` do it in a thread."""

    def __init__(
        self,
        store: ScheduleStore,
        run_job: RunJob,
        clock: Callable[[], datetime] = utcnow,
        poll_seconds: float = 30,
    ):
        if poll_seconds <= 0:
            raise InvalidInputError("poll_seconds must be more than 0")
        self.store = store
        self.run_job = run_job
        self.clock = clock
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._tick_lock = threading.Lock()

    def tick(self, now: datetime | None = None) -> list[str]:
        """Run every active schedule that is due; returns the ids of the jobs started."""
        with self._tick_lock:  # a tick from the thread and one by hand never overlap
            moment = _naive_utc(now if now is not None else self.clock())
            started: list[str] = []
            for schedule in self.store.list():
                try:
                    due = schedule.due(moment)
                except SegmentationError as exc:  # a stored cron this version refuses
                    log.warning("schedule %r skipped: %s", schedule.name, exc.message)
                    continue
                if not due:
                    continue
                job_id = self._run(schedule, moment)
                if job_id is not None:
                    started.append(job_id)
            return started

    def _run(self, schedule: Schedule, moment: datetime) -> str | None:
        try:
            job_id = self.run_job(list(schedule.segments), schedule.id)
        except Exception as exc:  # one bad schedule must not stop the rest
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            log.warning("schedule %r failed: %s", schedule.name, message)
            self.store.record_run(schedule.id, moment, None, message)
            return None
        self.store.record_run(schedule.id, moment, job_id, None)
        log.info("schedule %r started job %s", schedule.name, job_id)
        return job_id

    # --- the background thread -----------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Tick every poll_seconds in a daemon thread; a second start does nothing."""
        with self._lock:
            if self.running:
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="segmentation-scheduler", daemon=True
            )
            self._thread.start()
            _RUNNING.add(self)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread; waits for a job being started right now, up to ``timeout``."""
        with self._lock:
            self._stop.set()
            thread, self._thread = self._thread, None
            _RUNNING.discard(self)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def run_forever(self) -> None:
        """Tick in this thread until :meth:`stop` (or KeyboardInterrupt)."""
        self._stop.clear()
        self._loop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except duckdb.InterruptException:  # the workspace is closing (process exit)
                return
            except Exception:  # keep the loop alive; the log says why
                log.exception("scheduler tick failed")
            self._stop.wait(self.poll_seconds)


def run_scheduler(db: Database, run_job: RunJob, poll_seconds: float = 30) -> None:
    """Run the workspace's schedules in this thread until Ctrl-C (the CLI's scheduler)."""
    runner = ScheduleRunner(ScheduleStore(db), run_job, poll_seconds=poll_seconds)
    active = sum(1 for s in runner.store.list() if s.active)
    log.info("scheduler started: %d active schedule(s), polling every %ss", active, poll_seconds)
    try:
        runner.run_forever()
    except KeyboardInterrupt:
        log.info("scheduler stopped")
    finally:
        runner.stop()

"""One task mechanism for long work: segment jobs, exports, asynchronous previews.

A task is a row in the workspace's ``tasks`` table (kind, status, progress,
error, payload, result, times) and a function run on a worker thread of its
kind. Each kind has a bounded pool whose capacity is known: a submit beyond
``workers + queued`` raises :class:`RunnerBusyError` (the REST API answers 429
with its ``retry_after``), so a burst of requests never piles up unbounded work.

Statuses (AEP's job statuses): NEW -> PROCESSING -> SUCCEEDED | FAILED |
CANCELLED, with CANCELLING while a cancel waits for the function to notice.
Cancel is cooperative: it sets a flag the function checks with
:meth:`TaskContext.check_cancel` and interrupts the DuckDB connection the
function registered with :meth:`TaskContext.interruptible`. After
:meth:`TaskContext.point_of_no_return` (e.g. once a merge is committed) a cancel
is refused, so status and data always agree.

DuckDB lets one process write a workspace, so on open every task still active
in a row written by another process was interrupted by that process's death:
:meth:`TaskRunner.recover` marks them FAILED and hands them to the hook their
kind registered (to remove partial files, or to read what was committed).
"""

# ruff: noqa: S608 - SQL text holds only the fixed column list; values are bound

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb
from pydantic import BaseModel

from segmentation.errors import ConflictError, NotFoundError, SegmentationError
from segmentation.store import Database

TaskStatus = Literal["NEW", "PROCESSING", "CANCELLING", "SUCCEEDED", "FAILED", "CANCELLED"]
ACTIVE: tuple[str, ...] = ("NEW", "PROCESSING", "CANCELLING")
FINISHED: tuple[str, ...] = ("SUCCEEDED", "FAILED", "CANCELLED")
INTERRUPTED = "The program running this task stopped before it finished."
KNOWN_TASKS = 1_000  # tasks answered from memory, least recently read out
_COLUMNS = (
    "id, kind, status, progress, message, error, payload, result, pid, "
    "created_at, started_at, finished_at, updated_at"
)


class Task(BaseModel):
    id: str
    kind: str
    status: TaskStatus
    progress: float = 0.0  # 0..1
    message: str = ""
    error: str | None = None
    payload: Any = None  # what the task was asked to do (JSON)
    result: Any = None  # what it returned (JSON), once SUCCEEDED
    pid: int | None = None
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    updated_at: dt.datetime

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class TaskCancelled(SegmentationError):
    """Raised inside a task function when its cancel was asked for."""


class RunnerBusyError(SegmentationError):
    """Every worker of a kind is busy and its queue is full; try again later."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


Hook = Callable[[Task], None]


@dataclass
class _Kind:
    workers: int
    queued: int
    retry_after: int
    on_recover: Hook | None
    executor: ThreadPoolExecutor | None = None
    load: int = 0  # submitted and not finished

    @property
    def capacity(self) -> int:
        return self.workers + self.queued


@dataclass
class _Live:
    """In-process state of a task this runner started."""

    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    connection: duckdb.DuckDBPyConnection | None = None
    started: bool = False
    final: bool = False  # past the point of no return: cancel refused


class TaskContext:
    """What a task function gets: progress, cancel checks, an interruptible connection."""

    def __init__(self, runner: TaskRunner, task: Task, live: _Live) -> None:
        self._runner = runner
        self._live = live
        self.task = task

    @property
    def id(self) -> str:
        return self.task.id

    @property
    def cancelled(self) -> bool:
        return self._live.cancel.is_set()

    def check_cancel(self) -> None:
        if self._live.cancel.is_set():
            raise TaskCancelled(f"Task {self.id} was cancelled.")

    def progress(self, fraction: float, message: str = "") -> None:
        self.check_cancel()
        self._runner._update(self.id, progress=min(max(fraction, 0.0), 1.0), message=message)

    @contextmanager
    def interruptible(self, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """A cancel while inside interrupts the query running on ``con``."""
        with self._runner._guard:
            self.check_cancel()
            self._live.connection = con
        try:
            yield
        finally:
            with self._runner._guard:
                self._live.connection = None
        self.check_cancel()  # an interrupt sent between two statements is seen here

    def point_of_no_return(self) -> None:
        """From here on the task completes: a cancel that came first wins, later ones fail."""
        with self._runner._guard:
            self.check_cancel()
            self._live.final = True
            self._live.connection = None

    def complete_within(self, tx: duckdb.DuckDBPyConnection, result: Any) -> None:
        """Record SUCCEEDED and ``result`` in ``tx``, the transaction that commits the
        task's work (a job's membership): a crash after that commit cannot leave the
        task looking unfinished, nor before it finished. Also the point of no return."""
        self.point_of_no_return()
        self._runner._update(
            self.id, within=tx, status="SUCCEEDED", result=_dump(result), progress=1.0,
            error=None, finished_at=_now(),
        )  # fmt: skip

    def save_result(self, result: Any) -> None:
        """Keep ``result`` now (what a task that then fails had measured)."""
        self._runner.set_result(self.id, result)


TaskFn = Callable[[TaskContext], Any]


class TaskRunner:
    """Tasks of one workspace: submit, run inline, read, cancel, wait, recover."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._kinds: dict[str, _Kind] = {}
        self._live: dict[str, _Live] = {}
        self._guard = threading.Lock()
        self._closed = False
        # task id -> (db generation, the task as stored then): polls of a running task
        # and pages of a finished preview are answered from here while nothing was written
        self._known: OrderedDict[str, tuple[int, Task]] = OrderedDict()
        self._known_lock = threading.Lock()

    def register(
        self,
        kind: str,
        *,
        workers: int = 1,
        queued: int = 4,
        retry_after: int = 5,
        on_recover: Hook | None = None,
    ) -> None:
        """Declare a kind and its pool: ``workers`` run at once, ``queued`` more may wait."""
        if workers < 1 or queued < 0:
            raise ValueError("a task kind needs at least one worker and a queue of 0 or more")
        self._kinds[kind] = _Kind(workers, queued, retry_after, on_recover)

    def capacity(self, kind: str) -> tuple[int, int]:
        """(tasks of ``kind`` running or queued now, the most it takes)."""
        k = self._kind(kind)
        with self._guard:
            return k.load, k.capacity

    # --- starting -------------------------------------------------------------------------

    def submit(
        self, kind: str, fn: TaskFn, *, payload: Any = None, task_id: str | None = None
    ) -> Task:
        """Record a NEW task and queue ``fn`` on the kind's pool; raises RunnerBusyError
        (nothing recorded) when the pool is full."""
        k = self._kind(kind)
        with self._guard:
            if self._closed:
                raise SegmentationError("The workspace is closing; no new tasks are taken.")
            if k.load >= k.capacity:
                raise RunnerBusyError(
                    f"All {k.workers} {kind} worker(s) are busy and {k.queued} more are "
                    f"queued; try again in {k.retry_after} s.",
                    retry_after=k.retry_after,
                )
            k.load += 1
        try:
            task, live = self._create(kind, payload, task_id)
            if k.executor is None:
                k.executor = ThreadPoolExecutor(k.workers, thread_name_prefix=f"task-{kind}")
            k.executor.submit(self._execute, task, live, fn, k)
        except BaseException:
            with self._guard:
                k.load -= 1
            raise
        return task

    def run(self, kind: str, fn: TaskFn, *, payload: Any = None, task_id: str | None = None):
        """Record the task and run ``fn`` in this thread (a page with a progress bar, the
        CLI); returns the finished task. Not counted against the pool."""
        self._kind(kind)
        task, live = self._create(kind, payload, task_id)
        self._execute(task, live, fn, None)
        return self.get(task.id)

    def _create(self, kind: str, payload: Any, task_id: str | None) -> tuple[Task, _Live]:
        now = _now()
        task = Task(
            id=task_id or str(uuid.uuid4()),
            kind=kind,
            status="NEW",
            payload=payload,
            pid=os.getpid(),
            created_at=now,
            updated_at=now,
        )
        with self._db.write() as con:
            if con.execute("SELECT 1 FROM tasks WHERE id = ?", [task.id]).fetchone():
                raise ConflictError(f"A task with id {task.id!r} already exists.")
            con.execute(
                f"INSERT INTO tasks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [task.id, kind, task.status, 0.0, "", None, _dump(payload), None, task.pid]
                + [now, None, None, now],
            )
            self._db.after_commit(lambda: self._remember([task], self._db.generation))
        live = _Live()
        with self._guard:
            self._live[task.id] = live
        return task, live

    def _execute(self, task: Task, live: _Live, fn: TaskFn, kind: _Kind | None) -> None:
        try:
            with self._guard:
                skip = live.cancel.is_set()  # cancelled while queued: already recorded
                live.started = not skip
            if not skip:
                self._run_fn(task, live, fn)
        finally:
            live.done.set()
            with self._guard:
                self._live.pop(task.id, None)
                if kind is not None:
                    kind.load -= 1

    def _run_fn(self, task: Task, live: _Live, fn: TaskFn) -> None:
        self._update(task.id, status="PROCESSING", started_at=_now(), only="NEW")
        outcome: BaseException | None = None
        try:
            result = fn(TaskContext(self, task, live))
            status, error, values = "SUCCEEDED", None, {"result": _dump(result), "progress": 1.0}
        except BaseException as exc:  # recorded on the task, never lost in a thread
            status, error, values = self._outcome(live, exc), _message(exc), {}
            outcome = exc
        if live.final:  # its work is committed: the task did it, whatever came after
            status = "SUCCEEDED"
        elif status == "CANCELLED":
            error = "Cancelled by request."
        self._update(task.id, status=status, error=error, finished_at=_now(), **values)
        if outcome is not None and not isinstance(outcome, Exception):
            raise outcome  # e.g. Streamlit's rerun or Ctrl-C: recorded above, then let through

    @staticmethod
    def _outcome(live: _Live, exc: BaseException) -> str:
        if isinstance(exc, TaskCancelled) or (live.cancel.is_set() and not live.final):
            return "CANCELLED"
        if not isinstance(exc, Exception):
            return "CANCELLED"  # the thread was stopped (page reloaded, interpreter exit)
        return "FAILED"

    # --- reading --------------------------------------------------------------------------

    def get(self, task_id: str, kind: str | None = None) -> Task:
        generation = self._db.generation  # before reading: a write meanwhile outdates it
        with self._known_lock:
            hit = self._known.get(task_id)
        task = hit[1] if hit is not None and hit[0] == generation else None
        if task is None:
            row = self._db.one(f"SELECT {_COLUMNS} FROM tasks WHERE id = ?", [task_id])
            task = _row_to_task(row) if row is not None else None
            if task is not None and not self._db.in_write:  # committed rows only
                self._remember([task], generation)
        if task is None or (kind is not None and task.kind != kind):
            what = f"{kind} task" if kind else "task"
            raise NotFoundError(f"No {what} with id {task_id!r}.")
        return task

    def list(
        self, kind: str, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Task]:
        """Newest first."""
        where, params = _where(kind=kind, status=status)
        rows = self._db.rows(
            f"SELECT {_COLUMNS} FROM tasks WHERE {where} "
            "ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [_row_to_task(r) for r in rows]

    def count(self, kind: str, *, status: str | None = None) -> int:
        where, params = _where(kind=kind, status=status)
        return self._db.scalar(f"SELECT count(*) FROM tasks WHERE {where}", params)

    def set_result(self, task_id: str, result: Any) -> None:
        """Replace a task's stored result (an export whose files were deleted)."""
        self._update(task_id, result=_dump(result))

    def wait(self, task_id: str, timeout: float | None = None) -> Task:
        """The task once finished, or as it stands when ``timeout`` seconds pass."""
        with self._guard:
            live = self._live.get(task_id)
        if live is not None:
            live.done.wait(timeout)
        return self.get(task_id)

    # --- cancelling -----------------------------------------------------------------------

    def cancel(self, task_id: str) -> Task:
        """Ask a task to stop; a queued one is CANCELLED at once, a running one becomes
        CANCELLING until its function notices. A finished task raises ConflictError."""
        task = self.get(task_id)
        with self._guard:
            live = self._live.get(task_id)
            if task.finished or (live is not None and live.final):
                state = task.status if task.finished else "finishing"
                raise ConflictError(f"Task {task_id} is already {state}; nothing to cancel.")
            if live is not None:
                live.cancel.set()
                queued = not live.started
        if live is not None and not queued:
            threading.Thread(target=self._interrupt, args=(live,), daemon=True).start()
        if live is None or queued:
            # queued here, or recorded by a process that is gone: nothing runs it
            self._update(
                task_id,
                status="CANCELLED",
                error="Cancelled by request.",
                finished_at=_now(),
                only=ACTIVE,
            )
            if live is not None:
                live.done.set()  # its waiters need not wait for a worker to dequeue it
        else:
            self._update(task_id, status="CANCELLING", only=ACTIVE)
        return self.get(task_id)

    def _interrupt(self, live: _Live) -> None:
        """Interrupt the task's query until it ends: an interrupt sent just before a
        statement starts is lost, so it is sent again while the task still runs."""
        while True:
            with self._guard:
                if live.connection is not None:
                    live.connection.interrupt()
            if live.done.wait(0.2):
                return

    def delete(self, task_id: str, kind: str | None = None) -> None:
        """Forget a task: cancel it if it runs (its last update then finds no row)."""
        task = self.get(task_id, kind)
        if not task.finished:
            with suppress(ConflictError):
                self.cancel(task_id)
        with self._db.write() as con:
            con.execute("DELETE FROM tasks WHERE id = ?", [task_id])

    # --- recovery and shutdown --------------------------------------------------------------

    def recover(self) -> list[Task]:
        """Mark tasks left active by a process that died FAILED, then run each kind's hook."""
        with self._db.write() as con:
            rows = con.execute(
                "UPDATE tasks SET status = 'FAILED', error = ?, finished_at = ?, updated_at = ? "
                "WHERE status IN ('NEW', 'PROCESSING', 'CANCELLING') "
                f"AND pid IS DISTINCT FROM ? RETURNING {_COLUMNS}",
                [INTERRUPTED, _now(), _now(), os.getpid()],
            ).fetchall()
        recovered = [_row_to_task(r) for r in rows]
        for task in recovered:
            kind = self._kinds.get(task.kind)
            if kind is not None and kind.on_recover is not None:
                kind.on_recover(task)
        return recovered

    def close(self, timeout: float = 30.0) -> None:
        """Cancel what runs, wait for the workers, and mark anything still active FAILED
        (a later open in this same process would not see it as another process's)."""
        with self._guard:
            self._closed = True
            ids = list(self._live)
        for task_id in ids:
            with suppress(ConflictError, NotFoundError):
                self.cancel(task_id)
        for kind in self._kinds.values():
            if kind.executor is not None:
                kind.executor.shutdown(wait=True, cancel_futures=False)
                kind.executor = None
        deadline = time.monotonic() + timeout
        while self._live and time.monotonic() < deadline:  # inline runs of other threads
            time.sleep(0.05)
        with self._db.write() as con:
            con.execute(
                "UPDATE tasks SET status = 'FAILED', error = ?, finished_at = ?, updated_at = ? "
                "WHERE status IN ('NEW', 'PROCESSING', 'CANCELLING') AND pid = ?",
                ["The workspace was closed before this task finished.", _now(), _now()]
                + [os.getpid()],
            )

    # --- internals ------------------------------------------------------------------------

    def _kind(self, kind: str) -> _Kind:
        try:
            return self._kinds[kind]
        except KeyError:
            known = ", ".join(sorted(self._kinds)) or "none"
            raise SegmentationError(f"Unknown task kind {kind!r}; registered: {known}.") from None

    def _update(
        self,
        task_id: str,
        *,
        only: str | tuple[str, ...] = (),
        within: duckdb.DuckDBPyConnection | None = None,
        **values: Any,
    ) -> None:
        """Set columns of a task; with ``only``, just while its status is one of those;
        ``within`` a transaction of the caller's."""
        values["updated_at"] = _now()
        sets = ", ".join(f"{name} = ?" for name in values)
        statuses = [only] if isinstance(only, str) else list(only)
        where = "id = ?" + (" AND list_contains(?, status)" if statuses else "")
        params = [*values.values(), task_id] + ([statuses] if statuses else [])
        with self._db.write(within=within) as con:
            rows = con.execute(
                f"UPDATE tasks SET {sets} WHERE {where} RETURNING {_COLUMNS}", params
            ).fetchall()
            tasks = [_row_to_task(r) for r in rows]
            self._db.after_commit(lambda: self._remember(tasks, self._db.generation))

    def _remember(self, tasks: list[Task], generation: int) -> None:
        with self._known_lock:
            for task in tasks:
                self._known[task.id] = (generation, task)
                self._known.move_to_end(task.id)
            while len(self._known) > KNOWN_TASKS:
                self._known.popitem(last=False)


def _where(**equal: str | None) -> tuple[str, list[str]]:
    """``column = ?`` for each value given. Not ``(? IS NULL OR column = ?)``: DuckDB
    cannot push that filter into the scan, and every read of a task paid ~4 ms for it."""
    given = {column: value for column, value in equal.items() if value is not None}
    return " AND ".join(f"{column} = ?" for column in given) or "true", list(given.values())


def _dump(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, default=str)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _row_to_task(row: tuple) -> Task:
    return Task(
        id=row[0],
        kind=row[1],
        status=row[2],
        progress=row[3] or 0.0,
        message=row[4] or "",
        error=row[5],
        payload=_load(row[6]),
        result=_load(row[7]),
        pid=row[8],
        created_at=row[9],
        started_at=row[10],
        finished_at=row[11],
        updated_at=row[12],
    )


def _message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)

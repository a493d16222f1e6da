"""The task mechanism on a real workspace file: statuses, capacity, cancel, recovery."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from segmentation.errors import ConflictError, NotFoundError, SegmentationError
from segmentation.store import Database
from segmentation.tasks import RunnerBusyError, TaskContext, TaskRunner

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def db(tmp_path: Path):
    database = Database.open(tmp_path / "ws.duckdb")
    yield database
    database.close()


@pytest.fixture
def runner(db: Database):
    tasks = TaskRunner(db)
    tasks.register("work", workers=1, queued=1, retry_after=7)
    yield tasks
    tasks.close()


def _count(db: Database) -> int:
    return db.scalar("SELECT count(*) FROM tasks")


def _blocking(release: threading.Event, started: threading.Event | None = None):
    def fn(ctx: TaskContext):
        if started is not None:
            started.set()
        while not release.wait(0.01):
            ctx.check_cancel()
        return {"done": True}

    return fn


def test_a_task_runs_on_a_worker_and_records_its_result_and_progress(runner, db):
    seen: list[float] = []

    def fn(ctx: TaskContext):
        ctx.progress(0.5, "half way")
        seen.append(runner.get(ctx.id).progress)
        return {"rows": 42}

    task = runner.submit("work", fn, payload={"query": "x"})
    assert task.status == "NEW"
    done = runner.wait(task.id, timeout=30)
    assert (done.status, done.result, done.payload, done.progress) == (
        "SUCCEEDED",
        {"rows": 42},
        {"query": "x"},
        1.0,
    )
    assert seen == [0.5]
    assert done.started_at is not None and done.finished_at is not None
    assert [t.id for t in runner.list("work")] == [task.id]


def test_a_failing_task_is_failed_with_its_message(runner):
    def fn(ctx: TaskContext):
        raise SegmentationError("Unknown field 'contry'; did you mean 'country'?")

    task = runner.wait(runner.submit("work", fn).id, timeout=30)
    assert task.status == "FAILED"
    assert task.error == "Unknown field 'contry'; did you mean 'country'?"
    assert task.result is None


def test_a_full_pool_refuses_with_retry_after_and_records_nothing(runner, db):
    release, started = threading.Event(), threading.Event()
    running = runner.submit("work", _blocking(release, started))
    started.wait(30)
    queued = runner.submit("work", _blocking(release))
    assert runner.capacity("work") == (2, 2)
    before = _count(db)
    with pytest.raises(RunnerBusyError, match="1 work worker") as info:
        runner.submit("work", _blocking(release))
    assert info.value.retry_after == 7
    assert _count(db) == before
    release.set()
    assert runner.wait(running.id, 30).status == "SUCCEEDED"
    assert runner.wait(queued.id, 30).status == "SUCCEEDED"
    assert runner.capacity("work") == (0, 2)
    assert runner.wait(runner.submit("work", _blocking(release)).id, 30).status == "SUCCEEDED"


def test_cancel_of_a_queued_task_ends_it_at_once_and_it_never_runs(runner):
    release, started = threading.Event(), threading.Event()
    ran: list[str] = []
    first = runner.submit("work", _blocking(release, started))
    started.wait(30)
    second = runner.submit("work", lambda ctx: ran.append(ctx.id))
    assert runner.cancel(second.id).status == "CANCELLED"
    # a waiter on the cancelled task (an API DELETE, a page) returns while the worker is busy
    waiter = threading.Thread(target=runner.wait, args=(second.id, None))
    waiter.start()
    waiter.join(30)
    assert not waiter.is_alive() and runner.get(first.id).status == "PROCESSING"
    release.set()
    assert runner.wait(first.id, 30).status == "SUCCEEDED"
    assert runner.wait(second.id, 30).status == "CANCELLED"
    assert ran == []


def test_cancel_of_a_running_task_is_cooperative(runner):
    release, started = threading.Event(), threading.Event()
    task = runner.submit("work", _blocking(release, started))
    started.wait(30)
    assert runner.cancel(task.id).status in ("CANCELLING", "CANCELLED")
    done = runner.wait(task.id, 30)
    assert (done.status, done.error, done.result) == ("CANCELLED", "Cancelled by request.", None)


def test_cancel_interrupts_the_query_running_on_the_registered_connection(runner, db):
    started, raised = threading.Event(), []

    def fn(ctx: TaskContext):
        con = db.new_connection()
        with ctx.interruptible(con):
            started.set()
            try:  # about 10^11 rows: runs for minutes unless interrupted
                con.execute("SELECT sum(a.range * b.range) FROM range(400000) a, range(400000) b")
            except duckdb.InterruptException as exc:
                raised.append(exc)
                raise
        return "finished"

    task = runner.submit("work", fn)
    started.wait(30)
    runner.cancel(task.id)  # sent again until the query ends: one sent before it starts is lost
    assert runner.wait(task.id, 60).status == "CANCELLED"
    assert len(raised) == 1


def test_after_the_point_of_no_return_a_cancel_is_refused_and_the_task_succeeds(runner):
    committed, release = threading.Event(), threading.Event()

    def fn(ctx: TaskContext):
        ctx.point_of_no_return()
        committed.set()
        release.wait(30)
        return "merged"

    task = runner.submit("work", fn)
    committed.wait(30)
    with pytest.raises(ConflictError, match="finishing"):
        runner.cancel(task.id)
    release.set()
    assert runner.wait(task.id, 30).status == "SUCCEEDED"
    with pytest.raises(ConflictError, match="already SUCCEEDED"):
        runner.cancel(task.id)


def test_run_inline_records_the_task_and_lets_a_base_exception_through(runner):
    assert runner.run("work", lambda ctx: 3).result == 3

    def interrupted(ctx: TaskContext):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run("work", interrupted, task_id="inline-1")
    assert runner.get("inline-1").status == "CANCELLED"
    with pytest.raises(ConflictError, match="inline-1"):
        runner.run("work", lambda ctx: None, task_id="inline-1")


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda r: r.submit("nope", lambda ctx: None), SegmentationError, "Unknown task kind"),
        (lambda r: r.get("missing"), NotFoundError, "No task with id 'missing'"),
        (lambda r: r.get("missing", kind="work"), NotFoundError, "No work task"),
        (lambda r: r.cancel("missing"), NotFoundError, "missing"),
    ],
)
def test_bad_requests_are_clear_errors(runner, db, call, error, message):
    with pytest.raises(error, match=message):
        call(runner)
    assert _count(db) == 0


def test_close_cancels_what_runs_and_refuses_new_tasks(db):
    tasks = TaskRunner(db)
    tasks.register("work")
    release, started = threading.Event(), threading.Event()
    task = tasks.submit("work", _blocking(release, started))
    started.wait(30)
    tasks.close()
    assert tasks.get(task.id).status == "CANCELLED"
    with pytest.raises(SegmentationError, match="closing"):
        tasks.submit("work", lambda ctx: None)


_KILLED = """
import sys, threading
from segmentation.store import Database
from segmentation.tasks import TaskRunner
tasks = TaskRunner(Database.open(sys.argv[1]))
tasks.register("work")
task = tasks.submit("work", lambda ctx: threading.Event().wait(), payload={"file": "a.partial"})
while tasks.get(task.id).status != "PROCESSING":
    pass
print(task.id, flush=True)
threading.Event().wait()
"""


def test_recover_fails_the_tasks_of_a_killed_process_and_calls_the_kind_hook(tmp_path):
    path = tmp_path / "ws.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        task_id = proc.stdout.readline().strip()
    finally:
        proc.kill()
        proc.wait()
    assert task_id, "the child process did not start its task"
    db = Database.open(path)
    try:
        tasks = TaskRunner(db)
        seen = []
        tasks.register("work", on_recover=seen.append)
        assert tasks.get(task_id).status == "PROCESSING"  # as the dead process left it
        recovered = tasks.recover()
        assert [t.id for t in recovered] == [task_id]
        assert [(t.id, t.payload) for t in seen] == [(task_id, {"file": "a.partial"})]
        task = tasks.get(task_id)
        assert task.status == "FAILED"
        assert "stopped before it finished" in task.error
        assert tasks.recover() == []  # once only
        tasks.close()
    finally:
        db.close()

"""Schedules: the store (CRUD on a real DuckDB) and the runner that fires due ones."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest

from segmentation.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    SegmentationError,
)
from segmentation.schedules import ScheduleRunner, ScheduleStore, run_scheduler, stop_all_runners
from segmentation.store import Database

KNOWN_SEGMENTS = {"seg-a", "seg-b"}
T0 = datetime(2025, 1, 1, 12, 0)  # naive UTC, the workspace's convention


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> datetime:
        self.now = now
        return now


def validate(ids: list[str]) -> None:
    unknown = [i for i in ids if i not in KNOWN_SEGMENTS]
    if unknown:
        raise NotFoundError(f"No segment definition {', '.join(unknown)}.")


class Jobs:
    """run_job for the runner: records calls, optionally failing for some schedules."""

    def __init__(self, fail: dict[str, BaseException] | None = None):
        self.calls: list[tuple[list[str], str]] = []
        self.fail = fail or {}
        self.called = threading.Event()

    def __call__(self, segments: list[str], schedule_id: str) -> str:
        self.calls.append((segments, schedule_id))
        self.called.set()
        if schedule_id in self.fail:
            raise self.fail[schedule_id]
        return f"job-{len(self.calls)}"


@pytest.fixture
def db():
    database = Database.open(":memory:")
    yield database
    database.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(db, clock):
    return ScheduleStore(db, validate, clock=clock)


def count(db: Database) -> int:
    return db.scalar("SELECT count(*) FROM schedules")


# --- the store ---------------------------------------------------------------------


def test_create_get_list(store):
    nightly = store.create("Nightly", "0 0 1 * * ?", ["*"])
    weekly = store.create(
        "weekly VIP", "0 15 10 ? * mon", ["seg-a", "seg-b"], timezone="Europe/Berlin"
    )
    assert store.get(nightly.id) == nightly
    assert nightly.cron == "0 0 1 * * ?"
    assert nightly.timezone == "UTC"
    assert nightly.active is True
    assert nightly.created_at == nightly.updated_at == T0
    assert nightly.last_run_at is None and nightly.last_job_id is None
    assert nightly.description == "At 01:00, every day"
    assert weekly.cron == "0 15 10 ? * MON"
    assert weekly.segments == ["seg-a", "seg-b"]
    assert weekly.next_run is not None
    assert weekly.next_run.tzinfo.key == "Europe/Berlin"
    assert (weekly.next_run.hour, weekly.next_run.minute, weekly.next_run.weekday()) == (10, 15, 0)
    assert [s.name for s in store.list()] == ["Nightly", "weekly VIP"]
    dumped = nightly.model_dump()
    assert dumped["description"] == "At 01:00, every day"
    assert "next_run" in dumped


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"cron": "0 0 25 * * ?"}, InvalidInputError, "cron field 3 (hour) '25'"),
        ({"timezone": "Mars/Base"}, InvalidInputError, "unknown timezone 'Mars/Base'"),
        ({"segments": ["seg-a", "nope"]}, NotFoundError, "nope"),
        ({"segments": []}, InvalidInputError, "at least one segment"),
        ({"segments": ["*", "seg-a"]}, InvalidInputError, "'*' already means every"),
        ({"name": "  "}, InvalidInputError, "needs a name"),
        ({"active": "yes"}, InvalidInputError, "active must be true or false"),
    ],
)
def test_create_refuses_bad_input_and_writes_nothing(store, db, kwargs, error, message):
    args = {"name": "n", "cron": "0 0 1 * * ?", "segments": ["seg-a"], **kwargs}
    with pytest.raises(error) as caught:
        store.create(**args)
    assert message in caught.value.message
    assert count(db) == 0


def test_names_are_unique_ignoring_case(store, db):
    first = store.create("Nightly", "0 0 1 * * ?", ["*"])
    other = store.create("Hourly", "0 0 * * * ?", ["seg-a"])
    with pytest.raises(ConflictError, match="already exists"):
        store.create(" nightly ", "0 0 2 * * ?", ["*"])
    with pytest.raises(ConflictError):
        store.update(other.id, name="NIGHTLY", cron="0 0 3 * * ?")
    assert count(db) == 2
    assert store.get(other.id) == other  # the cron change was not applied either
    assert store.update(first.id, name="nightly").name == "nightly"  # its own name is fine


def test_update_changes_and_keeps(store, clock):
    schedule = store.create("Nightly", "0 0 1 * * ?", ["*"])
    clock.set(T0 + timedelta(hours=1))
    updated = store.update(
        schedule.id, cron="0 0 2 * * ?", timezone="America/New_York", segments=["seg-b"]
    )
    assert (updated.cron, updated.timezone, updated.segments) == (
        "0 0 2 * * ?",
        "America/New_York",
        ["seg-b"],
    )
    assert updated.created_at == T0
    assert updated.updated_at == T0 + timedelta(hours=1)
    assert updated.description == "At 02:00, every day"
    assert store.get(schedule.id) == updated


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"name": "x", "cron": "0 0 1 * * ? 1969"}, InvalidInputError),
        ({"name": "x", "timezone": "Mars/Base"}, InvalidInputError),
        ({"name": "x", "segments": ["unknown"]}, NotFoundError),
        ({"owner": "me"}, InvalidInputError),
    ],
)
def test_update_refuses_bad_input_and_changes_nothing(store, changes, error):
    schedule = store.create("Nightly", "0 0 1 * * ?", ["seg-a"])
    with pytest.raises(error):
        store.update(schedule.id, **changes)
    assert store.get(schedule.id) == schedule


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get("missing"),
        lambda s: s.update("missing", name="x"),
        lambda s: s.set_active("missing", False),
        lambda s: s.delete("missing"),
    ],
)
def test_unknown_id(store, call):
    with pytest.raises(NotFoundError, match="No schedule with id 'missing'"):
        call(store)


def test_set_active_and_delete(store, db):
    schedule = store.create("Nightly", "0 0 1 * * ?", ["*"], active=False)
    assert schedule.next_run is None
    on = store.set_active(schedule.id, True)
    assert on.active and on.next_run is not None
    assert store.set_active(schedule.id, False).active is False
    store.delete(schedule.id)
    assert count(db) == 0
    with pytest.raises(NotFoundError):
        store.get(schedule.id)


def test_uses_segment(store):
    both = store.create("both", "0 0 1 * * ?", ["seg-a", "seg-b", "seg-a"])
    store.create("all", "0 0 1 * * ?", ["*"])
    only_b = store.create("only b", "0 0 1 * * ?", ["seg-b"])
    assert both.segments == ["seg-a", "seg-b"]
    assert [s.id for s in store.uses_segment("seg-a")] == [both.id]
    assert [s.id for s in store.uses_segment("seg-b")] == [both.id, only_b.id]
    assert store.uses_segment("seg-c") == []


def test_reopen_a_file_workspace(tmp_path, clock):
    path = tmp_path / "ws.duckdb"
    db = Database.open(path)
    store = ScheduleStore(db, validate, clock=clock)
    kept = store.create("Nightly", "0 0 1 * * ?", ["seg-a"], timezone="Europe/Berlin")
    ScheduleRunner(store, Jobs({kept.id: RuntimeError("boom")}), clock=clock).tick(
        T0 + timedelta(days=1)
    )
    before = store.get(kept.id)
    db.close()

    reopened = Database.open(path)
    try:
        again = ScheduleStore(reopened, validate).get(kept.id)
        assert again == before
        assert again.last_error == "RuntimeError: boom"
        assert again.last_run_at == T0 + timedelta(days=1)
    finally:
        reopened.close()


# --- the runner --------------------------------------------------------------------


def test_due_and_not_due(store, clock):
    jobs = Jobs()
    runner = ScheduleRunner(store, jobs, clock=clock)
    nightly = store.create("Nightly", "0 0 1 * * ?", ["*"])  # created 12:00
    assert runner.tick(datetime(2025, 1, 1, 23, 59)) == []
    assert runner.tick(datetime(2025, 1, 2, 1, 0)) == ["job-1"]
    assert jobs.calls == [(["*"], nightly.id)]
    ran = store.get(nightly.id)
    assert ran.last_run_at == datetime(2025, 1, 2, 1, 0)
    assert ran.last_job_id == "job-1" and ran.last_error is None
    assert runner.tick(datetime(2025, 1, 2, 1, 0, 30)) == []
    # the clock is used when no time is given
    clock.set(datetime(2025, 1, 3, 1, 0, 5))
    assert runner.tick() == ["job-2"]


def test_missed_slots_run_once(store):
    jobs = Jobs()
    runner = ScheduleRunner(store, jobs)
    nightly = store.create("Nightly", "0 0 1 * * ?", ["seg-a"])
    down_until = datetime(2025, 1, 5, 9, 0)  # missed 2nd, 3rd, 4th and 5th Jan 01:00
    assert runner.tick(down_until) == ["job-1"]
    assert runner.tick(down_until + timedelta(minutes=1)) == []
    assert store.get(nightly.id).last_run_at == down_until
    assert runner.tick(datetime(2025, 1, 6, 1, 0)) == ["job-2"]
    assert len(jobs.calls) == 2


def test_schedule_timezone_decides_when(store):
    jobs = Jobs()
    runner = ScheduleRunner(store, jobs)
    store.create("Berlin 01:00", "0 0 1 * * ?", ["*"], timezone="Europe/Berlin")
    assert runner.tick(datetime(2025, 1, 1, 23, 59)) == []
    assert runner.tick(datetime(2025, 1, 2, 0, 0)) == ["job-1"]  # 01:00 CET


def test_inactive_skipped_and_activation_owes_nothing_from_before(store, clock):
    jobs = Jobs()
    runner = ScheduleRunner(store, jobs)
    off = store.create("Nightly", "0 0 1 * * ?", ["*"], active=False)
    assert runner.tick(datetime(2025, 1, 10, 12, 0)) == []
    clock.set(datetime(2025, 1, 10, 12, 0))
    store.set_active(off.id, True)
    assert runner.tick(datetime(2025, 1, 10, 13, 0)) == []  # the 10th's 01:00 was before
    assert runner.tick(datetime(2025, 1, 11, 1, 0)) == ["job-1"]


def test_new_cron_owes_nothing_from_before(store, clock):
    jobs = Jobs()
    runner = ScheduleRunner(store, jobs)
    schedule = store.create("Nightly", "0 0 1 * * ?", ["*"])
    assert runner.tick(datetime(2025, 1, 2, 1, 0)) == ["job-1"]
    clock.set(datetime(2025, 1, 2, 12, 0))
    store.update(schedule.id, cron="0 0 11 * * ?")
    assert runner.tick(datetime(2025, 1, 2, 12, 30)) == []
    assert runner.tick(datetime(2025, 1, 3, 11, 0)) == ["job-2"]
    # a rename does not move the slots
    store.update(schedule.id, name="Late morning")
    assert runner.tick(datetime(2025, 1, 4, 11, 0)) == ["job-3"]


def test_failing_job_is_recorded_and_others_still_run(store):
    bad = store.create("bad", "0 0 1 * * ?", ["seg-a"])
    crash = store.create("crash", "0 0 1 * * ?", ["seg-a"])
    good = store.create("good", "0 0 1 * * ?", ["seg-b"])
    jobs = Jobs(
        {
            bad.id: SegmentationError("There are no segment definitions to evaluate."),
            crash.id: RuntimeError("boom"),
        }
    )
    runner = ScheduleRunner(store, jobs)
    slot = datetime(2025, 1, 2, 1, 0)
    assert runner.tick(slot) == ["job-3"]
    assert len(jobs.calls) == 3
    failed = store.get(bad.id)
    assert failed.last_error == "There are no segment definitions to evaluate."
    assert failed.last_run_at == slot and failed.last_job_id is None
    assert store.get(crash.id).last_error == "RuntimeError: boom"
    assert store.get(good.id).last_error is None
    # no retry until the next slot; a later success clears the error
    assert runner.tick(slot + timedelta(minutes=5)) == []
    del jobs.fail[bad.id]
    assert runner.tick(slot + timedelta(days=1)) != []
    recovered = store.get(bad.id)
    assert recovered.last_error is None and recovered.last_job_id is not None


def test_start_stop_thread(store, clock):
    store.create("Nightly", "0 0 1 * * ?", ["*"])
    clock.set(datetime(2025, 1, 2, 1, 0))
    jobs = Jobs()
    runner = ScheduleRunner(store, jobs, clock=clock, poll_seconds=0.05)
    before = set(threading.enumerate())
    runner.start()
    first = runner._thread
    runner.start()  # idempotent
    assert runner._thread is first and runner.running
    assert jobs.called.wait(5)
    time.sleep(0.2)  # several more ticks: still one run for the one slot
    runner.stop()
    assert not first.is_alive() and not runner.running
    assert len(jobs.calls) == 1
    assert set(threading.enumerate()) <= before


def test_runners_left_running_are_stopped_at_exit(store):
    """A dashboard session or a test that never stops its runner: the exit hook does, so no
    daemon thread is inside DuckDB when the interpreter finalizes."""
    runners = [ScheduleRunner(store, Jobs(), poll_seconds=0.01) for _ in range(3)]
    for runner in runners:
        runner.start()
    stop_all_runners()
    assert not any(runner.running for runner in runners)


def test_stop_is_prompt_with_a_long_poll(store):
    runner = ScheduleRunner(store, Jobs(), poll_seconds=3600)
    runner.start()
    started = time.monotonic()
    runner.stop()
    assert time.monotonic() - started < 2
    runner.stop()  # twice is fine
    runner.start()  # and it starts again
    assert runner.running
    runner.stop()


def test_run_forever_until_stopped(store):
    runner = ScheduleRunner(store, Jobs(), poll_seconds=0.05)
    threading.Timer(0.2, runner.stop).start()
    started = time.monotonic()
    runner.run_forever()
    assert time.monotonic() - started < 3


def test_run_scheduler_blocks_until_interrupted(db):
    ScheduleStore(db).create("every second", "* * * * * ?", ["*"])
    seen: list[str] = []

    def interrupting_job(segments: list[str], schedule_id: str) -> str:
        seen.append(schedule_id)
        raise KeyboardInterrupt  # what Ctrl-C does to the blocked main thread

    run_scheduler(db, interrupting_job, poll_seconds=0.05)
    assert len(seen) == 1


def test_poll_seconds_must_be_positive(store):
    with pytest.raises(InvalidInputError):
        ScheduleRunner(store, Jobs(), poll_seconds=0)

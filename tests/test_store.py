"""The workspace file: migrations, the one-writer-process lock, readers during a load."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from segmentation.errors import WorkspaceLockedError
from segmentation.ingest import ingest
from segmentation.migrations import MIGRATIONS
from segmentation.store import Database, NotInMemory, memory_only, quote_ident

ROOT = Path(__file__).resolve().parents[1]


def test_migrations_are_idempotent_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    db = Database.open(path)
    db.set_meta("timezone", "Europe/Paris")
    tables = db.rows("SELECT table_name FROM information_schema.tables ORDER BY 1")
    db.close()
    for _ in range(2):
        again = Database.open(path)
        assert again.rows("SELECT version FROM schema_version ORDER BY 1") == [
            (v,) for v in range(1, len(MIGRATIONS) + 1)
        ]
        assert again.rows("SELECT table_name FROM information_schema.tables ORDER BY 1") == tables
        assert again.get_meta("timezone") == "Europe/Paris"
        again.close()


def test_open_returns_one_database_per_file_and_private_memory_ones(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    first = Database.open(path)
    assert Database.open(str(path)) is first
    first.close()
    a, b = Database.open(":memory:"), Database.open(":memory:")
    a.set_meta("k", "a")
    assert b.get_meta("k") is None
    a.close()
    b.close()


def test_second_process_gets_workspace_locked_error_naming_the_pid(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    holder_code = (
        "import sys, time\n"
        "from segmentation.store import Database\n"
        "db = Database.open(sys.argv[1])\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"  # hold the file until the test closes our stdin
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", holder_code, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(WorkspaceLockedError) as err:
            Database(str(path))
        message = err.value.message
        assert f"PID {holder.pid}" in message
        assert str(path) in message and "in use by another program" in message
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def _profiles_csv(path: Path, start: int, count: int) -> Path:
    lines = ["profile_id,age,city"]
    lines += [f"p{i},{i % 90},{'city' + str(i % 7)}" for i in range(start, start + count)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_readers_never_see_a_half_done_load(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "ws.duckdb")
    ingest(db, "profiles", _profiles_csv(tmp_path / "a.csv", 0, 1_000))
    files = [
        ("replace", _profiles_csv(tmp_path / "b.csv", 0, 30_000)),
        ("append", _profiles_csv(tmp_path / "c.csv", 30_000, 20_000)),
        ("replace", _profiles_csv(tmp_path / "d.csv", 0, 1_000)),
    ]
    complete = {1_000, 30_000, 50_000}
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def read() -> None:
        try:
            while not stop.is_set():
                # Two aggregates in one statement: a torn read would make them differ.
                rows, ids = db.one(
                    f"SELECT count(*), count(DISTINCT profile_id) FROM {quote_ident('profiles')}"
                )
                with lock:
                    seen.append(rows)
                if rows != ids:
                    raise AssertionError(f"torn read: {rows} rows, {ids} ids")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(8)]
    for thread in readers:
        thread.start()
    try:
        for mode, path in files:
            ingest(db, "profiles", path, mode=mode)  # type: ignore[arg-type]
    finally:
        stop.set()
        for thread in readers:
            thread.join(timeout=60)
    assert not errors, errors[:3]
    assert set(seen) <= complete, sorted(set(seen) - complete)
    assert len(set(seen)) >= 2  # the readers did overlap the loads
    assert db.scalar("SELECT count(*) FROM profiles") == 1_000
    db.close()


def test_connections_of_finished_threads_are_closed():
    """Streamlit runs every rerun on a new thread; their connections must not pile up."""
    db = Database.open(":memory:")
    for _ in range(20):
        worker = threading.Thread(target=lambda: db.scalar("SELECT 1"))
        worker.start()
        worker.join()
    db.scalar("SELECT 1")
    assert len(db._by_thread) <= 2
    db.close()


def test_a_setting_read_is_kept_until_the_next_write_and_never_from_a_rolled_back_one():
    """Settings (and other values derived from stored rows) are read once per committed
    write: the next read after a write sees it, and what a transaction saw of its own
    uncommitted rows is never kept."""
    db = Database.open(":memory:")
    db.set_meta("timezone", "UTC")
    assert db.get_meta("timezone") == "UTC"
    db.set_meta("timezone", "Europe/Berlin")
    assert db.get_meta("timezone") == "Europe/Berlin"
    with pytest.raises(RuntimeError, match="undone"), db.write() as tx:
        db.set_meta("timezone", "Asia/Tokyo", tx)
        assert db.get_meta("timezone") == "Asia/Tokyo"  # the transaction sees its own
        raise RuntimeError("undone")
    assert db.get_meta("timezone") == "Europe/Berlin"
    db.close()


def test_memory_only_answers_what_is_kept_and_stops_at_the_first_read():
    """What the API's event loop runs: a value kept since the last write is answered, one
    that must be read raises NotInMemory before reading, and then reads as usual."""
    db = Database.open(":memory:")
    db.set_meta("timezone", "UTC")
    assert db.get_meta("timezone") == "UTC"  # read once: kept
    with memory_only():
        assert db.get_meta("timezone") == "UTC"
    db.set_meta("timezone", "Europe/Berlin")  # a write: read it again
    with memory_only(), pytest.raises(NotInMemory):
        db.get_meta("timezone")
    assert db.get_meta("timezone") == "Europe/Berlin"
    with memory_only(), pytest.raises(NotInMemory), db.write():
        pass
    db.close()


def test_after_commit_runs_once_committed_and_never_after_a_rollback():
    db = Database.open(":memory:")
    ran: list[str] = []
    with db.write():
        db.after_commit(lambda: ran.append(f"committed at {db.generation}"))
        assert ran == []
    generation = db.generation
    assert ran == [f"committed at {generation}"]
    with pytest.raises(ValueError), db.write():
        db.after_commit(lambda: ran.append("rolled back"))
        raise ValueError("no")
    assert ran == [f"committed at {generation}"]
    with pytest.raises(RuntimeError, match=r"inside db\.write"):
        db.after_commit(lambda: None)
    db.close()

"""Export jobs: real files written by DuckDB, read back with pandas."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import pandas as pd
import pytest

from segmentation.errors import ConflictError, InvalidInputError, NotFoundError
from segmentation.exports import ExportManager, ExportRequest, slugify
from segmentation.store import Database
from segmentation.tasks import TaskRunner

T = dt.datetime


def _add_definition(db: Database, seg_id: str, name: str) -> None:
    with db.write() as con:
        con.execute(
            "INSERT INTO definitions (id, name, description, tags, expression, pql, version, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
            [seg_id, name, "", [], "{}", "", T(2026, 1, 1), T(2026, 1, 1)],
        )


def _add_membership(db: Database, seg: str, pid: str, status: str, when: dt.datetime) -> None:
    with db.write() as con:
        con.execute(
            "INSERT INTO memberships (segment_id, profile_id, status, last_qualification_time, "
            "version) VALUES (?, ?, ?, ?, 1)",
            [seg, pid, status, when],
        )


MEMBERS = [
    ("seg-a", "p1", "realized", T(2026, 1, 10)),
    ("seg-a", "p2", "existing", T(2026, 1, 5)),
    ("seg-a", "p3", "exited", T(2026, 1, 1)),
    ("seg-a", "p4", "realized", T(2026, 2, 1)),
    ("seg-b", "p2", "realized", T(2026, 1, 20)),
    ("seg-b", "p5", "existing", T(2026, 1, 15)),
]


@pytest.fixture
def db() -> Database:
    db = Database.open(":memory:")
    with db.write() as con:
        con.execute(
            'CREATE TABLE profiles (profile_id VARCHAR, email VARCHAR, "loyaltyTier" VARCHAR, '
            'age BIGINT, "homeAddress.countryCode" VARCHAR, joined DATE)'
        )
        con.execute(
            "INSERT INTO profiles VALUES "
            "('p1', 'ann@example.com', 'gold', 31, 'FR', DATE '2020-01-01'),"
            "('p2', 'bob@example.com', 'silver', 45, 'US', DATE '2021-02-02'),"
            "('p3', 'cy@example.com', NULL, 22, 'DE', NULL),"
            "('p4', 'di, \"the\" one@example.com', 'gold', 60, 'FR', DATE '2022-03-03'),"
            "('p5', 'ed@example.com', 'bronze', 19, 'US', DATE '2023-04-04'),"
            "('p6', 'fay@example.com', 'gold', 50, 'GB', DATE '2024-05-05')"
        )
    _add_definition(db, "seg-a", "VIP customers")
    _add_definition(db, "seg-b", "Churn risk")
    for m in MEMBERS:
        _add_membership(db, *m)
    yield db
    db.close()


@pytest.fixture
def manager(db: Database, tmp_path: Path) -> ExportManager:
    tasks = TaskRunner(db)
    yield ExportManager(db, tmp_path / "exports", tasks)
    tasks.close()


def _read(path: str, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    if fmt == "json":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_parquet(path)


def _export_count(db: Database) -> int:
    return db.scalar("SELECT count(*) FROM exports")


def _files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- rows and columns ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["p1", "p2", "p4"]),  # default: realized + existing
        ({"statuses": ["exited"]}, ["p3"]),
        ({"statuses": ["realized"]}, ["p1", "p4"]),
        ({"statuses": ["realized", "existing", "exited"]}, ["p1", "p2", "p3", "p4"]),
        ({"qualified_after": T(2026, 1, 6)}, ["p1", "p4"]),
        ({"qualified_before": T(2026, 1, 10)}, ["p2"]),  # before is exclusive
        ({"qualified_after": T(2026, 1, 5), "qualified_before": T(2026, 1, 11)}, ["p1", "p2"]),
        # 01:00 at +02:00 is 23:00 UTC the day before
        (
            {
                "qualified_after": dt.datetime(
                    2026, 1, 10, 1, tzinfo=dt.timezone(dt.timedelta(hours=2))
                )
            },
            ["p1", "p4"],
        ),
        ({"statuses": ["exited"], "qualified_after": T(2026, 1, 2)}, []),
    ],
)
def test_rows_per_status_and_window(manager, fmt, filters, expected):
    job = manager.create(
        ExportRequest(segments=["seg-a"], fields=["email", "loyaltyTier"], format=fmt, **filters)
    )
    assert job.status == "SUCCEEDED", job.error
    assert len(job.files) == 1
    assert job.files[0].endswith({"csv": ".csv", "parquet": ".parquet", "json": ".jsonl"}[fmt])
    assert job.metrics.profiles_exported == len(expected)
    assert job.metrics.files == 1
    assert job.metrics.bytes == Path(job.files[0]).stat().st_size
    if fmt == "json" and not expected:
        assert Path(job.files[0]).read_text() == ""
        return
    frame = _read(job.files[0], fmt)
    assert list(frame["profile_id"]) == expected
    assert list(frame.columns) == ["profile_id", "segment_id", "email", "loyaltyTier"]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_values_round_trip(manager, fmt):
    job = manager.create(
        ExportRequest(
            segments=["seg-a"],
            fields=["email", "age", "homeAddress.countryCode", "joined"],
            format=fmt,
            combined=False,
            include_membership=True,
        )
    )
    frame = _read(job.files[0], fmt)
    assert list(frame.columns) == [
        "profile_id",
        "email",
        "age",
        "homeAddress.countryCode",
        "joined",
        "membership_status",
        "last_qualification_time",
    ]
    row = frame[frame["profile_id"] == "p4"].iloc[0]
    assert row["email"] == 'di, "the" one@example.com'  # comma and quotes survive
    assert int(row["age"]) == 60
    assert row["homeAddress.countryCode"] == "FR"
    assert row["membership_status"] == "realized"
    assert pd.Timestamp(row["last_qualification_time"]) == pd.Timestamp("2026-02-01")


def test_fields_profile_id_first_deduped_case_insensitive(manager):
    job = manager.create(
        ExportRequest(
            segments=["seg-a"], fields=["LOYALTYTIER", "profile_id", "loyaltyTier"], combined=False
        )
    )
    frame = _read(job.files[0], "csv")
    assert list(frame.columns) == ["profile_id", "loyaltyTier"]


def test_empty_fields_means_all_columns(manager, db):
    job = manager.create(ExportRequest(segments=["seg-b"], combined=False))
    frame = _read(job.files[0], "csv")
    assert list(frame.columns) == [n for n, _ in db.columns("profiles")]
    assert sorted(frame["profile_id"]) == ["p2", "p5"]


def test_combined_vs_per_segment(manager, tmp_path):
    both = ["seg-a", "seg-b"]
    combined = manager.create(ExportRequest(segments=both, fields=["email"], name="Q1 list"))
    assert len(combined.files) == 1
    assert Path(combined.files[0]).name == f"{combined.id}_q1-list.csv"
    frame = _read(combined.files[0], "csv")
    assert list(frame.columns) == ["profile_id", "segment_id", "email"]
    pairs = sorted(zip(frame["segment_id"], frame["profile_id"], strict=True))
    assert pairs == [
        ("seg-a", "p1"),
        ("seg-a", "p2"),
        ("seg-a", "p4"),
        ("seg-b", "p2"),
        ("seg-b", "p5"),
    ]

    # one segment, combined, no name of its own: named after the segment, not "combined"
    alone = manager.create(ExportRequest(segments=["seg-b"], fields=["email"]))
    assert Path(alone.files[0]).name == f"{alone.id}_churn-risk.csv"
    nameless = manager.create(ExportRequest(segments=both, fields=["email"]))
    assert Path(nameless.files[0]).name == f"{nameless.id}_combined.csv"

    split = manager.create(ExportRequest(segments=both, fields=["email"], combined=False))
    names = [Path(f).name for f in split.files]
    assert names == [f"{split.id}_vip-customers.csv", f"{split.id}_churn-risk.csv"]
    assert list(_read(split.files[0], "csv")["profile_id"]) == ["p1", "p2", "p4"]
    assert list(_read(split.files[1], "csv")["profile_id"]) == ["p2", "p5"]
    assert "segment_id" not in _read(split.files[1], "csv").columns
    assert split.metrics.profiles_exported == 5 and split.metrics.files == 2
    # no partial files left behind
    assert not [n for n in _files_in(tmp_path / "exports") if n.startswith(".")]


def test_members_missing_from_profiles_are_skipped(manager, db):
    _add_membership(db, "seg-b", "ghost", "realized", T(2026, 1, 1))
    job = manager.create(ExportRequest(segments=["seg-b"], combined=False))
    assert sorted(_read(job.files[0], "csv")["profile_id"]) == ["p2", "p5"]


# --- jobs: records, listing, async --------------------------------------------------------


def test_job_is_recorded_and_listed(manager):
    first = manager.create(ExportRequest(segments=["seg-a"]))
    second = manager.create(ExportRequest(segments=["seg-b"], format="parquet"))
    got = manager.get(first.id)
    assert got == first
    assert got.finished_at is not None and got.finished_at >= got.created_at
    assert [j.id for j in manager.list()] == [second.id, first.id]
    assert [j.id for j in manager.list(status="FAILED")] == []
    with pytest.raises(NotFoundError, match="exp-nope"):
        manager.get("exp-nope")


def test_async_and_wait(manager):
    job = manager.create(ExportRequest(segments=["seg-a", "seg-b"]), run_async=True)
    assert job.status == "NEW"
    done = manager.wait(job.id, timeout=30)
    assert done.status == "SUCCEEDED"
    assert len(_read(done.files[0], "csv")) == 5


def test_create_accepts_a_dict(manager):
    job = manager.create({"segments": ["seg-a"], "format": "json"})
    assert job.status == "SUCCEEDED"


def test_delete_files(manager):
    job = manager.create(ExportRequest(segments=["seg-a", "seg-b"], combined=False))
    assert all(Path(f).exists() for f in job.files)
    removed = manager.delete_files(job.id)
    assert removed == job.files
    assert not any(Path(f).exists() for f in job.files)
    assert manager.get(job.id).files == []
    assert manager.get(job.id).status == "SUCCEEDED"


# --- validation: nothing recorded, nothing written ------------------------------------------


@pytest.mark.parametrize(
    ("request_data", "error", "match"),
    [
        ({"segments": ["seg-zzz"]}, NotFoundError, "seg-zzz"),
        ({"segments": ["seg-a", "nope"]}, NotFoundError, "'nope'"),
        ({"segments": ["'; DROP TABLE memberships; --"]}, NotFoundError, "DROP TABLE"),
        ({"segments": []}, InvalidInputError, "at least one segment"),
        ({"segments": ["seg-a"], "statuses": []}, InvalidInputError, "status"),
        ({"segments": ["seg-a"], "statuses": ["gone"]}, InvalidInputError, "statuses"),
        ({"segments": ["seg-a"], "format": "xlsx"}, InvalidInputError, "format"),
        ({"segments": ["seg-a"], "fields": ["loyaltyTeir"]}, InvalidInputError, "loyaltyTier"),
        ({"segments": ["seg-a"], "fields": ["emial"]}, InvalidInputError, "'email'"),
        ({"segments": ["seg-a"], "fields": ['x" FROM x; --']}, InvalidInputError, "Unknown"),
        (
            {
                "segments": ["seg-a"],
                "qualified_after": "2026-02-01T00:00:00",
                "qualified_before": "2026-01-01T00:00:00",
            },
            InvalidInputError,
            "must be before",
        ),
    ],
)
def test_invalid_requests_record_nothing(manager, db, tmp_path, request_data, error, match):
    with pytest.raises(error, match=match):
        manager.create(request_data)
    assert _export_count(db) == 0
    assert _files_in(tmp_path / "exports") == []
    assert db.scalar("SELECT count(*) FROM memberships") == len(MEMBERS)


def test_deleted_segment_is_not_found(manager, db):
    _add_definition(db, "seg-old", "Old one")
    _add_membership(db, "seg-old", "p1", "realized", T(2026, 1, 1))
    with db.write() as con:
        con.execute("DELETE FROM definitions WHERE id = 'seg-old'")
    with pytest.raises(NotFoundError, match="seg-old"):
        manager.create(ExportRequest(segments=["seg-old"]))
    assert _export_count(db) == 0


def test_unknown_field_mentions_the_closest(manager):
    with pytest.raises(InvalidInputError) as info:
        manager.create(ExportRequest(segments=["seg-a"], fields=["homeAddress.country"]))
    assert "homeAddress.countryCode" in info.value.message


# --- cancel ---------------------------------------------------------------------------------


def test_cancel_finished_job_conflicts_and_changes_nothing(manager):
    job = manager.create(ExportRequest(segments=["seg-a"]))
    with pytest.raises(
        ConflictError, match=f"export {job.id} already SUCCEEDED; nothing to cancel"
    ):
        manager.cancel(job.id)
    assert manager.get(job.id) == job
    assert Path(job.files[0]).exists()


def test_cancel_unknown_job(manager):
    with pytest.raises(NotFoundError):
        manager.cancel("exp-000000000000")


@pytest.fixture
def slow_db() -> Database:
    """profiles is a view with a costly column: a COPY of it runs for many seconds."""
    db = Database.open(":memory:")
    with db.write() as con:
        con.execute(
            "CREATE TABLE base AS SELECT 'p' || range AS profile_id, range AS n, "
            "'u' || range || '@example.com' AS email FROM range(20000)"
        )
        con.execute(
            "CREATE VIEW profiles AS SELECT profile_id, email, "
            "(SELECT count(*) FROM range(200000) t(r) WHERE (r + b.n) % 7 = 0) AS heavy "
            "FROM base b"
        )
        con.execute(
            "INSERT INTO memberships (segment_id, profile_id, status, last_qualification_time, "
            "version) SELECT 'seg-slow', profile_id, 'realized', "
            "TIMESTAMP '2026-01-01', 1 FROM base"
        )
        con.execute(
            "INSERT INTO memberships (segment_id, profile_id, status, last_qualification_time, "
            "version) SELECT 'seg-small', profile_id, 'realized', "
            "TIMESTAMP '2026-01-01', 1 FROM base WHERE n < 3"
        )
    _add_definition(db, "seg-slow", "Slow")
    _add_definition(db, "seg-small", "Small")
    yield db
    db.close()


def _wait_for(manager: ExportManager, job_id: str, status: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while manager.get(job_id).status != status:
        assert time.monotonic() < deadline, f"{job_id} never reached {status}"
        time.sleep(0.02)


def test_cancel_running_and_queued_jobs(slow_db, tmp_path):
    folder = tmp_path / "exports"
    tasks = TaskRunner(slow_db)
    manager = ExportManager(slow_db, folder, tasks)
    try:
        slow = manager.create(
            ExportRequest(segments=["seg-slow"], fields=["heavy"], format="parquet"),
            run_async=True,
        )
        # queued behind the slow one; its field vanishes before it runs
        queued = manager.create(
            ExportRequest(segments=["seg-small"], fields=["email"], combined=False),
            run_async=True,
        )
        later = manager.create(ExportRequest(segments=["seg-small"]), run_async=True)
        _wait_for(manager, slow.id, "PROCESSING")
        time.sleep(0.3)  # let the COPY start
        with slow_db.write() as con:
            con.execute("CREATE OR REPLACE VIEW profiles AS SELECT profile_id FROM base")

        cancelled_later = manager.cancel(later.id)  # still queued: cancelled at once
        assert cancelled_later.status == "CANCELLED"

        cancelled = manager.cancel(slow.id)
        # CANCELLED, not CANCELLING, within cancel's wait: the COPY was interrupted
        assert cancelled.status == "CANCELLED"
        assert cancelled.files == [] and cancelled.finished_at is not None

        failed = manager.wait(queued.id, timeout=20)
        assert failed.status == "FAILED"
        assert "Unknown profile field 'email'" in failed.error
        assert failed.files == []
        assert manager.wait(later.id, timeout=5).status == "CANCELLED"
        with pytest.raises(ConflictError, match="already CANCELLED"):
            manager.cancel(slow.id)
        assert _files_in(folder) == []  # no partial file, no final file
    finally:
        tasks.close()


def test_failure_while_writing_leaves_no_file(db, tmp_path):
    """A value that only fails at write time: the job is FAILED and nothing stays."""
    with db.write() as con:
        con.execute("ALTER TABLE profiles RENAME TO profiles_raw")
        con.execute("ALTER TABLE profiles_raw ADD COLUMN score_raw VARCHAR DEFAULT '7'")
        con.execute("UPDATE profiles_raw SET score_raw = 'n/a' WHERE profile_id = 'p5'")
        con.execute(
            "CREATE VIEW profiles AS SELECT *, CAST(score_raw AS INTEGER) AS score "
            "FROM profiles_raw"
        )
    folder = tmp_path / "exports"
    manager = ExportManager(db, folder, TaskRunner(db))
    job = manager.create(
        ExportRequest(segments=["seg-a", "seg-b"], fields=["score"], combined=False)
    )
    assert job.status == "FAILED"
    assert "n/a" in job.error
    assert job.files == [] and job.finished_at is not None
    assert _files_in(folder) == []
    # the failure is recorded, not raised: later exports still work
    ok = manager.create(ExportRequest(segments=["seg-a"], fields=["email"]))
    assert ok.status == "SUCCEEDED"


# --- hostile names ---------------------------------------------------------------------------

HOSTILE = [
    "../../etc/passwd",
    "/abs",
    "a/b",
    "..",
    "C:\\Windows\\system32",
    "Ünïcødé 日本語",
    "日本語",
    "nul\x00byte",
    "'; DROP TABLE exports; --",
    "   ",
    "x" * 500,
]


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("VIP customers", "vip-customers"),
        ("../../etc/passwd", "etc-passwd"),
        ("/abs", "abs"),
        ("Café Crème", "cafe-creme"),
        ("日本語", "export"),
        ("nul\x00byte", "nul-byte"),
        ("", "export"),
        (None, "export"),
        ("under_score-dash", "under_score-dash"),
        ("x" * 500, "x" * 60),
    ],
)
def test_slugify(text, slug):
    assert slugify(text) == slug


def test_hostile_segment_names_stay_inside(manager, db, tmp_path):
    ids = []
    for i, name in enumerate(HOSTILE):
        _add_definition(db, f"h{i}", name)
        _add_membership(db, f"h{i}", "p1", "realized", T(2026, 1, 1))
        ids.append(f"h{i}")
    job = manager.create(ExportRequest(segments=ids, combined=False, name="../../../tmp/evil"))
    assert job.status == "SUCCEEDED", job.error
    folder = (tmp_path / "exports").resolve()
    assert len(job.files) == len(HOSTILE)
    assert len(set(job.files)) == len(HOSTILE)  # duplicate slugs got a suffix
    for f in job.files:
        path = Path(f)
        assert path.parent == folder
        assert re.fullmatch(rf"{job.id}_[a-z0-9_-]+\.csv", path.name), path.name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exports"]
    combined = manager.create(ExportRequest(segments=ids[:2], name="../../../tmp/evil"))
    assert Path(combined.files[0]).name == f"{combined.id}_tmp-evil.csv"


def test_delete_files_ignores_paths_outside(manager, db, tmp_path):
    outside = tmp_path / "keep.txt"
    outside.write_text("precious")
    job = manager.create(ExportRequest(segments=["seg-a"]))
    with db.write() as con:  # a tampered record
        con.execute(
            "UPDATE tasks SET result = ? WHERE id = ?",
            [f'{{"files": ["{outside}", "{job.files[0]}"]}}', job.id],
        )
    assert manager.delete_files(job.id) == [job.files[0]]
    assert outside.read_text() == "precious"


def test_export_left_running_by_a_dead_process_fails_on_open_and_leaves_no_file(db, tmp_path):
    tasks = TaskRunner(db)
    manager = ExportManager(db, tmp_path / "exports", tasks)
    job = manager.create(ExportRequest(segments=["seg-a"]))
    with db.write() as con:  # as a crashed process would leave it
        con.execute(
            "INSERT INTO tasks (id, kind, status, payload, pid, created_at, updated_at) "
            "VALUES ('exp-0123456789ab', 'export', 'PROCESSING', ?, 999999999, now(), now())",
            [ExportRequest(segments=["seg-a", "seg-b"]).model_dump_json()],
        )
    folder = tmp_path / "exports"
    done = folder / "exp-0123456789ab_seg-a.csv"  # finished before the crash
    partial = folder / ".exp-0123456789ab_seg-b.csv.partial"
    done.write_text("profile_id\np1\n")
    partial.write_text("half")
    tasks.recover()  # what opening the workspace does
    recovered = manager.get("exp-0123456789ab")
    assert recovered.status == "FAILED" and "stopped before it finished" in recovered.error
    assert not done.exists() and not partial.exists()
    assert Path(job.files[0]).exists()  # other jobs' files untouched
    tasks.close()


def test_name_too_long(manager, db):
    with pytest.raises(InvalidInputError, match="name"):
        manager.create({"segments": ["seg-a"], "name": "x" * 201})
    assert _export_count(db) == 0


def test_cancelled_multi_file_export_leaves_no_files(tmp_path):
    """One file per segment: the small one is written, the cancel comes during the slow
    one; the finished file goes too, as a partial export is no export."""
    db = Database.open(":memory:")
    with db.write() as con:
        con.execute("CREATE TABLE base AS SELECT 'p' || range AS profile_id, range AS n "
                    "FROM range(2000000)")  # fmt: skip
        # a costly column, computed only for the rows a COPY writes (3 fast, 2M slow), in
        # small steps so that an interrupt is seen at once
        con.execute("CREATE VIEW profiles AS SELECT profile_id, "
                    "length(repeat('x', 20000 + (n % 7)::INT)) AS heavy FROM base")  # fmt: skip
        for seg, rows in (("seg-small", 3), ("seg-slow", 2000000)):
            con.execute(
                "INSERT INTO memberships (segment_id, profile_id, status, "
                "last_qualification_time, version) SELECT ?, profile_id, 'realized', "
                "TIMESTAMP '2026-01-01', 1 FROM base WHERE n < ?",
                [seg, rows],
            )
    _add_definition(db, "seg-small", "Small")
    _add_definition(db, "seg-slow", "Slow")
    folder = tmp_path / "exports"
    tasks = TaskRunner(db)
    manager = ExportManager(db, folder, tasks)
    try:
        job = manager.create(
            ExportRequest(segments=["seg-small", "seg-slow"], fields=["heavy"], combined=False),
            run_async=True,
        )
        deadline = time.monotonic() + 60
        while not [n for n in _files_in(folder) if not n.startswith(".")]:
            assert time.monotonic() < deadline, "the first file was never written"
            time.sleep(0.02)
        cancelled = manager.cancel(job.id)
        assert cancelled.status == "CANCELLED" and cancelled.files == []
        assert _files_in(folder) == []
    finally:
        tasks.close()
        db.close()

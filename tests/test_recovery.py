"""kill -9 at any moment, then reopen: the tables and all that is derived from them agree.

Each test runs the `segmentation` command as a user would, with ``SEGMENTATION_CRASH_AT``
naming the point where the process kills itself with SIGKILL (no cleanup runs), then
reopens the workspace and checks what a user would see: counts, definitions, members.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from segmentation import SegmentationService
from segmentation.faults import ENV
from tests.conftest import make_frames

ROOT = Path(__file__).resolve().parent.parent
BUYERS = 'xEvent[eventType = "purchase"].count() >= 1'  # event-only: the fast plan


def cli(ws: Path, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if crash_at:
        env[ENV] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "segmentation.cli", "--workspace", str(ws), *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env,
    )  # fmt: skip


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """400 profiles, their events, two definitions and a job's members."""
    profiles, events = make_frames()
    profiles.to_csv(tmp_path / "profiles.csv", index=False)
    events.to_csv(tmp_path / "events.csv", index=False)
    # the replacement drops a third of the people, whose events stay stored
    profiles.iloc[: len(profiles) * 2 // 3].to_csv(tmp_path / "fewer.csv", index=False)
    ws = tmp_path / "ws.duckdb"
    svc = SegmentationService.open(ws)
    svc.ingest("profiles", tmp_path / "profiles.csv")
    svc.ingest("events", tmp_path / "events.csv")
    svc.definitions.create(name="Buyers", pql=BUYERS)
    svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    svc.jobs.run("*")
    svc.close()
    return ws


def seen(ws: Path) -> dict:
    """What a user sees after reopening, and what the tables say it should be."""
    svc = SegmentationService.open(ws)
    try:
        db = svc.db
        catalog = {(f.source, f.name): f for f in svc.catalog()}
        return {
            "profiles": svc.info()["profiles"],
            "buyers_shown": svc.preview(BUYERS).total,
            "buyers_true": db.scalar(
                "SELECT count(DISTINCT e.profile_id) FROM events e JOIN profiles p "
                "USING (profile_id) WHERE e.eventType = 'purchase'"
            ),
            "catalog_ids": catalog[("profile", "profile_id")].distinct_count,
            "definitions": sorted((d.name, d.pql, d.version) for d in svc.definitions.all()),
            "members": {
                d.name: svc.members(d.id)["profile_id"].tolist() for d in svc.definitions.all()
            },
            "loads": db.scalar("SELECT count(*) FROM loads"),
        }
    finally:
        svc.close()


@pytest.mark.parametrize(
    ("point", "committed"),
    [("ingest.written", False), ("ingest.derived", False), ("ingest.committed", True)],
)
def test_profiles_replace_killed_at_any_point(workspace: Path, point: str, committed: bool):
    """The issue's case: a kill after the commit left the "every event has a profile"
    flag set, and event-only segments counted 46,757 profiles instead of 35,026."""
    before = seen(workspace)
    fewer = workspace.parent / "fewer.csv"
    result = cli(workspace, "ingest", "profiles", str(fewer), "--mode", "replace", crash_at=point)
    assert result.returncode == -signal.SIGKILL, result.stderr
    after = seen(workspace)
    assert after["buyers_shown"] == after["buyers_true"]
    assert after["catalog_ids"] == after["profiles"]
    assert after["definitions"] == before["definitions"]
    assert after["members"] == before["members"]
    if committed:
        assert after["profiles"] == len(pd.read_csv(fewer)) < before["profiles"]
        assert after["loads"] == before["loads"] + 1
    else:
        assert after == before


@pytest.mark.parametrize(("point", "committed"), [("job.merged", False), ("job.committed", True)])
def test_job_killed_around_its_commit_has_status_and_members_that_agree(
    workspace: Path, point: str, committed: bool
):
    """The issue's case: a job killed between its membership commit and its status write
    was FAILED ("membership is as the last successful job left it") with its own
    membership stored. Status and membership now commit together."""
    fewer = workspace.parent / "fewer.csv"
    assert cli(workspace, "ingest", "profiles", str(fewer), "--mode", "replace").returncode == 0
    before = seen(workspace)
    result = cli(workspace, "run", "*", crash_at=point)
    assert result.returncode == -signal.SIGKILL, result.stderr
    after = seen(workspace)
    svc = SegmentationService.open(workspace)
    try:
        job = svc.jobs.list(limit=1)[0]
        if committed:
            assert job.status == "SUCCEEDED"
            assert svc.jobs.history()["job_id"].tolist()[-2:] == [job.id, job.id]
            gold = svc.preview('loyaltyTier = "gold"').total
            assert len(after["members"]["Gold"]) == gold < len(before["members"]["Gold"])
        else:
            assert job.status == "FAILED"
            assert "Membership is as the last successful job left it" in job.error
            assert job.id not in set(svc.jobs.history()["job_id"])
            assert after["members"] == before["members"]
        assert all(set(svc.members(d.id)["job_id"]) <= {j.id for j in svc.jobs.list()}
                   for d in svc.definitions.all())  # fmt: skip
        assert after["definitions"] == before["definitions"]
    finally:
        svc.close()


def test_export_killed_between_files_is_failed_on_open_with_no_file_left(workspace: Path):
    exports = workspace.parent / "exports"
    result = cli(workspace, "export", "Buyers", "Gold", "--separate",
                 crash_at="export.file_written")  # fmt: skip
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert [p.name for p in exports.iterdir()]  # the first file was there at the kill
    before = seen(workspace)  # reopening recovers
    assert list(exports.iterdir()) == []
    svc = SegmentationService.open(workspace)
    try:
        (export,) = svc.exports.list()
        assert export.status == "FAILED" and "stopped before it finished" in export.error
        assert export.files == []
        again = svc.exports.create({"segments": [d.id for d in svc.definitions.all()]})
        assert again.status == "SUCCEEDED" and len(again.files) == 1
    finally:
        svc.close()
    assert seen(workspace)["members"] == before["members"]

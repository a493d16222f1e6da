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

"""The facade end to end: bad requests change nothing; a reopened workspace keeps everything."""

from __future__ import annotations

import pandas as pd
import pytest

from segmentation import SegmentationError, SegmentationService
from segmentation.errors import ConflictError, InvalidInputError, NotFoundError
from tests.conftest import AS_OF


def snapshot(svc: SegmentationService) -> dict:
    tables = ["definitions", "definition_versions", "jobs", "memberships", "schedules", "exports"]
    return {t: svc.db.scalar(f"SELECT count(*) FROM {t}") for t in tables}


@pytest.fixture
def ready(svc: SegmentationService) -> SegmentationService:
    gold = svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    svc.jobs.run([gold.id], as_of=AS_OF)
    return svc


BAD_REQUESTS = [
    ("unknown definition id", lambda s: s.definitions.get("nope"), NotFoundError),
    ("unknown job id", lambda s: s.jobs.get("nope"), NotFoundError),
    ("duplicate name", lambda s: s.definitions.create(name="gold", pql="age > 1"), ConflictError),
    (
        "self reference",
        lambda s: s.definitions.update("Gold", pql='inSegment("Gold")'),
        ConflictError,
    ),
    (
        "invalid cron",
        lambda s: s.schedules.create(name="x", cron="0 0 25 * * ?", segments=["*"]),
        InvalidInputError,
    ),
    (
        "unknown timezone",
        lambda s: s.schedules.create(
            name="x", cron="0 0 1 * * ?", segments=["*"], timezone="Mars/Base"
        ),
        InvalidInputError,
    ),
    (
        "schedule of unknown segment",
        lambda s: s.schedules.create(name="x", cron="0 0 1 * * ?", segments=["nope"]),
        NotFoundError,
    ),
    (
        "export of unknown segment",
        lambda s: s.exports.create({"segments": ["nope"], "format": "csv"}),
        NotFoundError,
    ),
    (
        "export of unknown field",
        lambda s: s.exports.create(
            {"segments": [s.definitions.get("Gold").id], "fields": ["nope"]}
        ),
        InvalidInputError,
    ),
    ("workspace timezone", lambda s: s.set_timezone("Nowhere/Land"), InvalidInputError),
    ("job of nothing", lambda s: s.jobs.run([]), InvalidInputError),
    (
        "PQL injection",
        lambda s: s.preview('country = "US"; DROP TABLE profiles; --'),
        SegmentationError,
    ),
]


@pytest.mark.parametrize(("label", "call", "error"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_say_why_and_change_nothing(ready: SegmentationService, label, call, error):
    before = snapshot(ready)
    members = ready.members("Gold")
    with pytest.raises(error) as info:
        call(ready)
    assert info.value.message and "Traceback" not in info.value.message
    assert snapshot(ready) == before
    pd.testing.assert_frame_equal(ready.members("Gold"), members)
    assert ready.info()["profiles"] == 400


def test_export_of_a_deleted_segment_is_refused(ready: SegmentationService):
    gold_id = ready.definitions.get("Gold").id
    ready.definitions.delete(gold_id)
    with pytest.raises(NotFoundError):
        ready.exports.create({"segments": [gold_id], "format": "csv"})
    assert not list(ready.exports_dir.glob("*")) if ready.exports_dir.exists() else True


def test_delete_refused_while_a_schedule_uses_it(ready: SegmentationService):
    gold = ready.definitions.get("Gold")
    ready.schedules.create(name="Nightly gold", cron="0 0 1 * * ?", segments=[gold.id])
    with pytest.raises(ConflictError, match="Nightly gold"):
        ready.definitions.delete(gold.id)
    assert ready.definitions.get(gold.id)


def test_close_and_reopen_keeps_everything(tmp_path, frames):
    profiles, events = frames
    profiles.to_csv(tmp_path / "p.csv", index=False)
    events.to_csv(tmp_path / "e.csv", index=False)
    path = tmp_path / "ws.duckdb"
    svc = SegmentationService.open(path, exports_dir=tmp_path / "exports")
    svc.ingest("profiles", tmp_path / "p.csv")
    svc.ingest("events", tmp_path / "e.csv")
    svc.set_timezone("Europe/Berlin")
    d = svc.definitions.create(name="Buyers", pql='xEvent[eventType = "purchase"].count() >= 1')
    job = svc.jobs.run([d.id], as_of=AS_OF)
    schedule = svc.schedules.create(name="Nightly", cron="0 0 1 * * ?", segments=["*"])
    export = svc.exports.create({"segments": [d.id], "format": "parquet"})
    members = svc.members(d.id)
    svc.close()

    again = SegmentationService.open(path, exports_dir=tmp_path / "exports")
    assert again.timezone == "Europe/Berlin"
    assert again.definitions.get(d.id).pql == d.pql
    assert again.jobs.get(job.id).status == "SUCCEEDED"
    assert again.schedules.get(schedule.id).name == "Nightly"
    assert again.exports.get(export.id).status == "SUCCEEDED"
    pd.testing.assert_frame_equal(again.members(d.id), members)
    exported = pd.read_parquet(again.exports.get(export.id).files[0])
    assert sorted(exported["profile_id"]) == sorted(members["profile_id"])
    assert {f.name for f in again.catalog()} >= {"profile_id", "loyaltyTier", "eventType"}
    again.close()


def test_events_of_unknown_profiles_never_qualify(tmp_path, frames):
    """Events loaded before their profiles are kept; segments still only return
    loaded profiles, because the fast events-only plan is used only when it is safe."""
    profiles, events = frames
    events.to_csv(tmp_path / "e.csv", index=False)
    profiles.head(100).to_csv(tmp_path / "p.csv", index=False)
    svc = SegmentationService.open(":memory:", exports_dir=tmp_path / "exports")
    svc.ingest("events", tmp_path / "e.csv")
    svc.ingest("profiles", tmp_path / "p.csv")
    assert svc.db.get_meta("events_within_profiles") == "0"
    page = svc.preview('xEvent[eventType = "purchase"].count() >= 1', as_of=AS_OF, limit=1000)
    assert set(page.rows["profile_id"]) <= set(profiles.head(100)["profile_id"])
    svc.close()


def test_fast_plan_is_used_when_every_event_has_its_profile(svc: SegmentationService, frames):
    _, events = frames
    assert svc.db.get_meta("events_within_profiles") == "1"
    sql, _ = svc.compile('xEvent[eventType = "purchase"].count() >= 1', AS_OF)
    assert '"profiles"' not in sql
    bought = set(
        events[(events["eventType"] == "purchase") & (events["timestamp"] <= AS_OF)]["profile_id"]
    )
    assert svc.preview(
        'xEvent[eventType = "purchase"].count() >= 1', as_of=AS_OF, limit=1000
    ).total == len(bought)


def test_huge_definitions_are_refused_early(svc: SegmentationService):
    huge = " or ".join(f"age = {i}" for i in range(2_000))
    with pytest.raises(InvalidInputError, match="at most 2,000"):
        svc.preview(huge)
    assert svc.preview(" or ".join(f"age = {i}" for i in range(200))).total >= 0

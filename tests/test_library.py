"""The segment library: last size and its date, size history, schedules, last job."""

from __future__ import annotations

import datetime as dt

from segmentation import SegmentationService
from tests.conftest import AS_OF


def test_library_reads_each_segment_from_its_runs_and_schedules(svc: SegmentationService) -> None:
    buyers = svc.definitions.create(
        name="Buyers", pql='xEvent[eventType = "purchase"].count() >= 1', tags=["sales"]
    )
    gold = svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    never = svc.definitions.create(name="Never run", pql="age > 70")
    week_ago = AS_OF - dt.timedelta(days=7)
    svc.jobs.run([buyers.id, gold.id], as_of=week_ago)
    last = svc.jobs.run([buyers.id], as_of=AS_OF)
    what_if = svc.jobs.run([buyers.id], as_of=week_ago)  # before the latest run: a what-if
    assert what_if.what_if
    svc.schedules.create(name="Mornings", cron="0 0 7 ? * *", segments=[gold.id])
    svc.schedules.create(name="Off", cron="0 0 7 ? * *", segments=["*"], active=False)

    by_name = {e.name: e for e in svc.library()}
    assert list(by_name) == ["Buyers", "Gold", "Never run"]  # by name

    b = by_name["Buyers"]
    sizes = [svc.preview(buyers.id, as_of=t).total for t in (week_ago, AS_OF)]
    assert b.sizes == sizes and b.size == sizes[-1]
    assert b.size_as_of == AS_OF
    assert (b.tags, b.schedules) == (["sales"], [])  # the inactive schedule does not count
    assert b.size_as_of == AS_OF  # the what-if run changed nothing
    assert (b.last_job_status, b.last_job_at) == ("SUCCEEDED", what_if.created_at)
    assert last.created_at < what_if.created_at

    g = by_name["Gold"]
    assert g.sizes == [svc.preview(gold.id, as_of=week_ago).total]
    assert g.size_as_of == week_ago and g.schedules == ["Mornings"]

    n = by_name["Never run"]
    assert (n.size, n.size_as_of, n.sizes, n.last_job_status) == (None, None, [], None)
    assert n.id == never.id

"""Segment jobs: statuses, membership transitions, change log, history, recovery."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from segmentation import SegmentationService
from segmentation.errors import ConflictError, InvalidInputError, NotFoundError
from segmentation.jobs import JobRunner
from tests.conftest import AS_OF


def bought_within(events: pd.DataFrame, as_of: dt.datetime, days: int) -> set[str]:
    seen = events[(events["timestamp"] <= as_of) & (events["eventType"] == "purchase")]
    recent = seen[seen["timestamp"] >= as_of - dt.timedelta(days=days)]
    return set(recent["profile_id"])


RECENT_BUYERS = (
    'xEvent[eventType = "purchase" and timestamp occurs <= 7 days before now].count() >= 1'
)


def test_first_run_marks_everyone_realized(svc: SegmentationService, frames):
    _, events = frames
    d = svc.definitions.create(name="Recent buyers", pql=RECENT_BUYERS)
    job = svc.jobs.run([d.id], as_of=AS_OF)
    expected = bought_within(events, AS_OF, 7)
    assert job.status == "SUCCEEDED"
    assert job.metrics.segmented_profile_counter[d.id] == len(expected)
    assert job.metrics.total_profiles == 400
    members = svc.members(d.id)
    assert set(members["profile_id"]) == expected
    assert set(members["status"]) == {"realized"}
    assert job.metrics.total_time.total_time_in_ms >= 0


def test_second_run_records_entered_existing_exited(svc: SegmentationService, frames):
    _, events = frames
    d = svc.definitions.create(name="Recent buyers", pql=RECENT_BUYERS)
    first = svc.jobs.run([d.id], as_of=AS_OF)
    later = AS_OF + dt.timedelta(days=5)
    second = svc.jobs.run([d.id], as_of=later)
    before, after = bought_within(events, AS_OF, 7), bought_within(events, later, 7)
    counts = second.metrics.segmented_profile_by_status_counter[d.id]
    assert counts == {
        "realized": len(after - before),
        "existing": len(after & before),
        "exited": len(before - after),
    }
    members = svc.members(d.id, statuses=["realized", "existing", "exited"])
    by_status = members.groupby("status")["profile_id"].apply(set).to_dict()
    assert by_status.get("exited", set()) == before - after
    assert by_status.get("realized", set()) == after - before
    changes = svc.jobs.changes(second.id)
    entered = set(changes[changes["change"] == "entered"]["profile_id"])
    assert entered == after - before
    assert set(changes[changes["change"] == "exited"]["profile_id"]) == before - after
    history = svc.jobs.history(d.id)
    assert list(history["job_id"]) == [first.id, second.id]
    assert list(history["qualified"]) == [len(before), len(after)]


def test_star_runs_every_definition_with_references_first(svc: SegmentationService):
    base = svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    svc.definitions.create(name="Gold in US", pql='inSegment("Gold") and country = "US"')
    job = svc.jobs.run("*", as_of=AS_OF)
    assert next(s.name for s in job.segments) == "Gold"
    gold_us = svc.definitions.get("Gold in US")
    assert (
        job.metrics.segmented_profile_counter[gold_us.id]
        <= (job.metrics.segmented_profile_counter[base.id])
    )


def test_version_is_recorded_with_each_run(svc: SegmentationService):
    d = svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    svc.jobs.run([d.id], as_of=AS_OF)
    svc.definitions.update(d.id, pql='loyaltyTier = "silver"')
    job = svc.jobs.run([d.id], as_of=AS_OF)
    assert job.segments[0].version == 2
    assert set(svc.jobs.history(d.id)["version"]) == {1, 2}


def test_cancel_of_finished_job_is_refused(svc: SegmentationService):
    d = svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    job = svc.jobs.run([d.id], as_of=AS_OF)
    with pytest.raises(ConflictError, match="already SUCCEEDED"):
        svc.jobs.cancel(job.id)
    assert svc.jobs.get(job.id).status == "SUCCEEDED"


@pytest.mark.parametrize(
    ("segments", "error"),
    [(["no-such-id"], NotFoundError), ([], InvalidInputError)],
)
def test_bad_job_requests(svc: SegmentationService, segments, error):
    with pytest.raises(error):
        svc.jobs.run(segments, as_of=AS_OF)
    assert svc.jobs.list() == []


def test_failed_job_keeps_membership(svc: SegmentationService):
    d = svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    svc.jobs.run([d.id], as_of=AS_OF)
    before = svc.members(d.id)
    svc.db.connection().execute("ALTER TABLE profiles RENAME COLUMN loyaltyTier TO tier")
    svc._schema_cache = None
    job = svc.jobs.run([d.id], as_of=AS_OF)
    assert job.status == "FAILED"
    assert "loyaltyTier" in job.error
    pd.testing.assert_frame_equal(svc.members(d.id), before)


class Rerun(BaseException):
    """Stands in for Streamlit's rerun/stop exceptions (BaseException subclasses)."""


def test_interrupted_job_is_recorded_and_membership_kept(svc: SegmentationService):
    d = svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    svc.jobs.run([d.id], as_of=AS_OF)
    before = svc.members(d.id)

    def progress(fraction: float, message: str) -> None:
        if fraction >= 0.7:
            raise Rerun

    with pytest.raises(Rerun):
        svc.jobs.run([d.id], as_of=AS_OF, progress=progress)
    latest = svc.jobs.list(limit=1)[0]
    assert latest.status == "CANCELLED"
    pd.testing.assert_frame_equal(svc.members(d.id), before)


def test_a_definition_cannot_be_deleted_while_a_job_evaluates_it(svc: SegmentationService):
    """It was deleted, and the job recorded it SUCCEEDED with no members."""
    d = svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    refused: list[str] = []

    def delete_before_the_merge(fraction: float, message: str) -> None:
        if fraction == 0.7:
            try:
                svc.definitions.delete(d.id)
            except ConflictError as exc:
                refused.append(exc.message)

    job = svc.jobs.run([d.id], as_of=AS_OF, progress=delete_before_the_merge)
    assert job.status == "SUCCEEDED"
    assert refused and "which is evaluating it" in refused[0]
    assert job.metrics.segmented_profile_counter[d.id] == len(svc.members(d.id)) > 0


def _state(svc: SegmentationService) -> tuple:
    return (
        [(d.id, d.name, d.pql, d.version) for d in svc.definitions.all()],
        svc.db.rows("SELECT * FROM memberships ORDER BY ALL"),
    )


def test_a_definition_that_no_longer_type_checks_fails_alone(svc: SegmentationService, tmp_path):
    """The issue's case: a load retypes a field under a saved definition; a '*' job still
    evaluates the others, and the broken one is FAILED with its reason, membership kept."""
    adults = svc.definitions.create(name="Adults", pql="age >= 40")
    gold = svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    first = svc.jobs.run("*", as_of=AS_OF)
    adults_before = svc.members(adults.id)
    gold_before = set(svc.members(gold.id)["profile_id"])
    # age becomes text ("unknown" in it); loyaltyTier changes for one gold member
    frame = svc.table_frame("profiles", limit=None)
    frame["age"] = frame["age"].map(lambda v: "unknown" if pd.isna(v) else str(int(v)))
    dropped = sorted(gold_before)[0]
    frame.loc[frame["profile_id"] == dropped, "loyaltyTier"] = "silver"
    frame.to_csv(tmp_path / "retyped.csv", index=False)
    svc.ingest(  # age chosen as text: most of its values still fit a number
        "profiles", tmp_path / "retyped.csv", mode="replace", column_types={"age": "text"}
    )
    job = svc.jobs.run("*", as_of=AS_OF)
    assert job.status == "SUCCEEDED"
    by_name = {s.name: s for s in job.segments}
    assert by_name["Gold"].status == "SUCCEEDED" and by_name["Gold"].error is None
    assert by_name["Adults"].status == "FAILED"
    assert "profile field 'age' (VARCHAR) is a text" in by_name["Adults"].error
    assert "1 of 2 definition(s) could not be evaluated" in job.error
    assert svc.jobs.get(job.id).segments == job.segments  # stored as returned
    assert set(svc.members(gold.id)["profile_id"]) == gold_before - {dropped}
    pd.testing.assert_frame_equal(svc.members(adults.id), adults_before)
    assert job.metrics.segmented_profile_counter == {gold.id: len(gold_before) - 1}
    history = svc.jobs.history(adults.id)
    assert history["job_id"].tolist() == [first.id]  # no run recorded for the failed one


def test_every_definition_failing_fails_the_job_and_changes_nothing(
    svc: SegmentationService, tmp_path
):
    adults = svc.definitions.create(name="Adults", pql="age >= 40")
    svc.jobs.run("*", as_of=AS_OF)
    frame = svc.table_frame("profiles", limit=None)
    frame["age"] = "unknown"
    frame.to_csv(tmp_path / "retyped.csv", index=False)
    svc.ingest(  # age chosen as text: most of its values still fit a number
        "profiles", tmp_path / "retyped.csv", mode="replace", column_types={"age": "text"}
    )
    before = _state(svc)
    job = svc.jobs.run([adults.id], as_of=AS_OF)
    assert job.status == "FAILED"
    assert job.segments[0].status == "FAILED"
    assert "1 of 1 definition(s) could not be evaluated" in job.error
    assert _state(svc) == before


def test_a_definition_the_engine_refuses_at_run_time_fails_alone(svc: SegmentationService):
    """A definition whose SQL DuckDB refuses only when it runs (a gap in the checks before
    the run, here an escape RE2 does not know): the shared query fails, and each
    definition is then evaluated on its own. The runner is given that SQL directly, as
    no PQL that passes validation is known to produce it."""
    gold = svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    odd = svc.definitions.create(name="Odd", pql='email.contains("x")')
    engine_refuses = "regexp_matches(email, '\\Z')"

    def compile_many(defs, as_of):
        sql, params, failed = svc.jobs._compile_many(defs, as_of)
        if any(d.id == odd.id for d in defs):  # the runtime failure, in real SQL
            sql = (
                f"SELECT * FROM ({sql}) UNION ALL SELECT '{odd.id}', profile_id "
                f"FROM profiles WHERE {engine_refuses}"
            )
        return sql, params, failed

    runner = JobRunner(svc.db, svc.tasks, compile_many, lambda: svc._engine)
    job = runner.run(svc.definitions.bulk_get([gold.id, odd.id]), AS_OF)
    assert job.status == "SUCCEEDED"
    by_name = {s.name: s for s in job.segments}
    assert by_name["Odd"].status == "FAILED"
    assert "invalid escape sequence" in by_name["Odd"].error
    assert by_name["Gold"].status == "SUCCEEDED"
    assert len(svc.members(gold.id)) == job.metrics.segmented_profile_counter[gold.id] > 0
    assert svc.members(odd.id).empty


# --- what-if runs ----------------------------------------------------------------------


def _current(svc: SegmentationService, segment_id: str) -> tuple:
    """Everything that shows current membership: members, a profile's memberships, an export."""
    members = svc.members(segment_id)
    someone = members["profile_id"].iloc[0]
    rows = [m for m in svc.search.profile_view(someone).memberships if m.segment_id == segment_id]
    return members, rows


def test_a_run_as_of_a_future_date_is_a_what_if_that_changes_no_members(
    svc: SegmentationService,
):
    """The issue's case: a run a week ahead must not become the membership that is exported."""
    d = svc.definitions.create(name="Recent buyers", pql=RECENT_BUYERS)
    current = svc.jobs.run([d.id], as_of=AS_OF)
    assert current.what_if is False
    members_before, rows_before = _current(svc, d.id)
    assert set(members_before["job_id"]) == {current.id}
    assert set(members_before["as_of"]) == {pd.Timestamp(AS_OF)}
    ahead = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(weeks=1)
    what_if = svc.jobs.run([d.id], as_of=ahead)
    assert what_if.status == "SUCCEEDED" and what_if.what_if is True
    assert svc.jobs.get(what_if.id).what_if is True
    members_after, rows_after = _current(svc, d.id)
    pd.testing.assert_frame_equal(members_after, members_before)
    assert rows_after == rows_before and rows_after[0].job_id == current.id
    # its counts and changes are kept, measured against the current membership
    history = svc.jobs.history(d.id).set_index("job_id")
    assert bool(history.loc[what_if.id, "what_if"]) and not history.loc[current.id, "what_if"]
    counts = what_if.metrics.segmented_profile_by_status_counter[d.id]
    assert counts["exited"] == len(members_before)  # nobody bought in the future
    exited = svc.jobs.changes(what_if.id, d.id)
    assert set(exited["profile_id"]) == set(members_before["profile_id"])
    assert svc.last_evaluation(d.id)["job_id"] == current.id
    export = svc.exports.create({"segments": [d.id], "fields": ["email"], "format": "csv"})
    export = svc.exports.wait(export.id) if export.status != "SUCCEEDED" else export
    assert export.metrics.profiles_exported == len(members_before)
    assert [(r.segment_id, r.job_id, r.as_of) for r in export.metrics.runs] == [
        (d.id, current.id, AS_OF)
    ]


def test_runs_in_time_order_are_current_and_an_earlier_one_is_a_what_if(
    svc: SegmentationService,
):
    d = svc.definitions.create(name="Recent buyers", pql=RECENT_BUYERS)
    weekly = [svc.jobs.run([d.id], as_of=AS_OF - dt.timedelta(weeks=w)) for w in (3, 2, 1, 0)]
    assert [j.what_if for j in weekly] == [False] * 4  # the demo's weekly history
    latest = svc.members(d.id)
    assert set(latest["job_id"]) == {weekly[-1].id}
    earlier = svc.jobs.run([d.id], as_of=AS_OF - dt.timedelta(days=10))
    assert earlier.what_if is True
    pd.testing.assert_frame_equal(svc.members(d.id), latest)
    later = svc.jobs.run([d.id], as_of=AS_OF + dt.timedelta(days=1))
    assert later.what_if is False
    assert set(svc.members(d.id)["job_id"]) == {later.id}
    flags = svc.jobs.history(d.id).set_index("job_id")["what_if"].to_dict()
    assert [flags[j.id] for j in [*weekly, earlier, later]] == [False] * 4 + [True, False]

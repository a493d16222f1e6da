"""/segment/jobs through the real app: started on the runner, polled to the end."""

from __future__ import annotations

import pytest

from segmentation.jobs import KIND as JOB_KIND
from tests.api_support import assert_error, assert_full_runner_refuses


def _segment(api, name: str = "US", pql: str = 'country = "US"'):
    return api.svc.definitions.create(name=name, pql=pql)


def _finish(api, job_id: str) -> dict:
    api.svc.jobs.wait(job_id, timeout=60)
    return api.get(f"/segment/jobs/{job_id}").json()


def test_a_job_from_the_array_form_runs_to_succeeded_with_aep_metrics(api):
    seg = _segment(api)
    created = api.post("/segment/jobs", [{"segmentId": seg.id}])
    assert created.status_code == 200, created.text
    assert created.json()["status"] in ("NEW", "PROCESSING", "SUCCEEDED")
    job = _finish(api, created.json()["id"])
    assert job["status"] == "SUCCEEDED"
    members = len(api.svc.members(seg.id))
    metrics = job["metrics"]
    assert metrics["segmentedProfileCounter"] == {seg.id: members}
    counts = metrics["segmentedProfileByStatusCounter"][seg.id]
    assert counts["realized"] + counts["existing"] == members > 0
    assert metrics["totalProfiles"] == 400
    assert set(metrics["totalTime"]) == {"startTimeInMs", "endTimeInMs", "totalTimeInMs"}
    assert job["segments"][0]["segment"]["expression"]["value"] == 'country = "US"'
    assert job["_links"]["cancel"] == {
        "href": f"/data/core/ups/segment/jobs/{job['id']}",
        "method": "DELETE",
    }


def test_a_job_shows_the_pql_it_evaluated_after_the_definition_changes(api):
    seg = _segment(api)
    job_id = api.post("/segment/jobs", [{"segmentId": seg.id}]).json()["id"]
    _finish(api, job_id)
    api.svc.definitions.update(seg.id, pql='country = "DE"')
    segment = api.get(f"/segment/jobs/{job_id}").json()["segments"][0]["segment"]
    assert segment["expression"]["value"] == 'country = "US"'
    assert segment["version"] == 1


def test_a_job_recorded_before_jobs_kept_their_pql_shows_the_definition_now(api):
    seg = _segment(api)
    job_id = api.post("/segment/jobs", [{"segmentId": seg.id}]).json()["id"]
    _finish(api, job_id)
    with api.svc.db.write() as tx:  # as a workspace of an earlier version stored it
        for column in ("payload", "result"):
            tx.execute(
                f"UPDATE tasks SET {column} = json_remove({column}, '$.segments[0].pql') "
                "WHERE id = ?",
                [job_id],
            )
    segment = api.get(f"/segment/jobs/{job_id}").json()["segments"][0]["segment"]
    assert segment["expression"]["value"] == 'country = "US"'
    api.svc.definitions.delete(seg.id)
    assert "expression" not in api.get(f"/segment/jobs/{job_id}").json()["segments"][0]["segment"]


def test_a_job_for_every_segment_with_the_star_form(api):
    a, b = _segment(api), _segment(api, "Gold", 'loyaltyTier = "gold"')
    body = {"schema": {"name": "_xdm.context.profile"}, "segments": [{"segmentId": "*"}]}
    job = _finish(api, api.post("/segment/jobs", body).json()["id"])
    assert set(job["metrics"]["segmentedProfileCounter"]) == {a.id, b.id}


def test_the_previewed_count_equals_the_jobs_counter(api):
    seg = _segment(api, "Gold 30+", 'loyaltyTier = "gold" and age >= 30')
    job = _finish(api, api.post("/segment/jobs", [{"segmentId": seg.id}]).json()["id"])
    preview = api.svc.previews.start(seg.pql)
    api.svc.tasks.wait(preview.id, timeout=60)
    assert (
        api.svc.previews.get(preview.id).result["total"]
        == (job["metrics"]["segmentedProfileCounter"][seg.id])
    )


def test_list_filters_by_status_and_pages_with_links_next(api):
    seg = _segment(api)
    ids = []
    for _ in range(3):
        ids.append(api.post("/segment/jobs", [{"segmentId": seg.id}]).json()["id"])
        api.svc.jobs.wait(ids[-1], timeout=60)
    first = api.get("/segment/jobs", params={"limit": 2}).json()
    assert first["_page"] == {"totalCount": 3, "pageSize": 2}
    assert "href" not in first["_links"]  # aepp would loop on a top-level href
    assert first["_links"]["next"]["href"].endswith("start=1&limit=2")
    second = api.get("/segment/jobs", params={"limit": 2, "start": 1}).json()
    assert second["_links"] == {}
    seen = [j["id"] for j in first["children"] + second["children"]]
    assert sorted(seen) == sorted(ids)
    done = api.get("/segment/jobs", params={"status": "SUCCEEDED"}).json()
    assert done["_page"]["totalCount"] == 3
    assert api.get("/segment/jobs", params={"status": "FAILED"}).json()["children"] == []


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        ("segments~segmentId=={us}", ["us1", "both"]),
        ("segments~segment.name==Gold", ["gold", "both"]),
        ("status==SUCCEEDED", ["us1", "gold", "both"]),
        ("source==api", ["us1", "gold", "both"]),
        ("segments~segmentId==nope", []),
        ("metrics.totalProfiles==400", ["us1", "gold", "both"]),
    ],
)
def test_list_filters_by_aeps_property(api, prop, expected):
    """``property=path==value`` and ``array~path==value`` (AEP's example: segments~segmentId)."""
    us, gold = _segment(api), _segment(api, "Gold", 'loyaltyTier = "gold"')
    made = {}
    for name, segs in (("us1", [us]), ("gold", [gold]), ("both", [us, gold])):
        made[name] = api.post("/segment/jobs", [{"segmentId": s.id} for s in segs]).json()["id"]
        api.svc.jobs.wait(made[name], timeout=60)
    query = prop.format(us=us.id)
    found = api.get("/segment/jobs", params={"property": query}).json()
    assert sorted(j["id"] for j in found["children"]) == sorted(made[n] for n in expected)
    assert found["_page"]["totalCount"] == len(expected)


def test_property_filters_combine_and_page_with_links_that_keep_them(api):
    us, gold = _segment(api), _segment(api, "Gold", 'loyaltyTier = "gold"')
    ids = []
    for segs in ([us], [us, gold], [us, gold], [gold]):
        ids.append(api.post("/segment/jobs", [{"segmentId": s.id} for s in segs]).json()["id"])
        api.svc.jobs.wait(ids[-1], timeout=60)
    props = [f"segments~segmentId=={us.id}", f"segments~segmentId=={gold.id}"]
    first = api.get("/segment/jobs", params={"property": props, "limit": 1}).json()
    assert first["_page"] == {"totalCount": 2, "pageSize": 1}
    link = first["_links"]["next"]["href"].removeprefix("/data/core/ups")
    second = api.get(link).json()
    assert second["_links"] == {}
    assert sorted(j["id"] for j in first["children"] + second["children"]) == sorted(ids[1:3])


def test_bulk_get_of_jobs(api):
    seg = _segment(api)
    job_id = api.post("/segment/jobs", [{"segmentId": seg.id}]).json()["id"]
    api.svc.jobs.wait(job_id, timeout=60)
    response = api.post("/segment/jobs/bulk-get", {"ids": [{"id": job_id}, {"id": "nope"}]})
    assert response.status_code == 207
    assert list(response.json()["results"]) == [job_id]
    assert list(response.json()["errors"]) == ["nope"]


def test_cancelling_a_finished_job_is_409_and_it_stays_succeeded(api):
    seg = _segment(api)
    job = _finish(api, api.post("/segment/jobs", [{"segmentId": seg.id}]).json()["id"])
    assert_error(api.delete(f"/segment/jobs/{job['id']}"), 409, "SUCCEEDED")
    assert api.svc.jobs.get(job["id"]).status == "SUCCEEDED"


def test_cancelling_a_running_job_answers_204_and_it_ends_cancelled_or_done(api):
    seg = _segment(api)
    job_id = api.post("/segment/jobs", [{"segmentId": seg.id}]).json()["id"]
    response = api.delete(f"/segment/jobs/{job_id}")
    final = api.svc.jobs.wait(job_id, timeout=60)
    if response.status_code == 204:  # marked while it ran
        assert response.content == b""
        assert final.status in ("CANCELLED", "SUCCEEDED")
    else:  # it had finished already
        assert_error(response, 409, "SUCCEEDED")
    members = len(api.svc.members(seg.id))
    assert members == (final.metrics.segmented_profile_counter.get(seg.id, 0))


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ([], 400, "segmentId"),
        ({"segments": []}, 400, "segmentId"),
        ([{"id": "x"}], 400, "segments[0]"),
        ([{"segmentId": "no-such-segment"}], 404, "no-such-segment"),
        ([{"segmentId": "x"}] * 1501, 400, "1500"),
        ("*", 400, "segmentId"),
        ([{"segmentId": 5}], 400, "segments[0].segmentId must be a string"),
        ([{"segmentId": ["x"]}], 400, "segments[0].segmentId must be a string"),
    ],
)
def test_bad_job_requests_start_nothing(api, body, status, fragment):
    _segment(api)
    assert_error(api.post("/segment/jobs", body), status, fragment)
    assert api.svc.jobs.list() == []


def test_unknown_job_ids_are_404(api):
    assert_error(api.get("/segment/jobs/nope"), 404, "nope")
    assert_error(api.delete("/segment/jobs/nope"), 404, "nope")


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"status": "DONE"}, "status"),
        ({"start": -1}, "start"),
        ({"property": "segments~segmentId"}, "property="),
        ({"property": "==x"}, "array~attribute==value"),
        ({"property": "~id==x"}, "array~attribute==value"),
    ],
)
def test_bad_list_parameters(api, params, fragment):
    assert_error(api.get("/segment/jobs", params=params), 400, fragment)


def test_more_jobs_than_the_runner_takes_get_429_with_retry_after(api):
    """The job pool is full (its worker busy, its queue taken): refused, nothing recorded."""
    seg = _segment(api)
    assert_full_runner_refuses(
        api, JOB_KIND, lambda: api.post("/segment/jobs", [{"segmentId": seg.id}])
    )
    job = api.post("/segment/jobs", [{"segmentId": seg.id}])
    assert job.status_code == 200, job.text
    assert _finish(api, job.json()["id"])["status"] == "SUCCEEDED"


def test_a_definition_that_fails_alone_is_named_in_the_jobs_errors(api, tmp_path):
    adults, gold = (
        _segment(api, "Adults", "age >= 40"),
        _segment(api, "Gold", 'loyaltyTier = "gold"'),
    )
    frame = api.svc.table_frame("profiles", limit=None)
    frame["age"] = frame["age"].map(lambda v: "unknown" if v != v else str(int(v)))  # now text
    frame.to_csv(tmp_path / "retyped.csv", index=False)
    api.svc.ingest(  # age chosen as text: most of its values still fit a number
        "profiles", tmp_path / "retyped.csv", mode="replace", column_types={"age": "text"}
    )
    job = _finish(api, api.post("/segment/jobs", {"segments": [{"segmentId": "*"}]}).json()["id"])
    assert job["status"] == "SUCCEEDED"
    [failed] = [e for e in job["errors"] if e.get("segmentId")]
    assert (
        failed["segmentId"] == adults.id and "Adults: " in failed["msg"] and "age" in failed["msg"]
    )
    statuses = {s["segmentId"]: s["segment"]["status"] for s in job["segments"]}
    assert statuses == {adults.id: "FAILED", gold.id: "SUCCEEDED"}
    assert set(job["metrics"]["segmentedProfileCounter"]) == {gold.id}

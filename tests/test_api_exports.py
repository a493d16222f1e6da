"""/export/jobs: AEP's body in, files out, AEP's offset-token paging."""

from __future__ import annotations

import pandas as pd
import pytest

from segmentation.exports import KIND as EXPORT_KIND
from tests.api_support import assert_error, assert_full_runner_refuses


@pytest.fixture
def segment(api):
    seg = api.svc.definitions.create(name="Gold", pql='loyaltyTier = "gold"')
    job = api.svc.jobs.run([seg.id])
    assert job.status == "SUCCEEDED"
    return seg


def _body(segment_id: str, **extra) -> dict:
    return {
        "fields": "email,country",
        "filter": {"segments": [{"segmentId": segment_id, "status": ["realized", "existing"]}]},
        "destination": {"datasetId": "ds-1", "segmentPerBatch": False},
        "schema": {"name": "_xdm.context.profile"},
        **extra,
    }


def _filter(when=None, **segment) -> dict:
    """A ``filter`` change: the segment (``<segment>`` is the fixture's) and times."""
    changed = {"filter": {"segments": [{"segmentId": "<segment>", **segment}]}}
    if when is not None:
        changed["filter"]["segmentQualificationTime"] = when
    return changed


def _run(api, body) -> dict:
    created = api.post("/export/jobs", body)
    assert created.status_code == 200, created.text
    api.svc.exports.wait(f"exp-{created.json()['id']:012x}", timeout=60)
    return api.get(f"/export/jobs/{created.json()['id']}").json()


def test_an_export_succeeds_and_counts_what_the_job_counted(api, segment):
    job = _run(api, _body(segment.id))
    assert isinstance(job["id"], int)
    assert job["status"] == "SUCCEEDED"
    members = api.svc.members(segment.id)
    assert job["metrics"]["totalExportedProfileCounter"] == len(members) > 0
    [path] = job["files"]
    written = pd.read_csv(path)
    assert list(written.columns) == ["profile_id", "segment_id", "email", "country"]
    assert sorted(written["profile_id"]) == sorted(members["profile_id"])
    assert job["fields"] == "email,country"
    assert job["filter"]["segments"][0]["segmentId"] == segment.id


def test_parquet_per_segment(api, segment):
    body = _body(segment.id, format="parquet")
    body["destination"]["segmentPerBatch"] = True
    job = _run(api, body)
    assert job["destination"]["segmentPerBatch"] is True
    assert (
        pd.read_parquet(job["files"][0]).shape[0] == job["metrics"]["totalExportedProfileCounter"]
    )


def test_list_pages_with_offset_tokens_to_the_end(api, segment):
    ids = [_run(api, _body(segment.id))["id"] for _ in range(3)]
    seen, params = [], {"limit": 2}
    while True:
        body = api.get("/export/jobs", params=params).json()
        seen += [r["id"] for r in body["records"]]
        nxt = body["link"]["next"]
        if not nxt:
            break
        assert nxt.startswith("/export/jobs/?limit=2&offset=")
        params = {"limit": 2, "offset": nxt.split("offset=")[1]}
    assert sorted(seen) == sorted(ids) and len(seen) == 3
    assert body["page"]["sortField"] == "createdTime"
    assert api.get("/export/jobs", params={"status": "FAILED"}).json()["records"] == []


def test_cancelling_a_finished_export_is_409_naming_its_wire_number(api, segment):
    job = _run(api, _body(segment.id))
    response = assert_error(api.delete(f"/export/jobs/{job['id']}"), 409, "SUCCEEDED")
    assert str(job["id"]) in response["title"] and "exp-" not in response["title"]
    assert api.get(f"/export/jobs/{job['id']}").json()["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    ("change", "status", "fragment"),
    [
        ({"fields": "emial"}, 400, "email"),
        ({"filter": {"segments": [{"segmentId": "nope"}]}}, 404, "nope"),
        ({"filter": {"segments": []}}, 400, "filter.segments"),
        ({"filter": {}}, 400, "filter.segments"),
        ({"format": "xlsx"}, 400, "format"),
        ({"schema": {"name": "other"}}, 400, "schema"),
        (_filter(status=["bogus"]), 400, "body.filter.segments[0].status[0]"),
        (_filter(status=[]), 400, "body.filter.segments[0].status"),
        (_filter(segmentId=5), 400, "body.filter.segments[0].segmentId"),
        (
            _filter(when={"startTime": "2024-02-01T00:00:00Z", "endTime": "2024-01-01T00:00:00Z"}),
            400,
            "filter.segmentQualificationTime.startTime (2024-02-01T00:00:00Z) must be before "
            "filter.segmentQualificationTime.endTime (2024-01-01T00:00:00Z)",
        ),
        (
            _filter(when={"startTime": "0001-01-01T00:00:00+01:00"}),
            400,
            "filter.segmentQualificationTime.startTime is outside years 1 to 9999",
        ),
        (
            _filter(when={"endTime": "9999-12-31T23:59:59-01:00"}),
            400,
            "filter.segmentQualificationTime.endTime is outside years 1 to 9999",
        ),
    ],
)
def test_bad_exports_record_nothing(api, segment, change, status, fragment):
    body = {**_body(segment.id), **change}
    for item in body["filter"].get("segments", []):
        if item.get("segmentId") == "<segment>":
            item["segmentId"] = segment.id
    response = assert_error(api.post("/export/jobs", body), status, fragment)
    for internal in ("statuses", "qualified_", "None"):
        assert internal not in response["title"]
    assert api.svc.exports.list() == []
    assert api.get("/export/jobs").json()["records"] == []


def test_different_status_lists_per_segment_are_refused(api, segment):
    other = api.svc.definitions.create(name="Other", pql="age > 1")
    body = _body(segment.id)
    body["filter"]["segments"].append({"segmentId": other.id, "status": ["exited"]})
    assert_error(api.post("/export/jobs", body), 400, "same status")
    assert api.svc.exports.list() == []


@pytest.mark.parametrize(
    "export_id", ["123", "nope", "99999999999999999999", "\u00b2", "\u2460", "\u0663"]
)
def test_unknown_export_ids_are_404(api, segment, export_id):
    """Unicode digits too: "²" was a 500, and "٣" was read as export 3."""
    _run(api, _body(segment.id))
    assert_error(api.get(f"/export/jobs/{export_id}"), 404, export_id)
    assert_error(api.delete(f"/export/jobs/{export_id}"), 404, export_id)
    waited = api.client.get(
        f"/export/jobs/{export_id}", headers={**api.headers(), "Prefer": "wait=1"}
    )
    assert_error(waited, 404, export_id)


@pytest.mark.parametrize(
    ("params", "fragment"), [({"offset": "bad"}, "offset"), ({"status": "X"}, "status")]
)
def test_bad_list_parameters(api, params, fragment):
    assert_error(api.get("/export/jobs", params=params), 400, fragment)


def test_more_exports_than_the_runner_takes_get_429(api, segment):
    assert_full_runner_refuses(
        api, EXPORT_KIND, lambda: api.post("/export/jobs", _body(segment.id))
    )
    assert _run(api, _body(segment.id))["status"] == "SUCCEEDED"

"""/preview and /estimate: created at once, evaluated as a task, polled, paged to the end."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from segmentation import preview
from tests.api_support import assert_error, assert_full_runner_refuses
from tests.conftest import make_frames

PQL = 'loyaltyTier = "gold"'


def _ready(api, preview_id: str) -> dict:
    api.svc.tasks.wait(preview_id, timeout=60)
    return api.get(f"/preview/{preview_id}").json()


def _create(api, pql: str = PQL, **extra) -> str:
    response = api.post("/preview", {"predicateExpression": pql, **extra})
    assert response.status_code == 201, response.text
    return response.json()["previewId"]


def test_create_answers_201_with_a_url_safe_id_and_the_poll_reaches_result_ready(api):
    response = api.post(
        "/preview",
        {
            "predicateExpression": PQL,
            "predicateType": "pql/text",
            "predicateModel": "_xdm.context.profile",
            "graphType": "pdg",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == body["previewQueryStatus"] == "NEW"
    assert body["previewId"] == body["previewQueryId"]
    assert set(body["previewId"]) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert response.headers["x-location"] == f"/data/core/ups/preview/{body['previewId']}"
    assert _ready(api, body["previewId"])["state"] == "RESULT_READY"


def test_pages_walk_to_the_end_and_match_the_direct_preview(api):
    preview_id = _create(api)
    first = _ready(api, preview_id)
    expected = api.svc.preview(PQL, limit=1000).rows["profile_id"].tolist()
    assert first["totalRows"] == len(expected)
    assert [r["objectId"] for r in first["results"]] == expected  # default limit 1000
    assert first["links"]["next"] == ""
    seen, url = [], f"/preview/{preview_id}?offset=0&limit=10"
    while url:
        page = api.get(url).json()
        seen += [r["objectId"] for r in page["results"]]
        url = page["links"]["next"].removeprefix("/data/core/ups")
    assert seen == expected
    assert page["page"] == {
        "offset": len(expected) - len(page["results"]),
        "size": len(page["results"]),
    }
    past = api.get(f"/preview/{preview_id}", params={"offset": 5000}).json()
    assert (past["results"], past["links"]["next"]) == ([], "")


def test_pages_read_by_eight_clients_at_once_are_each_the_right_page(api):
    """aepp pages with five threads: pages of two previews read at once, by many clients,
    are each what the direct preview of that page is."""
    ids = {pql: _create(api, pql) for pql in (PQL, 'country = "US"')}
    for preview_id in ids.values():
        _ready(api, preview_id)
    work = [(pql, offset) for pql in ids for offset in range(0, 200, 10)] * 2

    def read(item: tuple[str, int]) -> list[str]:
        pql, offset = item
        page = api.get(f"/preview/{ids[pql]}?offset={offset}&limit=10").json()
        return [r["objectId"] for r in page["results"]]

    with ThreadPoolExecutor(8) as pool:
        pages = list(pool.map(read, work))
    direct = {
        (pql, offset): api.svc.preview(pql, limit=10, offset=offset).rows["profile_id"].tolist()
        for pql, offset in set(work)
    }
    assert pages == [direct[item] for item in work]


def test_results_carry_the_profile_attributes(api):
    row = _ready(api, _create(api))["results"][0]
    assert row["attributes"]["loyaltyTier"] == "gold"
    assert row["attributes"]["profile_id"] == row["objectId"]


@pytest.mark.parametrize(("offset", "limit"), [(0, 5), (14, 5), (3, 40)])
def test_pages_across_row_blocks_carry_each_profiles_own_attributes(
    api, monkeypatch, offset, limit
):
    """The preview cache keeps rows, and their JSON, in blocks (16 rows here): a page inside
    one block or across several shows each profile's own values, a missing one as null."""
    monkeypatch.setattr(preview, "BLOCK", 16)
    profiles, _ = make_frames()
    members = profiles[profiles["loyaltyTier"] == "gold"].sort_values("profile_id")
    preview_id = _create(api)
    _ready(api, preview_id)
    results = api.get(f"/preview/{preview_id}?offset={offset}&limit={limit}").json()["results"]
    expected = members.iloc[offset : offset + limit]
    assert [r["objectId"] for r in results] == expected["profile_id"].tolist()
    for row, source in zip(results, expected.to_dict("records"), strict=True):
        for column in ("email", "country", "age", "birthDate"):  # birthDate: a DATE
            value = source[column]
            assert row["attributes"][column] == (None if pd.isna(value) else value), column


def test_a_big_page_is_gzipped_for_a_client_that_asks_and_a_small_one_is_not(api):
    preview_id = _create(api)
    _ready(api, preview_id)
    big = api.get(f"/preview/{preview_id}?limit=100")  # httpx asks for gzip, as requests does
    assert big.headers["content-encoding"] == "gzip" and len(big.json()["results"]) == 100
    identity = {**api.headers(), "accept-encoding": "identity"}
    plain = api.client.get(f"/preview/{preview_id}?limit=100", headers=identity)
    assert "content-encoding" not in plain.headers and plain.json() == big.json()
    small = api.get(f"/preview/{preview_id}?limit=1")
    assert "content-encoding" not in small.headers and len(small.json()["results"]) == 1


def test_the_estimate_has_aeps_fields_and_is_exact_on_small_data(api):
    preview_id = _create(api)
    api.svc.tasks.wait(preview_id, timeout=60)
    estimate = api.get(f"/estimate/{preview_id}").json()
    direct = api.svc.estimate(PQL)
    assert estimate["state"] == "RESULT_READY"
    assert estimate["confidenceInterval"] == "95%"
    assert estimate["estimatedSize"] == direct.estimated_size
    assert estimate["profilesReadSoFar"] == estimate["totalRows"] == 400
    assert (
        estimate["estimatedSize"] == estimate["estimatedSizeLow"] == estimate["estimatedSizeHigh"]
    )
    assert estimate["standardError"] == 0.0
    assert "standardDeviation" not in estimate
    assert estimate["_links"]["preview"] == f"/data/core/ups/preview/{preview_id}"


def test_as_of_fixes_the_evaluation_time(api):
    pql = 'xEvent[eventType = "purchase" and timestamp occurs <= 7 days before now].count() >= 1'
    preview_id = _create(api, pql, asOf="2026-06-30T12:00:00")
    total = _ready(api, preview_id)["totalRows"]
    assert total == api.svc.preview(pql, as_of=dt.datetime(2026, 6, 30, 12)).total


def test_delete_kills_the_preview(api):
    preview_id = _create(api)
    api.svc.tasks.wait(preview_id, timeout=60)
    response = api.delete(f"/preview/{preview_id}")
    assert (response.status_code, response.json()) == (200, {"status": True, "message": "KILLED"})
    assert_error(api.get(f"/preview/{preview_id}"), 404, preview_id)
    assert_error(api.get(f"/estimate/{preview_id}"), 404, preview_id)


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ({"predicateExpression": 'loyaltyTier = "gold" or'}, ["line 1, column 24"]),
        ({"predicateExpression": "loyaltyTeir = 1"}, ["loyaltyTeir", "loyaltyTier"]),
        ({"predicateExpression": PQL, "predicateType": "pql/json"}, ["predicateType"]),
        ({"predicateExpression": PQL, "predicateModel": "_xdm.context.other"}, ["predicateModel"]),
        ({}, ["predicateExpression"]),
        ({"predicateExpression": PQL, "asOf": "yesterday"}, ["asOf"]),
    ],
)
def test_bad_previews_are_400_and_record_no_task(api, body, fragments):
    assert_error(api.post("/preview", body), 400, *fragments)
    assert api.svc.tasks.list("preview") == []


@pytest.mark.parametrize("path", ["/preview/nope", "/estimate/nope"])
def test_unknown_preview_ids_are_404(api, path):
    assert_error(api.get(path), 404, "nope")


def test_bad_paging_parameters_are_400(api):
    preview_id = _create(api)
    assert_error(api.get(f"/preview/{preview_id}", params={"offset": "ten"}), 400, "offset")
    assert_error(api.get(f"/preview/{preview_id}", params={"limit": 0}), 400, "limit")


def test_a_full_preview_runner_answers_429_with_retry_after(api):
    """More previews than the runner takes are refused, and none is recorded."""
    running, _ = api.svc.tasks.capacity("preview")
    assert running == 0
    assert_full_runner_refuses(
        api, "preview", lambda: api.post("/preview", {"predicateExpression": PQL})
    )
    assert api.post("/preview", {"predicateExpression": PQL}).status_code == 201


@pytest.mark.parametrize("as_of", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_an_as_of_outside_years_1_to_9999_in_utc_is_400_and_starts_nothing(api, as_of):
    response = api.post("/preview", {"predicateExpression": PQL, "asOf": as_of})
    assert_error(response, 400, "body.asOf", "years 1 to 9999")
    assert api.svc.tasks.list("preview") == []

"""Every list pages the same way: a page past the end is empty, however far past (a
page number times the limit overflowed SQL's 64-bit OFFSET: a 500), and the next link
is the same list's next page (its own sort and filters)."""

from __future__ import annotations

import pytest

from tests.api_support import assert_error

SEARCH = {"namespace": "ups", "schema.name": "_xdm.context.segmentdefinition"}
HUGE = [99999999999999999, 9223372036854775807, 9223372036854775808, 4611686018427387904]


def _definitions(api, n: int) -> None:
    for i in range(n):
        api.svc.definitions.create(name=f"D{i}", pql=f"age > {i}", description=f"d{i % 2}")


def _preview(api) -> str:
    preview_id = api.post("/preview", {"predicateExpression": "age > 30"}).json()["previewId"]
    api.svc.tasks.wait(preview_id, timeout=60)
    return preview_id


# (path, params, what holds the items)
LISTS = [
    ("/segment/definitions", {"page": "{n}", "limit": 2}, "segments"),
    ("/segment/definitions", {"start": "{n}"}, "segments"),
    ("/segment/jobs", {"start": "{n}", "limit": 2}, "children"),
    ("/config/schedules", {"start": "{n}"}, "children"),
    ("/audiences", {"start": "{n}"}, "children"),
    ("/search/entities", {**SEARCH, "page": "{n}"}, "entities"),
    ("/preview/{preview}", {"offset": "{n}"}, "results"),
]


@pytest.mark.parametrize("number", HUGE)
@pytest.mark.parametrize(("path", "params", "items"), LISTS)
def test_a_page_far_past_the_end_is_an_empty_page(api, path, params, items, number):
    _definitions(api, 3)
    api.svc.jobs.start(["D0"])
    api.svc.schedules.create(name="s", cron="0 0 1 * * ?", segments=["*"])
    path = path.format(preview=_preview(api) if "{preview}" in path else "")
    query = {k: str(v).format(n=number) for k, v in params.items()}
    response = api.get(path, params=query)
    assert response.status_code == 200, response.text
    assert response.json()[items] == []


def test_one_past_the_end_is_empty_and_has_no_next(api):
    _definitions(api, 4)
    body = api.get("/segment/definitions", params={"page": 2, "limit": 2}).json()
    assert (body["segments"], body["link"], body["page"]["totalCount"]) == ([], {}, 4)


@pytest.mark.parametrize("offset", ["-1", "abc", "\u0663", " 3", "1.5"])
def test_a_preview_offset_that_is_not_ascii_digits_is_400(api, offset):
    preview_id = _preview(api)
    assert_error(api.get(f"/preview/{preview_id}", params={"offset": offset}), 400, "offset")


def _follow(api, path: str, params: dict, items: str, next_of) -> list[str]:
    seen, url, query = [], path, params
    while url:
        body = api.get(url, params=query).json()
        seen += [item["name"] for item in body[items]]
        url, query = next_of(body), None
    return seen


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "name:desc"},
        {"sort": "name:desc", "start": 1},
        {"sort": "updateTime:asc"},
        {"evaluationInfo.continuous.enabled": "false"},
    ],
)
def test_definitions_next_links_walk_the_same_list_as_one_big_page(api, params):
    _definitions(api, 7)
    whole = api.get("/segment/definitions", params={**params, "limit": 100}).json()
    expected = [d["name"] for d in whole["segments"]]
    assert len(expected) == 7 - params.get("start", 0)
    seen = _follow(
        api,
        "/segment/definitions",
        {**params, "limit": 2},
        "segments",
        lambda body: body["link"].get("next", "").removeprefix("/data/core/ups"),
    )
    assert seen == expected


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "name:desc"},
        {"sort": "name:desc", "name": "d"},
        {"description": "d1", "sort": "creationTime:desc"},
        {"entityType": "_xdm.context.profile", "property": "evaluationInfo.batch.enabled==true"},
    ],
)
def test_audiences_next_links_walk_the_same_list_as_one_big_page(api, params):
    _definitions(api, 7)
    whole = api.get("/audiences", params={**params, "limit": 100}).json()
    expected = [a["name"] for a in whole["children"]]
    assert len(expected) >= 3
    seen = _follow(
        api,
        "/audiences",
        {**params, "limit": 2},
        "children",
        lambda body: body["_links"].get("next", {}).get("href", "").removeprefix("/data/core/ups"),
    )
    assert seen == expected

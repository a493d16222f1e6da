"""/config/schedules: AEP's Quartz cron, JSON-Patch add on /state and /schedule."""

from __future__ import annotations

import pytest

from tests.api_support import assert_error


def _body(name: str = "Nightly", **extra) -> dict:
    return {
        "name": name,
        "type": "batch_segmentation",
        "properties": {"segments": ["*"]},
        "schedule": "0 30 13 * * ?",
        **extra,
    }


def _create(api, **extra) -> dict:
    response = api.post("/config/schedules", _body(**extra))
    assert response.status_code == 200, response.text
    return response.json()


def _stored(api) -> list[tuple]:
    return [(s.name, s.cron, s.timezone, s.active) for s in api.svc.schedules.list()]


def test_create_is_inactive_by_default_in_utc(api):
    body = _create(api)
    assert (body["state"], body["type"], body["schedule"], body["timezone"]) == (
        "inactive",
        "batch_segmentation",
        "0 30 13 * * ?",
        "UTC",
    )
    assert body["properties"] == {"segments": ["*"]}
    assert body["nextRunTime"] is None  # off
    assert body["createEpoch"] == body["updateEpoch"]
    assert _stored(api) == [("Nightly", "0 30 13 * * ?", "UTC", False)]


def test_an_active_schedule_names_its_next_run_in_its_timezone(api):
    body = _create(api, state="active", timezone="Europe/Berlin")
    assert body["timezone"] == "Europe/Berlin"
    assert body["nextRunTime"] > 0
    assert "13:30" in body["scheduleDescription"]


def test_patch_adds_state_and_schedule_and_answers_204(api):
    created = _create(api)
    ops = [
        {"op": "add", "path": "/state", "value": "active"},
        {"op": "add", "path": "/schedule", "value": "0 0 2 * * ?"},
    ]
    response = api.patch(f"/config/schedules/{created['id']}", ops)
    assert (response.status_code, response.content) == (204, b"")
    assert _stored(api) == [("Nightly", "0 0 2 * * ?", "UTC", True)]
    assert api.get(f"/config/schedules/{created['id']}").json()["state"] == "active"


@pytest.mark.parametrize(
    ("ops", "fragment"),
    [
        ([{"op": "add", "path": "/schedule", "value": "every day"}], "cron"),
        ([{"op": "replace", "path": "/state", "value": "active"}], "add"),
        ([{"op": "add", "path": "/properties", "value": {}}], "/properties"),
        ([{"op": "add", "path": "/state", "value": "on"}], "inactive"),
        ([{"op": "add", "path": "/state"}], "value"),
        (
            [
                {"op": "add", "path": "/state", "value": "active"},
                {"op": "add", "path": "/schedule", "value": "61 * * * * ?"},
            ],
            "61",
        ),
        ([], "JSON-Patch"),
        ({"state": "active"}, "JSON-Patch"),
        ([{"op": "add", "path": ["/state"], "value": "active"}], "path must be a string"),
        ([{"op": "add", "path": {"a": 1}, "value": "active"}], "path must be a string"),
        ([{"op": "add", "path": None, "value": "active"}], "path must be a string"),
        ([{"op": "add", "path": "/timezone", "value": None}], "ops[0].value must be a string"),
        ([{"op": "add", "path": "/schedule", "value": 5}], "ops[0].value must be a string"),
        ([{"op": "add", "path": "/state", "value": {}}], "ops[0].value must be a string"),
        ([{"op": "add", "path": "/name", "value": ["x"]}], "ops[0].value must be a string"),
    ],
)
def test_a_bad_patch_changes_nothing(api, ops, fragment):
    created = _create(api)
    before = _stored(api)
    assert_error(api.patch(f"/config/schedules/{created['id']}", ops), 400, fragment)
    assert _stored(api) == before


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (_body(schedule="0 0 25 * * ?"), 400, "25"),
        (_body(schedule="not cron"), 400, "cron"),
        (_body(type="export"), 400, "batch_segmentation"),
        (_body(state="paused"), 400, "inactive"),
        (_body(timezone="Mars/Base"), 400, "Mars/Base"),
        (_body(properties={"segments": ["no-such-id"]}), 404, "no-such-id"),
        (_body(properties={"segments": []}), 400, "segments"),
        ({"name": "x"}, 400, "schedule"),
        (_body(name=""), 400, "name"),
    ],
)
def test_bad_creates_store_nothing(api, body, status, fragment):
    assert_error(api.post("/config/schedules", body), status, fragment)
    assert _stored(api) == []


def test_a_duplicate_name_is_422(api):
    _create(api)
    assert_error(api.post("/config/schedules", _body()), 422, "Nightly")
    assert len(_stored(api)) == 1


def test_list_pages_by_start_with_links_next(api):
    for i in range(3):
        _create(api, name=f"S{i}")
    first = api.get("/config/schedules", params={"limit": 2}).json()
    assert first["_page"] == {"totalCount": 3, "pageSize": 2, "next": "1"}
    assert "href" not in first["_links"]
    last = api.get("/config/schedules", params={"limit": 2, "start": 1}).json()
    assert (last["_links"], "next" in last["_page"]) == ({}, False)
    names = [s["name"] for s in first["children"] + last["children"]]
    assert names == ["S0", "S1", "S2"]
    assert len(api.get("/config/schedules").json()["children"]) == 3


def test_delete_answers_204_and_unknown_ids_are_404(api):
    created = _create(api)
    path = f"/config/schedules/{created['id']}"
    assert api.delete(path).status_code == 204
    assert_error(api.get(path), 404, created["id"])
    assert_error(api.delete(path), 404, created["id"])
    assert_error(api.patch(path, [{"op": "add", "path": "/state", "value": "active"}]), 404)
    assert _stored(api) == []


def test_a_schedule_keeps_its_segment_from_being_deleted(api):
    seg = api.svc.definitions.create(name="Kept", pql="age > 1")
    _create(api, properties={"segments": [seg.id]})
    assert_error(api.delete(f"/segment/definitions/{seg.id}"), 409, "Nightly")
    assert api.svc.definitions.find(seg.id) is not None

"""Tokens, sandboxes and content types at the API's door: refused means nothing changed."""

from __future__ import annotations

import pytest

from tests.api_support import assert_error, definition_body

MISSING = {"error_code": "403010", "message": "Oauth token is missing."}
INVALID = {"error_code": "401013", "message": "Oauth token is not valid"}

# every endpoint that changes something, with a body that would succeed
WRITES = [
    ("post", "/segment/definitions", definition_body("New", "age > 1")),
    ("patch", "/segment/definitions/{id}", definition_body("Renamed", "age > 2")),
    ("delete", "/segment/definitions/{id}", None),
    ("post", "/segment/jobs", [{"segmentId": "{id}"}]),
    (
        "post",
        "/config/schedules",
        {
            "name": "S",
            "type": "batch_segmentation",
            "properties": {"segments": ["*"]},
            "schedule": "0 0 1 * * ?",
        },
    ),
    ("post", "/export/jobs", {"filter": {"segments": [{"segmentId": "{id}"}]}}),
    ("post", "/audiences", {"name": "A", "expression": {"value": "age > 3"}}),
    ("delete", "/audiences/{id}", None),
]


def _state(api) -> tuple:
    svc = api.svc
    return (
        [(d.id, d.name, d.version) for d in svc.definitions.all()],
        len(svc.jobs.list()),
        len(svc.schedules.list()),
        len(svc.exports.list()),
    )


def _send(api, method: str, path: str, body, headers: dict[str, str]):
    seg = api.svc.definitions.find("Existing") or api.svc.definitions.create(
        name="Existing", pql='country = "US"'
    )
    path = path.replace("{id}", seg.id)
    if body is not None:
        body = _fill(body, seg.id)
        return api.client.request(method, path, json=body, headers=headers)
    return api.client.request(method, path, headers=headers)


def _fill(body, seg_id: str):
    if isinstance(body, dict):
        return {k: _fill(v, seg_id) for k, v in body.items()}
    if isinstance(body, list):
        return [_fill(v, seg_id) for v in body]
    return seg_id if body == "{id}" else body


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
@pytest.mark.parametrize(
    ("headers", "status", "answer"),
    [
        ({}, 403, MISSING),
        ({"Authorization": "Bearer sst_not-a-token"}, 401, INVALID),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, INVALID),
        ({"Authorization": "Bearer "}, 401, INVALID),
    ],
)
def test_writes_without_a_valid_token_are_refused_and_change_nothing(
    api, method, path, body, headers, status, answer
):
    api.svc.definitions.create(name="Existing", pql='country = "US"')
    before = _state(api)
    response = _send(api, method, path, body, {"Content-Type": "application/json", **headers})
    assert (response.status_code, response.json()) == (status, answer)
    assert _state(api) == before


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_read_only_token_cannot_write(api, method, path, body):
    api.svc.definitions.create(name="Existing", pql='country = "US"')
    before = _state(api)
    response = _send(api, method, path, body, api.headers(api.reader))
    assert_error(response, 403, "read-only")
    assert response.json()["type"].endswith("UPAPI-113752-403")
    assert _state(api) == before


def test_a_read_only_token_can_read_bulk_get_and_preview(api):
    seg = api.svc.definitions.create(name="Existing", pql='country = "US"')
    assert api.get("/segment/definitions", token=api.reader).status_code == 200
    ids = {"ids": [{"id": seg.id}]}
    assert api.post("/segment/definitions/bulk-get", ids, token=api.reader).status_code == 207
    preview = api.post("/preview", {"predicateExpression": "age > 1"}, token=api.reader)
    assert preview.status_code == 201


def test_a_token_of_another_sandbox_gets_403_and_sees_nothing(api):
    api.svc.definitions.create(name="Prod only", pql='country = "US"')
    response = api.get("/segment/definitions", token=api.dev)  # no header: prod
    assert response.status_code == 403
    assert response.json()["error_code"] == "403025"
    assert "prod" in response.json()["message"]
    other = api.get("/segment/definitions", token=api.writer, sandbox="dev")
    assert other.status_code == 403
    own = api.get("/segment/definitions", token=api.dev, sandbox="dev")
    assert (own.status_code, own.json()["segments"]) == (200, [])


def test_sandboxes_keep_their_own_definitions(api):
    created = api.post(
        "/segment/definitions", definition_body("Dev seg", "age > 1"), api.dev, "dev"
    )
    assert created.status_code == 200, created.text
    assert [d.name for d in api.sandboxes.service("dev").definitions.all()] == ["Dev seg"]
    assert api.svc.definitions.all() == []
    seg_id = created.json()["id"]
    assert api.get(f"/segment/definitions/{seg_id}").status_code == 404
    assert created.json()["sandbox"]["sandboxName"] == "dev"


@pytest.mark.parametrize("name", ["staging", "ünï"])
def test_an_unknown_sandbox_is_403_naming_it(api, name):
    headers = {**api.headers(None, None), "x-sandbox-name": name.encode("utf-8")}
    response = api.client.get("/segment/definitions", headers=headers)
    assert response.status_code == 403
    assert repr(name) in response.json()["message"]  # as sent, in UTF-8


def test_an_unknown_sandbox_with_a_bad_token_is_401(api):
    response = api.get("/segment/definitions", token="sst_wrong", sandbox="staging")
    assert (response.status_code, response.json()) == (401, INVALID)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_post_that_is_not_json_is_400_with_the_gateway_body(api, content_type):
    headers = api.headers()
    if content_type:
        headers["Content-Type"] = content_type
    response = api.client.post("/segment/definitions", content=b'{"name": "x"}', headers=headers)
    assert response.status_code == 400
    assert response.json() == {
        "type": "/placeholder/type/uri",
        "status": 400,
        "title": "BadRequestError",
        "detail": "A valid content-type must be specified",
    }
    assert api.svc.definitions.all() == []


def test_content_type_json_on_get_and_delete_with_no_body_is_fine(api):
    """aepp sends Content-Type: application/json on every request."""
    seg = api.svc.definitions.create(name="X", pql="age > 1")
    headers = {**api.headers(), "Content-Type": "application/json"}
    assert api.client.get("/segment/definitions", headers=headers).status_code == 200
    assert api.client.delete(f"/segment/definitions/{seg.id}", headers=headers).status_code == 200


def test_a_revoked_token_stops_working_at_once(api):
    assert api.get("/segment/definitions").status_code == 200
    api.svc.tokens.revoke("writer")
    assert api.get("/segment/definitions").status_code == 401


def test_every_answer_is_json_even_for_unknown_paths_and_methods(api):
    for response in (
        api.get("/no/such/endpoint"),
        api.client.put("/segment/definitions", headers=api.headers(), json={}),
    ):
        assert response.headers["content-type"] == "application/json"
        assert response.json()["status"] in (404, 405)
    assert api.get("/segment/definitions").headers["x-request-id"]

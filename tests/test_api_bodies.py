"""Request bodies: strict JSON, read once for every endpoint, and refused in words a
person can act on (the JSON path of the bad value, the byte, the limit)."""

from __future__ import annotations

import gzip
import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from segmentation.api import body, errors, wire
from segmentation.api.app import RequestIds
from tests.api_support import assert_error, definition_body

PQL = "age > 30"
PROFILE = '"schema":{"name":"_xdm.context.profile"},"expression":{"value":"age > 30"}'


def _raw(api, method: str, path: str, data: bytes, **headers: str):
    sent = {**api.headers(), "Content-Type": "application/json", **headers}
    return api.client.request(method, path, content=data, headers=sent)


def _state(api) -> tuple:
    """What a refused request must leave as it was."""
    defs = sorted(
        (d.id, d.name, d.description, tuple(d.tags), d.version) for d in api.svc.definitions.all()
    )
    return defs, len(api.svc.jobs.list(limit=1000)), len(api.svc.schedules.list())


@pytest.mark.parametrize(
    ("method", "path", "data", "fragments"),
    [
        (
            "POST",
            "/segment/definitions",
            b'{"name":"x\\ud800",' + PROFILE.encode() + b"}",
            ["body.name", "\\ud800"],
        ),
        (
            "POST",
            "/segment/definitions",
            b'{"name":"x","labels":["a","\\udfff"],' + PROFILE.encode() + b"}",
            ["body.labels[1]", "surrogate"],
        ),
        (
            "POST",
            "/segment/definitions",
            b'{"name":"x","description":"\\ud800x",' + PROFILE.encode() + b"}",
            ["body.description"],
        ),
        (
            "POST",
            "/segment/definitions",
            b'{"name":"x","\\ud800":1,' + PROFILE.encode() + b"}",
            ["a key of body"],
        ),
        (
            "POST",
            "/segment/conversion",
            b'{"name":"\\ud800","expression":{"value":"age > 1"}}',
            ["body.name"],
        ),
        (
            "POST",
            "/segment/definitions/bulk-get",
            b'{"ids":[{"id":"\\ud800"}]}',
            ["body.ids[0].id"],
        ),
        ("POST", "/audiences/bulk-get", b'["\\ud800"]', ["body[0]"]),
        ("POST", "/segment/jobs", b'[{"segmentId":"\\ud800"}]', ["body[0].segmentId"]),
        (
            "POST",
            "/config/schedules",
            b'{"name":"\\ud800","type":"batch_segmentation","properties":{"segments":["*"]},'
            b'"schedule":"0 0 1 * * ?"}',
            ["body.name"],
        ),
        (
            "POST",
            "/segment/definitions",
            b'{"name":"x","description":NaN,' + PROFILE.encode() + b"}",
            ["body.description", "NaN"],
        ),
        (
            "POST",
            "/segment/definitions",
            b'{"name":"x","ttlInDays":Infinity,' + PROFILE.encode() + b"}",
            ["body.ttlInDays", "Infinity"],
        ),
        (
            "POST",
            "/export/jobs",
            b'{"filter":{"segments":[{"segmentId":"x"}]},"destination":{"datasetId":"","x":-Infinity}}',
            ["body.destination.x", "-Infinity"],
        ),
        (
            "POST",
            "/segment/definitions",
            b'{"name":"bad\xff",' + PROFILE.encode() + b"}",
            ["not valid UTF-8 at byte 12"],
        ),
        ("POST", "/segment/jobs", b"[" * 10_000 + b"]" * 10_000, [f"deeper than {body.MAX_DEPTH}"]),
        ("POST", "/segment/jobs", b"[" * 300 + b"]" * 300, [f"deeper than {body.MAX_DEPTH}"]),
        (
            "POST",
            "/segment/definitions",
            b'{"name": "x",',
            ["not valid JSON", "line 1, column 14", "character 13"],
        ),
    ],
)
def test_a_body_that_is_not_strict_json_is_400_naming_where(api, method, path, data, fragments):
    api.svc.definitions.create(name="Existing", pql=PQL)
    before = _state(api)
    response = assert_error(_raw(api, method, path, data), 400, *fragments)
    assert "error parsing the body" not in response["title"]
    assert _state(api) == before


@pytest.mark.parametrize("value", [b'"x\\ud800"', b"NaN", b'{"a":[Infinity]}'])
def test_a_patch_value_that_is_not_json_is_400_at_ops_i_value(api, value):
    created = api.svc.definitions.create(name="Existing", pql=PQL)
    before = _state(api)
    data = b'[{"op":"add","path":"/description","value":' + value + b"}]"
    assert_error(_raw(api, "PATCH", f"/audiences/{created.id}", data), 400, "ops[0].value")
    schedule = api.svc.schedules.create(name="s", cron="0 0 1 * * ?", segments=["*"])
    before = _state(api)
    data = b'[{"op":"add","path":"/name","value":' + value + b"}]"
    assert_error(_raw(api, "PATCH", f"/config/schedules/{schedule.id}", data), 400, "ops[0].value")
    assert _state(api) == before
    assert api.get(f"/config/schedules/{schedule.id}").json()["name"] == "s"


def test_surrogate_pairs_utf16_bodies_and_a_bom_are_still_json(api):
    emoji = definition_body("Smile \U0001f600", PQL)
    data = b'{"name":"Smile \\ud83d\\ude00",' + PROFILE.encode() + b"}"
    assert _raw(api, "POST", "/segment/definitions", data).json()["name"] == emoji["name"]
    data16 = ('{"name":"utf16",' + PROFILE + "}").encode("utf-16")
    assert _raw(api, "POST", "/segment/definitions", data16).status_code == 200
    bom = b"\xef\xbb\xbf" + ('{"name":"bom",' + PROFILE + "}").encode()
    assert _raw(api, "POST", "/segment/definitions", bom).status_code == 200
    assert sorted(d.name for d in api.svc.definitions.all()) == ["Smile \U0001f600", "bom", "utf16"]


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_a_compressed_body_is_415_saying_send_plain_json(api, encoding):
    data = gzip.compress(('{"name":"gz",' + PROFILE + "}").encode())
    before = _state(api)
    response = _raw(api, "POST", "/segment/definitions", data, **{"Content-Encoding": encoding})
    assert_error(response, 415, f"Content-Encoding {encoding}", "plain JSON")
    assert _state(api) == before


def test_a_body_over_the_limit_is_413_in_aeps_envelope(api):
    big = definition_body("Big", PQL, description="x" * body.MAX_BYTES)
    response = api.post("/segment/definitions", big)
    assert_error(response, 413, f"{body.MAX_BYTES // 2**20} MB")

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(body.MAX_BYTES // 2**20 + 1):
            yield b" " * 2**20

    assert_error(_raw(api, "POST", "/segment/definitions", chunks()), 413, "MB")
    assert api.get("/segment/definitions").json()["segments"] == []


def test_405_carries_allow_naming_every_method_of_the_path(api):
    response = api.client.put("/segment/definitions", headers=api.headers())
    assert_error(response, 405, "use GET, POST")
    assert response.headers["allow"] == "GET, POST"
    one = api.client.put("/segment/definitions/x", headers=api.headers())
    assert one.headers["allow"] == "DELETE, GET, PATCH"


def test_a_500_is_answered_and_logged_once_with_its_request_id(caplog):
    """Not raised again after the answer: the server logged that a second time."""
    app = FastAPI()
    errors.install(app)
    app.add_middleware(errors.InternalErrors)
    app.add_middleware(RequestIds)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with caplog.at_level(logging.ERROR), TestClient(app) as client:  # raises what escapes
        response = client.get("/boom", headers={"x-request-id": "rid-1"})
    assert_error(response, 500, "rid-1")
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == 1 and "rid-1" in logged[0].getMessage()


BULK = ["/segment/definitions/bulk-get", "/audiences/bulk-get", "/segment/jobs/bulk-get"]


@pytest.mark.parametrize("path", BULK)
def test_a_bulk_get_takes_at_most_1000_ids(api, path):
    too_many = {"ids": [{"id": f"x{i}"} for i in range(wire.MAX_BULK + 1)]}
    assert_error(api.post(path, too_many), 400, f"at most {wire.MAX_BULK}", "1001")
    full = api.post(path, [f"x{i}" for i in range(wire.MAX_BULK)])
    assert full.status_code == 207, full.text
    assert (len(full.json()["results"]), len(full.json()["errors"])) == (0, wire.MAX_BULK)


@pytest.mark.parametrize("path", BULK[:2])
def test_bulk_get_of_definitions_finds_by_id_and_by_name_as_get_does(api, path):
    a = api.svc.definitions.create(name="Alpha", pql=PQL)
    asked = [a.id, "ALPHA", "nope", a.id.upper()]
    body = api.post(path, asked).json()
    assert sorted(body["results"]) == sorted([a.id, "ALPHA", a.id.upper()])  # ids in any case
    assert {r["id"] for r in body["results"].values()} == {a.id}
    assert list(body["errors"]) == ["nope"]
    for item_id in asked[:3]:  # as a GET finds them
        found = api.get(f"/segment/definitions/{item_id}").status_code == 200
        assert found == (item_id in body["results"])

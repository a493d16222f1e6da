"""/segment/definitions and /segment/conversion through the real app."""

from __future__ import annotations

import json

import pytest

from tests.api_support import assert_error, definition_body

PQL = 'loyaltyTier = "gold" and age >= 30'


def _names(api) -> list[str]:
    return [d.name for d in api.svc.definitions.all()]


def _create(api, name: str, pql: str = PQL, **extra):
    response = api.post("/segment/definitions", definition_body(name, pql, **extra))
    assert response.status_code == 200, response.text
    return response


def test_create_answers_200_with_the_definition_and_its_location(api):
    response = _create(api, "Gold 30+", description="gold members", labels=["vip"])
    body = response.json()
    assert response.headers["x-location"] == f"/data/core/ups/segment/definitions/{body['id']}"
    assert body["name"] == "Gold 30+"
    assert body["description"] == "gold members"
    assert body["expression"] == {"type": "PQL", "format": "pql/text", "value": PQL}
    assert body["schema"] == {"name": "_xdm.context.profile"}
    assert body["sandbox"]["sandboxName"] == "prod"
    assert body["labels"] == ["vip"]
    assert body["creationTime"] == body["updateTime"]
    assert body["updateEpoch"] == body["updateTime"] // 1000
    stored = api.svc.definitions.get(body["id"])
    assert (stored.name, stored.pql, stored.tags) == ("Gold 30+", PQL, ["vip"])


def test_create_in_pql_json_stores_the_same_tree(api):
    tree = api.post(
        "/segment/conversion",
        {"name": "x", "expression": {"type": "PQL", "format": "pql/text", "value": PQL}},
    ).json()["expression"]
    assert tree["format"] == "pql/json"
    body = definition_body("From JSON", "")
    body["expression"] = tree
    created = api.post("/segment/definitions", body)
    assert created.status_code == 200, created.text
    assert created.json()["expression"]["value"] == PQL


# AEP's pql/json as its definitions API reference shows it (workAddress.country there;
# a field of the test data here)
AEP_TREE = {
    "nodeType": "fnApply",
    "fnName": "=",
    "params": [
        {
            "nodeType": "fieldLookup",
            "fieldName": "country",
            "object": {"nodeType": "parameterReference", "position": 1},
        },
        {"nodeType": "literal", "literalType": "String", "value": "US"},
    ],
}


def test_pql_json_is_aeps_tree_both_ways(api):
    body = definition_body("In the US", "")
    body["expression"] = {"type": "PQL", "format": "pql/json", "value": json.dumps(AEP_TREE)}
    created = api.post("/segment/definitions", body)
    assert created.status_code == 200, created.text
    assert created.json()["expression"]["value"] == 'country = "US"'
    text = {"type": "PQL", "format": "pql/text", "value": 'country = "US"'}
    converted = api.post("/segment/conversion", {"name": "n", "expression": text}).json()
    assert json.loads(converted["expression"]["value"]) == AEP_TREE


def test_conversion_round_trips_text_and_json(api):
    text = {"type": "PQL", "format": "pql/text", "value": PQL}
    to_json = api.post("/segment/conversion", {"name": "n", "description": "d", "expression": text})
    assert to_json.status_code == 200
    body = to_json.json()
    assert (body["name"], body["description"]) == ("n", "d")
    assert json.loads(body["expression"]["value"])  # a JSON document inside a string
    back = api.post("/segment/conversion", {"name": "n", "expression": body["expression"]})
    assert back.json()["expression"] == text


def test_list_pages_are_zero_based_to_the_end_and_one_past_it_is_empty(api):
    for i in range(5):
        _create(api, f"Seg {i}", f"age > {i}")
    first = api.get("/segment/definitions", params={"limit": 2}).json()
    assert first["page"] == {
        "totalCount": 5,
        "totalPages": 3,
        "sortField": "name",
        "sort": "asc",
        "pageSize": 2,
        "limit": 2,
    }
    seen = []
    for page in range(3):
        body = api.get("/segment/definitions", params={"limit": 2, "page": page}).json()
        seen += [d["name"] for d in body["segments"]]
        assert ("next" in body["link"]) == (page < 2)
    assert seen == [f"Seg {i}" for i in range(5)]
    past = api.get("/segment/definitions", params={"limit": 2, "page": 3}).json()
    assert past["segments"] == []


def test_the_default_page_holds_100_as_aepp_expects(api):
    for i in range(101):
        api.svc.definitions.create(name=f"D{i:03}", pql=f"age > {i}")
    body = api.get("/segment/definitions").json()
    assert (len(body["segments"]), body["page"]["totalPages"]) == (100, 2)
    assert len(api.get("/segment/definitions", params={"page": 1}).json()["segments"]) == 1


@pytest.mark.parametrize(
    ("sort", "expected"), [("name:asc", ["A", "B", "C"]), ("name:desc", ["C", "B", "A"])]
)
def test_sort_by_name(api, sort, expected):
    for name in ("B", "C", "A"):
        _create(api, name, f'country = "{name}"')
    body = api.get("/segment/definitions", params={"sort": sort}).json()
    assert [d["name"] for d in body["segments"]] == expected
    assert f"{body['page']['sortField']}:{body['page']['sort']}" == sort


def test_sort_by_creation_time_is_accepted_and_echoed(api):
    _create(api, "A")
    page = api.get("/segment/definitions", params={"sort": "creationTime:desc"}).json()["page"]
    assert (page["sortField"], page["sort"]) == ("creationTime", "desc")


def test_real_time_filters_find_nothing_as_every_definition_is_batch(api):
    _create(api, "Batch")
    params = {"evaluationInfo.continuous.enabled": "true"}
    assert api.get("/segment/definitions", params=params).json()["segments"] == []


def test_get_patch_and_delete(api):
    created = _create(api, "Old name").json()
    path = f"/segment/definitions/{created['id']}"
    assert api.get(path).json()["name"] == "Old name"
    whole = definition_body("New name", 'country = "DE"', description="changed")
    patched = api.patch(path, whole)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["version"]) == ("New name", 2)
    assert api.svc.definitions.get(created["id"]).pql == 'country = "DE"'
    deleted = api.delete(path)
    assert deleted.status_code == 200
    assert deleted.json()["status"] is True
    assert_error(api.get(path), 404, created["id"])
    assert _names(api) == []


def test_what_aepp_reads_it_sends_back_whole(api):
    """aepp's updateSegment needs ttlInDays in the object (it refuses one without), and
    its createSegment and convertSegmentDef send ``"description": null`` when unset."""
    created = _create(api, "Round trip", description=None, ttlInDays=60).json()
    assert (created["description"], created["ttlInDays"]) == ("", 60)
    path = f"/segment/definitions/{created['id']}"
    read = api.get(path).json()
    read["description"] = "edited"
    patched = api.patch(path, read)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["description"], patched.json()["ttlInDays"]) == ("edited", 60)
    defaulted = _create(api, "Default TTL", ttlInDays=None).json()
    assert api.get(f"/segment/definitions/{defaulted['id']}").json()["ttlInDays"] == 30
    text = {"type": "PQL", "format": "pql/text", "value": PQL}
    converted = api.post(
        "/segment/conversion", {"name": None, "description": None, "expression": text}
    )
    assert converted.status_code == 200, converted.text
    assert converted.json()["description"] == ""


@pytest.mark.parametrize("ttl", [0, -1, 36_501, 1.5, "thirty", True])
def test_a_bad_ttl_is_400_and_changes_nothing(api, ttl):
    created = _create(api, "Kept", ttlInDays=45).json()
    path = f"/segment/definitions/{created['id']}"
    assert_error(
        api.post("/segment/definitions", definition_body("New", PQL, ttlInDays=ttl)),
        400,
        "ttlInDays",
    )
    assert_error(api.patch(path, definition_body("Kept", PQL, ttlInDays=ttl)), 400, "ttlInDays")
    assert _names(api) == ["Kept"]
    assert api.get(path).json()["ttlInDays"] == 45


def test_a_trailing_slash_is_the_same_path(api):
    created = _create(api, "Slash").json()
    listed = api.get("/segment/definitions/")
    assert listed.status_code == 200, listed.text
    assert [d["id"] for d in listed.json()["segments"]] == [created["id"]]
    assert api.get(f"/segment/definitions/{created['id']}/").json()["name"] == "Slash"


def test_a_change_made_beside_the_api_is_read_by_the_next_get(api):
    """GETs answer on the server's event loop from what is kept in memory, and read the
    workspace on its thread pool when that is out of date: a definition renamed beside
    the API (the dashboard's service) is read renamed at once, and a deleted one is 404."""
    created = _create(api, "Beside").json()
    path = f"/segment/definitions/{created['id']}"
    assert api.get(path).json()["name"] == api.get(path).json()["name"] == "Beside"
    api.svc.definitions.update(created["id"], name="Renamed")
    assert api.get(path).json()["name"] == api.get(path).json()["name"] == "Renamed"
    api.svc.definitions.delete(created["id"])
    assert_error(api.get(path), 404, created["id"])


def test_bulk_get_answers_207_with_results_and_the_unknown_ids(api):
    a, b = _create(api, "A").json(), _create(api, "B", "age > 1").json()
    body = {"ids": [{"id": a["id"]}, {"id": b["id"]}, {"id": "nope"}]}
    response = api.post("/segment/definitions/bulk-get", body)
    assert response.status_code == 207
    assert set(response.json()["results"]) == {a["id"], b["id"]}
    assert response.json()["errors"]["nope"]["status"] == 404
    bare = api.post("/segment/definitions/bulk-get", [a["id"]])  # what aepp users send
    assert list(bare.json()["results"]) == [a["id"]]


@pytest.mark.parametrize(
    ("body", "status", "fragments"),
    [
        (definition_body("Bad", 'country = "US" and'), 400, ["line 1, column 19"]),
        (definition_body("Bad", 'contry = "US"'), 400, ["contry", "country"]),
        (definition_body("Bad", 'inSegment("nope")'), 404, ["nope"]),
        (
            {**definition_body("Bad", PQL), "schema": {"name": "_xdm.context.experienceevent"}},
            400,
            ["schema"],
        ),
        ({k: v for k, v in definition_body("Bad", PQL).items() if k != "schema"}, 400, ["schema"]),
        ({k: v for k, v in definition_body("Bad", PQL).items() if k != "name"}, 400, ["body.name"]),
        (
            {**definition_body("Bad", PQL), "expression": {"format": "pql/xml", "value": PQL}},
            400,
            ["pql/xml"],
        ),
        (
            {**definition_body("Bad", PQL), "expression": {"format": "pql/json", "value": "{"}},
            400,
            ["not valid JSON"],
        ),
        (
            {
                **definition_body("Bad", PQL),
                "expression": {"format": "pql/json", "value": {"kind": "x"}},
            },
            400,
            ["expression.value", "unknown kind"],
        ),
        (
            {**definition_body("Bad", PQL), "evaluationInfo": {"continuous": {"enabled": True}}},
            400,
            ["batch"],
        ),
        (definition_body("", PQL), 400, ["name"]),
        ([], 400, ["body"]),
    ],
)
def test_bad_creates_are_refused_and_store_nothing(api, body, status, fragments):
    _create(api, "Existing")
    assert_error(api.post("/segment/definitions", body), status, *fragments)
    assert _names(api) == ["Existing"]


@pytest.mark.parametrize("mode", ["continuous", "synchronous"])
def test_streaming_or_edge_evaluation_is_400_on_create_and_patch_and_changes_nothing(api, mode):
    """AEP's continuous (streaming) and synchronous (edge) evaluation do not exist here."""
    info = {"batch": {"enabled": False}, mode: {"enabled": True}}
    body = {**definition_body("Live", PQL), "evaluationInfo": info}
    assert_error(api.post("/segment/definitions", body), 400, f"evaluationInfo.{mode}", "batch")
    created = _create(api, "Batch").json()
    patched = {**created, "name": "Renamed", "evaluationInfo": info}
    path = f"/segment/definitions/{created['id']}"
    assert_error(api.patch(path, patched), 400, f"evaluationInfo.{mode}")
    after = api.get(path).json()
    assert (after["name"], after["version"]) == ("Batch", created["version"])
    assert _names(api) == ["Batch"]


def test_a_duplicate_name_is_422_and_the_first_stays(api):
    first = _create(api, "VIP").json()
    assert_error(
        api.post("/segment/definitions", definition_body("vip", "age > 1")), 422, "vip", "exists"
    )
    assert [d.id for d in api.svc.definitions.all()] == [first["id"]]


def test_a_body_that_is_not_json_is_400(api):
    response = api.client.post(
        "/segment/definitions",
        content=b'{"name": "x",',
        headers={**api.headers(), "Content-Type": "application/json"},
    )
    assert_error(response, 400, "not valid JSON")
    assert _names(api) == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/segment/definitions/nope", None),
        ("patch", "/segment/definitions/nope", definition_body("X", PQL)),
        ("delete", "/segment/definitions/nope", None),
    ],
)
def test_unknown_ids_are_404(api, method, path, body):
    args = (path, body) if body is not None else (path,)
    assert_error(getattr(api, method)(*args), 404, "nope")
    assert _names(api) == []


def test_a_bad_patch_changes_nothing(api):
    created = _create(api, "Keep").json()
    path = f"/segment/definitions/{created['id']}"
    assert_error(api.patch(path, definition_body("Keep", "age >")), 400, "column 6")
    assert_error(api.patch(path, definition_body("Taken", PQL) | {"name": ""}), 400, "name")
    stored = api.svc.definitions.get(created["id"])
    assert (stored.name, stored.pql, stored.version) == ("Keep", PQL, 1)


def test_a_definition_in_use_cannot_be_deleted(api):
    base = _create(api, "Base").json()
    _create(api, "User", f'inSegment("{base["id"]}")')
    assert_error(api.delete(f"/segment/definitions/{base['id']}"), 409, "User")
    assert sorted(_names(api)) == ["Base", "User"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 5000}, "limit"),
        ({"page": -1}, "page"),
        ({"sort": "colour:asc"}, "sort"),
        ({"sort": "name:up"}, "sort"),
        ({"limit": "x"}, "limit"),
    ],
)
def test_bad_list_parameters_are_400(api, params, fragment):
    assert_error(api.get("/segment/definitions", params=params), 400, fragment)

"""/audiences: the definitions as AEP audiences; aepp's loop ends on the last page."""

from __future__ import annotations

import pytest

from tests.api_support import assert_error

EXPRESSION = {"type": "PQL", "format": "pql/text", "value": 'country = "DE"'}


def _add(path: str, value) -> dict:
    return {"op": "add", "path": path, "value": value}


def _names(api) -> list[str]:
    return sorted(d.name for d in api.svc.definitions.all())


def test_list_pages_and_the_last_page_has_no_next(api):
    for i in range(5):
        api.svc.definitions.create(name=f"A{i}", pql=f"age > {i}")
    seen, start = [], 0
    while True:
        body = api.get("/audiences", params={"limit": 2, "start": start}).json()
        seen += [a["name"] for a in body["children"]]
        if "next" not in body["_page"]:
            break
        start = body["_page"]["next"]
    assert seen == [f"A{i}" for i in range(5)]
    assert body["_links"] == {}
    assert body["_page"]["totalCount"] == 5


def test_filters_by_name_and_description(api):
    api.svc.definitions.create(name="Big spenders", pql="age > 1", description="high revenue")
    api.svc.definitions.create(name="Newcomers", pql="age > 2")
    by_name = api.get("/audiences", params={"name": "SPEND"}).json()["children"]
    assert [a["name"] for a in by_name] == ["Big spenders"]
    by_text = api.get("/audiences", params={"description": "revenue"}).json()["children"]
    assert [a["audienceId"] for a in by_text] == [by_name[0]["id"]]


def test_filters_by_aeps_property_exact_match(api):
    """``property=attr==value``: exact, on the audience's JSON; several must all hold."""
    de = api.svc.definitions.create(name="DE", pql='country = "DE"', tags=["eu"])
    api.svc.definitions.create(name="DE buyers", pql='country = "DE"')
    api.svc.definitions.create(name="US", pql='country = "US"')

    def names(*props: str) -> list[str]:
        body = api.get("/audiences", params={"property": list(props)}).json()
        assert body["_page"]["totalCount"] == len(body["children"])
        return [a["name"] for a in body["children"]]

    assert names("name==DE") == ["DE"]  # exact, not contains
    assert names(f"id=={de.id}") == ["DE"]
    assert names('expression.value==country = "DE"') == ["DE", "DE buyers"]
    assert names("evaluationInfo.batch.enabled==true") == ["DE", "DE buyers", "US"]
    assert names("evaluationInfo.continuous.enabled==true") == []
    assert names('expression.value==country = "DE"', "name==DE buyers") == ["DE buyers"]
    assert names("name==de") == []


def test_create_get_patch_put_delete(api):
    created = api.post(
        "/audiences", {"name": "DE", "type": "SegmentDefinition", "expression": EXPRESSION}
    )
    assert created.status_code == 201, created.text
    audience_id = created.json()["id"]
    assert api.get(f"/audiences/{audience_id}").json()["expression"] == EXPRESSION
    patched = api.patch(
        f"/audiences/{audience_id}",
        [
            {"op": "add", "path": "/name", "value": "Germany"},
            {"op": "add", "path": "/expression", "value": {"value": 'country = "DE" and age > 20'}},
        ],
    )
    assert patched.status_code == 201, patched.text
    assert api.svc.definitions.get(audience_id).pql == 'country = "DE" and age > 20'
    put = api.client.put(
        f"/audiences/{audience_id}",
        json={"name": "Deutschland", "expression": EXPRESSION},
        headers=api.headers(),
    )
    assert (put.status_code, put.json()["name"]) == (201, "Deutschland")
    assert api.delete(f"/audiences/{audience_id}").status_code == 204
    assert _names(api) == []


def test_replacing_an_audience_with_streaming_evaluation_is_400_and_changes_nothing(api):
    d = api.svc.definitions.create(name="DE", pql='country = "DE"')
    body = {
        "name": "Live",
        "expression": EXPRESSION,
        "evaluationInfo": {"continuous": {"enabled": True}},
    }
    response = api.client.put(f"/audiences/{d.id}", json=body, headers=api.headers())
    assert_error(response, 400, "evaluationInfo.continuous")
    assert api.svc.definitions.get(d.id) == d


def test_bulk_get(api):
    seg = api.svc.definitions.create(name="X", pql="age > 1")
    body = api.post("/audiences/bulk-get", {"ids": [{"id": seg.id}, {"id": "gone"}]})
    assert body.status_code == 207
    assert (list(body.json()["results"]), list(body.json()["errors"])) == ([seg.id], ["gone"])


@pytest.mark.parametrize(
    ("ops", "fragment"),
    [
        ([{"op": "remove", "path": "/name"}], "add"),
        ([{"op": "add", "path": "/id", "value": "x"}], "/id"),
        ([{"op": "add", "path": "/expression", "value": {"value": "age >"}}], "column"),
        (
            [
                {"op": "add", "path": "/name", "value": "Renamed"},
                {"op": "add", "path": "/expression", "value": "age"},
            ],
            "ops[1].value must be an expression object",
        ),
        ([_add("/description", {"a": [1]})], "ops[0].value must be a string"),
        ([_add("/description", 42)], "ops[0].value must be a string"),
        ([_add("/name", 5)], "ops[0].value must be a string for /name"),
        ([_add("/name", None)], "ops[0].value must be a string for /name"),
        ([_add("/name", "Renamed"), _add("/labels", "abc")], "ops[1].value must be a list of"),
        ([_add("/labels", [1, {"x": 2}])], "ops[0].value must be a list of strings"),
        ([_add("/labels", None)], "ops[0].value must be a list of strings"),
        ([_add("/expression", {"type": "PQL"})], "ops[0].value: value: Field required"),
    ],
)
def test_bad_patches_change_nothing(api, ops, fragment):
    seg = api.svc.definitions.create(name="Keep", pql="age > 1", description="d", tags=["t"])
    body = assert_error(api.patch(f"/audiences/{seg.id}", ops), 400, fragment)
    assert "None" not in body["title"]
    stored = api.get(f"/audiences/{seg.id}").json()
    assert (stored["name"], stored["description"], stored["labels"]) == ("Keep", "d", ["t"])
    assert (stored["expression"]["value"], stored["version"]) == ("age > 1", 1)


def test_a_null_description_patch_empties_it_as_a_null_in_a_body_does(api):
    seg = api.svc.definitions.create(name="Keep", pql="age > 1", description="d")
    patched = api.patch(f"/audiences/{seg.id}", [_add("/description", None)])
    assert patched.status_code == 201, patched.text
    assert api.get(f"/audiences/{seg.id}").json()["description"] == ""


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"name": "X", "type": "ExternalSegment", "expression": EXPRESSION}, "SegmentDefinition"),
        ({"name": "X", "expression": {**EXPRESSION, "value": "age >"}}, "column"),
        ({"expression": EXPRESSION}, "name"),
        (
            {
                "name": "X",
                "expression": EXPRESSION,
                "evaluationInfo": {"continuous": {"enabled": True}},
            },
            "only batch evaluation",
        ),
        (
            {
                "name": "X",
                "expression": EXPRESSION,
                "evaluationInfo": {"synchronous": {"enabled": True}},
            },
            "evaluationInfo.synchronous.enabled",
        ),
    ],
)
def test_bad_creates_store_nothing(api, body, fragment):
    assert_error(api.post("/audiences", body), 400, fragment)
    assert _names(api) == []


def test_unknown_audiences_are_404(api):
    assert_error(api.get("/audiences/nope"), 404, "nope")
    assert_error(api.delete("/audiences/nope"), 404, "nope")


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"sort": "size:asc"}, "sort"),
        ({"entityType": "_xdm.context.other"}, "entityType"),
        ({"limit": 0}, "limit"),
        ({"property": "name=DE"}, "attribute==value"),
    ],
)
def test_bad_list_parameters(api, params, fragment):
    assert_error(api.get("/audiences", params=params), 400, fragment)

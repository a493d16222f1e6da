"""/search: namespaces, entities (aepp-safe paging) and taxonomy."""

from __future__ import annotations

import pytest

from tests.api_support import assert_error

SCHEMA = {"schema.name": "_xdm.context.segmentdefinition"}
SEARCH = {"x-ups-search-version": "1.0"}


@pytest.fixture
def segments(api):
    return [
        api.svc.definitions.create(name=name, pql="age > 1", description=f"about {name}")
        for name in ("VIP gold", "VIP silver", "Churn risk")
    ]


def _get(api, path: str, **params):
    return api.client.get(path, params=params, headers={**api.headers(), **SEARCH})


def test_namespaces_count_the_matches(api, segments):
    body = _get(api, "/search/namespaces", **SCHEMA, s="segmentName:vip*").json()
    assert body["namespaces"] == [
        {"namespace": "ups", "displayName": "Segment definitions", "count": 2}
    ]
    assert body["status"]["message"] == "Success"


def test_entities_page_and_total_pages_never_equal_the_page_offset(api, segments):
    seen = []
    for page in range(3):
        body = _get(
            api,
            "/search/entities",
            schemaClass="_xdm.context.segmentdefinition",
            namespace="ups",
            s="",
            limit=1,
            page=page,
        ).json()
        assert body["page"]["totalPages"] == 3
        assert body["page"]["pageOffset"] == page != body["page"]["totalPages"]
        seen += [e["name"] for e in body["entities"]]
    assert sorted(seen) == ["Churn risk", "VIP gold", "VIP silver"]
    entity = body["entities"][0]
    assert (entity["isFolder"], entity["parentFolderId"]) == (False, "root")


def test_no_hits_still_has_one_page(api, segments):
    body = _get(api, "/search/entities", **SCHEMA, namespace="ups", s="nothing-like-this").json()
    assert body["entities"] == []
    assert (body["page"]["totalPages"], body["page"]["pageOffset"]) == (1, 0)


def test_an_unknown_namespace_answers_200_with_a_message_like_aep(api, segments):
    body = _get(api, "/search/entities", **SCHEMA, namespace="ECID", s="vip").json()
    assert body["entities"] == []
    assert "ECID" in body["status"]["message"]
    assert body["page"]["totalPages"] == 1


def test_taxonomy_is_root_first(api, segments):
    seg = segments[0]
    body = _get(api, "/search/taxonomy", **SCHEMA, namespace="ups", entityId=seg.id).json()
    assert [t["id"] for t in body["taxonomy"]] == ["root", seg.id]
    assert body["taxonomy"][0]["parentFolderId"] == "root"
    missing = _get(api, "/search/taxonomy", **SCHEMA, namespace="ups", entityId="nope").json()
    assert (missing["taxonomy"], "nope" in missing["status"]["message"]) == ([], True)


@pytest.mark.parametrize(
    ("path", "params", "fragment"),
    [
        ("/search/namespaces", {"s": "vip"}, "schema.name"),
        ("/search/namespaces", {"schema.name": "_xdm.context.profile"}, "segmentdefinition"),
        ("/search/entities", {**SCHEMA, "namespace": "ups", "limit": 51}, "limit"),
        ("/search/entities", {**SCHEMA, "namespace": "ups", "s": '"unclosed'}, "column"),
        ("/search/entities", SCHEMA, "namespace"),
        ("/search/taxonomy", {**SCHEMA, "namespace": "ups"}, "entityId"),
    ],
)
def test_bad_searches_are_400(api, segments, path, params, fragment):
    assert_error(_get(api, path, **params), 400, fragment)

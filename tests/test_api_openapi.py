"""Our OpenAPI document against AEP's endpoint table (docs/REST-API.md)."""

from __future__ import annotations

import re
from pathlib import Path

ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`]*)` \|", re.MULTILINE)
TABLE = Path(__file__).resolve().parent.parent / "docs" / "REST-API.md"


def _shape(path: str) -> str:
    """Parameter names differ ({id} vs {definition_id}); compare the shape."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def aep_endpoints() -> set[tuple[str, str]]:
    return {(m, _shape(p)) for m, p in ROW.findall(TABLE.read_text())}


def test_the_table_is_aeps_whole_list():
    endpoints = aep_endpoints()
    assert len(endpoints) == 35
    assert ("POST", "/segment/definitions/bulk-get") in endpoints


def test_every_aep_endpoint_is_served_and_every_served_one_is_aeps(api):
    spec = api.client.get("/openapi.json").json()
    ours = {
        (method.upper(), _shape(path))
        for path, methods in spec["paths"].items()
        for method in methods
    }
    assert sorted(aep_endpoints() - ours) == [], "AEP endpoints we do not serve"
    assert sorted(ours - aep_endpoints()) == [], "endpoints AEP does not have"


def test_the_docs_are_served_under_the_base_path(api):
    page = api.client.get("/docs").text
    assert "swagger" in page.lower()
    assert "/data/core/ups/openapi.json" in page
    assert api.client.get("/openapi.json").json()["info"]["title"].startswith("Segment Studio")

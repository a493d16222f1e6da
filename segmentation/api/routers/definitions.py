"""/segment/definitions and /segment/conversion."""

from __future__ import annotations

import math
from typing import Any

from fastapi import Body, Query, Response
from pydantic import Field, StrictInt

from segmentation.api import wire
from segmentation.api.auth import Reader, Writer
from segmentation.api.errors import ApiError
from segmentation.api.wire import BAD_REQUEST, ExpressionIn, Lenient, SchemaIn, Text

router = wire.Router(tags=["segment definitions"])

# AEP's sort attributes -> the store's sort keys
SORTS = {
    "name": "name",
    "creationTime": "created_at",
    "updateTime": "updated_at",
    "updateEpoch": "updated_at",
}


class DefinitionIn(Lenient):
    name: str
    description: Text = ""
    expression: ExpressionIn
    schema_: SchemaIn | None = Field(None, alias="schema")
    evaluationInfo: dict[str, Any] | None = None
    labels: list[str] | None = None  # our tags
    ttlInDays: StrictInt | None = None  # kept and answered; memberships here do not expire


class ConversionIn(Lenient):
    name: Text = ""
    description: Text = ""
    expression: ExpressionIn
    schema_: SchemaIn | None = Field(None, alias="schema")


def _sort(sort: str | None) -> tuple[str, str, str]:
    """``attr:asc|desc`` -> (store key, AEP field, direction)."""
    if not sort:
        return "name", "name", "asc"
    if "," in sort:
        raise ApiError(400, BAD_REQUEST, f"sort={sort!r}: sort by one attribute, e.g. name:asc.")
    field, _, direction = sort.partition(":")
    direction = direction or "asc"
    if field not in SORTS or direction not in ("asc", "desc"):
        raise ApiError(
            400,
            BAD_REQUEST,
            f"sort={sort!r}: use <attribute>:asc or :desc, attribute one of {', '.join(SORTS)}.",
        )
    key = SORTS[field]
    return (key if direction == "asc" else f"-{key}"), field, direction


def _flag(value: bool | None) -> str | None:
    return None if value is None else str(value).lower()


@router.get("/segment/definitions")
def list_definitions(
    caller: Reader,
    limit: int = 100,
    page: int = 0,
    start: int = 0,
    sort: str | None = None,
    continuous: bool | None = Query(None, alias="evaluationInfo.continuous.enabled"),
    synchronous: bool | None = Query(None, alias="evaluationInfo.synchronous.enabled"),
) -> dict[str, Any]:
    """0-based ``page`` of ``limit`` (default 100); a page past the end is empty."""
    wire.page_window(limit)
    if page < 0 or start < 0:
        raise ApiError(400, BAD_REQUEST, "page and start must be 0 or more.")
    key, field, direction = _sort(sort)
    offset = start + page * limit
    result = caller.service.definitions.list(limit=limit, offset=wire.row_offset(offset), sort=key)
    items, total = result.items, result.total
    if continuous or synchronous:  # every definition here is evaluated in batch
        items, total = [], 0
    pages = math.ceil(total / limit)
    link = {}
    if offset + len(items) < total:  # the same list's next page: its own sort and filters
        query = {
            "page": page + 1,
            "limit": limit,
            "start": start or None,
            "sort": sort,
            "evaluationInfo.continuous.enabled": _flag(continuous),
            "evaluationInfo.synchronous.enabled": _flag(synchronous),
        }
        link["next"] = f"{wire.BASE}/segment/definitions?{wire.query_string(query)}"
    return {
        "segments": [wire.definition(d, caller) for d in items],
        "page": {
            "totalCount": total,
            "totalPages": pages,
            "sortField": field,
            "sort": direction,
            "pageSize": len(items),
            "limit": limit,
        },
        "link": link,
    }


@router.post("/segment/definitions")
def create_definition(caller: Writer, body: DefinitionIn, response: Response) -> dict[str, Any]:
    """AEP answers 200 (not 201) with the definition; 422 when the name is taken."""
    wire.check_schema(body.schema_)
    wire.check_evaluation(body.evaluationInfo)
    expr = wire.read_expression(body.expression)
    created = caller.service.definitions.create(
        name=body.name,
        expression=expr,
        description=body.description,
        tags=body.labels,
        ttl_days=body.ttlInDays,
    )
    response.headers.update(wire.location(f"/segment/definitions/{created.id}"))
    return wire.definition(created, caller)


@router.get("/segment/definitions/{definition_id}")
def get_definition(caller: Reader, definition_id: str) -> dict[str, Any]:
    return wire.definition(caller.service.definitions.get(definition_id), caller)


@router.patch("/segment/definitions/{definition_id}")
def overwrite_definition(
    caller: Writer, definition_id: str, body: DefinitionIn, response: Response
) -> dict[str, Any]:
    """A whole definition object (AEP's PATCH here is an overwrite, not JSON-Patch)."""
    wire.check_schema(body.schema_, required=False)
    wire.check_evaluation(body.evaluationInfo)
    current = caller.service.definitions.get(definition_id)
    expr = wire.read_expression(body.expression)
    sent = body.model_fields_set
    updated = caller.service.definitions.update(
        current.id,
        name=body.name,
        expression=expr,
        description=body.description if "description" in sent else None,
        tags=body.labels if "labels" in sent else None,
        ttl_days=body.ttlInDays,
    )
    response.headers.update(wire.location(f"/segment/definitions/{updated.id}"))
    return wire.definition(updated, caller)


@router.delete("/segment/definitions/{definition_id}")
def delete_definition(caller: Writer, definition_id: str) -> dict[str, Any]:
    current = caller.service.definitions.get(definition_id)
    caller.service.definitions.delete(current.id)
    return {"status": True, "message": f"Segment definition {current.id} deleted."}


@router.post("/segment/definitions/bulk-get", status_code=207)
def bulk_get_definitions(caller: Reader, body: Any = Body(...)) -> dict[str, Any]:
    def fetch(ids: list[str]) -> dict[str, dict[str, Any]]:
        found = caller.service.definitions.find_many(ids)
        return {i: wire.definition(d, caller) for i, d in found.items()}

    return wire.bulk_get(body, fetch, "segment definition")


@router.post("/segment/conversion")
def convert(caller: Reader, body: ConversionIn) -> dict[str, Any]:
    """pql/text <-> pql/json: the same expression in the other format."""
    wire.check_schema(body.schema_, required=False)
    expr = wire.read_expression(body.expression)
    target = "pql/json" if body.expression.format == "pql/text" else "pql/text"
    return {
        "imsOrgId": caller.org_id,
        "sandbox": wire.sandbox(caller),
        "name": body.name,
        "description": body.description,
        "expression": wire.write_expression(expr, target),
    }

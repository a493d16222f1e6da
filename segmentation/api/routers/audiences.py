"""/audiences: the saved definitions seen as AEP audiences.

Only Platform audiences of type ``SegmentDefinition`` exist here (no external
audiences); creating, patching, replacing or deleting one does the same to the
definition it is.
"""

from __future__ import annotations

import math
from typing import Any

import pydantic
from fastapi import Body, Query, Response
from pydantic import Field, StrictInt

from segmentation.api import wire
from segmentation.api.auth import Caller, Reader, Writer
from segmentation.api.errors import ApiError
from segmentation.api.wire import BAD_REQUEST, ExpressionIn, Lenient, SchemaIn, Text
from segmentation.definitions import Definition

router = wire.Router(tags=["audiences"])
# JSON-Patch path -> the definition field it sets
PATCHABLE = ("/name", "/description", "/expression", "/labels")


class AudienceIn(Lenient):
    name: str
    description: Text = ""
    type: str = "SegmentDefinition"
    expression: ExpressionIn
    schema_: SchemaIn | None = Field(None, alias="schema")
    evaluationInfo: dict[str, Any] | None = None
    labels: list[str] | None = None
    ttlInDays: StrictInt | None = None


def _check(body: AudienceIn) -> None:
    """What this service has: Platform audiences (SegmentDefinition) evaluated in batch."""
    if body.type != "SegmentDefinition":
        raise ApiError(
            400, BAD_REQUEST, f"type {body.type!r}: only SegmentDefinition audiences exist here."
        )
    wire.check_schema(body.schema_, required=False)
    wire.check_evaluation(body.evaluationInfo)


SORTS = {
    "name": lambda d: d.name.lower(),
    "creationTime": lambda d: d.created_at,
    "updateTime": lambda d: d.updated_at,
}


def audience(d: Definition, caller: Caller) -> dict[str, Any]:
    body = wire.definition(d, caller)
    body.update(
        audienceId=d.id,
        namespace="AEPSegments",
        type="SegmentDefinition",
        lifecycleState="published",
        originName="REAL_TIME_CUSTOMER_PROFILE",
        isSystem=False,
        createEpoch=wire.epoch(d.created_at),
        dependencies=[],
        dependents=[],
        definedOn=[],
    )
    return body


def _sorted(defs: list[Definition], sort: str | None) -> tuple[list[Definition], str, str]:
    field, _, direction = (sort or "name:asc").partition(":")
    direction = direction or "asc"
    if field not in SORTS or direction not in ("asc", "desc"):
        raise ApiError(
            400, BAD_REQUEST, f"sort={sort!r}: use <{'|'.join(SORTS)}>:<asc|desc>, e.g. name:asc."
        )
    ordered = sorted(defs, key=lambda d: (SORTS[field](d), d.id), reverse=direction == "desc")
    return ordered, field, direction


@router.get("/audiences")
def list_audiences(
    caller: Reader,
    start: int = 0,
    limit: int = 100,
    name: str | None = None,
    description: str | None = None,
    sort: str | None = None,
    entityType: str | None = None,
    properties: list[str] | None = Query(None, alias="property"),
) -> dict[str, Any]:
    """``start`` is an offset; ``_page.next`` (the next start) is left out on the last page,
    which is what ends aepp's loop. ``property=attr==value`` filters (exact match on the
    audience's JSON, see :func:`wire.property_filter`) all must hold."""
    wire.page_window(limit)
    if start < 0:
        raise ApiError(400, BAD_REQUEST, "start must be 0 or more.")
    if entityType not in (None, wire.PROFILE):
        raise ApiError(400, BAD_REQUEST, f"entityType {entityType!r}: use {wire.PROFILE!r}.")
    defs = caller.service.definitions.all()
    if name:
        defs = [d for d in defs if name.lower() in d.name.lower()]
    if description:
        defs = [d for d in defs if description.lower() in (d.description or "").lower()]
    defs, field, direction = _sorted(defs, sort)
    bodies = [audience(d, caller) for d in defs]
    if properties:
        matches = wire.property_filter(properties)
        bodies = [body for body in bodies if matches(body)]
    items = bodies[start : start + limit]
    page: dict[str, Any] = {
        "totalCount": len(bodies),
        "totalPages": math.ceil(len(bodies) / limit),
        "sortField": field,
        "sort": direction,
        "pageSize": len(items),
        "limit": limit,
        "start": start,
    }
    links = {}
    if start + limit < len(bodies):
        page["next"] = start + limit
        query = wire.query_string(
            {
                "start": start + limit,
                "limit": limit,
                "name": name,
                "description": description,
                "sort": sort,
                "entityType": entityType,
                "property": properties,
            }
        )
        links["next"] = {"href": f"{wire.BASE}/audiences?{query}"}
    return {"children": items, "_page": page, "_links": links}


@router.get("/audiences/{audience_id}")
def get_audience(caller: Reader, audience_id: str) -> dict[str, Any]:
    return audience(caller.service.definitions.get(audience_id), caller)


@router.post("/audiences/bulk-get", status_code=207)
def bulk_get_audiences(caller: Reader, body: Any = Body(...)) -> dict[str, Any]:
    def fetch(ids: list[str]) -> dict[str, dict[str, Any]]:
        return {
            i: audience(d, caller) for i, d in caller.service.definitions.find_many(ids).items()
        }

    return wire.bulk_get(body, fetch, "audience")


@router.post("/audiences", status_code=201)
def create_audience(caller: Writer, body: AudienceIn) -> dict[str, Any]:
    _check(body)
    created = caller.service.definitions.create(
        name=body.name,
        expression=wire.read_expression(body.expression),
        description=body.description,
        tags=body.labels,
        ttl_days=body.ttlInDays,
    )
    return audience(created, caller)


@router.put("/audiences/{audience_id}", status_code=201)
def replace_audience(caller: Writer, audience_id: str, body: AudienceIn) -> dict[str, Any]:
    _check(body)
    current = caller.service.definitions.get(audience_id)
    updated = caller.service.definitions.update(
        current.id,
        name=body.name,
        expression=wire.read_expression(body.expression),
        description=body.description,
        tags=body.labels or [],
        ttl_days=body.ttlInDays,
    )
    return audience(updated, caller)


def _patch(ops: Any) -> dict[str, Any]:
    """JSON-Patch ``add`` ops on /name, /description, /expression, /labels; all checked first."""
    if not isinstance(ops, list) or not ops:
        raise ApiError(
            400, BAD_REQUEST, 'Send a JSON-Patch list: [{"op": "add", "path": "/name", ...}].'
        )
    changes: dict[str, Any] = {}
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or op.get("op") != "add" or "value" not in op:
            raise ApiError(400, BAD_REQUEST, f'ops[{i}]: use {{"op": "add", "path", "value"}}.')
        if op.get("path") not in PATCHABLE:
            raise ApiError(
                400, BAD_REQUEST, f"ops[{i}]: path {op.get('path')!r}; use {', '.join(PATCHABLE)}."
            )
        field = op["path"].lstrip("/")
        changes["tags" if field == "labels" else field] = _value(field, op["value"], i)
    return changes


def _value(field: str, value: Any, i: int) -> Any:
    """An op's value checked for its path: it reached the store as it came (a number's
    repr as a description, a string's characters as labels)."""
    where = f"ops[{i}].value"
    if field == "description" and value is None:  # as in a body: AEP's clients send null
        return ""
    if field in ("name", "description"):
        if not isinstance(value, str):
            raise ApiError(400, BAD_REQUEST, f"{where} must be a string for /{field}.")
        return value
    if field == "labels":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ApiError(400, BAD_REQUEST, f"{where} must be a list of strings for /labels.")
        return value
    if not isinstance(value, dict):
        raise ApiError(
            400,
            BAD_REQUEST,
            f'{where} must be an expression object for /expression: {{"type": "PQL", '
            '"format": "pql/text", "value": "<PQL>"}.',
        )
    try:
        expression = ExpressionIn.model_validate(value)
    except pydantic.ValidationError as e:
        raise ApiError(400, BAD_REQUEST, f"{where}: {_first_problem(e)}") from None
    return wire.read_expression(expression)


def _first_problem(error: pydantic.ValidationError) -> str:
    first = error.errors()[0]
    place = ".".join(str(p) for p in first.get("loc", ()))
    return f"{place}: {first.get('msg', 'invalid')}" if place else first.get("msg", "invalid")


@router.patch("/audiences/{audience_id}", status_code=201)
def patch_audience(caller: Writer, audience_id: str, ops: Any = Body(...)) -> dict[str, Any]:
    changes = _patch(ops)
    current = caller.service.definitions.get(audience_id)
    return audience(caller.service.definitions.update(current.id, **changes), caller)


@router.delete("/audiences/{audience_id}", status_code=204)
def delete_audience(caller: Writer, audience_id: str) -> Response:
    current = caller.service.definitions.get(audience_id)
    caller.service.definitions.delete(current.id)
    return Response(status_code=204)

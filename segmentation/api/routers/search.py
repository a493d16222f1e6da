"""/search: segment definitions by name, description or id (Lucene-like ``s``).

AEP searches one class, ``_xdm.context.segmentdefinition``, in namespaces; here
there is one namespace, ``ups``, holding every definition of the sandbox, in
one root folder. Like AEP, a search that finds nothing to search in (unknown
namespace or entity) answers 200 with ``status.message``; a query that does not
parse is a 400 naming the column.
"""

from __future__ import annotations

import base64
import math
from typing import Any

from fastapi import Query

from segmentation.api import wire
from segmentation.api.auth import Reader
from segmentation.api.errors import ApiError
from segmentation.api.wire import BAD_REQUEST

router = wire.Router(tags=["search"])
SCHEMA = "_xdm.context.segmentdefinition"
NAMESPACE = "ups"
ROOT = "root"
MAX_LIMIT = 50
ALL = 100_000  # more definitions than a workspace holds: search returns them all


def _check_schema(schema: str | None) -> None:
    if schema != SCHEMA:
        got = "it is missing" if schema is None else f"got {schema!r}"
        raise ApiError(400, BAD_REQUEST, f"schema.name (or schemaClass) must be {SCHEMA!r}; {got}.")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _entity(hit: Any) -> dict[str, Any]:
    return {
        "id": hit.id,
        "base64EncodedSourceId": _b64(hit.id),
        "sourceId": hit.id,
        "isFolder": False,
        "parentFolderId": ROOT,
        "name": hit.name,
        "description": hit.description or "",
    }


@router.get("/search/namespaces")
def search_namespaces(
    caller: Reader,
    schema: str | None = Query(None, alias="schema.name"),
    s: str = "",
) -> dict[str, Any]:
    _check_schema(schema)
    count = len(caller.service.search.segments(s, limit=ALL))
    return {
        "namespaces": [
            {"namespace": NAMESPACE, "displayName": "Segment definitions", "count": count}
        ],
        "totalCount": 1,
        "status": {"message": "Success"},
    }


@router.get("/search/entities")
def search_entities(
    caller: Reader,
    namespace: str,
    schema_class: str | None = Query(None, alias="schemaClass"),
    schema_name: str | None = Query(None, alias="schema.name"),
    s: str = "",
    entity_id: str | None = Query(None, alias="entityId"),
    limit: int = MAX_LIMIT,
    page: int = 0,
) -> dict[str, Any]:
    """``totalPages`` is at least 1 and ``page`` 0-based (aepp loops while they are equal)."""
    _check_schema(schema_class or schema_name)
    if limit < 1 or limit > MAX_LIMIT or page < 0:
        raise ApiError(400, BAD_REQUEST, f"limit must be 1 to {MAX_LIMIT} and page 0 or more.")
    message = "Success"
    hits: list[Any] = []
    if namespace != NAMESPACE:
        message = f"Cannot find namespace {namespace!r}; the only one is {NAMESPACE!r}."
    elif entity_id is not None and entity_id != ROOT:
        message = f"Cannot find entityId {entity_id!r}: the only folder is {ROOT!r}."
    else:
        hits = caller.service.search.segments(s, limit=ALL)
    items = hits[page * limit : (page + 1) * limit]
    return {
        "entities": [_entity(h) for h in items],
        "page": {
            "totalCount": len(hits),
            "totalPages": max(1, math.ceil(len(hits) / limit)),
            "pageOffset": page,
            "pageSize": len(items),
        },
        "status": {"message": message},
    }


@router.get("/search/taxonomy")
def search_taxonomy(
    caller: Reader,
    namespace: str,
    entity_id: str = Query(alias="entityId"),
    schema: str | None = Query(None, alias="schema.name"),
) -> dict[str, Any]:
    """The folder path of an entity, root first (the root's parent is ``root``)."""
    _check_schema(schema)
    root = {"id": ROOT, "base64EncodedSourceId": _b64(ROOT), "name": ROOT, "parentFolderId": ROOT}
    if namespace != NAMESPACE:
        return {"taxonomy": [], "status": {"message": f"Cannot find namespace {namespace!r}."}}
    if entity_id == ROOT:
        return {"taxonomy": [root], "status": {"message": "Success"}}
    found = caller.service.definitions.find(entity_id)
    if found is None or found.id != entity_id:
        return {"taxonomy": [], "status": {"message": f"Cannot find entityId {entity_id!r}."}}
    leaf = {
        "id": found.id,
        "base64EncodedSourceId": _b64(found.id),
        "name": found.name,
        "parentFolderId": ROOT,
    }
    return {"taxonomy": [root, leaf], "status": {"message": "Success"}}

"""Shapes shared by the endpoints: AEP's times, sandbox object, expressions, links."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import json
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Response
from fastapi.datastructures import DefaultPlaceholder
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict
from starlette.concurrency import run_in_threadpool

from segmentation.aep_json import PROFILE_SCHEMA, definition_to_aep
from segmentation.api.auth import Caller
from segmentation.api.body import JsonRoute
from segmentation.api.errors import ApiError
from segmentation.api.waiting import Pending
from segmentation.definitions import Definition
from segmentation.expression_input import expression_from_data, load_json
from segmentation.model import Expression
from segmentation.pql import parse, to_pql
from segmentation.pql.json_format import from_pql_json, to_pql_json
from segmentation.sandboxes import PROD
from segmentation.store import NotInMemory, memory_only

BASE = "/data/core/ups"
PROFILE = PROFILE_SCHEMA["name"]
FORMATS = ("pql/text", "pql/json")
BAD_REQUEST = "UPAPI-113434-400"
MERGE_POLICY = "default"  # one profile per id here: there is nothing to merge


class Router(APIRouter):
    """An APIRouter whose endpoints' ``-> dict`` hints make no response model (the
    answers are plain JSON already, and validating them again would cost every
    request of a sync endpoint one more trip to the thread pool), whose answers are
    rendered by :func:`rendered`, and whose sync GETs answer from memory first
    (:func:`memory_first`), and whose bodies are read as strict JSON
    (:class:`body.JsonRoute`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(route_class=JsonRoute, **kwargs)

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if isinstance(kwargs.get("response_model"), DefaultPlaceholder):
            kwargs["response_model"] = None
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = rendered(endpoint, kwargs.get("status_code") or 200)
            if kwargs.get("methods") == ["GET"]:
                endpoint = memory_first(endpoint)
        super().add_api_route(path, endpoint, **kwargs)


class JsonAnswer(JSONResponse):
    """``json.dumps`` of plain JSON, with FastAPI's encoder only for what it cannot write
    (a datetime, a model)."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(
            content,
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
            default=jsonable_encoder,
        )
        return text.encode()


def rendered(endpoint: Callable[..., Any], status_code: int) -> Callable[..., Any]:
    """A sync endpoint whose plain answer becomes a :class:`JsonAnswer`, keeping the
    status and headers it set on its ``Response`` parameter. FastAPI would otherwise walk
    the answer with ``jsonable_encoder``, which cost half the CPU of a job's GET (what
    clients poll while the job runs, beside it on the same cores)."""

    @functools.wraps(endpoint)
    def answer(**kwargs: Any) -> Any:
        content = endpoint(**kwargs)
        if isinstance(content, Response):
            return content
        sub = next((v for v in kwargs.values() if isinstance(v, Response)), None)
        out = JsonAnswer(content, status_code=(sub and sub.status_code) or status_code)
        if sub is not None:  # FastAPI's sub-response holds no length or type of its own
            out.raw_headers.extend(sub.raw_headers)
        return out

    return answer


def memory_first(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """A sync GET run on the event loop while what it reads is kept in memory (a
    definition, a task, a finished preview's rows), else, from its first read of the
    workspace, again on the thread pool. The hop to a pool thread and back cost 8
    clients' definitions GETs a third of the server's CPU (0.58 against 0.38 ms a
    request). Only GETs: one that stops at its first read has changed nothing."""

    @functools.wraps(endpoint)
    async def answer(**kwargs: Any) -> Any:
        for value in kwargs.values():
            if isinstance(value, Pending):  # Prefer: wait, once the request is checked
                await value()
        try:
            with memory_only():
                return endpoint(**kwargs)
        except NotInMemory:
            return await run_in_threadpool(endpoint, **kwargs)

    return answer


def _none_as_empty(value: Any) -> Any:
    return "" if value is None else value


# text that AEP's clients send as null when unset (aepp's ``"description": null``)
Text = Annotated[str, BeforeValidator(_none_as_empty)]


class Lenient(BaseModel):
    """A request body: the fields we read are checked; AEP's others are accepted."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ExpressionIn(Lenient):
    type: str = "PQL"
    format: str = "pql/text"
    value: Any


class SchemaIn(Lenient):
    name: str


def utc_naive(value: dt.datetime | None, where: str) -> dt.datetime | None:
    """Naive UTC, as the workspace keeps times; a 400 where that is past year 9999 or
    before year 1 (``9999-12-31T23:59:59-01:00``), which Python cannot hold."""
    if value is None or value.tzinfo is None:
        return value
    try:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError:
        raise ApiError(
            400,
            BAD_REQUEST,
            f"{where} is outside years 1 to 9999 once in UTC: give a later or earlier time.",
        ) from None


def ms(value: dt.datetime | None) -> int | None:
    """Milliseconds since the epoch of a naive UTC time."""
    return None if value is None else int(value.replace(tzinfo=dt.UTC).timestamp() * 1000)


def epoch(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.replace(tzinfo=dt.UTC).timestamp())


def sandbox(caller: Caller) -> dict[str, Any]:
    name = caller.sandbox
    return {
        "sandboxId": name,
        "sandboxName": name,
        "type": "production" if name == PROD else "development",
        "default": name == PROD,
    }


def check_schema(schema: SchemaIn | None, required: bool = True) -> None:
    if schema is None:
        if required:
            raise ApiError(400, BAD_REQUEST, f'"schema" is required: {{"name": "{PROFILE}"}}.')
        return
    if schema.name != PROFILE:
        raise ApiError(
            400, BAD_REQUEST, f"Unknown schema {schema.name!r}; the only one here is {PROFILE!r}."
        )


def check_evaluation(info: dict[str, Any] | None) -> None:
    """Only batch evaluation exists here: AEP's continuous (streaming) and synchronous
    (edge) evaluation are refused with a 400, rather than stored as a promise."""
    for mode in ("continuous", "synchronous"):
        section = (info or {}).get(mode) or {}
        if isinstance(section, dict) and section.get("enabled") is True:
            raise ApiError(
                400,
                BAD_REQUEST,
                f"evaluationInfo.{mode}.enabled is true, but only batch evaluation is "
                "supported here: leave it false.",
            )


def read_expression(expression: ExpressionIn) -> Expression:
    """``{"type": "PQL", "format": "pql/text" | "pql/json", "value": ...}`` -> a tree.

    ``pql/json`` is AEP's JSON tree (``{"nodeType": "fnApply", ..}``, see
    :mod:`segmentation.pql.json_format`) as JSON text (AEP sends a JSON document inside a
    string) or as an object; this project's own tree (``{"kind": ..}``) is read too."""
    if expression.type != "PQL":
        raise ApiError(400, BAD_REQUEST, f'expression.type is {expression.type!r}; use "PQL".')
    if expression.format == "pql/text":
        if not isinstance(expression.value, str):
            raise ApiError(400, BAD_REQUEST, "expression.value must be PQL text for pql/text.")
        return parse(expression.value)
    if expression.format == "pql/json":
        value = load_json(expression.value, "expression.value")
        if isinstance(value, dict) and "nodeType" in value:
            return from_pql_json(value, root="expression.value")
        return expression_from_data(value, root="expression.value")
    raise ApiError(
        400,
        BAD_REQUEST,
        f"expression.format is {expression.format!r}; use one of {', '.join(FORMATS)}.",
    )


def write_expression(expr: Expression, fmt: str = "pql/text") -> dict[str, Any]:
    value = to_pql(expr) if fmt == "pql/text" else json.dumps(to_pql_json(expr))
    return {"type": "PQL", "format": fmt, "value": value}


def definition(d: Definition, caller: Caller) -> dict[str, Any]:
    """AEP's SegmentDefinition, plus ``labels`` (our tags) and ``version``."""
    body = definition_to_aep(d)
    body.update(
        imsOrgId=caller.org_id,
        sandbox=sandbox(caller),
        mergePolicyId=MERGE_POLICY,
        profileInstanceId="ups",
        dataGovernancePolicy={"excludeOptOut": True},
    )
    return body


def location(path: str) -> dict[str, str]:
    """The ``X-Location`` header AEP sends with a created or changed resource."""
    return {"X-Location": f"{BASE}{path}"}


def query_string(params: dict[str, Any]) -> str:
    """A link's query: the parameters that are set, lists repeated (``property=..&property=..``)."""
    return urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)


# Past any list's end, and within SQL's 64-bit OFFSET (a page number times the limit
# overflowed it: a 500). One rule for every list: a page past the end is empty.
LAST_OFFSET = 2**53


def row_offset(offset: int) -> int:
    """The rows to skip, no more than :data:`LAST_OFFSET`: still an empty page."""
    return min(offset, LAST_OFFSET)


def page_window(limit: int, maximum: int = 1000) -> int:
    if limit < 1 or limit > maximum:
        raise ApiError(400, BAD_REQUEST, f"limit must be between 1 and {maximum}; got {limit}.")
    return limit


MAX_BULK = 1000  # ids of one bulk-get: 100,000 unknown ones held a worker for 6 minutes


def bulk_ids(body: Any) -> list[str]:
    """``{"ids": [{"id": ..}]}`` (AEP), or a bare list of ids (what aepp users send)."""
    items = body.get("ids") if isinstance(body, dict) else body
    if not isinstance(items, list) or not items:
        raise ApiError(
            400, BAD_REQUEST, 'Send {"ids": [{"id": "<id>"}, ...]} with at least one id.'
        )
    if len(items) > MAX_BULK:
        raise ApiError(
            400,
            BAD_REQUEST,
            f"ids: at most {MAX_BULK} in one bulk-get; got {len(items)}. Send them in parts.",
        )
    ids = []
    for i, item in enumerate(items):
        value = item.get("id") if isinstance(item, dict) else item
        if not isinstance(value, str) or not value:
            raise ApiError(400, BAD_REQUEST, f'ids[{i}] has no id: give {{"id": "<id>"}}.')
        ids.append(value)
    return list(dict.fromkeys(ids))


def bulk_get(body: Any, fetch: Callable[[list[str]], dict[str, dict[str, Any]]], what: str):
    """AEP's 207 answer: what was found under ``results``, the ids not found under ``errors``.
    ``fetch`` reads all the ids at once: the answer body of each one found."""
    ids = bulk_ids(body)
    found = fetch(ids)
    results, errors = {}, {}
    for item_id in ids:
        if item_id in found:
            results[item_id] = found[item_id]
        else:
            message = f"No {what} with id {item_id!r}."
            errors[item_id] = {"status": 404, "code": "UPAPI-113430-404", "message": message}
    return {"results": results, "errors": errors}


def property_filter(values: list[str] | None) -> Callable[[dict[str, Any]], bool]:
    """AEP's ``property`` filters of a list, every one of which must hold: ``path==value``
    (a dotted path into the listed object's JSON, exact match) or ``array~path==value``
    (some item of the array matches), e.g. ``property=segments~segmentId==<id>``."""
    checks = [_property(text) for text in values or []]
    return lambda body: all(check(body) for check in checks)


def _property(text: str) -> Callable[[dict[str, Any]], bool]:
    where, equals, value = text.partition("==")
    array, tilde, inner = where.partition("~")
    if not equals or not where or (tilde and not (array and inner)):
        raise ApiError(
            400,
            BAD_REQUEST,
            f"property={text!r}: write attribute==value or array~attribute==value, "
            "e.g. property=segments~segmentId==<id>.",
        )
    if tilde:
        return lambda body: any(_same(_at(item, inner), value) for item in _items(body, array))
    return lambda body: _same(_at(body, where), value)


def _at(body: Any, path: str) -> Any:
    for part in path.split("."):
        body = body.get(part) if isinstance(body, dict) else None
    return body


def _items(body: dict[str, Any], path: str) -> list[Any]:
    found = _at(body, path)
    return found if isinstance(found, list) else []


def _same(found: Any, value: str) -> bool:
    """A JSON value against the text of the query: true/false and null as JSON spells them."""
    if isinstance(found, bool) or found is None:
        return json.dumps(found) == value.lower()
    return not isinstance(found, dict | list) and str(found) == value

"""/preview and /estimate: AEP's asynchronous preview, run as a task.

``POST /preview`` checks the PQL (a syntax error is a 400 naming line and
column) and answers 201 with a ``previewId`` at once; the evaluation runs on
the preview workers. Clients poll ``GET /preview/{id}`` and
``GET /estimate/{id}`` until ``state`` is ``RESULT_READY`` (or ``FAILED``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
from fastapi import Response

from segmentation.api import wire
from segmentation.api.auth import Reader
from segmentation.api.errors import ApiError
from segmentation.api.waiting import Pending, until_finished
from segmentation.api.wire import BAD_REQUEST, Lenient
from segmentation.service import Previews
from segmentation.tasks import Task

router = wire.Router(tags=["preview and estimate"])
DEFAULT_LIMIT = 1000
# task status -> AEP's preview state
STATES = {
    "NEW": "NEW",
    "PROCESSING": "RUNNING",
    "CANCELLING": "RUNNING",
    "SUCCEEDED": "RESULT_READY",
    "FAILED": "FAILED",
    "CANCELLED": "FAILED",
}


class PreviewIn(Lenient):
    predicateExpression: str
    predicateType: str = "pql/text"
    predicateModel: str = wire.PROFILE
    graphType: str = "none"
    asOf: dt.datetime | None = None  # ours: evaluate at this moment (default now)


def _href(preview_id: str, offset: int | None = None, limit: int | None = None) -> str:
    query = "" if offset is None else f"?offset={offset}&limit={limit}"
    return f"{wire.BASE}/preview/{preview_id}{query}"


@router.post("/preview", status_code=201)
def create_preview(caller: Reader, body: PreviewIn, response: Response) -> dict[str, Any]:
    """Read-only tokens may preview: it reads the data and changes nothing stored."""
    if body.predicateType != "pql/text":
        raise ApiError(400, BAD_REQUEST, f"predicateType {body.predicateType!r}: use pql/text.")
    if body.predicateModel != wire.PROFILE:
        raise ApiError(
            400, BAD_REQUEST, f"predicateModel {body.predicateModel!r}: use {wire.PROFILE!r}."
        )
    as_of = wire.utc_naive(body.asOf, "body.asOf")
    task = caller.service.previews.start(body.predicateExpression, as_of=as_of)
    response.headers.update(wire.location(f"/preview/{task.id}"))
    return {
        "state": STATES[task.status],
        "previewQueryId": task.id,
        "previewQueryStatus": STATES[task.status],
        "previewId": task.id,
        "previewExecutionId": 0,
    }


def _offset(offset: str) -> int:
    if not (offset.isascii() and offset.isdigit()):  # int() also reads "٣" and " 3"
        message = f"offset={offset!r} is not a number: give 0 or more, in ASCII digits."
        raise ApiError(400, BAD_REQUEST, message)
    value = int(offset)
    if value < 0:
        raise ApiError(400, BAD_REQUEST, "offset must be 0 or more.")
    return value


def _error(task: Task) -> dict[str, Any] | None:
    if task.status in ("FAILED", "CANCELLED"):
        return {"description": task.error or task.status, "traceback": ""}
    return None


@router.get("/preview/{preview_id}")
def get_preview(
    caller: Reader,
    preview_id: str,
    offset: str = "0",
    limit: int = DEFAULT_LIMIT,
    _: Pending | None = until_finished("preview_id", Previews.KIND),
) -> Response:
    """``results`` one entry per qualified profile, by profile id; ``links.next`` is
    ``""`` on the last page."""
    start = _offset(offset)
    wire.page_window(limit, maximum=10_000)
    task = caller.service.previews.get(preview_id)
    body: dict[str, Any] = {"state": STATES[task.status], "error": _error(task)}
    links = {"_self": _href(preview_id, start, limit), "next": "", "prev": ""}
    items: list[str] = []
    if task.status == "SUCCEEDED":
        page = caller.service.previews.page(task, limit=limit, offset=wire.row_offset(start))
        items = page.rendered(_results)
        body["totalRows"] = page.total
        if page.next_offset is not None:
            links["next"] = _href(preview_id, page.next_offset, limit)
        if start > 0:
            links["prev"] = _href(preview_id, max(0, start - limit), limit)
    body["page"] = {"offset": start, "size": len(items)}
    body["links"] = links
    # the rows' JSON text is spliced in: it is made once per block of rows the preview
    # cache keeps, and decoding it to encode it again cost more than the rest
    results = "[" + ",".join(items) + "]"
    text = json.dumps(body, separators=(",", ":"))[:-1] + f',"results":{results}}}'
    return Response(text, media_type="application/json")


def _results(rows: pd.DataFrame, types: dict[str, str]) -> list[str]:
    """AEP's ``{objectId, _href, relatedObjects}`` of each row as JSON text, with the
    profile's ``attributes`` (NaN -> null, times in ISO, DATE columns as dates); pandas
    writes them, in C."""
    if rows.empty:
        return []
    dates = [n for n in rows.columns if types[n] == "DATE"]
    if dates:  # DATE columns hold datetime.date: keep them dates, not midnight times
        rows = rows.assign(**{n: rows[n].map(_iso_date) for n in dates})
    text = rows.to_json(orient="records", lines=True, date_format="iso", default_handler=str)
    ids = [str(i) for i in rows["profile_id"].tolist()]
    return [
        f'{{"objectId":{json.dumps(i)},"_href":"","relatedObjects":[],"attributes":{attributes}}}'
        for i, attributes in zip(ids, text.splitlines(), strict=True)
    ]


def _iso_date(value: Any) -> Any:
    """A missing date is NaT, which is a date to isinstance: null, not "NaT"."""
    return value.isoformat() if isinstance(value, dt.date) and not pd.isna(value) else None


@router.delete("/preview/{preview_id}")
def delete_preview(caller: Reader, preview_id: str) -> dict[str, Any]:
    caller.service.previews.delete(preview_id)
    return {"status": True, "message": "KILLED"}


@router.get("/estimate/{preview_id}")
def get_estimate(
    caller: Reader, preview_id: str, _: Pending | None = until_finished("preview_id", Previews.KIND)
) -> dict[str, Any]:
    """AEP's estimate, plus our interval bounds ``estimatedSizeLow``/``High`` and ``exact``."""
    task = caller.service.previews.get(preview_id)
    return estimate(task)


def estimate(task: Task) -> dict[str, Any]:
    body: dict[str, Any] = {
        "state": STATES[task.status],
        "confidenceInterval": "95%",
        "error": _error(task),
        "_links": {"preview": _href(task.id)},
    }
    if task.status == "SUCCEEDED":
        e = task.result["estimate"]
        body.update(
            estimatedSize=e["estimated_size"],
            estimatedSizeLow=e["low"],
            estimatedSizeHigh=e["high"],
            standardError=e["standard_error"],
            profilesReadSoFar=e["profiles_read"],
            profilesMatchedSoFar=e["profiles_matched"],
            numRowsToRead=e["profiles_read"],
            totalRows=e["total_profiles"],
            exact=e["exact"],
            estimatedNamespaceDistribution=[
                {"namespaceId": "profile_id", "profilesMatchedSoFar": e["profiles_matched"]}
            ],
        )
    return body

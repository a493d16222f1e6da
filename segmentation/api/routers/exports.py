"""/export/jobs: members of segments written to files, on the export worker.

AEP's export ids are numbers; ours are ``exp-`` and 12 hex digits, so the
number on the wire is that hex read as an integer (and back). The files are
written under the workspace's exports folder; their paths come back in
``files`` (AEP would name a dataset instead).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pydantic
from pydantic import Field

from segmentation.api import wire
from segmentation.api.auth import Caller, Reader, Writer
from segmentation.api.errors import ApiError
from segmentation.api.waiting import Pending, until_finished
from segmentation.api.wire import BAD_REQUEST, Lenient, SchemaIn
from segmentation.errors import ConflictError, NotFoundError
from segmentation.exports import KIND as EXPORT_KIND
from segmentation.exports import ExportJob, ExportRequest, MembershipStatus

router = wire.Router(tags=["export jobs"])
STATUSES = ("NEW", "PROCESSING", "SUCCEEDED", "FAILED", "CANCELLED")
_OFFSET = re.compile(r"^(\d+)_(\d+)$")
WHEN = "filter.segmentQualificationTime"


class SegmentFilterIn(Lenient):
    segmentId: str
    segmentNs: str = "ups"
    status: list[MembershipStatus] = Field(
        default_factory=lambda: ["realized", "existing"], min_length=1
    )


class QualificationTimeIn(Lenient):
    startTime: dt.datetime | None = None
    endTime: dt.datetime | None = None


class FilterIn(Lenient):
    segments: list[SegmentFilterIn] = Field(min_length=1)
    segmentQualificationTime: QualificationTimeIn | None = None


class DestinationIn(Lenient):
    datasetId: str = ""
    segmentPerBatch: bool = False


class ExportIn(Lenient):
    fields: str | list[str] = ""
    filter: FilterIn
    destination: DestinationIn = Field(default_factory=DestinationIn)
    schema_: SchemaIn | None = Field(None, alias="schema")
    format: str = "csv"  # ours: csv, parquet or json (newline-delimited)


def wire_id(export_id: str) -> int:
    return int(export_id.removeprefix("exp-"), 16)


def store_id(number: str) -> str:
    # ASCII only: isdigit() is true of "²" (int() refuses it: a 500) and "٣" (read as 3)
    if not (number.isascii() and number.isdigit()) or int(number) >= 16**12:
        return f"exp-{number}"  # no such job: get() says so
    return f"exp-{int(number):012x}"


def _fields(fields: str | list[str]) -> list[str]:
    items = fields.split(",") if isinstance(fields, str) else fields
    return [f.strip() for f in items if f.strip()]


def _span(start: dt.datetime, end: dt.datetime | None) -> dict[str, int]:
    span = {"startTimeInMs": wire.ms(start)}
    if end is not None:
        span.update(endTimeInMs=wire.ms(end), totalTimeInMs=wire.ms(end) - wire.ms(start))
    return span


def export(job: ExportJob, caller: Caller) -> dict[str, Any]:
    r = job.request
    qualification = {}
    if r.qualified_after is not None:
        qualification["startTime"] = r.qualified_after.isoformat() + "Z"
    if r.qualified_before is not None:
        qualification["endTime"] = r.qualified_before.isoformat() + "Z"
    filter_body: dict[str, Any] = {
        "segments": [
            {"segmentId": s, "segmentNs": "ups", "status": list(r.statuses)} for s in r.segments
        ]
    }
    if qualification:
        filter_body["segmentQualificationTime"] = qualification
    span = _span(job.created_at, job.finished_at)
    updated = job.finished_at or job.created_at
    return {
        "id": wire_id(job.id),
        "jobType": "BATCH",
        "status": job.status,
        "fields": ",".join(r.fields),
        "format": r.format,
        "filter": filter_body,
        "destination": {"datasetId": "", "segmentPerBatch": not r.combined},
        "files": list(job.files),
        "schema": {"name": wire.PROFILE},
        "mergePolicy": {"id": wire.MERGE_POLICY, "version": 1},
        "imsOrgId": caller.org_id,
        "sandbox": wire.sandbox(caller),
        "profileInstanceId": "ups",
        "errors": [{"code": "UPAPI-EXPORT-FAILED", "msg": job.error}]
        if job.status == "FAILED" and job.error
        else [],
        "metrics": {
            "totalTime": span,
            "profileExportTime": span,
            "totalExportedProfileCounter": job.metrics.profiles_exported,
            "exportedProfileByNamespaceCounter": {"profile_id": job.metrics.profiles_exported},
            "files": job.metrics.files,
            "bytes": job.metrics.bytes,
        },
        "requestId": caller.request_id,
        "creationTime": wire.ms(job.created_at),
        "updateTime": wire.ms(updated),
    }


# the export request's fields -> where the body has them, for its messages
BODY_PATHS = {
    "segments": "filter.segments",
    "statuses": "filter.segments[0].status",
    "qualified_after": f"{WHEN}.startTime",
    "qualified_before": f"{WHEN}.endTime",
    "combined": "destination.segmentPerBatch",
}


def _request(body: ExportIn) -> ExportRequest:
    wire.check_schema(body.schema_, required=False)
    statuses = {tuple(s.status) for s in body.filter.segments}
    if len(statuses) > 1:
        raise ApiError(
            400, BAD_REQUEST, "filter.segments: give every segment the same status list."
        )
    when = body.filter.segmentQualificationTime or QualificationTimeIn()
    after = wire.utc_naive(when.startTime, f"{WHEN}.startTime")
    before = wire.utc_naive(when.endTime, f"{WHEN}.endTime")
    if after is not None and before is not None and after >= before:
        raise ApiError(
            400,
            BAD_REQUEST,
            f"{WHEN}.startTime ({after.isoformat()}Z) must be before "
            f"{WHEN}.endTime ({before.isoformat()}Z).",
        )
    fields = {
        "segments": [s.segmentId for s in body.filter.segments],
        "fields": _fields(body.fields),
        "format": body.format,
        "statuses": list(statuses.pop()),
        "qualified_after": after,
        "qualified_before": before,
        "combined": not body.destination.segmentPerBatch,
    }
    try:
        return ExportRequest.model_validate(fields)
    except pydantic.ValidationError as e:  # named as the body names them, not as we do
        raise ApiError(400, BAD_REQUEST, _in_body_terms(e)) from None


def _in_body_terms(error: pydantic.ValidationError) -> str:
    parts = []
    for problem in error.errors()[:5]:
        loc = list(problem.get("loc", ()))
        head = BODY_PATHS.get(str(loc[0]), str(loc[0])) if loc else ""
        where = head + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[1:])
        message = problem.get("msg", "invalid")
        parts.append(f"{where}: {message}" if where else message)
    return "Invalid export: " + "; ".join(parts)


@router.post("/export/jobs")
def create_export(caller: Writer, body: ExportIn) -> dict[str, Any]:
    """Checked, recorded and queued; answers at once with status NEW."""
    job = caller.service.exports.create(_request(body), run_async=True)
    return export(job, caller)


@router.get("/export/jobs")
def list_exports(
    caller: Reader, limit: int = 100, offset: str | None = None, status: str | None = None
) -> dict[str, Any]:
    """Newest first; ``offset`` is AEP's ``<creationTimeMs>_<id>`` token of the last job
    of the previous page, taken from ``link.next`` (``""`` on the last page)."""
    wire.page_window(limit)
    if status is not None and status not in STATUSES:
        raise ApiError(400, BAD_REQUEST, f"status={status!r}: use one of {', '.join(STATUSES)}.")
    everything = caller.service.exports.list(status=status, limit=1_000_000)
    start = 0
    if offset:
        match = _OFFSET.match(offset)
        ids = [wire_id(j.id) for j in everything]
        if match is None or int(match[2]) not in ids:
            raise ApiError(
                400, BAD_REQUEST, f"offset={offset!r} is not a token from this list's link.next."
            )
        start = ids.index(int(match[2])) + 1
    items = everything[start : start + limit]
    next_link = ""
    if start + limit < len(everything) and items:
        last = items[-1]
        token = f"{wire.ms(last.created_at)}_{wire_id(last.id)}"
        status_query = f"&status={status}" if status else ""
        next_link = f"/export/jobs/?limit={limit}&offset={token}{status_query}"
    return {
        "records": [export(j, caller) for j in items],
        "page": {
            "sortField": "createdTime",
            "sort": "desc",
            "pageOffset": offset or "",
            "pageSize": len(items),
        },
        "link": {"next": next_link},
    }


def _get(caller: Caller, export_id: str) -> ExportJob:
    """The job by its number on the wire; the error names that number, not ours."""
    try:
        return caller.service.exports.get(store_id(export_id))
    except NotFoundError:
        raise NotFoundError(f"No export job with id {export_id!r}.") from None


@router.get("/export/jobs/{export_id}")
def get_export(
    caller: Reader,
    export_id: str,
    _: Pending | None = until_finished("export_id", EXPORT_KIND, store_id),
) -> dict[str, Any]:
    return export(_get(caller, export_id), caller)


@router.delete("/export/jobs/{export_id}")
def cancel_export(caller: Writer, export_id: str) -> dict[str, Any]:
    """Cancels a queued or running export (no files are left); 409 once finished."""
    job = _get(caller, export_id)
    try:
        caller.service.exports.cancel(job.id)
    except ConflictError:  # its message names our id, not the number the client knows
        status = _get(caller, export_id).status
        raise ConflictError(
            f"Export job {export_id} is already {status}: there is nothing to cancel."
        ) from None
    return {"status": True, "message": "Export job has been marked for cancelling"}

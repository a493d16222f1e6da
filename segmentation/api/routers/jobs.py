"""/segment/jobs: evaluate definitions on the job runner, never in a request thread."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import Body, Query, Response

from segmentation.aep_json import expression_to_aep
from segmentation.api import wire
from segmentation.api.auth import Caller, Reader, Writer
from segmentation.api.errors import ApiError
from segmentation.api.waiting import Pending, until_finished
from segmentation.api.wire import BAD_REQUEST
from segmentation.errors import NotFoundError
from segmentation.jobs import KIND as JOB_KIND
from segmentation.jobs import JobMetrics, JobSegment, SegmentJob, TimeSpan

router = wire.Router(tags=["segment jobs"])
MAX_SEGMENTS = 1500
STATUSES = ("NEW", "QUEUED", "PROCESSING", "CANCELLING", "CANCELLED", "FAILED", "SUCCEEDED")


def _span(span: TimeSpan) -> dict[str, int]:
    values = {
        "startTimeInMs": span.start_time_in_ms,
        "endTimeInMs": span.end_time_in_ms,
        "totalTimeInMs": span.total_time_in_ms,
    }
    return {k: v for k, v in values.items() if v is not None}


def metrics(m: JobMetrics) -> dict[str, Any]:
    """AEP's metric names; realized + existing = segmentedProfileCounter."""
    return {
        "totalTime": _span(m.total_time),
        "profileSegmentationTime": _span(m.profile_segmentation_time),
        "totalProfiles": m.total_profiles,
        "segmentedProfileCounter": dict(m.segmented_profile_counter),
        "segmentedProfileByNamespaceCounter": {
            seg: {"profile_id": n} for seg, n in m.segmented_profile_counter.items()
        },
        "segmentedProfileByStatusCounter": {
            seg: dict(counts) for seg, counts in m.segmented_profile_by_status_counter.items()
        },
        "totalProfilesByMergePolicy": {wire.MERGE_POLICY: m.total_profiles},
    }


def job(j: SegmentJob, caller: Caller) -> dict[str, Any]:
    href = f"{wire.BASE}/segment/jobs/{j.id}"
    segments = [
        {"segmentId": s.segment_id, "segment": _segment(s, expression)}
        for s, expression in zip(j.segments, _expressions(j, caller), strict=True)
    ]
    updated = j.finished_at or j.started_at or j.created_at
    return {
        "id": j.id,
        "imsOrgId": caller.org_id,
        "sandbox": wire.sandbox(caller),
        "profileInstanceId": "ups",
        "source": j.source,
        "status": j.status,
        "segments": segments,
        "metrics": metrics(j.metrics),
        "errors": _errors(j),
        "requestId": caller.request_id,
        "schema": {"name": wire.PROFILE},
        "properties": {"scheduleId": j.schedule_id} if j.schedule_id else {},
        "asOf": wire.ms(j.as_of),
        "_links": {
            "cancel": {"href": href, "method": "DELETE"},
            "checkStatus": {"href": href, "method": "GET"},
        },
        "creationTime": wire.ms(j.created_at),
        "updateTime": wire.ms(updated),
        "updateEpoch": wire.epoch(updated),
    }


def _segment(s: JobSegment, expression: dict[str, str] | None) -> dict[str, Any]:
    segment: dict[str, Any] = {
        "id": s.segment_id,
        "name": s.name,
        "version": s.version,
        "mergePolicyId": wire.MERGE_POLICY,
        "mergePolicy": {"id": wire.MERGE_POLICY, "version": 1},
        "status": s.status,  # ours: FAILED when this definition alone could not run
    }
    if expression is not None:
        segment["expression"] = expression
    return segment


def _expressions(j: SegmentJob, caller: Caller) -> list[dict[str, str] | None]:
    """The PQL each definition was evaluated with, as the job kept it; a job recorded
    before jobs kept it shows the definition as it is now (one read for all: a job may
    name 1500, and clients poll it)."""
    if all(s.pql is not None for s in j.segments):
        return [{"type": "PQL", "format": "pql/text", "value": s.pql} for s in j.segments]
    current = {d.id: d for d in caller.service.definitions.all()}
    found = [current.get(s.segment_id) for s in j.segments]
    return [expression_to_aep(d) if d is not None else None for d in found]


def _errors(j: SegmentJob) -> list[dict[str, Any]]:
    """The job's error, and each definition that failed while the others ran."""
    errors = [{"code": "UPAPI-JOB-FAILED", "msg": j.error}] if j.error else []
    for s in j.segments:
        if s.status == "FAILED":
            msg = f"{s.name}: {s.error or 'not evaluated'}"
            errors.append({"code": "UPAPI-SEGMENT-FAILED", "msg": msg, "segmentId": s.segment_id})
    return errors


def _segments(body: Any) -> list[str] | str:
    """AEP's bare array ``[{"segmentId": ..}]``, or ``{"segments": [{"segmentId": "*"}]}``."""
    items = body.get("segments") if isinstance(body, dict) else body
    if not isinstance(items, list) or not items:
        raise ApiError(
            400,
            BAD_REQUEST,
            'Send [{"segmentId": "<id>"}, ...] or {"segments": [{"segmentId": "*"}]}.',
        )
    if len(items) > MAX_SEGMENTS:
        raise ApiError(400, BAD_REQUEST, f"A job takes at most {MAX_SEGMENTS} segments.")
    ids = []
    for i, item in enumerate(items):
        value = item.get("segmentId") if isinstance(item, dict) else None
        if value is None:
            raise ApiError(400, BAD_REQUEST, f'segments[{i}] has no "segmentId".')
        if not isinstance(value, str) or not value:
            raise ApiError(
                400,
                BAD_REQUEST,
                f'segments[{i}].segmentId must be a string: a definition\'s id or name, or "*".',
            )
        ids.append(value)
    return "*" if "*" in ids else ids


@router.get("/segment/jobs")
def list_jobs(
    caller: Reader,
    start: int = 0,
    limit: int = 100,
    status: str | None = None,
    properties: list[str] | None = Query(None, alias="property"),
) -> dict[str, Any]:
    """Newest first; ``start`` is the 0-based page, AEP's ``_links.next`` while more remain;
    ``property`` filters (e.g. ``segments~segmentId==<id>``) as :func:`wire.property_filter`."""
    wire.page_window(limit)
    if start < 0:
        raise ApiError(400, BAD_REQUEST, "start must be 0 or more.")
    if status is not None and status not in STATUSES:
        raise ApiError(400, BAD_REQUEST, f"status={status!r}: use one of {', '.join(STATUSES)}.")
    matches = wire.property_filter(properties)
    jobs = caller.service.jobs
    if properties:  # the filters read the answer's JSON: filter every job, then page
        every = [job(j, caller) for j in jobs.list(limit=jobs.count(status), status=status)]
        found = [body for body in every if matches(body)]
        total, children = len(found), found[start * limit : (start + 1) * limit]
    else:
        total = jobs.count(status)
        items = jobs.list(limit=limit, offset=wire.row_offset(start * limit), status=status)
        children = [job(j, caller) for j in items]
    links = {}
    if (start + 1) * limit < total:
        query = {"start": start + 1, "limit": limit, "status": status, "property": properties}
        links["next"] = {"href": f"{wire.BASE}/segment/jobs?{wire.query_string(query)}"}
    return {
        "_page": {"totalCount": total, "pageSize": len(children)},
        "children": children,
        "_links": links,
    }


@router.post("/segment/jobs")
def create_job(caller: Writer, body: Any = Body(...)) -> dict[str, Any]:
    """Starts the job on the runner and answers at once (status NEW); 429 when it is full."""
    started = caller.service.jobs.start(_segments(body))
    return job(started, caller)


@router.get("/segment/jobs/{job_id}")
def get_job(
    caller: Reader, job_id: str, _: Pending | None = until_finished("job_id", JOB_KIND)
) -> dict[str, Any]:
    """What clients poll while the job runs: read from memory while nothing else was
    written (the job's own progress is remembered as it is written)."""
    return job(caller.service.jobs.get(job_id), caller)


@router.delete("/segment/jobs/{job_id}", status_code=204)
def cancel_job(caller: Writer, job_id: str) -> Response:
    """204 once marked for cancelling; 409 when the job has already finished."""
    caller.service.jobs.cancel(job_id)
    return Response(status_code=204)


@router.post("/segment/jobs/bulk-get", status_code=207)
def bulk_get_jobs(caller: Reader, body: Any = Body(...)) -> dict[str, Any]:
    def fetch(ids: list[str]) -> dict[str, dict[str, Any]]:
        found = {}
        for job_id in ids:  # one read each: there is no bulk read of tasks (at most MAX_BULK)
            with contextlib.suppress(NotFoundError):
                found[job_id] = job(caller.service.jobs.get(job_id), caller)
        return found

    return wire.bulk_get(body, fetch, "segment job")

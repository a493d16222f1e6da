"""/config/schedules: AEP's Quartz cron schedules, in UTC unless ``timezone`` says otherwise."""

from __future__ import annotations

from typing import Any

from fastapi import Body, Response
from pydantic import Field

from segmentation.api import wire
from segmentation.api.auth import Caller, Reader, Writer
from segmentation.api.errors import ApiError
from segmentation.api.wire import BAD_REQUEST, Lenient
from segmentation.schedules import Schedule

router = wire.Router(tags=["schedules"])
TYPE = "batch_segmentation"
STATES = {"active": True, "inactive": False}
# JSON-Patch path -> the store's field (AEP has /state and /schedule; /timezone and /name are ours)
PATCHABLE = {"/state": "active", "/schedule": "cron", "/timezone": "timezone", "/name": "name"}


class PropertiesIn(Lenient):
    segments: list[str] = Field(min_length=1)


class ScheduleIn(Lenient):
    name: str
    type: str
    properties: PropertiesIn
    schedule: str
    state: str = "inactive"
    timezone: str = "UTC"  # ours; AEP's cron is always UTC


def schedule(s: Schedule, caller: Caller) -> dict[str, Any]:
    return {
        "id": s.id,
        "imsOrgId": caller.org_id,
        "sandbox": wire.sandbox(caller),
        "name": s.name,
        "state": "active" if s.active else "inactive",
        "type": TYPE,
        "schedule": s.cron,
        "timezone": s.timezone,
        "scheduleDescription": s.description,
        "nextRunTime": int(s.next_run.timestamp() * 1000) if s.next_run else None,
        "properties": {"segments": list(s.segments)},
        "lastRunTime": wire.ms(s.last_run_at),
        "lastJobId": s.last_job_id,
        "lastError": s.last_error,
        "createEpoch": wire.epoch(s.created_at),
        "updateEpoch": wire.epoch(s.updated_at),
    }


def _state(value: Any) -> bool:
    if value not in STATES:
        raise ApiError(400, BAD_REQUEST, f'state {value!r}: use "active" or "inactive".')
    return STATES[value]


@router.get("/config/schedules")
def list_schedules(caller: Reader, start: int = 0, limit: int = 100) -> dict[str, Any]:
    """``start`` is the 0-based page; AEP's ``_links.next`` while more remain."""
    wire.page_window(limit)
    if start < 0:
        raise ApiError(400, BAD_REQUEST, "start must be 0 or more.")
    everything = caller.service.schedules.list()
    items = everything[start * limit : (start + 1) * limit]
    page: dict[str, Any] = {"totalCount": len(everything), "pageSize": len(items)}
    links = {}
    if (start + 1) * limit < len(everything):
        page["next"] = str(start + 1)
        links["next"] = {"href": f"{wire.BASE}/config/schedules?start={start + 1}&limit={limit}"}
    return {"_page": page, "children": [schedule(s, caller) for s in items], "_links": links}


@router.post("/config/schedules")
def create_schedule(caller: Writer, body: ScheduleIn) -> dict[str, Any]:
    if body.type != TYPE:
        raise ApiError(400, BAD_REQUEST, f"type {body.type!r}: the only type here is {TYPE!r}.")
    created = caller.service.schedules.create(
        name=body.name,
        cron=body.schedule,
        segments=body.properties.segments,
        timezone=body.timezone,
        active=_state(body.state),
    )
    return schedule(created, caller)


@router.get("/config/schedules/{schedule_id}")
def get_schedule(caller: Reader, schedule_id: str) -> dict[str, Any]:
    return schedule(caller.service.schedules.get(schedule_id), caller)


def _changes(ops: Any) -> dict[str, Any]:
    """A JSON-Patch list of ``add`` ops -> the store's changes, all checked first."""
    if not isinstance(ops, list) or not ops:
        raise ApiError(
            400, BAD_REQUEST, 'Send a JSON-Patch list: [{"op": "add", "path": "/state", ...}].'
        )
    changes: dict[str, Any] = {}
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or op.get("op") != "add":
            raise ApiError(400, BAD_REQUEST, f'ops[{i}]: the only operation is "add".')
        path = op.get("path")
        if not isinstance(path, str) or path not in PATCHABLE:  # a list is not hashable
            shown = f"path {path!r}" if isinstance(path, str) else "path must be a string"
            raise ApiError(
                400, BAD_REQUEST, f"ops[{i}]: {shown}; use one of {', '.join(PATCHABLE)}."
            )
        if "value" not in op:
            raise ApiError(400, BAD_REQUEST, f"ops[{i}] has no value.")
        value = op["value"]
        if not isinstance(value, str):  # each patchable field is text: a number or null
            # reached the cron parser and the timezone lookup as its repr
            raise ApiError(400, BAD_REQUEST, f"ops[{i}].value must be a string for {path}.")
        changes[PATCHABLE[path]] = _state(value) if path == "/state" else value
    return changes


@router.patch("/config/schedules/{schedule_id}", status_code=204)
def patch_schedule(caller: Writer, schedule_id: str, ops: Any = Body(...)) -> Response:
    """JSON-Patch ``add`` on /state, /schedule (and /timezone, /name); all or nothing."""
    changes = _changes(ops)
    caller.service.schedules.get(schedule_id)
    caller.service.schedules.update(schedule_id, **changes)
    return Response(status_code=204)


@router.delete("/config/schedules/{schedule_id}", status_code=204)
def delete_schedule(caller: Writer, schedule_id: str) -> Response:
    caller.service.schedules.delete(schedule_id)
    return Response(status_code=204)

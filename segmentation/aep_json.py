"""Definitions in Adobe Experience Platform's JSON shape, in and out.

AEP's definition object carries ``name``, ``description``, ``expression``
(``{"type": "PQL", "format": "pql/text", "value": "..."}``), ``evaluationInfo``
and ``schema``. Tags are ours; they travel in ``labels`` which AEP ignores.
Only ``pql/text`` is read: ``pql/json`` is refused by name.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import BaseModel, Field

from segmentation.definitions import Definition
from segmentation.errors import InvalidInputError, UnsupportedError

PROFILE_SCHEMA = {"name": "_xdm.context.profile"}


class AepDefinitionSpec(BaseModel):
    name: str
    description: str = ""
    pql: str
    tags: list[str] = Field(default_factory=list)


def _ms(value: dt.datetime) -> int:
    """Milliseconds since the epoch of a naive UTC time (whatever the machine's zone)."""
    return int(value.replace(tzinfo=dt.UTC).timestamp() * 1000)


def definition_to_aep(d: Definition) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "description": d.description,
        "expression": {"type": "PQL", "format": "pql/text", "value": d.pql},
        "evaluationInfo": {
            "batch": {"enabled": True},
            "continuous": {"enabled": False},
            "synchronous": {"enabled": False},
        },
        "schema": dict(PROFILE_SCHEMA),
        "labels": list(d.tags),
        "version": d.version,
        "creationTime": _ms(d.created_at),
        "updateTime": _ms(d.updated_at),
        "updateEpoch": _ms(d.updated_at) // 1000,
    }


def definitions_to_aep(defs: list[Definition]) -> list[dict[str, Any]]:
    return [definition_to_aep(d) for d in defs]


def _spec_from_object(obj: Any, where: str) -> AepDefinitionSpec:
    if not isinstance(obj, dict):
        raise InvalidInputError(f"{where}: expected a JSON object, found {type(obj).__name__}.")
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"{where}: the definition has no 'name'.")
    expression = obj.get("expression")
    if not isinstance(expression, dict) or not isinstance(expression.get("value"), str):
        raise InvalidInputError(
            f"{where} ({name!r}): 'expression' must be "
            '{"type": "PQL", "format": "pql/text", "value": "..."}.'
        )
    kind, fmt = expression.get("type", "PQL"), expression.get("format", "pql/text")
    if kind != "PQL":
        raise UnsupportedError(f"expression type {kind!r} in {where} ({name!r})")
    if fmt != "pql/text":
        raise UnsupportedError(f"expression format {fmt!r} in {where} ({name!r}); use pql/text")
    tags = obj.get("labels") or obj.get("tags") or []
    description = obj.get("description") or ""
    if not isinstance(description, str):
        raise InvalidInputError(f"{where} ({name!r}): 'description' must be text.")
    return AepDefinitionSpec(
        name=name.strip(),
        description=description,
        pql=expression["value"],
        tags=[str(t) for t in tags] if isinstance(tags, list) else [],
    )


def definitions_from_aep(payload: Any) -> list[AepDefinitionSpec]:
    """One AEP definition object, a list of them, or AEP's ``{"segments": [...]}``."""
    if isinstance(payload, (str, bytes)):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"The file is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
            ) from exc
    if isinstance(payload, dict) and isinstance(payload.get("segments"), list):
        payload = payload["segments"]
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise InvalidInputError("The JSON holds no definitions.")
    specs = [_spec_from_object(obj, f"definition {i + 1}") for i, obj in enumerate(items)]
    names = [s.name.lower() for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInputError(f"The JSON names these definitions twice: {duplicates}.")
    return specs

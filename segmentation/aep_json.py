"""Definitions in Adobe Experience Platform's JSON shape, in and out.

AEP's definition object carries ``name``, ``description``, ``expression``
(``{"type": "PQL", "format": "pql/text", "value": "..."}``), ``evaluationInfo``
and ``schema``. Tags are ours; they travel in ``labels`` which AEP ignores.
Both expression formats are read and written: ``pql/text`` (PQL) and
``pql/json`` (AEP's JSON tree, a JSON document inside the ``value`` string;
see :mod:`segmentation.pql.json_format`). Either becomes the same tree.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from segmentation.definitions import Definition
from segmentation.errors import InvalidInputError, UnsupportedError
from segmentation.pql import to_pql
from segmentation.pql.json_format import from_pql_json, to_pql_json

PROFILE_SCHEMA = {"name": "_xdm.context.profile"}
ExpressionFormat = Literal["pql/text", "pql/json"]
FORMATS = ("pql/text", "pql/json")


class AepDefinitionSpec(BaseModel):
    name: str
    description: str = ""
    pql: str
    tags: list[str] = Field(default_factory=list)
    ttl_days: int | None = None


def _ms(value: dt.datetime) -> int:
    """Milliseconds since the epoch of a naive UTC time (whatever the machine's zone)."""
    return int(value.replace(tzinfo=dt.UTC).timestamp() * 1000)


def expression_to_aep(d: Definition, fmt: ExpressionFormat = "pql/text") -> dict[str, str]:
    """AEP's ``expression`` object of a definition, in either format."""
    if fmt not in FORMATS:
        raise InvalidInputError(f"Unknown expression format {fmt!r}; use pql/text or pql/json.")
    value = d.pql if fmt == "pql/text" else json.dumps(to_pql_json(d.expression))
    return {"type": "PQL", "format": fmt, "value": value}


def definition_to_aep(d: Definition, fmt: ExpressionFormat = "pql/text") -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "description": d.description,
        "expression": expression_to_aep(d, fmt),
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
        "ttlInDays": d.ttl_days,
    }


def definitions_to_aep(
    defs: list[Definition], fmt: ExpressionFormat = "pql/text"
) -> list[dict[str, Any]]:
    return [definition_to_aep(d, fmt) for d in defs]


def _spec_from_object(obj: Any, where: str) -> AepDefinitionSpec:
    if not isinstance(obj, dict):
        raise InvalidInputError(f"{where}: expected a JSON object, found {type(obj).__name__}.")
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"{where}: the definition has no 'name'.")
    expression = obj.get("expression")
    fmt = expression.get("format", "pql/text") if isinstance(expression, dict) else None
    value = expression.get("value") if isinstance(expression, dict) else None
    if not (isinstance(value, str) or (fmt == "pql/json" and isinstance(value, dict))):
        raise InvalidInputError(
            f"{where} ({name!r}): 'expression' must be "
            '{"type": "PQL", "format": "pql/text", "value": "..."}.'
        )
    kind = expression.get("type", "PQL")
    if kind != "PQL":
        raise UnsupportedError(f"expression type {kind!r} in {where} ({name!r})")
    if fmt not in FORMATS:
        raise UnsupportedError(
            f"expression format {fmt!r} in {where} ({name!r}); use pql/text or pql/json"
        )
    if fmt == "pql/json":  # kept as the PQL text of the same tree
        value = to_pql(from_pql_json(value, root=f"{where}.expression.value"))
    tags = obj.get("labels") or obj.get("tags") or []
    description = obj.get("description") or ""
    if not isinstance(description, str):
        raise InvalidInputError(f"{where} ({name!r}): 'description' must be text.")
    ttl = obj.get("ttlInDays")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1):
        raise InvalidInputError(f"{where} ({name!r}): 'ttlInDays' must be a whole number of days.")
    return AepDefinitionSpec(
        name=name.strip(),
        description=description,
        pql=value,
        tags=[str(t) for t in tags] if isinstance(tags, list) else [],
        ttl_days=ttl,
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

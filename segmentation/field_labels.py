"""Display names and descriptions of fields: the words a marketer reads instead of columns.

Every catalog field has a display name, derived from its column name until someone
sets one (``loyaltyTier`` -> "Loyalty tier", ``homeAddress.countryCode`` ->
"Home address › country code"), and an optional description. What people set is
stored in the workspace (table ``field_labels``); the column name stays the real
name everywhere PQL, exports and the API use it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from segmentation.catalog import FieldInfo
from segmentation.errors import ConflictError, InvalidInputError, NotFoundError
from segmentation.store import Database

Source = Literal["profile", "event"]
MAX_NAME = 80
MAX_DESCRIPTION = 500
# Words that read better in capitals than as "Id" or "Utm".
_UPPER = {"id", "ids", "url", "utm", "sms", "ip", "vip", "ltv", "aov", "sku", "api", "uuid"}


class FieldLabel(BaseModel):
    name: str  # the real column name
    source: Source
    display_name: str
    description: str = ""
    custom: bool = False  # True when someone set it, False for the derived default


def _words(part: str) -> list[str]:
    """``loyaltyTier`` / ``loyalty_tier`` / ``LTVScore`` -> ["loyalty", "tier"] / ... ."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", part)
    return [w for w in re.split(r"[\s_\-]+", spaced) if w]


def default_display_name(name: str) -> str:
    """The name a column gets until someone picks one; dotted paths read outside in."""
    parts = []
    for part in name.split("."):
        words = [w.upper() if w.lower() in _UPPER else w.lower() for w in _words(part)]
        parts.append(" ".join(words) or part)
    text = " › ".join(parts)
    return text[:1].upper() + text[1:]


def _stored(db: Database) -> dict[tuple[str, str], tuple[str, str]]:
    rows = db.rows("SELECT source, name, display_name, description FROM field_labels")
    return {
        (source, name): (display, description or "") for source, name, display, description in rows
    }


def labels(db: Database, fields: list[FieldInfo]) -> list[FieldLabel]:
    """One label per catalog field, in catalog order: the stored one, else the default."""
    stored = _stored(db)
    out = []
    for f in fields:
        found = stored.get((f.source, f.name))
        if found is not None:
            out.append(
                FieldLabel(
                    name=f.name,
                    source=f.source,
                    display_name=found[0],
                    description=found[1],
                    custom=True,
                )
            )
        else:
            out.append(
                FieldLabel(name=f.name, source=f.source, display_name=default_display_name(f.name))
            )
    return _disambiguate(out)


def _disambiguate(items: list[FieldLabel]) -> list[FieldLabel]:
    """Two defaults that read the same (``loyalty_tier``, ``loyaltyTier``) show their names."""
    seen: dict[tuple[str, str], int] = {}
    for item in items:
        key = (item.source, item.display_name.lower())
        seen[key] = seen.get(key, 0) + 1
    return [
        item.model_copy(update={"display_name": f"{item.display_name} ({item.name})"})
        if seen[(item.source, item.display_name.lower())] > 1 and not item.custom
        else item
        for item in items
    ]


def set_label(
    db: Database,
    fields: list[FieldInfo],
    name: str,
    *,
    source: Source = "profile",
    display_name: str,
    description: str = "",
) -> FieldLabel:
    """Store a field's display name and description; an empty display name resets it.

    Refused: a field not in the catalog, a name or description over the limits, and a
    display name another field of the same source already shows (two fields must
    never read the same).
    """
    field = next((f for f in fields if f.name == name and f.source == source), None)
    if field is None:
        raise NotFoundError(f"no {source} field {name!r} in the catalog")
    display = " ".join(display_name.split())
    description = description.strip()
    if len(display) > MAX_NAME:
        raise InvalidInputError(
            f"display name of {name!r}: {len(display)} characters, at most {MAX_NAME}"
        )
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInputError(
            f"description of {name!r}: {len(description)} characters, at most {MAX_DESCRIPTION}"
        )
    if not display and not description:
        with db.write() as tx:
            tx.execute("DELETE FROM field_labels WHERE source = ? AND name = ?", [source, name])
        return next(lbl for lbl in labels(db, fields) if lbl.name == name and lbl.source == source)
    display = display or default_display_name(name)
    clash = next(
        (
            lbl
            for lbl in labels(db, fields)
            if lbl.source == source
            and lbl.name != name
            and lbl.display_name.lower() == display.lower()
        ),
        None,
    )
    if clash is not None:
        raise ConflictError(
            f"display name {display!r} is already used by the {source} field {clash.name!r}; "
            "pick another so the two can be told apart"
        )
    now = datetime.now(UTC).replace(tzinfo=None)
    with db.write() as tx:
        tx.execute("DELETE FROM field_labels WHERE source = ? AND name = ?", [source, name])
        tx.execute(
            "INSERT INTO field_labels VALUES (?, ?, ?, ?, ?)",
            [source, name, display, description, now],
        )
    return FieldLabel(
        name=name, source=source, display_name=display, description=description, custom=True
    )

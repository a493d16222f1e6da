"""Times as the workspace stores them: naive, in UTC."""

from __future__ import annotations

import datetime as dt

from segmentation.errors import InvalidInputError


def naive_utc(value: dt.datetime, what: str = "time") -> dt.datetime:
    """``value`` in UTC without its offset; a time whose UTC falls outside years 1-9999
    (``9999-12-31T23:59:59-01:00``) is refused, not an OverflowError."""
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError as exc:
        raise InvalidInputError(
            f"The {what} {value.isoformat()} is out of range in UTC; give one between the "
            "years 1 and 9999."
        ) from exc

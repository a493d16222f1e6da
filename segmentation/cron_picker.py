"""Schedules in words: "every weekday at 07:30" <-> the Quartz cron AEP uses.

The Schedules page offers four shapes (every day, every weekday, once a week on a
day, once a month on a day or its last day) at a time of day; this module turns
a pick into cron and reads a cron back into a pick when it has one of those
shapes (None otherwise: the page then shows the cron as typed, for power users).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from segmentation.cron import parse_cron
from segmentation.errors import InvalidInputError

Frequency = Literal["daily", "weekdays", "weekly", "monthly"]
WEEKDAYS = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
LAST_DAY = 0  # day_of_month 0 means the month's last day (Quartz "L")


class SchedulePick(BaseModel):
    frequency: Frequency
    hour: int = Field(ge=0, le=23)
    minute: int = Field(ge=0, le=59)
    weekday: str | None = None  # MON..SUN, weekly only
    day_of_month: int | None = Field(default=None, ge=0, le=31)  # 1-31 or LAST_DAY, monthly

    @model_validator(mode="after")
    def _needs_its_day(self) -> SchedulePick:
        if self.frequency == "weekly" and self.weekday not in WEEKDAYS:
            raise ValueError(f"a weekly schedule needs a day, one of {', '.join(WEEKDAYS)}")
        if self.frequency == "monthly" and self.day_of_month is None:
            raise ValueError("a monthly schedule needs a day of the month (1-31, or last)")
        return self


def to_cron(pick: SchedulePick) -> str:
    """The Quartz cron of a pick: ``0 30 7 ? * MON-FRI`` for weekdays at 07:30."""
    head = f"0 {pick.minute} {pick.hour}"
    if pick.frequency == "daily":
        return f"{head} ? * *"
    if pick.frequency == "weekdays":
        return f"{head} ? * MON-FRI"
    if pick.frequency == "weekly":
        return f"{head} ? * {pick.weekday}"
    day = "L" if pick.day_of_month == LAST_DAY else str(pick.day_of_month)
    return f"{head} {day} * ?"


def build(frequency: str, hour: int, minute: int, **days: object) -> str:
    """``to_cron`` from loose values (a form), with a SegmentationError for bad ones."""
    try:
        pick = SchedulePick(frequency=frequency, hour=hour, minute=minute, **days)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        first = exc.errors()[0] if hasattr(exc, "errors") else {"msg": str(exc)}
        where = ".".join(str(p) for p in first.get("loc", ())) or "schedule"
        raise InvalidInputError(f"schedule {where}: {first['msg']}") from None
    return to_cron(pick)


_QUARTZ = re.compile(r"^0 (\d{1,2}) (\d{1,2}) (\S+) \* (\S+)$")


def from_cron(cron: str) -> SchedulePick | None:
    """The pick a cron stands for, or None when it has another shape."""
    try:
        spec = parse_cron(cron)
    except InvalidInputError:
        return None
    match = _QUARTZ.match(" ".join(spec.text.split()).upper())
    if spec.dialect != "quartz" or match is None:
        return None
    minute, hour, dom, dow = int(match[1]), int(match[2]), match[3], match[4]
    if hour > 23 or minute > 59:
        return None
    if dom in ("?", "*") and dow in ("*", "?"):
        return SchedulePick(frequency="daily", hour=hour, minute=minute)
    if dom in ("?", "*") and dow == "MON-FRI":
        return SchedulePick(frequency="weekdays", hour=hour, minute=minute)
    if dom in ("?", "*") and dow in WEEKDAYS:
        return SchedulePick(frequency="weekly", hour=hour, minute=minute, weekday=dow)
    if dow in ("?", "*") and (dom == "L" or (dom.isdigit() and 1 <= int(dom) <= 31)):
        day = LAST_DAY if dom == "L" else int(dom)
        return SchedulePick(frequency="monthly", hour=hour, minute=minute, day_of_month=day)
    return None

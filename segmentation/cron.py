"""Cron for schedules: AEP's Quartz cron and the usual 5-field cron.

Two dialects are accepted, told apart by the number of fields:

* Quartz (6 or 7 fields): ``sec min hour day-of-month month day-of-week [year]``,
  day-of-week 1-7 = SUN-SAT, with ``?``, ``L``, ``W``, ``LW``, ``nL`` and ``n#k``.
  One of the two day fields must be ``?`` or ``*`` (Quartz itself insists on
  ``?``; a ``*`` is accepted too because its meaning is plain).
* Unix (5 fields): ``min hour day-of-month month day-of-week``, day-of-week
  0-7 with 0 and 7 = SUN; when both day fields are restricted a day matching
  either fires (Vixie cron's rule).

This module checks every field itself, so that an error names the field, and
expands it to explicit values in croniter's own numbering. croniter then only
has to find matching wall-clock times, and :func:`next_runs` maps those to
instants in the schedule's timezone with the DST rules below.

DST (the rules of :func:`next_runs`):

* A wall-clock time that does not exist (the hour skipped in spring) runs once,
  shifted forward by the length of the gap: a daily 02:30 in Europe/Berlin runs
  at 03:30 CEST on the last Sunday of March (what Quartz and java.time do). When
  the shifted time is also a time of the schedule (an hourly job at 03:30) it
  runs once.
* A wall-clock time that happens twice (the hour repeated in autumn) runs once,
  at its first occurrence, unless the schedule fires every hour: then it follows
  the clock through both passes, so an hourly job still runs every hour.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import ExpressionDescriptor, Options
from croniter import CroniterBadDateError, croniter

from segmentation.errors import InvalidInputError

Dialect = Literal["quartz", "unix"]

MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
        start=1,
    )
}
_DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
QUARTZ_DAY_NAMES = {name: number for number, name in enumerate(_DAY_NAMES, start=1)}
UNIX_DAY_NAMES = {name: number for number, name in enumerate(_DAY_NAMES)}

_MAX_CANDIDATES = 100_000


@dataclass(frozen=True)
class _Field:
    name: str
    lo: int
    hi: int
    names: dict[str, int] | None = None

    @property
    def range_text(self) -> str:
        return f"{self.lo}-{self.hi}"


_SECOND = _Field("second", 0, 59)
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DOM = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, MONTH_NAMES)
_QUARTZ_DOW = _Field("day-of-week", 1, 7, QUARTZ_DAY_NAMES)
_UNIX_DOW = _Field("day-of-week", 0, 7, UNIX_DAY_NAMES)
_YEAR = _Field("year", 1970, 2099)

_QUARTZ_FIELDS = (_SECOND, _MINUTE, _HOUR, _DOM, _MONTH, _QUARTZ_DOW, _YEAR)
_UNIX_FIELDS = (_MINUTE, _HOUR, _DOM, _MONTH, _UNIX_DOW)


@dataclass(frozen=True)
class CronSpec:
    """A checked cron expression.

    ``text`` is the expression as given (whitespace tidied, upper case);
    ``expression`` is the same schedule for croniter, seconds first, in
    croniter's numbering (day-of-week 0 = SUN).
    """

    text: str
    dialect: Dialect
    expression: str
    every_hour: bool
    _descriptor_text: str

    def __str__(self) -> str:
        return self.text


class _FieldError(Exception):
    """A problem inside one field; parse_cron adds the field's place and name."""


# --- parsing -----------------------------------------------------------------------


def parse_cron(text: str) -> CronSpec:
    """Check a cron expression (Quartz 6/7 fields or Unix 5 fields).

    Raises InvalidInputError naming the field that is wrong.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError("cron is empty; e.g. '0 0 1 * * ?' (every day at 01:00)")
    tokens = text.upper().split()
    if len(tokens) in (6, 7):
        dialect: Dialect = "quartz"
        fields = _QUARTZ_FIELDS[: len(tokens)]
    elif len(tokens) == 5:
        dialect = "unix"
        fields = _UNIX_FIELDS
    else:
        raise InvalidInputError(
            f"cron '{text.strip()}' has {len(tokens)} field(s); expected 6 or 7 "
            "(sec min hour day-of-month month day-of-week [year], e.g. '0 0 1 * * ?') "
            "or 5 (min hour day-of-month month day-of-week)"
        )

    parsed: dict[str, str | list[int]] = {}
    for position, (field, token) in enumerate(zip(fields, tokens, strict=True), start=1):
        try:
            parsed[field.name] = _parse_field(field, token, dialect)
        except _FieldError as exc:
            raise InvalidInputError(f"cron field {position} ({field.name}) {exc}") from None

    dom_token = tokens[fields.index(_DOM)]
    dow_token = tokens[fields.index(_QUARTZ_DOW if dialect == "quartz" else _UNIX_DOW)]
    _check_day_fields(dialect, fields, dom_token, dow_token)
    if parsed["day-of-week"] == "*":
        _check_day_can_occur(parsed["day-of-month"], parsed["month"])

    second = parsed["second"] if dialect == "quartz" else [0]
    croniter_fields = [
        _emit(second, _SECOND),
        _emit(parsed["minute"], _MINUTE),
        _emit(parsed["hour"], _HOUR),
        _emit(parsed["day-of-month"], _DOM),
        _emit(parsed["month"], _MONTH),
        _emit(parsed["day-of-week"], _Field("day-of-week", 0, 6)),
    ]
    year = parsed.get("year", "*")
    if year != "*":
        croniter_fields.append(_emit(year, _YEAR))

    descriptor_tokens = list(tokens)
    if dialect == "quartz" and dow_token == "L":
        descriptor_tokens[5] = "7"  # a bare L in day-of-week is Saturday
    return CronSpec(
        text=" ".join(tokens),
        dialect=dialect,
        expression=" ".join(croniter_fields),
        every_hour=parsed["hour"] == "*" or set(parsed["hour"]) == set(range(24)),
        _descriptor_text=" ".join(descriptor_tokens),
    )


def _parse_field(field: _Field, token: str, dialect: Dialect) -> str | list[int]:
    """'*' for an unrestricted field, a croniter special, or the sorted values.

    Day-of-week values come back in croniter's numbering (0 = SUN).
    """
    if token == "?":
        if field not in (_DOM, _QUARTZ_DOW, _UNIX_DOW):
            raise _FieldError("'?' is only allowed in day-of-month or day-of-week")
        return "*"
    if token == "*":
        return "*"
    if field is _DOM:
        special = _day_of_month_special(token)
        if special is not None:
            return special
    if field in (_QUARTZ_DOW, _UNIX_DOW):
        special = _day_of_week_special(field, token, dialect)
        if special is not None:
            return special
    values: set[int] = set()
    for item in token.split(","):
        if not item:
            raise _FieldError(f"'{token}' has an empty item in its list")
        values.update(_expand_item(field, item, token))
    if field in (_QUARTZ_DOW, _UNIX_DOW):
        values = {_to_croniter_weekday(value, dialect) for value in values}
    return sorted(values)


def _day_of_month_special(token: str) -> str | None:
    if "L" not in token and "W" not in token:
        return None
    if "," in token or "/" in token:
        raise _FieldError(f"'{token}': L and W must stand alone, not in a list or step")
    if token == "L":
        return "l"
    if token == "LW":
        # croniter caps nW at the month's last day and keeps it inside the
        # month, so 31W is exactly Quartz's "last weekday of the month".
        return "31w"
    if token.startswith("L-"):
        raise _FieldError(
            f"'{token}': offsets from the last day (L-n) are not supported; use L or LW"
        )
    match = re.fullmatch(r"(\d+)W", token)
    if match:
        day = int(match.group(1))
        if not _DOM.lo <= day <= _DOM.hi:
            raise _FieldError(f"'{match.group(1)}' is out of range {_DOM.range_text}")
        return f"{day}w"
    raise _FieldError(
        f"'{token}' is not a valid day-of-month; use 1-31, L (last day), "
        "LW (last weekday) or nW (weekday nearest day n)"
    )


def _day_of_week_special(field: _Field, token: str, dialect: Dialect) -> str | None:
    if "L" not in token and "#" not in token:
        return None
    if "," in token or "/" in token or "-" in token:
        raise _FieldError(f"'{token}': L and # must stand alone, not in a list, range or step")
    if token == "L":
        if dialect == "unix":
            raise _FieldError("'L' alone is Quartz only; use 6 (Saturday) or e.g. 5L")
        return "6"  # Quartz: a bare L in day-of-week is the last day of the week, SAT
    match = re.fullmatch(r"(\w+)L", token)
    if match:
        day = _value(field, match.group(1))
        return f"l{_to_croniter_weekday(day, dialect)}"
    match = re.fullmatch(r"(\w+)#(\w*)", token)
    if match:
        day = _value(field, match.group(1))
        nth = match.group(2)
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise _FieldError(f"'{token}': the week after '#' must be 1-5")
        return f"{_to_croniter_weekday(day, dialect)}#{int(nth)}"
    raise _FieldError(
        f"'{token}' is not a valid day-of-week; use e.g. MON, 2-6, 6L (last Friday) "
        "or 6#3 (third Friday)"
        if dialect == "quartz"
        else f"'{token}' is not a valid day-of-week; use e.g. MON, 1-5, 5L or 5#3"
    )


def _expand_item(field: _Field, item: str, token: str) -> list[int]:
    """Values of one list item: 'n', 'a-b', '*/s', 'a/s', 'a-b/s'."""
    base, step = item, 1
    if "/" in item:
        base, _, step_text = item.partition("/")
        span = field.hi - field.lo + 1
        if not step_text.isdigit() or not 1 <= int(step_text) <= span:
            raise _FieldError(f"'{item}': the step after '/' must be a whole number 1-{span}")
        step = int(step_text)
        if not base:
            raise _FieldError(f"'{item}' needs a start before '/', e.g. 0/{step_text}")
    if base == "*":
        start, end = field.lo, field.hi
    elif "-" in base:
        first, _, last = base.partition("-")
        if not first or not last:
            raise _FieldError(f"'{item}' is not a valid range; e.g. 1-5")
        start, end = _value(field, first), _value(field, last)
    else:
        start = _value(field, base)
        end = field.hi if "/" in item else start
    span = field.hi - field.lo + 1
    if end < start and field is _YEAR:
        raise _FieldError(f"'{item}' runs backwards; write the earlier year first")
    # a range that runs past the top of the field wraps around (FRI-MON, 22-2)
    length = (end - start) % span if end < start else end - start
    return [field.lo + (start - field.lo + offset) % span for offset in range(0, length + 1, step)]


def _value(field: _Field, text: str) -> int:
    if text.isdigit():
        value = int(text)
        if not field.lo <= value <= field.hi:
            raise _FieldError(f"'{text}' is out of range {field.range_text}")
        return value
    if field.names and text in field.names:
        return field.names[text]
    names = field.names
    hint = f" or a name {next(iter(names))}-{list(names)[-1]}" if names else ""
    raise _FieldError(f"'{text}' is not a number {field.range_text}{hint}")


def _to_croniter_weekday(value: int, dialect: Dialect) -> int:
    # Quartz counts SUN=1..SAT=7, croniter (like Unix) SUN=0..SAT=6; Unix 7 is SUN too.
    return value - 1 if dialect == "quartz" else value % 7


def _check_day_fields(
    dialect: Dialect, fields: tuple[_Field, ...], dom_token: str, dow_token: str
) -> None:
    if dialect != "quartz":
        return
    dom_place, dow_place = fields.index(_DOM) + 1, fields.index(_QUARTZ_DOW) + 1
    where = f"cron fields {dom_place} (day-of-month) and {dow_place} (day-of-week)"
    if dom_token == "?" and dow_token == "?":
        raise InvalidInputError(
            f"{where} are both '?'; give a value in one of them, e.g. '0 0 1 * * ?'"
        )
    if dom_token not in ("?", "*") and dow_token not in ("?", "*"):
        raise InvalidInputError(
            f"{where} both restrict the day ('{dom_token}' and '{dow_token}'); "
            "Quartz cron needs '?' in one of them"
        )


def _check_day_can_occur(days: str | list[int], months: str | list[int]) -> None:
    if not isinstance(days, list):
        return
    month_list = list(range(1, 13)) if months == "*" else months
    longest = max(calendar.monthrange(2000, month)[1] for month in month_list)  # leap year
    if min(days) > longest:
        names = ", ".join(calendar.month_name[month] for month in month_list)
        raise InvalidInputError(
            f"cron day-of-month {', '.join(map(str, days))} never occurs in {names}"
        )


def _emit(values: str | list[int], field: _Field) -> str:
    if isinstance(values, str):
        return values
    if values == list(range(field.lo, field.hi + 1)):
        return "*"
    return ",".join(str(value) for value in values)


# --- time zones and next times -----------------------------------------------------


MAX_ZONE_NAME = 64


def zone(name: str) -> ZoneInfo:
    """The IANA timezone ``name``; InvalidInputError when it does not exist."""
    if isinstance(name, str) and len(name) > MAX_ZONE_NAME:
        # the name becomes a file path: a long one is OSError "File name too long"
        raise InvalidInputError(
            f"unknown timezone '{name[:40]}...' ({len(name):,} characters; IANA names "
            f"are at most {MAX_ZONE_NAME}); e.g. Europe/Berlin"
        )
    try:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(name)
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise InvalidInputError(f"unknown timezone '{name}'; e.g. Europe/Berlin") from None


def check_timezone(name: str) -> str:
    """The timezone name, tidied, after checking that it exists."""
    return zone(name).key


def as_spec(spec_or_text: CronSpec | str) -> CronSpec:
    return spec_or_text if isinstance(spec_or_text, CronSpec) else parse_cron(spec_or_text)


def next_runs(spec_or_text: CronSpec | str, tz: str, after: datetime, n: int) -> list[datetime]:
    """The next ``n`` run times strictly after ``after``, as aware datetimes in ``tz``.

    ``after`` may be aware (any zone) or naive (read as UTC, the workspace's
    convention). Fewer than ``n`` come back when the schedule ends (a year field
    in the past). DST is handled as described in this module's docstring.
    """
    spec = as_spec(spec_or_text)
    tzinfo = zone(tz)
    if n <= 0:
        return []
    after_utc = _naive_utc(after)
    offsets = [_offset(tzinfo, after_utc + timedelta(days=d)) for d in (-1, 0, 1)]
    # the earliest wall-clock time that can still map to an instant after `after`
    start = after_utc + min(offsets)
    walls = croniter(spec.expression, start, second_at_beginning=True, day_or=True)
    found: set[datetime] = set()
    for _ in range(_MAX_CANDIDATES):
        try:
            wall = walls.get_next(datetime)
        except CroniterBadDateError:
            break
        for instant in _instants(wall, tzinfo, both_folds=spec.every_hour):
            if instant > after_utc:
                found.add(instant)
        # every later wall time maps to an instant after this bound: the largest
        # UTC offset within a day either side covers any DST jump close by
        largest = max(_offset(tzinfo, wall + timedelta(days=d)) for d in (-1, 0, 1))
        bound = wall - largest
        if len(found) >= n and bound > sorted(found)[n - 1]:
            break
    return [instant.replace(tzinfo=UTC).astimezone(tzinfo) for instant in sorted(found)[:n]]


def _instants(wall: datetime, tzinfo: ZoneInfo, *, both_folds: bool) -> list[datetime]:
    """Naive-UTC instants at which wall-clock time ``wall`` happens in ``tzinfo``."""
    first = wall.replace(tzinfo=tzinfo, fold=0)
    second = wall.replace(tzinfo=tzinfo, fold=1)
    first_utc = _naive_utc(first)
    exists = first.astimezone(UTC).astimezone(tzinfo).replace(tzinfo=None) == wall
    if not exists:
        # in the spring gap fold=0 reads the time with the offset from before
        # the gap, which lands the length of the gap later (02:30 -> 03:30)
        return [first_utc]
    second_utc = _naive_utc(second)
    if second_utc != first_utc and both_folds:
        return [first_utc, second_utc]
    return [min(first_utc, second_utc)]


def _offset(tzinfo: ZoneInfo, naive_utc: datetime) -> timedelta:
    return naive_utc.replace(tzinfo=UTC).astimezone(tzinfo).utcoffset() or timedelta(0)


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


# --- words -------------------------------------------------------------------------


def describe(text: CronSpec | str) -> str:
    """The schedule in words, e.g. 'At 01:00, every day'."""
    spec = as_spec(text)
    options = Options(
        day_of_week_start_index_zero=spec.dialect == "unix",
        use_24hour_time_format=True,
        locale_code="en_US",
        verbose=True,
    )
    try:
        return ExpressionDescriptor(spec._descriptor_text, options).get_description()
    except Exception:  # words are a nicety; the cron itself is valid
        return f"cron {spec.text}"

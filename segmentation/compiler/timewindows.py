"""Time points and ``occurs`` windows, computed in Python in the workspace timezone.

Every boundary that depends on ``as_of`` is worked out here with zoneinfo and
handed to SQL as a naive UTC instant (or, for DATE columns, a local date), so
the SQL never depends on the session's timezone setting.

A time point is a *span*: an instant (``now``, a timestamp) or a period
[start, end) (``today``, ``last month``, a date). Windows are then:

- ``before X``: t < start(X)
- ``after X``: t >= end(X) for a period, t > X for an instant
- ``on X``: start(X) <= t < end(X) (t = X for an instant)
- ``between A and B``: start(A) <= t and t < end(B) (t <= B for an instant)
- ``<= N units before X``: X - N <= t <= X, ``> N units before X``: t < X - N,
  ``= N``: X - (N+1) < t <= X - N (whole units); ``after``/``from`` mirror it.

Units of a day or more move the local wall clock (calendar months and years,
DST-aware days); smaller units are exact durations.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from segmentation.errors import InvalidInputError
from segmentation.model import (
    Anchor,
    BetweenWindow,
    DateLit,
    DateTimeLit,
    Period,
    PointWindow,
    RelativeWindow,
)

UTC = dt.UTC

_SMALL = {
    "millisecond": dt.timedelta(milliseconds=1),
    "second": dt.timedelta(seconds=1),
    "minute": dt.timedelta(minutes=1),
    "hour": dt.timedelta(hours=1),
}
_CALENDAR = {
    "day": relativedelta(days=1),
    "week": relativedelta(weeks=1),
    "month": relativedelta(months=1),
    "year": relativedelta(years=1),
    "decade": relativedelta(years=10),
    "century": relativedelta(years=100),
    "millennium": relativedelta(years=1000),
}
# DuckDB interval constructors for shifts of a SQL (column) anchor.
SQL_INTERVAL_FN = {
    "millisecond": ("to_milliseconds", 1),
    "second": ("to_seconds", 1),
    "minute": ("to_minutes", 1),
    "hour": ("to_hours", 1),
    "day": ("to_days", 1),
    "week": ("to_days", 7),
    "month": ("to_months", 1),
    "year": ("to_years", 1),
    "decade": ("to_years", 10),
    "century": ("to_years", 100),
    "millennium": ("to_years", 1000),
}


@dataclass(frozen=True)
class SqlTime:
    """A time given by SQL (a column used as an anchor) rather than by a value."""

    sql: str
    kind: str  # "date" | "timestamp" | "timestamptz"


TimeValue = dt.datetime | SqlTime  # datetimes are naive UTC instants


@dataclass(frozen=True)
class Span:
    start: TimeValue
    end: TimeValue | None = None  # None: an instant

    @property
    def is_instant(self) -> bool:
        return self.end is None

    @property
    def stop(self) -> TimeValue:
        return self.start if self.end is None else self.end


class Clock:
    """``as_of`` (naive UTC) seen from the workspace timezone."""

    def __init__(self, as_of: dt.datetime, timezone: str) -> None:
        if as_of.tzinfo is not None:
            as_of = as_of.astimezone(UTC).replace(tzinfo=None)
        self.as_of = as_of
        try:
            self.tz = ZoneInfo(timezone)
        except Exception as exc:  # ZoneInfoNotFoundError, ValueError on odd keys
            raise InvalidInputError(f"Unknown timezone {timezone!r}: use an IANA name.") from exc

    def local(self, instant: dt.datetime) -> dt.datetime:
        return _saturating(
            lambda: instant.replace(tzinfo=UTC).astimezone(self.tz).replace(tzinfo=None), instant
        )

    def utc(self, local: dt.datetime) -> dt.datetime:
        return _saturating(
            lambda: local.replace(tzinfo=self.tz).astimezone(UTC).replace(tzinfo=None), local
        )

    def local_date(self, instant: dt.datetime) -> dt.date:
        return self.local(instant).date()

    @property
    def today(self) -> dt.date:
        return self.local_date(self.as_of)

    def shift(self, instant: dt.datetime, amount: int, unit: str) -> dt.datetime:
        """``instant`` moved by ``amount`` units; past the calendar's ends it stays at the
        end (every stored time lies inside, so the window means the same)."""
        end = dt.datetime.max if amount > 0 else dt.datetime.min
        if unit in _SMALL:
            return _saturating(lambda: instant + _SMALL[unit] * amount, end)
        return self.utc(_saturating(lambda: self.local(instant) + _CALENDAR[unit] * amount, end))

    def day_span(self, day: dt.date) -> Span:
        start = dt.datetime.combine(day, dt.time())
        end = _saturating(lambda: start + dt.timedelta(days=1), start)
        return Span(self.utc(start), self.utc(end))

    def period(self, which: str, unit: str) -> Span:
        local = self.local(self.as_of)
        start = _truncate(local, unit)
        step = {"this": 0, "last": -1, "next": 1}[which]
        if unit in _SMALL:
            start = start + _SMALL[unit] * step
            return Span(self.utc(start), self.utc(start + _SMALL[unit]))
        start = _saturating(lambda: start + _CALENDAR[unit] * step, start)
        end = _saturating(lambda: start + _CALENDAR[unit], start)
        return Span(self.utc(start), self.utc(end))

    def anchor(self, name: str) -> Span:
        if name == "now":
            return Span(self.as_of)
        offset = {"today": 0, "yesterday": -1, "tomorrow": 1}[name]
        return self.day_span(self.today + dt.timedelta(days=offset))


def _saturating(compute: Callable[[], dt.datetime], near: dt.datetime) -> dt.datetime:
    """``compute()``, or the calendar's last (first) instant when it runs past the end
    (start) of year 9999 (1): ``date(9999, 12, 31)`` is a common "no end" value and
    its day ends one microsecond after Python's last datetime."""
    try:
        return compute()
    except (OverflowError, ValueError):
        return dt.datetime.max if near.year > 5000 else dt.datetime.min


def _truncate(local: dt.datetime, unit: str) -> dt.datetime:
    if unit == "millisecond":
        return local.replace(microsecond=local.microsecond // 1000 * 1000)
    if unit == "second":
        return local.replace(microsecond=0)
    if unit == "minute":
        return local.replace(second=0, microsecond=0)
    if unit == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        return day
    if unit == "week":  # weeks start on Monday
        return day - dt.timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    years = {"year": 1, "decade": 10, "century": 100, "millennium": 1000}[unit]
    return day.replace(year=max(1, day.year // years * years), month=1, day=1)


def literal_span(clock: Clock, node: object) -> Span | None:
    """The span of a time point given by a value; None for a field reference."""
    if isinstance(node, Anchor):
        return clock.anchor(node.name)
    if isinstance(node, Period):
        return clock.period(node.which, node.unit)
    if isinstance(node, DateLit):
        return clock.day_span(node.value)
    if isinstance(node, DateTimeLit):
        value = node.value
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return Span(value)
    return None


Cmp = Callable[[str, TimeValue], str]  # (operator, bound) -> SQL "t <op> bound"
Shift = Callable[[TimeValue, int, str], TimeValue]


def window_sql(window: object, span: Span, cmp: Cmp, shift: Shift) -> str:
    """SQL for ``t`` in ``window`` around ``span``; ``cmp`` renders one comparison."""
    if isinstance(window, PointWindow):
        if window.direction == "before":
            return cmp("<", span.start)
        if window.direction == "after":
            return cmp(">", span.start) if span.is_instant else cmp(">=", span.stop)
        if span.is_instant:
            return cmp("=", span.start)
        return _and(cmp(">=", span.start), cmp("<", span.stop))
    if isinstance(window, RelativeWindow):
        return _relative(window, span.start, cmp, shift)
    raise TypeError(type(window).__name__)


def between_sql(window: BetweenWindow, start: Span, end: Span, cmp: Cmp) -> str:
    upper = cmp("<=", end.start) if end.is_instant else cmp("<", end.stop)
    return _and(cmp(">=", start.start), upper)


def _relative(w: RelativeWindow, anchor: TimeValue, cmp: Cmp, shift: Shift) -> str:
    n, unit = w.amount, w.unit
    if w.direction == "before":
        near, far, far_next = anchor, shift(anchor, -n, unit), shift(anchor, -(n + 1), unit)
        return {
            "<=": lambda: _and(cmp(">=", far), cmp("<=", near)),
            "<": lambda: _and(cmp(">", far), cmp("<=", near)),
            ">=": lambda: cmp("<=", far),
            ">": lambda: cmp("<", far),
            "=": lambda: _and(cmp(">", far_next), cmp("<=", far)),
            "!=": lambda: _and(
                cmp("<=", near), "(" + cmp(">", far) + " OR " + cmp("<=", far_next) + ")"
            ),
        }[w.cmp]()
    near, far, far_next = anchor, shift(anchor, n, unit), shift(anchor, n + 1, unit)
    return {
        "<=": lambda: _and(cmp(">=", near), cmp("<=", far)),
        "<": lambda: _and(cmp(">=", near), cmp("<", far)),
        ">=": lambda: cmp(">=", far),
        ">": lambda: cmp(">", far),
        "=": lambda: _and(cmp(">=", far), cmp("<", far_next)),
        "!=": lambda: _and(
            cmp(">=", near), "(" + cmp("<", far) + " OR " + cmp(">=", far_next) + ")"
        ),
    }[w.cmp]()


def _and(a: str, b: str) -> str:
    return f"({a} AND {b})"


SpanOf = Callable[[object], Span | None]


def window_floor(window: object, span_of: SpanOf, shift: Shift) -> dt.datetime | None:
    """An instant no later than any time ``window`` admits; None when unbounded below.

    Mirrors ``window_sql``/``between_sql``/``_relative``: used only to prune scans
    (``t >= floor`` is implied by the window), so a looser bound is always safe.
    ``span_of`` gives a point's span, or None when the point is a field.
    """
    if isinstance(window, BetweenWindow):
        start = span_of(window.start)
        return _instant(start.start) if start is not None else None
    span = span_of(getattr(window, "anchor", None))
    if span is None or _instant(span.start) is None:
        return None
    if isinstance(window, PointWindow):
        if window.direction == "before":
            return None
        if window.direction == "after" and not span.is_instant:
            return _instant(span.stop)
        return span.start
    if not isinstance(window, RelativeWindow):
        return None
    n, unit, anchor = window.amount, window.unit, span.start
    if window.direction == "before":
        if window.cmp in ("<=", "<"):
            return _instant(shift(anchor, -n, unit))
        if window.cmp == "=":
            return _instant(shift(anchor, -(n + 1), unit))
        return None
    if window.cmp in (">=", ">", "="):
        return _instant(shift(anchor, n, unit))
    return anchor


def _instant(value: TimeValue | None) -> dt.datetime | None:
    return value if isinstance(value, dt.datetime) else None

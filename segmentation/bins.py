"""Value ranges for a breakdown by a number or a date: one bar per distinct amount or
day (each of size 1, in no order) tells a marketer nothing; ranges in order do.

:func:`bins` turns the column's smallest and largest value among the members into SQL
that numbers each member's range (portable: ``floor``, ``year``, ``quarter`` and
``month`` read the same in DuckDB and Spark SQL) and a label for each number.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TARGET_BINS = 10
MONTHS_BY_MONTH, MONTHS_BY_QUARTER = 18, 60


@dataclass(frozen=True)
class Bins:
    sql: str  # a whole number per range, NULL for a missing value
    label: Callable[[int], str]


def bins(column_sql: str, kind: str, lo: Any, hi: Any) -> Bins | None:
    """Ranges of about :data:`TARGET_BINS` for ``kind`` number, date or timestamp; None
    when there is nothing to split (no values, or one)."""
    if lo is None or hi is None or lo == hi:
        return None
    if kind == "number":
        return _number_bins(column_sql, float(lo), float(hi))
    if kind in ("date", "timestamp"):
        return _date_bins(column_sql, lo, hi)
    return None


def _number_bins(column_sql: str, lo: float, hi: float) -> Bins:
    width = nice_width((hi - lo) / TARGET_BINS)
    return Bins(
        sql=f"CAST(floor({column_sql} / {width!r}) AS BIGINT)",
        label=lambda k: f"{_amount(k * width)} to {_amount((k + 1) * width)}",
    )


def nice_width(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``raw``: ranges people read at a glance."""
    power = 10 ** math.floor(math.log10(raw))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= raw)


def _amount(value: float) -> str:
    rounded = round(value, 10)
    return f"{int(rounded):,}" if rounded == int(rounded) else f"{rounded:,.10g}"


def _date_bins(column_sql: str, lo: dt.date, hi: dt.date) -> Bins | None:
    months = (hi.year - lo.year) * 12 + hi.month - lo.month
    if months == 0:  # days of one month: as they are
        return None
    if months <= MONTHS_BY_MONTH:
        return Bins(
            sql=f"year({column_sql}) * 100 + month({column_sql})",
            label=lambda k: f"{dt.date(k // 100, k % 100, 1):%b %Y}",
        )
    if months <= MONTHS_BY_QUARTER:
        return Bins(
            sql=f"year({column_sql}) * 10 + quarter({column_sql})",
            label=lambda k: f"Q{k % 10} {k // 10}",
        )
    step = int(max(1, nice_width((hi.year - lo.year) / TARGET_BINS)))
    return Bins(
        sql=f"CAST(floor(year({column_sql}) / {step}) AS BIGINT)",
        label=lambda k: str(k * step) if step == 1 else f"{k * step} to {k * step + step - 1}",
    )

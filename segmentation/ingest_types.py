"""What type each column of a loaded file gets, and the SQL that converts its text.

A column's type comes from, in this order: what the caller asked for
(``column_types``), what is already stored (an append must fit the table), or
what the reader detected, corrected for numbers written with decimal commas or
thousands separators (``12,5``, ``1.234,50``, ``1,234,567``), which a CSV reader
otherwise keeps as text. A value that does not convert rejects its row, with the
column named; it never fails the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from segmentation.catalog import kind_of
from segmentation.errors import InvalidInputError

Kind = Literal["text", "number", "date", "timestamp", "boolean"]
KINDS: tuple[Kind, ...] = ("text", "number", "date", "timestamp", "boolean")

# Whole numbers in one of two writing conventions (an optional sign, then digits with
# optional grouping, then an optional fraction):
# decimal comma, "." or " " grouping: 12,5  1.234,50  1 234,5
DECIMAL_COMMA = r"^[+-]?(\d{1,3}([. ]\d{3})+|\d+)(,\d+)?$"
# decimal point, "," grouping: 1,234,567  1,234.5
THOUSANDS_COMMA = r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$"

# Date format tokens a person writes, and strptime's spelling of them (longest first).
_DATE_TOKENS = [
    ("YYYY", "%Y"),
    ("YY", "%y"),
    ("MM", "%m"),
    ("DD", "%d"),
    ("HH", "%H"),
    ("mm", "%M"),
    ("ss", "%S"),
]
_TOKEN_RE = re.compile("|".join(token for token, _ in _DATE_TOKENS))


@dataclass(frozen=True)
class ColumnType:
    """A caller's choice for one column: a kind, and for dates/timestamps a format."""

    kind: Kind
    format: str | None = None  # strptime spelling, e.g. %d/%m/%Y

    @property
    def sql_type(self) -> str:
        return {
            "text": "VARCHAR",
            "number": "DOUBLE",
            "date": "DATE",
            "timestamp": "TIMESTAMP",
            "boolean": "BOOLEAN",
        }[self.kind]


def strptime_format(text: str) -> str:
    """``DD/MM/YYYY`` (or a strptime format such as ``%d/%m/%Y``) as strptime's format."""
    text = text.strip()
    if not text:
        raise InvalidInputError("A date format cannot be empty; e.g. DD/MM/YYYY or MM/DD/YYYY.")
    if "%" in text:
        return text
    tokens = dict(_DATE_TOKENS)
    converted = _TOKEN_RE.sub(lambda m: tokens[m.group(0)], text)
    if "%" not in converted or re.search(r"[A-Za-z]", re.sub(r"%[A-Za-z]", "", converted)):
        raise InvalidInputError(
            f"Date format {text!r} is not understood: use YYYY, MM, DD (and HH, mm, ss) with "
            "separators, e.g. DD/MM/YYYY, MM/DD/YYYY or YYYY-MM-DD HH:mm."
        )
    return converted


def parse_column_types(
    column_types: dict[str, str] | None, date_format: str | None, columns: list[str], name: str
) -> dict[str, ColumnType]:
    """The caller's ``{"column": "number" | "date" | "date:DD/MM/YYYY" | ...}``, checked
    against the file's columns (matched case-insensitively, as DuckDB does)."""
    default_format = strptime_format(date_format) if date_format else None
    by_lower = {c.lower(): c for c in columns}
    chosen: dict[str, ColumnType] = {}
    for given, spec in (column_types or {}).items():
        column = by_lower.get(given.lower())
        if column is None:
            raise InvalidInputError(
                f"column_types names {given!r}, which is not a column of {name}. "
                f"Columns found: {', '.join(repr(c) for c in columns)}."
            )
        kind, _, fmt = str(spec).partition(":")
        kind = kind.strip().lower()
        if kind not in KINDS:
            raise InvalidInputError(
                f"Type {spec!r} for column {given!r} is not one of {', '.join(KINDS)} "
                "(a date may carry its format: date:DD/MM/YYYY)."
            )
        if fmt and kind not in ("date", "timestamp"):
            raise InvalidInputError(f"Only dates and timestamps take a format, not {spec!r}.")
        form = strptime_format(fmt) if fmt else None
        if kind in ("date", "timestamp") and form is None:
            form = default_format
        chosen[column] = ColumnType(kind=kind, format=form)  # type: ignore[arg-type]
    return chosen


def convert_expr(value: str, target: ColumnType) -> str:
    """SQL turning the text ``value`` into the target type; NULL when it does not fit."""
    text = f"nullif(trim(CAST({value} AS VARCHAR)), '')"
    if target.kind == "text":
        return f"CAST({value} AS VARCHAR)"
    if target.kind == "number":
        return f"coalesce(try_cast({text} AS DOUBLE), {separated_number_expr(text)})"
    if target.kind == "boolean":
        return f"try_cast({text} AS BOOLEAN)"
    if target.format:
        parsed = f"try_strptime({text}, '{_sql_str(target.format)}')"
        return f"CAST({parsed} AS {target.sql_type})"
    return f"try_cast({text} AS {target.sql_type})"


def separated_number_expr(text: str, *, decimal_comma_first: bool = False) -> str:
    """A number written with a decimal comma or thousands separators, as DOUBLE.

    "1,234" fits both conventions; ``decimal_comma_first`` (a file separated by ``;``
    or tabs, the European habit) reads it as 1.234, otherwise as 1234."""
    thousands = (
        f"WHEN regexp_full_match({text}, '{THOUSANDS_COMMA}') "
        f"THEN try_cast(replace({text}, ',', '') AS DOUBLE)"
    )
    decimal = (
        f"WHEN regexp_full_match({text}, '{DECIMAL_COMMA}') "
        f"THEN try_cast(replace(replace(replace({text}, '.', ''), ' ', ''), ',', '.') AS DOUBLE)"
    )
    first, second = (decimal, thousands) if decimal_comma_first else (thousands, decimal)
    return f"CASE {first} {second} END"


def fits_expr(value: str, stored_type: str, date_format: str | None) -> str:
    """SQL giving ``value`` (of any type) as the stored type, NULL when it does not fit."""
    kind = kind_of(stored_type)
    if kind == "number":
        text = f"nullif(trim(CAST({value} AS VARCHAR)), '')"
        number = f"coalesce(try_cast({text} AS DOUBLE), {separated_number_expr(text)})"
        # A whole-number column must get whole numbers: 30.5 does not fit BIGINT.
        return (
            f"CASE WHEN {number} = try_cast({number} AS {stored_type}) "
            f"THEN try_cast({number} AS {stored_type}) END"
        )
    if kind in ("date", "timestamp") and date_format:
        return convert_expr(value, ColumnType(kind=kind, format=date_format))  # type: ignore[arg-type]
    if kind == "boolean":
        return convert_expr(value, ColumnType(kind="boolean"))
    return f"try_cast({value} AS {stored_type})"


def _sql_str(text: str) -> str:
    return text.replace("'", "''")

"""Bound parameters: every value a user typed reaches DuckDB as ``$n``, never as text.

Parameters are numbered (``$1``, ``$2`` ...) rather than positional so that SQL
fragments can be assembled in any order, and equal values share one number so
that equal conditions compile to equal text (which lets the events pass
deduplicate its aggregates).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

_BIGINT = 2**63


def sql_type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "BIGINT" if -_BIGINT <= value < _BIGINT else "DOUBLE"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, str):
        return "VARCHAR"
    if isinstance(value, dt.datetime):
        return "TIMESTAMPTZ" if value.tzinfo is not None else "TIMESTAMP"
    if isinstance(value, dt.date):
        return "DATE"
    raise TypeError(f"cannot bind {type(value).__name__}")


class Params:
    """The growing list of values of one compiled query."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._index: dict[tuple, int] = {}

    def bind(self, value: Any, sql_type: str | None = None) -> str:
        """``CAST($n AS type)``: the cast pins the type DuckDB would otherwise guess."""
        if isinstance(value, (list, tuple)):
            sql_type = sql_type or _list_type(value)
            value = list(value)
            key = (sql_type, tuple((type(v).__name__, v) for v in value))
        else:
            sql_type = sql_type or sql_type_of(value)
            if sql_type == "DOUBLE" and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            key = (sql_type, type(value).__name__, value)
        number = self._index.get(key)
        if number is None:
            self.values.append(value)
            number = len(self.values)
            self._index[key] = number
        return f"CAST(${number} AS {sql_type})"


def _list_type(values: list[Any] | tuple[Any, ...]) -> str:
    types = {sql_type_of(v) for v in values}
    if types <= {"BIGINT", "DOUBLE"} and types:
        return "DOUBLE[]" if "DOUBLE" in types else "BIGINT[]"
    if len(types) == 1:
        return f"{types.pop()}[]"
    return "VARCHAR[]"


def bucket_sql(column: str, buckets: str) -> str:
    """A profile's sample bucket: the first 32 bits of ``md5(profile_id)`` modulo
    ``buckets``. md5's hex digits are the same on every engine; ``hash()`` is not."""
    return f"(CAST(('0x' || substr(md5({column}), 1, 8)) AS UBIGINT) % {buckets})"


def sql_and(parts: list[str]) -> str:
    parts = [p for p in parts if p and p != "TRUE"]
    if not parts:
        return "TRUE"
    if "FALSE" in parts:
        return "FALSE"
    return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"


def sql_or(parts: list[str]) -> str:
    parts = [p for p in parts if p and p != "FALSE"]
    if not parts:
        return "FALSE"
    if "TRUE" in parts:
        return "TRUE"
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def finalize(sql: str, values: list[Any]) -> tuple[str, list[Any]]:
    """Renumber ``$n`` in order of use and drop values no longer referenced.

    Folding (``x AND FALSE`` -> ``FALSE``) can drop fragments whose values were
    already bound; DuckDB refuses parameters that the text does not use.
    Quoted identifiers and string literals are skipped, so a column named
    ``"a$1"`` is left alone.
    """
    out: list[str] = []
    mapping: dict[int, int] = {}
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "\"'":
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i : j + 1])
            i = j + 1
        elif ch == "$" and i + 1 < n and sql[i + 1].isdigit():
            j = i + 1
            while j < n and sql[j].isdigit():
                j += 1
            old = int(sql[i + 1 : j])
            new = mapping.setdefault(old, len(mapping) + 1)
            out.append(f"${new}")
            i = j
        else:
            out.append(ch)
            i += 1
    params = [None] * len(mapping)
    for old, new in mapping.items():
        params[new - 1] = values[old - 1]
    return "".join(out), params

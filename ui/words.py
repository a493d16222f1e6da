"""The words the pages show for the service's codes (AEP's terms stay in the tooltips)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

# AEP membership status -> what a marketer reads
STATUS_WORDS = {"realized": "entered", "existing": "still in", "exited": "left"}
STATUS_HELP = (
    "entered: qualified in the last run and not before (AEP status `realized`); "
    "still in: qualified before and still qualifies (`existing`); "
    "left: qualified before, not any more (`exited`)."
)


def status_word(code: str) -> str:
    return STATUS_WORDS.get(code, code)


ENGINE_WORDS = {"duckdb": "DuckDB", "spark": "Spark"}


def engine_word(name: str) -> str:
    """Which engine evaluated a result, as the pages say it."""
    return ENGINE_WORDS.get(name, name)


def header_label(display_name: str) -> str:
    """A table header: the last part of a nested name ("Home address › country code" ->
    "Country code"), so fixed-width columns show it whole; the full name is the tooltip."""
    leaf = display_name.rsplit(" › ", 1)[-1]
    return leaf[:1].upper() + leaf[1:]


def count(n: int, word: str, plural: str | None = None) -> str:
    """``n`` with the word in singular or plural: "1 row", "2,000 rows", "1 segment"."""
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


def listed(items: list[str], joint: str = "and") -> str:
    """Items as a sentence says them: "A", "A and B", "A, B and C"."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {joint} " + items[-1]


def whole_numbers(node: Any) -> Any:
    """``node`` (a rule) with whole floats as ints, so its sentence says "more than
    1000", not "1000.0" (the core's sentence prints a float as Python does)."""
    if isinstance(node, BaseModel):
        changes = {
            name: whole_numbers(value)
            for name, value in node
            if isinstance(value, BaseModel | list | tuple | float)
        }
        return node.model_copy(update=changes) if changes else node
    if isinstance(node, list | tuple):
        return type(node)(whole_numbers(v) for v in node)
    if isinstance(node, float) and node.is_integer():
        return int(node)
    return node

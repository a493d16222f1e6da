"""The words the pages show for the service's codes (AEP's terms stay in the tooltips)."""

from __future__ import annotations

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

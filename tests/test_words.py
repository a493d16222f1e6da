"""The words the pages show: AEP's codes in a marketer's words, table headers that fit."""

from __future__ import annotations

import pytest

from ui.words import engine_word, header_label, status_word

CASES = [
    (status_word, "realized", "entered"),
    (status_word, "existing", "still in"),
    (status_word, "exited", "left"),
    (status_word, "unknown", "unknown"),
    (engine_word, "spark", "Spark"),
    (engine_word, "duckdb", "DuckDB"),
    (header_label, "Home address › country code", "Country code"),
    (header_label, "Shipping › home address › city", "City"),
    (header_label, "Loyalty tier", "Loyalty tier"),
    (header_label, "email", "Email"),
    (header_label, "", ""),
]


@pytest.mark.parametrize(("word", "code", "shown"), CASES)
def test_pages_say(word, code: str, shown: str) -> None:
    assert word(code) == shown

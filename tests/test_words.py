"""The words the pages show: AEP's codes in a marketer's words, table headers that fit."""

from __future__ import annotations

import pytest

from ui.words import count, engine_word, header_label, listed, status_word, whole_numbers

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


@pytest.mark.parametrize(
    ("n", "word", "shown"),
    [(1, "row", "1 row"), (0, "row", "0 rows"), (2000, "row", "2,000 rows"),
     (1, "segment", "1 segment"), (3, "person", "3 people")],
)  # fmt: skip
def test_counts_say_one_row_and_two_rows(n: int, word: str, shown: str) -> None:
    assert count(n, word, "people" if word == "person" else None) == shown


def test_lists_read_as_a_sentence() -> None:
    assert listed([]) == "" and listed(["A"]) == "A"
    assert listed(["A", "B"]) == "A and B" and listed(["A", "B", "C"]) == "A, B and C"


def test_whole_numbers_in_a_rule_read_without_a_decimal_point() -> None:
    from segmentation.pql import parse, to_pql

    rule = parse('loyaltyTier = "gold" or lifetimeValue > 1000.0 or age in [1.0, 2.5]')
    assert to_pql(whole_numbers(rule)) == (
        'loyaltyTier = "gold" or lifetimeValue > 1000 or age in [1, 2.5]'
    )

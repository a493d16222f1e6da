"""The regex dialect of PQL ``matches``: accepted patterns run on DuckDB, refused ones say why."""

from __future__ import annotations

import duckdb
import pytest

from segmentation.errors import PQLSyntaxError
from segmentation.pattern_check import RegexDialectError, check_regex
from segmentation.pql import parse

ACCEPTED = [
    r"^[\w.+-]+@[\w-]+\.[a-z]{2,}$",
    r"(?i)^gold",
    r"(?i:ab)c",
    r"(?s)a.b",
    r"(?m)^a$",
    r"(a|b)*c?",
    r"a*?b+?c??",
    r"x{3}?",
    r"a{1000}",
    r"(a{10}b{100}){10}",
    r"[^a-z0-9_]",
    r"[\d\s-]",
    r"[\]a]",
    r"\x41\x{1F680}",
    r"\p{L}\pN\P{Lu}",
    r"\Qa.b*\E",
    r"\A\bword\B\z",
    r"\.\*\\\-\#",
]

# pattern, position (0-based), what the message says
REFUSED = [
    ("^(?!test).*", 1, "lookahead"),
    ("(?=a)", 0, "lookahead"),
    ("(?<=a)b", 0, "lookbehind"),
    ("(?<!a)b", 0, "lookbehind"),
    ("(?P<x>..)", 0, "named groups"),
    ("(?<x>..)", 0, "named groups"),
    ("(?>a)", 0, "atomic"),
    ("a{1000000}", 1, "count above 1000"),
    ("a{1001}", 1, "count above 1000"),
    ("(a{100}){100}", 13, "multiply to more than 1000"),
    ("((a{100})){100}", 15, "multiply to more than 1000"),
    ("a{2,1}", 1, "larger number first"),
    ("a{,3}", 1, "literal brace"),
    ("a{", 1, "literal brace"),
    ("a++", 2, "possessive"),
    ("x{2}{3}", 4, "directly after another"),
    ("**", 0, "nothing before it"),
    ("a|*", 2, "nothing before it"),
    (r"(a)\1", 3, "backreferences"),
    (r"a\Z", 1, r"\Z"),
    (r"\h", 0, r"\h"),
    (r"\e", 0, r"\e"),
    (r"\u0041", 0, r"\u"),
    (r"\p{Greek}", 0, "general categories"),
    ("[[:alpha:]]", 1, "inside a class"),
    ("[a&&b]", 2, "intersection"),
    ("[]a]", 1, r"\]"),
    ("[abc", 0, "never closed"),
    ("(ab", 0, "never closed"),
    ("ab)", 2, "without a matching"),
    ("(?x)a", 0, "flags i, m, s"),
    ("a\\", 1, "single backslash"),
    ("a" * 2001, 2000, "at most 2,000"),
]


@pytest.mark.parametrize("pattern", ACCEPTED)
def test_accepted_patterns_run_on_duckdb(pattern: str) -> None:
    check_regex(pattern)
    # the dialect promises the engine takes it: DuckDB (RE2) compiles and runs it
    duckdb.connect().execute("SELECT regexp_matches('abc', ?)", [pattern]).fetchall()


@pytest.mark.parametrize(("pattern", "offset", "fragment"), REFUSED)
def test_refused_patterns_name_the_reason_and_place(
    pattern: str, offset: int, fragment: str
) -> None:
    with pytest.raises(RegexDialectError) as info:
        check_regex(pattern)
    assert fragment in info.value.reason
    assert info.value.offset == offset


def test_parser_points_at_the_character_inside_the_pattern() -> None:
    # the string holds escapes (\\ is one backslash), so source and pattern offsets differ
    text = 'country = "US" and\n  email matches "\\\\d+(?!test)"'
    with pytest.raises(PQLSyntaxError) as info:
        parse(text)
    error = info.value
    assert "lookahead" in error.reason
    assert (error.line, error.column) == (2, 22)
    assert text.splitlines()[1][error.column - 1] == "("


def test_method_form_is_checked_too() -> None:
    with pytest.raises(PQLSyntaxError) as info:
        parse('email.matches("a{1000000}")')
    assert "count above 1000" in info.value.reason
    assert info.value.column == 17

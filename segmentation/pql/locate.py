"""Where a field is written in PQL text, for errors found after parsing (an unknown
field is known only once the text is compiled against the workspace's tables)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from segmentation.errors import UnknownFieldError, quote_position
from segmentation.pql.lexer import Token, tokenize

_NAME = ("ident", "qident")


def field_position(text: str, path: str) -> tuple[int, int] | None:
    """(line, column) of the first dotted name in ``text`` spelling ``path``, alone or
    after one prefix (``$1.``, ``X.``, ``xEvent.``, ``Profile.``); None if none does."""
    tokens = tokenize(text)
    i = 0
    while i < len(tokens):
        if tokens[i].kind not in (*_NAME, "param"):
            i += 1
            continue
        run = _dotted_run(tokens, i)
        for start in range(min(2, len(run))):
            if ".".join(t.text for t in run[start:]) == path:
                return run[start].line, run[start].column
        i += 2 * len(run) - 1
    return None


def _dotted_run(tokens: list[Token], i: int) -> list[Token]:
    """``a.b.c`` from ``tokens[i]``, stopping before a method call (``.startsWith(``)."""
    run = [tokens[i]]
    j = i
    while (
        j + 2 < len(tokens)
        and tokens[j + 1].is_op(".")
        and tokens[j + 2].kind in _NAME
        and not (tokens[j + 2].kind == "ident" and tokens[j + 3].is_op("("))
    ):
        run.append(tokens[j + 2])
        j += 2
    return run


@contextmanager
def fields_located(text: str | None) -> Iterator[None]:
    """An unknown field raised inside names its line and column in ``text``."""
    try:
        yield
    except UnknownFieldError as exc:
        where = field_position(text, exc.path) if text else None
        if where is None:
            raise
        line, column = where
        message = f"{exc.message} (line {line}, column {column})\n"
        raise UnknownFieldError(message + quote_position(text, line, column), exc.path) from None

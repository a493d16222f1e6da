"""The search box language: a small Lucene-like syntax, parsed to a tree and
matched in Python against a record's text fields.

Syntax (case-insensitive matching; the keywords AND, OR, NOT are upper case):

- ``vip gold``        both words (implicit AND); ``vip AND gold`` is the same
- ``vip OR gold``     either; AND binds tighter than OR; ``( )`` groups
- ``NOT vip``, ``-vip``, ``gold NOT vip``   exclusion
- ``loyal``           a plain word matches anywhere in the text ("loyal" finds
  "loyaltyTier"), like most search boxes
- ``vip*``, ``*tier``, ``v?p``   a word with ``*`` (any characters) or ``?`` (one
  character) is a pattern for one whole word: ``vip*`` finds "VIP", "vipers" and
  the "vip" of "non-vip" (punctuation ends a word) but not "bigvip".
  ``\\*`` is a literal star.
- ``"blue umbrella"`` a phrase: those words in that order (any whitespace between)
- ``name:vip``, ``tags:(churn OR retention)``   restrict to one field; the
  fields a caller accepts are passed to :func:`parse` (with aliases).

Everything the user types is matched literally (``%``, ``_``, ``'``, regex
characters), since terms are compiled with :func:`re.escape`. Errors raise
:class:`SearchSyntaxError` with the 1-based column.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from segmentation.errors import InvalidInputError

MAX_QUERY_LENGTH = 1000
MAX_DEPTH = 32
_SPECIAL = set('()":')
_KEYWORDS = {"AND", "OR", "NOT"}
_FOREIGN = "\x00foreign:"


class SearchSyntaxError(InvalidInputError):
    """A search query that does not parse; ``column`` is 1-based."""

    def __init__(self, reason: str, text: str, column: int) -> None:
        self.reason = reason
        self.text = text
        self.column = column
        caret = " " * (column - 1) + "^"
        super().__init__(f"Search syntax error at column {column}: {reason}\n  {text}\n  {caret}")


# --- tree ------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    text: str  # as typed, unescaped
    field: str | None  # canonical field name, None = the default fields
    pattern: re.Pattern[str]
    column: int


@dataclass(frozen=True)
class Not:
    child: Query


@dataclass(frozen=True)
class And:
    children: tuple[Query, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Query, ...]


Query = Term | Not | And | Or


@dataclass(frozen=True)
class Match:
    """Where a positive term matched: the field, and the span in its text."""

    field: str
    text: str
    start: int
    end: int


# --- tokens ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # WORD PHRASE LPAREN RPAREN COLON MINUS AND OR NOT EOF
    value: str
    column: int
    wildcard: bool = False  # a WORD with an unescaped * or ?
    raw: str = ""  # a WORD as typed, escapes kept, for the pattern


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        col = i + 1
        if ch.isspace():
            i += 1
        elif ch == "(":
            tokens.append(_Token("LPAREN", ch, col))
            i += 1
        elif ch == ")":
            tokens.append(_Token("RPAREN", ch, col))
            i += 1
        elif ch == ":":
            tokens.append(_Token("COLON", ch, col))
            i += 1
        elif ch == '"':
            end = i + 1
            chars: list[str] = []
            while end < n and text[end] != '"':
                if text[end] == "\\" and end + 1 < n:
                    end += 1
                chars.append(text[end])
                end += 1
            if end >= n:
                raise SearchSyntaxError("this quote is never closed", text, col)
            tokens.append(_Token("PHRASE", "".join(chars), col))
            i = end + 1
        elif ch == "-" and _prefix_allowed(text, i) and _excludable(text, i + 1):
            # a leading minus before a word, phrase or group means NOT ("--" is a word)
            tokens.append(_Token("MINUS", ch, col))
            i += 1
        elif ch == "-" and (i + 1 >= n or text[i + 1].isspace() or text[i + 1] == ")"):
            raise SearchSyntaxError("'-' must be followed by what to exclude", text, col)
        else:
            end = i
            chars = []
            wildcard = False
            while end < n and not text[end].isspace() and text[end] not in _SPECIAL:
                if text[end] == "\\" and end + 1 < n:
                    chars.append(text[end + 1])
                    end += 2
                    continue
                if text[end] in "*?":
                    wildcard = True
                chars.append(text[end])
                end += 1
            raw = text[i:end]
            value = "".join(chars)
            kind = raw if raw in _KEYWORDS else "WORD"
            tokens.append(_Token(kind, value, col, wildcard, raw))
            i = end
    tokens.append(_Token("EOF", "", n + 1))
    return tokens


def _prefix_allowed(text: str, i: int) -> bool:
    return i == 0 or text[i - 1].isspace() or text[i - 1] in "(:"


def _excludable(text: str, i: int) -> bool:
    return i < len(text) and (text[i].isalnum() or text[i] in '_"(*?\\')


# --- patterns ----------------------------------------------------------------------


def _word_pattern(raw: str) -> re.Pattern[str]:
    """A word with wildcards, as typed (escapes kept): one whole word of the text.

    ``*`` is ``\\w*`` and ``?`` is ``\\w``. Written plainly, ``*a*a*a*b`` backtracks
    through every way to split a long word (seconds per word), so each ``*`` but
    the last is an atomic lazy group: it stops at the first place where the next
    piece fits and never comes back. That is still exact, since the pieces between
    stars have fixed lengths (the leftmost fit leaves the most room for the
    rest), and the match runs in time linear in the text for a given query.
    """
    pieces: list[list[str]] = [[]]  # the fixed-length pieces between stars
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            pieces[-1].append(re.escape(raw[i + 1]))
            i += 2
            continue
        if ch == "*":
            pieces.append([])
        else:
            pieces[-1].append(r"\w" if ch == "?" else re.escape(ch))
        i += 1
    first, *middle = ["".join(piece) for piece in pieces]
    body = first
    if middle:
        *middle, last = middle
        body += "".join(rf"(?>\w*?{piece})" for piece in middle)
        body += rf"\w*{last}"  # the last star is greedy: the word must end after it
    return re.compile(r"(?<!\w)" + body + r"(?!\w)", re.IGNORECASE)


def _literal_pattern(value: str) -> re.Pattern[str]:
    """A plain word or phrase: a case-insensitive substring, any whitespace between words."""
    words = value.split()
    return re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)


# --- parser --------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, fields: Mapping[str, str], foreign: Iterable[str]) -> None:
        self.text = text
        self.fields = fields
        self.foreign = {f.lower() for f in foreign} - set(fields)
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.pos]

    def advance(self) -> _Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def error(self, reason: str, tok: _Token | None = None) -> SearchSyntaxError:
        return SearchSyntaxError(reason, self.text, (tok or self.tok).column)

    def parse(self) -> Query | None:
        if self.tok.kind == "EOF":
            return None
        node = self.parse_or(None)
        if self.tok.kind == "RPAREN":
            raise self.error("')' without a matching '('")
        if self.tok.kind != "EOF":  # pragma: no cover - every other token starts a unary
            raise self.error(f"unexpected {self.tok.value!r}")
        return node

    def parse_or(self, fld: str | None) -> Query:
        children = [self.parse_and(fld)]
        while self.tok.kind == "OR":
            self.advance()
            children.append(self.parse_and(fld))
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self, fld: str | None) -> Query:
        children = [self.parse_unary(fld)]
        while self.tok.kind not in ("OR", "RPAREN", "EOF"):
            if self.tok.kind == "AND":
                self.advance()
            children.append(self.parse_unary(fld))
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_unary(self, fld: str | None) -> Query:
        if self.tok.kind in ("NOT", "MINUS"):
            self.advance()
            return Not(self.parse_unary(fld))
        return self.parse_primary(fld)

    def parse_primary(self, fld: str | None) -> Query:
        tok = self.tok
        if tok.kind == "LPAREN":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(f"more than {MAX_DEPTH} nested parentheses")
            self.advance()
            if self.tok.kind == "RPAREN":
                raise self.error("empty parentheses")
            node = self.parse_or(fld)
            if self.tok.kind != "RPAREN":
                raise self.error("'(' is never closed", tok)
            self.advance()
            self.depth -= 1
            return node
        if tok.kind == "WORD" and self.tokens[self.pos + 1].kind == "COLON":
            return self.parse_field(fld)
        if tok.kind == "WORD":
            self.advance()
            if not tok.value:  # pragma: no cover - the tokenizer never makes one
                raise self.error("empty word", tok)
            pattern = _word_pattern(tok.raw) if tok.wildcard else _literal_pattern(tok.value)
            return Term(tok.value, fld, pattern, tok.column)
        if tok.kind == "PHRASE":
            self.advance()
            if not tok.value.strip():
                raise self.error("empty phrase", tok)
            return Term(tok.value, fld, _literal_pattern(tok.value), tok.column)
        if tok.kind == "EOF":
            raise self.error("the query ends where a word was expected")
        if tok.kind in ("AND", "OR"):
            raise self.error(f"{tok.kind} needs a word on both sides")
        if tok.kind == "RPAREN":
            raise self.error("')' where a word was expected")
        raise self.error(f"unexpected {tok.value!r}")  # a stray ':'

    def parse_field(self, outer: str | None) -> Query:
        name_tok = self.advance()
        self.advance()  # the colon
        canonical = self.fields.get(name_tok.value.lower())
        if canonical is None and name_tok.value.lower() in self.foreign:
            canonical = _FOREIGN + name_tok.value.lower()  # a field no record here has
        if canonical is None:
            known = ", ".join(sorted(set(self.fields.values())))
            raise self.error(
                f"unknown field {name_tok.value!r}; searchable fields: {known} "
                '(put text with a colon in quotes: "a:b")',
                name_tok,
            )
        if outer is not None and outer != canonical:
            raise self.error(f"field {canonical!r} inside field {outer!r}", name_tok)
        if self.tok.kind in ("EOF", "OR", "AND", "RPAREN"):
            raise self.error(f"nothing to search for after '{name_tok.value}:'")
        return self.parse_unary(canonical)


def parse(text: str, fields: Mapping[str, str], foreign: Iterable[str] = ()) -> Query | None:
    """Parse a query; ``fields`` maps accepted names (lower case) to canonical names.

    ``foreign`` names fields of another search sharing the same box (segments
    and catalog fields): a term on one of them matches nothing here instead of
    being an error. Returns None for an empty query (which matches everything).
    """
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidInputError(
            f"The search query is {len(text)} characters long; at most {MAX_QUERY_LENGTH} "
            "are accepted."
        )
    if "\x00" in text:
        raise SearchSyntaxError(
            "the query holds a NUL character", text.replace("\x00", " "), text.index("\x00") + 1
        )
    return _Parser(text, fields, foreign).parse()


# --- evaluation ------------------------------------------------------------------------

Record = Mapping[str, Iterable[str]]  # field -> its text values (tags: one per tag)


def evaluate(node: Query | None, record: Record, default_fields: Iterable[str]) -> bool:
    if node is None:
        return True
    defaults = tuple(default_fields)
    return _eval(node, record, defaults)


def _eval(node: Query, record: Record, defaults: tuple[str, ...]) -> bool:
    if isinstance(node, Term):
        names = (node.field,) if node.field else defaults
        return any(
            node.pattern.search(value) for name in names for value in record.get(name, ()) if value
        )
    if isinstance(node, Not):
        return not _eval(node.child, record, defaults)
    if isinstance(node, And):
        return all(_eval(c, record, defaults) for c in node.children)
    return any(_eval(c, record, defaults) for c in node.children)


def positive_terms(node: Query | None) -> list[Term]:
    """The terms not under a NOT: the ones whose matches explain a hit."""
    out: list[Term] = []

    def walk(n: Query) -> None:
        if isinstance(n, Term):
            out.append(n)
        elif isinstance(n, (And, Or)):
            for c in n.children:
                walk(c)

    if node is not None:
        walk(node)
    return out


def find_matches(node: Query | None, record: Record, default_fields: Iterable[str]) -> list[Match]:
    """Every (field, span) a positive term matches, in the order of ``default_fields``."""
    order = tuple(default_fields)
    terms = positive_terms(node)
    matches: list[Match] = []
    fields_seen = list(order) + [t.field for t in terms if t.field and t.field not in order]
    for name in fields_seen:
        for term in terms:
            if (term.field or None) not in (None, name):
                continue
            if term.field is None and name not in order:
                continue
            for value in record.get(name, ()):
                if not value:
                    continue
                m = term.pattern.search(value)
                if m:
                    matches.append(Match(name, value, m.start(), m.end()))
                    break
    return matches


def snippet(match: Match, width: int = 80, mark: Callable[[str], str] | None = None) -> str:
    """About ``width`` characters around the match, the match wrapped by ``mark``."""
    mark = mark or (lambda s: f"**{s}**")
    text = " ".join(match.text.split("\n"))
    start, end = match.start, match.end
    room = max(width - (end - start), 0)
    lo = max(start - room // 2, 0)
    hi = min(end + (room - (start - lo)), len(text))
    lo = max(min(lo, hi - width), 0)
    head = ("…" if lo > 0 else "") + text[lo:start]
    tail = text[end:hi] + ("…" if hi < len(text) else "")
    return head + mark(text[start:end]) + tail


__all__ = [
    "And",
    "Match",
    "Not",
    "Or",
    "Query",
    "SearchSyntaxError",
    "Term",
    "evaluate",
    "find_matches",
    "parse",
    "positive_terms",
    "snippet",
]

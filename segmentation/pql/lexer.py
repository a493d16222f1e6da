"""PQL tokenizer: text -> tokens that know their 1-based line and column.

Lines are counted the way ``str.splitlines`` counts them, so a position
always names a line that ``PQLSyntaxError`` can quote.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Literal

from segmentation.errors import PQLSyntaxError
from segmentation.model import MAX_INT, lone_surrogate

TokenKind = Literal["ident", "qident", "string", "int", "float", "param", "op", "eof"]

# Longest first so that ">=" wins over ">".
_OPERATORS = ("=>", ">=", "<=", "!=", "==", "=", ">", "<", "+", "-", "*", "/", "%")
_PUNCTUATION = "()[],.:!^"
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
_HEX = "0123456789abcdefABCDEF"


def is_ident_start(char: str) -> bool:
    return char == "_" or ("a" <= char <= "z") or ("A" <= char <= "Z")


def is_ident_char(char: str) -> bool:
    return is_ident_start(char) or ("0" <= char <= "9")


def is_plain_identifier(word: str) -> bool:
    return bool(word) and is_ident_start(word[0]) and all(is_ident_char(c) for c in word)


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str  # the source text (for strings: the decoded value)
    value: object  # decoded value: str, int, float; None for ops
    offset: int
    line: int
    column: int
    # strings: the source offset of each decoded character (for errors inside it)
    offsets: tuple[int, ...] = ()

    def is_op(self, *ops: str) -> bool:
        return self.kind == "op" and self.text in ops

    def is_word(self, *words: str) -> bool:
        return self.kind == "ident" and self.text in words

    def is_word_ci(self, *words: str) -> bool:
        """Case-insensitive keyword test (``and``/``AND``)."""
        return self.kind == "ident" and self.text.lower() in words

    def describe(self) -> str:
        if self.kind == "eof":
            return "end of text"
        if self.kind == "string":
            shown = self.text if len(self.text) <= 20 else self.text[:17] + "..."
            return f'string "{shown}"'
        if self.kind in ("int", "float"):
            return f"number {self.text}"
        if self.kind == "qident":
            return f"`{self.text}`"
        return f"'{self.text}'"


class Positions:
    """Maps an offset in the text to a (line, column) that splitlines agrees with."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.splitlines()
        self.starts: list[int] = []
        offset = 0
        for chunk in text.splitlines(keepends=True):
            self.starts.append(offset)
            offset += len(chunk)

    def at(self, offset: int) -> tuple[int, int]:
        if not self.starts:
            return 1, 1
        if offset >= len(self.text):
            # End of text: the end of the last line (never a line splitlines lacks).
            return len(self.lines), len(self.lines[-1]) + 1
        index = bisect.bisect_right(self.starts, offset) - 1
        column = offset - self.starts[index] + 1
        # An offset inside a line break (e.g. the \n of \r\n) points just past the line.
        return index + 1, min(column, len(self.lines[index]) + 1)

    def error(self, message: str, offset: int) -> PQLSyntaxError:
        line, column = self.at(offset)
        return PQLSyntaxError(message, self.text, line, column)


def tokenize(text: str) -> list[Token]:
    """Split PQL text into tokens; the last one is always ``eof``."""
    return _Lexer(text).run()


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = Positions(text)
        self.i = 0
        self.tokens: list[Token] = []

    def run(self) -> list[Token]:
        text = self.text
        stray = lone_surrogate(text)
        if stray is not None:
            # a lone UTF-16 half cannot be stored or sent anywhere as UTF-8
            raise self.pos.error(
                f"the text holds a lone surrogate character U+{ord(text[stray]):04X}", stray
            )
        while True:
            while self.i < len(text) and text[self.i].isspace():
                self.i += 1
            if self.i >= len(text):
                self._add("eof", "", None, len(text))
                return self.tokens
            char = text[self.i]
            if is_ident_start(char):
                self._identifier()
            elif "0" <= char <= "9":
                self._number()
            elif char == '"':
                self._string()
            elif char == "`":
                self._quoted_identifier()
            elif char == "$":
                self._param()
            else:
                self._operator(char)

    def _add(
        self, kind: TokenKind, text: str, value: object, start: int, offsets: tuple[int, ...] = ()
    ) -> None:
        line, column = self.pos.at(start)
        self.tokens.append(Token(kind, text, value, start, line, column, offsets))

    def _identifier(self) -> None:
        start = self.i
        while self.i < len(self.text) and is_ident_char(self.text[self.i]):
            self.i += 1
        word = self.text[start : self.i]
        self._add("ident", word, word, start)

    def _digits(self) -> None:
        while self.i < len(self.text) and "0" <= self.text[self.i] <= "9":
            self.i += 1

    def _number(self) -> None:
        text, start = self.text, self.i
        self._digits()
        is_float = False
        if self.i + 1 < len(text) and text[self.i] == "." and "0" <= text[self.i + 1] <= "9":
            is_float = True
            self.i += 1
            self._digits()
        if self.i < len(text) and text[self.i] in "eE":
            j = self.i + 1
            if j < len(text) and text[j] in "+-":
                j += 1
            if j < len(text) and "0" <= text[j] <= "9":
                is_float = True
                self.i = j
                self._digits()
        if self.i < len(text) and is_ident_char(text[self.i]):
            raise self.pos.error(f"malformed number '{text[start : self.i + 1]}'", start)
        source = text[start : self.i]
        if is_float:
            value = float(source)
            if value in (float("inf"), float("-inf")):
                raise self.pos.error(f"number {source} is too large", start)
            self._add("float", source, value, start)
        else:
            digits = source.lstrip("0")
            if len(digits) > 19 or (len(digits) == 19 and int(digits) > MAX_INT):
                raise self.pos.error(
                    f"the whole number {source[:25]}{'...' if len(source) > 25 else ''} is "
                    f"too large (at most {MAX_INT}; write 1e19 for an approximate value)",
                    start,
                )
            self._add("int", source, int(source), start)

    def _string(self) -> None:
        text, start = self.text, self.i
        self.i += 1
        out: list[str] = []
        offsets: list[int] = []
        while True:
            if self.i >= len(text):
                raise self.pos.error('unterminated string (missing closing ")', start)
            char = text[self.i]
            offsets.append(self.i)
            if char == '"':
                offsets.pop()
                self.i += 1
                break
            if char == "\\":
                out.append(self._escape())
                continue
            out.append(char)
            self.i += 1
        value = "".join(out)
        self._add("string", value, value, start, tuple(offsets))

    def _escape(self) -> str:
        text, start = self.text, self.i
        if self.i + 1 >= len(text):
            raise self.pos.error('unterminated string (missing closing ")', start)
        code = text[self.i + 1]
        if code in _ESCAPES:
            self.i += 2
            return _ESCAPES[code]
        if code == "u":
            unit = self._utf16_unit(self.i)
            if not 0xD800 <= unit <= 0xDFFF:
                self.i += 6
                return chr(unit)
            # JSON-style surrogate pair: \ud83d\ude80 is one character (U+1F680)
            low = self._utf16_unit(self.i + 6) if text.startswith("\\u", self.i + 6) else None
            if unit <= 0xDBFF and low is not None and 0xDC00 <= low <= 0xDFFF:
                self.i += 12
                return chr(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
            raise self.pos.error(
                f"\\u{unit:04x} is half of a surrogate pair; a high half \\ud800-\\udbff must "
                "be followed by a low half \\udc00-\\udfff (or write the character itself)",
                start,
            )
        raise self.pos.error(
            f"unknown escape '\\{code}' in string (write \\\\ for a backslash)", start
        )

    def _utf16_unit(self, at: int) -> int:
        """The value of the ``\\uXXXX`` escape at ``at``."""
        digits = self.text[at + 2 : at + 6]
        if len(digits) == 4 and all(c in _HEX for c in digits):
            return int(digits, 16)
        raise self.pos.error("\\u must be followed by four hex digits", at)

    def _quoted_identifier(self) -> None:
        # `odd name`; a doubled backtick stands for one backtick.
        text, start = self.text, self.i
        self.i += 1
        out: list[str] = []
        while True:
            if self.i >= len(text):
                raise self.pos.error("unterminated `name` (missing closing `)", start)
            char = text[self.i]
            if char == "`":
                if text[self.i + 1 : self.i + 2] == "`":
                    out.append("`")
                    self.i += 2
                    continue
                self.i += 1
                break
            out.append(char)
            self.i += 1
        name = "".join(out)
        self._add("qident", name, name, start)

    def _param(self) -> None:
        start = self.i
        self.i += 1
        self._digits()
        if self.i == start + 1:
            raise self.pos.error("'$' must be followed by a parameter number, as in $1", start)
        source = self.text[start : self.i]
        if len(source) > 10:
            raise self.pos.error(f"unknown parameter {source[:10]}...", start)
        self._add("param", source, int(source[1:]), start)

    def _operator(self, char: str) -> None:
        start = self.i
        for op in _OPERATORS:
            if self.text.startswith(op, start):
                self.i += len(op)
                self._add("op", op, None, start)
                return
        if char in _PUNCTUATION:
            self.i += 1
            self._add("op", char, None, start)
            return
        hint = ""
        if char in "&|":
            hint = " (use 'and' / 'or')"
        elif char == "'":
            hint = ' (strings use double quotes: "text")'
        elif char.isalpha():
            hint = " (put names with such characters in backticks: `name`)"
        raise self.pos.error(f"unexpected character {char!r}{hint}", start)

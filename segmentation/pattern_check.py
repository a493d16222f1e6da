"""The regular-expression dialect of PQL ``matches``: what every engine agrees on.

A ``matches`` pattern runs on DuckDB (Google's RE2) and on Spark (Java's
``java.util.regex``). Python's ``re`` accepts patterns that neither takes, and
RE2 and Java disagree on others, so a pattern is checked here against the
subset both accept with the same meaning, before it reaches any engine:

* literals, ``.``, ``^``, ``$``, ``|``, groups ``( )`` and ``(?: )``;
* flags ``(?i)``, ``(?m)``, ``(?s)`` (and ``(?i: )``, ``(?-i)`` forms);
* classes ``[abc]``, ``[^a-z]`` (no nested ``[``, no ``&&``, no ``[:alpha:]``);
* ``\\d \\D \\w \\W \\s \\S \\b \\B \\A \\z \\n \\t \\r \\f``, ``\\xhh``,
  ``\\x{h..}``, ``\\p{L}``-style Unicode categories, ``\\Q...\\E``, and a
  backslash before any punctuation character;
* quantifiers ``* + ?`` (lazy with a trailing ``?``), ``{n}``, ``{n,}``,
  ``{n,m}`` with counts up to 1000, nested counts multiplying to at most 1000
  (RE2's limit).

Refused, with the reason and the position in the pattern: lookahead and
lookbehind (``(?=``, ``(?!``, ``(?<=``, ``(?<!``), named groups, atomic groups,
possessive quantifiers, backreferences, ``\\Z``, ``\\h``, ``\\R``, ``\\G`` and
other escapes one engine lacks, and anything malformed. This module knows no
engine and no PQL; the parser, the expression validation and the compiler
call it.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_PATTERN_LENGTH = 2000
MAX_REPEAT = 1000  # RE2 refuses larger counts, also as a product of nested counts

_CLASS_ESCAPES = set("dDwWsS")
_ESCAPES = _CLASS_ESCAPES | set("bBAzntrf")
_FLAGS = set("ims")
_CATEGORIES = {
    *"LMNPSZC",
    *("Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No"),
    *("Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So"),
    *("Zs", "Zl", "Zp", "Cc", "Cf", "Co", "Cs"),
}
_HEX = set("0123456789abcdefABCDEF")
_LOOKAROUND_HINT = (
    "lookahead and lookbehind are not in the dialect PQL's matches shares with RE2 "
    "and Spark; write the negative part as its own condition, e.g. "
    'not (email matches "^test") instead of email matches "^(?!test).*"'
)


class RegexDialectError(ValueError):
    """A pattern outside the dialect; ``offset`` is the 0-based index in the pattern."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} (at character {offset + 1} of the pattern)")
        self.reason = reason
        self.offset = offset


def check_regex(pattern: str) -> int:
    """Raise :class:`RegexDialectError` unless ``pattern`` is in the portable dialect;
    return its number of capturing groups (what ``regexGroup`` may ask for)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RegexDialectError(
            f"the pattern is {len(pattern):,} characters long; at most {MAX_PATTERN_LENGTH:,}",
            MAX_PATTERN_LENGTH,
        )
    scanner = _Scanner(pattern)
    scanner.run()
    return scanner.captures


@dataclass
class _Group:
    start: int
    repeat: int = 1  # the largest product of counts inside it so far


class _Scanner:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.groups: list[_Group] = []
        # What a quantifier would apply to: None at the start of a branch.
        self.atom: tuple[int, int] | None = None  # (start offset, end offset)
        self.atom_is_group = False
        self.closed_repeat = 1  # the ``repeat`` of the group that just closed
        self.captures = 0

    def fail(self, reason: str, at: int | None = None) -> RegexDialectError:
        return RegexDialectError(reason, self.i if at is None else at)

    def run(self) -> None:
        p = self.p
        while self.i < len(p):
            ch = p[self.i]
            if ch == "\\":
                start = self.i
                self.escape(in_class=False)
                self.set_atom(start)
            elif ch == "[":
                start = self.i
                self.char_class()
                self.set_atom(start)
            elif ch == "(":
                self.open_group()
            elif ch == ")":
                self.close_group()
            elif ch == "|":
                self.i += 1
                self.atom = None
            elif ch in "*+?":
                self.quantifier(1)
            elif ch == "{":
                self.counted()
            elif ch in "^$":
                self.i += 1
                self.atom = None  # an anchor takes no quantifier
            else:
                start = self.i
                self.i += 1
                self.set_atom(start)
        if self.groups:
            raise self.fail("'(' is never closed", self.groups[-1].start)

    def set_atom(self, start: int) -> None:
        self.atom = (start, self.i)
        self.atom_is_group = False

    # --- quantifiers ----------------------------------------------------------------

    def quantifier(self, count: int) -> None:
        start = self.i
        if self.atom is None:
            raise self.fail(f"'{self.p[start]}' has nothing before it to repeat", start)
        self.i += 1
        self.after_quantifier(count)

    def counted(self) -> None:
        start, p = self.i, self.p
        end = p.find("}", start)
        body = p[start + 1 : end] if end != -1 else ""
        low, comma, high = body.partition(",")
        if end == -1 or not low.isdigit() or (high and not high.isdigit()):
            raise self.fail(
                "'{' must start a count such as {3} or {2,5}; write \\{ for a literal brace", start
            )
        if self.atom is None:
            raise self.fail("a count {..} has nothing before it to repeat", start)
        numbers = [int(low)] + ([int(high)] if high else [])
        if max(numbers) > MAX_REPEAT:
            raise self.fail(f"a count above {MAX_REPEAT} ({{{body}}})", start)
        if high and int(high) < int(low):
            raise self.fail(f"the count {{{body}}} has its larger number first", start)
        self.i = end + 1
        self.after_quantifier(max(numbers) if (high or not comma) else int(low) or 1)

    def after_quantifier(self, count: int) -> None:
        p = self.p
        if self.i < len(p) and p[self.i] == "+":
            raise self.fail("possessive quantifiers (such as a++) are not in the dialect")
        if self.i < len(p) and p[self.i] == "?":
            self.i += 1  # lazy
        if self.i < len(p) and (p[self.i] in "*+?" or p[self.i] == "{"):
            raise self.fail("a quantifier directly after another; use a group: (a{2}){3}")
        repeat = count * (self.closed_repeat if self.atom_is_group else 1)
        if repeat > MAX_REPEAT:
            raise self.fail(f"nested counts multiply to more than {MAX_REPEAT} repetitions")
        self.hold(repeat)
        self.atom = None

    def hold(self, repeat: int) -> None:
        """The enclosing group now holds something repeated ``repeat`` times."""
        if self.groups:
            self.groups[-1].repeat = max(self.groups[-1].repeat, repeat)

    # --- groups ---------------------------------------------------------------------

    def open_group(self) -> None:
        start, p = self.i, self.p
        self.i += 1
        self.atom = None
        if p.startswith("?", self.i):
            if not self.group_prefix(start):
                return
        else:
            self.captures += 1
        self.groups.append(_Group(start))

    def group_prefix(self, start: int) -> bool:
        """Read what follows ``(?``; False when it was a flag setting, not a group."""
        p = self.p
        rest = p[self.i + 1 :]
        if rest[:1] in ("=", "!") or rest[:2] in ("<=", "<!"):
            raise self.fail(_LOOKAROUND_HINT, start)
        if rest[:1] == "<" or rest[:2] in ("P<", "P=", "P>") or rest[:1] == "'":
            raise self.fail("named groups are not in the dialect; use a plain group ( )", start)
        if rest[:1] == ">":
            raise self.fail("atomic groups (?>..) are not in the dialect", start)
        j = self.i + 1
        while j < len(p) and (p[j] in _FLAGS or p[j] == "-"):
            j += 1
        flags = p[self.i + 1 : j]
        if j < len(p) and p[j] == ":":
            self.i = j + 1
            return True
        if j < len(p) and p[j] == ")" and flags.strip("-"):
            self.i = j + 1  # (?i): a flag for the rest, no group
            return False
        raise self.fail(
            "after '(?' the dialect knows only ':' and the flags i, m, s, as in (?i) or (?:..)",
            start,
        )

    def close_group(self) -> None:
        if not self.groups:
            raise self.fail("')' without a matching '('")
        group = self.groups.pop()
        self.hold(group.repeat)
        self.closed_repeat = group.repeat
        self.i += 1
        self.atom = (group.start, self.i)
        self.atom_is_group = True

    # --- escapes and classes --------------------------------------------------------

    def escape(self, in_class: bool) -> None:
        p, start = self.p, self.i
        if self.i + 1 >= len(p):
            raise self.fail("a pattern cannot end with a single backslash", start)
        code = p[self.i + 1]
        self.i += 2
        if not code.isascii() or not code.isalnum():
            return  # \. \* \\ \- ...: the character itself
        if code in _ESCAPES and not (in_class and code in "bBAz"):
            return
        if code == "x":
            self.hex_escape(start)
            return
        if code in "pP":
            self.category(start)
            return
        if code == "Q" and not in_class:
            end = p.find("\\E", self.i)
            self.i = len(p) if end == -1 else end + 2
            return
        if code.isdigit():
            raise self.fail(
                f"\\{code}: backreferences and octal escapes are not in the dialect", start
            )
        raise self.fail(f"the escape \\{code} is not in the dialect PQL's matches follows", start)

    def hex_escape(self, start: int) -> None:
        p = self.p
        if p.startswith("{", self.i):
            end = p.find("}", self.i)
            digits = p[self.i + 1 : end] if end != -1 else ""
            if not digits or len(digits) > 6 or not set(digits) <= _HEX:
                raise self.fail("\\x{..} needs hex digits, as in \\x{1F600}", start)
            if int(digits, 16) > 0x10FFFF:
                raise self.fail(f"\\x{{{digits}}} is beyond the last Unicode character", start)
            self.i = end + 1
            return
        digits = p[self.i : self.i + 2]
        if len(digits) != 2 or not set(digits) <= _HEX:
            raise self.fail("\\x needs two hex digits, as in \\x41", start)
        self.i += 2

    def category(self, start: int) -> None:
        p = self.p
        if p.startswith("{", self.i):
            end = p.find("}", self.i)
            name = p[self.i + 1 : end] if end != -1 else ""
            self.i = end + 1 if end != -1 else len(p)
        else:
            name = p[self.i : self.i + 1]
            self.i += 1
        if name not in _CATEGORIES:
            raise self.fail(
                f"\\p{{{name}}}: only Unicode general categories such as \\p{{L}} or "
                "\\p{Lu} are in the dialect",
                start,
            )

    def char_class(self) -> None:
        p, start = self.p, self.i
        self.i += 1
        if p.startswith("^", self.i):
            self.i += 1
        if p.startswith("]", self.i):
            raise self.fail("write \\] for a ']' at the start of a class", self.i)
        while True:
            if self.i >= len(p):
                raise self.fail("'[' is never closed", start)
            ch = p[self.i]
            if ch == "]":
                self.i += 1
                return
            if ch == "\\":
                self.escape(in_class=True)
            elif ch == "[":
                raise self.fail(
                    "a '[' inside a class (nested classes, [:alpha:]) means different things "
                    "to RE2 and Java; write \\[ for the character",
                )
            elif p.startswith("&&", self.i):
                raise self.fail("class intersection && is not in the dialect")
            else:
                self.i += 1

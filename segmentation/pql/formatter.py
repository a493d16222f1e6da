"""Expression tree -> canonical PQL text (one spelling per tree).

The text parses back to the same tree: ``parse(to_pql(tree)) == tree`` for
every canonical tree, and ``to_pql(parse(text))`` is a fixed point.
Trees that have no PQL spelling raise InvalidInputError saying which part.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from segmentation.errors import InvalidInputError
from segmentation.model import (
    CONDITION_TYPES,
    Anchor,
    And,
    Arith,
    BetweenWindow,
    BoolConst,
    Compare,
    DateLit,
    DateTimeLit,
    EventCondition,
    EventMeasure,
    EventValues,
    FieldRef,
    Func,
    IfValue,
    InList,
    ItemRef,
    ListAny,
    ListCall,
    ListMatch,
    Lit,
    Member,
    Not,
    NullCheck,
    Occurs,
    Or,
    Period,
    PointWindow,
    RelativeWindow,
    SegmentRef,
    Sequence,
    SequenceStep,
    TextMatch,
    substr_bounds,
)
from segmentation.pql import words
from segmentation.pql.events import items_of
from segmentation.pql.lexer import is_plain_identifier

# Condition contexts: what surrounds the node decides its parentheses.
TOP, OR_ITEM, AND_ITEM = 0, 1, 2
_ARITH_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "%": 2}
_STRING_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def to_pql(expr: Any) -> str:
    """Expression -> canonical PQL text. Raises InvalidInputError for trees PQL cannot spell."""
    try:
        return _Formatter().condition(expr, TOP)
    except RecursionError:
        raise InvalidInputError("the expression is nested too deeply to write as PQL") from None


def fragment_to_pql(node: Any, scope: str = "profile") -> str:
    """The PQL of a part of a condition: a condition, an operand (``age % 5``) or a time
    window, as written at the top level or (``scope="event"``) inside an event filter."""
    formatter = _Formatter()
    formatter.scope = scope
    kind = getattr(node, "kind", "")
    if kind in ("relative", "point", "between"):
        return formatter.window(node)
    if kind == "event_values":  # xEvent[..].sku, which a list method follows
        return formatter.list_base(node)
    if isinstance(node, CONDITION_TYPES):
        return formatter.condition(node, TOP)
    return formatter.operand(node)


def quote_string(value: str) -> str:
    out = []
    for char in value:
        if char in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F or (char != " " and char.isspace()):
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def format_path(path: str) -> str:
    segments = path.split(".")
    if all(is_plain_identifier(s) for s in segments) and segments[0].lower() not in words.RESERVED:
        return path
    return "`" + path.replace("`", "``") + "`"


def format_number(value: int | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"the number {value} has no PQL spelling")
        return repr(value)
    return str(value)


def format_scalar(value: Any) -> str:
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, (bool, int, float)):
        return format_number(value)
    raise InvalidInputError(f"a list may hold only plain values, not {type(value).__name__}")


def format_list(values: list[Any]) -> str:
    return "[" + ", ".join(format_scalar(v) for v in values) + "]"


class _Formatter:
    def __init__(self) -> None:
        self.scope = "profile"
        self.labels: set[str] = set()  # chain step labels: a field so named needs backticks
        # the lists whose items are in scope, innermost last: an exists' variable (T in
        # exists T from tags), or None inside orders.filter(..), where a bare name is the item's
        self.items: list[str | None] = []

    # --- conditions ---------------------------------------------------------------

    def condition(self, node: Any, context: int) -> str:
        if isinstance(node, Or):
            text = " or ".join(self.condition(item, OR_ITEM) for item in node.items)
            return f"({text})" if context >= OR_ITEM else text
        if isinstance(node, And):
            text = " and ".join(self.condition(item, AND_ITEM) for item in node.items)
            return f"({text})" if context >= AND_ITEM else text
        if isinstance(node, Not):
            return f"not ({self.condition(node.item, TOP)})"
        if isinstance(node, BoolConst):
            return "true" if node.value else "false"
        if isinstance(node, Compare):
            return f"{self.operand(node.left)} {node.op} {self.operand(node.right)}"
        if isinstance(node, InList):
            word = "notIn" if node.negate else "in"
            values = ", ".join(
                self.date(v) if isinstance(v, (DateLit, DateTimeLit)) else format_scalar(v)
                for v in node.values
            )
            return f"{self.operand(node.operand)} {word} [{values}]"
        if isinstance(node, TextMatch):
            return self.text_match(node)
        if isinstance(node, NullCheck):
            method = "isNull" if node.is_null else "isNotNull"
            return f"{self.postfix_base(node.operand)}.{method}()"
        if isinstance(node, ListMatch):
            if node.other is not None:
                argument = self.operand(node.other)
            elif node.op == "includes":
                if len(node.values) != 1:
                    raise InvalidInputError("includes() takes exactly one value")
                argument = format_scalar(node.values[0])
            else:
                argument = format_list(node.values)
            return f"{self.list_base(node.operand)}.{node.op}({argument})"
        if isinstance(node, ListAny):  # its where runs to the end: parenthesised in a group
            text = self.list_any(node)
            return text if context == TOP else f"({text})"
        if isinstance(node, Occurs):
            return f"{self.operand(node.operand)} occurs {self.window(node.window)}"
        if isinstance(node, EventCondition):
            return self.event(node)
        if isinstance(node, Sequence):
            return self.sequence(node)
        if isinstance(node, SegmentRef):
            return f"inSegment({quote_string(node.segment)})"
        raise InvalidInputError(f"expected a condition, not {type(node).__name__}")

    def list_any(self, node: ListAny) -> str:
        if node.var in self.items:
            raise InvalidInputError("an exists over a list cannot stand inside another one")
        items = self.postfix_base(node.operand)
        self.items.append(node.var)
        try:
            return f"exists {node.var} from {items} where {self.condition(node.where, TOP)}"
        finally:
            self.items.pop()

    def list_call(self, node: ListCall) -> str:
        """``orders.filter(price > 50)``, ``.topN(price, 5)``, ``.sum()``: the argument reads
        the item by its bare field names."""
        base = self.list_base(node.operand)
        self.items.append(None)
        try:
            if node.test is not None:
                args = [self.condition(node.test, TOP)]
            else:
                args = [] if node.by is None else [self.operand(node.by)]
        finally:
            self.items.pop()
        if node.n is not None:
            args.append(str(node.n))
        return f"{base}.{node.name}({', '.join(args)})"

    def item(self, node: ItemRef) -> str:
        if not self.items:
            raise InvalidInputError("a list item is used outside a function of its list")
        var, path = self.items[-1], None if node.path is None else format_path(node.path)
        if var is not None:
            return var + ("" if path is None else "." + path)
        if path is None or node.path.split(".")[0] in self.labels:
            raise InvalidInputError(
                "inside filter(), map() and the other list functions the item is read by its "
                "fields (orders.filter(price > 5)); test the item itself with exists T from .."
            )
        return path

    def text_match(self, node: TextMatch) -> str:
        operand = node.operand
        if node.op in ("like", "matches"):
            if node.negate or not node.case_sensitive:
                raise InvalidInputError(f"{node.op} has no negated or case-insensitive form")
            if node.op == "like":
                return f"{self.operand(operand)} like {quote_string(node.value)}"
            return f"{self.postfix_base(operand)}.matches({quote_string(node.value)})"
        method = words.TEXT_SPELLING[(node.op, node.negate)]
        flag = "" if node.case_sensitive else ", false"
        return f"{self.postfix_base(operand)}.{method}({quote_string(node.value)}{flag})"

    # --- operands -----------------------------------------------------------------

    def operand(self, node: Any, parent: int = 0) -> str:
        if isinstance(node, Arith):
            precedence = _ARITH_PRECEDENCE[node.op]
            left = self.operand(node.left, precedence)
            right = self.operand(node.right, precedence + 1)
            text = f"{left} {node.op} {right}"
            return f"({text})" if precedence < parent else text
        if isinstance(node, FieldRef):
            return self.field(node)
        if isinstance(node, Lit):
            if isinstance(node.value, list):
                return format_list(node.value)
            return format_scalar(node.value)
        if isinstance(node, (DateLit, DateTimeLit)):
            return self.date(node)
        if isinstance(node, Anchor):
            return node.name
        if isinstance(node, EventMeasure):
            return self.measure(node)
        if isinstance(node, EventValues):
            raise InvalidInputError(
                "an event projection (xEvent[..].field) stands only before a list method "
                "such as .count(), .distinct() or .includes(..)"
            )
        if isinstance(node, ItemRef):
            return self.item(node)
        if isinstance(node, ListCall):
            return self.list_call(node)
        if isinstance(node, Member):
            return f"{self.postfix_base(node.operand)}.{format_path(node.path)}"
        if isinstance(node, IfValue):
            test = self.condition(node.test, TOP)
            return f"if({test}, {self.operand(node.then)}, {self.operand(node.otherwise)})"
        if isinstance(node, Func):
            if node.name in words.CURRENT_FUNCS:
                if node.args:
                    raise InvalidInputError(f"{node.name}() takes no arguments")
                return f"{node.name}()"
            if node.name == "regexGroup":
                return self.regex_group(node)
            if node.name == "substr":
                bounds = substr_bounds(node.args)
                if bounds is None:
                    raise InvalidInputError("substr() takes a text and 0 <= begin <= end")
                given = ", ".join(str(b) for b in bounds if b is not None)
                return f"{self.postfix_base(node.args[0])}.substr({given})"
            if node.name == "intersection":
                if len(node.args) != 2:
                    raise InvalidInputError("intersection() takes a list and another list")
                base, other = node.args
                return f"{self.list_base(base)}.intersection({self.operand(other)})"
            if node.name == "get":
                if len(node.args) != 2 or not isinstance(getattr(node.args[1], "value", 0), str):
                    raise InvalidInputError('get() takes a map and a key, a text: m.get("k")')
                key = quote_string(node.args[1].value)
                return f"{self.postfix_base(node.args[0])}.get({key})"
            if len(node.args) != 1:
                raise InvalidInputError(f"{node.name}() applies to exactly one value")
            base = node.args[0]
            if node.name in words.LIST_FUNCS:
                return f"{self.list_base(base)}.{node.name}()"
            return f"{self.postfix_base(base)}.{node.name}()"
        raise InvalidInputError(f"expected a value, not {type(node).__name__}")

    def regex_group(self, node: Func) -> str:
        shape = [type(arg) for arg in node.args]
        if shape[1:] != [Lit, Lit] or not (
            isinstance(node.args[1].value, str) and type(node.args[2].value) is int
        ):
            raise InvalidInputError("regexGroup() takes a text, a pattern and a group number")
        base, pattern, group = node.args
        return f"{self.postfix_base(base)}.regexGroup({quote_string(pattern.value)}, {group.value})"

    def list_base(self, node: Any) -> str:
        """What a list method follows: a projection may stand here (and only here)."""
        if isinstance(node, EventValues):
            return f"{self.events(node)}.{format_path(node.field)}"
        return self.postfix_base(node)

    def postfix_base(self, node: Any) -> str:
        text = self.operand(node)
        return f"({text})" if isinstance(node, Arith) else text

    def field(self, node: FieldRef) -> str:
        text = format_path(node.path)
        if node.path in self.labels or node.path.split(".")[0] in self.items:
            text = "`" + node.path.replace("`", "``") + "`"
        if self.items and self.items[-1] is None:  # a bare name would be the item's field
            if node.scope == "event" and self.scope == "event":
                return "^" * len(self.items) + "." + text
            return "$1." + text
        if node.scope == self.scope:
            return text
        if node.scope == "profile":
            # A profile attribute inside an event filter: the explicit parameter.
            return "$1." + text
        raise InvalidInputError(f"the event field '{node.path}' is used outside an event condition")

    def date(self, node: DateLit | DateTimeLit) -> str:
        value = node.value
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None or value.microsecond:
                raise InvalidInputError("date-times in PQL have whole seconds and no time zone")
            parts = (value.year, value.month, value.day, value.hour, value.minute, value.second)
        else:
            parts = (value.year, value.month, value.day)
        return "date(" + ", ".join(str(p) for p in parts) + ")"

    # --- windows --------------------------------------------------------------------

    def window(self, node: Any) -> str:
        if isinstance(node, RelativeWindow):
            unit = node.unit if node.amount == 1 else words.PLURAL[node.unit]
            anchor = self.time_point(node.anchor)
            return f"{node.cmp} {node.amount} {unit} {node.direction} {anchor}"
        if isinstance(node, PointWindow):
            anchor = self.time_point(node.anchor)
            if node.direction == "on" and isinstance(node.anchor, (Anchor, Period)):
                return anchor
            return f"{node.direction} {anchor}"
        if isinstance(node, BetweenWindow):
            return f"between {self.time_point(node.start)} and {self.time_point(node.end)}"
        raise InvalidInputError(f"expected a time window, not {type(node).__name__}")

    def time_point(self, node: Any) -> str:
        if isinstance(node, Period):
            return f"{node.which} {node.unit}"
        if isinstance(node, (Anchor, DateLit, DateTimeLit, FieldRef)):
            return self.operand(node)
        raise InvalidInputError(f"expected a time, not {type(node).__name__}")

    # --- events -----------------------------------------------------------------------

    def event_filter(self, event_types: list[str], where: Any, window: Any) -> str:
        """``eventType ... and <where items> and timestamp occurs W`` (empty when none)."""
        saved, self.scope = self.scope, "event"
        try:
            parts: list[str] = []
            if len(event_types) == 1:
                parts.append(f"eventType = {quote_string(event_types[0])}")
            elif event_types:
                parts.append(f"eventType in {format_list(event_types)}")
            items = items_of(where)
            alone = not parts and window is None and len(items) == 1
            parts.extend(self.condition(item, TOP if alone else AND_ITEM) for item in items)
            if window is not None:
                parts.append(f"timestamp occurs {self.window(window)}")
            return " and ".join(parts)
        finally:
            self.scope = saved

    def event(self, node: EventCondition) -> str:
        return f"{self.measure(node)} {node.op} {format_number(node.value)}"

    def events(self, node: EventCondition | EventMeasure | EventValues) -> str:
        """``xEvent[filter]``: the events a condition, measure or projection reads."""
        if self.scope == "event":
            raise InvalidInputError("an event condition cannot stand inside an event filter")
        if self.items:
            raise InvalidInputError("xEvent cannot stand inside an exists over a list")
        text = self.event_filter(node.event_types, node.where, node.window)
        return f"xEvent[{text}]" if text else "xEvent"

    def measure(self, node: EventCondition | EventMeasure) -> str:
        """``xEvent[filter].sum(f)``."""
        source = self.events(node)
        if node.measure == "count":
            if node.field is not None:
                raise InvalidInputError("count() takes no field")
            measure = "count()"
        else:
            if not node.field:
                raise InvalidInputError(f"{node.measure}() needs a field")
            measure = f"{node.measure}({format_path(node.field)})"
        return f"{source}.{measure}"

    def sequence(self, node: Sequence) -> str:
        if self.scope == "event":
            raise InvalidInputError("a chain cannot stand inside an event filter")
        steps = []
        self.labels = {step.label for step in node.steps}
        try:
            for index, step in enumerate(node.steps):
                previous = node.steps[index - 1].label if index else None
                steps.append(self.step(step, previous))
        finally:
            self.labels = set()
        return "chain(xEvent, timestamp, [" + ", ".join(steps) + "])"

    def step(self, step: SequenceStep, previous: str | None) -> str:
        clauses = [f"{step.label}:"]
        what = self.event_filter(step.event_types, step.where, None)
        if what:
            clauses.append(f"WHAT({what})")
        if step.window is not None:
            saved, self.scope = self.scope, "event"
            clauses.append(f"WHEN({self.window(step.window)})")
            self.scope = saved
        if step.within_previous is not None:
            if previous is None:
                raise InvalidInputError(f"step {step.label} is first; it has no previous step")
            duration = step.within_previous
            unit = duration.unit if duration.amount == 1 else words.PLURAL[duration.unit]
            clauses.append(f"WHEN(<= {duration.amount} {unit} after {previous})")
        if step.count != 1:
            clauses.append(f"COUNT({step.count})")
        return " ".join(clauses)

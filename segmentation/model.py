"""The segment expression tree: what the visual builder edits and PQL encodes.

Every node is a frozen pydantic model tagged by ``kind`` so a tree
round-trips through JSON. Trees are kept in one canonical shape (groups have
at least two items, event conditions hold their event types and time window
apart from other filters) so that ``parse(to_pql(tree)) == tree``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)

CompareOp = Literal["=", "!=", ">", ">=", "<", "<="]
ArithOp = Literal["+", "-", "*", "/", "%"]
TimeUnit = Literal[
    "millisecond",
    "second",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "year",
    "decade",
    "century",
    "millennium",
]
Scalar = Union[bool, int, float, str]
FuncName = Literal[
    "currentMonth",
    "currentYear",
    "currentDayOfMonth",
    "getMonth",
    "getYear",
    "getDayOfMonth",
    "upperCase",
    "lowerCase",
    "trim",
    "length",
    "regexGroup",
    "count",
    "distinct",
    "intersection",
    "substr",
    "head",
    "keys",
    "values",
    "get",
]
ListFunc = Literal["filter", "map", "groupBy", "topN", "bottomN", "sum", "average", "min", "max"]
AnchorName = Literal["now", "today", "yesterday", "tomorrow"]
Measure = Literal["count", "sum", "average", "min", "max"]

# A tree is at most this many nodes deep, whether it comes from PQL text or JSON.
MAX_DEPTH = 50
# Whole numbers are 64-bit (DuckDB BIGINT, Spark long), in text and in JSON.
MAX_INT = 2**63 - 1
# A list holds at most this many items (Spark's arrays are indexed by 32-bit numbers).
MAX_ITEMS = 2**31 - 1
# The calendar holds years 1 to 9999: no distance is longer than 10,000 years.
MAX_AMOUNT: dict[str, int] = {
    "millisecond": 315_576_000_000_000,
    "second": 315_576_000_000,
    "minute": 5_259_600_000,
    "hour": 87_660_000,
    "day": 3_652_500,
    "week": 521_786,
    "month": 120_000,
    "year": 10_000,
    "decade": 1_000,
    "century": 100,
    "millennium": 10,
}


_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(text: str) -> int | None:
    """The index of a lone UTF-16 surrogate in ``text`` (no UTF-8 can carry it), or None."""
    found = _SURROGATE.search(text)
    return found.start() if found else None


_PLURAL = {"century": "centuries", "millennium": "millennia"}


def amount_problem(amount: int, unit: str) -> str | None:
    """Why ``amount unit`` is no distance in the calendar, or None when it is one."""
    limit = MAX_AMOUNT.get(unit)
    if limit is not None and amount > limit:
        units = _PLURAL.get(unit, unit + "s")
        return (
            f"{amount:,} {units} is longer than the calendar (years 1 to 9999) holds; "
            f"at most {limit:,} {units}"
        )
    return None


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- operands (scalar values) ---------------------------------------------------


class FieldRef(Node):
    """A column: ``path`` is the name as written (dots kept, no variable prefix).

    ``scope`` says which table it names: the profile, or the event being
    filtered inside an event condition.
    """

    kind: Literal["field"] = "field"
    path: str
    scope: Literal["profile", "event"] = "profile"

    @field_validator("path")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("field path must not be empty")
        return value


class Lit(Node):
    """A literal scalar or list of scalars."""

    kind: Literal["literal"] = "literal"
    value: Union[Scalar, list[Scalar]]


class DateLit(Node):
    kind: Literal["date"] = "date"
    value: dt.date


class DateTimeLit(Node):
    kind: Literal["datetime"] = "datetime"
    value: dt.datetime


class Anchor(Node):
    """``now`` (the evaluation's as-of time) or a calendar day boundary."""

    kind: Literal["anchor"] = "anchor"
    name: AnchorName


class Arith(Node):
    kind: Literal["arith"] = "arith"
    op: ArithOp
    left: Operand
    right: Operand


_SUBSTR_LIMIT = 2**31 - 1  # Spark's substring takes 32-bit positions


def substr_bounds(args: list[Any]) -> tuple[int, int | None] | None:
    """``s.substr(begin[, end])``'s bounds when well formed: whole-number literals,
    0 <= begin <= end < 2**31 - 1 (0-based, end exclusive: Adobe's expression language's substr,
    ``substr("Hello World", 0, 5)`` is "Hello"); None otherwise."""
    bounds = [getattr(arg, "value", None) for arg in args[1:]]
    if not (
        len(args) in (2, 3)
        and all(isinstance(arg, Lit) and type(arg.value) is int for arg in args[1:])
        and 0 <= bounds[0] <= bounds[-1] < _SUBSTR_LIMIT
    ):
        return None
    return bounds[0], (bounds[1] if len(bounds) == 2 else None)


class Func(Node):
    """Functions: ``currentMonth()``, ``birthDate.getMonth()``, ``name.upperCase()``,
    ``email.regexGroup("@(\\w+)", 1)`` (args: the text, the pattern, the group),
    ``email.substr(0, 4)`` (args: the text, begin, end; see ``substr_bounds``).

    On lists: ``interests.count()`` (the number of items, missing when the list is),
    ``orders.head()`` (the first item), ``identityMap.get("email")`` (args: the map, the
    key), ``identityMap.keys()`` and ``.values()`` (lists; ``count()`` of a map: its entries),
    ``interests.distinct()`` (a list without repeats or missing items),
    ``a.intersection(b)`` (the items of ``a`` also in ``b``, each once), so
    ``interests.distinct().count() >= 2`` is
    ``Compare(">=", Func("count", [Func("distinct", [FieldRef("interests")])]), Lit(2))``.
    """

    kind: Literal["func"] = "func"
    name: FuncName
    args: list[Operand] = Field(default_factory=list)


class _EventFilter(Node):
    """The profile's events a node reads: ``event_types`` (any of), ``window`` (on the
    event timestamp) and ``where`` (other filters on event fields, scope "event")."""

    event_types: list[str] = Field(default_factory=list)
    where: Condition | None = None
    window: TimeWindow | None = None


class _EventSelection(_EventFilter):
    """The profile's events that a measure reads, and the measure: count, or an
    aggregate of ``field``. Count and sum of no events are 0; average, min and max of
    none are missing.
    """

    measure: Measure = "count"
    field: str | None = None

    def selection(self) -> dict[str, Any]:
        """The five selection fields, as they are (to build the other kind from)."""
        return {name: getattr(self, name) for name in _EventSelection.model_fields}

    @model_validator(mode="after")
    def _field_matches_measure(self) -> _EventSelection:
        if (self.measure == "count") != (self.field is None):
            raise ValueError("count takes no field; sum, average, min and max need one")
        return self


class EventMeasure(_EventSelection):
    """An event measure as a value: ``xEvent[..].sum(revenue) > ltv``,
    ``xEvent[A].count() > xEvent[B].count()``. Compared with a plain number it is
    an EventCondition instead (one spelling per meaning)."""

    kind: Literal["measure"] = "measure"


class EventValues(_EventFilter):
    """``xEvent[eventType = "purchase"].sku``: the values of one event field over the
    profile's selected events, as a list (missing values left out; no events: empty).
    A list field gives its items (``xEvent.tags``: every tag of every event)."""

    kind: Literal["event_values"] = "event_values"
    field: str = Field(min_length=1)


class ItemRef(Node):
    """The item of the list an ``exists`` walks: ``T`` in ``exists T from tags where T =
    "promo"`` (``path``: a field of a struct item, ``T.sku``)."""

    kind: Literal["item"] = "item"
    path: str | None = None


class ListCall(Node):
    """AEP's functions of each item of a list, which read the item as ``ItemRef``:
    ``orders.filter(price > 50)`` (also written ``orders[price > 50]``; ``test``),
    ``orders.map(price)``, ``orders.groupBy(storeId)`` (a map of key to items),
    ``orders.topN(price, 5)`` / ``bottomN`` (the ``n`` items of highest / lowest ``by``),
    ``orders.sum(price)``, ``average``, ``min``, ``max`` (``by`` None: of a list of numbers).
    Items whose ``by`` is missing are left out of topN/bottomN, groupBy and the aggregates.
    """

    kind: Literal["list_call"] = "list_call"
    name: ListFunc
    operand: Operand
    test: Condition | None = None
    by: Operand | None = None
    n: int | None = Field(default=None, ge=1, le=MAX_ITEMS)

    @model_validator(mode="after")
    def _arguments_match_name(self) -> ListCall:
        if (self.name == "filter") != (self.test is not None):
            raise ValueError("filter takes a test (a condition), the others none")
        if self.name in ("map", "groupBy", "topN", "bottomN") and self.by is None:
            raise ValueError(f"{self.name} needs by, the value of each item")
        if self.name == "filter" and self.by is not None:
            raise ValueError("filter takes a test, not by")
        if (self.name in ("topN", "bottomN")) != (self.n is not None):
            raise ValueError("topN and bottomN take n, the number of items; the others none")
        return self


class Member(Node):
    """A field of a struct value: ``orders.topN(price, 5).head().price``,
    ``identityMap.get("email").id``. Of a list of structs: the list of that field."""

    kind: Literal["member"] = "member"
    operand: Operand
    path: str = Field(min_length=1)


class IfValue(Node):
    """``if(test, a, b)``: ``a`` where the test holds, else ``b`` (a missing test is false)."""

    kind: Literal["if"] = "if"
    test: Condition
    then: Operand
    otherwise: Operand


Operand = Annotated[
    Union[
        FieldRef,
        Lit,
        DateLit,
        DateTimeLit,
        Anchor,
        Arith,
        Func,
        EventMeasure,
        EventValues,
        ItemRef,
        IfValue,
        ListCall,
        Member,
    ],
    Field(discriminator="kind"),
]


# --- time windows for ``occurs`` --------------------------------------------------


class Period(Node):
    """A calendar period: ``this month``, ``last week``, ``next year``."""

    kind: Literal["period"] = "period"
    which: Literal["this", "last", "next"]
    unit: TimeUnit


TimePoint = Annotated[
    Union[Anchor, Period, DateLit, DateTimeLit, FieldRef],
    Field(discriminator="kind"),
]


class _Distance(Node):
    """A node with an ``amount`` of ``unit``s, which must fit in the calendar."""

    @model_validator(mode="after")
    def _fits_the_calendar(self) -> _Distance:
        problem = amount_problem(self.amount, self.unit)  # type: ignore[attr-defined]
        if problem:
            raise ValueError(problem)
        return self


class RelativeWindow(_Distance):
    """``occurs <= 30 days before now``: compare the distance to an anchor."""

    kind: Literal["relative"] = "relative"
    cmp: CompareOp
    amount: int = Field(ge=0)
    unit: TimeUnit
    direction: Literal["before", "after", "from"]
    anchor: TimePoint


class PointWindow(Node):
    """``occurs before today``, ``occurs after date(..)``, ``occurs on this month``."""

    kind: Literal["point"] = "point"
    direction: Literal["before", "after", "on"]
    anchor: TimePoint


class BetweenWindow(Node):
    """``occurs between date(..) and date(..)``, inclusive on dates."""

    kind: Literal["between"] = "between"
    start: TimePoint
    end: TimePoint


TimeWindow = Annotated[
    Union[RelativeWindow, PointWindow, BetweenWindow], Field(discriminator="kind")
]


class Duration(_Distance):
    amount: int = Field(ge=0)
    unit: TimeUnit


# --- conditions (boolean) ---------------------------------------------------------


class And(Node):
    kind: Literal["and"] = "and"
    items: list[Condition] = Field(min_length=2)


class Or(Node):
    kind: Literal["or"] = "or"
    items: list[Condition] = Field(min_length=2)


class Not(Node):
    kind: Literal["not"] = "not"
    item: Condition


class BoolConst(Node):
    """``true`` selects every profile; ``false`` none."""

    kind: Literal["bool"] = "bool"
    value: bool


class Compare(Node):
    kind: Literal["compare"] = "compare"
    op: CompareOp
    left: Operand
    right: Operand

    @model_validator(mode="after")
    def _measure_against_a_number_is_an_event_condition(self) -> Compare:
        sides = (self.left, self.right)
        if any(isinstance(side, EventMeasure) for side in sides) and any(
            isinstance(side, Lit) and type(side.value) in (int, float) for side in sides
        ):
            raise ValueError(
                "an event measure compared with a number is an event condition "
                '({"kind": "event", "measure": ..., "op": ..., "value": ...})'
            )
        return self


class InList(Node):
    """``x in [..]``; ``negate`` is PQL's ``notIn``, which is false on null. Dates and
    date-times in the list (``birthDate in [date(1990, 1, 1)]``) match their whole day."""

    kind: Literal["in"] = "in"
    operand: Operand
    values: list[Union[Scalar, DateLit, DateTimeLit]] = Field(min_length=1)
    negate: bool = False


class TextMatch(Node):
    """String tests. ``negate`` spells doesNotContain, notEqualTo and the like.

    ``like`` and ``matches`` carry neither a case flag nor a negation in PQL.
    """

    kind: Literal["text"] = "text"
    op: Literal["contains", "startsWith", "endsWith", "equals", "like", "matches"]
    operand: Operand
    value: str
    case_sensitive: bool = True
    negate: bool = False


class NullCheck(Node):
    kind: Literal["null"] = "null"
    operand: Operand
    is_null: bool = True


class ListMatch(Node):
    """List fields: ``interests.intersects(["a","b"])``; ``includes`` takes one value.

    The argument is either ``values`` (written out) or ``other``, an expression:
    ``favoriteCities.subsetOf(visitedCities)``, ``tags.includes(favoriteTag)``.
    """

    kind: Literal["list"] = "list"
    op: Literal["intersects", "includes", "subsetOf", "supersetOf"]
    operand: Operand
    values: list[Scalar] = Field(default_factory=list)
    other: Operand | None = None

    @model_validator(mode="after")
    def _one_argument(self) -> ListMatch:
        if (self.other is None) == (not self.values):
            raise ValueError("a list test takes either values or another operand (other)")
        if isinstance(self.other, Lit):
            raise ValueError("values written out go in values, not in other")
        return self


# the variable of "some item meets it" written without one (orders[price > 50], and
# xEvent.productListItems.SKU = "PS" on a list of structs): exists I from orders where ..
SOME_ITEM_VAR = "I"


class ListAny(Node):
    """``exists T from tags where T = "promo"``: some item of a list meets ``where``,
    which reads the item as ``ItemRef``. A missing list has no items. Inside an event
    filter the list is an event field: AEP's two generators ``exists E from xEvent
    where .., T from E.tags where ..`` are an event condition holding one."""

    kind: Literal["list_any"] = "list_any"
    var: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    operand: Operand
    where: Condition


class Occurs(Node):
    kind: Literal["occurs"] = "occurs"
    operand: Operand
    window: TimeWindow


class EventCondition(_EventSelection):
    """Something the profile did: a measure over its matching events vs. a number.

    "Did not perform" is ``count = 0``. A profile with no matching events has
    count 0 and sum 0; average, min and max are missing, so they never match.
    """

    kind: Literal["event"] = "event"
    op: CompareOp = ">="
    value: float | int = 1


class SequenceStep(Node):
    """One step of a chain: WHAT (types, where), WHEN (window), COUNT (at least n)."""

    label: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    event_types: list[str] = Field(default_factory=list)
    where: Condition | None = None
    window: TimeWindow | None = None
    count: int = Field(default=1, ge=1, le=MAX_INT)
    within_previous: Duration | None = None


class Sequence(Node):
    """PQL ``chain``: steps in strict time order."""

    kind: Literal["sequence"] = "sequence"
    steps: list[SequenceStep] = Field(min_length=1)


class SegmentRef(Node):
    """``inSegment("id or name")``: membership in another saved definition."""

    kind: Literal["segment"] = "segment"
    segment: str


Condition = Annotated[
    Union[
        And,
        Or,
        Not,
        BoolConst,
        Compare,
        InList,
        TextMatch,
        NullCheck,
        ListMatch,
        ListAny,
        Occurs,
        EventCondition,
        Sequence,
        SegmentRef,
    ],
    Field(discriminator="kind"),
]
Expression = Condition
CONDITION_TYPES: tuple[type[Node], ...] = get_args(get_args(Condition)[0])
OPERAND_TYPES: tuple[type[Node], ...] = get_args(get_args(Operand)[0])

for _model in (
    Arith,
    Func,
    EventMeasure,
    EventValues,
    IfValue,
    ListCall,
    Member,
    Compare,
    ListMatch,
    ListAny,
    And,
    Or,
    Not,
    EventCondition,
    SequenceStep,
):
    _model.model_rebuild()

_ADAPTER: TypeAdapter[Any] = TypeAdapter(Expression)


def expression_from_json(data: str | dict[str, Any]) -> Expression:
    """Validate a tree given as JSON text or a dict."""
    if isinstance(data, str):
        return _ADAPTER.validate_json(data)
    return _ADAPTER.validate_python(data)


def expression_to_dict(expr: Expression) -> dict[str, Any]:
    return _ADAPTER.dump_python(expr, mode="json")


def expression_to_json(expr: Expression) -> str:
    return json.dumps(expression_to_dict(expr), sort_keys=True)


def expression_json_schema() -> dict[str, Any]:
    return _ADAPTER.json_schema()


def walk(expr: Any):
    """Yield every node of a tree, depth first, the root first."""
    yield expr
    if isinstance(expr, BaseModel):
        for name in type(expr).model_fields:
            value = getattr(expr, name)
            children = value if isinstance(value, list) else [value]
            for child in children:
                if isinstance(child, BaseModel):
                    yield from walk(child)


def segment_refs(expr: Expression) -> list[str]:
    """The ids or names of the segments an expression refers to."""
    return [node.segment for node in walk(expr) if isinstance(node, SegmentRef)]

"""The vocabulary of PQL shared by the parser and the formatter."""

from __future__ import annotations

COMPARE_OPS = ("=", "!=", ">", ">=", "<", "<=")

# Plural and singular spellings -> the model's singular TimeUnit.
UNITS: dict[str, str] = {}
for _singular, _plural in (
    ("millisecond", "milliseconds"),
    ("second", "seconds"),
    ("minute", "minutes"),
    ("hour", "hours"),
    ("day", "days"),
    ("week", "weeks"),
    ("month", "months"),
    ("year", "years"),
    ("decade", "decades"),
    ("century", "centuries"),
    ("millennium", "millennia"),
):
    UNITS[_singular] = _singular
    UNITS[_plural] = _singular
PLURAL = {singular: plural for plural, singular in UNITS.items() if plural != singular}

ANCHORS = ("now", "today", "yesterday", "tomorrow")
PERIOD_WORDS = ("this", "last", "next")
CURRENT_FUNCS = ("currentMonth", "currentYear", "currentDayOfMonth")
GET_FUNCS = ("getMonth", "getYear", "getDayOfMonth")
TEXT_FUNCS = ("upperCase", "lowerCase", "trim", "length")  # s.upperCase(): no arguments
MEASURES = ("count", "sum", "average", "min", "max")
LIST_FUNCS = ("count", "distinct")  # list.count(), list.distinct(): no arguments
# list functions of each item: orders.filter(price > 5), orders.sum(price), orders.topN(price, 5)
ITEM_FUNCS = ("filter", "map", "groupBy", "topN", "bottomN", "sum", "average", "min", "max")
MAP_FUNCS = ("get", "keys", "values", "head")  # m.get("k"), m.keys(), m.values(), l.head()
# what may follow a projection of an event field (xEvent[..].sku.distinct().count())
PROJECTION_METHODS = (
    "count",
    "distinct",
    "intersection",
    "intersects",
    "includes",
    "subsetOf",
    "supersetOf",
)

# method name -> (TextMatch op, negate)
TEXT_METHODS: dict[str, tuple[str, bool]] = {
    "contains": ("contains", False),
    "doesNotContain": ("contains", True),
    "startsWith": ("startsWith", False),
    "doesNotStartWith": ("startsWith", True),
    "endsWith": ("endsWith", False),
    "doesNotEndWith": ("endsWith", True),
    "equals": ("equals", False),
    "notEqualTo": ("equals", True),
}
TEXT_SPELLING = {value: name for name, value in TEXT_METHODS.items()}
LIST_METHODS = ("intersects", "includes", "subsetOf", "supersetOf")
NULL_METHODS = {"isNull": True, "isNotNull": False}

# Valid in AEP PQL, not evaluated here: name -> construct named in UnsupportedError.
UNSUPPORTED_METHODS = {
    "any": "xEvent.any()",
    "all": "xEvent.all()",
}

KNOWN_METHODS = (
    *TEXT_METHODS,
    "matches",
    *LIST_METHODS,
    *NULL_METHODS,
    *GET_FUNCS,
    *TEXT_FUNCS,
    "regexGroup",
    "substr",
    *MEASURES,
    *LIST_FUNCS,
    *ITEM_FUNCS,
    *MAP_FUNCS,
    "exists",
    "intersection",
    *UNSUPPORTED_METHODS,
)
INFIX_WORDS = ("and", "or", "in", "notIn", "like", "matches", "occurs")
KNOWN_FUNCTIONS = (*CURRENT_FUNCS, "date", "inSegment", "chain", "if")

# Words a bare field name must not look like (compared lowercased); such names get backticks.
RESERVED = {
    word.lower()
    for word in (
        "and",
        "or",
        "not",
        "true",
        "false",
        "in",
        "notIn",
        "like",
        "matches",
        "occurs",
        *ANCHORS,
        *PERIOD_WORDS,
        "before",
        "after",
        "from",
        "on",
        "between",
        "date",
        "xEvent",
        "select",
        "exists",
        "forall",
        "let",
        "over",
        "where",
        "chain",
        "inSegment",
        "if",
        *CURRENT_FUNCS,
        *MEASURES,
        "what",
        "when",
        *UNITS,
    )
}

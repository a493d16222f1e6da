"""PQL text <-> tree: table-driven parse, canonical text, errors, and round-trip properties."""

from __future__ import annotations

import datetime as dt
import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmentation.errors import (
    InvalidInputError,
    PQLSyntaxError,
    SegmentationError,
    UnsupportedError,
)
from segmentation.model import (
    Anchor,
    And,
    Arith,
    BetweenWindow,
    BoolConst,
    Compare,
    DateLit,
    DateTimeLit,
    Duration,
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
)
from segmentation.pattern_check import RegexDialectError, check_regex
from segmentation.pql import parse, to_pql
from segmentation.pql.events import where_is_canonical


def F(path: str) -> FieldRef:
    return FieldRef(path=path)


def E(path: str) -> FieldRef:
    return FieldRef(path=path, scope="event")


def L(value) -> Lit:
    return Lit(value=value)


def IT(path: str | None = None) -> ItemRef:
    return ItemRef(path=path)


def LC(name: str, operand, **parts) -> ListCall:
    return ListCall(name=name, operand=operand, **parts)


def C(op: str, left, right) -> Compare:
    return Compare(op=op, left=left, right=right)


def eq(path: str, value) -> Compare:
    return C("=", F(path), L(value))


def ev_eq(path: str, value) -> Compare:
    return C("=", E(path), L(value))


NOW, TODAY = Anchor(name="now"), Anchor(name="today")
YESTERDAY = Anchor(name="yesterday")


def rel(cmp: str, amount: int, unit: str, direction: str = "before", anchor=NOW):
    return RelativeWindow(cmp=cmp, amount=amount, unit=unit, direction=direction, anchor=anchor)


def d(y: int, m: int, day: int) -> DateLit:
    return DateLit(value=dt.date(y, m, day))


def occurs(path: str, window) -> Occurs:
    return Occurs(operand=F(path), window=window)


def event(**kwargs) -> EventCondition:
    return EventCondition(**kwargs)


# --- text -> tree -------------------------------------------------------------------

PARSE_CASES = [
    # comparisons and literals
    ('homeAddress.countryCode = "US"', eq("homeAddress.countryCode", "US")),
    ("age != 30", C("!=", F("age"), L(30))),
    ("age > 30", C(">", F("age"), L(30))),
    ("age >= 30", C(">=", F("age"), L(30))),
    ("age < 30", C("<", F("age"), L(30))),
    ("age <= 30", C("<=", F("age"), L(30))),
    ("balance > -12.5", C(">", F("balance"), L(-12.5))),
    ("score = 1.0", C("=", F("score"), L(1.0))),
    ("score = 1e3", C("=", F("score"), L(1000.0))),
    ("-3 < delta", C("<", L(-3), F("delta"))),
    ("isVip = true", eq("isVip", True)),
    ("n = 9223372036854775807", eq("n", 2**63 - 1)),
    # comparisons whose right side is not a literal (#12 family 2)
    (
        'xEvent[eventType = "a"].count() > xEvent[eventType = "b"].count()',
        C(">", EventMeasure(event_types=["a"]), EventMeasure(event_types=["b"])),
    ),
    (
        'xEvent[eventType = "buy"].sum(revenue) > ltv',
        C(">", EventMeasure(event_types=["buy"], measure="sum", field="revenue"), F("ltv")),
    ),
    (
        "xEvent.sum(revenue) * 2 >= ltv + 10",
        C(
            ">=",
            Arith(op="*", left=EventMeasure(measure="sum", field="revenue"), right=L(2)),
            Arith(op="+", left=F("ltv"), right=L(10)),
        ),
    ),
    ("age > xEvent.average(x)", C(">", F("age"), EventMeasure(measure="average", field="x"))),
    ("5 < xEvent.count()", EventCondition(op=">", value=5)),
    # functions (#12 family 4)
    (
        'if(country = "CA", 1, 2) = 1',
        C("=", IfValue(test=eq("country", "CA"), then=L(1), otherwise=L(2)), L(1)),
    ),
    ('name.upperCase() = "X"', C("=", Func(name="upperCase", args=[F("name")]), L("X"))),
    (
        "name.trim().length() > 3",
        C(">", Func(name="length", args=[Func(name="trim", args=[F("name")])]), L(3)),
    ),
    (
        'email.regexGroup("@(\\\\w+)", 1) = "example"',
        C("=", Func(name="regexGroup", args=[F("email"), L("@(\\w+)"), L(1)]), L("example")),
    ),
    (
        'email.substr(0, 4) = "user"',
        C("=", Func(name="substr", args=[F("email"), L(0), L(4)]), L("user")),
    ),
    (
        'email.substr(5).startsWith("@")',
        TextMatch(op="startsWith", operand=Func(name="substr", args=[F("email"), L(5)]), value="@"),
    ),
    (
        "let S = (max X.v over X from xEvent) in (S > ltv)",
        C(">", EventMeasure(measure="max", field="v"), F("ltv")),
    ),
    ('name = "\\ud83d\\ude80 \\u00e9"', eq("name", "\U0001f680 \u00e9")),
    ("end = date(9999, 12, 31)", C("=", F("end"), DateLit(value=dt.date(9999, 12, 31)))),
    ("true", BoolConst(value=True)),
    ("false", BoolConst(value=False)),
    ("(true)", BoolConst(value=True)),
    ('name = "a\\"b\\\\c\\n\\t\\u00e9"', eq("name", 'a"b\\c\n\té')),
    ('`first name` = "Ann"', eq("first name", "Ann")),
    ('`home``s` = "x"', eq("home`s", "x")),
    ('homeAddress.`country code` = "US"', eq("homeAddress.country code", "US")),
    ('$1.homeAddress.countryCode = "US"', eq("homeAddress.countryCode", "US")),
    ('(Profile) => Profile.homeAddress.countryCode = "US"', eq("homeAddress.countryCode", "US")),
    ('person => person.name.firstName = "Ann"', eq("name.firstName", "Ann")),
    ("tags = [1, 2]", C("=", F("tags"), L([1, 2]))),
    # boolean structure
    ("a = 1 and b = 2 and c = 3", And(items=[eq("a", 1), eq("b", 2), eq("c", 3)])),
    ("a = 1 or b = 2 or c = 3", Or(items=[eq("a", 1), eq("b", 2), eq("c", 3)])),
    ("a = 1 AND b = 2", And(items=[eq("a", 1), eq("b", 2)])),
    (
        "a = 1 and (b = 2 and c = 3)",
        And(items=[eq("a", 1), And(items=[eq("b", 2), eq("c", 3)])]),
    ),
    (
        "a = 1 or b = 2 and c = 3",
        Or(items=[eq("a", 1), And(items=[eq("b", 2), eq("c", 3)])]),
    ),
    (
        "(a = 1 or b = 2) and c = 3",
        And(items=[Or(items=[eq("a", 1), eq("b", 2)]), eq("c", 3)]),
    ),
    ("not (a = 1)", Not(item=eq("a", 1))),
    ("not(a = 1)", Not(item=eq("a", 1))),
    ("!(a = 1)", Not(item=eq("a", 1))),
    ("not a = 1 and b = 2", And(items=[Not(item=eq("a", 1)), eq("b", 2)])),
    ("true and a = 1", And(items=[BoolConst(value=True), eq("a", 1)])),
    # arithmetic
    ("age % 5 = 0", C("=", Arith(op="%", left=F("age"), right=L(5)), L(0))),
    (
        "a + b * c = 7",
        C("=", Arith(op="+", left=F("a"), right=Arith(op="*", left=F("b"), right=F("c"))), L(7)),
    ),
    (
        "(a + b) * c = 7",
        C("=", Arith(op="*", left=Arith(op="+", left=F("a"), right=F("b")), right=F("c")), L(7)),
    ),
    (
        "a - b - c > 0",
        C(">", Arith(op="-", left=Arith(op="-", left=F("a"), right=F("b")), right=F("c")), L(0)),
    ),
    ("a / 2 < 1.5", C("<", Arith(op="/", left=F("a"), right=L(2)), L(1.5))),
    ("a - -2 > 0", C(">", Arith(op="-", left=F("a"), right=L(-2)), L(0))),
    # lists
    (
        'homeAddress.countryCode in ["US", "CA"]',
        InList(operand=F("homeAddress.countryCode"), values=["US", "CA"]),
    ),
    ("age notIn [1, 4, 7]", InList(operand=F("age"), values=[1, 4, 7], negate=True)),
    (
        'interests.intersects(["golf", "tennis"])',
        ListMatch(op="intersects", operand=F("interests"), values=["golf", "tennis"]),
    ),
    (
        'interests.includes("golf")',
        ListMatch(op="includes", operand=F("interests"), values=["golf"]),
    ),
    (
        'interests.subsetOf(["a", "b"])',
        ListMatch(op="subsetOf", operand=F("interests"), values=["a", "b"]),
    ),
    (
        'interests.supersetOf(["a"])',
        ListMatch(op="supersetOf", operand=F("interests"), values=["a"]),
    ),
    ("interests.count() > 2", C(">", Func(name="count", args=[F("interests")]), L(2))),
    (
        "favoriteCities.subsetOf(visitedCities)",
        ListMatch(op="subsetOf", operand=F("favoriteCities"), other=F("visitedCities")),
    ),
    (
        "tags.includes(otherTag.lowerCase())",
        ListMatch(
            op="includes", operand=F("tags"), other=Func(name="lowerCase", args=[F("otherTag")])
        ),
    ),
    (
        'a.intersection(b) = ["red", "blue"]',
        C("=", Func(name="intersection", args=[F("a"), F("b")]), L(["red", "blue"])),
    ),
    (
        'a.intersection(["x"]).count() = 1',
        C("=", Func(name="count", args=[Func(name="intersection", args=[F("a"), L(["x"])])]), L(1)),
    ),
    (
        'birthDate in [date(1990, 1, 1), date(1991, 1, 1, 12, 0, 0), "1992-01-01"]',
        InList(
            operand=F("birthDate"),
            values=[d(1990, 1, 1), DateTimeLit(value=dt.datetime(1991, 1, 1, 12)), "1992-01-01"],
        ),
    ),
    (
        'xEvent[eventType = "purchase"].sku.distinct().count() >= 3',
        C(
            ">=",
            Func(
                name="count",
                args=[
                    Func(name="distinct", args=[EventValues(event_types=["purchase"], field="sku")])
                ],
            ),
            L(3),
        ),
    ),
    (
        'xEvent.productListItems.SKU.includes("PS")',
        ListMatch(op="includes", operand=EventValues(field="productListItems.SKU"), values=["PS"]),
    ),
    (
        'exists E from xEvent where E.eventType = "x", T from E.tags where T = "promo"',
        event(
            event_types=["x"],
            where=ListAny(var="T", operand=E("tags"), where=C("=", ItemRef(), L("promo"))),
        ),
    ),
    (
        'forall E from xEvent where E.p > 50, I from E.items where I.SKU = "PS"',
        event(
            where=ListAny(
                var="I",
                operand=E("items"),
                where=Not(
                    item=And(items=[C(">", E("p"), L(50)), C("=", ItemRef(path="SKU"), L("PS"))])
                ),
            ),
            op="=",
            value=0,
        ),
    ),
    (
        'exists T from interests where T.startsWith("s") and age > 3',
        ListAny(
            var="T",
            operand=F("interests"),
            where=And(
                items=[
                    TextMatch(op="startsWith", operand=ItemRef(), value="s"),
                    C(">", F("age"), L(3)),
                ]
            ),
        ),
    ),
    (
        "forall X from items where X.price > 5",
        Not(
            item=ListAny(
                var="X", operand=F("items"), where=Not(item=C(">", ItemRef(path="price"), L(5)))
            )
        ),
    ),
    # AEP's functions of a list's items: bare names are the item's fields
    (
        "orders.filter(price > 50).count() > 1",
        C(
            ">",
            Func(name="count", args=[LC("filter", F("orders"), test=C(">", IT("price"), L(50)))]),
            L(1),
        ),
    ),
    ("orders[price > 50]", ListAny(var="I", operand=F("orders"), where=C(">", IT("price"), L(50)))),
    (
        'xEvent[productListItems[SKU = "PS" or ^^.person.gender = "female"]].count() > 0',
        EventCondition(
            where=ListAny(
                var="I",
                operand=E("productListItems"),
                where=Or(items=[C("=", IT("SKU"), L("PS")), eq("person.gender", "female")]),
            ),
            op=">",
            value=0,
        ),
    ),
    (
        "xEvent[items.filter(q > ^.qty).count() > 0].count() > 0",
        EventCondition(
            where=C(
                ">",
                Func(name="count", args=[LC("filter", E("items"), test=C(">", IT("q"), E("qty")))]),
                L(0),
            ),
            op=">",
            value=0,
        ),
    ),
    (
        "orders.map(price).includes(5)",
        ListMatch(op="includes", operand=LC("map", F("orders"), by=IT("price")), values=[5]),
    ),
    (
        "orders.groupBy(storeId).count() > 1",
        C(">", Func(name="count", args=[LC("groupBy", F("orders"), by=IT("storeId"))]), L(1)),
    ),
    (
        "orders.topN(price, 5).head().price > 10",
        C(
            ">",
            Member(
                operand=Func(name="head", args=[LC("topN", F("orders"), by=IT("price"), n=5)]),
                path="price",
            ),
            L(10),
        ),
    ),
    (
        "orders.bottomN(price * 2, 1).count() = 1",
        C(
            "=",
            Func(
                name="count",
                args=[
                    LC("bottomN", F("orders"), by=Arith(op="*", left=IT("price"), right=L(2)), n=1)
                ],
            ),
            L(1),
        ),
    ),
    ("orders.sum(order.price) > 100", C(">", LC("sum", F("orders"), by=IT("order.price")), L(100))),
    ("scores.average() < $1.age", C("<", LC("average", F("scores")), F("age"))),
    (
        "orders.max(price) > orders.min(price) * 2",
        C(
            ">",
            LC("max", F("orders"), by=IT("price")),
            Arith(op="*", left=LC("min", F("orders"), by=IT("price")), right=L(2)),
        ),
    ),
    (
        'identityMap.get("email").id = "x"',
        C(
            "=",
            Member(operand=Func(name="get", args=[F("identityMap"), L("email")]), path="id"),
            L("x"),
        ),
    ),
    (
        "identityMap.keys().count() > 0",
        C(">", Func(name="count", args=[Func(name="keys", args=[F("identityMap")])]), L(0)),
    ),
    (
        'm.values().exists(stringProperty = "active")',
        ListAny(
            var="I",
            operand=Func(name="values", args=[F("m")]),
            where=C("=", IT("stringProperty"), L("active")),
        ),
    ),
    (
        'identityMap.values().includes("a")',
        ListMatch(
            op="includes", operand=Func(name="values", args=[F("identityMap")]), values=["a"]
        ),
    ),
    (
        "interests.distinct().count() >= 2",
        C(">=", Func(name="count", args=[Func(name="distinct", args=[F("interests")])]), L(2)),
    ),
    (
        'interests.distinct().includes("a")',
        ListMatch(
            op="includes", operand=Func(name="distinct", args=[F("interests")]), values=["a"]
        ),
    ),
    (
        "xEvent.count() > interests.count()",
        C(">", EventMeasure(), Func(name="count", args=[F("interests")])),
    ),
    # strings
    (
        'person.name.firstName like "%es%"',
        TextMatch(op="like", operand=F("person.name.firstName"), value="%es%"),
    ),
    (
        'email.matches("^a.*\\\\.com$")',
        TextMatch(op="matches", operand=F("email"), value="^a.*\\.com$"),
    ),
    ('email matches "(?i)x"', TextMatch(op="matches", operand=F("email"), value="(?i)x")),
    ('city.contains("York")', TextMatch(op="contains", operand=F("city"), value="York")),
    (
        'city.contains("york", false)',
        TextMatch(op="contains", operand=F("city"), value="york", case_sensitive=False),
    ),
    (
        'city.doesNotContain("x")',
        TextMatch(op="contains", operand=F("city"), value="x", negate=True),
    ),
    ('city.startsWith("New")', TextMatch(op="startsWith", operand=F("city"), value="New")),
    (
        'city.doesNotStartWith("N", true)',
        TextMatch(op="startsWith", operand=F("city"), value="N", negate=True),
    ),
    ('city.endsWith("ork")', TextMatch(op="endsWith", operand=F("city"), value="ork")),
    (
        'city.doesNotEndWith("k")',
        TextMatch(op="endsWith", operand=F("city"), value="k", negate=True),
    ),
    (
        'eventType.equals("commerce.checkouts", false)',
        TextMatch(
            op="equals", operand=F("eventType"), value="commerce.checkouts", case_sensitive=False
        ),
    ),
    (
        'city.notEqualTo("Paris")',
        TextMatch(op="equals", operand=F("city"), value="Paris", negate=True),
    ),
    # null checks
    ("birthDate.isNull()", NullCheck(operand=F("birthDate"))),
    ("person.birthDate.isNotNull()", NullCheck(operand=F("person.birthDate"), is_null=False)),
    # dates and functions
    ("birthDate < date(2000, 1, 1)", C("<", F("birthDate"), d(2000, 1, 1))),
    (
        "lastSeen > date(2024, 5, 1, 13, 30, 0)",
        C(">", F("lastSeen"), DateTimeLit(value=dt.datetime(2024, 5, 1, 13, 30))),
    ),
    (
        "birthDate.getMonth() = currentMonth()",
        C("=", Func(name="getMonth", args=[F("birthDate")]), Func(name="currentMonth")),
    ),
    (
        "birthDate.getYear() < currentYear() - 18",
        C(
            "<",
            Func(name="getYear", args=[F("birthDate")]),
            Arith(op="-", left=Func(name="currentYear"), right=L(18)),
        ),
    ),
    (
        "birthDate.getDayOfMonth() = currentDayOfMonth()",
        C("=", Func(name="getDayOfMonth", args=[F("birthDate")]), Func(name="currentDayOfMonth")),
    ),
    ("signup < today", C("<", F("signup"), TODAY)),
    # occurs
    ("ts occurs <= 3 days before now", occurs("ts", rel("<=", 3, "day"))),
    ("ts occurs < 24 hours before now", occurs("ts", rel("<", 24, "hour"))),
    ("ts occurs = 1 day before today", occurs("ts", rel("=", 1, "day", anchor=TODAY))),
    (
        "ts occurs > 2 weeks after date(2024, 1, 1)",
        occurs("ts", rel(">", 2, "week", "after", d(2024, 1, 1))),
    ),
    ("ts occurs >= 1 century from now", occurs("ts", rel(">=", 1, "century", "from"))),
    ("ts occurs != 2 millennia before now", occurs("ts", rel("!=", 2, "millennium"))),
    (
        "ts occurs < 5 minutes before birthDate",
        occurs("ts", rel("<", 5, "minute", anchor=F("birthDate"))),
    ),
    ("ts occurs before today", occurs("ts", PointWindow(direction="before", anchor=TODAY))),
    ("ts occurs after yesterday", occurs("ts", PointWindow(direction="after", anchor=YESTERDAY))),
    (
        "ts occurs on date(2024, 5, 1)",
        occurs("ts", PointWindow(direction="on", anchor=d(2024, 5, 1))),
    ),
    ("ts occurs today", occurs("ts", PointWindow(direction="on", anchor=TODAY))),
    (
        "ts occurs this month",
        occurs("ts", PointWindow(direction="on", anchor=Period(which="this", unit="month"))),
    ),
    (
        "ts occurs last week",
        occurs("ts", PointWindow(direction="on", anchor=Period(which="last", unit="week"))),
    ),
    (
        "ts occurs on next years",
        occurs("ts", PointWindow(direction="on", anchor=Period(which="next", unit="year"))),
    ),
    (
        "ts occurs between date(2024, 1, 1) and date(2024, 3, 31)",
        occurs("ts", BetweenWindow(start=d(2024, 1, 1), end=d(2024, 3, 31))),
    ),
    (
        "ts occurs between last month and today and a = 1",
        And(
            items=[
                occurs("ts", BetweenWindow(start=Period(which="last", unit="month"), end=TODAY)),
                eq("a", 1),
            ]
        ),
    ),
    # events: xEvent[...] forms
    (
        'xEvent[eventType = "commerce.purchases"].count() > 0',
        event(event_types=["commerce.purchases"], op=">", value=0),
    ),
    ("xEvent.count() > 0", event(op=">", value=0)),
    (
        'xEvent[eventType in ["a", "b"] and channel = "web" '
        "and timestamp occurs <= 7 days before now].count() >= 3",
        event(
            event_types=["a", "b"],
            where=ev_eq("channel", "web"),
            window=rel("<=", 7, "day"),
            value=3,
        ),
    ),
    (
        'xEvent[timestamp occurs today and channel = "web" and device = "ios"].count() = 0',
        event(
            window=PointWindow(direction="on", anchor=TODAY),
            where=And(items=[ev_eq("channel", "web"), ev_eq("device", "ios")]),
            op="=",
            value=0,
        ),
    ),
    (
        'xEvent[eventType = "a" and eventType = "b"].count() >= 1',
        event(where=And(items=[ev_eq("eventType", "a"), ev_eq("eventType", "b")])),
    ),
    (
        'xEvent[eventType = "p"].sum(commerce.order.priceTotal) > 100',
        event(
            event_types=["p"], measure="sum", field="commerce.order.priceTotal", op=">", value=100
        ),
    ),
    ("xEvent.average(revenue) >= 9.5", event(measure="average", field="revenue", value=9.5)),
    ("xEvent.min(revenue) < 1", event(measure="min", field="revenue", op="<", value=1)),
    ("xEvent.max(revenue) != -1", event(measure="max", field="revenue", op="!=", value=-1)),
    (
        "xEvent[$1.homeAddress.countryCode = country].count() > 0",
        event(where=C("=", F("homeAddress.countryCode"), E("country")), op=">", value=0),
    ),
    # a field path on xEvent (AEP's form): some event meets the condition
    (
        "xEvent.metrics.commerce.abandons.value > 0",
        event(where=C(">", E("metrics.commerce.abandons.value"), L(0))),
    ),
    (
        'xEvent[eventType = "purchase"].commerce.order.priceTotal > ltv',
        event(event_types=["purchase"], where=C(">", E("commerce.order.priceTotal"), F("ltv"))),
    ),
    (
        'xEvent.productListItems.SKU.startsWith("PS")',
        event(where=TextMatch(op="startsWith", operand=E("productListItems.SKU"), value="PS")),
    ),
    ('xEvent.eventType in ["a", "b"]', event(event_types=["a", "b"])),
    ("xEvent.timestamp occurs today", event(window=PointWindow(direction="on", anchor=TODAY))),
    # profile attributes inside event conditions: $1.x and the named parameter
    (
        "(Profile) => xEvent[revenue * 10 > Profile.ltv].count() > 0",
        event(
            where=C(">", Arith(op="*", left=E("revenue"), right=L(10)), F("ltv")), op=">", value=0
        ),
    ),
    (
        'xEvent[eventType = "purchase" and timestamp occurs after $1.createdAt].count() > 0',
        event(
            event_types=["purchase"],
            window=PointWindow(direction="after", anchor=F("createdAt")),
            op=">",
            value=0,
        ),
    ),
    (
        "(P) => exists E from xEvent where E.revenue > P.ltv",
        event(where=C(">", E("revenue"), F("ltv"))),
    ),
    (
        'chain(xEvent, timestamp, [A: WHAT(eventType = "a") WHERE(revenue > $1.ltv)])',
        Sequence(
            steps=[SequenceStep(label="A", event_types=["a"], where=C(">", E("revenue"), F("ltv")))]
        ),
    ),
    # events: comprehension forms
    (
        'select X from xEvent where X.eventType = "commerce.productViews"',
        event(event_types=["commerce.productViews"]),
    ),
    (
        'exists X from xEvent where X.eventType = "a" and X.commerce.revenue > 5',
        event(event_types=["a"], where=C(">", E("commerce.revenue"), L(5))),
    ),
    ('exists X from xEvent: X.channel = "web"', event(where=ev_eq("channel", "web"))),
    (
        'forall X from xEvent where X.channel = "web"',
        event(where=Not(item=ev_eq("channel", "web")), op="=", value=0),
    ),
    (
        'let S = (sum X.commerce.revenue over X from xEvent where X.eventType = "p") in (S > 100)',
        event(event_types=["p"], measure="sum", field="commerce.revenue", op=">", value=100),
    ),
    (
        "let S = (average X.revenue over X from xEvent) in (S >= 2.5)",
        event(measure="average", field="revenue", value=2.5),
    ),
    (
        'let N = (count X over X from xEvent where X.eventType = "p") in (N < 3)',
        event(event_types=["p"], op="<", value=3),
    ),
    # sequences
    (
        'chain(xEvent, timestamp, [A: WHAT(eventType = "add") WHEN(<= 30 days before now) '
        'COUNT(2) WHERE(channel = "web"), B: WHAT(eventType = "buy") WHEN(<= 2 hours after A)])',
        Sequence(
            steps=[
                SequenceStep(
                    label="A",
                    event_types=["add"],
                    where=ev_eq("channel", "web"),
                    window=rel("<=", 30, "day"),
                    count=2,
                ),
                SequenceStep(
                    label="B", event_types=["buy"], within_previous=Duration(amount=2, unit="hour")
                ),
            ]
        ),
    ),
    (
        'not(CHAIN(xEvent, timestamp, [A: WHAT(eventType = "a") WHEN(today)]))',
        Not(
            item=Sequence(
                steps=[
                    SequenceStep(
                        label="A",
                        event_types=["a"],
                        window=PointWindow(direction="on", anchor=TODAY),
                    )
                ]
            )
        ),
    ),
    (
        'chain(xEvent, timestamp, [A: WHAT(eventType = "a" and x = 1), '
        "B: WHAT(y = 2) WHERE(z = 3 and w = 4)])",
        Sequence(
            steps=[
                SequenceStep(label="A", event_types=["a"], where=ev_eq("x", 1)),
                SequenceStep(
                    label="B", where=And(items=[ev_eq("y", 2), ev_eq("z", 3), ev_eq("w", 4)])
                ),
            ]
        ),
    ),
    # segments
    ('inSegment("existing segment")', SegmentRef(segment="existing segment")),
    (
        'inSegment("a1b2") and not (inSegment("x"))',
        And(items=[SegmentRef(segment="a1b2"), Not(item=SegmentRef(segment="x"))]),
    ),
    # layout
    ("a = 1\n  and\n b = 2", And(items=[eq("a", 1), eq("b", 2)])),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_CASES)
def test_parse(text: str, expected) -> None:
    tree = parse(text)
    assert tree == expected
    canonical = to_pql(tree)
    assert parse(canonical) == tree
    assert to_pql(parse(canonical)) == canonical


# --- text -> canonical text ----------------------------------------------------------

CANONICAL_CASES = [
    ("age>30  AND  country='x'".replace("'", '"'), 'age > 30 and country = "x"'),
    ("(a = 1)", "a = 1"),
    ("a = 1 and (b = 2 and c = 3)", "a = 1 and (b = 2 and c = 3)"),
    ("(a = 1 and b = 2) or c = 3", "a = 1 and b = 2 or c = 3"),
    ("a = 1 and (b = 2 or c = 3)", "a = 1 and (b = 2 or c = 3)"),
    ("a = 1 or (b = 2 or c = 3)", "a = 1 or (b = 2 or c = 3)"),
    ("!(a = 1)", "not (a = 1)"),
    ("not(not(a = 1))", "not (not (a = 1))"),
    ("x = ((a + b)) * c", "x = (a + b) * c"),
    ("x = a - (b - c)", "x = a - (b - c)"),
    ("x = (a - b) - c", "x = a - b - c"),
    ("x = a + (b * c)", "x = a + b * c"),
    ("score = 1.0", "score = 1.0"),
    ("score = 2", "score = 2"),
    ("x = -0.5", "x = -0.5"),
    ('s = "tab\there"', 's = "tab\\there"'),
    ('s = "\\u0001"', 's = "\\u0001"'),
    ("`today` = 1", "`today` = 1"),
    ('`first name` = "A"', '`first name` = "A"'),
    ("$1.age > 1", "age > 1"),
    ("(Profile) => Profile.age > 1", "age > 1"),
    ("ts occurs <= 1 days before now", "ts occurs <= 1 day before now"),
    ("ts occurs on today", "ts occurs today"),
    ("ts occurs this months", "ts occurs this month"),
    ("ts occurs date(2024,5,1)", "ts occurs on date(2024, 5, 1)"),
    ('interests.includes("a")', 'interests.includes("a")'),
    ('city.contains("x", true)', 'city.contains("x")'),
    ('email matches "a"', 'email.matches("a")'),
    ("xEvent.count() > 0", "xEvent.count() > 0"),
    ('select X from xEvent where X.eventType = "a"', 'xEvent[eventType = "a"].count() >= 1'),
    ("exists X from xEvent", "xEvent.count() >= 1"),
    (
        'xEvent[timestamp occurs today and eventType in ["a"] and channel = "web"].count() > 1',
        'xEvent[eventType = "a" and channel = "web" and timestamp occurs today].count() > 1',
    ),
    (
        "xEvent[a = 1 or b = 2].count() >= 1",
        "xEvent[a = 1 or b = 2].count() >= 1",
    ),
    (
        'xEvent[eventType = "x" and (a = 1 or b = 2)].count() >= 1',
        'xEvent[eventType = "x" and (a = 1 or b = 2)].count() >= 1',
    ),
    (
        'forall X from xEvent where X.channel = "web"',
        'xEvent[not (channel = "web")].count() = 0',
    ),
    (
        "let S = (sum X.revenue over X from xEvent) in (S > 100)",
        "xEvent.sum(revenue) > 100",
    ),
    # a let body is any condition: each comparison of S is the same event measure
    (
        "let S = (sum X.revenue over X from xEvent) in (S > 100 and S < 1000)",
        "xEvent.sum(revenue) > 100 and xEvent.sum(revenue) < 1000",
    ),
    (
        'let S = (count X over X from xEvent where X.eventType = "a") in (S = 0 or x = 1)',
        'xEvent[eventType = "a"].count() = 0 or x = 1',
    ),
    ("xEvent.sum(revenue) >= 1.0", "xEvent.sum(revenue) >= 1.0"),
    (
        "xEvent[$1.age > age].count() >= 1",
        "xEvent[$1.age > age].count() >= 1",
    ),
    (
        'CHAIN(xEvent, timestamp, [A: WHAT(eventType = "a") COUNT(1), '
        "B: WHEN(<= 1 hours after A)])",
        'chain(xEvent, timestamp, [A: WHAT(eventType = "a"), B: WHEN(<= 1 hour after A)])',
    ),
    ("(x + 1).isNull()", "(x + 1).isNull()"),
    ("-5.getMonth() = 1", "-5.getMonth() = 1"),
]


@pytest.mark.parametrize(("text", "canonical"), CANONICAL_CASES)
def test_canonical_text(text: str, canonical: str) -> None:
    assert to_pql(parse(text)) == canonical
    assert to_pql(parse(canonical)) == canonical


# --- syntax errors -----------------------------------------------------------------------

ERROR_CASES = [
    ("(age > 30", 1, 10, "expected ')' but found end of text"),
    ('city contians "x"', 1, 6, "unknown operator 'contians' (did you mean 'contains'?)"),
    ('city.contians("x")', 1, 6, "did you mean 'contains'?"),
    ('name = "abc', 1, 8, "unterminated string"),
    ("age >\n", 1, 6, "expected a value but found end of text"),
    ("a = 1 and\n  b = ", 2, 7, "expected a value but found end of text"),
    ("age > 30\nand cuntry ~ 1", 2, 12, "unexpected character '~'"),
    ("age > 30 and and", 1, 14, "expected a value but found 'and'"),
    ("age > 30)", 1, 9, "expected 'and', 'or' or end of text but found ')'"),
    ("age", 1, 1, "expected a condition but found a value"),
    ("", 1, 1, "expected a condition but found end of text"),
    ("   \n  ", 2, 3, "expected a condition"),
    ("x = 'abc'", 1, 5, "double quotes"),
    ("a == 1", 1, 3, "use '='"),
    ("a = 1 && b = 2", 1, 7, "use 'and'"),
    ('s = "\\q"', 1, 6, "unknown escape"),
    ('s = "\\u12"', 1, 6, "four hex digits"),
    ("x in []", 1, 6, "at least one value"),
    ("x in [a]", 1, 7, "expected a plain value"),
    ("birthDate < date(2024, 13, 1)", 1, 13, "invalid date"),
    ("birthDate < date(2024, 1)", 1, 13, "date() takes 3 numbers"),
    ('xEvent.count() >= "a"', 1, 19, "expected a number"),
    ("xEvent.revenue and a = 1", 1, 1, "expected a comparison after an event field"),
    ("xEvent.count()", 1, 15, "expected a comparison after count()"),
    ("xEvent.cnt() > 1", 1, 8, "did you mean 'count'?"),
    ("xEvent > 1", 1, 8, "expected .count()"),
    ("ts occurs <= 3 dais before now", 1, 16, "did you mean 'days'?"),
    ("ts occurs <= 3 days ago", 1, 21, "expected 'before', 'after' or 'from'"),
    ("ts occurs <= 2.5 days before now", 1, 14, "whole number"),
    ("ts occurs between today or tomorrow", 1, 25, "expected 'and'"),
    ("foo(1) = 2", 1, 1, "unknown function 'foo'"),
    ("curentMonth() = 1", 1, 1, "did you mean 'currentMonth'?"),
    ("x.foo() = 1", 1, 3, "unknown operator 'foo'"),
    ("homeAddress. = 1", 1, 14, "expected a method call"),
    ("x = -y", 1, 5, "minus sign"),
    ("$1 = 1", 1, 4, "expected '.' after $1"),
    ("`  ` = 1", 1, 1, "field path must not be empty"),
    ("`abc = 1", 1, 1, "unterminated `name`"),
    ("a = 1 b = 2", 1, 7, "expected 'and', 'or' or end of text but found 'b'"),
    ('city contains "x"', 1, 6, "'contains' is a method"),
    ('city.like("A%")', 1, 6, "'like' goes between its operands: write value like"),
    ("interests.count( > 2", 1, 18, "expected ')': a list's count() takes no arguments"),
    ("interests.distinct(", 1, 20, "expected ')': a list's distinct() takes no arguments"),
    ("12abc = 1", 1, 1, "malformed number"),
    ("x = 1 and not", 1, 14, "expected a value but found end of text"),
    (
        'chain(xEvent, timestamp, [A: WHAT(eventType = "a") COUNT(0)])',
        1,
        52,
        "COUNT must be at least 1",
    ),
    ("chain(xEvent, timestamp, [A: WHAT(a = 1), A: WHAT(b = 1)])", 1, 43, "used twice"),
    ("chain(xEvent, timestamp, [A: WHAT(a = 1) WHAT(b = 1)])", 1, 42, "given twice"),
    ("chain(xEvent, timestamp, [A: WHAT(a = 1) FOO(1)])", 1, 42, "expected ',' or ']'"),
    ("inSegment(12)", 1, 11, "expected a string"),
    ("forall X from xEvent", 1, 21, "forall needs a condition"),
    ('x.contains("a", maybe)', 1, 17, "expected true or false"),
    ("x = 1 and\r\ny ~ 2", 2, 3, "unexpected character '~'"),
    ("x = 99999999999999999999e999999", 1, 5, "too large"),
    ('email.regexGroup("a", 1) = "x"', 1, 18, "has 0 group(s); group 1 does not exist"),
    ('email.substr(3, 1) = "x"', 1, 17, "ends before it begins"),
    ('email.substr(-1) = "x"', 1, 14, "expected the index where the text begins"),
    ('email.substr(0, 2147483647) = "x"', 1, 7, "0 <= begin <= end"),
    ('email.regexGroup("(a)(?!b)", 1) = "x"', 1, 22, "lookahead"),
    # out of range: whole numbers are 64-bit, distances fit in years 1 to 9999
    ("x = 9223372036854775808", 1, 5, "whole number 9223372036854775808 is too large"),
    ("xEvent.count() > 9223372036854775808", 1, 18, "too large"),
    (
        'chain(xEvent, timestamp, [A: WHAT(eventType = "a") COUNT(9223372036854775808)])',
        1,
        58,
        "too large",
    ),
    ("ts occurs <= 99999999999999 hours before now", 1, 14, "longer than the calendar"),
    ("ts occurs = 11 millennia after now", 1, 13, "at most 10 millennia"),
    ("date(9999, 12, 32) = d", 1, 1, "invalid date"),
    # surrogates: pairs combine, a lone half is refused where it stands
    ('x = "ab\\ud83d"', 1, 8, "half of a surrogate pair"),
    ('x = "\\ude80\\ud83d"', 1, 6, "half of a surrogate pair"),
    ('x = "\ud83d"', 1, 6, "lone surrogate character U+D83D"),
]


@pytest.mark.parametrize(("text", "line", "column", "fragment"), ERROR_CASES)
def test_syntax_errors(text: str, line: int, column: int, fragment: str) -> None:
    with pytest.raises(PQLSyntaxError) as info:
        parse(text)
    error = info.value
    assert fragment in error.reason
    assert (error.line, error.column) == (line, column)
    assert f"line {line}, column {column}" in str(error)


def test_deep_nesting_is_a_clean_error() -> None:
    for text in (
        "(" * 5000 + "a = 1" + ")" * 5000,
        "not " * 5000 + "a = 1",
        "!(" * 3000 + "a = 1" + ")" * 3000,
        "x = " + " + ".join(["1"] * 5000),
        "x = " + "[" * 5000,
        "x = " + "(" * 5000 + "1",
    ):
        with pytest.raises(PQLSyntaxError) as info:
            parse(text)
        assert "nesting deeper than" in info.value.reason or "expected" in info.value.reason


def test_long_flat_chains_are_fine() -> None:
    text = " and ".join(f"a{i} = {i}" for i in range(2000))
    tree = parse(text)
    assert isinstance(tree, And) and len(tree.items) == 2000
    assert to_pql(tree) == text


# --- unsupported -------------------------------------------------------------------------

UNSUPPORTED_CASES = [
    ("xEvent.topN(timestamp, 1).count() > 0", "topN"),
    ("xEvent.bottomN(timestamp, 1).count() > 0", "bottomN"),
    ("xEvent.filter(a = 1).count() > 0", "filter() of xEvent"),
    ("orders.filter(items.filter(^.price > 1).count() > 0).count() > 0", "outer list"),
    ("orders[xEvent.count() > 1]", "xEvent inside a function of a list"),
    ('orders.filter(exists E from xEvent where E.eventType = "a").count() > 0', "xEvent inside"),
    ("orders.filter(let S = (count X over X from xEvent) in (S > 0)).count() > 0", "xEvent inside"),
    ("exists T from orders where $1.orders.filter(price < T.price).count() > 0", "outer list"),
    ("orders[$1.orders[price > 50]]", "some item of a list inside"),
    ("orders.filter(tags.exists(x = 1)).count() > 0", "some item of a list inside"),
    ("$2.x = 1", "$2"),
    ("exists X from xEvent, Y from xEvent where X.a = Y.a", "several generators"),
    ("exists X from 1 where X = 1", "other than xEvent"),
    (
        'exists E from xEvent where E.p > 50, I from E.items where I.SKU = "PS", J from I.x '
        "where J = 1",
        "more than two generators",
    ),
    ("exists E from xEvent where E.p > 1, I from items where I = 1", "second generator"),
    ("exists A from tags where exists B from A.x where B = 1", "inside an exists"),
    ("exists A from tags where A = 1, B from A.x where B = 1", "several generators"),
    ("ts occurs from today", "occurs from"),
    (
        "chain(xEvent, timestamp, [A: WHAT(a = 1), B: WHAT(b = 1) WHEN(< 2 hours after A)])",
        "WHEN relative to a step",
    ),
    (
        "chain(xEvent, timestamp, [A: WHAT(a = 1), B: WHAT(b = 1), C: WHEN(<= 2 hours after A)])",
        "WHEN relative to a step",
    ),
    ("chain(xEvent, ts, [A: WHAT(a = 1)])", "ordered by a field"),
    ("chain(items, timestamp, [A: WHAT(a = 1)])", "chain over an array"),
    ("xEvent[xEvent.count() > 1].count() > 0", "inside an event filter"),
    ("xEvent[select Y from xEvent where Y.a = 1].count() > 0", "inside an event filter"),
    ("(a, b) => a.x = 1", "several parameters"),
    ("xEvent.revenue * 2 > 10", "xEvent.<field> inside arithmetic"),
    ("5 < xEvent.revenue", "on the right of a comparison"),
    ("xEvent.revenue > xEvent.count()", "inside an event filter"),
    ("let S = (X.f over X from xEvent) in (S > 1)", "let with a value"),
    ('xEvent.any(eventType = "a")', "xEvent.any"),
]


@pytest.mark.parametrize(("text", "construct"), UNSUPPORTED_CASES)
def test_unsupported(text: str, construct: str) -> None:
    with pytest.raises(UnsupportedError) as info:
        parse(text)
    error = info.value
    assert construct in error.construct
    assert str(error).startswith(f"not supported yet: {error.construct} (line 1, column ")
    assert 1 <= error.column <= len(text)


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("xEvent.topN(timestamp, 1).count() = 1", 1, 8),
        ("x = 1 and\n  xEvent.all(a = 1)", 2, 10),
        ("orders.filter(items.filter(^.p > 1).count() > 0).count() > 0", 1, 28),
        ("exists X from xEvent where X.a = 1, Y from items where Y.b = 2", 1, 44),
    ],
)
def test_unsupported_names_where(text: str, line: int, column: int) -> None:
    with pytest.raises(UnsupportedError) as info:
        parse(text)
    assert (info.value.line, info.value.column) == (line, column)
    assert info.value.message.splitlines()[-1] == "  " + " " * (column - 1) + "^"


# --- trees the formatter cannot spell ------------------------------------------------

UNSPELLABLE = [
    TextMatch(op="like", operand=F("s"), value="a%", negate=True),
    TextMatch(op="matches", operand=F("s"), value="a", case_sensitive=False),
    ListMatch(op="includes", operand=F("s"), values=["a", "b"]),
    C("=", F("x"), L(float("inf"))),
    C("=", E("x"), L(1)),
    C("=", F("x"), Func(name="currentMonth", args=[F("y")])),
    C("=", F("x"), Func(name="getMonth")),
    C("=", F("x"), Func(name="substr", args=[F("s"), L(3), L(1)])),
    C("=", F("x"), Func(name="substr", args=[F("s"), F("n")])),
    C("=", F("x"), DateTimeLit(value=dt.datetime(2024, 1, 1, 0, 0, 0, 5))),
    event(where=event()),
    Sequence(steps=[SequenceStep(label="A", within_previous=Duration(amount=1, unit="day"))]),
]


@pytest.mark.parametrize("tree", UNSPELLABLE)
def test_unspellable_trees_raise_invalid_input(tree) -> None:
    with pytest.raises(InvalidInputError):
        to_pql(tree)


# --- properties ----------------------------------------------------------------------------

IDENT_NAMES = ["age", "country", "homeAddress.countryCode", "loyalty.tier", "revenue", "channel"]
ODD_NAMES = ["first name", "today", "and", "a`b", "x..y", "Count", "day", "é"]
UNITS = [
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
COMPARE = st.sampled_from(["=", "!=", ">", ">=", "<", "<="])
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(
    st.booleans(), st.integers(-(10**12), 10**12), finite_floats, st.text(max_size=6)
)
numbers = st.one_of(st.integers(-1000, 10**6), finite_floats)
dates = st.dates().map(lambda v: DateLit(value=v))
datetimes = st.datetimes().map(lambda v: DateTimeLit(value=v.replace(microsecond=0)))
anchors = st.sampled_from(["now", "today", "yesterday", "tomorrow"]).map(lambda n: Anchor(name=n))


@functools.cache
def fields(scope: str):
    names = st.sampled_from(IDENT_NAMES + ODD_NAMES)
    profile = st.builds(FieldRef, path=names)
    if scope == "profile":
        return profile
    return st.one_of(st.builds(FieldRef, path=names, scope=st.just("event")), profile)


@functools.cache
def operands(scope: str, events: bool = True):
    """Values; ``events``: at the profile's level, projections of event fields too."""
    leaves = st.one_of(
        fields(scope),
        st.builds(Lit, value=st.one_of(scalars, st.lists(scalars, max_size=3))),
        dates,
        datetimes,
        anchors,
        st.sampled_from(["currentMonth", "currentYear", "currentDayOfMonth"]).map(
            lambda n: Func(name=n)
        ),
    )

    def extend(children):
        return st.one_of(
            st.builds(
                Arith, op=st.sampled_from(["+", "-", "*", "/", "%"]), left=children, right=children
            ),
            st.builds(
                Func,
                name=st.sampled_from(
                    ["getMonth", "getYear", "getDayOfMonth", "upperCase", "lowerCase", "trim"]
                    + ["length", "count", "distinct"]
                ),
                args=st.lists(children, min_size=1, max_size=1),
            ),
            st.builds(
                Func,
                name=st.just("intersection"),
                args=st.tuples(children, children).map(list),
            ),
            st.builds(
                Func,
                name=st.just("substr"),
                # begin, and an end that is not before it (begin + k)
                args=st.tuples(children, st.integers(0, 5), st.none() | st.integers(0, 5)).map(
                    lambda t: [t[0], L(t[1])] + ([] if t[2] is None else [L(t[1] + t[2])])
                ),
            ),
            st.builds(
                Func,
                name=st.just("regexGroup"),
                args=st.tuples(
                    children, st.sampled_from(["(a)", "x(\\d+)", "(?i)(b)"]).map(L), st.just(L(1))
                ).map(list),
            ),
        )

    values = st.recursive(leaves, extend, max_leaves=4)
    if scope == "profile" and events:  # a projection stands before a list method
        lists = st.builds(
            Func,
            name=st.sampled_from(["count", "distinct"]),
            args=event_values().map(lambda v: [v]),
        )
        values = st.one_of(values, lists)
    return values


@st.composite
def event_values(draw):
    """``xEvent[..].field``: an event selection and a field."""
    from hypothesis import assume

    event_types = draw(st.lists(st.text(max_size=5), max_size=2))
    where = draw(st.none() | conditions("event", with_events=False))
    window = draw(st.none() | windows("event"))
    assume(where_is_canonical(event_types, where, window, take_window=True))
    field = draw(st.sampled_from(IDENT_NAMES + ODD_NAMES))
    return EventValues(event_types=event_types, where=where, window=window, field=field)


@functools.cache
def item_conditions(scope: str):
    """Conditions on the item of an exists over a list (and on what surrounds it)."""
    items = st.builds(ItemRef, path=st.none() | st.sampled_from(IDENT_NAMES + ODD_NAMES))
    values = st.one_of(items, operands(scope, events=False))
    leaves = st.one_of(
        st.builds(Compare, op=COMPARE, left=values, right=values),
        st.builds(InList, operand=items, values=st.lists(scalars, min_size=1, max_size=2)),
        st.builds(TextMatch, op=st.just("startsWith"), operand=items, value=st.text(max_size=4)),
        st.builds(NullCheck, operand=items),
    )
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.builds(And, items=st.lists(children, min_size=2, max_size=2)),
            st.builds(Not, item=children),
        ),
        max_leaves=3,
    )


@functools.cache
def list_anys(scope: str):
    lists = st.one_of(
        fields(scope),
        st.builds(Func, name=st.just("distinct"), args=fields(scope).map(lambda f: [f])),
    )
    return st.builds(
        ListAny,
        var=st.sampled_from(["T", "I", "Item"]),
        operand=lists,
        where=item_conditions(scope),
    )


@functools.cache
def list_calls(scope: str):
    """AEP's functions of a list's items, whose arguments read the item by its fields."""
    items = st.builds(ItemRef, path=st.sampled_from(IDENT_NAMES + ODD_NAMES))
    by = st.one_of(items, operands(scope, events=False))
    test = st.one_of(
        st.builds(Compare, op=COMPARE, left=items, right=by),
        st.builds(NullCheck, operand=items),
    )
    lists = fields(scope)
    calls = st.one_of(
        st.builds(ListCall, name=st.just("filter"), operand=lists, test=test),
        st.builds(ListCall, name=st.sampled_from(["map", "groupBy"]), operand=lists, by=by),
        st.builds(
            ListCall,
            name=st.sampled_from(["topN", "bottomN"]),
            operand=lists,
            by=by,
            n=st.integers(1, 10),
        ),
        st.builds(
            ListCall,
            name=st.sampled_from(["sum", "average", "min", "max"]),
            operand=lists,
            by=st.none() | by,
        ),
    )
    names = st.sampled_from(IDENT_NAMES + ODD_NAMES)
    return st.one_of(
        calls,
        st.builds(
            Func, name=st.sampled_from(["count", "keys", "values"]), args=calls.map(lambda c: [c])
        ),
        st.builds(Member, operand=calls.map(lambda c: Func(name="head", args=[c])), path=names),
        st.builds(
            Member,
            operand=st.tuples(lists, st.text(max_size=4)).map(
                lambda t: Func(name="get", args=[t[0], L(t[1])])
            ),
            path=names,
        ),
    )


@functools.cache
def time_points(scope: str):
    return st.one_of(
        anchors,
        st.builds(
            Period, which=st.sampled_from(["this", "last", "next"]), unit=st.sampled_from(UNITS)
        ),
        dates,
        datetimes,
        fields(scope),
    )


@functools.cache
def windows(scope: str):
    return st.one_of(
        st.builds(
            RelativeWindow,
            cmp=COMPARE,
            amount=st.integers(0, 10),
            unit=st.sampled_from(UNITS),
            direction=st.sampled_from(["before", "after", "from"]),
            anchor=time_points(scope),
        ),
        st.builds(
            PointWindow,
            direction=st.sampled_from(["before", "after", "on"]),
            anchor=time_points(scope),
        ),
        st.builds(BetweenWindow, start=time_points(scope), end=time_points(scope)),
    )


@functools.cache
def text_matches(scope: str):
    free = st.builds(
        TextMatch,
        op=st.sampled_from(["contains", "startsWith", "endsWith", "equals"]),
        operand=operands(scope),
        value=st.text(max_size=6),
        case_sensitive=st.booleans(),
        negate=st.booleans(),
    )
    like = st.builds(
        TextMatch, op=st.just("like"), operand=operands(scope), value=st.text(max_size=6)
    )
    # a matches pattern must be in the regex dialect to be PQL at all
    matches = st.builds(
        TextMatch, op=st.just("matches"), operand=operands(scope), value=st.text(max_size=6)
    ).filter(lambda node: _in_dialect(node.value))
    return st.one_of(free, like, matches)


def _in_dialect(pattern: str) -> bool:
    try:
        check_regex(pattern)
    except RegexDialectError:
        return False
    return True


@functools.cache
def list_matches(scope: str):
    many = st.builds(
        ListMatch,
        op=st.sampled_from(["intersects", "subsetOf", "supersetOf"]),
        operand=operands(scope),
        values=st.lists(scalars, min_size=1, max_size=3),
    )
    one = st.builds(
        ListMatch,
        op=st.just("includes"),
        operand=operands(scope),
        values=st.lists(scalars, min_size=1, max_size=1),
    )
    # a list or a value given as an expression (a written-out list is values)
    others = operands(scope).filter(lambda node: not isinstance(node, Lit))
    other = st.builds(
        ListMatch,
        op=st.sampled_from(["intersects", "includes", "subsetOf", "supersetOf"]),
        operand=operands(scope),
        other=others,
    )
    return st.one_of(many, one, other)


@functools.cache
def leaf_conditions(scope: str):
    event_type_items = st.one_of(
        st.builds(
            Compare,
            op=st.just("="),
            left=st.just(E("eventType")),
            right=st.builds(Lit, value=st.text(max_size=4)),
        ),
        st.builds(Occurs, operand=st.just(E("timestamp")), window=windows("event")),
    )
    options = [
        st.builds(BoolConst, value=st.booleans()),
        st.builds(Compare, op=COMPARE, left=operands(scope), right=operands(scope)),
        st.builds(
            InList,
            operand=operands(scope),
            values=st.lists(st.one_of(scalars, dates, datetimes), min_size=1, max_size=3),
            negate=st.booleans(),
        ),
        text_matches(scope),
        st.builds(NullCheck, operand=operands(scope), is_null=st.booleans()),
        list_matches(scope),
        st.builds(Occurs, operand=operands(scope), window=windows(scope)),
        st.builds(SegmentRef, segment=st.text(max_size=8)),
    ]
    if scope == "event":
        options.append(event_type_items)
    return st.one_of(*options)


@functools.cache
def conditions(scope: str, with_events: bool = True):
    def extend(children):
        return st.one_of(
            st.builds(And, items=st.lists(children, min_size=2, max_size=3)),
            st.builds(Or, items=st.lists(children, min_size=2, max_size=3)),
            st.builds(Not, item=children),
        )

    leaves = st.one_of(
        leaf_conditions(scope),
        list_anys(scope),
        st.builds(Compare, op=COMPARE, left=list_calls(scope), right=operands(scope, events=False)),
    )
    if with_events:
        leaves = st.one_of(leaves, event_conditions(), sequences(), measure_comparisons())
    return st.recursive(leaves, extend, max_leaves=5)


def measure_comparisons():
    """An event measure against a field or another measure (a number would be an event)."""
    measures = event_conditions().map(lambda event: EventMeasure(**event.selection()))
    other = st.one_of(fields("profile"), measures)
    return st.builds(Compare, op=COMPARE, left=measures, right=other) | st.builds(
        Compare, op=COMPARE, left=fields("profile"), right=measures
    )


@st.composite
def event_conditions(draw):
    event_types = draw(st.lists(st.text(max_size=5), max_size=3))
    where = draw(st.none() | conditions("event", with_events=False))
    window = draw(st.none() | windows("event"))
    measure = draw(st.sampled_from(["count", "sum", "average", "min", "max"]))
    field = None if measure == "count" else draw(st.sampled_from(IDENT_NAMES + ODD_NAMES))
    from hypothesis import assume

    assume(where_is_canonical(event_types, where, window, take_window=True))
    return EventCondition(
        event_types=event_types,
        where=where,
        window=window,
        measure=measure,
        field=field,
        op=draw(COMPARE),
        value=draw(numbers),
    )


@st.composite
def sequences(draw):
    from hypothesis import assume

    steps = []
    for index, label in enumerate(["A", "B", "C"][: draw(st.integers(1, 3))]):
        event_types = draw(st.lists(st.text(max_size=5), max_size=2))
        where = draw(st.none() | conditions("event", with_events=False))
        assume(where_is_canonical(event_types, where, None, take_window=False))
        steps.append(
            SequenceStep(
                label=label,
                event_types=event_types,
                where=where,
                window=draw(st.none() | windows("event")),
                count=draw(st.integers(1, 5)),
                within_previous=draw(
                    st.none()
                    | (
                        st.builds(Duration, amount=st.integers(0, 10), unit=st.sampled_from(UNITS))
                        if index
                        else st.none()
                    )
                ),
            )
        )
    return Sequence(steps=steps)


PROPERTY_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@PROPERTY_SETTINGS
@given(conditions("profile"))
def test_round_trip_of_canonical_trees(tree) -> None:
    text = to_pql(tree)
    assert parse(text) == tree, text
    assert to_pql(parse(text)) == text


def _assert_clean_failure(text: str) -> None:
    try:
        tree = parse(text)
    except PQLSyntaxError as exc:
        lines = text.splitlines() or [""]
        assert 1 <= exc.line <= len(lines)
        assert 1 <= exc.column <= len(lines[exc.line - 1]) + 1
        return
    except SegmentationError:
        return
    canonical = to_pql(tree)
    assert to_pql(parse(canonical)) == canonical


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_any_text(text: str) -> None:
    _assert_clean_failure(text)


VOCABULARY = [
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
    ":",
    "!",
    "^",
    "=",
    "!=",
    ">",
    ">=",
    "<",
    "<=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "=>",
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
    "before",
    "after",
    "from",
    "on",
    "between",
    "now",
    "today",
    "this",
    "last",
    "days",
    "month",
    "date(2024,1,1)",
    "xEvent",
    "select",
    "exists",
    "forall",
    "let",
    "over",
    "where",
    "chain",
    "WHAT",
    "WHEN",
    "COUNT",
    "WHERE",
    "A",
    "X",
    "S",
    "inSegment",
    "count()",
    "sum",
    "contains",
    "isNull()",
    "intersects",
    "eventType",
    "timestamp",
    "age",
    "$1",
    '"s"',
    "1",
    "2.5",
    "`odd`",
    "\n",
    "currentMonth()",
    "getMonth",
    "includes",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(VOCABULARY), max_size=25))
def test_fuzz_token_soup(tokens: list[str]) -> None:
    _assert_clean_failure(" ".join(tokens))


SEEDS = [text for text, _ in PARSE_CASES]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SEEDS), st.integers(0, 400), st.integers(0, 6), st.text(max_size=3))
def test_fuzz_mutated_valid_text(seed: str, at: int, cut: int, insert: str) -> None:
    at %= len(seed) + 1
    _assert_clean_failure(seed[:at] + insert + seed[at + cut :])


def test_field_named_like_a_chain_label_keeps_its_meaning() -> None:
    step_a = SequenceStep(label="A", event_types=["a"])
    step_b = SequenceStep(
        label="B",
        window=RelativeWindow(cmp="<=", amount=2, unit="hour", direction="after", anchor=E("A")),
    )
    tree = Sequence(steps=[step_a, step_b])
    text = to_pql(tree)
    assert "after `A`" in text
    assert parse(text) == tree


def test_error_message_quotes_the_line_with_a_caret() -> None:
    with pytest.raises(PQLSyntaxError) as info:
        parse('age > 30 and\ncity contians "x"')
    assert str(info.value).endswith('  city contians "x"\n       ^')

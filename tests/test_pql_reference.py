"""Every example predicate of AEP's PQL reference (help/segmentation/pql/*.md): it parses and
round-trips, or it is refused as "not supported yet" at its position, never as a syntax error.

The README's PQL construct table lists the same constructs; keep the two together.
"""

from __future__ import annotations

import pytest

from segmentation.errors import UnsupportedError
from segmentation.pql import parse, to_pql
from tests.conftest import AS_OF

SUPPORTED = [
    # boolean-functions.md
    'homeAddress.countryISO = "CA" and person.birthYear = 1985',
    'homeAddress.countryISO = "CA" or person.birthYear = 1985',
    'not (homeAddress.countryISO = "CA")',
    '!(homeAddress.countryISO = "CA")',
    # comparison and arithmetic
    "person.age + 1 > 30",
    "person.age % 2 = 0",
    "person.age > person.minAge",
    # string-functions.md
    'city like "%es%"',
    'person.name.startsWith("Joe")',
    'person.name.doesNotStartWith("Joe")',
    'person.emailAddress.endsWith(".com")',
    'person.emailAddress.doesNotEndWith(".com")',
    'person.emailAddress.contains("2010@gm")',
    'person.emailAddress.doesNotContain("2010@gm")',
    'person.name.equals("John")',
    'person.name.notEqualTo("John")',
    'person.name.matches("(?i)^John")',
    'eventType.equals("commerce.checkouts", false)',
    # array-functions.md
    "person.birthMonth in [3, 6, 9]",
    "person.birthMonth notIn [3, 6, 9]",
    'person.favoriteColors.intersects(["red", "blue", "green"])',
    'person.eatenFoods.supersetOf(["sushi", "pizza"])',
    'person.favoriteColors.includes("red")',
    # datetime-functions.md
    "person.birthMonth = currentMonth()",
    "person.birthdate.getMonth() = 6",
    "product.saleYear = currentYear()",
    "person.birthday.getYear() in [1991, 1992, 1993, 1994, 1995]",
    "person.birthDay = currentDayOfMonth()",
    "product.sale.getDayOfMonth() <= 15",
    "product.saleDate occurs last week",
    "product.saleDate occurs between date(2015, 1, 8) and date(2017, 7, 1)",
    "product.saleDate occurs = 3 hours before now",
    "person.birthday occurs = 3 days before today",
    "timestamp occurs on date(2019, 12, 31)",
    # misc-functions.md
    "let S = (sum X.commerce.order.priceTotal over X from xEvent where "
    'X.commerce.order.currencyCode = "USD") in (S > 100 and S < 1000)',
    # overview.md: the three ways to name the profile
    "homeAddress.stateProvince = workAddress.stateProvince",
    "$1.homeAddress.stateProvince = $1.homeAddress.stateProvince",
    "(Profile) => Profile.homeAddress.stateProvince = Profile.workAddress.stateProvince",
    # events, sequences and segments (segmentation-api.md section 8)
    'xEvent[eventType = "commerce.checkouts"].count() > 0',
    'select X from xEvent where X.eventType = "a"',
    'chain(xEvent, timestamp, [A: WHAT(eventType = "a") WHEN(< 24 hours before now) '
    'COUNT(5) WHERE(commerce.order.priceTotal > 5), B: WHAT(eventType = "b") WHEN(today)])',
    'not(chain(xEvent, timestamp, [A: WHAT(eventType = "a")]))',
    'CHAIN(xEvent, timestamp, [A: WHAT(eventType = "a")])',
    'inSegment("existing segment")',
]

# example, the construct named in the refusal
NOT_SUPPORTED = [
    ('if (homeAddress.countryISO = "CA", 1, 2) = 1', "if("),
    ('emailAddress.regexGroup("@(\\\\w+)", 1) = "example"', "regexGroup"),
    (
        'person1.favoriteColors.intersection(person2.favoriteColors) = ["red", "blue", "green"]',
        ".intersection",
    ),
    ("person.favoriteCities.subsetOf(person.visitedCities)", "subsetOf() of a field"),
    ("person.orders.storeId.distinct().count() > 1", ".distinct"),
    ("orders.groupBy(storeId).count() > 1", ".groupBy"),
    ("person.filter(age >= 21).count() > 0", ".filter"),
    ("numbers.map(square).count() > 0", ".map"),
    ("orders.topN(price, 5).head().price > 10", "topN"),
    ("orders.bottomN(price, 5).count() > 0", "bottomN"),
    ("orders.count() > 3", "count() on a field"),
    ("orders.sum(order.price) > 100", "sum() on a field"),
    ("orders.average(order.price) > 10", "average() on a field"),
    ("orders.min(order.price) > 1", "min() on a field"),
    ("orders.max(order.price) > 1", "max() on a field"),
    ('identityMap.get("example@example.com").id = "x"', ".get"),
    ("identityMap.keys().count() > 0", ".keys"),
    ("identityMap.values().count() > 0", ".values"),
    (
        "exists E from xEvent where (E.commerce.item.price > 50), "
        'I from E.productListItems where I.SKU = "PS"',
        "several generators",
    ),
    (
        "forall E from xEvent where (E.commerce.item.price > 50), "
        'I from E.productListItems where I.SKU = "PS"',
        "several generators",
    ),
    ('xEvent[productListItems[SKU = "PS"]].count() > 0', "array filter"),
    ('xEvent[^^.person.gender = "f"].count() > 0', "^"),
    ("xEvent.metrics.commerce.abandons.value > 0", "a field path on xEvent"),
    ('xEvent[eventType = "a"].count() > xEvent[eventType = "b"].count()', "comparing count()"),
    ('xEvent[eventType = "purchase"].sum(revenue) > ltv', "comparing sum()"),
]


@pytest.mark.parametrize("text", SUPPORTED)
def test_documented_examples_parse_and_round_trip(text: str) -> None:
    tree = parse(text)
    canonical = to_pql(tree)
    assert parse(canonical) == tree
    assert to_pql(parse(canonical)) == canonical


@pytest.mark.parametrize(("text", "construct"), NOT_SUPPORTED)
def test_documented_examples_not_supported_yet_say_so_where(text: str, construct: str) -> None:
    with pytest.raises(UnsupportedError) as info:
        parse(text)
    assert construct in info.value.construct
    assert info.value.line == 1 and 1 <= info.value.column <= len(text)


def test_let_with_a_range_body_matches_pandas(svc, frames) -> None:
    _, events = frames
    seen = events[(events["timestamp"] <= AS_OF) & (events["eventType"] == "purchase")]
    sums = seen.groupby("profile_id")["revenue"].sum()
    expected = set(sums[(sums > 300) & (sums < 1000)].index)
    pql = (
        'let S = (sum X.revenue over X from xEvent where X.eventType = "purchase") '
        "in (S > 300 and S < 1000)"
    )
    assert 0 < len(expected) < 400
    assert set(svc.preview(pql, as_of=AS_OF, limit=1000).rows["profile_id"]) == expected
    assert svc.estimate(pql, as_of=AS_OF).estimated_size == len(expected)
    d = svc.definitions.create(name="Mid spenders", pql=pql)
    svc.jobs.run([d.id], as_of=AS_OF)
    assert set(svc.members(d.id)["profile_id"]) == expected

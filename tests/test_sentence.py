"""Rules read as sentences: PQL in, words out, in the fields' display names."""

from __future__ import annotations

import pytest

from segmentation.field_labels import default_display_name
from segmentation.pql import parse
from segmentation.sentence import describe

CASES = [
    (
        'loyaltyTier in ["gold", "platinum"] and xEvent[eventType = "purchase" and '
        "timestamp occurs <= 30 days before now].count() >= 1",
        "Loyalty tier is gold or platinum, and did purchase in the last 30 days",
    ),
    (
        'homeAddress.countryCode = "US" and interests.includes("running")',
        "Home address › country code is US, and Interests includes running",
    ),
    (
        'xEvent[eventType = "purchase"].count() = 0 or age >= 65',
        "did not do purchase, or Age is at least 65",
    ),
    ('xEvent[eventType = "email_open"].count() >= 3', "did email_open at least 3 times"),
    ('loyaltyTier notIn ["none", "silver"]', "Loyalty tier is not none nor silver"),
    ("emailOptIn = true", "Email opt in is true"),
    ('email.endsWith("@example.org", false)', "Email ends with “@example.org” (any case)"),
    ("birthDate occurs this month", "Birth date is this month"),
    (
        "lifetimeValue > 100 and (age < 30 or age > 60)",
        "Lifetime value is more than 100, and (Age is less than 30, or Age is more than 60)",
    ),
    ("age % 5 = 0", "age % 5 is 0"),  # no words for arithmetic: its PQL
    (
        "favoriteCities.subsetOf(visitedCities)",
        "Favorite cities has only values from Visited cities",
    ),
    ("birthDate in [date(1990, 1, 1), date(1991, 1, 1)]", "Birth date is 1990-01-01 or 1991-01-01"),
    ('xEvent.tags.includes("promo")', "xEvent.tags includes promo"),
    # inside an event filter: event fields by name, the profile's attributes as "their"
    (
        'xEvent[eventType = "purchase" and revenue * 10 > $1.lifetimeValue].count() >= 1',
        "did purchase where revenue * 10 is more than their Lifetime value",
    ),
    (
        'xEvent[eventType = "purchase" and timestamp occurs after $1.signupDate].count() >= 1',
        "did purchase after their Signup date",
    ),
    (
        "xEvent.commerce.order.priceTotal > 100",
        "did any event where Commerce › order › price total is more than 100",
    ),
    # no words for a test on a list's items inside an event filter: its PQL
    (
        'exists E from xEvent where E.eventType = "purchase", T from E.tags where T = "promo"',
        'did purchase where exists T from tags where T = "promo"',
    ),
    (
        "orders.topN(price, 5).head().price > 10",
        "orders.topN(price, 5).head().price is more than 10",
    ),
]


@pytest.mark.parametrize(("pql", "words"), CASES)
def test_describe(pql: str, words: str) -> None:
    assert describe(parse(pql), lambda _scope, column: default_display_name(column)) == words


def test_no_rule_is_everyone() -> None:
    assert describe(None) == "Everyone"

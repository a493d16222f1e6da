"""Example segments for the demo data, and a paragraph describing it.

Each PQL text is written in the canonical style of the PQL formatter and finds
a visible share of the shipped profiles (checked in ``tests/test_samples.py``
against hand-written SQL, with "now" at the end of the data).
"""

from __future__ import annotations

from segmentation.samples import _vocab

DEMO_SEGMENTS: list[dict[str, object]] = [
    {
        "name": "Cart abandoners (last 7 days)",
        "description": "Added something to the cart in the last week and have not bought since.",
        "pql": (
            'xEvent[eventType = "add_to_cart" and timestamp occurs <= 7 days before now].count()'
            ' >= 1 and xEvent[eventType = "purchase" and timestamp occurs <= 7 days before now]'
            ".count() = 0"
        ),
        "tags": ["demo", "cart", "retargeting"],
    },
    {
        "name": "Lapsed VIPs",
        "description": (
            "Gold and platinum members who spent 500 or more but have bought nothing"
            " in the last six months: the winback list."
        ),
        "pql": (
            'loyaltyTier in ["gold", "platinum"] and xEvent[eventType = "purchase"]'
            '.sum(revenue) >= 500 and xEvent[eventType = "purchase" and timestamp occurs'
            " <= 6 months before now].count() = 0"
        ),
        "tags": ["demo", "vip", "winback"],
    },
    {
        "name": "Email engagers (last 30 days)",
        "description": "Opened or clicked a marketing email in the last 30 days.",
        "pql": (
            'emailOptIn = true and xEvent[eventType in ["email_open", "email_click"] and'
            " timestamp occurs <= 30 days before now].count() >= 1"
        ),
        "tags": ["demo", "email", "engagement"],
    },
    {
        "name": "High spenders (last 12 months)",
        "description": "Spent more than 500 in the last year.",
        "pql": (
            'xEvent[eventType = "purchase" and timestamp occurs <= 1 year before now]'
            ".sum(revenue) > 500"
        ),
        "tags": ["demo", "vip", "revenue"],
    },
    {
        "name": "New signups this month",
        "description": "Joined during the current calendar month: the welcome series.",
        "pql": "signupDate occurs this month",
        "tags": ["demo", "onboarding"],
    },
    {
        "name": "Outdoor browsers who bought within a day",
        "description": "Viewed an outdoor product and then made a purchase within one day.",
        "pql": (
            'chain(xEvent, timestamp, [A: WHAT(eventType = "product_view" and category ='
            ' "outdoor"), B: WHAT(eventType = "purchase") WHEN(<= 1 day after A)])'
        ),
        "tags": ["demo", "funnel", "outdoor"],
    },
    {
        "name": "US runners",
        "description": "Lives in the United States and lists running among their interests.",
        "pql": 'homeAddress.countryCode = "US" and interests.includes("running")',
        "tags": ["demo", "interests"],
    },
    {
        "name": "App-first shoppers",
        "description": "Opened the mobile app at least twice in the last 90 days.",
        "pql": (
            'xEvent[eventType = "app_open" and timestamp occurs <= 90 days before now].count() >= 2'
        ),
        "tags": ["demo", "app", "mobile"],
    },
    {
        "name": "Black Friday buyers",
        "description": "Bought something during a Black Friday campaign.",
        "pql": 'xEvent[eventType = "purchase" and campaign = "black_friday"].count() >= 1',
        "tags": ["demo", "seasonal"],
    },
    {
        "name": "Reachable high spenders",
        "description": "High spenders we may email: a segment built on another segment.",
        "pql": 'inSegment("High spenders (last 12 months)") and emailOptIn = true',
        "tags": ["demo", "vip", "email"],
    },
]


def describe_demo() -> str:
    """A short paragraph for the data page: what the demo files contain."""
    return (
        f"{_vocab.BRAND} is a made-up outdoor and lifestyle retailer. Its demo data has one"
        " row per customer profile (name, email, country and city across ten countries,"
        " birth date, gender, loyalty tier from none to platinum, signup date over three"
        " years, email and SMS opt-in, interests and lifetime value; a few optional"
        " fields are missing) and about 25 events per profile over the 18 months before"
        " Black Friday 2026: page and product views, add to cart, checkout and purchase"
        " (with revenue) on web, app and in store, marketing emails sent, opened and"
        " clicked, and app opens, with campaigns such as black_friday, spring_sale,"
        " summer_outdoor and winback. Shopping visits follow the funnel in time order,"
        " volume peaks around Black Friday, December and the spring sale, and the"
        " customers include recent cart abandoners (about 8%), lapsed VIPs (about 5%),"
        " active big spenders, email engagers, app-first shoppers and this month's new"
        " signups."
    )

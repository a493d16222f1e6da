"""Every example predicate of AEP's PQL reference (help/segmentation/pql/*.md): it parses,
round-trips and runs (on tables holding its fields), or it is refused as "not supported yet"
at its position, never as a syntax error.
The forms issue #12 adds are evaluated and checked against pandas on data with NULLs,
through preview, estimate and jobs.run, on DuckDB and on Spark.

The README's PQL construct table lists the same constructs; keep the two together.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel

from segmentation import SegmentationService
from segmentation.compiler import CompileOptions, Schema, compile_segment
from segmentation.errors import UnsupportedError
from segmentation.model import EventCondition, EventMeasure, EventValues, FieldRef
from segmentation.pql import parse, to_pql
from segmentation.store import Database, quote_ident
from tests.conftest import AS_OF, make_frames
from tests.spark_support import by_key, spark_union

SUPPORTED = [
    # boolean-functions.md
    'homeAddress.countryISO = "CA" and person.birthYear = 1985',
    'homeAddress.countryISO = "CA" or person.birthYear = 1985',
    'not (homeAddress.countryISO = "CA")',
    '!(homeAddress.countryISO = "CA")',
    'if (homeAddress.countryISO = "CA", 1, 2) = 1',
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
    # Adobe's expression language's substr (0-based, end exclusive; not on the PQL pages)
    'person.name.substr(0, 3) = "Joe"',
    'person.name.equals("John")',
    'person.name.notEqualTo("John")',
    'person.name.matches("(?i)^John")',
    'emailAddress.regexGroup("@(\\\\w+)", 1) = "example"',
    'eventType.equals("commerce.checkouts", false)',
    # array-functions.md
    "person.birthMonth in [3, 6, 9]",
    "person.birthMonth notIn [3, 6, 9]",
    'person.favoriteColors.intersects(["red", "blue", "green"])',
    'person.eatenFoods.supersetOf(["sushi", "pizza"])',
    'person.favoriteColors.includes("red")',
    "person.orders.storeId.distinct().count() > 1",
    'person1.favoriteColors.intersection(person2.favoriteColors) = ["red", "blue", "green"]',
    "person.favoriteCities.subsetOf(person.visitedCities)",
    # logical-quantifiers.md: two generators, the second over a list of the event
    "exists E from xEvent where (E.commerce.item.price > 50), "
    'I from E.productListItems where I.SKU = "PS"',
    "forall E from xEvent where (E.commerce.item.price > 50), "
    'I from E.productListItems where I.SKU = "PS"',
    # issue #12 family 3: projections of event fields, dates in a list
    'xEvent[eventType = "purchase"].sku.distinct().count() >= 3',
    "birthDate in [date(1990, 1, 1), date(1991, 1, 1)]",
    # aggregation-functions.md: count of a list
    "orders.count() > 3",
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
    # segmentation-api issue #12: comparisons whose right side is not a literal
    'xEvent[eventType = "a"].count() > xEvent[eventType = "b"].count()',
    'xEvent[eventType = "purchase"].sum(revenue) > ltv',
    # segmentation-api.md section 3 (AEP's preview example): a field path on xEvent
    "xEvent.metrics.commerce.abandons.value > 0",
    'xEvent.productListItems.SKU = "PS"',
    # issue #12: profile attributes inside event conditions
    'xEvent[eventType = "purchase" and timestamp occurs after $1.createdAt].count() > 0',
    "xEvent[revenue * 10 > $1.ltv].count() > 0",
    "(Profile) => exists E from xEvent where E.revenue * 10 > Profile.ltv",
    "let S = (sum X.revenue over X from xEvent where X.revenue > $1.ltv) in (S > 100)",
    'chain(xEvent, timestamp, [A: WHAT(eventType = "a") WHERE(revenue > $1.ltv)])',
    # array-functions.md: functions of a list's items (bare names: the item's fields)
    "orders.groupBy(storeId).count() > 1",
    "person.filter(age >= 21).count() > 0",
    "numbers.map(square).count() > 0",
    "orders.topN(price, 5).head().price > 10",
    "orders.bottomN(price, 5).count() > 0",
    # aggregation-functions.md: the item named after its list (order of orders)
    "orders.sum(order.price) > 100",
    "orders.average(order.price) > 10",
    "orders.min(order.price) > 1",
    "orders.max(order.price) > 1",
    # map-functions.md
    'identityMap.get("example@example.com").id = "x"',
    "identityMap.keys().count() > 0",
    "identityMap.values().count() > 0",
    # filter-functions.md: a filter of an event's list, ^^ up to the profile
    'xEvent[productListItems[SKU = "PS"]].count() > 0',
    'xEvent[productListItems[SKU = "PS" or ^^.person.gender = "female"]].count() > 0',
    # edge-segmentation.md: a map's values, some of which meet a condition
    'chain(xEvent, timestamp, [A: WHAT(eventType = "addToCart") '
    'WHERE(externalSegmentMapProperty.values().exists(stringProperty = "active"))])',
]

# example, the construct named in the refusal
NOT_SUPPORTED = [
    # overview.md: a signature with several parameters (a segment has one: the profile)
    ("(Profile, Events) => Profile.person.age > 21", "several parameters"),
]


@pytest.mark.parametrize("text", SUPPORTED)
def test_documented_examples_parse_and_round_trip(text: str) -> None:
    tree = parse(text)
    canonical = to_pql(tree)
    assert parse(canonical) == tree
    assert to_pql(parse(canonical)) == canonical


# the types of the example fields that are not text (to evaluate every example)
FIELD_TYPES = {
    "person.birthYear": "BIGINT",
    "person.age": "DOUBLE",
    "person.minAge": "DOUBLE",
    "person.birthMonth": "BIGINT",
    "person.birthDay": "BIGINT",
    "product.saleYear": "BIGINT",
    "person.birthdate": "DATE",
    "person.birthday": "DATE",
    "product.sale": "DATE",
    "product.saleDate": "TIMESTAMP",
    "createdAt": "TIMESTAMP",
    "timestamp": "TIMESTAMP",
    "person.favoriteColors": "VARCHAR[]",
    "person.eatenFoods": "VARCHAR[]",
    "person.favoriteCities": "VARCHAR[]",
    "person.visitedCities": "VARCHAR[]",
    "person1.favoriteColors": "VARCHAR[]",
    "person2.favoriteColors": "VARCHAR[]",
    "commerce.order.priceTotal": "DOUBLE",
    "metrics.commerce.abandons.value": "DOUBLE",
    "revenue": "DOUBLE",
    "ltv": "DOUBLE",
    "orders": "STRUCT(price DOUBLE, storeId VARCHAR)[]",
    "person": "STRUCT(age DOUBLE)[]",
    "numbers": "STRUCT(square DOUBLE)[]",
    "identityMap": "MAP(VARCHAR, STRUCT(id VARCHAR))",
    "externalSegmentMapProperty": "MAP(VARCHAR, STRUCT(stringProperty VARCHAR))",
    "commerce.item.price": "DOUBLE",
    "productListItems": 'STRUCT("SKU" VARCHAR)[]',
    "birthDate": "DATE",
}


# a path through a list of structs: the column it goes through
COLUMNS = {
    "person.orders.storeId": ("person", "STRUCT(orders STRUCT(storeId VARCHAR)[])"),
    "productListItems.SKU": ("productListItems", 'STRUCT("SKU" VARCHAR)[]'),
}


def _fields(node: object, found: dict[str, set[str]]) -> dict[str, set[str]]:
    """The profile and event fields a tree names (measured fields included)."""
    if isinstance(node, FieldRef):
        found[node.scope].add(node.path)
    if isinstance(node, (EventCondition, EventMeasure, EventValues)) and node.field:
        found["event"].add(node.field)
    for value in getattr(node, "__dict__", {}).values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, BaseModel):
                _fields(item, found)
    return found


def test_documented_examples_evaluate() -> None:
    """Every supported example runs, on tables holding exactly its fields."""
    db = Database.open(":memory:")
    for text in SUPPORTED:
        tree = parse(text)
        found = _fields(tree, {"profile": set(), "event": {"eventType", "timestamp"}})
        columns = {
            scope: {"profile_id": "VARCHAR"}
            | dict(
                COLUMNS.get(name, (name, FIELD_TYPES.get(name, "VARCHAR")))
                for name in sorted(names)
            )
            for scope, names in found.items()
        }
        with db.write() as tx:
            for table, scope in (("profiles", "profile"), ("events", "event")):
                listed = ", ".join(f"{quote_ident(c)} {t}" for c, t in columns[scope].items())
                tx.execute(f"CREATE OR REPLACE TABLE {table} ({listed})")
        options = CompileOptions(as_of=AS_OF, resolve_segment=lambda _: parse("true"))
        query = compile_segment(tree, Schema.from_db(db), options)
        assert db.rows(query.sql, query.params) == [], text
    db.close()


@pytest.mark.parametrize(("text", "construct"), NOT_SUPPORTED)
def test_documented_examples_not_supported_yet_say_so_where(text: str, construct: str) -> None:
    with pytest.raises(UnsupportedError) as info:
        parse(text)
    assert construct in info.value.construct
    assert info.value.line == 1 and 1 <= info.value.column <= len(text)


def _per_profile(profiles: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """One row per profile: its attributes and the measures the cases below read."""
    seen = events[events["timestamp"] <= AS_OF]  # events after as-of are never seen
    purchases = seen[seen["eventType"] == "purchase"].groupby("profile_id")["revenue"]
    table = profiles.set_index("profile_id")
    table["events"] = seen.groupby("profile_id").size()
    table["carts"] = seen[seen["eventType"] == "add_to_cart"].groupby("profile_id").size()
    table["views"] = seen[seen["eventType"] == "page_view"].groupby("profile_id").size()
    table["purchases"] = purchases.size()
    table["spent"] = purchases.sum()
    table[["events", "carts", "views", "purchases", "spent"]] = table[
        ["events", "carts", "views", "purchases", "spent"]
    ].fillna(0)  # count and sum of no events are 0
    table["big_purchases"] = seen[seen["revenue"] > 100].groupby("profile_id").size()
    table["big_purchases"] = table["big_purchases"].fillna(0)
    # events above three times the profile's age (a missing age or revenue: not above)
    above = seen[seen["revenue"] > seen["profile_id"].map(table["age"]) * 3]
    table["above_age"] = above.groupby("profile_id").size()
    table["above_age_spent"] = above.groupby("profile_id")["revenue"].sum()
    table[["above_age", "above_age_spent"]] = table[["above_age", "above_age_spent"]].fillna(0)
    table["avg_spent"] = purchases.mean()  # average and max of none are missing (NaN)
    table["max_spent"] = purchases.max()
    interests = table["interests"].map(_list)
    table["n_interests"] = interests.map(lambda items: np.nan if items is None else len(items))
    table["n_distinct"] = interests.map(lambda items: np.nan if items is None else len(set(items)))
    table["interest_list"], table["wish_list"] = interests, table["wishlist"].map(_list)
    table["birth_day"] = table["birthDate"].map(lambda day: day if isinstance(day, str) else "")
    table["revenues"] = (
        seen[seen["eventType"] == "purchase"].groupby("profile_id")["revenue"].nunique()
    )  # distinct present values
    table["revenues"] = table["revenues"].fillna(0)
    pairs = [  # (profile, event type, tag): the pairs of the two generators
        (pid, kind, tag)
        for pid, kind, tags in zip(seen["profile_id"], seen["eventType"], seen["tags"], strict=True)
        for tag in _list(tags) or []
    ]
    table["tag_items"] = pd.Series(Counter(pid for pid, _, _ in pairs)).reindex(table.index)
    table["tag_items"] = table["tag_items"].fillna(0)
    table["promo_purchase"] = table.index.isin(
        {pid for pid, kind, tag in pairs if kind == "purchase" and tag == "promo"}
    )
    return table


def _list(text) -> list | None:
    return json.loads(text) if isinstance(text, str) else None


def _both(t: pd.DataFrame, fn) -> pd.Series:
    """fn(interests, wishlist) where the profile has both lists."""
    return pd.Series(
        [a is not None and b is not None and fn(set(a), set(b))
         for a, b in zip(t["interest_list"], t["wish_list"], strict=True)],
        index=t.index,
    )  # fmt: skip


# PQL, the same question in pandas (NaN comparisons are false, like PQL's missing values)
EVALUATED = [
    (
        'xEvent[eventType = "purchase"].count() > xEvent[eventType = "add_to_cart"].count()',
        lambda t: t["purchases"] > t["carts"],
    ),
    ('xEvent[eventType = "purchase"].sum(revenue) > age * 10',
     lambda t: t["spent"] > t["age"] * 10),
    ('age > xEvent[eventType = "purchase"].average(revenue)', lambda t: t["age"] > t["avg_spent"]),
    (
        'not (xEvent[eventType = "purchase"].max(revenue) >= age)',
        lambda t: ~(t["max_spent"] >= t["age"]),
    ),
    (
        'xEvent.count() * 2 >= xEvent[eventType = "page_view"].count() + 10',
        lambda t: t["events"] * 2 >= t["views"] + 10,
    ),
    (
        'let S = (sum X.revenue over X from xEvent where X.eventType = "purchase") '
        "in (S > 300 and S < 1000)",
        lambda t: (t["spent"] > 300) & (t["spent"] < 1000),
    ),
    (
        'let S = (sum X.revenue over X from xEvent where X.eventType = "purchase") '
        "in (S > age * 5 or S = 0)",
        lambda t: (t["spent"] > t["age"] * 5) | (t["spent"] == 0),
    ),
    ("age % 7 > age % 5", lambda t: t["age"] % 7 > t["age"] % 5),
    # functions (#12 family 4); a NULL text gives a NULL result
    ('email.regexGroup("user(\\\\d)", 1) = "1"',
     lambda t: t["email"].str.extract(r"user(\d)")[0] == "1"),
    ('email.regexGroup("^(\\\\w+)@", 1).endsWith("7")',
     lambda t: t["email"].str.extract(r"^(\w+)@")[0].str.endswith("7")),
    ('country.lowerCase() = "us"', lambda t: t["country"].str.lower() == "us"),
    ('loyaltyTier.upperCase() in ["GOLD", "SILVER"]',
     lambda t: t["loyaltyTier"].str.upper().isin(["GOLD", "SILVER"])),
    ("email.length() > 18", lambda t: t["email"].str.len() > 18),
    # substr(begin[, end]): 0-based, end exclusive
    ('email.substr(4, 6) = "12"', lambda t: t["email"].str[4:6] == "12"),
    ('not (email.substr(5, 6) = "@")', lambda t: ~(t["email"].str[5:6] == "@")),
    ('email.substr(5).startsWith("@")', lambda t: t["email"].str[5:].str.startswith("@")),
    ('not (country.trim() = "DE")', lambda t: ~(t["country"].str.strip() == "DE")),
    # if(test, a, b): a missing test takes the else branch
    ('if(country = "US", age, 0) > 40', lambda t: (t["country"] == "US") & (t["age"] > 40)),
    ('if(age > 50, "old", "young") = "young"', lambda t: ~(t["age"] > 50)),
    ('xEvent[if(revenue > 100, 1, 0) = 1].count() >= 2',
     lambda t: t["big_purchases"] >= 2),
    # lists on the profile (#12 family 3): a missing list has no count, an empty one 0
    ("interests.count() > 2", lambda t: t["n_interests"] > 2),
    ("interests.count() = 0", lambda t: t["n_interests"] == 0),
    ("interests.distinct().count() >= 2", lambda t: t["n_distinct"] >= 2),
    ("not (interests.distinct().count() < 2)", lambda t: ~(t["n_distinct"] < 2)),
    ("interests.distinct().count() < interests.count()",
     lambda t: t["n_distinct"] < t["n_interests"]),
    # a list against another field, an intersection compared as a set
    ("interests.subsetOf(wishlist)", lambda t: _both(t, lambda a, b: a <= b)),
    ("wishlist.intersects(interests)", lambda t: _both(t, lambda a, b: bool(a & b))),
    ('interests.intersection(wishlist) = ["music"]',
     lambda t: _both(t, lambda a, b: a & b == {"music"})),
    # dates in a list: a missing date is in no list and notIn none
    ("birthDate in [date(1990, 1, 3), date(1990, 1, 4)]",
     lambda t: t["birth_day"].isin(["1990-01-03", "1990-01-04"])),
    ("birthDate notIn [date(1990, 1, 3)]",
     lambda t: (t["birth_day"] != "") & (t["birth_day"] != "1990-01-03")),
    # projections of event fields (no events: an empty list)
    ('xEvent[eventType = "purchase"].revenue.distinct().count() >= 3',
     lambda t: t["revenues"] >= 3),
    ("xEvent.tags.count() >= 8", lambda t: t["tag_items"] >= 8),
    # two generators: (event, tag) pairs; forall holds for an event without tags
    ('exists E from xEvent where E.eventType = "purchase", T from E.tags where T = "promo"',
     lambda t: t["promo_purchase"]),
    ("forall E from xEvent where E.eventType.isNotNull(), "
     'T from E.tags where not (T = "promo" and E.eventType = "purchase")',
     lambda t: ~t["promo_purchase"]),
    ('exists T from interests where T.startsWith("s")',
     lambda t: t["interest_list"].map(lambda v: v is not None and any(x[0] == "s" for x in v))),
    # a field path on xEvent: some event meets the condition (#12 family 5)
    ("xEvent.revenue > 250", lambda t: t["max_spent"] > 250),
    ('xEvent[eventType = "purchase"].revenue > age * 3', lambda t: t["above_age"] >= 1),
    # profile attributes inside event conditions (#12 family 1)
    ("xEvent[revenue > $1.age * 3].count() >= 2", lambda t: t["above_age"] >= 2),
    ("(Profile) => exists E from xEvent where E.revenue > Profile.age * 3",
     lambda t: t["above_age"] >= 1),
    ("let S = (sum X.revenue over X from xEvent where X.revenue > $1.age * 3) in (S > 400)",
     lambda t: t["above_age_spent"] > 400),
    ('not (select X from xEvent where X.revenue > $1.age * 3 and $1.country = "US")',
     lambda t: ~((t["above_age"] >= 1) & (t["country"] == "US"))),
]  # fmt: skip


def _expected(frames, oracle) -> set[str]:
    table = _per_profile(*frames)
    expected = set(table.index[oracle(table).fillna(False).astype(bool)])
    assert 0 < len(expected) < len(table), "the case must tell members from others"
    return expected


@pytest.mark.parametrize(("pql", "oracle"), EVALUATED, ids=range(len(EVALUATED)))
def test_new_forms_match_pandas(svc, frames, pql: str, oracle) -> None:
    expected = _expected(frames, oracle)
    assert set(svc.preview(pql, as_of=AS_OF, limit=1000).rows["profile_id"]) == expected
    assert svc.estimate(pql, as_of=AS_OF).estimated_size == len(expected)
    d = svc.definitions.create(name="Case", pql=pql)
    assert parse(d.pql) == d.expression  # stored text is the canonical spelling
    svc.jobs.run([d.id], as_of=AS_OF)
    assert set(svc.members(d.id)["profile_id"]) == expected


@pytest.fixture(scope="module")
def spark_svc(tmp_path_factory, spark_session):
    """The ``svc`` fixture's data in a workspace whose engine is Spark."""
    folder = tmp_path_factory.mktemp("spark_reference")
    (folder / "lake").mkdir()
    service = SegmentationService.open(folder / "ws.duckdb", exports_dir=folder / "exports")
    service.set_engine("spark", master="local[2]", data=folder / "lake")
    for name, frame in zip(("profiles", "events"), make_frames(), strict=True):
        frame.to_csv(folder / f"{name}.csv", index=False)
        service.ingest(name, folder / f"{name}.csv")
    yield service
    service.close()


@pytest.mark.spark
def test_new_forms_match_pandas_on_spark(spark_svc) -> None:
    """The same table on Spark, batched as a user's job batches it: every case in one
    jobs.run (one query), and the single-segment plans that preview and estimate run as
    one union query."""
    expected = {str(i): _expected(make_frames(), oracle) for i, (_, oracle) in enumerate(EVALUATED)}
    defs = {
        str(i): spark_svc.definitions.create(name=f"Case {i}", pql=pql)
        for i, (pql, _) in enumerate(EVALUATED)
    }
    job = spark_svc.jobs.run([d.id for d in defs.values()], as_of=AS_OF)
    assert [s.status for s in job.segments if s.status == "FAILED"] == []
    jobs = {key: set(spark_svc.members(d.id)["profile_id"]) for key, d in defs.items()}
    singles = {key: spark_svc._compiler_for(d.expression, AS_OF)({}) for key, d in defs.items()}
    single = by_key(spark_svc._engine.session().sql(spark_union(singles)).collect())
    assert sorted(k for k in expected if jobs[k] != expected[k]) == []
    assert sorted(k for k in expected if single.get(k, set()) != expected[k]) == []

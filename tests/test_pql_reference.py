"""Every example predicate of AEP's PQL reference (help/segmentation/pql/*.md): it parses,
round-trips and runs (on tables holding its fields), or it is refused as "not supported yet"
at its position, never as a syntax error.
The forms issue #12 adds are evaluated and checked against pandas on data with NULLs,
through preview, estimate and jobs.run, on DuckDB and on Spark.

The README's PQL construct table lists the same constructs; keep the two together.
"""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import BaseModel

from segmentation import SegmentationService
from segmentation.compiler import CompileOptions, Schema, compile_segment
from segmentation.errors import UnsupportedError
from segmentation.model import EventCondition, EventMeasure, FieldRef
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
]

# example, the construct named in the refusal
NOT_SUPPORTED = [
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
}


def _fields(node: object, found: dict[str, set[str]]) -> dict[str, set[str]]:
    """The profile and event fields a tree names (measured fields included)."""
    if isinstance(node, FieldRef):
        found[node.scope].add(node.path)
    if isinstance(node, (EventCondition, EventMeasure)) and node.field:
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
            | {name: FIELD_TYPES.get(name, "VARCHAR") for name in sorted(names)}
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
    return table


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
    ('not (country.trim() = "DE")', lambda t: ~(t["country"].str.strip() == "DE")),
    # if(test, a, b): a missing test takes the else branch
    ('if(country = "US", age, 0) > 40', lambda t: (t["country"] == "US") & (t["age"] > 40)),
    ('if(age > 50, "old", "young") = "young"', lambda t: ~(t["age"] > 50)),
    ('xEvent[if(revenue > 100, 1, 0) = 1].count() >= 2',
     lambda t: t["big_purchases"] >= 2),
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

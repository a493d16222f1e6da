"""The SQL compiler against independent answers computed in pandas/Python.

Data: 2,000 profiles and 40,000 events from a fixed seed (with NULLs, a dotted
column, a STRUCT, a list column, events after as_of and orphan events).
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from segmentation.compiler import (
    CompileOptions,
    Schema,
    compile_count,
    compile_many,
    compile_segment,
)
from segmentation.errors import ConflictError, InvalidInputError, NotFoundError, UnknownFieldError
from segmentation.model import (
    Anchor,
    And,
    Arith,
    BetweenWindow,
    BoolConst,
    Compare,
    DateLit,
    Duration,
    EventCondition,
    FieldRef,
    Func,
    InList,
    ListMatch,
    Lit,
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
from segmentation.pql import parse
from segmentation.store import Database
from tests.spark_support import by_key, spark_union

AS_OF = dt.datetime(2024, 6, 1, 2, 30)  # New York: still May 31
NY = "America/New_York"
TYPES = ["view", "add_to_cart", "purchase", "email_open"]
INTERESTS = ["sports", "music", "travel", "food"]


# --- data ------------------------------------------------------------------------------


def _profiles(rng: random.Random) -> pd.DataFrame:
    rows = []
    for i in range(2000):
        maybe = lambda v, p=0.1: None if rng.random() < p else v  # noqa: E731
        signup = dt.date(2022, 1, 1) + dt.timedelta(days=rng.randrange(0, 940))
        login = AS_OF + dt.timedelta(seconds=rng.randrange(-86400 * 120, 86400 * 40))
        interests = maybe(sorted(rng.sample(INTERESTS, rng.randrange(0, 4))))
        if interests and i % 3 == 0:  # repeats, for distinct (no draw: the data stays put)
            interests = [*interests, interests[0]]
        rows.append(
            {
                "profile_id": f"p{i:04d}",
                "country": maybe(rng.choice(["US", "FR", "DE"])),
                "age": maybe(rng.randrange(16, 80)),
                "loyaltyTier": maybe(rng.choice(["gold", "silver", "bronze"]), 0.2),
                "signupDate": maybe(signup),
                "lastLogin": maybe(login),
                "interests": interests,
                # a second list, from the row number (no draw), missing for every 11th
                "wishlist": None
                if i % 11 == 0
                else [t for k, t in enumerate(INTERESTS) if (i >> k) & 1],
                "email": maybe(f"user{i}@{rng.choice(['Example.com', 'test.org'])}", 0.05),
                "homeAddress.countryCode": maybe(rng.choice(["US", "CA"])),
            }
        )
    return pd.DataFrame(rows, dtype=object)


def _tags(row: dict) -> list[str] | None:
    """A list column on events, made of the row's drawn values (no draw of its own):
    missing for email without a category, empty for the app without one."""
    if row["category"] is None and row["channel"] != "web":
        return None if row["channel"] == "email" else []
    promo = ["promo"] if (row["revenue"] or 0) > 150 else []
    return [t for t in (row["category"], row["channel"]) if t] + promo


def _events(rng: random.Random) -> pd.DataFrame:
    rows = []
    ids = [f"p{i:04d}" for i in range(2000)] + ["ghost1", "ghost2"]
    while len(rows) < 40000:
        pid = rng.choice(ids)
        center = AS_OF + dt.timedelta(seconds=rng.randrange(-86400 * 400, 86400 * 20))
        for _ in range(rng.randrange(1, 12)):
            ts = center + dt.timedelta(seconds=rng.randrange(0, 86400 * 3))
            kind = rng.choice(TYPES)
            revenue = round(rng.uniform(1, 300), 2) if kind == "purchase" else None
            row = {
                "profile_id": pid,
                "eventType": kind,
                "timestamp": ts,
                "revenue": revenue if rng.random() > 0.05 else None,
                "category": rng.choice(["shoes", "books", "games", None]),
                "channel": rng.choice(["web", "app", "email"]),
            }
            rows.append({**row, "tags": _tags(row)})
    return pd.DataFrame(rows[:40000])


@pytest.fixture(scope="module")
def world():
    rng = random.Random(20240601)
    P, E = _profiles(rng), _events(rng)
    db = Database.open(":memory:")
    con = db.connection()
    con.register("p_df", P)
    con.register("e_df", E)
    with db.write() as tx:
        tx.execute(
            "CREATE TABLE profiles AS SELECT CAST(profile_id AS VARCHAR) AS profile_id, "
            "CAST(country AS VARCHAR) AS country, CAST(age AS BIGINT) AS age, "
            'CAST("loyaltyTier" AS VARCHAR) AS "loyaltyTier", '
            'CAST("signupDate" AS DATE) AS "signupDate", '
            'CAST("lastLogin" AS TIMESTAMP) AS "lastLogin", '
            "CAST(interests AS VARCHAR[]) AS interests, CAST(wishlist AS VARCHAR[]) AS wishlist, "
            "CAST(email AS VARCHAR) AS email, "
            'CAST("homeAddress.countryCode" AS VARCHAR) AS "homeAddress.countryCode", '
            "struct_pack(city := lower(CAST(country AS VARCHAR))) AS address FROM p_df"
        )
        tx.execute(
            "CREATE TABLE events AS SELECT CAST(profile_id AS VARCHAR) AS profile_id, "
            'CAST("eventType" AS VARCHAR) AS "eventType", CAST("timestamp" AS TIMESTAMP) '
            'AS "timestamp", CAST(revenue AS DOUBLE) AS revenue, '
            "CAST(category AS VARCHAR) AS category, CAST(channel AS VARCHAR) AS channel, "
            "CAST(tags AS VARCHAR[]) AS tags, "
            # XDM paths as users load them: a flat column named with dots, one with
            # underscores, a struct column (AEP's commerce.order.priceTotal)
            "CASE WHEN \"eventType\" = 'add_to_cart' THEN CAST(channel = 'web' AS DOUBLE) END "
            'AS "metrics.commerce.abandons.value", '
            "'SKU-' || upper(CAST(category AS VARCHAR)) AS \"productListItems_SKU\", "
            'struct_pack("order" := struct_pack("priceTotal" := CAST(revenue AS DOUBLE), '
            "\"currencyCode\" := CASE WHEN channel = 'app' THEN 'EUR' ELSE 'USD' END)) "
            "AS commerce FROM e_df"
        )
    con.unregister("p_df")
    con.unregister("e_df")
    E["timestamp"] = pd.to_datetime(E["timestamp"])
    yield db, P, E
    db.close()


def run(db: Database, expr, tz: str = "UTC", **opts) -> set[str]:
    q = compile_segment(expr, Schema.from_db(db), CompileOptions(as_of=AS_OF, timezone=tz, **opts))
    return {r[0] for r in db.rows(q.sql, q.params)}


# --- oracle helpers ------------------------------------------------------------------


def F(path: str, scope: str = "profile") -> FieldRef:
    return FieldRef(path=path, scope=scope)


def L(value) -> Lit:
    return Lit(value=value)


def ids(P: pd.DataFrame, mask) -> set[str]:
    return set(P.loc[list(mask), "profile_id"])


def col(P: pd.DataFrame, name: str, fn: Callable) -> list[bool]:
    """fn on each non-null value; a null value is false (two-valued logic)."""
    return [v is not None and not _isna(v) and bool(fn(v)) for v in P[name]]


def _isna(v) -> bool:
    return not isinstance(v, list) and pd.isna(v)


def local(ts: dt.datetime, tz: str) -> dt.datetime:
    return ts.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def seen(E: pd.DataFrame) -> pd.DataFrame:
    return E[E["timestamp"] <= AS_OF]


def per_profile(P, E, mask, agg: str = "count", field: str | None = None, fill=None):
    picked = seen(E)[mask(seen(E))]
    grouped = picked.groupby("profile_id")
    series = grouped.size() if agg == "count" else getattr(grouped[field], agg)()
    out = P["profile_id"].map(series)
    return out.fillna(fill) if fill is not None else out


def event_ids(P, E, mask, agg, op, value, field=None) -> set[str]:
    fill = 0 if agg in ("count", "sum") else None
    series = per_profile(P, E, mask, agg, field, fill)
    ops = {
        ">=": series >= value,
        "=": series == value,
        "<=": series <= value,
        ">": series > value,
        "<": series < value,
    }
    return set(P.loc[ops[op].fillna(False).astype(bool), "profile_id"])


def both(P: pd.DataFrame, a: str, b: str, fn: Callable) -> set[str]:
    """fn(a, b) on rows where both lists (or values) are there."""
    rows = zip(P["profile_id"], P[a], P[b], strict=True)
    return {pid for pid, x, y in rows if not (_isna(x) or _isna(y)) and fn(x, y)}


def per_event(P, E, fn: Callable) -> set[str]:
    """Profiles with a seen event (a row as a dict) for which fn holds."""
    return {e["profile_id"] for e in seen(E).to_dict("records") if fn(e)} & set(P["profile_id"])


def projected(E: pd.DataFrame, field: str, mask=None) -> dict[str, list]:
    """Per profile, the present values of an event field (list fields: their items)."""
    ev = seen(E) if mask is None else seen(E)[mask(seen(E))]
    out: dict[str, list] = {}
    for pid, value in zip(ev["profile_id"], ev[field], strict=True):
        items = value if isinstance(value, list) else [] if _isna(value) else [value]
        out.setdefault(pid, []).extend(items)
    return out


def of_projection(P, values: dict[str, list], fn: Callable) -> set[str]:
    return {pid for pid in P["profile_id"] if fn(values.get(pid, []))}


def is_type(*types):
    return lambda e: e["eventType"].isin(list(types))


def last_days(days: int) -> RelativeWindow:
    return RelativeWindow(
        cmp="<=", amount=days, unit="day", direction="before", anchor=Anchor(name="now")
    )


def profile_value(e: pd.DataFrame, P: pd.DataFrame, name: str) -> pd.Series:
    """Each event's profile attribute ``name`` (missing for events of unknown profiles);
    numbers and times as pandas types, so that missing compares false."""
    values = e["profile_id"].map(P.set_index("profile_id")[name])
    if name == "age":
        return pd.to_numeric(values)
    return pd.to_datetime(values) if name in ("lastLogin", "signupDate") else values


def in_last_days(days: int, *types):
    return lambda e: is_type(*types)(e) & (e["timestamp"] >= AS_OF - dt.timedelta(days=days))


def chain_oracle(P, E, steps) -> set[str]:
    """Brute force: does some choice of reach times satisfy every step? (The steps'
    selectors see each event's profile age as ``$1.age``.)"""
    ev = seen(E).assign(**{"$1.age": lambda e: profile_value(e, P, "age")})
    per_step = []
    for sel, _, _ in steps:
        times: dict[str, list[dt.datetime]] = {}
        picked = ev[sel(ev)]
        for pid, ts in zip(
            picked["profile_id"], picked["timestamp"].dt.to_pydatetime(), strict=True
        ):
            times.setdefault(pid, []).append(ts)
        per_step.append({k: sorted(v) for k, v in times.items()})

    def ok(pid: str, i: int, prev) -> bool:
        if i == len(steps):
            return True
        _, count, within = steps[i]
        cands = [t for t in per_step[i].get(pid, []) if prev is None or t > prev]
        for j in range(count - 1, len(cands)):
            t = cands[j]
            if within is not None and prev is not None and t - prev > within:
                continue
            if ok(pid, i + 1, t):
                return True
        return False

    return {pid for pid in P["profile_id"] if ok(pid, 0, None)}


# --- table-driven: every node kind vs an independent answer ----------------------------

us = Compare(op="=", left=F("country"), right=L("US"))
purchase = EventCondition(event_types=["purchase"])
today_ny = local(AS_OF, NY).date()

distinct_interests = Func(name="distinct", args=[F("interests")])

CASES: list[tuple[str, object, Callable, str]] = [
    ("eq_text", us, lambda P, E: ids(P, col(P, "country", lambda v: v == "US")), "UTC"),
    (
        "ne_text_null_false",
        Compare(op="!=", left=F("country"), right=L("US")),
        lambda P, E: ids(P, col(P, "country", lambda v: v != "US")),
        "UTC",
    ),
    (
        "gt_number",
        Compare(op=">", left=F("age"), right=L(40)),
        lambda P, E: ids(P, col(P, "age", lambda v: v > 40)),
        "UTC",
    ),
    (
        "literal_left",
        Compare(op="<", left=L(30), right=F("age")),
        lambda P, E: ids(P, col(P, "age", lambda v: v > 30)),
        "UTC",
    ),
    (
        "arith",
        Compare(op=">=", left=Arith(op="+", left=F("age"), right=L(5)), right=L(50)),
        lambda P, E: ids(P, col(P, "age", lambda v: v + 5 >= 50)),
        "UTC",
    ),
    (  # dividing by zero gives no value, on every engine (age - age is 0 or missing)
        "divide_by_zero_no_value",
        Or(
            items=[
                Compare(
                    op=">",
                    left=Arith(
                        op="/", left=F("age"), right=Arith(op="-", left=F("age"), right=F("age"))
                    ),
                    right=L(1),
                ),
                Compare(
                    op="=",
                    left=Arith(
                        op="%", left=F("age"), right=Arith(op="-", left=F("age"), right=F("age"))
                    ),
                    right=L(0),
                ),
                Compare(op=">", left=Arith(op="/", left=F("age"), right=L(2)), right=L(30)),
            ]
        ),
        lambda P, E: ids(P, col(P, "age", lambda v: v / 2 > 30)),
        "UTC",
    ),
    (
        "not_with_nulls",
        Not(item=us),
        lambda P, E: ids(P, [not x for x in col(P, "country", lambda v: v == "US")]),
        "UTC",
    ),
    (
        "not_not",
        Not(item=Not(item=us)),
        lambda P, E: ids(P, col(P, "country", lambda v: v == "US")),
        "UTC",
    ),
    (
        "in_list",
        InList(operand=F("loyaltyTier"), values=["gold", "silver"]),
        lambda P, E: ids(P, col(P, "loyaltyTier", lambda v: v in ("gold", "silver"))),
        "UTC",
    ),
    (
        "notin_false_on_null",
        InList(operand=F("loyaltyTier"), values=["gold"], negate=True),
        lambda P, E: ids(P, col(P, "loyaltyTier", lambda v: v != "gold")),
        "UTC",
    ),
    (
        "not_in_true_on_null",
        Not(item=InList(operand=F("loyaltyTier"), values=["gold"])),
        lambda P, E: ids(P, [not x for x in col(P, "loyaltyTier", lambda v: v == "gold")]),
        "UTC",
    ),
    (
        "contains_ci",
        TextMatch(op="contains", operand=F("email"), value="EXAMPLE", case_sensitive=False),
        lambda P, E: ids(P, col(P, "email", lambda v: "example" in v.lower())),
        "UTC",
    ),
    (
        "contains_cs",
        TextMatch(op="contains", operand=F("email"), value="Example"),
        lambda P, E: ids(P, col(P, "email", lambda v: "Example" in v)),
        "UTC",
    ),
    (
        "starts_with",
        TextMatch(op="startsWith", operand=F("email"), value="user1"),
        lambda P, E: ids(P, col(P, "email", lambda v: v.startswith("user1"))),
        "UTC",
    ),
    (
        "does_not_end_with",
        TextMatch(op="endsWith", operand=F("email"), value=".org", negate=True),
        lambda P, E: ids(P, col(P, "email", lambda v: not v.endswith(".org"))),
        "UTC",
    ),
    (
        "equals_ci",
        TextMatch(op="equals", operand=F("country"), value="us", case_sensitive=False),
        lambda P, E: ids(P, col(P, "country", lambda v: v == "US")),
        "UTC",
    ),
    (
        "like",
        TextMatch(op="like", operand=F("email"), value="user1_@%"),
        lambda P, E: ids(
            P,
            col(
                P, "email", lambda v: v[:4] == "user" and v[4] == "1" and len(v.split("@")[0]) == 6
            ),
        ),
        "UTC",
    ),
    (
        "matches",
        TextMatch(op="matches", operand=F("email"), value=r"(?i)^USER\d+@example\.com$"),
        lambda P, E: ids(P, col(P, "email", lambda v: v.lower().endswith("@example.com"))),
        "UTC",
    ),
    ("is_null", NullCheck(operand=F("age")), lambda P, E: ids(P, P["age"].isna()), "UTC"),
    (
        "is_not_null",
        NullCheck(operand=F("age"), is_null=False),
        lambda P, E: ids(P, P["age"].notna()),
        "UTC",
    ),
    (
        "intersects",
        ListMatch(op="intersects", operand=F("interests"), values=["music", "food"]),
        lambda P, E: ids(P, col(P, "interests", lambda v: {"music", "food"} & set(v))),
        "UTC",
    ),
    (
        "includes",
        ListMatch(op="includes", operand=F("interests"), values=["travel"]),
        lambda P, E: ids(P, col(P, "interests", lambda v: "travel" in v)),
        "UTC",
    ),
    (
        "subset_of",
        ListMatch(op="subsetOf", operand=F("interests"), values=["music", "food"]),
        lambda P, E: ids(P, col(P, "interests", lambda v: set(v) <= {"music", "food"})),
        "UTC",
    ),
    (
        "superset_of",
        ListMatch(op="supersetOf", operand=F("interests"), values=["music", "food"]),
        lambda P, E: ids(P, col(P, "interests", lambda v: set(v) >= {"music", "food"})),
        "UTC",
    ),
    (
        "list_count",
        Compare(op=">", left=Func(name="count", args=[F("interests")]), right=L(2)),
        lambda P, E: ids(P, col(P, "interests", lambda v: len(v) > 2)),
        "UTC",
    ),
    (
        "list_count_zero_is_the_empty_list",
        Compare(op="=", left=Func(name="count", args=[F("interests")]), right=L(0)),
        lambda P, E: ids(P, col(P, "interests", lambda v: len(v) == 0 or None)),
        "UTC",
    ),
    (
        "not_list_count_takes_missing_lists",
        Not(item=Compare(op="<", left=Func(name="count", args=[F("interests")]), right=L(2))),
        lambda P, E: ids(P, [not x for x in col(P, "interests", lambda v: len(v) < 2)]),
        "UTC",
    ),
    (
        "distinct_count",
        Compare(op=">=", left=Func(name="count", args=[distinct_interests]), right=L(2)),
        lambda P, E: ids(P, col(P, "interests", lambda v: len(set(v)) >= 2)),
        "UTC",
    ),
    (
        "distinct_count_vs_count",
        Compare(
            op="<",
            left=Func(name="count", args=[distinct_interests]),
            right=Func(name="count", args=[F("interests")]),
        ),
        lambda P, E: ids(P, col(P, "interests", lambda v: len(set(v)) < len(v))),
        "UTC",
    ),
    (
        "distinct_includes",
        ListMatch(op="includes", operand=distinct_interests, values=["music"]),
        lambda P, E: ids(P, col(P, "interests", lambda v: "music" in v)),
        "UTC",
    ),
    (
        "subset_of_field",
        parse("interests.subsetOf(wishlist)"),
        lambda P, E: both(P, "interests", "wishlist", lambda a, b: set(a) <= set(b)),
        "UTC",
    ),
    (
        "superset_of_field",
        parse("interests.supersetOf(wishlist)"),
        lambda P, E: both(P, "interests", "wishlist", lambda a, b: set(a) >= set(b)),
        "UTC",
    ),
    (
        "intersects_field",
        parse("wishlist.intersects(interests.distinct())"),
        lambda P, E: both(P, "interests", "wishlist", lambda a, b: bool(set(a) & set(b))),
        "UTC",
    ),
    (
        "includes_expression",
        parse('wishlist.includes(if(country = "US", "music", "food"))'),
        lambda P, E: both(
            P,
            "wishlist",
            "profile_id",
            lambda w, pid: (
                ("music" if P.set_index("profile_id").at[pid, "country"] == "US" else "food") in w
            ),
        ),
        "UTC",
    ),
    (
        "intersection_equals_a_list_as_sets",
        parse('interests.intersection(wishlist) = ["travel", "music"]'),
        lambda P, E: both(
            P, "interests", "wishlist", lambda a, b: set(a) & set(b) == {"music", "travel"}
        ),
        "UTC",
    ),
    (
        "intersection_not_equal",
        parse('interests.intersection(wishlist) != ["music"]'),
        lambda P, E: both(P, "interests", "wishlist", lambda a, b: set(a) & set(b) != {"music"}),
        "UTC",
    ),
    (
        "distinct_equals_a_list",
        parse('interests.distinct() = ["sports", "music"]'),
        lambda P, E: ids(P, col(P, "interests", lambda v: set(v) == {"music", "sports"})),
        "UTC",
    ),
    (
        "dates_in",
        parse("signupDate in [date(2022, 3, 1), date(2022, 3, 2), date(2023, 7, 14)]"),
        lambda P, E: ids(
            P, col(P, "signupDate", lambda v: str(v) in ("2022-03-01", "2022-03-02", "2023-07-14"))
        ),
        "UTC",
    ),
    (
        "dates_not_in",
        parse("signupDate notIn [date(2022, 3, 1), date(2023, 7, 14)]"),
        lambda P, E: ids(
            P, col(P, "signupDate", lambda v: str(v) not in ("2022-03-01", "2023-07-14"))
        ),
        "UTC",
    ),
    (
        "timestamp_in_dates_is_the_local_day",
        parse("lastLogin in [date(2024, 5, 30), date(2024, 5, 31)]"),
        lambda P, E: ids(
            P,
            col(P, "lastLogin", lambda v: str(local(v, NY).date()) in ("2024-05-30", "2024-05-31")),
        ),
        NY,
    ),
    (
        "projection_distinct_count",
        parse('xEvent[eventType = "purchase"].category.distinct().count() >= 2'),
        lambda P, E: of_projection(
            P, projected(E, "category", is_type("purchase")), lambda v: len(set(v)) >= 2
        ),
        "UTC",
    ),
    (
        "projection_count_zero_without_events",
        parse('xEvent[eventType = "purchase"].category.count() = 0'),
        lambda P, E: of_projection(
            P, projected(E, "category", is_type("purchase")), lambda v: len(v) == 0
        ),
        "UTC",
    ),
    (
        "projection_of_a_list_field",
        parse('xEvent[eventType = "view"].tags.count() >= 12 and xEvent.tags.includes("promo")'),
        lambda P, E: (
            of_projection(P, projected(E, "tags", is_type("view")), lambda v: len(v) >= 12)
            & of_projection(P, projected(E, "tags"), lambda v: "promo" in v)
        ),
        "UTC",
    ),
    (
        "exists_two_generators",
        parse(
            'exists E from xEvent where E.eventType = "purchase", T from E.tags where T = "promo"'
        ),
        lambda P, E: per_event(
            P, E, lambda e: e["eventType"] == "purchase" and "promo" in (e["tags"] or [])
        ),
        "UTC",
    ),
    (
        "forall_two_generators_every_pair",
        parse('forall E from xEvent where E.channel != "email", T from E.tags where T != "promo"'),
        lambda P, E: (
            set(P["profile_id"])
            - per_event(
                P,
                E,
                lambda e: any(
                    not (e["channel"] != "email" and t != "promo") for t in e["tags"] or []
                ),
            )
        ),
        "UTC",
    ),
    (
        "exists_over_a_profile_list",
        parse('exists T from interests where T.startsWith("s") or T = "food"'),
        lambda P, E: ids(
            P, col(P, "interests", lambda v: any(t.startswith("s") or t == "food" for t in v))
        ),
        "UTC",
    ),
    (
        "forall_over_a_profile_list_missing_is_empty",
        parse('forall T from wishlist where T != "food"'),
        lambda P, E: set(P["profile_id"]) - ids(P, col(P, "wishlist", lambda v: "food" in v)),
        "UTC",
    ),
    (
        "substr_begin_end",
        parse('email.substr(0, 5) = "user1"'),
        lambda P, E: ids(P, col(P, "email", lambda v: v[0:5] == "user1")),
        "UTC",
    ),
    (
        "substr_to_the_end",
        parse('email.substr(5).startsWith("@")'),
        lambda P, E: ids(P, col(P, "email", lambda v: v[5:].startswith("@"))),
        "UTC",
    ),
    (
        "substr_past_the_end_is_empty",
        parse('email.substr(4, 6) = "19" or email.substr(40) = ""'),
        lambda P, E: ids(P, col(P, "email", lambda v: v[4:6] == "19" or v[40:] == "")),
        "UTC",
    ),
    (
        "dotted_column",
        Compare(op="=", left=F("homeAddress.countryCode"), right=L("CA")),
        lambda P, E: ids(P, col(P, "homeAddress.countryCode", lambda v: v == "CA")),
        "UTC",
    ),
    (
        "struct_path",
        Compare(op="=", left=F("address.city"), right=L("fr")),
        lambda P, E: ids(P, col(P, "country", lambda v: v == "FR")),
        "UTC",
    ),
    (
        "date_lt_datelit",
        Compare(op="<", left=F("signupDate"), right=DateLit(value=dt.date(2023, 1, 1))),
        lambda P, E: ids(P, col(P, "signupDate", lambda v: v < dt.date(2023, 1, 1))),
        "UTC",
    ),
    # two time values: a constant condition, true for everyone or for no one
    (
        "datelit_eq_datelit",
        Compare(
            op="=",
            left=DateLit(value=dt.date(2000, 1, 1)),
            right=DateLit(value=dt.date(2000, 1, 1)),
        ),
        lambda P, E: set(P["profile_id"]),
        "UTC",
    ),
    (
        "now_lt_datelit",
        Compare(op="<", left=Anchor(name="now"), right=DateLit(value=dt.date(2000, 1, 1))),
        lambda P, E: set(),
        "UTC",
    ),
    (
        "date_ge_string",
        Compare(op=">=", left=F("signupDate"), right=L("2024-01-01")),
        lambda P, E: ids(P, col(P, "signupDate", lambda v: v >= dt.date(2024, 1, 1))),
        "UTC",
    ),
    (
        "date_eq_today_ny",
        Compare(op="<=", left=F("signupDate"), right=Anchor(name="today")),
        lambda P, E: ids(P, col(P, "signupDate", lambda v: v <= today_ny)),
        NY,
    ),
    (
        "occurs_date_last_30d_ny",
        Occurs(
            operand=F("signupDate"),
            window=RelativeWindow(
                cmp="<=", amount=30, unit="day", direction="before", anchor=Anchor(name="now")
            ),
        ),
        lambda P, E: ids(
            P, col(P, "signupDate", lambda v: today_ny - dt.timedelta(days=30) <= v <= today_ny)
        ),
        NY,
    ),
    (
        "occurs_date_this_month",
        Occurs(
            operand=F("signupDate"),
            window=PointWindow(direction="on", anchor=Period(which="this", unit="month")),
        ),
        lambda P, E: ids(P, col(P, "signupDate", lambda v: (v.year, v.month) == (2024, 6))),
        "UTC",
    ),
    (
        "occurs_date_last_year",
        Occurs(
            operand=F("signupDate"),
            window=PointWindow(direction="on", anchor=Period(which="last", unit="year")),
        ),
        lambda P, E: ids(P, col(P, "signupDate", lambda v: v.year == 2023)),
        NY,
    ),
    (
        "occurs_date_before_today",
        Occurs(
            operand=F("signupDate"),
            window=PointWindow(direction="before", anchor=Anchor(name="today")),
        ),
        lambda P, E: ids(P, col(P, "signupDate", lambda v: v < today_ny)),
        NY,
    ),
    (
        "occurs_date_between",
        Occurs(
            operand=F("signupDate"),
            window=BetweenWindow(
                start=DateLit(value=dt.date(2023, 3, 1)), end=DateLit(value=dt.date(2023, 3, 31))
            ),
        ),
        lambda P, E: ids(
            P, col(P, "signupDate", lambda v: dt.date(2023, 3, 1) <= v <= dt.date(2023, 3, 31))
        ),
        NY,
    ),
    (
        "occurs_ts_gt_7d_before_now",
        Occurs(
            operand=F("lastLogin"),
            window=RelativeWindow(
                cmp=">", amount=7, unit="day", direction="before", anchor=Anchor(name="now")
            ),
        ),
        lambda P, E: ids(P, col(P, "lastLogin", lambda v: v < AS_OF - dt.timedelta(days=7))),
        "UTC",
    ),
    (
        "occurs_ts_within_2_months",
        Occurs(
            operand=F("lastLogin"),
            window=RelativeWindow(
                cmp="<=", amount=2, unit="month", direction="before", anchor=Anchor(name="now")
            ),
        ),
        lambda P, E: ids(
            P, col(P, "lastLogin", lambda v: dt.datetime(2024, 4, 1, 2, 30) <= v <= AS_OF)
        ),
        "UTC",
    ),
    (
        "occurs_ts_after_now_3d",
        Occurs(
            operand=F("lastLogin"),
            window=RelativeWindow(
                cmp="<=", amount=3, unit="day", direction="after", anchor=Anchor(name="now")
            ),
        ),
        lambda P, E: ids(
            P, col(P, "lastLogin", lambda v: AS_OF <= v <= AS_OF + dt.timedelta(days=3))
        ),
        "UTC",
    ),
    (
        "occurs_ts_yesterday_ny",
        Occurs(
            operand=F("lastLogin"),
            window=PointWindow(direction="on", anchor=Anchor(name="yesterday")),
        ),
        lambda P, E: ids(
            P, col(P, "lastLogin", lambda v: local(v, NY).date() == today_ny - dt.timedelta(days=1))
        ),
        NY,
    ),
    (
        "occurs_ts_this_week_ny",
        Occurs(
            operand=F("lastLogin"),
            window=PointWindow(direction="on", anchor=Period(which="this", unit="week")),
        ),
        lambda P, E: ids(
            P,
            col(
                P,
                "lastLogin",
                lambda v: local(v, NY).isocalendar()[:2] == today_ny.isocalendar()[:2],
            ),
        ),
        NY,
    ),
    (
        "occurs_ts_after_this_month_ny",
        Occurs(
            operand=F("lastLogin"),
            window=PointWindow(direction="after", anchor=Period(which="this", unit="month")),
        ),
        lambda P, E: ids(P, col(P, "lastLogin", lambda v: local(v, NY) >= dt.datetime(2024, 6, 1))),
        NY,
    ),
    (
        "get_month_current_month",
        Compare(
            op="=",
            left=Func(name="getMonth", args=[F("lastLogin")]),
            right=Func(name="currentMonth"),
        ),
        lambda P, E: ids(P, col(P, "lastLogin", lambda v: local(v, NY).month == 5)),
        NY,
    ),
    ("bool_true", BoolConst(value=True), lambda P, E: set(P["profile_id"]), "UTC"),
    ("bool_false", BoolConst(value=False), lambda P, E: set(), "UTC"),
    # --- events
    (
        "did_purchase",
        purchase,
        lambda P, E: event_ids(P, E, is_type("purchase"), "count", ">=", 1),
        "UTC",
    ),
    (
        "did_not_purchase_30d",
        EventCondition(
            event_types=["purchase"],
            op="=",
            value=0,
            window=RelativeWindow(
                cmp="<=", amount=30, unit="day", direction="before", anchor=Anchor(name="now")
            ),
        ),
        lambda P, E: event_ids(
            P,
            E,
            lambda e: is_type("purchase")(e) & (e["timestamp"] >= AS_OF - dt.timedelta(days=30)),
            "count",
            "=",
            0,
        ),
        "UTC",
    ),
    (
        "count_le_2",
        EventCondition(event_types=["view"], op="<=", value=2),
        lambda P, E: event_ids(P, E, is_type("view"), "count", "<=", 2),
        "UTC",
    ),
    (
        "sum_gt_500",
        EventCondition(event_types=["purchase"], measure="sum", field="revenue", op=">", value=500),
        lambda P, E: event_ids(P, E, is_type("purchase"), "sum", ">", 500, "revenue"),
        "UTC",
    ),
    (
        "sum_le_10_includes_none",
        EventCondition(event_types=["purchase"], measure="sum", field="revenue", op="<=", value=10),
        lambda P, E: event_ids(P, E, is_type("purchase"), "sum", "<=", 10, "revenue"),
        "UTC",
    ),
    (
        "avg_ge_150",
        EventCondition(
            event_types=["purchase"], measure="average", field="revenue", op=">=", value=150
        ),
        lambda P, E: event_ids(P, E, is_type("purchase"), "mean", ">=", 150, "revenue"),
        "UTC",
    ),
    (
        "min_lt_20",
        EventCondition(measure="min", field="revenue", op="<", value=20),
        lambda P, E: event_ids(P, E, lambda e: e["eventType"].notna(), "min", "<", 20, "revenue"),
        "UTC",
    ),
    (
        "where_filters",
        EventCondition(
            event_types=["view", "add_to_cart"],
            op=">=",
            value=2,
            where=And(
                items=[
                    Compare(op="=", left=F("category", "event"), right=L("shoes")),
                    InList(operand=F("channel", "event"), values=["web", "app"]),
                ]
            ),
        ),
        lambda P, E: event_ids(
            P,
            E,
            lambda e: (
                is_type("view", "add_to_cart")(e)
                & (e["category"] == "shoes")
                & e["channel"].isin(["web", "app"])
            ),
            "count",
            ">=",
            2,
        ),
        "UTC",
    ),
    (
        "event_last_month_ny",
        EventCondition(
            event_types=["email_open"],
            window=PointWindow(direction="on", anchor=Period(which="last", unit="month")),
        ),
        lambda P, E: event_ids(
            P,
            E,
            lambda e: (
                is_type("email_open")(e)
                & e["timestamp"].map(
                    lambda t: (
                        (local(t.to_pydatetime(), NY).year, local(t.to_pydatetime(), NY).month)
                        == (2024, 4)
                    )
                )
            ),
            "count",
            ">=",
            1,
        ),
        NY,
    ),
    (
        "nested_or_events",
        Or(
            items=[
                EventCondition(event_types=["purchase"], op=">=", value=3),
                And(
                    items=[
                        EventCondition(event_types=["email_open"], op=">=", value=4),
                        Not(item=EventCondition(event_types=["view"], op=">=", value=6)),
                    ]
                ),
            ]
        ),
        lambda P, E: (
            event_ids(P, E, is_type("purchase"), "count", ">=", 3)
            | (
                event_ids(P, E, is_type("email_open"), "count", ">=", 4)
                - event_ids(P, E, is_type("view"), "count", ">=", 6)
            )
        ),
        "UTC",
    ),
    (
        "or_of_windows_and_types",  # the scan's prefilter: all types, the earliest window
        Or(
            items=[
                EventCondition(event_types=["purchase"], op=">=", value=2, window=last_days(30)),
                EventCondition(
                    event_types=["view", "email_open"], op=">=", value=3, window=last_days(90)
                ),
            ]
        ),
        lambda P, E: (
            event_ids(P, E, in_last_days(30, "purchase"), "count", ">=", 2)
            | event_ids(P, E, in_last_days(90, "view", "email_open"), "count", ">=", 3)
        ),
        "UTC",
    ),
    (
        "two_types_two_windows",  # computed by two scans, full-joined into ev
        And(
            items=[
                EventCondition(
                    event_types=["purchase"],
                    measure="sum",
                    field="revenue",
                    value=100,
                    window=last_days(120),
                ),
                Not(item=EventCondition(event_types=["email_open"], window=last_days(20))),
            ]
        ),
        lambda P, E: (
            event_ids(P, E, in_last_days(120, "purchase"), "sum", ">", 100, "revenue")
            - event_ids(P, E, in_last_days(20, "email_open"), "count", ">=", 1)
        ),
        "UTC",
    ),
    # profile attributes inside event filters (#12 family 1)
    (
        "profile_attr_in_event_filter",  # an order above three times their age
        EventCondition(
            event_types=["purchase"],
            where=Compare(
                op=">", left=F("revenue", "event"), right=Arith(op="*", left=F("age"), right=L(3))
            ),
            op=">=",
            value=2,
        ),
        lambda P, E: event_ids(
            P,
            E,
            lambda e: is_type("purchase")(e) & (e["revenue"] > profile_value(e, P, "age") * 3),
            "count",
            ">=",
            2,
        ),
        "UTC",
    ),
    (
        "event_after_profile_timestamp",  # purchased after their last login
        EventCondition(
            event_types=["purchase"],
            window=PointWindow(direction="after", anchor=F("lastLogin")),
        ),
        lambda P, E: event_ids(
            P,
            E,
            lambda e: is_type("purchase")(e) & (e["timestamp"] > profile_value(e, P, "lastLogin")),
            "count",
            ">=",
            1,
        ),
        NY,
    ),
    (
        "event_before_profile_date",  # a view before the day they signed up (UTC midnight)
        EventCondition(
            event_types=["view"],
            window=PointWindow(direction="before", anchor=F("signupDate")),
            op=">=",
            value=3,
        ),
        lambda P, E: event_ids(
            P,
            E,
            lambda e: is_type("view")(e) & (e["timestamp"] < profile_value(e, P, "signupDate")),
            "count",
            ">=",
            3,
        ),
        "UTC",
    ),
    (
        "profile_attr_null_is_false",  # no event at or above a missing age: every such one
        Not(
            item=EventCondition(where=Compare(op=">=", left=F("revenue", "event"), right=F("age")))
        ),
        lambda P, E: (
            set(P["profile_id"])
            - event_ids(
                P, E, lambda e: e["revenue"] >= profile_value(e, P, "age"), "count", ">=", 1
            )
        ),
        "UTC",
    ),
    (
        "profile_pass_beside_plain_pass",  # two passes, full-joined into ev
        And(
            items=[
                EventCondition(
                    measure="sum",
                    field="revenue",
                    where=Compare(op="<", left=F("revenue", "event"), right=F("age")),
                    value=40,
                ),
                EventCondition(event_types=["view"], op=">=", value=3),
            ]
        ),
        lambda P, E: (
            event_ids(
                P, E, lambda e: e["revenue"] < profile_value(e, P, "age"), "sum", ">", 40, "revenue"
            )
            & event_ids(P, E, is_type("view"), "count", ">=", 3)
        ),
        "UTC",
    ),
    (
        "three_passes_full_joined",  # two plain passes far apart, and the profile pass
        Or(
            items=[
                EventCondition(event_types=["purchase"], op=">=", value=3, window=last_days(300)),
                EventCondition(event_types=["view"], op=">=", value=4, window=last_days(30)),
                EventCondition(
                    event_types=["email_open"],
                    where=Compare(op=">", left=F("timestamp", "event"), right=F("lastLogin")),
                    op=">=",
                    value=2,
                ),
            ]
        ),
        lambda P, E: (
            event_ids(P, E, in_last_days(300, "purchase"), "count", ">=", 3)
            | event_ids(P, E, in_last_days(30, "view"), "count", ">=", 4)
            | event_ids(
                P,
                E,
                lambda e: (
                    is_type("email_open")(e) & (e["timestamp"] > profile_value(e, P, "lastLogin"))
                ),
                "count",
                ">=",
                2,
            )
        ),
        "UTC",
    ),
    (
        "profile_struct_and_dotted_in_event_filter",
        EventCondition(
            event_types=["purchase"],
            where=And(
                items=[
                    Compare(op="=", left=F("address.city"), right=L("us")),
                    Compare(op="=", left=F("homeAddress.countryCode"), right=L("CA")),
                ]
            ),
            op=">=",
            value=2,
        ),
        lambda P, E: event_ids(
            P,
            E,
            lambda e: (
                is_type("purchase")(e)
                & (profile_value(e, P, "country") == "US")
                & (profile_value(e, P, "homeAddress.countryCode") == "CA")
            ),
            "count",
            ">=",
            2,
        ),
        "UTC",
    ),
    # event paths as AEP writes them (#12 family 5): some event meets the condition
    (
        "event_path_dotted_column",
        parse("xEvent.metrics.commerce.abandons.value > 0"),
        lambda P, E: event_ids(
            P, E, lambda e: is_type("add_to_cart")(e) & (e["channel"] == "web"), "count", ">=", 1
        ),
        "UTC",
    ),
    (
        "event_path_struct_column",
        parse('xEvent[commerce.order.currencyCode = "EUR"].commerce.order.priceTotal > 250'),
        lambda P, E: event_ids(
            P, E, lambda e: (e["channel"] == "app") & (e["revenue"] > 250), "count", ">=", 1
        ),
        "UTC",
    ),
    (
        "event_path_underscored_column",
        parse('not (xEvent.productListItems.SKU = "SKU-BOOKS")'),
        lambda P, E: (
            set(P["profile_id"])
            - event_ids(P, E, lambda e: e["category"] == "books", "count", ">=", 1)
        ),
        "UTC",
    ),
    (
        "event_path_against_profile_attribute",
        parse("xEvent.commerce.order.priceTotal > age * 4"),
        lambda P, E: event_ids(
            P, E, lambda e: e["revenue"] > profile_value(e, P, "age") * 4, "count", ">=", 1
        ),
        "UTC",
    ),
    (
        "events_and_attributes",
        And(items=[us, purchase]),
        lambda P, E: (
            ids(P, col(P, "country", lambda v: v == "US"))
            & event_ids(P, E, is_type("purchase"), "count", ">=", 1)
        ),
        "UTC",
    ),
]


def _seq(*steps) -> Sequence:
    out = []
    for i, (types, count, within, *window) in enumerate(steps):
        out.append(
            SequenceStep(
                label=f"S{i}",
                event_types=types,
                count=count,
                within_previous=within,
                window=window[0] if window else None,
            )
        )
    return Sequence(steps=out)


SEQ_CASES = [
    (
        "seq_view_then_purchase",
        _seq((["view"], 1, None), (["purchase"], 1, None)),
        [(is_type("view"), 1, None), (is_type("purchase"), 1, None)],
    ),
    (
        "seq_count3_within_2d",
        _seq((["view"], 3, None), (["purchase"], 1, Duration(amount=2, unit="day"))),
        [(is_type("view"), 3, None), (is_type("purchase"), 1, dt.timedelta(days=2))],
    ),
    (
        "seq_three_steps",
        _seq(
            (["view"], 2, None),
            (["add_to_cart"], 1, Duration(amount=6, unit="hour")),
            (["purchase"], 2, Duration(amount=1, unit="day")),
        ),
        [
            (is_type("view"), 2, None),
            (is_type("add_to_cart"), 1, dt.timedelta(hours=6)),
            (is_type("purchase"), 2, dt.timedelta(days=1)),
        ],
    ),
    (
        "seq_open_count2",
        _seq(
            (["email_open"], 1, None),
            (["view"], 2, None),
            (["purchase"], 1, Duration(amount=12, unit="hour")),
        ),
        [
            (is_type("email_open"), 1, None),
            (is_type("view"), 2, None),
            (is_type("purchase"), 1, dt.timedelta(hours=12)),
        ],
    ),
    # a window on an early step bounds the later steps' scan (they must come after it)
    (
        "seq_windowed_then_open",
        _seq((["view"], 1, None, last_days(60)), (["purchase"], 1, None)),
        [(in_last_days(60, "view"), 1, None), (is_type("purchase"), 1, None)],
    ),
    (  # a step's WHERE reads a profile attribute: the chains' pass joins the profiles
        "seq_cart_then_purchase_above_age",
        Sequence(
            steps=[
                SequenceStep(label="A", event_types=["add_to_cart"]),
                SequenceStep(
                    label="B",
                    event_types=["purchase"],
                    where=Compare(op=">", left=F("revenue", "event"), right=F("age")),
                    within_previous=Duration(amount=2, unit="day"),
                ),
            ]
        ),
        [
            (is_type("add_to_cart"), 1, None),
            (
                lambda e: is_type("purchase")(e) & (e["revenue"] > e["$1.age"]),
                1,
                dt.timedelta(days=2),
            ),
        ],
    ),
    (
        "seq_windowed_then_timed_counts",
        _seq(
            (["add_to_cart"], 2, None, last_days(90)),
            (["purchase"], 2, Duration(amount=3, unit="day")),
            (["email_open"], 1, None, last_days(200)),
        ),
        [
            (in_last_days(90, "add_to_cart"), 2, None),
            (is_type("purchase"), 2, dt.timedelta(days=3)),
            (in_last_days(200, "email_open"), 1, None),
        ],
    ),
]


@pytest.mark.parametrize("name,tree,oracle,tz", CASES, ids=[c[0] for c in CASES])
def test_matches_independent_answer(world, name, tree, oracle, tz):
    db, P, E = world
    expected = oracle(P, E)
    assert run(db, tree, tz) == expected


@pytest.mark.parametrize("name,tree,steps", SEQ_CASES, ids=[c[0] for c in SEQ_CASES])
def test_sequences(world, name, tree, steps):
    db, P, E = world
    expected = chain_oracle(P, E, steps)
    assert 0 < len(expected) < len(P)  # the case discriminates
    assert run(db, tree) == expected
    assert run(db, Not(item=tree)) == set(P["profile_id"]) - expected


def test_future_events_are_never_seen(world):
    db, P, E = world  # noqa: RUF059
    future = E[E["timestamp"] > AS_OF]
    assert len(future) > 0
    only_future = set(future["profile_id"]) - set(seen(E)["profile_id"])
    got = run(db, EventCondition(op=">=", value=1))
    assert got.isdisjoint(only_future)
    assert "ghost1" not in got  # orphan events do not create profiles


# --- segment refs, sampling, compile_many ------------------------------------------------


def test_segment_refs_inline_and_cycles(world):
    db, P, E = world  # noqa: RUF059
    saved = {
        "us": us,
        "us_buyers": And(items=[SegmentRef(segment="us"), purchase]),
        "a": SegmentRef(segment="b"),
        "b": And(items=[us, SegmentRef(segment="a")]),
    }
    got = run(db, SegmentRef(segment="us_buyers"), resolve_segment=saved.get)
    assert got == run(db, And(items=[us, purchase]))
    with pytest.raises(ConflictError, match="a -> b -> a"):
        run(db, SegmentRef(segment="a"), resolve_segment=saved.get)
    with pytest.raises(NotFoundError, match="nope"):
        run(db, SegmentRef(segment="nope"), resolve_segment=saved.get)
    with pytest.raises(InvalidInputError):
        run(db, SegmentRef(segment="us"))


def test_sampling_is_a_repeatable_subset(world):
    db, P, E = world  # noqa: RUF059
    tree = Or(items=[us, EventCondition(event_types=["purchase"], op=">=", value=2)])
    full = run(db, tree)
    first = run(db, tree, sample=(0, 100, 1000))
    assert first <= full and 0 < len(first) < len(full) * 0.3
    assert run(db, tree, sample=(0, 100, 1000)) == first
    second = run(db, tree, sample=(100, 200, 1000))  # the next slice: other profiles
    assert second <= full and second and not first & second
    # the events scan is sampled too: the same bucket rule is applied to both tables
    q = compile_segment(
        tree, Schema.from_db(db), CompileOptions(as_of=AS_OF, sample=(0, 100, 1000))
    )
    assert q.sql.count("md5(profile_id)") == 2 and q.sql.count("md5(p.profile_id)") == 2
    # a filter reading a profile attribute: the sampled events meet their own profiles
    above = EventCondition(where=Compare(op=">", left=F("revenue", "event"), right=F("age")))
    in_sample = run(db, BoolConst(value=True), sample=(0, 100, 1000))
    assert run(db, above, sample=(0, 100, 1000)) == run(db, above) & in_sample


def test_compile_many_equals_single_compiles(world):
    db, P, E = world  # noqa: RUF059
    defs = {name: tree for name, tree, _, tz in CASES if tz == "UTC"}
    q = compile_many(defs, Schema.from_db(db), CompileOptions(as_of=AS_OF))
    rows = db.rows(q.sql, q.params)
    for key, tree in defs.items():
        assert {pid for k, pid in rows if k == key} == run(db, tree), key
    # the events pass, and the pass of the filters that read profile attributes
    assert q.sql.count('FROM "events"') == 2
    assert q.sql.count('FROM "events" JOIN (SELECT profile_id AS') == 1


def test_compile_count(world):
    db, P, E = world  # noqa: RUF059
    q = compile_count(us, Schema.from_db(db), CompileOptions(as_of=AS_OF))
    assert db.scalar(q.sql, q.params) == len(run(db, us))


# --- shape of the plan ------------------------------------------------------------------


SHAPES = [
    ("attributes_only", And(items=[us, Compare(op=">", left=F("age"), right=L(3))]), 0),
    (
        "three_event_conditions",
        And(
            items=[
                purchase,
                Or(
                    items=[
                        EventCondition(event_types=["view"], op="<", value=3),
                        EventCondition(
                            event_types=["purchase"], measure="sum", field="revenue", value=100
                        ),
                    ]
                ),
            ]
        ),
        1,
    ),
    ("same_condition_twice_one_aggregate", Or(items=[purchase, And(items=[us, purchase])]), 1),
    (
        "two_types_two_windows",
        Or(
            items=[
                EventCondition(event_types=["purchase"], window=last_days(300)),
                EventCondition(event_types=["view"], op=">=", value=2, window=last_days(30)),
            ]
        ),
        2,
    ),
    (
        "two_types_same_window",
        Or(
            items=[
                EventCondition(event_types=["purchase"], window=last_days(30)),
                EventCondition(event_types=["view"], op=">=", value=2, window=last_days(30)),
            ]
        ),
        1,
    ),
    (  # the filter reading a profile attribute gets a pass of its own, joined to profiles
        "profile_attr_pass_apart",
        And(
            items=[
                purchase,
                EventCondition(where=Compare(op=">", left=F("revenue", "event"), right=F("age"))),
            ]
        ),
        2,
    ),
]


@pytest.mark.parametrize("name,tree,scans", SHAPES, ids=[s[0] for s in SHAPES])
def test_events_scanned_once(world, name, tree, scans):
    db, _, _ = world
    q = compile_segment(tree, Schema.from_db(db), CompileOptions(as_of=AS_OF))
    assert q.sql.count('FROM "events"') == scans
    # the profiles are joined into the events pass only where a filter reads them
    assert q.sql.count('"events" JOIN (SELECT profile_id') == (name == "profile_attr_pass_apart")
    if name == "same_condition_twice_one_aggregate":
        # one aggregate, and (its selector being the scan's WHERE) no FILTER repeating it
        assert q.sql.count("count(*)") == 1 and " AS a2" not in q.sql
        assert "FILTER" not in q.sql
    if name == "three_event_conditions":  # distinct selectors keep their own condition
        assert q.sql.count("count_if(") + q.sql.count("(CASE WHEN") == 3


# --- bad input ---------------------------------------------------------------------------

HOSTILE = [
    '"; DROP TABLE profiles; --',
    "'",
    "\\",
    "O'Brien\\'",
    "ünïcødé ✓ 中文",
    "x" * 100_000,
    "$1",
    "%",
    "' OR 1=1 --",
]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_values_are_plain_values(world, value):
    db, P, E = world  # noqa: RUF059
    before = db.scalar("SELECT count(*) FROM profiles"), db.scalar("SELECT count(*) FROM events")
    trees = [
        Compare(op="=", left=F("country"), right=L(value)),
        TextMatch(op="contains", operand=F("email"), value=value, case_sensitive=False),
        InList(operand=F("country"), values=[value, "US"], negate=True),
        EventCondition(
            event_types=[value],
            where=Compare(op="=", left=F("category", "event"), right=L(value)),
            op="=",
            value=0,
        ),
        ListMatch(op="intersects", operand=F("interests"), values=[value]),
    ]
    results = [run(db, t) for t in trees]
    assert results[0] == set() and results[1] == set() and results[4] == set()
    assert results[2] == ids(P, col(P, "country", lambda v: v != "US"))
    assert results[3] == set(P["profile_id"])
    after = db.scalar("SELECT count(*) FROM profiles"), db.scalar("SELECT count(*) FROM events")
    assert before == after


BAD = [
    ("count_of_a_text", parse("country.count() > 1"), r"count\(\) needs lists but .*'country'"),
    ("lists_ordered", parse('interests.distinct() > ["a"]'), "Lists compare only with = and !="),
    ("list_vs_number", parse("interests.distinct() = 1"), "not both lists"),
    (
        "date_in_a_text_list",
        parse("country in [date(2024, 1, 1)]"),
        "cannot be compared with the date",
    ),
    (
        "items_of_other_kinds",
        parse("interests.subsetOf(xEvent.revenue.distinct())"),
        "Type mismatch",
    ),
    ("item_field_of_a_text", parse('exists T from interests where T.x = "a"'), "have no field 'x'"),
    (
        "unknown_profile_field",
        Compare(op="=", left=F("countr"), right=L("US")),
        r"Unknown profile field 'countr'.*'country'",
    ),
    (
        "unknown_event_field",
        EventCondition(where=Compare(op="=", left=F("categry", "event"), right=L("x"))),
        r"Unknown event field.*'category'",
    ),
    (
        "quoted_field",
        Compare(op="=", left=F('country" OR 1=1 --'), right=L("US")),
        "Unknown profile field",
    ),
    ("text_vs_number", Compare(op="=", left=F("country"), right=L(3)), "country.*VARCHAR"),
    ("number_vs_text", Compare(op=">", left=F("age"), right=L("old")), "age.*BIGINT"),
    ("contains_on_number", TextMatch(op="contains", operand=F("age"), value="1"), "age"),
    ("list_op_on_text", ListMatch(op="includes", operand=F("country"), values=["US"]), "list"),
    (
        "occurs_on_text",
        Occurs(
            operand=F("country"), window=PointWindow(direction="before", anchor=Anchor(name="now"))
        ),
        "occurs.*country",
    ),
    ("in_number_with_text", InList(operand=F("age"), values=["x"]), "age"),
    ("sum_of_text", EventCondition(measure="sum", field="category"), "category"),
    (
        "event_field_outside",
        Compare(op="=", left=F("category", "event"), right=L("x")),
        "inside an event condition",
    ),
    ("bad_regex", TextMatch(op="matches", operand=F("email"), value="(unclosed"), "regular"),
    (
        "bad_date_string",
        Compare(op="<", left=F("signupDate"), right=L("yesterdayish")),
        "not a date",
    ),
]


@pytest.mark.parametrize("name,tree,message", BAD, ids=[b[0] for b in BAD])
def test_bad_trees_raise_invalid_input(world, name, tree, message):
    db, _, _ = world
    with pytest.raises(InvalidInputError, match=message):
        compile_segment(tree, Schema.from_db(db), CompileOptions(as_of=AS_OF))


def test_bad_timezone():
    with pytest.raises(InvalidInputError, match="timezone"):
        compile_segment(
            us,
            Schema.from_columns({"profile_id": "VARCHAR", "country": "VARCHAR"}, None),
            CompileOptions(as_of=AS_OF, timezone="Mars/Olympus"),
        )


def test_deep_nesting_compiles_or_fails_cleanly(world):
    db, P, E = world  # noqa: RUF059
    tree = us
    for i in range(300):
        other = Compare(op=">", left=F("age"), right=L(i % 7))
        tree = (
            Not(item=tree)
            if i % 3 == 0
            else (And(items=[tree, other]) if i % 3 == 1 else Or(items=[other, tree]))
        )
    try:
        q = compile_segment(tree, Schema.from_db(db), CompileOptions(as_of=AS_OF))
    except InvalidInputError:
        return
    db.rows(q.sql, q.params)  # runs


def test_missing_tables():
    db = Database.open(":memory:")
    with db.write() as tx:
        tx.execute("CREATE TABLE profiles (profile_id VARCHAR, country VARCHAR)")
        tx.execute("INSERT INTO profiles VALUES ('a', 'US'), ('b', NULL)")
    schema = Schema.from_db(db)
    opts = CompileOptions(as_of=AS_OF)

    def go(tree):
        q = compile_segment(tree, schema, opts)
        return {r[0] for r in db.rows(q.sql, q.params)}

    assert go(EventCondition(event_types=["purchase"], op="=", value=0)) == {"a", "b"}
    assert go(EventCondition(event_types=["purchase"])) == set()
    assert go(EventCondition(measure="average", field="revenue", op="<", value=5)) == set()
    assert go(_seq((["view"], 1, None))) == set()
    empty = Schema.from_columns(None, None)
    with pytest.raises(InvalidInputError, match="no profiles table"):
        compile_segment(us, empty, opts)


# --- the universe: which rows the condition is tested on ----------------------------


@pytest.fixture(scope="module")
def known(world):
    """The same data without orphan events, so ``events_within_profiles`` holds."""
    db, P, E = world
    with db.write() as tx:
        tx.execute(
            "CREATE TABLE events_known AS SELECT * FROM events "
            "WHERE profile_id IN (SELECT profile_id FROM profiles)"
        )
    return db, P, E


count0 = EventCondition(event_types=["purchase"], op="=", value=0)
avg150 = EventCondition(
    event_types=["purchase"], measure="average", field="revenue", op=">=", value=150
)
view_then_buy = _seq((["view"], 1, None, last_days(90)), (["purchase"], 1, None))
SAVED = {"buyers": purchase, "viewers": EventCondition(event_types=["view"], op=">=", value=5)}
# (name, tree, universe without the flag, with events_within_profiles)
UNIVERSES = [
    ("count_ge_1", purchase, "ev_join", "ev"),
    ("count_eq_0", count0, "all", "all"),
    ("count_le_2", EventCondition(event_types=["view"], op="<=", value=2), "all", "all"),
    ("not_count_eq_0", Not(item=count0), "ev_join", "ev"),
    ("not_count_ge_1", Not(item=purchase), "all", "all"),
    (
        "sum_gt_500",
        EventCondition(event_types=["purchase"], measure="sum", field="revenue", value=500),
        "ev_join",
        "ev",
    ),
    (
        "sum_gt_negative",  # a profile without purchases has sum 0 > -5
        EventCondition(event_types=["purchase"], measure="sum", field="revenue", op=">", value=-5),
        "all",
        "all",
    ),
    ("average", avg150, "ev_join", "ev"),
    ("not_average", Not(item=avg150), "all", "all"),
    ("and_attribute", And(items=[us, purchase]), "ev_join", "ev_join"),
    ("or_attribute", Or(items=[us, purchase]), "all", "all"),
    ("or_events", Or(items=[purchase, avg150]), "ev_join", "ev"),
    ("or_did_not", Or(items=[purchase, count0]), "all", "all"),
    ("not_or_attribute_did_not", Not(item=Or(items=[us, count0])), "ev_join", "ev_join"),
    ("sequence", view_then_buy, "all", "union"),
    ("sequence_and_count", And(items=[view_then_buy, avg150]), "ev_join", "ev"),
    ("sequence_or_count", Or(items=[view_then_buy, avg150]), "all", "union"),
    ("not_sequence", Not(item=view_then_buy), "all", "all"),
    ("segment_ref", SegmentRef(segment="buyers"), "ev_join", "ev"),
    (
        "segment_and_not_segment",
        And(items=[SegmentRef(segment="buyers"), Not(item=SegmentRef(segment="viewers"))]),
        "ev_join",
        "ev",
    ),
    ("always", BoolConst(value=True), "all", "all"),
]


def universe_of(sql: str) -> str:
    if re.search(r"SELECT ev\.profile_id FROM ev (WHERE|LEFT JOIN)", sql):
        return "ev"
    if "FROM ev JOIN" in sql:
        return "ev_join"
    if 'FROM "profiles" p' in sql:
        return "all"
    assert "UNION" in sql or "SELECT DISTINCT profile_id FROM sq" in sql
    return "union"


@pytest.mark.parametrize("name,tree,plain,within", UNIVERSES, ids=[u[0] for u in UNIVERSES])
def test_universe_narrowing_keeps_results(known, name, tree, plain, within):
    db, P, E = known  # noqa: RUF059
    schema = Schema.from_db(db)
    opts = CompileOptions(
        as_of=AS_OF, resolve_segment=SAVED.get, tables=("profiles", "events_known")
    )

    def go(t, **extra):
        q = compile_segment(t, schema, opts.model_copy(update=extra))
        rows = db.rows(q.sql, q.params)
        assert len(rows) == len({r[0] for r in rows})  # distinct ids
        return q.sql, {r[0] for r in rows}

    # reference: OR with an attribute that is never true forces every profile LEFT JOIN ev
    never = Compare(op="<", left=F("age"), right=L(-1000))
    ref_sql, expected = go(Or(items=[tree, never]))
    assert universe_of(ref_sql) == "all"
    sql, got = go(tree)
    assert (universe_of(sql), got) == (plain, expected)
    sql, got = go(tree, events_within_profiles=True)
    assert (universe_of(sql), got) == (within, expected)
    if within in ("ev", "union"):
        assert '"profiles"' not in sql


def test_events_within_profiles_same_results_everywhere(known):
    db, P, E = known  # noqa: RUF059
    schema = Schema.from_db(db)
    trees = [t for _, t, _, tz in CASES if tz == "UTC"] + [t for _, t, _ in SEQ_CASES]
    base = CompileOptions(as_of=AS_OF, tables=("profiles", "events_known"))
    flagged = base.model_copy(update={"events_within_profiles": True})
    for tree in trees:
        a, b = compile_segment(tree, schema, base), compile_segment(tree, schema, flagged)
        assert set(db.rows(a.sql, a.params)) == set(db.rows(b.sql, b.params)), tree
    # sampled estimates: the same slice with or without the flag
    tree = And(items=[purchase, Not(item=EventCondition(event_types=["view"], op=">=", value=4))])
    sampled = [
        compile_segment(tree, schema, o.model_copy(update={"sample": (0, 300, 1000)}))
        for o in (base, flagged)
    ]
    a, b = ({r[0] for r in db.rows(q.sql, q.params)} for q in sampled)
    full = compile_segment(tree, schema, base)
    assert a == b and 0 < len(a) < len(db.rows(full.sql, full.params))


@pytest.mark.parametrize("within", [False, True], ids=["plain", "events_within_profiles"])
def test_compile_many_matches_compile_segment_per_definition(known, within):
    """One job query: each definition's rows are exactly its own compile's, distinct;
    with the flag, event-only definitions are read from ``ev`` (no profile pass)."""
    db, P, E = known  # noqa: RUF059
    schema = Schema.from_db(db)
    opts = CompileOptions(
        as_of=AS_OF,
        resolve_segment=SAVED.get,
        tables=("profiles", "events_known"),
        events_within_profiles=within,
    )
    defs = {name: tree for name, tree, _, _ in UNIVERSES}
    defs |= {name: tree for name, tree, _, tz in CASES if tz == "UTC"}
    q = compile_many(defs, schema, opts)
    rows = db.rows(q.sql, q.params)
    assert len(rows) == len(set(rows))
    for key, tree in defs.items():
        single = compile_segment(tree, schema, opts)
        expected = {r[0] for r in db.rows(single.sql, single.params)}
        assert {pid for k, pid in rows if k == key} == expected, key
    # the events pass, the pass of the filters reading profile attributes, the chains' pass
    assert q.sql.count('FROM "events_known"') <= 3


# --- the same cases on Spark -----------------------------------------------------------


@pytest.fixture(scope="module")
def spark_world(world, spark_session, tmp_path_factory):
    """The world's tables as Parquet, evaluated by the Spark engine."""
    from segmentation.engines.spark import SparkEngine

    db, P, E = world
    data = tmp_path_factory.mktemp("lake")
    for table in ("profiles", "events"):
        (data / table).mkdir()
        target = str(data / table / "part-0.parquet")
        db.connection().execute(f"COPY {table} TO ? (FORMAT parquet)", [target])
    return SparkEngine(db, "local[2]", data), P, E


# compile_segment's narrowed universes (ev, ev_join, union) and chains, read one by one
SPARK_SINGLES = ["did_purchase", "nested_or_events", "or_of_windows_and_types", "like"]


@pytest.mark.spark
@pytest.mark.parametrize("session_tz", ["UTC", NY])
def test_spark_gives_the_independent_answers(spark_world, session_tz):
    """Every node kind, chain and hostile value on Spark, with the session in UTC and in
    New York (the SQL must not depend on it). Batched: the cases of one timezone are one
    job query (as a segment job runs them), the chains and a few single-segment plans one
    union, so Spark runs three queries, not a hundred (in New York: every case, and the
    chains whose windows put time literals in the SQL)."""
    engine, P, E = spark_world
    schema, spark = engine.schema(), engine.session()
    assert schema.profile_columns["interests"] == "VARCHAR[]"
    assert schema.profile_columns["lastLogin"] == "TIMESTAMP"
    expected: dict[str, set[str]] = {}
    batches: dict[str, dict[str, object]] = {"UTC": {}, NY: {}}
    for name, tree, oracle, tz in CASES:
        batches[tz][name], expected[name] = tree, oracle(P, E)
    for i, value in enumerate(HOSTILE):
        for key, tree in (
            (f"hostile_eq_{i}", Compare(op="=", left=F("country"), right=L(value))),
            (
                f"hostile_contains_{i}",
                TextMatch(op="contains", operand=F("email"), value=value, case_sensitive=False),
            ),
        ):
            batches["UTC"][key], expected[key] = tree, set()
    singles: dict[str, tuple[str, list]] = {}
    options = CompileOptions(as_of=AS_OF, tables=engine.tables)
    # in the New York session only the chains with windows (time literals) run again
    chains = [c for c in SEQ_CASES if session_tz == "UTC" or "windowed" in c[0]]
    for name, tree, steps in chains:
        expected[name] = chain_oracle(P, E, steps)
        q = compile_segment(tree, schema, options)
        singles[name] = (q.sql, q.params)
    name, tree, _ = chains[-1]
    q = compile_segment(Not(item=tree), schema, options)
    singles["not_seq"], expected["not_seq"] = (
        (q.sql, q.params),
        set(P["profile_id"]) - expected[name],
    )
    for name in SPARK_SINGLES if session_tz == "UTC" else []:
        tree = next(t for n, t, _, _ in CASES if n == name)
        q = compile_segment(tree, schema, options)
        singles[f"single_{name}"], expected[f"single_{name}"] = (q.sql, q.params), expected[name]
    spark.conf.set("spark.sql.session.timeZone", session_tz)
    try:
        got: dict[str, set[str]] = {}
        for tz, trees in batches.items():
            job = compile_many(trees, schema, options.model_copy(update={"timezone": tz}))
            rows = engine.rows(job.sql, job.params)
            assert len(rows) == len(set(rows))  # distinct pairs, as a job needs
            got |= by_key(rows)
        got |= by_key(spark.sql(spark_union(singles)).collect())
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    wrong = sorted(k for k in expected if got.get(k, set()) != expected[k])
    assert wrong == []


@pytest.mark.parametrize(
    ("path", "suggested"),
    [
        ("person.orders.storId", "'person.orders.storeId'"),  # inside the items of a list
        ("persn.orders", "'person.orders'"),
        ("productListItem.SKU", "'productListItems.SKU'"),
    ],
)
def test_an_unknown_path_names_the_fields_inside_structs_and_lists(path, suggested) -> None:
    columns = {
        "profile_id": "VARCHAR",
        "person": "STRUCT(orders STRUCT(storeId VARCHAR, price DOUBLE)[])",
        "productListItems": 'STRUCT("SKU" VARCHAR)[]',
    }
    with pytest.raises(UnknownFieldError, match=f"Did you mean {suggested}"):
        Schema.from_columns(columns, None).resolve(path, "profile")


def test_an_item_field_named_with_a_dot_is_read_whole() -> None:
    db = Database.open(":memory:")
    with db.write() as tx:
        tx.execute(
            "CREATE TABLE profiles AS SELECT * FROM (VALUES ('p1', [{'a.b': 5.0}]), "
            "('p2', [{'a.b': 0.5}])) t(profile_id, weird)"
        )
    tree = parse("weird.max(`a.b`) > 1 and weird.head().`a.b` = 5")
    query = compile_segment(tree, Schema.from_db(db), CompileOptions(as_of=AS_OF))
    assert db.rows(query.sql, query.params) == [("p1",)]
    db.close()

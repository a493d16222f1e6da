"""The benchmark's segments: each one's PQL, a hand-written DuckDB query and a pandas version.

All three must select exactly the same profiles (``run.py`` checks the counts):
events count only when ``timestamp <= as_of``; a window "<= N days before now"
is ``as_of - N days <= timestamp <= as_of`` (the workspace timezone is UTC, so
calendar days are 24 hours); "did not perform" includes profiles with no events.

The hand SQL is what an analyst who knows DuckDB would write against the same
tables (``profiles``, ``events``): literal values, GROUP BY ... HAVING, NOT
EXISTS, EXCEPT, one pass with FILTER aggregates where several event counts are
needed. The pandas versions are idiomatic (boolean masks, groupby, merge) over
DataFrames read from the same Parquet files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Clock:
    """``as_of`` and window bounds as SQL literals and as pandas Timestamps."""

    as_of: dt.datetime

    def ago(self, days: int) -> pd.Timestamp:
        return pd.Timestamp(self.as_of - dt.timedelta(days=days))

    @property
    def now(self) -> pd.Timestamp:
        return pd.Timestamp(self.as_of)

    def sql(self, days: int = 0) -> str:
        return f"TIMESTAMP '{self.as_of - dt.timedelta(days=days):%Y-%m-%d %H:%M:%S}'"

    def window(self, days: int, column: str = "timestamp") -> str:
        return f"{column} BETWEEN {self.sql(days)} AND {self.sql()}"


HandSql = Callable[[Clock], str]
PandasFn = Callable[[pd.DataFrame, pd.DataFrame, Clock], pd.Index]


@dataclass(frozen=True)
class BenchSegment:
    name: str
    kind: str
    pql: str
    hand_sql: HandSql
    pandas: PandasFn
    saved: bool = False  # saved as a definition (others refer to it)
    in_job: bool = True  # one of the job benchmark's 50 (kept as it was measured before)


# --- pandas helpers ----------------------------------------------------------------------


def _events(
    E: pd.DataFrame, c: Clock, types: list[str], days: int | None = None, **eq
) -> pd.DataFrame:
    mask = E["eventType"].isin(types) & (E["timestamp"] <= c.now)
    if days is not None:
        mask &= E["timestamp"] >= c.ago(days)
    for column, value in eq.items():
        mask &= E[column] == value
    return E[mask]


def _ids_with_count(e: pd.DataFrame, at_least: int) -> pd.Index:
    counts = e.groupby("profile_id").size()
    return counts.index[counts >= at_least]


def _ids(series: pd.Series) -> pd.Index:
    return pd.Index(series.unique())


# --- 1. attributes only ------------------------------------------------------------------

ATTR_ONLY = BenchSegment(
    name="attr_only",
    kind="attributes (in, =, boolean)",
    pql='loyaltyTier in ["gold", "platinum"] and country = "US" and emailOptIn = true',
    hand_sql=lambda c: (
        "SELECT profile_id FROM profiles "
        "WHERE loyaltyTier IN ('gold', 'platinum') AND country = 'US' AND emailOptIn"
    ),
    pandas=lambda P, E, c: pd.Index(
        P.loc[
            P["loyaltyTier"].isin(["gold", "platinum"])
            & (P["country"] == "US")
            & P["emailOptIn"].fillna(False).astype(bool),
            "profile_id",
        ]
    ),
)

ATTR_LIST_DATE = BenchSegment(
    name="attr_list_date",
    kind="attributes (list, date window, number)",
    pql='interests.intersects(["running", "hiking"]) and signupDate occurs before date(2026, 1, 1) '
    "and lifetimeValue > 300",
    hand_sql=lambda c: (
        "SELECT profile_id FROM profiles "
        "WHERE list_has_any(interests, ['running', 'hiking']) "
        "AND signupDate < DATE '2026-01-01' AND lifetimeValue > 300"
    ),
    pandas=lambda P, E, c: pd.Index(
        P.loc[
            P["interests"]
            .map(lambda xs: xs is not None and ("running" in xs or "hiking" in xs))
            .astype(bool)
            & (P["signupDate"] < pd.Timestamp("2026-01-01"))
            & (P["lifetimeValue"] > 300),
            "profile_id",
        ]
    ),
)

# --- 2. event count in a window ------------------------------------------------------------

PURCHASES_30D = BenchSegment(
    name="purchases_30d",
    kind="event count in a window",
    pql='xEvent[eventType = "purchase" and timestamp occurs <= 30 days before now].count() >= 2',
    hand_sql=lambda c: (
        "SELECT profile_id FROM events "
        f"WHERE eventType = 'purchase' AND {c.window(30)} "
        "GROUP BY profile_id HAVING count(*) >= 2"
    ),
    pandas=lambda P, E, c: _ids_with_count(_events(E, c, ["purchase"], 30), 2),
)

# --- 3. did not perform --------------------------------------------------------------------


def _no_purchase_pd(P: pd.DataFrame, E: pd.DataFrame, c: Clock) -> pd.Index:
    buyers = _events(E, c, ["purchase"], 90)["profile_id"].unique()
    opted = P[P["emailOptIn"].fillna(False).astype(bool)]
    return pd.Index(opted.loc[~opted["profile_id"].isin(buyers), "profile_id"])


NO_PURCHASE_90D = BenchSegment(
    name="no_purchase_90d",
    kind="did not perform (+ attribute)",
    pql='emailOptIn = true and xEvent[eventType = "purchase" and timestamp occurs '
    "<= 90 days before now].count() = 0",
    hand_sql=lambda c: (
        "SELECT p.profile_id FROM profiles p WHERE p.emailOptIn AND NOT EXISTS ("
        "SELECT 1 FROM events e WHERE e.profile_id = p.profile_id "
        f"AND e.eventType = 'purchase' AND {c.window(90, 'e.timestamp')})"
    ),
    pandas=_no_purchase_pd,
)

# --- 4. aggregates -------------------------------------------------------------------------


def _revenue_pd(P: pd.DataFrame, E: pd.DataFrame, c: Clock) -> pd.Index:
    total = _events(E, c, ["purchase"], 365).groupby("profile_id")["revenue"].sum()
    return total.index[total > 1000]


REVENUE_365D = BenchSegment(
    name="revenue_365d",
    kind="aggregate sum in a window",
    pql='xEvent[eventType = "purchase" and timestamp occurs <= 365 days before now]'
    ".sum(revenue) > 1000",
    hand_sql=lambda c: (
        "SELECT profile_id FROM events "
        f"WHERE eventType = 'purchase' AND {c.window(365)} "
        "GROUP BY profile_id HAVING sum(revenue) > 1000"
    ),
    pandas=_revenue_pd,
    saved=True,
)


def _aov_pd(P: pd.DataFrame, E: pd.DataFrame, c: Clock) -> pd.Index:
    avg = _events(E, c, ["purchase"]).groupby("profile_id")["revenue"].mean()
    return avg.index[avg >= 150]


AVG_ORDER = BenchSegment(
    name="avg_order_150",
    kind="aggregate average, all time",
    pql='xEvent[eventType = "purchase"].average(revenue) >= 150',
    hand_sql=lambda c: (
        "SELECT profile_id FROM events "
        f"WHERE eventType = 'purchase' AND timestamp <= {c.sql()} "
        "GROUP BY profile_id HAVING avg(revenue) >= 150"
    ),
    pandas=_aov_pd,
)

# --- 5. did and did not: cart abandoners -------------------------------------------------


def _abandon_pd(P: pd.DataFrame, E: pd.DataFrame, c: Clock) -> pd.Index:
    carted = _events(E, c, ["add_to_cart"], 7)["profile_id"].unique()
    bought = _events(E, c, ["purchase"], 7)["profile_id"].unique()
    return pd.Index(carted).difference(pd.Index(bought))


CART_ABANDON = BenchSegment(
    name="cart_abandon_7d",
    kind="did and did not (two event conditions)",
    pql='xEvent[eventType = "add_to_cart" and timestamp occurs <= 7 days before now].count() >= 1 '
    'and xEvent[eventType = "purchase" and timestamp occurs <= 7 days before now].count() = 0',
    hand_sql=lambda c: (
        f"SELECT profile_id FROM events WHERE eventType = 'add_to_cart' AND {c.window(7)} "
        f"EXCEPT SELECT profile_id FROM events WHERE eventType = 'purchase' AND {c.window(7)}"
    ),
    pandas=_abandon_pd,
)

# --- 6. sequences --------------------------------------------------------------------------


def _seq_timed_pd(P: pd.DataFrame, E: pd.DataFrame, c: Clock) -> pd.Index:
    carts = _events(E, c, ["add_to_cart"], 30)[["profile_id", "timestamp"]]
    buys = _events(E, c, ["purchase"], 30)[["profile_id", "timestamp"]]
    pairs = carts.merge(buys, on="profile_id", suffixes=("_a", "_b"))
    ok = (pairs["timestamp_b"] > pairs["timestamp_a"]) & (
        pairs["timestamp_b"] <= pairs["timestamp_a"] + pd.Timedelta(days=1)
    )
    return _ids(pairs.loc[ok, "profile_id"])


SEQ_CART_BUY = BenchSegment(
    name="seq_cart_then_buy_1d",
    kind="sequence: A then B within 1 day",
    pql='chain(xEvent, timestamp, [A: WHAT(eventType = "add_to_cart") '
    'WHEN(<= 30 days before now), B: WHAT(eventType = "purchase") WHEN(<= 1 day after A)])',
    # b.timestamp > a.timestamp >= as_of - 30 days, so purchases older than that cannot match.
    hand_sql=lambda c: (
        "SELECT DISTINCT a.profile_id FROM events a JOIN events b "
        "ON b.profile_id = a.profile_id AND b.timestamp > a.timestamp "
        "AND b.timestamp <= a.timestamp + INTERVAL 1 DAY "
        f"WHERE a.eventType = 'add_to_cart' AND {c.window(30, 'a.timestamp')} "
        f"AND b.eventType = 'purchase' AND {c.window(30, 'b.timestamp')}"
    ),
    pandas=_seq_timed_pd,
)


def _seq_open_pd(P: pd.DataFrame, E: pd.DataFrame, c: Clock) -> pd.Index:
    first = _events(E, c, ["email_click"], 30).groupby("profile_id")["timestamp"].min()
    buys = _events(E, c, ["purchase"], 30)[["profile_id", "timestamp"]]
    joined = buys.merge(first.rename("first_click"), left_on="profile_id", right_index=True)
    return _ids(joined.loc[joined["timestamp"] > joined["first_click"], "profile_id"])


SEQ_CLICK_BUY = BenchSegment(
    name="seq_click_then_buy",
    kind="sequence: A then B (no time limit)",
    pql='chain(xEvent, timestamp, [A: WHAT(eventType = "email_click") '
    'WHEN(<= 30 days before now), B: WHAT(eventType = "purchase")])',
    hand_sql=lambda c: (
        "WITH clicked AS (SELECT profile_id, min(timestamp) AS first_click FROM events "
        f"WHERE eventType = 'email_click' AND {c.window(30)} GROUP BY profile_id) "
        "SELECT k.profile_id FROM clicked k WHERE EXISTS (SELECT 1 FROM events b "
        "WHERE b.profile_id = k.profile_id AND b.eventType = 'purchase' "
        f"AND b.timestamp > k.first_click AND b.timestamp <= {c.sql()})"
    ),
    pandas=_seq_open_pd,
)

# --- 7. nested OR of event conditions ----------------------------------------------------


def _nested_or_pd(P: pd.DataFrame, E: pd.DataFrame, c: Clock) -> pd.Index:
    clicks = _ids_with_count(_events(E, c, ["email_click"], 14), 1)
    opens = _ids_with_count(_events(E, c, ["app_open"], 7), 3)
    views = _ids_with_count(_events(E, c, ["product_view"], 30, category="footwear"), 3)
    carts = _ids_with_count(_events(E, c, ["add_to_cart"], 30, channel="app"), 1)
    return clicks.union(opens).intersection(views.union(carts))


NESTED_OR = BenchSegment(
    name="nested_or_events",
    kind="nested OR of event conditions",
    pql='(xEvent[eventType = "email_click" and timestamp occurs <= 14 days before now]'
    ".count() >= 1 "
    'or xEvent[eventType = "app_open" and timestamp occurs <= 7 days before now].count() >= 3) '
    'and (xEvent[eventType = "product_view" and category = "footwear" and timestamp occurs '
    "<= 30 days before now].count() >= 3 "
    'or xEvent[eventType = "add_to_cart" and channel = "app" and timestamp occurs '
    "<= 30 days before now].count() >= 1)",
    hand_sql=lambda c: (
        "SELECT profile_id FROM events "
        "WHERE eventType IN ('email_click', 'app_open', 'product_view', 'add_to_cart') "
        f"AND {c.window(30)} GROUP BY profile_id HAVING "
        f"(count(*) FILTER (WHERE eventType = 'email_click' AND timestamp >= {c.sql(14)}) >= 1 "
        f"OR count(*) FILTER (WHERE eventType = 'app_open' AND timestamp >= {c.sql(7)}) >= 3) "
        "AND (count(*) FILTER (WHERE eventType = 'product_view' AND category = 'footwear') >= 3 "
        "OR count(*) FILTER (WHERE eventType = 'add_to_cart' AND channel = 'app') >= 1)"
    ),
    pandas=_nested_or_pd,
)

# --- 8. segment of segments ----------------------------------------------------------------


def _engaged_pd(P: pd.DataFrame, E: pd.DataFrame, c: Clock) -> pd.Index:
    return _ids_with_count(_events(E, c, ["email_open", "email_click", "app_open"], 30), 2)


ENGAGED = BenchSegment(
    name="engaged_30d",
    kind="event count, several types",
    pql='xEvent[eventType in ["email_open", "email_click", "app_open"] and timestamp occurs '
    "<= 30 days before now].count() >= 2",
    hand_sql=lambda c: (
        "SELECT profile_id FROM events "
        f"WHERE eventType IN ('email_open', 'email_click', 'app_open') AND {c.window(30)} "
        "GROUP BY profile_id HAVING count(*) >= 2"
    ),
    pandas=_engaged_pd,
    saved=True,
)

SEGMENT_OF_SEGMENTS = BenchSegment(
    name="segment_of_segments",
    kind="inSegment and not inSegment",
    pql='inSegment("revenue_365d") and not(inSegment("engaged_30d"))',
    hand_sql=lambda c: f"({REVENUE_365D.hand_sql(c)}) EXCEPT ({ENGAGED.hand_sql(c)})",
    pandas=lambda P, E, c: _revenue_pd(P, E, c).difference(_engaged_pd(P, E, c)),
)

# --- 9. profile attribute and event property ---------------------------------------------


def _de_store_pd(P: pd.DataFrame, E: pd.DataFrame, c: Clock) -> pd.Index:
    buyers = _events(E, c, ["purchase"], 180, channel="store")["profile_id"].unique()
    de = P[P["country"] == "DE"]
    return pd.Index(de.loc[de["profile_id"].isin(buyers), "profile_id"])


DE_STORE = BenchSegment(
    name="de_store_buyers",
    kind="attribute and event with a property",
    pql='country = "DE" and xEvent[eventType = "purchase" and channel = "store" and timestamp '
    "occurs <= 180 days before now].count() >= 1",
    hand_sql=lambda c: (
        "SELECT p.profile_id FROM profiles p WHERE p.country = 'DE' AND p.profile_id IN ("
        "SELECT profile_id FROM events WHERE eventType = 'purchase' AND channel = 'store' "
        f"AND {c.window(180)})"
    ),
    pandas=_de_store_pd,
)

# --- 10. a wide definition: 20 conditions -------------------------------------------------

_WIDE_EVENTS = [  # (name, event type, days, property filter, measure, op, value)
    ("buy30", "purchase", 30, None, "count", ">=", 1),
    ("cart14", "add_to_cart", 14, None, "count", ">=", 2),
    ("checkout14", "checkout", 14, None, "count", ">=", 1),
    ("outdoor7", "product_view", 7, ("category", "outdoor"), "count", ">=", 3),
    ("footwear7", "product_view", 7, ("category", "footwear"), "count", ">=", 3),
    ("click30", "email_click", 30, None, "count", ">=", 1),
    ("app7", "app_open", 7, None, "count", ">=", 2),
    ("web3", "page_view", 3, ("channel", "web"), "count", ">=", 5),
    ("rev365", "purchase", 365, None, "sum", ">", 500),
    ("bf30", "email_open", 30, ("campaign", "black_friday"), "count", ">=", 1),
    ("store180", "purchase", 180, ("channel", "store"), "count", ">=", 1),
]


def _wide_event_pql(kind: str, days: int, prop, measure: str, op: str, value) -> str:
    where = f'eventType = "{kind}"'
    if prop:
        where += f' and {prop[0]} = "{prop[1]}"'
    agg = "count()" if measure == "count" else "sum(revenue)"
    return f"xEvent[{where} and timestamp occurs <= {days} days before now].{agg} {op} {value}"


WIDE_PQL = (
    '(loyaltyTier in ["gold", "platinum"] or lifetimeValue > 1000 '
    'or interests.intersects(["climbing", "skiing"]) or signupDate occurs after date(2026, 9, 1) '
    "or smsOptIn = true) "
    'and country in ["US", "CA", "GB", "DE", "FR"] and emailOptIn = true '
    "and birthDate occurs before date(2005, 1, 1) and ("
    + " or ".join(_wide_event_pql(*spec[1:]) for spec in _WIDE_EVENTS)
    + ') and xEvent[eventType = "email_sent" and timestamp occurs <= 7 days before now]'
    ".count() <= 5"
)


def _wide_sql(c: Clock) -> str:
    columns = []
    for name, kind, days, prop, measure, _, _ in _WIDE_EVENTS:
        cond = f"eventType = '{kind}' AND timestamp >= {c.sql(days)}"
        if prop:
            cond += f" AND {prop[0]} = '{prop[1]}'"
        agg = "count(*)" if measure == "count" else "sum(revenue)"
        columns.append(f"{agg} FILTER (WHERE {cond}) AS {name}")
    columns.append(
        f"count(*) FILTER (WHERE eventType = 'email_sent' AND timestamp >= {c.sql(7)}) AS sent7"
    )
    any_event = " OR ".join(
        f"coalesce({name}, 0) {op} {value}" for name, _, _, _, _, op, value in _WIDE_EVENTS
    )
    return (
        f"WITH ev AS (SELECT profile_id, {', '.join(columns)} FROM events "
        f"WHERE {c.window(365)} GROUP BY profile_id) "
        "SELECT p.profile_id FROM profiles p LEFT JOIN ev USING (profile_id) "
        "WHERE (p.loyaltyTier IN ('gold', 'platinum') OR p.lifetimeValue > 1000 "
        "OR list_has_any(p.interests, ['climbing', 'skiing']) "
        "OR p.signupDate >= DATE '2026-09-02' OR p.smsOptIn) "
        "AND p.country IN ('US', 'CA', 'GB', 'DE', 'FR') AND p.emailOptIn "
        f"AND p.birthDate < DATE '2005-01-01' AND ({any_event}) "
        "AND coalesce(sent7, 0) <= 5"
    )


def _wide_pd(P: pd.DataFrame, E: pd.DataFrame, c: Clock) -> pd.Index:
    e = E[(E["timestamp"] <= c.now) & (E["timestamp"] >= c.ago(365))]
    signals = []
    for _, kind, days, prop, measure, _, value in _WIDE_EVENTS:
        mask = (e["eventType"] == kind) & (e["timestamp"] >= c.ago(days))
        if prop:
            mask &= e[prop[0]] == prop[1]
        if measure == "count":
            counts = e.loc[mask, "profile_id"].value_counts()
            signals.append(counts.index[counts >= value])
        else:
            total = e[mask].groupby("profile_id")["revenue"].sum()
            signals.append(total.index[total > value])
    any_event = signals[0]
    for ids in signals[1:]:
        any_event = any_event.union(ids)
    sent = e.loc[(e["eventType"] == "email_sent") & (e["timestamp"] >= c.ago(7)), "profile_id"]
    too_many = sent.value_counts()
    too_many = too_many.index[too_many > 5]
    attrs = (
        P["loyaltyTier"].isin(["gold", "platinum"])
        | (P["lifetimeValue"] > 1000)
        | P["interests"]
        .map(lambda xs: xs is not None and ("climbing" in xs or "skiing" in xs))
        .astype(bool)
        | (P["signupDate"] >= pd.Timestamp("2026-09-02"))
        | P["smsOptIn"].fillna(False).astype(bool)
    )
    attrs &= P["country"].isin(["US", "CA", "GB", "DE", "FR"])
    attrs &= P["emailOptIn"].fillna(False).astype(bool)
    attrs &= P["birthDate"] < pd.Timestamp("2005-01-01")
    attrs &= P["profile_id"].isin(any_event) & ~P["profile_id"].isin(too_many)
    return pd.Index(P.loc[attrs, "profile_id"])


WIDE_20 = BenchSegment(
    name="wide_20_conditions",
    kind="wide: 8 attribute + 12 event conditions",
    pql=WIDE_PQL,
    hand_sql=_wide_sql,
    pandas=_wide_pd,
)

# --- 11. profile attributes inside event conditions (#12 family 1) ------------------------


def _with_profile(E: pd.DataFrame, P: pd.DataFrame, c: Clock, column: str) -> pd.DataFrame:
    bought = _events(E, c, ["purchase"])
    return bought.merge(P[["profile_id", column]], on="profile_id")


ORDER_ABOVE_LTV = BenchSegment(
    name="order_above_ltv",
    kind="event vs its profile's attribute",
    pql='xEvent[eventType = "purchase" and revenue * 10 > $1.lifetimeValue].count() > 0',
    hand_sql=lambda c: (
        "SELECT DISTINCT e.profile_id FROM events e JOIN profiles p USING (profile_id) "
        f"WHERE e.eventType = 'purchase' AND e.timestamp <= {c.sql()} "
        "AND e.revenue * 10 > p.lifetimeValue"
    ),
    pandas=lambda P, E, c: _ids(
        (e := _with_profile(E, P, c, "lifetimeValue")).loc[
            e["revenue"] * 10 > e["lifetimeValue"], "profile_id"
        ]
    ),
    in_job=False,
)

BOUGHT_AFTER_SIGNUP = BenchSegment(
    name="bought_after_signup_30d",
    kind="event time vs a profile date, and an attribute",
    pql='country = "US" and xEvent[eventType = "purchase" and timestamp occurs <= 30 days '
    "before now and timestamp occurs after $1.signupDate].count() >= 1",
    hand_sql=lambda c: (
        "SELECT p.profile_id FROM profiles p WHERE p.country = 'US' AND p.profile_id IN ("
        "SELECT e.profile_id FROM events e JOIN profiles q USING (profile_id) "
        f"WHERE e.eventType = 'purchase' AND {c.window(30, 'e.timestamp')} "
        "AND e.timestamp >= q.signupDate + INTERVAL 1 DAY)"
    ),
    pandas=lambda P, E, c: _ids(
        (e := _with_profile(E[E["timestamp"] >= c.ago(30)], P, c, "signupDate")).loc[
            e["timestamp"] >= e["signupDate"] + pd.Timedelta(days=1), "profile_id"
        ]
    ).intersection(P.loc[P["country"] == "US", "profile_id"]),
    in_job=False,
)

SEGMENTS: list[BenchSegment] = [
    ATTR_ONLY,
    ATTR_LIST_DATE,
    PURCHASES_30D,
    NO_PURCHASE_90D,
    REVENUE_365D,
    AVG_ORDER,
    CART_ABANDON,
    SEQ_CART_BUY,
    SEQ_CLICK_BUY,
    NESTED_OR,
    ENGAGED,
    SEGMENT_OF_SEGMENTS,
    DE_STORE,
    WIDE_20,
    ORDER_ABOVE_LTV,
    BOUGHT_AFTER_SIGNUP,
]


def job_definitions() -> list[tuple[str, str]]:
    """50 (name, PQL) pairs for the job benchmark: the segments above plus variants."""
    defs = [
        (f"job_{s.name}", s.pql) for s in SEGMENTS if s.in_job and s.name != "segment_of_segments"
    ]
    defs.append(
        (
            "job_segment_of_segments",
            'inSegment("job_revenue_365d") and not(inSegment("job_engaged_30d"))',
        )
    )
    types = ["purchase", "add_to_cart", "product_view", "email_open", "app_open", "checkout"]
    windows = [7, 30, 90]
    for kind in types:
        for days in windows:
            defs.append(
                (
                    f"job_{kind}_{days}d",
                    f'xEvent[eventType = "{kind}" and timestamp occurs <= {days} days before now]'
                    ".count() >= 2",
                )
            )
    countries = ["US", "DE", "GB", "FR", "CA", "AU"]
    tiers = ["gold", "silver"]
    for country in countries:
        for tier in tiers:
            if len(defs) >= 50:
                break
            defs.append(
                (f"job_{country}_{tier}", f'country = "{country}" and loyaltyTier = "{tier}"')
            )
    for days in (30, 90, 180):
        for value in (100, 300):
            defs.append(
                (
                    f"job_revenue_{days}d_{value}",
                    f'xEvent[eventType = "purchase" and timestamp occurs <= {days} days before now]'
                    f".sum(revenue) > {value}",
                )
            )
    return defs[:50]

"""PQL's array, aggregation, map and filter functions (issue #12, AEP's
help/segmentation/pql/{array,aggregation,map,filter}-functions.md), checked against answers
computed in Python from generated data: lists of structs, lists of numbers and maps with
missing lists, empty lists and missing items, a list inside a struct, and events with a list
of products (some after as-of, never seen). Each case runs through preview and estimate (its
text and its canonical spelling), and all of them as definitions in one jobs.run, on DuckDB;
on Spark in one jobs.run and one union query. Bad inputs name what is wrong, and where.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segmentation import SegmentationService
from segmentation.errors import InvalidInputError, PQLSyntaxError, SegmentationError
from segmentation.estimate import SampleInfo, pick_slice, refresh_sample, sample_info
from segmentation.pql import parse, to_pql
from tests.conftest import AS_OF
from tests.spark_support import by_key, spark_union

N_PROFILES, N_EVENTS, SEED = 300, 1200, 12
STORES = ["S1", "S2", "S3", "S4"]
SKUS = ["PS", "XB", "NS", "PC"]
ID_KEYS = ["email", "ECID", "phone"]
EVENT_TYPES = ["purchase", "view", "cart"]

ORDER = pa.struct(
    [("price", pa.float64()), ("storeId", pa.string()), ("placedAt", pa.timestamp("us"))]
)
ORDERS = "STRUCT(price DOUBLE, storeId VARCHAR, placedAt TIMESTAMP)[]"  # as DuckDB loads it
PROFILE_SCHEMA = pa.schema(
    [
        ("profile_id", pa.string()),
        ("email", pa.string()),
        ("age", pa.float64()),
        ("level", pa.int64()),
        ("orders", pa.list_(ORDER)),
        ("scores", pa.list_(pa.float64())),
        ("identityMap", pa.map_(pa.string(), pa.struct([("id", pa.string())]))),
        ("person", pa.struct([("gender", pa.string()), ("orders", pa.list_(ORDER))])),
    ]
)
EVENT_SCHEMA = pa.schema(
    [
        ("profile_id", pa.string()),
        ("eventType", pa.string()),
        ("timestamp", pa.timestamp("us")),
        ("minQty", pa.int64()),
        (
            "productListItems",
            pa.list_(pa.struct([("SKU", pa.string()), ("quantity", pa.int64())])),
        ),
    ]
)


def _maybe(rng: np.random.Generator, value: Any, missing: float = 0.15) -> Any:
    return None if rng.random() < missing else value


def _list_of(rng: np.random.Generator, longest: int, item: Callable[[int], Any]) -> list | None:
    """A missing list one time in ten, an empty one one time in ten, else 1..longest items."""
    draw = rng.random()
    if draw < 0.1:
        return None
    if draw < 0.2:
        return []
    return [item(i) for i in range(int(rng.integers(1, longest + 1)))]


def _orders(rng: np.random.Generator) -> list | None:
    """Orders with distinct prices (x.5 from 1..199) and times (in the 60 days before as-of
    and 5 after) so topN/bottomN have no ties; a field may be missing, now and then a whole
    item."""
    prices = rng.choice(np.arange(1, 200), 8, replace=False) + 0.5
    minutes = rng.choice(np.arange(-60 * 24 * 60, 5 * 24 * 60), 8, replace=False)
    return _list_of(
        rng,
        6,
        lambda i: _maybe(
            rng,
            {
                "price": _maybe(rng, float(prices[i])),
                "storeId": _maybe(rng, str(rng.choice(STORES))),
                "placedAt": _maybe(rng, AS_OF + dt.timedelta(minutes=int(minutes[i])), 0.1),
            },
            0.04,
        ),
    )


def _identity_map(rng: np.random.Generator, i: int) -> list | None:
    """A map as (key, value) pairs: missing, empty, or some of the keys (a value or its id
    may be missing)."""
    draw = rng.random()
    if draw < 0.1:
        return None
    if draw < 0.2:
        return []
    keys = [k for k in ID_KEYS if rng.random() < 0.6] or [str(rng.choice(ID_KEYS))]
    ids = {
        "email": f"user{rng.integers(0, 5)}@example.com",
        "ECID": f"ecid-{rng.integers(0, 30)}",
        "phone": f"+49{i:04d}",
    }
    return [(k, _maybe(rng, {"id": _maybe(rng, ids[k], 0.1)}, 0.05)) for k in keys]


def make_records(seed: int = SEED) -> tuple[list[dict], list[dict]]:
    """Profiles and events as Python values (None = missing): the source of both the
    Parquet files and the answers."""
    rng = np.random.default_rng(seed)
    profiles = []
    for i in range(N_PROFILES):
        person = {"gender": _maybe(rng, str(rng.choice(["female", "male"])), 0.2)}
        person["orders"] = _orders(rng)
        profiles.append(
            {
                "profile_id": f"P{i:04d}",
                "email": f"user{i}@example.com",
                "age": _maybe(rng, float(rng.integers(18, 80)), 0.1),
                "level": _maybe(rng, int(rng.integers(1, 5)), 0.1),
                "orders": _orders(rng),
                "scores": _list_of(rng, 5, lambda _: _maybe(rng, float(rng.integers(0, 101)))),
                "identityMap": _identity_map(rng, i),
                "person": _maybe(rng, person, 0.05),
            }
        )
    start = AS_OF - dt.timedelta(days=90)
    events = []
    for _ in range(N_EVENTS):
        seconds = int(rng.integers(0, 100 * 24 * 3600))  # a tenth after as-of
        events.append(
            {
                "profile_id": f"P{rng.integers(0, N_PROFILES):04d}",
                "eventType": str(rng.choice(EVENT_TYPES, p=[0.3, 0.5, 0.2])),
                "timestamp": start + dt.timedelta(seconds=seconds),
                "minQty": _maybe(rng, int(rng.integers(1, 5)), 0.1),
                "productListItems": _list_of(
                    rng,
                    4,
                    lambda _: _maybe(
                        rng,
                        {
                            "SKU": _maybe(rng, str(rng.choice(SKUS)), 0.1),
                            "quantity": _maybe(rng, int(rng.integers(1, 6)), 0.1),
                        },
                        0.04,
                    ),
                ),
            }
        )
    return profiles, events


def write_parquet(folder: Path) -> tuple[Path, Path]:
    profiles, events = make_records()
    paths = folder / "profiles.parquet", folder / "events.parquet"
    for rows, schema, path in zip(
        (profiles, events), (PROFILE_SCHEMA, EVENT_SCHEMA), paths, strict=True
    ):
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return paths


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The records as frames (object columns: None stays None, lists and maps stay Python)."""
    profiles, events = make_records()
    return pd.DataFrame(profiles, dtype=object), pd.DataFrame(events, dtype=object)


def per_profile() -> pd.DataFrame:
    """One row per profile: its fields (maps as dicts) and the events it has up to as-of."""
    profiles, events = frames()
    table = profiles.set_index("profile_id")
    table["identityMap"] = table["identityMap"].map(_dict)
    seen = events[events["timestamp"] <= AS_OF]  # events after as-of are never seen
    by_profile = {pid: group.to_dict("records") for pid, group in seen.groupby("profile_id")}
    table["events"] = [by_profile.get(pid, []) for pid in table.index]
    return table


def _values(mapping: dict | None) -> list | None:
    return None if mapping is None else list(mapping.values())


def _dict(pairs: list | None) -> dict | None:
    return None if pairs is None else dict(pairs)


# --- the answers in plain Python: None is a missing value, a comparison with it is false ---


def cmp(a: Any, op: str, b: Any) -> bool:
    if a is None or b is None:
        return False
    return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b, "=": a == b}[op]


def times(a: float | None, b: float) -> float | None:
    return None if a is None else a * b


def some(items: list | None, test: Callable[[Any], bool]) -> bool:
    """``L[test]``: some item meets it (a missing list has no items)."""
    return items is not None and any(test(item) for item in items)


def count(items: list | None, test: Callable[[Any], bool] = lambda _: True) -> int | None:
    """``L.filter(test).count()``: missing for a missing list."""
    found = kept(items, test)
    return None if found is None else len(found)


def kept(items: list | None, test: Callable[[Any], bool]) -> list | None:
    """``L.filter(test)``: the items meeting it, in their order."""
    return None if items is None else [item for item in items if test(item)]


def field(items: list | None, name: str) -> list | None:
    """``L.map(name)`` / the path ``L.name``: one value per item, missing ones kept."""
    return None if items is None else [get(item, name) for item in items]


def present(values: list | None) -> list:
    return [v for v in values or [] if v is not None]


def total(values: list | None) -> float | None:
    """sum: over the present values, 0 for none; missing for a missing list."""
    return None if values is None else sum(present(values))


def mean(values: list | None) -> float | None:
    found = present(values)
    return sum(found) / len(found) if found else None


def low(values: list | None) -> float | None:
    return min(present(values), default=None)


def high(values: list | None) -> float | None:
    return max(present(values), default=None)


def distinct(values: list | None) -> int | None:
    """``.distinct().count()`` and ``.groupBy(key).count()``: distinct present values."""
    return None if values is None else len(set(present(values)))


def top(items: list | None, name: str, n: int, highest: bool = True) -> list | None:
    """topN / bottomN: the n items with the highest / lowest present ``name``."""
    if items is None:
        return None
    ranked = sorted((i for i in items if get(i, name) is not None), key=lambda i: i[name])
    return (ranked[::-1] if highest else ranked)[:n]


def head(items: list | None) -> dict | None:
    return items[0] if items else None


def get(struct: dict | None, name: str) -> Any:
    return None if struct is None else struct.get(name)


def has(values: list | None, value: Any) -> bool:
    return values is not None and value in values


def events(p: pd.Series, test: Callable[[dict], bool]) -> int:
    """``xEvent[test].count()``: the profile's events up to as-of that meet it."""
    return sum(1 for event in p["events"] if test(event))


def items_of(event: dict) -> list | None:
    return event["productListItems"]


def has_sku(event: dict, sku: str) -> bool:
    return some(items_of(event), lambda item: get(item, "SKU") == sku)


Oracle = Callable[[pd.Series], bool]

# PQL, the same question asked of one profile ``p`` in Python (the semantics: the README's PQL
# construct table and AEP's array, aggregation, map and filter function pages)
EVALUATED: list[tuple[str, Oracle]] = [
    # 1. L[cond] as a condition is "some item meets it"; .filter(cond) the items meeting it
    ("orders[price > 150]", lambda p: some(p.orders, lambda o: cmp(get(o, "price"), ">", 150))),
    ('orders[storeId = "S1" and price < 60]',
     lambda p: some(p.orders,
                    lambda o: get(o, "storeId") == "S1" and cmp(get(o, "price"), "<", 60))),
    ("not (orders[price < 50])",
     lambda p: not some(p.orders, lambda o: cmp(get(o, "price"), "<", 50))),
    ('orders.filter(storeId = "S2").count() >= 2',
     lambda p: cmp(count(p.orders, lambda o: get(o, "storeId") == "S2"), ">=", 2)),
    # two-valued logic: an item without a store is not in S2, so not (storeId = "S2") holds
    ('orders.filter(not (storeId = "S2")).count() >= 3',
     lambda p: cmp(count(p.orders, lambda o: get(o, "storeId") != "S2"), ">=", 3)),
    # ^ at a profile list is the profile, as $1 is
    ("orders[price > ^.age * 3]",
     lambda p: some(p.orders, lambda o: cmp(get(o, "price"), ">", times(p.age, 3)))),
    ("orders.filter(price > $1.age * 2).count() >= 2",
     lambda p: cmp(count(p.orders, lambda o: cmp(get(o, "price"), ">", times(p.age, 2))), ">=", 2)),
    # 2. map keeps one value per item, missing ones too; distinct drops them
    ("orders.map(price).count() >= 4", lambda p: cmp(count(p.orders), ">=", 4)),
    ("orders.map(storeId).distinct().count() >= 3",
     lambda p: cmp(distinct(field(p.orders, "storeId")), ">=", 3)),
    # distinct of whole items drops repeats and missing items; count() counts them all
    ("orders.distinct().count() < orders.count()",
     lambda p: p.orders is not None
     and len({tuple(o.items()) for o in present(p.orders)}) < len(p.orders)),
    # 3. sum/average/min/max over the present values; sum of none 0, of a missing list missing
    ("orders.sum(price) > 400", lambda p: cmp(total(field(p.orders, "price")), ">", 400)),
    ("orders.sum(price) = 0", lambda p: cmp(total(field(p.orders, "price")), "=", 0)),
    ("orders.average(price) > 120", lambda p: cmp(mean(field(p.orders, "price")), ">", 120)),
    ("orders.min(price) < 20", lambda p: cmp(low(field(p.orders, "price")), "<", 20)),
    ("not (orders.max(price) >= 100)",
     lambda p: not cmp(high(field(p.orders, "price")), ">=", 100)),
    # the item named by the list's name without its "s" (AEP's example)
    ("orders.sum(order.price) > 300", lambda p: cmp(total(field(p.orders, "price")), ">", 300)),
    ("orders.average(order.price) < age",
     lambda p: cmp(mean(field(p.orders, "price")), "<", p.age)),
    ("scores.sum() > 150", lambda p: cmp(total(p.scores), ">", 150)),
    ("scores.sum() = 0", lambda p: cmp(total(p.scores), "=", 0)),
    ("scores.average() >= 60", lambda p: cmp(mean(p.scores), ">=", 60)),
    ("scores.min() > 20 and scores.max() < 90",
     lambda p: cmp(low(p.scores), ">", 20) and cmp(high(p.scores), "<", 90)),
    ("orders.max(price) > scores.max() * 2",
     lambda p: cmp(high(field(p.orders, "price")), ">", times(high(p.scores), 2))),
    # 4. topN: highest first, bottomN: lowest first; items without the value left out
    ("orders.topN(price, 5).head().price > 180",
     lambda p: cmp(high(field(p.orders, "price")), ">", 180)),
    ("orders.bottomN(price, 2).head().price < 10",
     lambda p: cmp(low(field(p.orders, "price")), "<", 10)),
    ("orders.topN(price, 2).sum(price) > 300",
     lambda p: cmp(total(field(top(p.orders, "price", 2), "price")), ">", 300)),
    ("orders.topN(price, 3).count() = 3",
     lambda p: cmp(count(top(p.orders, "price", 3)), "=", 3)),
    ('orders.bottomN(price, 2).map(storeId).includes("S3")',
     lambda p: has(field(top(p.orders, "price", 2, highest=False), "storeId"), "S3")),
    ("orders.head().price > 100", lambda p: cmp(get(head(p.orders), "price"), ">", 100)),
    ('orders.head().storeId = "S4"', lambda p: get(head(p.orders), "storeId") == "S4"),
    # functions of what a function gives, expressions of each item
    ('orders.filter(storeId = "S1").sum(price) > 150',
     lambda p: cmp(total(field(kept(p.orders, lambda o: get(o, "storeId") == "S1"), "price")),
                   ">", 150)),
    # no order of S3 (or none with a price): the average is missing, the comparison false
    ('orders.filter(storeId = "S3").average(price) < 60',
     lambda p: cmp(mean(field(kept(p.orders, lambda o: get(o, "storeId") == "S3"), "price")),
                   "<", 60)),
    ("orders.map(price).sum() > 350", lambda p: cmp(total(field(p.orders, "price")), ">", 350)),
    ("orders.map(price).max() < 60", lambda p: cmp(high(field(p.orders, "price")), "<", 60)),
    ("orders.sum(price * 2) > 700", lambda p: cmp(total(field(p.orders, "price")), ">", 350)),
    # a missing store takes the else branch: 0
    ('orders.sum(if(storeId = "S1", price, 0)) > 100',
     lambda p: cmp(total(None if p.orders is None else [
         get(o, "price") if get(o, "storeId") == "S1" else 0 for o in p.orders]), ">", 100)),
    # the value per order; of an empty list 0 / 0, which is no value (not NaN, not an error)
    ("orders.sum(price) / orders.count() > 80",
     lambda p: bool(p.orders) and total(field(p.orders, "price")) / len(p.orders) > 80),
    ('orders.filter(price > 50).filter(storeId = "S1").count() >= 2',
     lambda p: cmp(count(p.orders, lambda o: cmp(get(o, "price"), ">", 50)
                         and get(o, "storeId") == "S1"), ">=", 2)),
    # the first order is missing: no list, an empty one, or a missing first item
    ("orders.head().isNull()", lambda p: head(p.orders) is None),
    ("orders.map(storeId).intersects(person.orders.storeId)",
     lambda p: bool(set(present(field(p.orders, "storeId")))
                    & set(present(field(get(p.person, "orders"), "storeId"))))
     and p.orders is not None and get(p.person, "orders") is not None),
    # min and max keep the kind of the items' values: text here, times below
    ('orders.max(storeId) = "S4"', lambda p: high(field(p.orders, "storeId")) == "S4"),
    ("orders.max(storeId) = orders.min(storeId)",
     lambda p: cmp(high(field(p.orders, "storeId")), "=", low(field(p.orders, "storeId")))),
    # the lowest price is the min (some order has a price)
    ("orders.bottomN(price, 1).head().price = orders.min(price)",
     lambda p: present(field(p.orders, "price")) != []),
    # times of the items: as-of is now; the items are the profile's, none is hidden
    ("orders[placedAt occurs <= 30 days before now]",
     lambda p: some(p.orders, lambda o: get(o, "placedAt") is not None
                    and AS_OF - dt.timedelta(days=30) <= o["placedAt"] <= AS_OF)),
    ("orders.filter(placedAt occurs after now).count() >= 1",
     lambda p: cmp(count(p.orders, lambda o: cmp(get(o, "placedAt"), ">", AS_OF)), ">=", 1)),
    ("orders.max(placedAt) occurs before date(2026, 6, 1)",
     lambda p: cmp(high(field(p.orders, "placedAt")), "<", dt.datetime(2026, 6, 1))),
    ("orders.topN(placedAt, 1).head().price > 100",
     lambda p: cmp(get(head(top(p.orders, "placedAt", 1)), "price"), ">", 100)),
    # the second highest price (the only one of a list with one price)
    ("orders.topN(price, 2).bottomN(price, 1).head().price > 150",
     lambda p: cmp(get(head(top(top(p.orders, "price", 2), "price", 1, highest=False)), "price"),
                   ">", 150)),
    # filter keeps the items' order: the first order above 100 is of S1
    ('orders.filter(price > 100).head().storeId = "S1"',
     lambda p: get(head(kept(p.orders, lambda o: cmp(get(o, "price"), ">", 100))), "storeId")
     == "S1"),
    ("orders[price.isNull()]", lambda p: some(p.orders, lambda o: get(o, "price") is None)),
    ('orders.filter(storeId in ["S1", "S2"]).count() >= 3',
     lambda p: cmp(count(p.orders, lambda o: get(o, "storeId") in ("S1", "S2")), ">=", 3)),
    # notIn wants a value: an order without a store is not counted
    ('orders.filter(storeId notIn ["S1"]).count() >= 3',
     lambda p: cmp(count(p.orders, lambda o: get(o, "storeId") not in (None, "S1")), ">=", 3)),
    ('orders[storeId.lowerCase() = "s4" and price > 100]',
     lambda p: some(p.orders,
                    lambda o: get(o, "storeId") == "S4" and cmp(get(o, "price"), ">", 100))),
    ("orders.head().storeId = person.orders.head().storeId",
     lambda p: cmp(get(head(p.orders), "storeId"), "=",
                   get(head(get(p.person, "orders")), "storeId"))),
    ("person.orders.storeId.includes(orders.head().storeId)",
     lambda p: get(head(p.orders), "storeId") is not None and has(
         field(get(p.person, "orders"), "storeId"), get(head(p.orders), "storeId"))),
    # 5. groupBy: groups of the present keys
    ("orders.groupBy(storeId).count() = 1",
     lambda p: cmp(distinct(field(p.orders, "storeId")), "=", 1)),
    ('orders.groupBy(storeId).keys().supersetOf(["S1", "S2"])',
     lambda p: {"S1", "S2"} <= set(present(field(p.orders, "storeId")))),
    ("orders.groupBy(storeId).keys().count() = 2",
     lambda p: cmp(distinct(field(p.orders, "storeId")), "=", 2)),
    # 6. maps: get (missing when absent), keys, values; a missing map is missing
    ('identityMap.get("email").id = "user1@example.com"',
     lambda p: get(get(p.identityMap, "email"), "id") == "user1@example.com"),
    ('identityMap.get("phone").isNull()', lambda p: get(p.identityMap, "phone") is None),
    ('identityMap.get("ECID").id.startsWith("ecid-1")',
     lambda p: str(get(get(p.identityMap, "ECID"), "id")).startswith("ecid-1")),
    ("identityMap.keys().count() = 0", lambda p: p.identityMap == {}),
    ('identityMap.get("email").id in ["user1@example.com", "user2@example.com"]',
     lambda p: get(get(p.identityMap, "email"), "id") in ("user1@example.com",
                                                         "user2@example.com")),
    ('identityMap.keys().intersects(["phone", "nope"])',
     lambda p: "phone" in (p.identityMap or {})),
    # a key that is there with a missing id
    ('identityMap.get("email").isNotNull() and identityMap.get("email").id.isNull()',
     lambda p: get(p.identityMap, "email") is not None and p.identityMap["email"]["id"] is None),
    ('identityMap.keys().includes("ECID") and not (identityMap.keys().includes("email"))',
     lambda p: "ECID" in (p.identityMap or {}) and "email" not in (p.identityMap or {})),
    ("identityMap.values().count() >= 2", lambda p: len(p.identityMap or {}) >= 2),
    ("identityMap.values().map(id).distinct().count() = 3",
     lambda p: cmp(distinct(field(_values(p.identityMap), "id")), "=", 3)),
    # 7. a path through a list of structs is the list of that field
    ("person.orders.storeId.distinct().count() > 1",
     lambda p: cmp(distinct(field(get(p.person, "orders"), "storeId")), ">", 1)),
    ("person.orders.price.sum() > 200",
     lambda p: cmp(total(field(get(p.person, "orders"), "price")), ">", 200)),
    ("person.orders.map(price).average() > 100",
     lambda p: cmp(mean(field(get(p.person, "orders"), "price")), ">", 100)),
    ('identityMap.values().id.includes("user2@example.com")',
     lambda p: get(get(p.identityMap, "email"), "id") == "user2@example.com"),
    ('person.orders[storeId = "S1" and price > 50]',
     lambda p: some(get(p.person, "orders"),
                    lambda o: get(o, "storeId") == "S1" and cmp(get(o, "price"), ">", 50))),
    ('orders.storeId.includes("S2")', lambda p: has(field(p.orders, "storeId"), "S2")),
    # a list of the events: bare names are the item's, ^ the event's, ^^ and $1 the profile's
    ('xEvent[productListItems[SKU = "PS"]].count() > 0',
     lambda p: events(p, lambda e: some(items_of(e), lambda i: get(i, "SKU") == "PS")) > 0),
    ('xEvent[productListItems[SKU = "PS"]].count() >= 2',
     lambda p: events(p, lambda e: some(items_of(e), lambda i: get(i, "SKU") == "PS")) >= 2),
    ('xEvent[eventType = "purchase" and productListItems[quantity > ^.minQty]].count() >= 1',
     lambda p: events(p, lambda e: e["eventType"] == "purchase" and some(
         items_of(e), lambda i: cmp(get(i, "quantity"), ">", e["minQty"]))) >= 1),
    ('xEvent[productListItems[SKU = "XB" and quantity >= $1.level]].count() > 0',
     lambda p: events(p, lambda e: some(
         items_of(e),
         lambda i: get(i, "SKU") == "XB" and cmp(get(i, "quantity"), ">=", p.level))) > 0),
    ('xEvent[productListItems[SKU = "XB" and quantity >= ^^.level]].count() > 0',
     lambda p: events(p, lambda e: some(
         items_of(e),
         lambda i: get(i, "SKU") == "XB" and cmp(get(i, "quantity"), ">=", p.level))) > 0),
    # AEP's up-reference example: an event with an item that is a PS or of a woman
    ('xEvent[productListItems[SKU = "PS" or ^^.person.gender = "female"]].count() > 0',
     lambda p: events(p, lambda e: some(
         items_of(e),
         lambda i: get(i, "SKU") == "PS" or get(p.person, "gender") == "female")) > 0),
    ("xEvent[productListItems.filter(quantity >= 3).count() >= 2].count() >= 1",
     lambda p: events(p, lambda e: cmp(
         count(items_of(e), lambda i: cmp(get(i, "quantity"), ">=", 3)), ">=", 2)) >= 1),
    ("xEvent[productListItems.sum(quantity) > 8].count() > 0",
     lambda p: events(p, lambda e: cmp(total(field(items_of(e), "quantity")), ">", 8)) > 0),
    ('xEvent[eventType = "view" and productListItems.map(SKU).distinct().count() >= 3]'
     ".count() > 0",
     lambda p: events(p, lambda e: e["eventType"] == "view" and cmp(
         distinct(field(items_of(e), "SKU")), ">=", 3)) > 0),
    # outside the functions' arguments the condition is the event's: ^ is the profile
    ("xEvent[productListItems.max(quantity) >= ^.level + 3].count() > 0",
     lambda p: events(p, lambda e: cmp(high(field(items_of(e), "quantity")), ">=",
                                       None if p.level is None else p.level + 3)) > 0),
    ("xEvent[productListItems.sum(quantity) > minQty * 4].count() >= 2",
     lambda p: events(p, lambda e: cmp(total(field(items_of(e), "quantity")), ">",
                                       times(e["minQty"], 4))) >= 2),
    ("xEvent[productListItems.filter(quantity > ^.minQty).count() >= 2].count() > 0",
     lambda p: events(p, lambda e: cmp(count(
         items_of(e), lambda i: cmp(get(i, "quantity"), ">", e["minQty"])), ">=", 2)) > 0),
    ('xEvent[productListItems.map(SKU).includes("PC")].count() >= 2',
     lambda p: events(p, lambda e: has(field(items_of(e), "SKU"), "PC")) >= 2),
    ('xEvent[productListItems.head().SKU = "NS"].count() > 0',
     lambda p: events(p, lambda e: get(head(items_of(e)), "SKU") == "NS") > 0),
    # no event with a PS item (no events at all too)
    ('not (xEvent[productListItems[SKU = "PS"]].count() > 0)',
     lambda p: events(p, lambda e: some(items_of(e), lambda i: get(i, "SKU") == "PS")) == 0),
    # a path through the events' lists of structs: the SKUs of the purchases
    ('xEvent[eventType = "purchase"].productListItems.SKU.distinct().count() >= 3',
     lambda p: len({get(i, "SKU") for e in p["events"] if e["eventType"] == "purchase"
                    for i in items_of(e) or []} - {None}) >= 3),
    ('xEvent[eventType = "purchase"].count() > orders.count()',
     lambda p: cmp(events(p, lambda e: e["eventType"] == "purchase"), ">", count(p.orders))),
    ('xEvent[productListItems[SKU = "PC" and ^.eventType = "cart"]].count() > 0',
     lambda p: events(p, lambda e: e["eventType"] == "cart" and some(
         items_of(e), lambda i: get(i, "SKU") == "PC")) > 0),
    ("xEvent[productListItems.topN(quantity, 1).head().quantity >= 5].count() > 0",
     lambda p: events(p, lambda e: cmp(high(field(items_of(e), "quantity")), ">=", 5)) > 0),
    # list functions inside sequences, let and quantifiers over the events
    ('chain(xEvent, timestamp, [A: WHAT(productListItems[SKU = "PS"]), '
     'B: WHAT(eventType = "purchase")])',
     lambda p: any(b["timestamp"] > a["timestamp"] for a in p["events"] for b in p["events"]
                   if has_sku(a, "PS") and b["eventType"] == "purchase")),
    ('let S = (sum X.minQty over X from xEvent where X.productListItems[SKU = "PS"]) '
     "in (S > 5)",
     lambda p: total([e["minQty"] for e in p["events"] if has_sku(e, "PS")]) > 5),
    ('exists E from xEvent where E.eventType = "cart", '
     'I from E.productListItems where I.SKU = "PS" and I.quantity > E.minQty',
     lambda p: events(p, lambda e: e["eventType"] == "cart" and some(
         items_of(e), lambda i: get(i, "SKU") == "PS"
         and cmp(get(i, "quantity"), ">", e["minQty"]))) > 0),
    # the profile's lists and maps inside event conditions, and counts of both compared
    ('xEvent[eventType = "purchase" and $1.orders[price > 150]].count() > 0',
     lambda p: some(p.orders, lambda o: cmp(get(o, "price"), ">", 150))
     and events(p, lambda e: e["eventType"] == "purchase") > 0),
    ("xEvent[productListItems[quantity > $1.orders.count()]].count() > 0",
     lambda p: events(p, lambda e: some(
         items_of(e), lambda i: cmp(get(i, "quantity"), ">", count(p.orders)))) > 0),
    ('xEvent[$1.identityMap.get("email").id = "user1@example.com"].count() > 0',
     lambda p: get(get(p.identityMap, "email"), "id") == "user1@example.com"
     and len(p["events"]) > 0),
    # a profile's list inside an event condition: ^ from its items is the event around it
    ("xEvent[$1.orders[price > ^.minQty * 30]].count() > 0",
     lambda p: events(p, lambda e: some(
         p.orders, lambda o: cmp(get(o, "price"), ">", times(e["minQty"], 30)))) > 0),
    ('orders[price > 5][storeId = "S1"]',
     lambda p: some(p.orders, lambda o: cmp(get(o, "price"), ">", 5)
                    and get(o, "storeId") == "S1")),
    ('xEvent[productListItems[SKU = "PS"]].count() > orders.count()',
     lambda p: cmp(events(p, lambda e: has_sku(e, "PS")), ">", count(p.orders))),
    ("orders.filter(price > 100).count() > orders.filter(price <= 100).count()",
     lambda p: cmp(count(p.orders, lambda o: cmp(get(o, "price"), ">", 100)), ">",
                   count(p.orders, lambda o: cmp(get(o, "price"), "<=", 100)))),
    # a path on xEvent through the events' lists: some item of some event meets it
    ('xEvent.productListItems.SKU = "PS"',
     lambda p: events(p, lambda e: has_sku(e, "PS")) > 0),
    ('xEvent[eventType = "cart"].productListItems.SKU.startsWith("P")',
     lambda p: events(p, lambda e: e["eventType"] == "cart" and some(
         items_of(e), lambda i: str(get(i, "SKU")).startswith("P"))) > 0),
    ("xEvent.productListItems.quantity >= 5",
     lambda p: events(p, lambda e: some(
         items_of(e), lambda i: cmp(get(i, "quantity"), ">=", 5))) > 0),
    ('xEvent[eventType = "view"].productListItems.SKU in ["NS", "PC"]',
     lambda p: events(p, lambda e: e["eventType"] == "view" and some(
         items_of(e), lambda i: get(i, "SKU") in ("NS", "PC"))) > 0),
    # a list function after the path counts the event's list (no "some item" there)
    ("xEvent[productListItems.SKU.distinct().count() >= 2].count() > 0",
     lambda p: events(p, lambda e: distinct(field(items_of(e), "SKU")) is not None
                      and distinct(field(items_of(e), "SKU")) >= 2) > 0),
    ("xEvent.productListItems.quantity.sum() > 8",
     lambda p: events(p, lambda e: cmp(total(field(items_of(e), "quantity")), ">", 8)) > 0),
    ("xEvent[productListItems.quantity * productListItems.quantity > 20].count() > 0",
     lambda p: events(p, lambda e: some(
         items_of(e), lambda i: cmp(get(i, "quantity"), ">", 4))) > 0),  # q * q > 20: q > 4
    # the item named after its list in [..] and .exists(..) too
    ("orders[order.price > 120]",
     lambda p: some(p.orders, lambda o: cmp(get(o, "price"), ">", 120))),
    ('xEvent[productListItems[productListItem.SKU = "PS"]].count() > 0',
     lambda p: events(p, lambda e: some(items_of(e), lambda i: get(i, "SKU") == "PS")) > 0),
    ("not (xEvent.productListItems.quantity > 4)",
     lambda p: events(p, lambda e: some(
         items_of(e), lambda i: cmp(get(i, "quantity"), ">", 4))) == 0),
    # ^ in an event condition is the profile
    ('xEvent[eventType = "purchase" and ^.age > 50].count() >= 1',
     lambda p: cmp(p.age, ">", 50) and events(p, lambda e: e["eventType"] == "purchase") >= 1),
    ('not (xEvent[productListItems[SKU = "NS"]].count() > 0) and orders[price > 100]',
     lambda p: events(p, lambda e: some(items_of(e), lambda i: get(i, "SKU") == "NS")) == 0
     and some(p.orders, lambda o: cmp(get(o, "price"), ">", 100))),
]  # fmt: skip


def _expected(table: pd.DataFrame, oracle: Oracle) -> set[str]:
    expected = {pid for pid, p in table.iterrows() if oracle(p)}
    assert 0 < len(expected) < len(table), "the case must tell members from others"
    return expected


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return per_profile()


def _load(service: SegmentationService, folder: Path) -> SegmentationService:
    profiles, events = write_parquet(folder)
    service.ingest("profiles", profiles)
    service.ingest("events", events)
    return service


@pytest.fixture(scope="module")
def arrays_svc(tmp_path_factory) -> SegmentationService:
    folder = tmp_path_factory.mktemp("pql_arrays")
    service = SegmentationService.open(":memory:", exports_dir=folder / "exports")
    yield _load(service, folder)
    service.close()


def test_generated_data_loads_nested_and_has_events_after_as_of(arrays_svc, table) -> None:
    """Parquet keeps the nested types; events after as-of would change answers if seen."""
    assert dict(arrays_svc.db.columns("profiles")) | dict(arrays_svc.db.columns("events")) == {
        "profile_id": "VARCHAR", "email": "VARCHAR", "age": "DOUBLE", "level": "BIGINT",
        "orders": ORDERS, "scores": "DOUBLE[]",
        "identityMap": "MAP(VARCHAR, STRUCT(id VARCHAR))",
        "person": f"STRUCT(gender VARCHAR, orders {ORDERS})",
        "eventType": "VARCHAR", "timestamp": "TIMESTAMP", "minQty": "BIGINT",
        "productListItems": "STRUCT(SKU VARCHAR, quantity BIGINT)[]",
    }  # fmt: skip
    _, events = frames()
    everything = table.assign(events=[events[events["profile_id"] == pid].to_dict("records")
                                      for pid in table.index])  # fmt: skip
    changed = [pql for pql, oracle in EVALUATED if pql.startswith("xEvent")
               and _expected(table, oracle) != _expected(everything, oracle)]  # fmt: skip
    assert changed


@pytest.mark.parametrize(("pql", "oracle"), EVALUATED, ids=range(len(EVALUATED)))
def test_array_forms_match_python(arrays_svc, table, pql: str, oracle: Oracle) -> None:
    """Preview and estimate (the single-segment plan) of the text and of its canonical
    spelling (what a definition stores); jobs.run and members of every case at once below."""
    expected = _expected(table, oracle)
    assert set(arrays_svc.preview(pql, as_of=AS_OF, limit=1000).rows["profile_id"]) == expected
    assert arrays_svc.estimate(pql, as_of=AS_OF).estimated_size == len(expected)
    canonical = to_pql(parse(pql))
    assert parse(canonical) == parse(pql)  # the text a definition stores means the same
    assert to_pql(parse(canonical)) == canonical
    assert set(arrays_svc.preview(canonical, as_of=AS_OF, limit=1000).rows["profile_id"]) == (
        expected
    )


@pytest.fixture(scope="module")
def sampled_svc(tmp_path_factory) -> SegmentationService:
    """The same data, with the sample tables a large workspace's estimates read (built here
    for 300 profiles: 2 slices of the md5 buckets 0..999 and 1000..1999 of 10000)."""
    folder = tmp_path_factory.mktemp("pql_arrays_sampled")
    service = _load(SegmentationService.open(":memory:", exports_dir=folder / "x"), folder)
    refresh_sample(service.db, threshold=100, target=30)
    yield service
    service.close()


def _in_slice(pids: Iterable[str], index: int, per: int = 1000) -> set[str]:
    """The profiles of sample slice ``index``: the first 32 bits of md5(id) mod 10000."""
    buckets = {pid: int(hashlib.md5(pid.encode()).hexdigest()[:8], 16) % 10_000 for pid in pids}
    return {pid for pid, bucket in buckets.items() if bucket // per == index}


# Spark reads a sample from the full tables: buckets 0..2999 of 10000 (slice 0 of 3000 each)
SPARK_SLICE = SampleInfo(buckets=3000, slices=1, profiles=[0], total_profiles=N_PROFILES)


def test_sampled_estimates_read_the_slice_right(sampled_svc, table) -> None:
    """Each case's estimate from its slice: the members of the slice's profiles, counted."""
    wrong = []
    for pql, oracle in EVALUATED:
        expected = _expected(table, oracle)
        got = sampled_svc.estimate(pql, as_of=AS_OF)
        in_slice = _in_slice(table.index, pick_slice(to_pql(parse(pql)), sample_info(
            sampled_svc.db)))  # fmt: skip
        if (got.exact, got.profiles_read, got.profiles_matched) != (
            False, len(in_slice), len(expected & in_slice)
        ):  # fmt: skip
            wrong.append(pql)
    assert wrong == []


# an item's time in calendar days of the workspace's timezone: Los Angeles is UTC-7 in June,
# and as-of (12:00 UTC) is 05:00 there, so "today" starts at 07:00 UTC
LOCAL_DAYS = [
    ("orders[placedAt occurs on date(2026, 6, 29)]", dt.datetime(2026, 6, 29, 7)),
    ("orders[placedAt occurs today]", dt.datetime(2026, 6, 30, 7)),
    ("orders.filter(placedAt occurs yesterday).count() >= 1", dt.datetime(2026, 6, 29, 7)),
]


@pytest.mark.parametrize(("pql", "start"), LOCAL_DAYS, ids=range(len(LOCAL_DAYS)))
def test_item_times_in_the_workspace_timezone(arrays_svc, table, pql: str, start) -> None:
    def that_day(order: dict | None) -> bool:
        placed = get(order, "placedAt")
        return placed is not None and start <= placed < start + dt.timedelta(days=1)

    expected = _expected(table, lambda p: some(p.orders, that_day))
    arrays_svc.set_timezone("America/Los_Angeles")
    try:
        rows = arrays_svc.preview(pql, as_of=AS_OF, limit=1000).rows
    finally:
        arrays_svc.set_timezone("UTC")
    assert set(rows["profile_id"]) == expected


# PQL, the error, words its message has, and where the error points: an exact (line, column),
# or a part of the text the position falls in. Errors the text alone shows are the parser's
# (with a position); those that need the tables' types are the compiler's.
Where = tuple[int, int] | str | None
BAD: list[tuple[str, type[SegmentationError], list[str], Where]] = [
    ("email.filter(price > 1).count() > 0", InvalidInputError, ["filter", "email", "list"], None),
    ("age.map(price).count() > 0", InvalidInputError, ["map", "age", "list"], None),
    ('email.get("x") = "y"', InvalidInputError, ["get", "email"], None),
    ("orders.sum(storeId) > 1", InvalidInputError, ["sum", "storeId"], None),
    # a field the item does not have: the message names the item's fields
    ("orders[cost > 5]", InvalidInputError, ["cost", "price", "storeId"], None),
    ('xEvent[productListItems[sku = "PS"]].count() > 0', InvalidInputError,
     ["sku", "SKU", "quantity"], None),
    ("person.orders.storId.distinct().count() > 1", InvalidInputError,
     ["storId", "person.orders.storeId"], None),
    # at an event, ^ is the profile (minQty is the event's own field)
    ("xEvent[productListItems.sum(quantity) > ^.minQty].count() > 0", InvalidInputError,
     ["profile", "minQty"], None),
    ("orders.max(storeId) > 5", InvalidInputError, ["max", "text"], None),
    ("orders.sum() > 1", InvalidInputError, ["sum", "struct"], None),
    ("identityMap.keys() > 1", InvalidInputError, ["only with =", "not >"], None),
    ("orders.head().nope > 1", InvalidInputError, ["nope", "price", "storeId"], None),
    # inside an item's condition bare names are the item's, even where the event has one
    ("xEvent[productListItems[quantity > minQty]].count() > 0", InvalidInputError,
     ["minQty", "SKU", "quantity"], None),
    # n is a whole number >= 1, a map's key is text: written in the text
    ("orders.topN(price, 0).count() > 0", PQLSyntaxError, ["topN", "from 1 to"],
     "topN(price, 0)"),
    ("orders.topN(price, 2147483648).count() > 0", PQLSyntaxError, ["topN", "2,147,483,647"],
     "topN(price, 2147483648)"),
    ('orders.topN(price, "five").count() > 0', PQLSyntaxError, ["whole number", "five"],
     'topN(price, "five")'),
    ("orders.bottomN(price, 1.5).count() > 0", PQLSyntaxError, ["whole number", "1.5"],
     "bottomN(price, 1.5)"),
    ('identityMap.get(5).id = "x"', PQLSyntaxError, ["string", "5"], "get(5)"),
    # up-references above the profile: the parser knows the levels
    ("orders[price > ^^.age]", PQLSyntaxError, ["^^", "above the profile"], "^^.age"),
    ("xEvent[productListItems[\n  ^^^.age > 1]].count() > 0", PQLSyntaxError,
     ["^^^", "above the profile"], "^^^.age"),
    ("xEvent[^^.age > 1].count() > 0", PQLSyntaxError, ["^^", "above the profile"], "^^.age"),
    ("orders.topN(price, -1).count() > 0", PQLSyntaxError, ["whole number"],
     "topN(price, -1)"),
    ("^.age > 1", PQLSyntaxError, ["^", "filter"], (1, 1)),
    ("orders.topN(price, ).count() > 0", PQLSyntaxError, [], (1, 20)),
    ("orders[price >\n   ].count() > 0", PQLSyntaxError, [], (2, 4)),
]  # fmt: skip


def _offset(text: str, line: int, column: int) -> int:
    return sum(len(row) + 1 for row in text.split("\n")[: line - 1]) + column - 1


@pytest.mark.parametrize(("pql", "error", "words", "where"), BAD, ids=range(len(BAD)))
def test_bad_array_forms_say_what_and_where(
    arrays_svc, pql: str, error: type, words: list[str], where: Where
) -> None:
    stored = arrays_svc.definitions.list().total
    for attempt in (
        lambda: arrays_svc.estimate(pql, as_of=AS_OF),
        lambda: arrays_svc.definitions.create(name="Bad", pql=pql),
    ):
        with pytest.raises(error) as info:
            attempt()
        message = str(info.value).splitlines()[0]  # what is wrong, not the quoted text
        assert "not supported" not in message
        assert [word for word in words if word not in message] == []
        if isinstance(where, tuple):
            assert (info.value.line, info.value.column) == where
        elif where is not None:
            at, start = _offset(pql, info.value.line, info.value.column), pql.index(where)
            assert start <= at < start + len(where), f"points at {pql[at : at + 10]!r}"
    assert arrays_svc.definitions.list().total == stored  # nothing stored


@pytest.fixture(scope="module")
def spark_arrays_svc(tmp_path_factory, spark_session) -> SegmentationService:
    """The same files in a workspace whose engine is Spark."""
    folder = tmp_path_factory.mktemp("spark_pql_arrays")
    (folder / "lake").mkdir()
    service = SegmentationService.open(folder / "ws.duckdb", exports_dir=folder / "exports")
    service.set_engine("spark", master="local[2]", data=folder / "lake")
    yield _load(service, folder)
    service.close()


def _one_job(svc: SegmentationService, table: pd.DataFrame) -> tuple[dict, dict, dict]:
    """Every case as a definition, all in one jobs.run (as a user's job batches them: the
    plans share their scans): the answers, the definitions, each one's members (None for a
    case refused or failed, so that the others are still checked)."""
    expected = {str(i): _expected(table, oracle) for i, (_, oracle) in enumerate(EVALUATED)}
    defs, members = {}, {}
    for i, (pql, _) in enumerate(EVALUATED):
        try:
            defs[str(i)] = svc.definitions.create(name=f"Batched {i}", pql=pql)
        except SegmentationError:  # refused: no members, so the case is listed as wrong
            members[str(i)] = None
    assert [key for key, d in defs.items() if parse(d.pql) != d.expression] == []
    job = svc.jobs.run([d.id for d in defs.values()], as_of=AS_OF)
    failed = {s.segment_id for s in job.segments if s.status == "FAILED"}
    for key, d in defs.items():  # a failed definition has no members either
        members[key] = None if d.id in failed else set(svc.members(d.id)["profile_id"])
    return expected, defs, members


def test_array_forms_in_one_job(arrays_svc, table) -> None:
    expected, _, members = _one_job(arrays_svc, table)
    assert sorted(k for k in expected if members[k] != expected[k]) == []


@pytest.mark.spark
def test_array_forms_match_python_on_spark(spark_arrays_svc, table) -> None:
    """The same table on Spark: every case in one jobs.run, and the plans preview and
    estimate run (exact, and on a sample of the profiles) as one union query."""
    svc = spark_arrays_svc
    expected, defs, jobs = _one_job(svc, table)
    sliced = svc._engine.slice_options(0, SPARK_SLICE)  # what a sampled estimate reads
    in_slice = _in_slice(table.index, 0, per=3000)
    # a sampled estimate adds a bucket filter to the same plan: a fifth of the cases suffice
    sampled = {key: d for key, d in defs.items() if int(key) % 5 == 0}
    expected |= {f"{key} sampled": expected[key] & in_slice for key in sampled}
    singles = {key: svc._compiler_for(d.expression, AS_OF)({}) for key, d in defs.items()}
    singles |= {
        f"{key} sampled": svc._compiler_for(d.expression, AS_OF)(sliced)
        for key, d in sampled.items()
    }
    try:
        single = by_key(svc._engine.session().sql(spark_union(singles)).collect())
        wrong = sorted(k for k in expected if single.get(k, set()) != expected[k])
    except Exception as exc:  # one failing case fails the whole union: report its error
        wrong = [str(exc).splitlines()[0]]
    wrong_jobs = sorted(k for k in jobs if jobs[k] != expected[k])
    assert {"jobs": wrong_jobs, "singles": wrong} == {"jobs": [], "singles": []}

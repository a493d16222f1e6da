"""The field catalog: what each column holds, exact on small tables, sampled on big ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from segmentation.catalog import (
    EXACT_LIMIT,
    FieldInfo,
    event_types,
    kind_of,
    load_catalog,
    refresh_catalog,
)
from segmentation.ingest import ingest
from segmentation.store import Database

PROFILES = (
    "profile_id,age,country,vip,signupDate,lastSeen,interests,homeAddress.city\n"
    'p1,30,FR,true,2024-01-05,2024-05-01 10:00:00,"[""golf"",""wine""]",Paris\n'
    'p2,40,FR,false,2024-02-01,2024-05-02 11:00:00,"[""golf""]",Lyon\n'
    'p3,,DE,true,2024-03-01,,"[]",\n'
    "p4,55,,,2024-03-09,2024-05-03 12:00:00,,Berlin\n"
)
EVENTS = (
    "profile_id,eventType,timestamp,revenue\n"
    "p1,view,2024-05-01 10:00:00,\n"
    "p1,view,2024-05-02 10:00:00,\n"
    "p2,purchase,2024-05-02 11:00:00,20.0\n"
    "p3,view,2024-05-03 12:00:00,\n"
    "p4,open,2024-05-03 13:00:00,\n"
)


def loaded_workspace(folder: Path) -> Database:
    database = Database.open(":memory:")
    (folder / "p.csv").write_text(PROFILES)
    (folder / "e.csv").write_text(EVENTS)
    ingest(database, "profiles", folder / "p.csv")
    ingest(database, "events", folder / "e.csv")
    return database


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory):
    """Shared by the tests that only read the catalog."""
    database = loaded_workspace(tmp_path_factory.mktemp("catalog"))
    yield database
    database.close()


@pytest.fixture
def own_db(tmp_path: Path):
    database = loaded_workspace(tmp_path)
    yield database
    database.close()


def by_name(fields: list[FieldInfo], source: str) -> dict[str, FieldInfo]:
    return {f.name: f for f in fields if f.source == source}


def test_ingest_refreshes_the_catalog_with_every_column(db: Database) -> None:
    fields = load_catalog(db)
    assert [(f.source, f.name) for f in fields] == [
        ("profile", "profile_id"),
        ("profile", "age"),
        ("profile", "country"),
        ("profile", "homeAddress.city"),
        ("profile", "interests"),
        ("profile", "lastSeen"),
        ("profile", "signupDate"),
        ("profile", "vip"),
        ("event", "profile_id"),
        ("event", "eventType"),
        ("event", "timestamp"),
        ("event", "revenue"),
    ]


@pytest.mark.parametrize(
    ("name", "kind", "null_share", "distinct", "low", "high", "top"),
    [
        ("age", "number", 0.25, 3, "30", "55", [("30", 1), ("40", 1), ("55", 1)]),
        ("country", "text", 0.25, 2, "DE", "FR", [("FR", 2), ("DE", 1)]),
        ("vip", "boolean", 0.25, 2, "false", "true", [("true", 2), ("false", 1)]),
        ("signupDate", "date", 0.0, 4, "2024-01-05", "2024-03-09", None),
        ("lastSeen", "timestamp", 0.25, 3, "2024-05-01 10:00:00", "2024-05-03 12:00:00", []),
        ("interests", "list", 0.25, 2, None, None, [("golf", 2), ("wine", 1)]),
        ("homeAddress.city", "text", 0.25, 3, "Berlin", "Paris", None),
    ],
)
def test_profile_field_statistics(
    db: Database,
    name: str,
    kind: str,
    null_share: float,
    distinct: int,
    low: str | None,
    high: str | None,
    top: list | None,
) -> None:
    field = by_name(load_catalog(db), "profile")[name]
    assert field.kind == kind
    assert field.null_share == pytest.approx(null_share)
    assert field.distinct_count == distinct
    assert (field.min, field.max) == (low, high)
    assert field.approximate is False
    if top is not None:
        assert field.top_values == top


def test_event_fields_and_event_types(db: Database) -> None:
    fields = by_name(load_catalog(db), "event")
    assert fields["eventType"].top_values == [("view", 3), ("open", 1), ("purchase", 1)]
    assert fields["revenue"].null_share == pytest.approx(0.8)
    assert fields["timestamp"].kind == "timestamp"
    assert event_types(db) == [("view", 3), ("open", 1), ("purchase", 1)]


def test_event_types_without_a_catalog_row(own_db: Database) -> None:
    with own_db.write() as tx:
        tx.execute("DELETE FROM catalog")
    assert event_types(own_db) == [("view", 3), ("open", 1), ("purchase", 1)]


def test_empty_workspace_has_an_empty_catalog() -> None:
    db = Database.open(":memory:")
    refresh_catalog(db)
    assert load_catalog(db) == []
    assert event_types(db) == []
    db.close()


def test_refresh_replaces_rather_than_adds(own_db: Database) -> None:
    before = load_catalog(own_db)
    refresh_catalog(own_db)
    refresh_catalog(own_db)
    assert load_catalog(own_db) == before


def test_big_tables_are_sampled_and_flagged_approximate() -> None:
    db = Database.open(":memory:")
    n = EXACT_LIMIT + 50_000
    with db.write() as tx:
        tx.execute(
            "CREATE TABLE profiles AS SELECT 'p' || i AS profile_id, "
            "['gold', 'silver', 'silver', 'none'][i % 4 + 1] AS tier, i % 2 = 0 AS vip "
            "FROM range($n) t(i)",
            {"n": n},
        )
        tx.execute(
            "CREATE TABLE events AS SELECT 'p' || (i % 1000) AS profile_id, "
            "CASE WHEN i % 10 = 0 THEN 'purchase' ELSE 'view' END AS \"eventType\", "
            "TIMESTAMP '2024-01-01' + to_minutes(i) AS \"timestamp\" FROM range($n) t(i)",
            {"n": n},
        )
    refresh_catalog(db)
    profiles = by_name(load_catalog(db), "profile")
    tier = profiles["tier"]
    assert tier.approximate is True
    assert tier.distinct_count == 3
    assert [v for v, _ in tier.top_values] == ["silver", "gold", "none"]
    silver = dict(tier.top_values)["silver"]
    assert silver == pytest.approx(n / 2, rel=0.1)  # a scaled-up sample count
    assert profiles["profile_id"].distinct_count == pytest.approx(n, rel=0.1)
    # Event types stay exact: they fill dropdowns.
    events = by_name(load_catalog(db), "event")
    assert events["eventType"].approximate is False
    assert event_types(db) == [("view", n - n // 10), ("purchase", n // 10)]
    db.close()


@pytest.mark.parametrize(
    ("duck_type", "kind"),
    [
        ("VARCHAR", "text"),
        ("BIGINT", "number"),
        ("DOUBLE", "number"),
        ("DECIMAL(18,3)", "number"),
        ("BOOLEAN", "boolean"),
        ("DATE", "date"),
        ("TIMESTAMP", "timestamp"),
        ("TIMESTAMP WITH TIME ZONE", "timestamp"),
        ("VARCHAR[]", "list"),
        ("STRUCT(city VARCHAR)", "other"),
        ("BLOB", "other"),
    ],
)
def test_kind_of(duck_type: str, kind: str) -> None:
    assert kind_of(duck_type) == kind

"""The demo data: deterministic, the sizes asked for, consistent, and interesting.

Sizes stay small here (a few thousand profiles); the 10M-profile run is a
benchmark, not a test.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from segmentation.errors import InvalidInputError
from segmentation.samples import (
    DEFAULT_END,
    DEMO_SEGMENTS,
    DemoFiles,
    _vocab,
    describe_demo,
    generate_demo,
)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "sample_data"
NOW = "TIMESTAMP '2026-11-27 23:00:00'"  # DEFAULT_END, the "now" of the demo


def _con(files: DemoFiles | None = None, folder: Path = SHIPPED) -> duckdb.DuckDBPyConnection:
    """Tables ``p`` and ``e`` from demo files, read the way the workspace loader reads them."""
    con = duckdb.connect()
    if files is None:
        profiles, events = folder / "profiles.csv", folder / "events.csv.gz"
    else:
        profiles, events = files.profiles_path, files.events_path
    reader = "read_parquet" if str(profiles).endswith(".parquet") else "read_csv"
    con.execute(f"CREATE TABLE p AS SELECT * FROM {reader}('{profiles}')")
    con.execute(f"CREATE TABLE e AS SELECT * FROM {reader}('{events}')")
    return con


def _one(con: duckdb.DuckDBPyConnection, sql: str):
    return con.execute(sql).fetchone()[0]


@pytest.fixture(scope="module")
def ship():
    """The shipped sample, read once for the module."""
    con = _con()
    yield con
    con.close()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return generate_demo(tmp_path_factory.mktemp("small"), profiles=2000, events_per_profile=25)


# --- determinism and sizes ----------------------------------------------------------


def test_same_arguments_give_byte_identical_files(tmp_path: Path) -> None:
    args = {"profiles": 300, "events_per_profile": 12, "seed": 7}
    a = generate_demo(tmp_path / "a", **args)
    b = generate_demo(tmp_path / "b", **args)
    c = generate_demo(tmp_path / "c", **{**args, "seed": 8})
    assert a.profiles_path.read_bytes() == b.profiles_path.read_bytes()
    assert a.events_path.read_bytes() == b.events_path.read_bytes()
    assert a.events_path.read_bytes() != c.events_path.read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["events.csv.gz", "profiles.csv"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_files_do_not_depend_on_the_thread_count(tmp_path: Path, fmt: str) -> None:
    # more profiles than one DuckDB row group, so that the scans run in parallel
    args = {"profiles": 130_000, "events_per_profile": 0.5, "fmt": fmt, "sort_events": False}
    a = generate_demo(tmp_path / "a", threads=1, **args)
    b = generate_demo(tmp_path / "b", threads=3, **args)
    assert a.events_path.read_bytes() == b.events_path.read_bytes()
    assert a.profiles_path.read_bytes() == b.profiles_path.read_bytes()


@pytest.mark.parametrize(
    ("profiles", "per_profile", "events"),
    [(1, 0, 0), (1, 3, 3), (7, 2.5, 18), (321, 7.5, 2408), (1000, 25, 25000)],
)
def test_requested_counts(tmp_path: Path, profiles: int, per_profile: float, events: int) -> None:
    files = generate_demo(tmp_path, profiles=profiles, events_per_profile=per_profile)
    assert (files.profiles, files.events) == (profiles, events)
    con = _con(files)
    assert _one(con, "SELECT count(*) FROM p") == profiles
    assert _one(con, "SELECT count(*) FROM e") == events


def test_shipped_sample_is_what_the_documented_call_writes(tmp_path: Path) -> None:
    # Documented call: segmentation generate-demo --format csv --out sample_data (defaults).
    files = generate_demo(tmp_path)
    assert (files.profiles, files.events) == (5000, 125000)
    assert files.profiles_path.read_bytes() == (SHIPPED / "profiles.csv").read_bytes()
    assert files.events_path.read_bytes() == (SHIPPED / "events.csv.gz").read_bytes()
    shipped = sum(p.stat().st_size for p in SHIPPED.iterdir())
    assert shipped < 8 * 1024 * 1024


def test_cli_writes_the_same_files(tmp_path: Path) -> None:
    from segmentation.cli import main

    args = ["--out", str(tmp_path), "--profiles", "50", "--events-per-profile", "4"]
    assert main(["generate-demo", "--format", "csv", *args]) == 0
    again = generate_demo(tmp_path / "again", profiles=50, events_per_profile=4)
    assert (tmp_path / "events.csv.gz").read_bytes() == again.events_path.read_bytes()


@pytest.mark.parametrize(
    "bad",
    [
        {"profiles": 0},
        {"profiles": -5},
        {"profiles": 2.5},
        {"profiles": True},
        {"events_per_profile": -1},
        {"events_per_profile": float("nan")},
        {"seed": "42"},
        {"seed": 2**64},
        {"fmt": "xlsx"},
        {"end": "2026-01-01"},
    ],
)
def test_bad_arguments_are_refused_and_write_nothing(tmp_path: Path, bad: dict) -> None:
    with pytest.raises(InvalidInputError):
        generate_demo(tmp_path / "out", **bad)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# --- types as the loader will see them --------------------------------------------------


def test_csv_sniffer_types(ship: duckdb.DuckDBPyConnection) -> None:
    con = ship
    profile_types = dict(
        con.execute("SELECT column_name, column_type FROM (DESCRIBE p)").fetchall()
    )
    assert profile_types == {
        "profile_id": "VARCHAR",
        "email": "VARCHAR",
        "firstName": "VARCHAR",
        "lastName": "VARCHAR",
        "gender": "VARCHAR",
        "birthDate": "DATE",
        "country": "VARCHAR",
        "city": "VARCHAR",
        "homeAddress.countryCode": "VARCHAR",
        "signupDate": "DATE",
        "loyaltyTier": "VARCHAR",
        "emailOptIn": "BOOLEAN",
        "smsOptIn": "BOOLEAN",
        "interests": "VARCHAR",
        "lifetimeValue": "DOUBLE",
    }
    event_types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE e)").fetchall())
    assert event_types == {
        "profile_id": "VARCHAR",
        "eventType": "VARCHAR",
        "timestamp": "TIMESTAMP",
        "revenue": "DOUBLE",
        "category": "VARCHAR",
        "productId": "VARCHAR",
        "channel": "VARCHAR",
        "device": "VARCHAR",
        "campaign": "VARCHAR",
    }
    # interests is JSON-array text that DuckDB turns into a real list.
    assert _one(con, "SELECT count(*) FROM p WHERE interests::JSON::VARCHAR[] IS NULL") == _one(
        con, "SELECT count(*) FROM p WHERE interests IS NULL"
    )


def test_parquet_holds_the_same_data_with_real_lists(tmp_path: Path) -> None:
    csv = generate_demo(tmp_path / "csv", profiles=200, events_per_profile=10)
    pq = generate_demo(tmp_path / "pq", profiles=200, events_per_profile=10, fmt="parquet")
    assert pq.profiles_path.name == "profiles.parquet"
    assert pq.events_path.name == "events.parquet"
    con = duckdb.connect()
    types = dict(
        con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE '{pq.profiles_path}')"
        ).fetchall()
    )
    assert types["interests"] == "VARCHAR[]"
    assert types["birthDate"] == "DATE"
    diff = f"""
        SELECT count(*) FROM (
            SELECT * REPLACE (interests::JSON::VARCHAR[] AS interests)
            FROM read_csv('{csv.profiles_path}')
            EXCEPT ALL SELECT * FROM '{pq.profiles_path}')
    """
    assert _one(con, diff) == 0
    diff = f"""
        SELECT count(*) FROM (
            SELECT * FROM read_csv('{csv.events_path}') EXCEPT ALL SELECT * FROM '{pq.events_path}')
    """
    assert _one(con, diff) == 0


# --- consistency and domains ------------------------------------------------------------


def test_referential_integrity_and_unique_keys(ship: duckdb.DuckDBPyConnection) -> None:
    con = ship
    assert _one(con, "SELECT count(*) FROM e ANTI JOIN p USING (profile_id)") == 0
    assert _one(con, "SELECT count(DISTINCT profile_id) FROM p") == 5000
    assert _one(con, "SELECT count(DISTINCT email) FROM p") == 5000
    assert _one(con, "SELECT min(profile_id) FROM p") == "P000000"
    assert _one(con, "SELECT max(profile_id) FROM p") == "P004999"
    assert (
        _one(
            con,
            "SELECT count(*) FROM p WHERE NOT regexp_full_match("
            "email, '[a-z._]+[0-9]+@example\\.(com|net|org)')",
        )
        == 0
    )


@pytest.mark.parametrize(
    ("table", "column", "allowed"),
    [
        ("e", '"eventType"', _vocab.EVENT_TYPES),
        ("e", "channel", _vocab.CHANNELS),
        ("e", "device", _vocab.DEVICES),
        ("e", "category", [c[0] for c in _vocab.CATEGORIES]),
        ("e", "campaign", _vocab.CAMPAIGNS),
        ("p", '"loyaltyTier"', _vocab.LOYALTY_TIERS),
        ("p", "gender", _vocab.GENDERS),
        ("p", "country", [c[0] for c in _vocab.COUNTRIES]),
    ],
)
def test_value_domains(
    table: str, column: str, allowed: list[str], ship: duckdb.DuckDBPyConnection
) -> None:
    con = ship
    seen = {row[0] for row in con.execute(f"SELECT DISTINCT {column} FROM {table}").fetchall()}
    assert seen - {None} == set(allowed)  # every value used, nothing else


def test_profile_fields_hang_together(ship: duckdb.DuckDBPyConnection) -> None:
    con = ship
    assert _one(con, 'SELECT count(*) FROM p WHERE country <> "homeAddress.countryCode"') == 0
    cities = [(code, city) for code, _, _, names in _vocab.COUNTRIES for city in names]
    con.execute("CREATE OR REPLACE TEMP TABLE cities (country VARCHAR, city VARCHAR)")
    con.executemany("INSERT INTO cities VALUES (?, ?)", cities)
    wrong_city = "SELECT count(*) FROM p WHERE city IS NOT NULL AND (country, city) NOT IN (SELECT (country, city) FROM cities)"  # noqa: E501
    assert _one(con, wrong_city) == 0
    # optional fields: about 5% without city, 10% without birth date
    assert 0.03 < _one(con, "SELECT avg((city IS NULL)::INT) FROM p") < 0.07
    assert 0.07 < _one(con, 'SELECT avg(("birthDate" IS NULL)::INT) FROM p') < 0.13
    ages = con.execute(
        f"SELECT min(date_diff('year', \"birthDate\", {NOW})), max(date_diff('year', \"birthDate\", {NOW})) FROM p"  # noqa: E501
    ).fetchone()
    assert ages[0] >= 18 and ages[1] <= 80
    first, last = con.execute('SELECT min("signupDate"), max("signupDate") FROM p').fetchone()
    assert first >= dt.date(2023, 11, 27) and last <= dt.date(2026, 11, 27)
    tags = {
        t
        for (text,) in con.execute("SELECT interests FROM p WHERE interests IS NOT NULL").fetchall()
        for t in json.loads(text)
    }
    assert tags <= set(_vocab.INTERESTS)
    # tiers skew low: most profiles have none or bronze, few platinum
    tiers = dict(con.execute('SELECT "loyaltyTier", count(*) FROM p GROUP BY 1').fetchall())
    assert tiers["none"] > tiers["bronze"] > tiers["silver"] > tiers["gold"] > tiers["platinum"]


def test_lifetime_value_follows_purchases(ship: duckdb.DuckDBPyConnection) -> None:
    con = ship
    corr = _one(
        con,
        """SELECT corr("lifetimeValue", spent) FROM p
           JOIN (SELECT profile_id, sum(revenue) AS spent FROM e GROUP BY 1) USING (profile_id)""",
    )
    assert corr > 0.8
    # nobody is worth less than what they bought in the event window
    assert (
        _one(
            con,
            """SELECT count(*) FROM p JOIN (SELECT profile_id, sum(revenue) AS spent
                        FROM e GROUP BY 1) USING (profile_id)
                        WHERE "lifetimeValue" < coalesce(spent, 0) - 0.01""",
        )
        == 0
    )


def test_events_window_and_revenue(ship: duckdb.DuckDBPyConnection) -> None:
    con = ship
    first, last = con.execute("SELECT min(timestamp), max(timestamp) FROM e").fetchone()
    assert dt.datetime(2025, 5, 27, 23) <= first < dt.datetime(2025, 6, 3)
    assert dt.datetime(2026, 11, 27) <= last <= DEFAULT_END
    assert (
        _one(
            con,
            "SELECT count(*) FROM e WHERE (revenue IS NOT NULL) <> (\"eventType\" = 'purchase')",
        )
        == 0
    )
    assert _one(con, "SELECT min(revenue) FROM e") > 0
    # no event before the profile signed up
    assert (
        _one(
            con,
            'SELECT count(*) FROM e JOIN p USING (profile_id) WHERE timestamp::DATE < "signupDate"',
        )
        == 0
    )


def test_custom_end_moves_the_window(tmp_path: Path) -> None:
    end = dt.datetime(2024, 3, 31, 12, 0)
    files = generate_demo(tmp_path, profiles=200, events_per_profile=10, end=end)
    con = _con(files)
    first, last = con.execute("SELECT min(timestamp), max(timestamp) FROM e").fetchone()
    assert dt.datetime(2022, 9, 30, 12) <= first and last <= end
    assert _one(con, 'SELECT max("signupDate") FROM p') <= end.date()


# --- behaviour that makes segments interesting ------------------------------------------


def test_funnels_run_in_time_order(ship: duckdb.DuckDBPyConnection) -> None:
    con = ship
    # each purchase follows an add_to_cart and a checkout of the same product within an hour
    ordered = _one(
        con,
        """
        SELECT avg((EXISTS (SELECT 1 FROM e c WHERE c.profile_id = b.profile_id
                    AND c."eventType" = 'checkout' AND c."productId" = b."productId"
                    AND c.timestamp < b.timestamp AND c.timestamp > b.timestamp - INTERVAL 1 HOUR)
                AND EXISTS (SELECT 1 FROM e a WHERE a.profile_id = b.profile_id
                    AND a."eventType" = 'add_to_cart' AND a."productId" = b."productId"
                    AND a.timestamp < b.timestamp AND a.timestamp > b.timestamp - INTERVAL 1 HOUR)
               )::INT)
        FROM e b WHERE b."eventType" = 'purchase'
        """,
    )
    assert ordered > 0.97
    counts = dict(con.execute('SELECT "eventType", count(*) FROM e GROUP BY 1').fetchall())
    assert counts["product_view"] > counts["add_to_cart"] > counts["checkout"] > counts["purchase"]
    assert counts["email_sent"] > counts["email_open"] > counts["email_click"]


def test_seasonal_peaks_show_in_volume(ship: duckdb.DuckDBPyConnection) -> None:
    con = ship

    def per_day(first: str, last: str) -> float:
        return _one(
            con,
            f"SELECT count(*) / (DATE '{last}' - DATE '{first}' + 1) FROM e "
            f"WHERE timestamp::DATE BETWEEN DATE '{first}' AND DATE '{last}'",
        )

    autumn = per_day("2025-09-01", "2025-10-31")
    assert per_day("2025-11-22", "2025-12-02") > 1.5 * autumn  # Black Friday week
    assert per_day("2025-12-03", "2025-12-22") > 1.3 * autumn  # holiday shopping
    assert per_day("2026-03-10", "2026-04-10") > 1.3 * per_day("2026-01-05", "2026-02-28")


CART_ABANDONERS_30D = f"""
    SELECT count(*) FROM (
        SELECT profile_id,
            max(timestamp) FILTER (WHERE "eventType" = 'add_to_cart'
                AND timestamp >= {NOW} - INTERVAL 30 DAY) AS carted,
            max(timestamp) FILTER (WHERE "eventType" = 'purchase') AS bought
        FROM e GROUP BY 1)
    WHERE carted IS NOT NULL AND (bought IS NULL OR bought < carted)
"""
LAPSED_VIPS = f"""
    SELECT count(*) FROM p WHERE "loyaltyTier" IN ('gold', 'platinum')
    AND profile_id IN (SELECT profile_id FROM e WHERE "eventType" = 'purchase'
                       GROUP BY 1 HAVING sum(revenue) >= 500)
    AND profile_id NOT IN (SELECT profile_id FROM e WHERE "eventType" = 'purchase'
                           AND timestamp >= {NOW} - INTERVAL 6 MONTH)
"""


def test_small_sets_hold_the_behaviours(small: DemoFiles) -> None:
    con = _con(small)
    n = small.profiles
    assert 0.04 < _one(con, CART_ABANDONERS_30D) / n < 0.14
    assert 0.025 < _one(con, LAPSED_VIPS) / n < 0.08
    app_users = _one(
        con, "SELECT count(DISTINCT profile_id) FROM e WHERE \"eventType\" = 'app_open'"
    )
    assert app_users / n > 0.1


def test_shipped_sample_shares(ship: duckdb.DuckDBPyConnection) -> None:
    con = ship
    assert 0.07 < _one(con, CART_ABANDONERS_30D) / 5000 < 0.11  # ~8%
    assert 0.04 < _one(con, LAPSED_VIPS) / 5000 < 0.06  # ~5%


# --- example segments -------------------------------------------------------------------

# An independent answer for each example segment, in plain SQL over the files.
SEGMENT_SQL = {
    "Cart abandoners (last 7 days)": f"""
        SELECT profile_id FROM e WHERE "eventType" = 'add_to_cart'
            AND timestamp >= {NOW} - INTERVAL 7 DAY
        EXCEPT SELECT profile_id FROM e WHERE "eventType" = 'purchase'
            AND timestamp >= {NOW} - INTERVAL 7 DAY""",
    "Lapsed VIPs": LAPSED_VIPS.replace("SELECT count(*) FROM p", "SELECT profile_id FROM p"),
    "Email engagers (last 30 days)": f"""
        SELECT profile_id FROM e JOIN p USING (profile_id) WHERE "emailOptIn"
            AND "eventType" IN ('email_open', 'email_click')
            AND timestamp >= {NOW} - INTERVAL 30 DAY""",
    "High spenders (last 12 months)": f"""
        SELECT profile_id FROM e WHERE "eventType" = 'purchase'
            AND timestamp >= {NOW} - INTERVAL 1 YEAR GROUP BY 1 HAVING sum(revenue) > 500""",
    "New signups this month": """
        SELECT profile_id FROM p WHERE "signupDate" >= DATE '2026-11-01'""",
    "Outdoor browsers who bought within a day": """
        SELECT a.profile_id FROM e a JOIN e b ON a.profile_id = b.profile_id
        WHERE a."eventType" = 'product_view' AND a.category = 'outdoor'
            AND b."eventType" = 'purchase' AND b.timestamp > a.timestamp
            AND b.timestamp <= a.timestamp + INTERVAL 1 DAY""",
    "US runners": """
        SELECT profile_id FROM p WHERE "homeAddress.countryCode" = 'US'
            AND list_contains(interests::JSON::VARCHAR[], 'running')""",
    "App-first shoppers": f"""
        SELECT profile_id FROM e WHERE "eventType" = 'app_open'
            AND timestamp >= {NOW} - INTERVAL 90 DAY GROUP BY 1 HAVING count(*) >= 2""",
    "Black Friday buyers": """
        SELECT profile_id FROM e WHERE "eventType" = 'purchase' AND campaign = 'black_friday'""",
}
SEGMENT_SQL["Reachable high spenders"] = (
    f"({SEGMENT_SQL['High spenders (last 12 months)']}) "
    'INTERSECT SELECT profile_id FROM p WHERE "emailOptIn"'
)


def test_example_segments_are_well_formed() -> None:
    names = [s["name"] for s in DEMO_SEGMENTS]
    assert len(names) == len(set(names)) >= 6
    assert set(names) == set(SEGMENT_SQL)
    for spec in DEMO_SEGMENTS:
        assert set(spec) == {"name", "description", "pql", "tags"}
        assert spec["description"] and spec["pql"] and spec["tags"]


@pytest.mark.parametrize("name", sorted(SEGMENT_SQL))
def test_example_segment_finds_a_visible_group(name: str, ship: duckdb.DuckDBPyConnection) -> None:
    size = _one(ship, f"SELECT count(DISTINCT profile_id) FROM ({SEGMENT_SQL[name]})")
    assert 50 <= size <= 0.5 * 5000, f"{name}: {size} profiles"


def test_example_segments_parse_as_canonical_pql() -> None:
    pql = pytest.importorskip("segmentation.pql")
    for spec in DEMO_SEGMENTS:
        assert pql.to_pql(pql.parse(spec["pql"])) == spec["pql"]


def test_describe_demo() -> None:
    text = describe_demo()
    assert _vocab.BRAND in text
    assert 200 < len(text) < 1500

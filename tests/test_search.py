"""Search: the query syntax, segments, catalog fields, and profile lookup."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from segmentation.errors import InvalidInputError, NotFoundError
from segmentation.search import (
    SEGMENT_FIELDS,
    ProfileMatch,
    ProfileView,
    find_profiles,
    profile_view,
    search_fields,
    search_profile,
    search_segments,
)
from segmentation.search_query import SearchSyntaxError, parse
from segmentation.store import Database

T = dt.datetime

# the columns a test writes (the table has more, filled by later migrations)
INSERT_DEFINITION = (
    "INSERT INTO definitions (id, name, description, tags, expression, pql, version, "
    "created_at, updated_at) VALUES "
)
DEFINITIONS = [
    # id, name, description, tags, pql
    (
        "s-vip",
        "VIP customers",
        "High spenders in the gold tier",
        ["vip", "loyalty"],
        'loyaltyTier = "gold"',
    ),
    ("s-vipers", "Vipers fans", "Sports club members", ["sports"], 'team = "vipers"'),
    (
        "s-churn",
        "Churn risk",
        "No purchase in 90 days; not VIP yet",
        ["retention"],
        'not(chain(xEvent, timestamp, [X: WHAT(eventType.equals("purchase"))]))',
    ),
    (
        "s-fr",
        "France shoppers",
        "Lives in FR; blue umbrella buyers",
        ["geo", "eu"],
        'homeAddress.countryCode = "FR"',
    ),
    (
        "s-pct",
        "100% discount_hunters",
        "Uses codes like 50% off (a|b)",
        ["promo"],
        'coupon.startsWith("X")',
    ),
    ("s-cafe", "Café EMEA", "Régulars in Europe", ["geo", "high-value"], ""),
    ("s-drop", "'; DROP TABLE definitions; --", "hostile name", [], ""),
]


def _insert_definitions(db: Database) -> None:
    with db.write() as con:
        for seg_id, name, desc, tags, pql in DEFINITIONS:
            con.execute(
                INSERT_DEFINITION + "(?, ?, ?, ?, ?, ?, 1, ?, ?)",
                [seg_id, name, desc, tags, "{}", pql, T(2026, 1, 1), T(2026, 1, 1)],
            )


@pytest.fixture
def db() -> Database:
    db = Database.open(":memory:")
    _insert_definitions(db)
    yield db
    db.close()


@pytest.fixture(scope="module")
def shared_db() -> Database:
    """For the read-only table-driven tests: one database for the module."""
    db = Database.open(":memory:")
    _insert_definitions(db)
    yield db
    db.close()


def ids(hits) -> set[str]:
    return {h.id for h in hits}


# --- segment search: table-driven ------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("vip", {"s-vip", "s-vipers", "s-churn"}),  # a plain word matches anywhere
        ("VIP", {"s-vip", "s-vipers", "s-churn"}),  # case-insensitive
        ("vip*", {"s-vip", "s-vipers", "s-churn"}),
        ("vipe*", {"s-vipers"}),
        ("v?p", {"s-vip", "s-churn"}),  # one character, a whole word
        ("*ers", {"s-vip", "s-vipers", "s-fr", "s-pct"}),  # customers, discount_hunters
        ("name:vip", {"s-vip", "s-vipers"}),
        ("name:vip*", {"s-vip", "s-vipers"}),
        ("segmentName:vip", {"s-vip", "s-vipers"}),  # AEP's field name
        ("NAME: vip", {"s-vip", "s-vipers"}),  # field names ignore case; space allowed
        ("description:vip", {"s-churn"}),
        ("tags:geo", {"s-fr", "s-cafe"}),
        ("tags:high-value", {"s-cafe"}),
        ("tags:value", {"s-cafe"}),
        ("pql:gold", {"s-vip"}),
        ("gold", {"s-vip"}),  # description and pql are searched too
        ("id:s-fr", {"s-fr"}),
        ("vip customers", {"s-vip"}),  # implicit AND
        ("vip AND customers", {"s-vip"}),
        ("vip OR geo", {"s-vip", "s-vipers", "s-churn", "s-fr", "s-cafe"}),
        ("vip NOT churn", {"s-vip", "s-vipers"}),
        ("vip -churn", {"s-vip", "s-vipers"}),
        ("vip -name:fans", {"s-vip", "s-churn"}),
        ("NOT vip", {"s-fr", "s-pct", "s-cafe", "s-drop"}),
        ("-(vip OR geo)", {"s-pct", "s-drop"}),
        ("(vip OR geo) AND NOT tags:eu", {"s-vip", "s-vipers", "s-churn", "s-cafe"}),
        ("geo OR vip AND sports", {"s-fr", "s-cafe", "s-vipers"}),  # AND binds tighter
        ("tags:(sports OR promo)", {"s-vipers", "s-pct"}),
        ('"blue umbrella"', {"s-fr"}),
        ('"umbrella blue"', set()),
        ('"blue    umbrella"', {"s-fr"}),
        ('name:"churn risk"', {"s-churn"}),
        ("café", {"s-cafe"}),
        ("RÉGULARS", {"s-cafe"}),
        ("non-vip", set()),
        # hostile and special characters are literal
        ("%", {"s-pct"}),
        ("100%", {"s-pct"}),
        ("_", {"s-pct"}),
        ("discount_hunters", {"s-pct"}),
        ("(a|b)", {"s-pct"}),  # a group holding the word "a|b", not a regex
        ("a.b", set()),
        ('"(a|b)"', {"s-pct"}),
        ("a|b", {"s-pct"}),
        (".*", set()),
        ('"[X:"', {"s-churn"}),
        ("'; DROP TABLE definitions; --", {"s-drop"}),
        ('"\'; DROP"', {"s-drop"}),
        ("\\*", set()),
        ("zzz", set()),
        # a catalog field (the page shares one box): matches no segment, not an error
        ("type:boolean", set()),
        ("vip -source:event", {"s-vip", "s-vipers", "s-churn"}),
        ("", {d[0] for d in DEFINITIONS}),  # empty lists everything
        ("   ", {d[0] for d in DEFINITIONS}),
    ],
)
def test_segment_queries(shared_db, query, expected):
    assert ids(search_segments(shared_db, query)) == expected


def test_lowercase_and_is_a_word(db):
    # "and" is searched as text, anywhere, like any other lower-case word
    hits = {h.id for h in search_segments(db, "and")}
    texts = {
        d[0]
        for d in DEFINITIONS
        if any("and" in (v or "").lower() for v in (d[1], d[2], d[4], *d[3]))
    }
    assert hits == texts


def test_name_matches_rank_first(db):
    hits = search_segments(db, "vip")
    assert [h.id for h in hits][:2] == ["s-vip", "s-vipers"]  # names, alphabetical
    assert hits[2].id == "s-churn"  # description only
    assert hits[0].matched_fields == ["name", "tags"]
    assert hits[2].matched_fields == ["description"]
    assert "**VIP**" in hits[2].snippet


def test_exact_name_ranks_above_partial(db):
    hits = search_segments(db, '"Churn risk" OR risk OR vip')
    assert hits[0].id == "s-churn"


def test_snippet_is_short_with_the_match(db):
    with db.write() as con:
        con.execute(
            INSERT_DEFINITION + "('s-long', 'Long', ?, [], '{}', '', 1, now(), now())",
            ["lorem ipsum " * 30 + "needle " + "dolor sit " * 30],
        )
    hit = search_segments(db, "needle")[0]
    assert hit.id == "s-long"
    assert "**needle**" in hit.snippet
    assert len(hit.snippet) < 100
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")


def test_limit(db):
    assert len(search_segments(db, "", limit=2)) == 2
    with pytest.raises(InvalidInputError, match="limit"):
        search_segments(db, "", limit=0)


def test_search_leaves_the_tables_alone(db):
    search_segments(db, "'; DROP TABLE definitions; --")
    assert db.scalar("SELECT count(*) FROM definitions") == len(DEFINITIONS)


# --- parse errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "column", "reason"),
    [
        ('vip "gold', 5, "never closed"),
        ("(vip OR gold", 1, "never closed"),
        ("vip)", 4, "without a matching"),
        ("vip AND", 8, "ends where a word was expected"),
        ("OR vip", 1, "needs a word on both sides"),
        ("vip OR OR gold", 8, "needs a word"),
        ("()", 2, "empty parentheses"),
        ("colour:red", 1, "unknown field 'colour'"),
        ("name:", 6, "nothing to search for"),
        ("name: OR x", 7, "nothing to search for"),
        ("vip - gold", 5, "'-' must be followed"),
        (":vip", 1, "unexpected ':'"),
        ('""', 1, "empty phrase"),
        ("name:(tags:x)", 7, "inside field"),
        ("nul\x00", 4, "NUL"),
    ],
)
def test_parse_errors_have_a_position(shared_db, query, column, reason):
    with pytest.raises(SearchSyntaxError) as info:
        search_segments(shared_db, query)
    err = info.value
    assert isinstance(err, InvalidInputError)
    assert err.column == column
    assert reason in err.message
    assert f"column {column}" in err.message
    assert err.message.splitlines()[-1].index("^") - 2 == column - 1  # the caret lines up


def test_too_long_or_too_deep(db):
    with pytest.raises(InvalidInputError, match="at most"):
        search_segments(db, "a " * 600)
    with pytest.raises(SearchSyntaxError, match="nested"):
        search_segments(db, "(" * 40 + "a" + ")" * 40)


@pytest.mark.timeout(60)  # a hang guard: the old pattern took hours on this word
def test_many_wildcards_match_in_linear_time(db):
    long_word = "a" * 5000
    with db.write() as con:
        con.execute(
            INSERT_DEFINITION + "('s-long', ?, '', [], '{}', '', 1, ?, ?)",
            [f"{long_word} {long_word}b", T(2026, 1, 1), T(2026, 1, 1)],
        )
    # eight leading stars before "b": a backtracking regex tries every split of the word
    assert ids(search_segments(db, "*a*a*a*a*a*a*a*a*b")) == {"s-long"}
    assert ids(search_segments(db, "*a*a*a*a*a*a*a*a*c")) == set()
    with pytest.raises(InvalidInputError, match="at most 1,000"):
        find_profiles(db, "x" * 1001)


@pytest.mark.parametrize(
    ("query", "text", "found"),
    [
        ("*a*b", "xaab", True),
        ("*a*b", "xaabx", False),  # the word must end after the last piece
        ("a*b*c", "abcbc", True),
        ("*ab*b", "aabb", True),
        ("?b*", "abab", True),
        ("home*.country*", "x.homeAddress.countryCode", True),
        ("*b", "abab", True),
        ("*b", "aba", False),
        ("a**b", "ab", True),
    ],
)
def test_wildcard_words_keep_their_meaning(query, text, found):
    node = parse(query, SEGMENT_FIELDS)
    assert bool(node.pattern.search(text)) is found


def test_unknown_field_lists_the_known_ones(catalog_db):
    with pytest.raises(SearchSyntaxError, match="description, id, name, pql, tags"):
        parse("segmentFolder:x", SEGMENT_FIELDS)
    with pytest.raises(SearchSyntaxError, match="unknown field 'colour'"):
        search_fields(catalog_db, "colour:red")


# --- field search -----------------------------------------------------------------------------


@pytest.fixture
def catalog_db(db: Database) -> Database:
    rows = [
        ("loyaltyTier", "profile", "VARCHAR", json.dumps([["gold", 40], ["silver", 30]])),
        ("homeAddress.countryCode", "profile", "VARCHAR", json.dumps(["FR", "US", "DE"])),
        ("age", "profile", "BIGINT", json.dumps([{"value": 31, "count": 3}])),
        ("revenue", "event", "DOUBLE", None),
        ("category", "event", "VARCHAR", json.dumps({"golf": 10, "shoes": 4})),
        ("eventType", "event", "VARCHAR", "not json"),
    ]
    with db.write() as con:
        for name, source, type_, top in rows:
            con.execute(
                "INSERT INTO catalog VALUES (?, ?, ?, 0.1, 10, false, NULL, NULL, ?, now())",
                [name, source, type_, top],
            )
    return db


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("gold", ["loyaltyTier"]),  # a top value
        ("gol*", ["category", "loyaltyTier"]),  # golf, gold
        ("country", ["homeAddress.countryCode"]),  # inside a dotted name
        ("countryCode", ["homeAddress.countryCode"]),
        ("fr", ["homeAddress.countryCode"]),
        ("31", ["age"]),
        ("source:event", ["category", "eventType", "revenue"]),
        ("type:double", ["revenue"]),
        ("type:varchar AND source:profile", ["homeAddress.countryCode", "loyaltyTier"]),
        ("tier OR shoes", ["loyaltyTier", "category"]),
        ("%", []),
        ("tags:geo", []),  # a segment field: no catalog field has tags
        ("name:gold OR tags:geo", []),
        ("not json", ["eventType"]),  # an unreadable top value is kept as text
    ],
)
def test_field_queries(catalog_db, query, expected):
    assert [h.name for h in search_fields(catalog_db, query)] == expected


def test_field_hit_details(catalog_db):
    (hit,) = search_fields(catalog_db, "gold")
    assert hit.source == "profile" and hit.type == "VARCHAR"
    assert hit.top_values == ["gold", "silver"]
    assert hit.matched_values == ["gold"]
    assert hit.matched_fields == ["values"]


def test_field_name_matches_rank_first(catalog_db):
    with catalog_db.write() as con:
        con.execute(
            "INSERT INTO catalog VALUES ('goldMember', 'profile', 'BOOLEAN', 0, 2, false, "
            "NULL, NULL, NULL, now())"
        )
    assert [h.name for h in search_fields(catalog_db, "gold")] == ["goldMember", "loyaltyTier"]


# --- profile lookup ---------------------------------------------------------------------------


@pytest.fixture
def people(db: Database) -> Database:
    with db.write() as con:
        con.execute(
            'CREATE TABLE profiles (profile_id VARCHAR, "personalEmail.address" VARCHAR, '
            '"mobilePhone.number" VARCHAR, "crmId" VARCHAR, "loyaltyTier" VARCHAR, '
            "age BIGINT, notes VARCHAR)"
        )
        con.execute(
            "INSERT INTO profiles VALUES "
            "('p1', 'Ann@Example.com', '+1 (555) 010-2000', 'CRM-1', 'gold', 31, 'p2'),"
            "('p2', 'bob@example.com', '555 010 3000', 'CRM-2', 'silver', 45, NULL),"
            "('p3', 'shared@example.com', NULL, 'CRM-3', NULL, 22, NULL),"
            "('p4', 'SHARED@example.com', NULL, 'p1', NULL, 60, NULL),"
            "('''; DROP TABLE profiles; --', 'evil@example.com', NULL, NULL, NULL, 1, NULL)"
        )
        con.execute(
            'CREATE TABLE events (profile_id VARCHAR, "eventType" VARCHAR, '
            '"timestamp" TIMESTAMP, revenue DOUBLE)'
        )
        con.execute(
            "INSERT INTO events SELECT 'p1', 'view', "
            "TIMESTAMP '2026-01-01' + INTERVAL (range) HOUR, range FROM range(30)"
        )
        con.execute("INSERT INTO events VALUES ('p2', 'purchase', TIMESTAMP '2026-03-01', 9.5)")
        con.execute(
            "INSERT INTO memberships (segment_id, profile_id, status, "
            "last_qualification_time, version) VALUES "
            "('s-vip', 'p1', 'realized', TIMESTAMP '2026-01-10', 1),"
            "('s-churn', 'p1', 'exited', TIMESTAMP '2026-01-02', 3),"
            "('s-gone', 'p1', 'existing', TIMESTAMP '2026-01-03', 1),"  # definition deleted
            "('s-fr', 'p2', 'existing', TIMESTAMP '2026-01-04', 1)"
        )
    return db


def test_profile_by_id(people):
    view = search_profile(people, "p1")
    assert isinstance(view, ProfileView)
    assert view.profile_id == "p1"
    assert view.attributes["loyaltyTier"] == "gold"
    assert view.attributes["age"] == 31
    assert view.attributes["personalEmail.address"] == "Ann@Example.com"
    # newest first, at most events_limit
    assert len(view.events) == 20
    assert list(view.events["revenue"][:3]) == [29.0, 28.0, 27.0]
    assert [(m.segment_id, m.segment_name, m.status) for m in view.memberships] == [
        ("s-churn", "Churn risk", "exited"),
        ("s-vip", "VIP customers", "realized"),
    ]
    assert view.memberships[1].last_qualification_time == T(2026, 1, 10)


def test_profile_by_email_ignores_case(people):
    view = search_profile(people, "  ann@EXAMPLE.com ", events_limit=5)
    assert isinstance(view, ProfileView)
    assert view.profile_id == "p1"
    assert len(view.events) == 5


def test_profile_by_phone_digits_and_other_id(people):
    assert search_profile(people, "555-010-3000").profile_id == "p2"
    assert search_profile(people, "CRM-2").profile_id == "p2"
    assert search_profile(people, "crm-2") is None  # ids other than email are exact


def test_profile_id_wins_over_other_identities(people):
    # p4's crmId is "p1": the profile_id p1 is returned, p4 is a candidate
    assert [m.profile_id for m in find_profiles(people, "p1")] == ["p1", "p4"]
    assert search_profile(people, "p1").profile_id == "p1"


def test_several_matches_give_candidates(people):
    result = search_profile(people, "shared@example.com")
    assert result == [
        ProfileMatch(profile_id="p3", matched_column="personalEmail.address"),
        ProfileMatch(profile_id="p4", matched_column="personalEmail.address"),
    ]
    view = profile_view(people, "p4")
    assert view.memberships == [] and view.events.empty


@pytest.mark.parametrize(
    "term",
    ["nobody", "", "   ", "%", "_", "p%", ".*", "' OR '1'='1", "'; DROP TABLE profiles; --x"],
)
def test_no_match_is_none_and_literal(people, term):
    assert search_profile(people, term) is None
    assert people.scalar("SELECT count(*) FROM profiles") == 5


def test_hostile_profile_id_is_just_a_value(people):
    view = search_profile(people, "'; DROP TABLE profiles; --")
    assert view.attributes["personalEmail.address"] == "evil@example.com"
    assert people.table_exists("profiles")


def test_notes_column_is_not_an_identity(people):
    # notes holds "p2" but is not an identity column
    assert [m.profile_id for m in find_profiles(people, "p2")] == ["p2"]


def test_profile_view_unknown(people):
    with pytest.raises(NotFoundError, match="nobody"):
        profile_view(people, "nobody")


def test_no_profiles_table(db):
    assert search_profile(db, "p1") is None
    with pytest.raises(NotFoundError, match="no profiles"):
        profile_view(db, "p1")


def test_profile_without_events_table(db):
    with db.write() as con:
        con.execute("CREATE TABLE profiles (profile_id VARCHAR, email VARCHAR)")
        con.execute("INSERT INTO profiles VALUES ('x1', 'x@example.com')")
    view = search_profile(db, "X@example.com")
    assert view.profile_id == "x1" and view.events.empty and view.memberships == []

"""Ingestion: happy paths for CSV and Parquet, and every bad input leaving stored data intact."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from segmentation.errors import InvalidInputError
from segmentation.ingest import ingest
from segmentation.store import Database

PROFILES = (
    "profile_id,age,signupDate,vip\n"
    "p1,30,2024-01-05,true\np2,40,2024-02-01,false\np3,,2024-03-01,\n"
)
EVENTS = (
    "profile_id,eventType,timestamp,revenue\n"
    "p1,purchase,2024-03-01 10:00:00,10.5\n"
    "p1,view,2024-03-02 11:00:00,\n"
    "p2,view,2024-03-03 12:00:00,\n"
)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def write_parquet(db: Database, path: Path, select_sql: str) -> Path:
    db.connection().sql(select_sql).write_parquet(str(path))
    return path


@pytest.fixture
def db():
    database = Database.open(":memory:")
    yield database
    database.close()


@pytest.fixture
def loaded(db: Database, tmp_path: Path) -> Database:
    """A workspace holding 3 profiles and 3 events, loaded from CSV."""
    ingest(db, "profiles", write(tmp_path, "base_profiles.csv", PROFILES))
    ingest(db, "events", write(tmp_path, "base_events.csv", EVENTS))
    return db


def snapshot(db: Database) -> tuple:
    return (
        db.rows("SELECT * FROM profiles ORDER BY profile_id"),
        db.columns("profiles"),
        db.rows('SELECT * FROM events ORDER BY profile_id, "timestamp"'),
        db.columns("events"),
        db.scalar("SELECT count(*) FROM loads"),
        db.rows("SELECT name, source, type FROM catalog ORDER BY ALL"),
    )


# --- happy paths ---------------------------------------------------------------------


def test_csv_profiles_and_events_load_with_report(loaded: Database) -> None:
    assert loaded.columns("profiles") == [
        ("profile_id", "VARCHAR"),
        ("age", "BIGINT"),
        ("signupDate", "DATE"),
        ("vip", "BOOLEAN"),
    ]
    assert loaded.columns("events") == [
        ("profile_id", "VARCHAR"),
        ("eventType", "VARCHAR"),
        ("timestamp", "TIMESTAMP"),
        ("revenue", "DOUBLE"),
    ]
    assert loaded.rows("SELECT * FROM profiles ORDER BY 1")[0] == ("p1", 30, date(2024, 1, 5), True)
    loads = loaded.rows("SELECT table_name, mode, source, rows_read, rows_loaded FROM loads")
    assert sorted(loads) == [
        ("events", "replace", "base_events.csv", 3, 3),
        ("profiles", "replace", "base_profiles.csv", 3, 3),
    ]
    names = loaded.rows("SELECT source, name FROM catalog ORDER BY ALL")
    assert ("event", "revenue") in names and ("profile", "vip") in names


def test_report_counts_problems_and_summary(loaded: Database, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ev.csv",
        "profile_id,eventType,timestamp\n"
        "p1,view,2024-03-04 10:00:00\n"
        "nobody,view,2024-03-04 10:00:00\n"
        "p2,view,yesterday-ish\n"
        "ghost,view,2024-03-04 10:00:00\n",
    )
    report = ingest(loaded, "events", path, mode="append", original_name="upload.csv")
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (4, 1, 3)
    assert report.problem_counts == {"unknown profile": 2, "unparseable timestamp": 1}
    assert report.summary() == (
        "Loaded 1 of 4 rows into events; 3 rejected (unknown profile: 2, unparseable timestamp: 1)"
    )
    assert [(p.row, p.column, p.value, p.reason) for p in report.problems] == [
        (2, "profile_id", "nobody", "unknown profile"),
        (3, "timestamp", "yesterday-ish", "unparseable timestamp"),
        (4, "profile_id", "ghost", "unknown profile"),
    ]
    assert report.source == "upload.csv" and report.table == "events" and report.mode == "append"
    assert ("timestamp", "TIMESTAMP") in [(c.name, c.type) for c in report.columns]
    assert loaded.scalar("SELECT count(*) FROM events") == 4
    assert loaded.scalar("SELECT rows_rejected FROM loads WHERE source = 'upload.csv'") == 3


def test_summary_without_rejections(db: Database, tmp_path: Path) -> None:
    report = ingest(db, "profiles", write(tmp_path, "p.csv", PROFILES))
    assert report.summary() == "Loaded 3 of 3 rows into profiles."
    assert report.elapsed_seconds >= 0 and report.problems == []


def test_parquet_by_extension_and_by_magic_bytes(db: Database, tmp_path: Path) -> None:
    write_parquet(
        db,
        tmp_path / "profiles.parquet",
        "SELECT 'p' || i AS id, i * 10 AS score, ['a', 'b'][1:(i % 2) + 1] AS tags, "
        "{'countryCode': 'FR'} AS address FROM range(1, 4) t(i)",
    )
    report = ingest(db, "profiles", tmp_path / "profiles.parquet")
    assert report.rows_loaded == 3
    assert db.columns("profiles") == [
        ("profile_id", "VARCHAR"),
        ("score", "BIGINT"),
        ("tags", "VARCHAR[]"),
        ("address", "STRUCT(countryCode VARCHAR)"),
    ]
    assert db.rows("SELECT tags FROM profiles ORDER BY profile_id") == [
        (["a", "b"],),
        (["a"],),
        (["a", "b"],),
    ]
    events = write_parquet(
        db,
        tmp_path / "events.bin",  # no telling extension: recognised by its PAR1 header
        "SELECT 'p' || (i % 3 + 1) AS profileId, 'view' AS event_type, "
        "TIMESTAMPTZ '2024-03-01 12:00:00+02:00' + to_hours(i) AS occurred_at, "
        "i * 1.5 AS revenue FROM range(5) t(i)",
    )
    report = ingest(db, "events", events)
    assert report.rows_loaded == 5
    assert db.columns("events")[:3] == [
        ("profile_id", "VARCHAR"),
        ("eventType", "VARCHAR"),
        ("timestamp", "TIMESTAMP"),
    ]
    assert db.scalar('SELECT min("timestamp") FROM events') == datetime(2024, 3, 1, 10, 0)


def test_dotted_names_and_json_list_columns(db: Database, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.csv",
        "customer_id,homeAddress.countryCode,interests,note\n"
        'c1,FR,"[""golf"",""wine""]",[draft]\n'
        'c2,DE,"[]",plain\n'
        "c3,US,,\n",
    )
    ingest(db, "profiles", path)
    assert db.columns("profiles") == [
        ("profile_id", "VARCHAR"),
        ("homeAddress.countryCode", "VARCHAR"),
        ("interests", "VARCHAR[]"),
        ("note", "VARCHAR"),  # not every value is a JSON array: stays text
    ]
    assert db.rows('SELECT "homeAddress.countryCode", interests FROM profiles ORDER BY 1') == [
        ("DE", []),
        ("FR", ["golf", "wine"]),
        ("US", None),
    ]


def test_append_adds_new_columns_and_fills_missing_with_null(
    loaded: Database, tmp_path: Path
) -> None:
    path = write(tmp_path, "more.csv", "profile_id,age,loyaltyTier\np4,50,gold\n")
    report = ingest(loaded, "profiles", path, mode="append")
    assert report.rows_loaded == 1
    assert loaded.columns("profiles")[-1] == ("loyaltyTier", "VARCHAR")
    assert loaded.rows("SELECT profile_id, age, vip, loyaltyTier FROM profiles ORDER BY 1") == [
        ("p1", 30, True, None),
        ("p2", 40, False, None),
        ("p3", None, None, None),
        ("p4", 50, None, "gold"),
    ]


def test_append_widens_values_into_stored_types(loaded: Database, tmp_path: Path) -> None:
    # "007" is read as text because profiles already store ids as text.
    path = write(tmp_path, "more.csv", "profile_id,age\n007,51\n")
    ingest(loaded, "profiles", path, mode="append")
    assert loaded.one("SELECT profile_id, age FROM profiles WHERE profile_id = '007'") == (
        "007",
        51,
    )


def test_replace_swaps_the_whole_table(loaded: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "new.csv", "id,city\nx1,Paris\n")
    ingest(loaded, "profiles", path)
    assert loaded.columns("profiles") == [("profile_id", "VARCHAR"), ("city", "VARCHAR")]
    assert loaded.rows("SELECT * FROM profiles") == [("x1", "Paris")]


@pytest.mark.parametrize(
    ("rows", "types", "loaded_ids", "rejected"),
    [
        # a bad value among good ones: the column keeps its type, the row is rejected
        (
            "p1,1990-04-12,120.5\np2,1985-13-45,88\np3,1979-01-01,10\np4,2001-07-30,abc\n",
            {"birthDate": "DATE", "ltv": "DOUBLE"},
            ["p1", "p3"],
            {"p2": "not a date", "p4": "not a number"},
        ),
        # mostly not the stored type any more: the file's text wins (zip codes now text)
        (
            "p1,unknown,A-12\np2,1985-01-02,B-7\np3,n/a,C3\n",
            {"birthDate": "VARCHAR", "ltv": "VARCHAR"},
            ["p1", "p2", "p3"],
            {},
        ),
    ],
)
def test_replace_keeps_a_stored_type_that_most_values_fit(
    db: Database, tmp_path: Path, rows, types, loaded_ids, rejected
) -> None:
    ingest(db, "profiles", write(tmp_path, "old.csv", "id,birthDate,ltv\nq1,1970-01-01,1.5\n"))
    report = ingest(db, "profiles", write(tmp_path, "new.csv", "id,birthDate,ltv\n" + rows))
    assert {n: t for n, t in db.columns("profiles") if n in types} == types
    assert [r[0] for r in db.rows("SELECT profile_id FROM profiles ORDER BY 1")] == loaded_ids
    assert report.rows_rejected == len(rejected)
    assert {p.reason for p in report.problems} == set(rejected.values())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T10:00:00Z", datetime(2024, 3, 1, 10, 0)),
        ("2024-03-01 10:00:00+02:00", datetime(2024, 3, 1, 8, 0)),
        ("2024-03-01T10:00:00-0500", datetime(2024, 3, 1, 15, 0)),
        ("2024-03-01 10:00:00", datetime(2024, 3, 1, 10, 0)),
        ("2024-03-01", datetime(2024, 3, 1, 0, 0)),
        ("1709287200", datetime(2024, 3, 1, 10, 0)),
        ("1709287200000", datetime(2024, 3, 1, 10, 0)),
    ],
)
def test_timestamps_are_stored_as_naive_utc(
    loaded: Database, tmp_path: Path, text: str, expected: datetime
) -> None:
    # A plain row first, so the column holds mixed formats and is parsed as text.
    path = write(
        tmp_path,
        "ev.csv",
        f"profile_id,eventType,timestamp\np1,a,not a time\np1,b,{text}\n",
    )
    report = ingest(loaded, "events", path)
    assert report.rows_loaded == 1
    assert loaded.scalar('SELECT "timestamp" FROM events') == expected


def test_timestamp_offsets_converted_when_the_reader_types_the_column(
    db: Database, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "ev.csv",
        "id,type,ts\nu1,a,2024-03-01 10:00:00+02:00\nu2,b,2024-03-01 23:30:00-01:00\n",
    )
    report = ingest(db, "events", path)
    assert report.warnings and "No profiles are loaded yet" in report.warnings[0]
    assert db.rows('SELECT "timestamp" FROM events ORDER BY 1') == [
        (datetime(2024, 3, 1, 8, 0),),
        (datetime(2024, 3, 2, 0, 30),),
    ]


@pytest.mark.parametrize(
    ("header", "kwargs"),
    [
        ("profileId,type,ts", {}),
        ("CUSTOMER_ID,event,event_time", {}),
        ("identityMap.ECID,name,occurred_at", {}),
        (
            "who,what,when",
            {"id_column": "WHO", "event_type_column": "what", "timestamp_column": "when"},
        ),
    ],
)
def test_role_columns_detected_or_named(
    db: Database, tmp_path: Path, header: str, kwargs: dict
) -> None:
    path = write(tmp_path, "ev.csv", f"{header}\nu1,view,2024-03-01 10:00:00\n")
    ingest(db, "events", path, **kwargs)
    assert db.rows('SELECT profile_id, "eventType", "timestamp" FROM events') == [
        ("u1", "view", datetime(2024, 3, 1, 10, 0))
    ]


def test_shift_to_now_moves_events_and_profile_dates(db: Database, tmp_path: Path) -> None:
    now = datetime(2030, 6, 15, 12, 0, tzinfo=UTC)
    ingest(db, "profiles", write(tmp_path, "p.csv", PROFILES))
    report = ingest(db, "events", write(tmp_path, "e.csv", EVENTS), shift_to_now=now)
    assert db.scalar('SELECT max("timestamp") FROM events') == datetime(2030, 6, 15, 12, 0)
    shift = datetime(2030, 6, 15, 12, 0) - datetime(2024, 3, 3, 12, 0)
    assert report.time_shift_seconds == shift.total_seconds()
    assert db.get_meta("events_time_shift_seconds") == str(shift.total_seconds())
    assert db.scalar('SELECT min("timestamp") FROM events') == datetime(2024, 3, 1, 10) + shift
    # Profiles loaded afterwards move their signup/last dates by the same whole days.
    ingest(db, "profiles", write(tmp_path, "p2.csv", PROFILES), shift_to_now=now)
    assert db.scalar("SELECT max(signupDate) FROM profiles") == date(2024, 3, 1) + timedelta(
        days=shift.days
    )
    assert db.get_meta("profiles_time_shift_days") == str(shift.days)


def test_shift_to_now_for_profiles_loaded_first(db: Database, tmp_path: Path) -> None:
    now = datetime(2030, 1, 10, 9, 0, tzinfo=timezone(timedelta(hours=2)))
    ingest(db, "profiles", write(tmp_path, "p.csv", PROFILES), shift_to_now=now)
    assert db.scalar("SELECT max(signupDate) FROM profiles") == date(2030, 1, 10)
    assert db.scalar("SELECT age FROM profiles WHERE profile_id = 'p1'") == 30


def test_type_guess_beyond_the_sniff_sample_is_corrected(db: Database, tmp_path: Path) -> None:
    rows = [f"p{i},{i}" for i in range(30_000)] + ["p30000,12.5x"]
    path = write(tmp_path, "p.csv", "profile_id,code\n" + "\n".join(rows) + "\n")
    report = ingest(db, "profiles", path)
    assert report.rows_loaded == 30_001
    assert ("code", "VARCHAR") in db.columns("profiles")


def test_bad_timestamp_beyond_the_sniff_sample_is_a_row_problem(
    db: Database, tmp_path: Path
) -> None:
    rows = [f"p{i},view,2024-03-01 10:00:00" for i in range(25_000)]
    rows[24_000] = "p24000,view,31/31/2024"
    path = write(tmp_path, "e.csv", "profile_id,eventType,timestamp\n" + "\n".join(rows) + "\n")
    report = ingest(db, "events", path)
    assert report.rows_rejected == 1
    assert (report.problems[0].row, report.problems[0].value) == (24_001, "31/31/2024")
    assert db.columns("events")[2] == ("timestamp", "TIMESTAMP")


def test_rows_numbers_survive_the_checks_on_a_larger_file(loaded: Database, tmp_path: Path) -> None:
    rows = [f"p{1 + i % 3},view,2024-03-01 10:00:00" for i in range(5_000)]
    for bad in (17, 2_500, 4_999):
        rows[bad - 1] = f"stranger{bad},view,2024-03-01 10:00:00"
    path = write(tmp_path, "e.csv", "profile_id,eventType,timestamp\n" + "\n".join(rows) + "\n")
    report = ingest(loaded, "events", path)
    assert [(p.row, p.value) for p in report.problems] == [
        (17, "stranger17"),
        (2_500, "stranger2500"),
        (4_999, "stranger4999"),
    ]


# --- row-level problems: good rows load, bad ones are reported, stored data kept ---------


def test_duplicate_profile_ids_within_file_and_against_stored(
    loaded: Database, tmp_path: Path
) -> None:
    before = loaded.rows("SELECT * FROM profiles ORDER BY 1")
    path = write(tmp_path, "more.csv", "profile_id,age\np4,1\np4,2\np1,99\np5,3\n")
    report = ingest(loaded, "profiles", path, mode="append")
    assert report.problem_counts == {"duplicate profile id": 2}
    assert [(p.row, p.column, p.value, p.detail) for p in report.problems] == [
        (2, "profile_id", "p4", "first seen in row 1"),
        (3, "profile_id", "p1", "already loaded"),
    ]
    after = loaded.rows("SELECT * FROM profiles ORDER BY 1")
    assert after[:3] == before  # p1 keeps age 30
    assert [r[:2] for r in after[3:]] == [("p4", 1), ("p5", 3)]


def test_missing_ids_and_event_types_rejected(loaded: Database, tmp_path: Path) -> None:
    before = snapshot(loaded)
    path = write(
        tmp_path,
        "ev.csv",
        "profile_id,eventType,timestamp\n,view,2024-03-05 00:00:00\np1,,2024-03-05 00:00:00\n"
        "p1,view,2024-03-05 00:00:00\n",
    )
    report = ingest(loaded, "events", path, mode="append")
    assert [(p.row, p.column, p.reason) for p in report.problems] == [
        (1, "profile_id", "missing id"),
        (2, "eventType", "missing event type"),
    ]
    after = loaded.rows('SELECT * FROM events ORDER BY profile_id, "timestamp"')
    assert set(before[2]) <= set(after) and len(after) == len(before[2]) + 1


def test_unparseable_timestamps_rejected_with_row_and_value(
    loaded: Database, tmp_path: Path
) -> None:
    before = snapshot(loaded)
    path = write(
        tmp_path,
        "ev.csv",
        "profile_id,eventType,timestamp\np1,view,2024-03-05 00:00:00\np2,view,32/13/2024\n"
        "p2,view,\n",
    )
    report = ingest(loaded, "events", path, mode="append")
    assert [(p.row, p.column, p.value, p.reason) for p in report.problems] == [
        (2, "timestamp", "32/13/2024", "unparseable timestamp"),
        (3, "timestamp", None, "missing timestamp"),
    ]
    after = loaded.rows('SELECT * FROM events ORDER BY profile_id, "timestamp"')
    assert set(before[2]) <= set(after) and len(after) == len(before[2]) + 1


def test_events_of_unknown_profiles_rejected(loaded: Database, tmp_path: Path) -> None:
    before = snapshot(loaded)
    path = write(tmp_path, "ev.csv", "profile_id,eventType,timestamp\nzz,view,2024-03-05\n")
    with pytest.raises(InvalidInputError) as err:
        ingest(loaded, "events", path, mode="append")
    assert "Every row of ev.csv was rejected (unknown profile: 1)" in err.value.message
    assert "row 1, column 'profile_id': unknown profile ('zz')" in err.value.message
    assert snapshot(loaded) == before


# --- bad input: an error that says what and where, and nothing changed -------------------

BAD_INPUTS = [
    pytest.param(
        "profiles",
        "people.csv",
        "name,age\nAda,36\n",
        {},
        ["people.csv has no id column", "Columns found: 'name', 'age'", "id_column="],
        id="missing-id-column",
    ),
    pytest.param(
        "events",
        "ev.csv",
        "profile_id,eventType\np1,view\n",
        {},
        ["ev.csv has no timestamp column", "Columns found: 'profile_id', 'eventType'"],
        id="missing-timestamp-column",
    ),
    pytest.param(
        "profiles",
        "people.csv",
        "name,age\nAda,36\n",
        {"id_column": "person"},
        ["people.csv has no column 'person' (given as id_column)"],
        id="named-id-column-absent",
    ),
    pytest.param("profiles", "empty.csv", b"", {}, ["empty.csv is empty (0 bytes)"], id="empty"),
    pytest.param(
        "profiles",
        "header.csv",
        "profile_id,age\n",
        {},
        ["header.csv has a header but no data rows (profile_id, age); nothing changed."],
        id="header-only",
    ),
    pytest.param(
        "profiles",
        "colon.csv",
        "profile_id:age:city\np9:1:Oslo\n",
        {},
        ["Columns found: 'profile_id:age:city'", "read as a single column", "delimiter=':'"],
        id="wrong-delimiter",
    ),
    pytest.param(
        "profiles",
        "latin1.csv",
        "profile_id,city\np9,Z\u00fcrich\np10,Bern\n".encode("latin-1"),
        {},
        [
            "latin1.csv is not well-formed CSV (bytes that are not valid UTF-8: 1)",
            "row 1 (line 2), column 'city'",
            "Save the file as UTF-8",
        ],
        id="non-utf8",
    ),
    pytest.param(
        "profiles",
        "ragged.csv",
        "profile_id,age\np9,1\np10,2,extra\np11\n",
        {},
        [
            "ragged.csv is not well-formed CSV",
            "row 2 (line 3): too many fields",
            "row 3 (line 4), column 'age': too few fields",
            "Every row needs the 2 fields of the header",
        ],
        id="ragged-rows",
    ),
    pytest.param(
        "events",
        "ev.csv",
        "profile_id,eventType,timestamp\np1,view,soon\np2,view,later\n",
        {"mode": "replace"},
        [
            "Every row of ev.csv was rejected (unparseable timestamp: 2)",
            "row 1, column 'timestamp': unparseable timestamp ('soon')",
        ],
        id="all-timestamps-unparseable",
    ),
    pytest.param(
        "profiles",
        "dups.csv",
        "profile_id,age\np1,1\np2,2\n",
        {"mode": "append"},
        ["Every row of dups.csv was rejected (duplicate profile id: 2)"],
        id="duplicate-ids-only",
    ),
    pytest.param(
        "profiles",
        "ages.csv",
        "profile_id,age\np7,unknown\n",
        {"mode": "append"},
        [
            "Every row of ages.csv was rejected (not a whole number: 1); nothing changed.",
            "row 1, column 'age': not a whole number ('unknown')",
        ],
        id="type-conflict-on-append",
    ),
    pytest.param(
        "profiles",
        "big.csv",
        "profile_id,age\n" + "p,1\n" * 20,
        {"max_bytes": 64},
        ["big.csv is 95 bytes (95 bytes), over the limit of 64 bytes (64 bytes)"],
        id="over-size-bound",
    ),
]


@pytest.mark.parametrize(("table", "name", "content", "kwargs", "fragments"), BAD_INPUTS)
def test_bad_input_is_refused_and_nothing_changes(
    loaded: Database,
    tmp_path: Path,
    table: str,
    name: str,
    content: str | bytes,
    kwargs: dict,
    fragments: list[str],
) -> None:
    before = snapshot(loaded)
    path = write(tmp_path, name, content)
    with pytest.raises(InvalidInputError) as err:
        ingest(loaded, table, path, **kwargs)  # type: ignore[arg-type]
    for fragment in fragments:
        assert fragment in err.value.message
    assert snapshot(loaded) == before
    assert not [t for (t,) in loaded.rows("SELECT table_name FROM duckdb_tables()") if "__" in t]


def test_nonexistent_path(loaded: Database, tmp_path: Path) -> None:
    before = snapshot(loaded)
    with pytest.raises(InvalidInputError, match=r"File not found: nowhere\.csv"):
        ingest(loaded, "profiles", tmp_path / "nowhere.csv")
    assert snapshot(loaded) == before


def test_corrupt_parquet(loaded: Database, tmp_path: Path) -> None:
    before = snapshot(loaded)
    path = write(tmp_path, "broken.parquet", b"PAR1 this is not parquet at all")
    with pytest.raises(InvalidInputError, match=r"broken\.parquet is not a readable Parquet file"):
        ingest(loaded, "events", path)
    assert snapshot(loaded) == before


def test_unknown_table_and_mode(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", PROFILES)
    with pytest.raises(InvalidInputError, match="Unknown table 'people'"):
        ingest(db, "people", path)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="Unknown mode 'merge'"):
        ingest(db, "profiles", path, mode="merge")  # type: ignore[arg-type]


def test_explicit_delimiter(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "colon.csv", "profile_id:age\np9:1\n")
    ingest(db, "profiles", path, delimiter=":")
    assert db.rows("SELECT * FROM profiles") == [("p9", 1)]


def test_events_shift_moves_stored_profile_dates_once(db: Database, tmp_path: Path) -> None:
    """The demo's order: profiles unshifted, then events with shift_to_now."""
    now = datetime(2030, 6, 15, 12, 0)
    ingest(db, "profiles", write(tmp_path, "p.csv", PROFILES))
    ingest(db, "events", write(tmp_path, "e.csv", EVENTS), shift_to_now=now)
    days = (now - datetime(2024, 3, 3, 12, 0)).days
    assert db.scalar("SELECT max(signupDate) FROM profiles") == date(2024, 3, 1) + timedelta(days)
    # Loading the same events again with the same "now" shifts them alike, profiles stay put.
    ingest(db, "events", write(tmp_path, "e.csv", EVENTS), shift_to_now=now)
    assert db.scalar("SELECT max(signupDate) FROM profiles") == date(2024, 3, 1) + timedelta(days)
    assert db.scalar('SELECT max("timestamp") FROM events') == now


def test_replacing_profiles_warns_about_orphaned_events(loaded: Database, tmp_path: Path) -> None:
    report = ingest(loaded, "profiles", write(tmp_path, "p.csv", "profile_id\np1\n"))
    assert report.warnings == [
        "Stored events of profiles missing from the new profiles table: 1; "
        "they stay stored but match no profile."
    ]

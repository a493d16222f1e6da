"""Column types at load: numbers with separators, ISO timestamps, chosen types and date
formats, row-level rejection on append, near-duplicate values, the rejected-rows file
and the preview. Every case checks what is stored, and that a refusal changes nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from segmentation.errors import InvalidInputError
from segmentation.ingest import ingest, ingest_preview
from segmentation.store import Database
from tests.test_ingest import db, loaded, snapshot, write

__all__ = ["db", "loaded"]  # the fixtures, shared with test_ingest

NUMBERS = [
    pytest.param(";", ["12,5", "3,25", "-1,0"], [12.5, 3.25, -1.0], id="decimal-comma"),
    pytest.param(";", ["1.234,50", "2.000,00", "7"], [1234.5, 2000.0, 7.0], id="dot-grouping"),
    pytest.param(",", ['"1,234,567"', '"2,000.5"', "3"], [1234567.0, 2000.5, 3.0], id="thousands"),
    pytest.param(";", ["1 234,5", "12"], [1234.5, 12.0], id="space-grouping"),
]


@pytest.mark.parametrize(("sep", "values", "expected"), NUMBERS)
def test_numbers_with_separators_load_as_numbers_with_a_warning(
    db: Database, tmp_path: Path, sep: str, values: list[str], expected: list[float]
) -> None:
    lines = [f"profile_id{sep}score"] + [f"p{i}{sep}{v}" for i, v in enumerate(values)]
    report = ingest(db, "profiles", write(tmp_path, "p.csv", "\n".join(lines) + "\n"))
    assert dict(db.columns("profiles"))["score"] == "DOUBLE"
    assert [r[0] for r in db.rows("SELECT score FROM profiles ORDER BY profile_id")] == expected
    assert any("Column 'score' holds numbers written with separators" in w for w in report.warnings)


def test_decimal_commas_keep_every_job_running(tmp_path: Path) -> None:
    """The issue's case: a '*' job after a decimal-comma replace must not fail on types."""
    from segmentation import SegmentationService

    svc = SegmentationService.open(":memory:", exports_dir=tmp_path / "exports")
    svc.ingest("profiles", write(tmp_path, "a.csv", "profile_id,score\np1,10.5\np2,3\n"))
    d = svc.definitions.create(name="High", pql="score > 5")
    svc.ingest("profiles", write(tmp_path, "b.csv", "profile_id;score\np1;12,5\np2;3,0\n"))
    job = svc.jobs.run("*")
    assert job.status == "SUCCEEDED"
    assert svc.members(d.id)["profile_id"].tolist() == ["p1"]
    svc.close()


TIMESTAMPS = [
    ("2026-01-31T10:15:00z", dt.datetime(2026, 1, 31, 10, 15)),
    ("2026-01-31t10:15:00Z", dt.datetime(2026, 1, 31, 10, 15)),
    ("2026-01-31T10:15z", dt.datetime(2026, 1, 31, 10, 15)),
    ("2026-01-31T12:15:00.5+02:00", dt.datetime(2026, 1, 31, 10, 15, 0, 500000)),
    ("20260131T101500Z", dt.datetime(2026, 1, 31, 10, 15)),
    ('"2026-01-31T10:15:00,25Z"', dt.datetime(2026, 1, 31, 10, 15, 0, 250000)),
    ("2026-01-31T11:15:00+0100", dt.datetime(2026, 1, 31, 10, 15)),
]


def test_iso_8601_timestamp_forms(loaded: Database, tmp_path: Path) -> None:
    lines = ["profile_id,eventType,timestamp"] + [f"p1,view,{text}" for text, _ in TIMESTAMPS]
    report = ingest(loaded, "events", write(tmp_path, "e.csv", "\n".join(lines) + "\n"))
    assert report.rows_rejected == 0, report.problems
    stored = loaded.rows(
        "SELECT timestamp FROM events WHERE timestamp >= '2026-01-01' ORDER BY rowid"
    )
    assert [r[0] for r in stored] == [moment for _, moment in TIMESTAMPS]


DATES = [
    pytest.param("DD/MM/YYYY", ["31/12/2025", "01/02/2026"], [(2025, 12, 31), (2026, 2, 1)]),
    pytest.param("MM/DD/YYYY", ["12/31/2025", "01/02/2026"], [(2025, 12, 31), (2026, 1, 2)]),
    pytest.param("DD.MM.YY", ["31.12.25", "01.02.26"], [(2025, 12, 31), (2026, 2, 1)]),
]


@pytest.mark.parametrize(("fmt", "values", "expected"), DATES)
def test_date_format_reads_dates_the_way_the_file_writes_them(
    db: Database, tmp_path: Path, fmt: str, values: list[str], expected: list[tuple]
) -> None:
    lines = ["profile_id,birthday"] + [f"p{i},{v}" for i, v in enumerate(values)]
    ingest(db, "profiles", write(tmp_path, "p.csv", "\n".join(lines) + "\n"), date_format=fmt)
    assert dict(db.columns("profiles"))["birthday"] == "DATE"
    stored = [r[0] for r in db.rows("SELECT birthday FROM profiles ORDER BY profile_id")]
    assert stored == [dt.date(*d) for d in expected]


def test_append_rejects_rows_that_do_not_fit_not_the_file(loaded: Database, tmp_path: Path) -> None:
    """The issue's upload: DD/MM dates, a bad number and a bad boolean each reject their
    row, all in one report, with a file of the rejected rows and the reason per row."""
    content = (
        "profile_id,age,signupDate,vip\n"
        "p7,31,2024-05-01,true\n"
        "p8,30.5,2024-05-02,false\n"
        "p9,40,31/05/2024,true\n"
        "p10,41,2024-05-03,maybe\n"
        "p11,,,\n"
        "p12,old,01/06/2024,true\n"
    )
    report = ingest(
        loaded, "profiles", write(tmp_path, "more.csv", content), mode="append",
        rejects_dir=tmp_path / "rejects",
    )  # fmt: skip
    assert (report.rows_loaded, report.rows_rejected) == (2, 4)
    got = [(p.row, p.column, p.value, p.reason) for p in report.problems]
    assert got == [
        (2, "age", "30.5", "not a whole number"),
        (3, "signupDate", "31/05/2024", "not a date"),
        (4, "vip", "maybe", "not a boolean"),
        (6, "age", "old", "not a whole number"),  # both of the row's problems at once
        (6, "signupDate", "01/06/2024", "not a date"),
    ]
    assert report.problem_counts == {"not a whole number": 2, "not a date": 2,
                                     "not a boolean": 1}  # fmt: skip
    ids = [r[0] for r in loaded.rows("SELECT profile_id FROM profiles ORDER BY 1")]
    assert ids == ["p1", "p11", "p2", "p3", "p7"]
    rejected = pd.read_csv(report.rejected_rows_file, dtype=str, keep_default_na=False)
    assert rejected[["row", "column", "value", "reason"]].values.tolist() == [
        ["2", "age", "30.5", "not a whole number"],
        ["3", "signupDate", "31/05/2024", "not a date"],
        ["4", "vip", "maybe", "not a boolean"],
        ["6", "age; signupDate", "old; 01/06/2024", "not a whole number; not a date"],
    ]
    # the rows as the file had them, ready to fix and load again
    assert rejected[["profile_id", "age", "signupDate", "vip"]].values.tolist() == [
        ["p8", "30.5", "2024-05-02", "false"],
        ["p9", "40", "31/05/2024", "true"],
        ["p10", "41", "2024-05-03", "maybe"],
        ["p12", "old", "01/06/2024", "true"],
    ]


def test_chosen_types_and_formats_on_append(loaded: Database, tmp_path: Path) -> None:
    content = "profile_id,signupDate,zip\np7,05/31/2024,01234\np8,13/31/2024,99\n"
    report = ingest(
        loaded, "profiles", write(tmp_path, "more.csv", content), mode="append",
        column_types={"signupDate": "date:MM/DD/YYYY", "zip": "text"},
    )  # fmt: skip
    assert [(p.row, p.column, p.reason) for p in report.problems] == [
        (2, "signupDate", "not a date")
    ]
    assert loaded.rows("SELECT signupDate, zip FROM profiles WHERE profile_id = 'p7'") == [
        (dt.date(2024, 5, 31), "01234")
    ]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"column_types": {"nope": "text"}}, "column_types names 'nope', which is not a column"),
        ({"column_types": {"age": "money"}}, "Type 'money' for column 'age' is not one of text"),
        ({"column_types": {"age": "number:DD"}}, "Only dates and timestamps take a format"),
        ({"date_format": "banana"}, "Date format 'banana' is not understood"),
    ],
)
def test_bad_type_options_are_refused(
    loaded: Database, tmp_path: Path, kwargs: dict, fragment: str
) -> None:
    before = snapshot(loaded)
    with pytest.raises(InvalidInputError, match=fragment):
        ingest(loaded, "profiles", write(tmp_path, "p.csv", "profile_id,age\np7,1\n"), **kwargs)
    assert snapshot(loaded) == before


def test_values_differing_only_by_case_or_spaces_are_warned(
    loaded: Database, tmp_path: Path
) -> None:
    ingest(loaded, "profiles", write(tmp_path, "t.csv", "profile_id,tier\np7,gold\n"),
           mode="append")  # fmt: skip
    report = ingest(
        loaded, "profiles", write(tmp_path, "u.csv", "profile_id,tier\np8,Gold \np9,silver\n"
                                  "p10,Silver\np11,gold\n"), mode="append",
    )  # fmt: skip
    pairs = {(s.value, s.similar_to, s.where) for s in report.similar_values}
    assert pairs == {("Gold ", "gold", "stored"), ("silver", "Silver", "file"),
                     ("gold", "Gold ", "file")}  # fmt: skip
    assert "Column 'tier': 'Gold ' differs only by case or spaces from 'gold'" in "\n".join(
        report.warnings
    )


def test_preview_shows_parsed_rows_and_types_and_stores_nothing(
    loaded: Database, tmp_path: Path
) -> None:
    before = snapshot(loaded)
    content = "profile_id;score;birthday;vip\np7;12,5;31/12/1990;yes\np8;x;01/01/1980;no\n"
    path = write(tmp_path, "new.csv", content)
    preview = ingest_preview(loaded, "profiles", path, date_format="DD/MM/YYYY",
                             rejects_dir=tmp_path / "rejects")  # fmt: skip
    kinds = {c.name: (c.kind, c.date_format) for c in preview.columns}
    assert kinds == {"profile_id": ("text", None), "score": ("text", None),
                     "birthday": ("date", "DD/MM/YYYY"), "vip": ("boolean", None)}  # fmt: skip
    # "x" keeps score text; choosing number rejects that row instead.
    chosen = ingest_preview(loaded, "profiles", path, date_format="DD/MM/YYYY",
                            column_types={"score": "number"})  # fmt: skip
    assert {c.name: c.kind for c in chosen.columns}["score"] == "number"
    assert chosen.rows == [
        {"profile_id": "p7", "score": 12.5, "birthday": dt.date(1990, 12, 31), "vip": True}
    ]
    assert (chosen.rows_to_load, chosen.rows_rejected) == (1, 1)
    assert [(p.row, p.column, p.reason) for p in chosen.problems] == [(2, "score", "not a number")]
    assert snapshot(loaded) == before

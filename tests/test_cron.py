"""Cron: Quartz and Unix expressions -> next run times, words, and errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from segmentation.cron import describe, next_runs, parse_cron
from segmentation.errors import InvalidInputError

JAN_1_2025 = datetime(2025, 1, 1, tzinfo=UTC)  # a Wednesday


def iso(moments: list[datetime]) -> list[str]:
    return [m.isoformat() for m in moments]


# (cron, tz, after, expected next times); `after` itself never counts
NEXT_CASES = [
    (
        "0 0 1 * * ?",
        "UTC",
        JAN_1_2025,
        ["2025-01-01T01:00:00+00:00", "2025-01-02T01:00:00+00:00", "2025-01-03T01:00:00+00:00"],
    ),
    (
        "0 15 10 ? * MON-FRI",
        "UTC",
        JAN_1_2025,
        [
            "2025-01-01T10:15:00+00:00",
            "2025-01-02T10:15:00+00:00",
            "2025-01-03T10:15:00+00:00",
            "2025-01-06T10:15:00+00:00",
        ],
    ),
    (  # last day of the month, through a leap February
        "0 0 12 L * ?",
        "UTC",
        datetime(2024, 1, 1, tzinfo=UTC),
        ["2024-01-31T12:00:00+00:00", "2024-02-29T12:00:00+00:00", "2024-03-31T12:00:00+00:00"],
    ),
    (  # 15 Feb and 15 Mar 2025 are Saturdays -> Friday 14th
        "0 0 12 15W * ?",
        "UTC",
        JAN_1_2025,
        ["2025-01-15T12:00:00+00:00", "2025-02-14T12:00:00+00:00", "2025-03-14T12:00:00+00:00"],
    ),
    (  # 15 Jun 2025 is a Sunday -> Monday 16th
        "0 0 12 15W * ?",
        "UTC",
        datetime(2025, 6, 1, tzinfo=UTC),
        ["2025-06-16T12:00:00+00:00", "2025-07-15T12:00:00+00:00"],
    ),
    (  # 1 Feb 2025 is a Saturday: 1W does not go back into January -> Monday 3rd
        "0 0 12 1W * ?",
        "UTC",
        datetime(2025, 1, 2, tzinfo=UTC),
        ["2025-02-03T12:00:00+00:00", "2025-03-03T12:00:00+00:00"],
    ),
    (  # last weekday: 31 May 2025 is a Saturday, 31 Aug a Sunday
        "0 0 12 LW * ?",
        "UTC",
        datetime(2025, 5, 1, tzinfo=UTC),
        [
            "2025-05-30T12:00:00+00:00",
            "2025-06-30T12:00:00+00:00",
            "2025-07-31T12:00:00+00:00",
            "2025-08-29T12:00:00+00:00",
        ],
    ),
    (  # Quartz 6 = Friday: the third Friday
        "0 0 12 ? * 6#3",
        "UTC",
        JAN_1_2025,
        ["2025-01-17T12:00:00+00:00", "2025-02-21T12:00:00+00:00", "2025-03-21T12:00:00+00:00"],
    ),
    (
        "0 0 12 ? * FRI#3",
        "UTC",
        JAN_1_2025,
        ["2025-01-17T12:00:00+00:00", "2025-02-21T12:00:00+00:00"],
    ),
    (  # the last Friday
        "0 0 12 ? * 6L",
        "UTC",
        JAN_1_2025,
        ["2025-01-31T12:00:00+00:00", "2025-02-28T12:00:00+00:00", "2025-03-28T12:00:00+00:00"],
    ),
    (  # a bare L in day-of-week is Saturday
        "0 0 12 ? * L",
        "UTC",
        JAN_1_2025,
        ["2025-01-04T12:00:00+00:00", "2025-01-11T12:00:00+00:00"],
    ),
    (  # Quartz 1 = Sunday, 7 = Saturday
        "0 0 9 ? * 1,7",
        "UTC",
        JAN_1_2025,
        ["2025-01-04T09:00:00+00:00", "2025-01-05T09:00:00+00:00", "2025-01-11T09:00:00+00:00"],
    ),
    (  # 7 fields: only in 2026
        "0 30 9 * * ? 2026",
        "UTC",
        datetime(2025, 6, 1, tzinfo=UTC),
        ["2026-01-01T09:30:00+00:00", "2026-01-02T09:30:00+00:00"],
    ),
    (  # the year range ends: fewer than asked for
        "0 0 0 1 1 ? 2025-2026",
        "UTC",
        datetime(2025, 6, 1, tzinfo=UTC),
        ["2026-01-01T00:00:00+00:00"],
    ),
    ("0 0 0 * * ? 2020", "UTC", JAN_1_2025, []),
    (  # names, lists: 5:13 and 5:38 on Wednesdays in June (1 Jun 2025 is a Sunday)
        "0 13,38 5 ? jun wed",
        "UTC",
        JAN_1_2025,
        ["2025-06-04T05:13:00+00:00", "2025-06-04T05:38:00+00:00", "2025-06-11T05:13:00+00:00"],
    ),
    (  # a range that wraps past Saturday
        "0 0 12 ? * FRI-MON",
        "UTC",
        JAN_1_2025,
        [
            "2025-01-03T12:00:00+00:00",
            "2025-01-04T12:00:00+00:00",
            "2025-01-05T12:00:00+00:00",
            "2025-01-06T12:00:00+00:00",
        ],
    ),
    (
        "0 0/15 * * * ?",
        "UTC",
        JAN_1_2025,
        [
            "2025-01-01T00:15:00+00:00",
            "2025-01-01T00:30:00+00:00",
            "2025-01-01T00:45:00+00:00",
            "2025-01-01T01:00:00+00:00",
        ],
    ),
    (
        "0 0/10 17 * * ?",
        "UTC",
        JAN_1_2025,
        ["2025-01-01T17:00:00+00:00", "2025-01-01T17:10:00+00:00", "2025-01-01T17:20:00+00:00"],
    ),
    (
        "30 0/20 * * * ?",
        "UTC",
        JAN_1_2025,
        ["2025-01-01T00:00:30+00:00", "2025-01-01T00:20:30+00:00"],
    ),
    (  # 5-field Unix cron
        "30 2 * * *",
        "UTC",
        JAN_1_2025,
        ["2025-01-01T02:30:00+00:00", "2025-01-02T02:30:00+00:00"],
    ),
    (  # Unix numbering: 1-5 = Monday-Friday
        "0 9 * * 1-5",
        "UTC",
        datetime(2025, 1, 3, 12, tzinfo=UTC),
        ["2025-01-06T09:00:00+00:00", "2025-01-07T09:00:00+00:00"],
    ),
    ("0 9 * * 7", "UTC", JAN_1_2025, ["2025-01-05T09:00:00+00:00", "2025-01-12T09:00:00+00:00"]),
    ("*/20 * * * *", "UTC", JAN_1_2025, ["2025-01-01T00:20:00+00:00"]),
    (  # a zone east of UTC: 01:00 in Berlin is 00:00 UTC in winter
        "0 0 1 * * ?",
        "Europe/Berlin",
        datetime(2024, 12, 31, 23, tzinfo=UTC),
        ["2025-01-01T01:00:00+01:00", "2025-01-02T01:00:00+01:00"],
    ),
    # --- DST, Europe/Berlin: 30 Mar 2025 02:00 -> 03:00, 26 Oct 2025 03:00 -> 02:00
    (  # the skipped 02:30 runs once, shifted by the gap to 03:30
        "0 30 2 * * ?",
        "Europe/Berlin",
        datetime(2025, 3, 29, 12, tzinfo=UTC),
        ["2025-03-30T03:30:00+02:00", "2025-03-31T02:30:00+02:00"],
    ),
    (  # shifted 02:30 and the real 03:30 are one run
        "0 30 2,3 * * ?",
        "Europe/Berlin",
        datetime(2025, 3, 29, 12, tzinfo=UTC),
        ["2025-03-30T03:30:00+02:00", "2025-03-31T02:30:00+02:00", "2025-03-31T03:30:00+02:00"],
    ),
    (  # the repeated 02:30 runs once, at its first occurrence
        "0 30 2 * * ?",
        "Europe/Berlin",
        datetime(2025, 10, 25, 12, tzinfo=UTC),
        ["2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00"],
    ),
    (  # hourly: the skipped hour is skipped
        "0 0 * * * ?",
        "Europe/Berlin",
        datetime(2025, 3, 29, 23, tzinfo=UTC),
        ["2025-03-30T01:00:00+01:00", "2025-03-30T03:00:00+02:00", "2025-03-30T04:00:00+02:00"],
    ),
    (  # hourly: the repeated hour runs twice, one hour apart
        "0 0 * * * ?",
        "Europe/Berlin",
        datetime(2025, 10, 25, 22, tzinfo=UTC),
        [
            "2025-10-26T01:00:00+02:00",
            "2025-10-26T02:00:00+02:00",
            "2025-10-26T02:00:00+01:00",
            "2025-10-26T03:00:00+01:00",
        ],
    ),
    (  # from 02:50 CEST (first pass) the next quarter is 02:00 CET (second pass)
        "0 0/15 * * * ?",
        "Europe/Berlin",
        datetime(2025, 10, 26, 0, 50, tzinfo=UTC),
        ["2025-10-26T02:00:00+01:00", "2025-10-26T02:15:00+01:00"],
    ),
    # --- DST, America/New_York: 9 Mar 2025 02:00 -> 03:00, 2 Nov 2025 02:00 -> 01:00
    (
        "0 30 2 * * ?",
        "America/New_York",
        datetime(2025, 3, 8, 12, tzinfo=UTC),
        ["2025-03-09T03:30:00-04:00", "2025-03-10T02:30:00-04:00"],
    ),
    (
        "0 30 1 * * ?",
        "America/New_York",
        datetime(2025, 11, 1, 12, tzinfo=UTC),
        ["2025-11-02T01:30:00-04:00", "2025-11-03T01:30:00-05:00"],
    ),
    (  # after the first 01:30 (now in the second pass): not again that night
        "0 30 1 * * ?",
        "America/New_York",
        datetime(2025, 11, 2, 6, 45, tzinfo=UTC),
        ["2025-11-03T01:30:00-05:00"],
    ),
    (  # 5-field in New York, a time that exists both days
        "0 12 * * *",
        "America/New_York",
        datetime(2025, 3, 8, 12, tzinfo=UTC),
        ["2025-03-08T12:00:00-05:00", "2025-03-09T12:00:00-04:00"],
    ),
]


@pytest.mark.parametrize(("cron", "tz", "after", "expected"), NEXT_CASES)
def test_next_runs(cron, tz, after, expected):
    runs = next_runs(cron, tz, after, max(len(expected), 1) + (0 if expected else 2))
    assert iso(runs[: len(expected)] if expected else runs) == expected
    assert all(run.tzinfo == ZoneInfo(tz) for run in runs)


def test_next_runs_stops_when_schedule_ends():
    assert len(next_runs("0 0 0 1 1 ? 2025-2026", "UTC", datetime(2025, 6, 1), 5)) == 1


def test_next_runs_naive_after_is_utc_and_spec_is_reusable():
    spec = parse_cron("0 0 1 * * ?")
    naive = next_runs(spec, "Europe/Berlin", datetime(2025, 1, 1), 2)
    aware = next_runs(spec, "Europe/Berlin", JAN_1_2025, 2)
    assert naive == aware
    assert next_runs(spec, "UTC", JAN_1_2025, 0) == []


def test_every_second_is_quick():
    runs = next_runs("* * * * * ?", "Europe/Berlin", JAN_1_2025, 3)
    assert [r - JAN_1_2025 for r in runs] == [timedelta(seconds=s) for s in (1, 2, 3)]


@pytest.mark.parametrize("quartz_day", range(1, 8))
def test_quartz_day_numbers_are_one_ahead_of_unix(quartz_day):
    quartz = next_runs(f"0 0 12 ? * {quartz_day}", "UTC", JAN_1_2025, 3)
    unix = next_runs(f"0 12 * * {quartz_day - 1}", "UTC", JAN_1_2025, 3)
    assert quartz == unix
    # isoweekday: Monday 1 .. Sunday 7; Quartz: Sunday 1 .. Saturday 7
    assert {r.isoweekday() % 7 + 1 for r in quartz} == {quartz_day}


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("0 0 1 * * ?", "At 01:00, every day"),
        ("0 0 2 * * ?", "At 02:00, every day"),
        ("0 15 10 ? * MON-FRI", "At 10:15, Monday through Friday"),
        ("0 0 12 ? * 2-6", "At 12:00, Monday through Friday"),
        ("0 0 12 ? * 1,7", "At 12:00, only on Sunday and Saturday"),
        ("0 0 12 ? * L", "At 12:00, only on Saturday"),
        ("0 0 12 L * ?", "At 12:00, on the last day of the month"),
        ("0 0 12 LW * ?", "At 12:00, on the last weekday of the month"),
        ("0 0 12 15W * ?", "At 12:00, on the weekday nearest day 15 of the month"),
        ("0 0 12 ? * 6#3", "At 12:00, on the third Friday of the month"),
        ("0 0 12 ? * 6L", "At 12:00, on the last Friday of the month"),
        ("0 30 9 * * ? 2026", "At 09:30, every day, only in 2026"),
        ("0 0/15 * * * ?", "Every 15 minutes, every hour, every day"),
        ("30 2 * * *", "At 02:30, every day"),
        ("0 9 * * 1-5", "At 09:00, Monday through Friday"),
    ],
)
def test_describe(cron, words):
    assert describe(cron) == words


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("60 0 1 * * ?", "cron field 1 (second) '60' is out of range 0-59"),
        ("0 60 1 * * ?", "cron field 2 (minute) '60' is out of range 0-59"),
        ("0 0 25 * * ?", "cron field 3 (hour) '25' is out of range 0-23"),
        ("0 0 1 32 * ?", "cron field 4 (day-of-month) '32' is out of range 1-31"),
        ("0 0 1 0 * ?", "cron field 4 (day-of-month) '0' is out of range 1-31"),
        ("0 0 1 32W * ?", "cron field 4 (day-of-month) '32' is out of range 1-31"),
        ("0 0 1 * 13 ?", "cron field 5 (month) '13' is out of range 1-12"),
        ("0 0 1 ? * 0", "cron field 6 (day-of-week) '0' is out of range 1-7"),
        ("0 0 1 ? * 8", "cron field 6 (day-of-week) '8' is out of range 1-7"),
        ("0 0 1 * * ? 1969", "cron field 7 (year) '1969' is out of range 1970-2099"),
        ("0 0 1 * * ? 2100", "cron field 7 (year) '2100' is out of range 1970-2099"),
        ("60 * * * *", "cron field 1 (minute) '60' is out of range 0-59"),
        ("0 24 * * *", "cron field 2 (hour) '24' is out of range 0-23"),
        ("0 0 * * 8", "cron field 5 (day-of-week) '8' is out of range 0-7"),
        ("0 0 1 ? * ?", "day-of-week) are both '?'"),
        ("0 0 1 5 * MON", "both restrict the day ('5' and 'MON'); Quartz cron needs '?'"),
        ("0 0 ? * * *", "cron field 3 (hour) '?' is only allowed in day-of-month or day-of-week"),
        ("0 0 1 ? * FOO", "cron field 6 (day-of-week) 'FOO' is not a number 1-7 or a name SUN-SAT"),
        ("0 0 1 * XYZ ?", "cron field 5 (month) 'XYZ' is not a number 1-12 or a name JAN-DEC"),
        ("0 0 x * * ?", "cron field 3 (hour) 'X' is not a number 0-23"),
        ("0 0/0 * * * ?", "cron field 2 (minute) '0/0': the step after '/' must be"),
        ("0 5- * * * ?", "cron field 2 (minute) '5-' is not a valid range"),
        ("0 1,,2 * * * ?", "has an empty item"),
        ("0 0 1 ? * 6#6", "cron field 6 (day-of-week) '6#6': the week after '#' must be 1-5"),
        ("0 0 1 L-3 * ?", "offsets from the last day (L-n) are not supported"),
        ("0 0 1 1,L * ?", "L and W must stand alone"),
        ("0 0 1 30 FEB ?", "day-of-month 30 never occurs in February"),
        ("0 0 1 * * ? 2030-2020", "cron field 7 (year) '2030-2020' runs backwards"),
        ("hello", "cron 'hello' has 1 field(s); expected 6 or 7"),
        ("0 0 1 * * ? 2025 9", "has 8 field(s)"),
        ("", "cron is empty"),
        ("   ", "cron is empty"),
    ],
)
def test_invalid_cron(cron, message):
    with pytest.raises(InvalidInputError) as caught:
        parse_cron(cron)
    assert message in caught.value.message
    with pytest.raises(InvalidInputError):
        describe(cron)


@pytest.mark.parametrize("tz", ["Mars/Base", "", "europe/berlin", "../etc/passwd"])
def test_unknown_timezone(tz):
    with pytest.raises(InvalidInputError) as caught:
        next_runs("0 0 1 * * ?", tz, JAN_1_2025, 1)
    assert caught.value.message == f"unknown timezone '{tz}'; e.g. Europe/Berlin"


def test_parse_tidies_text():
    spec = parse_cron("  0 15 10   ? * mon-fri ")
    assert spec.text == "0 15 10 ? * MON-FRI"
    assert spec.dialect == "quartz"
    assert parse_cron("30 2 * * *").dialect == "unix"

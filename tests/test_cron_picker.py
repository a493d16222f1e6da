"""Schedule picker <-> cron: each pick writes one cron, and that cron reads back as the pick."""

from __future__ import annotations

from datetime import datetime

import pytest

from segmentation import SegmentationError
from segmentation.cron import describe, next_runs
from segmentation.cron_picker import LAST_DAY, SchedulePick, build, from_cron, to_cron

CASES = [
    (SchedulePick(frequency="daily", hour=2, minute=0), "0 0 2 ? * *"),
    (SchedulePick(frequency="weekdays", hour=7, minute=30), "0 30 7 ? * MON-FRI"),
    (SchedulePick(frequency="weekly", hour=9, minute=5, weekday="TUE"), "0 5 9 ? * TUE"),
    (SchedulePick(frequency="monthly", hour=6, minute=0, day_of_month=1), "0 0 6 1 * ?"),
    (SchedulePick(frequency="monthly", hour=23, minute=59, day_of_month=LAST_DAY), "0 59 23 L * ?"),
]


@pytest.mark.parametrize(("pick", "cron"), CASES)
def test_pick_to_cron_and_back(pick: SchedulePick, cron: str) -> None:
    assert to_cron(pick) == cron
    assert from_cron(cron) == pick


def test_the_weekday_cron_runs_monday_to_friday_at_the_time() -> None:
    runs = next_runs(to_cron(CASES[1][0]), "Europe/Berlin", datetime(2026, 12, 4, 12, 0), 3)
    # Friday 2026-12-04 after noon: next are Mon, Tue, Wed at 07:30 Berlin (06:30 UTC)
    assert [r.strftime("%a %H:%M") for r in runs] == ["Mon 07:30", "Tue 07:30", "Wed 07:30"]
    assert "Monday through Friday" in describe(to_cron(CASES[1][0]))


def test_star_days_read_as_every_day() -> None:
    assert from_cron("0 0 2 * * *") == SchedulePick(frequency="daily", hour=2, minute=0)


@pytest.mark.parametrize(
    "cron", ["0 2 * * *", "0 */5 * ? * *", "0 0 2 ? * MON,WED", "0 0 2 15W * ?", "bad"]
)
def test_other_shapes_are_left_to_the_cron_field(cron: str) -> None:
    assert from_cron(cron) is None


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"frequency": "weekly", "hour": 9, "minute": 0}, "needs a day"),
        ({"frequency": "monthly", "hour": 9, "minute": 0}, "day of the month"),
        ({"frequency": "daily", "hour": 24, "minute": 0}, "hour"),
        ({"frequency": "hourly", "hour": 1, "minute": 0}, "frequency"),
    ],
)
def test_bad_picks_say_what_is_wrong(values: dict, says: str) -> None:
    with pytest.raises(SegmentationError, match=says):
        build(**values)

"""ui/cells: profile values as a person reads them (nested values as JSON, real numbers)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from ui.cells import blank_missing, cell_text, readable

ORDERS = np.array(
    [{"price": Decimal("6.0"), "storeId": "s1"}, {"price": None, "storeId": "s2"}], dtype=object
)

# (a value as DuckDB gives it to pandas, the grid cell, the text)
CASES = [
    (ORDERS, '[{"price": 6, "storeId": "s1"}, {"price": null, "storeId": "s2"}]',
     '[{"price": 6, "storeId": "s1"}, {"price": null, "storeId": "s2"}]'),
    ({"email": {"id": "zoë@x.org"}}, '{"email": {"id": "zoë@x.org"}}',
     '{"email": {"id": "zoë@x.org"}}'),
    (np.array(["music", "running"], dtype=object), ["music", "running"], "music, running"),
    (np.array([Decimal("2.5"), Decimal("10")], dtype=object), [2.5, 10], "2.5, 10"),
    ([{"day": dt.date(2024, 1, 2)}], '[{"day": "2024-01-02"}]', '[{"day": "2024-01-02"}]'),
    (None, None, ""),
    ("plain", "plain", "plain"),
]  # fmt: skip


@pytest.mark.parametrize(("value", "cell", "text"), CASES)
def test_values_read_as_a_person_reads_them(value, cell, text) -> None:
    frame = pd.DataFrame({"profile_id": ["p1"], "v": pd.Series([value], dtype=object)})
    assert readable(frame)["v"].tolist() == [cell]
    assert cell_text(value) == text


def test_readable_leaves_the_frame_it_is_given_and_other_columns_alone() -> None:
    frame = pd.DataFrame({"age": [41], "orders": pd.Series([ORDERS], dtype=object)})
    shown = readable(frame)
    assert shown["age"].tolist() == [41]
    assert isinstance(frame["orders"][0], np.ndarray)  # the original is unchanged


def test_a_missing_value_is_an_empty_cell_not_none() -> None:
    frame = pd.DataFrame(
        {
            "value": [None, "1985-13-45"],
            "revenue": [None, 1234.5],
            "count": [1, 2],
            "when": pd.to_datetime([None, "2026-01-02 10:00"]),
            "tags": pd.Series([["a"], None], dtype=object),
        }
    )
    shown = blank_missing(frame)
    assert shown["value"].tolist() == ["", "1985-13-45"]
    assert shown["revenue"].tolist() == ["", "1,234.5"]
    assert shown["count"].tolist() == [1, 2]  # no gap: stays a number
    assert shown["when"].tolist() == ["", "2026-01-02 10:00:00"]
    assert shown["tags"].tolist() == [["a"], ""]
    assert frame["value"].isna().tolist() == [True, False]  # the original is unchanged

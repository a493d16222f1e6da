"""The Altair chart builders: each spec draws what the page promises."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from ui import charts


def marks(spec: dict) -> list[str]:
    """Mark types of a (possibly layered / concatenated) Vega-Lite spec, in order."""
    found: list[str] = []
    if "mark" in spec:
        mark = spec["mark"]
        found.append(mark["type"] if isinstance(mark, dict) else mark)
    for key in ("layer", "vconcat", "hconcat"):
        for part in spec.get(key, []):
            found.extend(marks(part))
    return found


def datasets(spec: dict) -> list[list[dict]]:
    return list(spec.get("datasets", {}).values())


def test_estimate_chart_draws_point_and_interval() -> None:
    frame = pd.DataFrame([{"label": "VIP", "estimated_size": 120, "low": 100, "high": 140}])
    spec = charts.estimate_chart(frame).to_dict()
    assert marks(spec) == ["rule", "tick", "tick", "point"]
    rule = spec["layer"][0]["encoding"]
    assert rule["x"]["field"] == "low" and rule["x2"]["field"] == "high"
    assert datasets(spec)[0] == [{"label": "VIP", "estimated_size": 120, "low": 100, "high": 140}]


def test_breakdown_chart_sorts_bars_by_size_and_adds_rules() -> None:
    frame = pd.DataFrame(
        {
            "value": ["DE", "US", "(missing)"],
            "matched": [5, 9, 1],
            "estimated_size": [50, 90, 10],
            "low": [40, 80, 5],
            "high": [60, 100, 15],
        }
    )
    spec = charts.breakdown_chart(frame, "country").to_dict()
    assert marks(spec) == ["bar", "rule", "text"]
    y = spec["layer"][0]["encoding"]["y"]
    assert y["sort"] == ["US", "DE", "(missing)"]
    assert y["title"] == "country"


def test_breakdown_chart_keeps_ranges_in_their_order() -> None:
    frame = pd.DataFrame(
        {
            "value": ["0 to 10", "10 to 20", "20 to 30"],
            "position": [0, 1, 2],
            "estimated_size": [5, 90, 10],
            "low": [4, 80, 5],
            "high": [6, 100, 15],
        }
    )
    y = charts.breakdown_chart(frame, "age").to_dict()["layer"][0]["encoding"]["y"]
    assert y["sort"] == ["0 to 10", "10 to 20", "20 to 30"]


def test_overlap_heatmap_colours_the_share_of_a_also_in_b() -> None:
    frame = pd.DataFrame(
        [
            {
                "segment_a": a,
                "segment_b": b,
                "size_a": size,
                "size_b": 10,
                "intersection": n,
                "jaccard": 0.0,
                "share_of_a": n / size,
            }
            for a, b, size, n in [
                ("A", "A", 10, 10),
                ("A", "B", 10, 4),
                ("B", "A", 5, 4),
                ("B", "B", 5, 5),
            ]
        ]
    )
    spec = charts.overlap_heatmap(frame).to_dict()
    assert marks(spec) == ["rect", "text"]
    assert spec["layer"][0]["encoding"]["color"]["field"] == "share_of_a"
    assert spec["layer"][0]["encoding"]["color"]["title"] == "% of A also in B"
    assert spec["layer"][1]["encoding"]["text"]["field"] == "label"
    labels = {(r["segment_a"], r["segment_b"]): r["label"] for r in datasets(spec)[0]}
    assert labels == {("A", "A"): "100%", ("A", "B"): "40%", ("B", "A"): "80%", ("B", "B"): "100%"}
    assert spec["layer"][0]["encoding"]["x"]["axis"]["labelOverlap"] is False  # none dropped
    # dark cells get white text so the share stays readable
    color = spec["layer"][1]["encoding"]["color"]
    assert color["condition"]["value"] == "white" and color["value"] == "black"
    # sized per cell, not as a whole: Streamlit fits a whole width around the axes and
    # the legend, which left 40 px cells with "100%" cut to "00%"
    assert spec["width"] == {"step": charts.CELL} and spec["height"] == {"step": charts.CELL}
    assert charts.CELL >= 80


def test_size_over_time_has_line_and_signed_change_bars() -> None:
    t0 = dt.datetime(2026, 1, 1)
    history = pd.DataFrame(
        {
            "as_of": [t0, t0 + dt.timedelta(weeks=1)],
            "qualified": [100, 110],
            "realized": [100, 15],
            "existing": [0, 95],
            "exited": [0, 5],
        }
    )
    spec = charts.size_over_time(history).to_dict()
    assert marks(spec) == ["line", "bar"]
    bar_rows = next(d for d in datasets(spec) if d and "change" in d[0])
    left = [r["profiles"] for r in bar_rows if r["change"] == "left"]
    entered = [r["profiles"] for r in bar_rows if r["change"] == "entered"]
    assert left == [0, -5]  # those who left point down
    assert entered == [100, 15]
    # counts of people: whole-number ticks only
    for part in spec["vconcat"]:
        assert part["encoding"]["y"]["axis"] == {"format": ",d", "tickMinStep": 1}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([("gold", 30), ("silver", 20)], [("gold", 30), ("silver", 20)]),
        ([(True, 3)], [("True", 3)]),
        ([], []),
    ],
)
def test_top_values_chart_data(values: list, expected: list) -> None:
    spec = charts.top_values_chart(values, "tier").to_dict()
    assert marks(spec) == ["bar"]
    rows = datasets(spec)[0] if datasets(spec) else []
    assert [(r["value"], r["count"]) for r in rows] == expected

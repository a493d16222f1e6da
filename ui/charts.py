"""Altair chart builders: pure functions from DataFrames to charts.

No Streamlit and no service calls here, so each builder can be tested by
looking at its Vega-Lite spec (``chart.to_dict()``).
"""

from __future__ import annotations

import altair as alt
import pandas as pd

ENTERED_COLOR = "#2e7d32"
EXITED_COLOR = "#c62828"
POINT_COLOR = "#1565c0"
BAR_COLOR = "#90caf9"


def count_axis(**kw: object) -> alt.Axis:
    """An axis of profile counts: whole numbers only (no "2.5 profiles" ticks)."""
    return alt.Axis(format=",d", tickMinStep=1, **kw)


def estimate_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """One row per segment (label, estimated_size, low, high): a point with its interval.

    The interval is drawn as a rule with end ticks, so a narrow interval from an
    exact count reads as a dot on a line and a wide sampled one as a long bar.
    """
    data = frame[["label", "estimated_size", "low", "high"]].copy()
    y = alt.Y("label:N", title=None, sort=None)
    base = alt.Chart(data).encode(y=y)
    x_title = "Profiles (estimate with 95% interval)"
    top = float(max(data["high"].max(), data["estimated_size"].max(), 1)) * 1.12
    rule = base.mark_rule(strokeWidth=2, color=POINT_COLOR).encode(
        x=alt.X(
            "low:Q", title=x_title, scale=alt.Scale(domain=[0, top], nice=True), axis=count_axis()
        ),
        x2="high:Q",
    )
    ticks_low = base.mark_tick(thickness=2, size=14, color=POINT_COLOR).encode(x="low:Q")
    ticks_high = base.mark_tick(thickness=2, size=14, color=POINT_COLOR).encode(x="high:Q")
    point = base.mark_point(filled=True, size=140, color=POINT_COLOR).encode(
        x="estimated_size:Q",
        tooltip=[
            alt.Tooltip("label:N", title="Segment"),
            alt.Tooltip("estimated_size:Q", title="Estimate", format=","),
            alt.Tooltip("low:Q", title="Low", format=","),
            alt.Tooltip("high:Q", title="High", format=","),
        ],
    )
    # Streamlit fits the whole chart (axes and titles too) into this height
    height = 90 + 40 * len(data)
    return alt.layer(rule, ticks_low, ticks_high, point).properties(height=height)


def breakdown_chart(frame: pd.DataFrame, column: str) -> alt.LayerChart:
    """Bars of the estimated size per value of ``column``, with interval rules.

    ``frame`` has value, estimated_size, low, high (as ``svc.breakdown`` returns).
    Bars are horizontal, so long category names stay readable, and sorted by size;
    ranges of a number or a date (a ``position`` column) stay in their order.
    """
    data = frame[["value", "estimated_size", "low", "high"]].copy()
    data["value"] = data["value"].astype(str)
    if "position" in frame:
        order = data["value"].tolist()
    else:
        order = data.sort_values("estimated_size", ascending=False)["value"].tolist()
    y = alt.Y("value:N", title=column, sort=order)
    base = alt.Chart(data).encode(y=y)
    bars = base.mark_bar(color=BAR_COLOR).encode(
        x=alt.X("estimated_size:Q", title="Profiles", axis=count_axis()),
        tooltip=[
            alt.Tooltip("value:N", title=column),
            alt.Tooltip("estimated_size:Q", title="Estimate", format=","),
            alt.Tooltip("low:Q", title="Low", format=","),
            alt.Tooltip("high:Q", title="High", format=","),
        ],
    )
    rules = base.mark_rule(color="#37474f", strokeWidth=1.5).encode(x="low:Q", x2="high:Q")
    labels = base.mark_text(align="left", dx=4, color="#37474f").encode(
        x="high:Q", text=alt.Text("estimated_size:Q", format=",")
    )
    return alt.layer(bars, rules, labels).properties(height=70 + 30 * len(data))


CELL = 84  # px per overlap cell: "100%" whole, the slanted names apart


def overlap_heatmap(frame: pd.DataFrame) -> alt.LayerChart:
    """Pairwise overlap read along the rows: "% of A (row) also in B (column)".

    ``frame`` has segment_a, segment_b, intersection, share_of_a (one row per ordered
    pair, as ``svc.overlap`` returns); the diagonal is each segment itself (100%).
    """
    data = frame[["segment_a", "segment_b", "size_a", "intersection", "share_of_a"]].copy()
    data["label"] = [f"{share:.0%}" for share in data["share_of_a"]]
    order = list(dict.fromkeys(data["segment_a"].tolist()))
    # every name shown whole: no label may be dropped or cut for lack of room
    axis = {"labelLimit": 260, "labelOverlap": False}
    base = alt.Chart(data).encode(
        x=alt.X(
            "segment_b:N",
            title="… also in B",
            sort=order,
            axis=alt.Axis(labelAngle=-30, **axis),
        ),
        y=alt.Y("segment_a:N", title="% of A …", sort=order, axis=alt.Axis(**axis)),
    )
    rect = base.mark_rect().encode(
        color=alt.Color(
            "share_of_a:Q",
            title="% of A also in B",
            scale=alt.Scale(domain=[0, 1], scheme="blues"),
            legend=alt.Legend(format="%"),
        ),
        tooltip=[
            alt.Tooltip("segment_a:N", title="A"),
            alt.Tooltip("segment_b:N", title="B"),
            alt.Tooltip("share_of_a:Q", title="% of A also in B", format=".1%"),
            alt.Tooltip("intersection:Q", title="Profiles in both", format=","),
            alt.Tooltip("size_a:Q", title="Profiles in A", format=","),
        ],
    )
    text = base.mark_text(fontSize=13).encode(
        text="label:N",
        # dark cells get white text so the share stays readable
        color=alt.condition(alt.datum.share_of_a > 0.55, alt.value("white"), alt.value("black")),
    )
    # Sized per cell: Streamlit fits a fixed width around the axes and the legend too,
    # which left 40 px cells ("100%" cut to "00%") and crowded the slanted labels.
    return alt.layer(rect, text).properties(width=alt.Step(CELL), height=alt.Step(CELL))


def size_over_time(history: pd.DataFrame) -> alt.VConcatChart:
    """Qualified profiles per run (a line) over entered / exited per run (bars).

    ``history`` has as_of (the time each run evaluated), qualified, realized
    (entered), exited and optionally a segment column (name), as
    ``svc.jobs.history`` returns. Exited bars point down so growth and churn
    read at a glance.
    """
    data = history.copy()
    if "segment" not in data.columns:
        data["segment"] = "segment"
    data = data[["as_of", "segment", "qualified", "realized", "exited"]]
    time = alt.X("as_of:T", title="Evaluated as of", axis=alt.Axis(format="%b %d", labelAngle=0))
    line = (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=time,
            y=alt.Y("qualified:Q", title="Profiles in the segment", axis=count_axis()),
            color=alt.Color("segment:N", title="Segment"),
            tooltip=[
                alt.Tooltip("segment:N", title="Segment"),
                alt.Tooltip("as_of:T", title="Run", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("qualified:Q", title="Qualified", format=","),
            ],
        )
        .properties(height=220)
    )
    changes = pd.concat(
        [
            data.assign(change="entered", profiles=data["realized"]),
            data.assign(change="left", profiles=-data["exited"]),
        ],
        ignore_index=True,
    )[["as_of", "segment", "change", "profiles"]]
    bars = (
        alt.Chart(changes)
        .mark_bar(size=10)
        .encode(
            x=time,
            y=alt.Y("profiles:Q", title="Entered / left", axis=count_axis()),
            color=alt.Color(
                "change:N",
                title="Change",
                scale=alt.Scale(domain=["entered", "left"], range=[ENTERED_COLOR, EXITED_COLOR]),
            ),
            tooltip=[
                alt.Tooltip("segment:N", title="Segment"),
                alt.Tooltip("as_of:T", title="Run", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("change:N", title="Change"),
                alt.Tooltip("profiles:Q", title="Profiles", format=","),
            ],
        )
        .properties(height=140)
    )
    return alt.vconcat(line, bars).resolve_scale(color="independent")


def top_values_chart(values: list[tuple[object, int]], field: str) -> alt.Chart:
    """A small bar chart of a catalog field's most common values."""
    data = pd.DataFrame(
        {"value": [str(v) for v, _ in values], "count": [int(c) for _, c in values]}
    )
    return (
        alt.Chart(data)
        .mark_bar(color=BAR_COLOR)
        .encode(
            x=alt.X("count:Q", title="Profiles", axis=count_axis()),
            y=alt.Y("value:N", title=field, sort="-x"),
            tooltip=["value:N", alt.Tooltip("count:Q", format=",")],
        )
        .properties(height=60 + 26 * len(data))
    )

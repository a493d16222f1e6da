"""Home: the workspace in numbers and the segment library, each row one click from the builder."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.state import service, set_current_segment
from ui.widgets import BUILDER_PAGE, attempt, header, require_data
from ui.words import count

LIBRARY_KEY = "home_library"

svc = service()
header(
    "Home",
    "Your audiences at a glance: how big each segment was at its last run, how it moved, "
    "when it runs next. Pick a row to open it in the builder.",
)


def numbers() -> None:
    info = svc.info()
    schedules = attempt(svc.schedules.list) or []
    jobs = attempt(svc.jobs.list, limit=1) or []
    cols = st.columns(5)
    cols[0].metric("Profiles", f"{info['profiles']:,}")
    cols[1].metric("Events", f"{info['events']:,}")
    cols[2].metric("Segments", f"{info['definitions']:,}")
    cols[3].metric("Active schedules", f"{sum(s.active for s in schedules):,}")
    if jobs:
        last = jobs[0]
        cols[4].metric(
            "Last job",
            last.status.capitalize(),
            help=f"Created {last.created_at:%Y-%m-%d %H:%M} UTC, as of {last.as_of:%Y-%m-%d %H:%M}",
        )
    else:
        cols[4].metric("Last job", "none yet")


def library_frame(query: str) -> pd.DataFrame:
    entries = attempt(svc.library) or []
    if query.strip():
        hits = attempt(svc.search.segments, query) or []
        wanted = {h.id for h in hits}
        entries = [e for e in entries if e.id in wanted]
    return pd.DataFrame(
        [
            {
                "id": e.id,
                "name": e.name,
                "tags": ", ".join(e.tags),
                "size": e.size,
                "as of": e.size_as_of,
                "size over time": e.sizes,
                "schedule": "; ".join(e.schedules) or "not scheduled",
                "last job": (e.last_job_status or "never run").capitalize(),
            }
            for e in entries
        ],
        columns=[
            "id",
            "name",
            "tags",
            "size",
            "as of",
            "size over time",
            "schedule",
            "last job",
        ],
    )


def library() -> None:
    st.subheader("Segment library")
    query = st.text_input(
        "Search segments",
        key="home_search",
        placeholder="name, tag or words of the rule: winback, tags:churn, cart*",
    )
    frame = library_frame(query)
    if frame.empty:
        st.info("No segment matches." if query.strip() else "No segments yet — open the Builder.")
        return
    picked = st.dataframe(
        frame,
        key=LIBRARY_KEY,
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        column_order=[c for c in frame.columns if c != "id"],
        column_config={
            "name": st.column_config.TextColumn("Segment", width=160),
            "tags": st.column_config.TextColumn("Tags", width=110),
            "size": st.column_config.NumberColumn(
                "Size", format="localized", help="Members after the last job run", width=70
            ),
            "as of": st.column_config.DatetimeColumn(
                "As of (UTC)",
                format="YYYY-MM-DD HH:mm",
                help="The time the last run evaluated",
                width=120,
            ),
            "size over time": st.column_config.LineChartColumn(
                "Size over time", y_min=0, help="Members after each run, oldest first", width=120
            ),
            "schedule": st.column_config.TextColumn(
                "Schedule",
                help="Active schedules that run it (times on the Schedules page)",
                width=110,
            ),
            "last job": st.column_config.TextColumn("Last job", width=90),
        },
    )
    rows = picked.selection.rows if picked is not None else []
    if rows:
        set_current_segment(str(frame.iloc[rows[0]]["id"]))
        st.switch_page(BUILDER_PAGE)
    st.caption(f"{count(len(frame), 'segment')}. Select a row to open it in the builder.")


if require_data(svc):
    numbers()
    library()

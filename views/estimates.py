"""Estimates: how big a segment is, how sure that is, and how it splits and overlaps."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.charts import breakdown_chart, estimate_chart, overlap_heatmap, size_over_time
from ui.state import as_of, service
from ui.widgets import attempt, header, require_data, segment_options, segment_picker

svc = service()
header(
    "Estimates",
    "A segment's size with its 95% interval (exact on small data, sampled on large), "
    "split by an attribute, overlapping other segments, and over time.",
)


def estimate_section(query: str, label: str) -> None:
    est = attempt(svc.estimate, query, as_of=as_of())
    if est is None:
        return
    cols = st.columns([1, 1, 2])
    cols[0].metric("Estimated size", f"{est.estimated_size:,}")
    share = est.estimated_size / est.total_profiles if est.total_profiles else 0.0
    cols[1].metric("Share of profiles", f"{share:.1%}", help=f"of {est.total_profiles:,}")
    if est.exact:
        how = f"**Exact** count over all {est.total_profiles:,} profiles."
    else:
        how = (
            f"**Sampled** from {est.sample_size:,} of {est.total_profiles:,} profiles "
            f"({est.profiles_matched:,} matched); {est.confidence:.0%} interval "
            f"{est.low:,} – {est.high:,}, standard error {est.standard_error:,.0f}."
        )
    cols[2].markdown(how)
    frame = pd.DataFrame(
        [{"label": label, "estimated_size": est.estimated_size, "low": est.low, "high": est.high}]
    )
    st.altair_chart(estimate_chart(frame))


def breakdown_section(query: str) -> None:
    fields = attempt(svc.catalog) or []
    columns = [
        f.name
        for f in fields
        if str(f.source).startswith("profile")
        and f.name != "profile_id"
        and f.kind in ("text", "boolean", "number", "date", "list")
    ]
    if not columns:
        st.caption("No profile attributes to break down by.")
        return
    default = next((i for i, c in enumerate(columns) if "country" in c.lower()), 0)
    column = st.selectbox("Break down by", columns, index=default, key="est_breakdown_col")
    frame = attempt(svc.breakdown, query, column, as_of=as_of())
    if frame is None:
        return
    if frame.empty:
        st.info("No profile qualifies, so there is nothing to break down.")
        return
    st.altair_chart(breakdown_chart(frame, column))
    with st.expander("Table"):
        st.dataframe(frame, hide_index=True)


def overlap_section(default_id: str | None) -> None:
    options = segment_options(svc)
    if len(options) < 2:
        st.caption("Save at least two segments to compare their overlap.")
        return
    ids = list(options)
    default = [default_id] if default_id in options else []
    default += [i for i in ids if i not in default][: 3 - len(default)]
    chosen = st.multiselect(
        "Segments to compare",
        ids,
        default=default,
        format_func=options.__getitem__,
        # one widget per chosen segment: picking another segment starts from it again
        key=f"est_overlap_{default_id}",
        wrap=True,
    )
    if len(chosen) < 2:
        st.caption("Pick two or more segments.")
        return
    frame = attempt(svc.overlap, {options[i]: i for i in chosen}, as_of=as_of())
    if frame is None:
        return
    st.altair_chart(overlap_heatmap(frame), width="content")
    st.caption(
        "Read along a row: the share of that segment (A) also in the column's segment (B). "
        "Hover a cell for the number of profiles in both."
    )


def history_section(segment_id: str | None, label: str) -> None:
    if segment_id is None:
        st.caption("Size over time needs a saved segment that has been run as a job.")
        return
    history = attempt(svc.jobs.history, segment_id)
    if history is None:
        return
    history = history[history["job_status"] == "SUCCEEDED"] if not history.empty else history
    if history.empty:
        st.info("No job has evaluated this segment yet — run it on the Jobs page.")
        return
    st.altair_chart(size_over_time(history.assign(segment=label)))
    st.caption("Line: profiles in the segment after each run. Bars: entered (up) and left (down).")


if require_data(svc):
    picked = segment_picker(svc, "est")
    if picked is None:
        st.info("Pick a saved segment or type PQL to estimate its size.")
    else:
        estimate_section(picked.query, picked.label)
        tab_split, tab_overlap, tab_time = st.tabs(["Breakdown", "Overlap", "Size over time"])
        with tab_split:
            breakdown_section(picked.query)
        with tab_overlap:
            overlap_section(picked.segment_id)
        with tab_time:
            history_section(picked.segment_id, picked.label)

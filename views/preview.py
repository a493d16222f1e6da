"""Preview: the profiles that qualify for a segment, page by page, with chosen columns."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from segmentation import SegmentationService
from ui.cells import readable
from ui.state import as_of, service
from ui.widgets import (
    attempt,
    csv_download,
    file_name,
    header,
    lazy_csv_download,
    require_data,
    segment_picker,
)
from ui.words import engine_word, header_label

PAGE_SIZES = [25, 50, 100, 250, 500]
ALL_ROWS_CAP = 100_000  # rows in the "all members" download
_FETCH = 10_000  # the most rows one preview call returns
PAGE_KEY = "preview_page_no"
QUERY_KEY = "preview_query_signature"
COLUMNS_FOR = "preview_columns_for"  # the query the column choice was made for

svc = service()
header(
    "Preview",
    "The profiles a segment selects right now (or at the sidebar's as-of time), "
    "in profile id order, with the columns you choose.",
)


def profile_columns(service_: SegmentationService) -> list[str]:
    return [
        f.name
        for f in service_.catalog()
        if str(f.source).startswith("profile") and f.name != "profile_id"
    ]


def all_members(query: str, columns: list[str] | None, when) -> pd.DataFrame:
    """Every qualified profile up to ALL_ROWS_CAP, fetched in preview-sized pages."""
    frames, offset = [], 0
    while offset < ALL_ROWS_CAP:
        page = svc.preview(query, as_of=when, limit=_FETCH, offset=offset, columns=columns)
        frames.append(page.rows)
        if page.next_offset is None:
            break
        offset = page.next_offset
    return pd.concat(frames, ignore_index=True).head(ALL_ROWS_CAP)


def _move(delta: int) -> None:
    st.session_state[PAGE_KEY] = max(0, st.session_state.get(PAGE_KEY, 0) + delta)


def _jump(key: str) -> None:
    st.session_state[PAGE_KEY] = int(st.session_state[key]) - 1


if require_data(svc):
    left, right = st.columns([3, 2])
    with left:
        picked = segment_picker(svc, "preview")
    with right:
        columns = attempt(profile_columns, svc) or []
        labels = {lbl.name: lbl.display_name for lbl in svc.field_labels()}
        # a new segment starts from its own useful columns: contacts, then what it filters on
        target = picked.query if picked is not None else None
        if st.session_state.get(COLUMNS_FOR) != target:
            st.session_state[COLUMNS_FOR] = target
            st.session_state["preview_columns"] = attempt(svc.default_columns, target) or []
        chosen = st.multiselect(
            "Columns",
            columns,
            key="preview_columns",
            format_func=lambda c: labels.get(c, c),
            help="profile_id is always shown first. Starts with names and email, then the "
            "fields the segment uses.",
            wrap=True,
        )
        page_size = st.selectbox("Rows per page", PAGE_SIZES, index=1, key="preview_page_size")

    if picked is None:
        st.info("Pick a saved segment or type PQL to see who qualifies.")
    else:
        when = as_of()
        signature = (picked.query, tuple(chosen), page_size, str(when))
        if st.session_state.get(QUERY_KEY) != signature:
            st.session_state[QUERY_KEY] = signature
            st.session_state[PAGE_KEY] = 0
        page_no = st.session_state.get(PAGE_KEY, 0)
        cols = chosen or None
        page = attempt(
            svc.preview,
            picked.query,
            as_of=when,
            limit=page_size,
            offset=page_no * page_size,
            columns=cols,
        )
        if page is not None:
            pages = max(1, math.ceil(page.total / page_size))
            if page_no >= pages:  # the segment shrank since the last run
                st.session_state[PAGE_KEY] = pages - 1
                st.rerun()
            stats = st.columns([1, 1, 1, 2])
            stats[0].metric("Qualified profiles", f"{page.total:,}", help="Exact count")
            stats[1].metric("Page", f"{page_no + 1:,} of {pages:,}")
            stats[2].number_input(
                "Go to page",
                min_value=1,
                max_value=pages,
                value=page_no + 1,
                step=1,
                key=f"preview_jump_{pages}_{page_no}",
                on_change=_jump,
                args=(f"preview_jump_{pages}_{page_no}",),
            )
            when_text = "now" if when is None else f"as of {when:%Y-%m-%d %H:%M} UTC"
            stats[3].caption(
                f"Evaluated {when_text} by {engine_word(page.engine)}; segment: **{picked.label}**"
            )
            if page.total == 0:
                st.info("No profile qualifies. Try a wider condition or another as-of time.")
            else:
                st.dataframe(
                    readable(page.rows),
                    hide_index=True,
                    column_config={
                        c: st.column_config.Column(
                            header_label(labels.get(c, "Profile ID" if c == "profile_id" else c)),
                            help=f"{labels.get(c, c)} (column `{c}`)",
                            # emails are long; the rest fit so 1280 px needs no sideways scroll
                            width=220 if "mail" in c.lower() else 110,
                        )
                        for c in page.rows.columns
                    },
                )
                nav = st.columns([1, 1, 4])
                nav[0].button(
                    "Previous",
                    icon=":material/chevron_left:",
                    disabled=page_no == 0,
                    on_click=_move,
                    args=(-1,),
                    key="preview_prev",
                )
                nav[1].button(
                    "Next",
                    icon=":material/chevron_right:",
                    disabled=page.next_offset is None,
                    on_click=_move,
                    args=(1,),
                    key="preview_next",
                )
                dl = st.columns(2)
                with dl[0]:
                    csv_download(
                        page.rows,
                        "Download this page (CSV)",
                        file_name(picked.label, f"page-{page_no + 1}", when),
                        key="preview_dl_page",
                    )
                with dl[1]:
                    query = picked.query
                    lazy_csv_download(
                        lambda: all_members(query, cols, when),
                        "Download all members (CSV)",
                        file_name(picked.label, "members", when),
                        key="preview_dl_all",
                    )
                    if page.total > ALL_ROWS_CAP:
                        st.caption(
                            f"The download holds the first {ALL_ROWS_CAP:,} of "
                            f"{page.total:,} profiles; use the Exports page for all of them."
                        )

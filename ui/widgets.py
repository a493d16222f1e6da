"""Small widgets the pages share: headers, empty states, segment pickers, downloads."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from segmentation import SegmentationError, SegmentationService
from ui.cells import readable
from ui.state import builder_draft, current_segment, set_current_segment, show_error

T = TypeVar("T")

BUILDER_PAGE = "views/builder.py"
DATA_PAGE = "views/data.py"
# Downloads are held in server memory while the session lives; above this many
# rows the page offers the first rows only and says so.
DOWNLOAD_ROW_CAP = 100_000


def header(title: str, help_text: str) -> None:
    st.title(title)
    st.caption(help_text)


def attempt(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Call the service; a SegmentationError is shown with st.error and gives None.

    Anything else is a bug: it goes on to app.py's one page wrapper, which logs it.
    """
    try:
        return fn(*args, **kwargs)
    except SegmentationError as exc:
        show_error(exc)
        return None


def _page_link(page: str, label: str, icon: str) -> None:
    # st.page_link needs the page registered in st.navigation; outside the app
    # (a page run on its own) fall back to plain text.
    try:
        st.page_link(page, label=label, icon=icon)
    except Exception:  # a missing link must never break the page
        st.caption(label)


def require_data(svc: SegmentationService) -> bool:
    """True when profiles are loaded; otherwise a guiding empty state."""
    if svc.info()["profiles"]:
        return True
    st.info("No data yet — load the demo or upload on the Data page.", icon=":material/database:")
    _page_link(DATA_PAGE, "Open the Data page", ":material/database:")
    return False


def require_segments(svc: SegmentationService) -> bool:
    """True when at least one definition exists; otherwise a guiding empty state."""
    if svc.info()["definitions"]:
        return True
    st.info("No segments yet — open the Builder.", icon=":material/tune:")
    _page_link(BUILDER_PAGE, "Open the Builder", ":material/tune:")
    return False


def segment_options(svc: SegmentationService) -> dict[str, str]:
    """Definition id -> name, sorted by name."""
    return {d.id: d.name for d in sorted(svc.definitions.all(), key=lambda d: d.name.lower())}


@dataclass(frozen=True)
class PickedSegment:
    query: str  # a definition id or PQL text, as the service accepts
    label: str
    segment_id: str | None  # None for ad-hoc PQL


def segment_picker(
    svc: SegmentationService,
    key: str,
    *,
    allow_pql: bool = True,
    label: str = "Segment",
) -> PickedSegment | None:
    """A saved segment, or PQL text typed in place; None until something is chosen.

    The saved segment is the session's current one (the Builder's, the URL's), and
    picking another here makes that the current one for every page.
    """
    options = segment_options(svc)
    draft = builder_draft() if allow_pql else None
    # opened from a new, unsaved segment: its rule, not the first saved segment (the
    # mode is unset only on arrival: widgets start over on another page)
    new_draft = draft and draft["segment_id"] is None and current_segment() is None
    if new_draft and f"{key}_mode" not in st.session_state:
        _use_draft(key, draft)
    mode = "Saved segment"
    if allow_pql:
        modes = ["Saved segment", "PQL text"] if options else ["PQL text"]
        mode = st.radio("Evaluate", modes, horizontal=True, key=f"{key}_mode")
    if mode == "PQL text":
        text = st.text_area(
            "PQL",
            key=f"{key}_pql",
            placeholder='homeAddress.countryCode = "US" and loyaltyTier = "gold"',
            height=90,
        )
        if not text.strip():
            st.caption("Type a PQL expression to evaluate it.")
            return None
        if draft and text.strip() == draft["pql"].strip():
            what = f"“{draft['name']}”" if draft["name"] else "the new segment"
            st.info(
                f"This is the unsaved rule of {what} in the Builder.",
                icon=":material/edit_note:",
            )
        return PickedSegment(query=text, label="PQL", segment_id=None)
    if not options:
        return None
    ids = list(options)
    current = current_segment()
    if current in options:
        st.session_state[f"{key}_id"] = current
    chosen = st.selectbox(
        label,
        ids,
        format_func=options.__getitem__,
        key=f"{key}_id",
        on_change=lambda: set_current_segment(st.session_state[f"{key}_id"]),
    )
    if chosen is None:
        return None
    if draft and draft["segment_id"] == chosen:
        unsaved_note(key, draft, options[chosen])
    return PickedSegment(query=chosen, label=options[chosen], segment_id=chosen)


def _use_draft(key: str, draft: dict) -> None:
    st.session_state[f"{key}_mode"] = "PQL text"
    st.session_state[f"{key}_pql"] = draft["pql"]


def unsaved_note(key: str, draft: dict, name: str) -> None:
    """The saved segment is shown while the Builder holds an unsaved rule for it: say so."""
    with st.container(key=f"{key}_unsaved_note"):
        st.info(
            f"Showing the saved version of “{name}”; your unsaved changes in the Builder "
            "are not included.",
            icon=":material/edit_note:",
        )
        st.button(
            "Use the unsaved rule instead",
            key=f"{key}_use_draft",
            on_click=_use_draft,
            args=(key, draft),
            icon=":material/edit_note:",
        )


def segments_multiselect(
    svc: SegmentationService, key: str, label: str = "Segments", *, all_option: bool = True
) -> list[str] | str:
    """Definition ids, or "*" when "All segments" is ticked.

    Opened on the session's current segment (from the Builder or a link), that one
    is chosen instead of all.
    """
    options = segment_options(svc)
    current = current_segment()
    if current in options and key not in st.session_state:
        st.session_state[key] = [current]
        st.session_state[f"{key}_all"] = False
    st.session_state.setdefault(f"{key}_all", True)
    everything = False
    if all_option:
        everything = st.checkbox("All segments", key=f"{key}_all")
    if everything:
        return "*"
    return st.multiselect(label, list(options), format_func=options.__getitem__, key=key, wrap=True)


def file_name(segment: str, what: str, when: dt.datetime | dt.date | None = None) -> str:
    """``Winback-DE_members_2026-12-01.csv``: the segment, what it holds, and its date."""
    day = (when or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d")
    safe = re.sub(r"[^\w\-]+", "-", segment, flags=re.UNICODE).strip("-") or "segment"
    return f"{safe}_{what.replace(' ', '-')}_{day}.csv"


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 with a byte-order mark, so Excel shows "Zoë" and "Müller" right; nested
    values as JSON."""
    return readable(frame).to_csv(index=False).encode("utf-8-sig")


def csv_download(
    frame: pd.DataFrame, label: str, file_name: str, key: str, cap: int = DOWNLOAD_ROW_CAP
) -> None:
    """A CSV download of ``frame`` (the first ``cap`` rows, said so when cut)."""
    cut = len(frame) > cap
    data = frame.head(cap) if cut else frame
    st.download_button(
        label,
        data=csv_bytes(data),
        file_name=file_name,
        mime="text/csv",
        key=key,
        icon=":material/download:",
        disabled=frame.empty,
    )
    if cut:
        st.caption(
            f"The download holds the first {cap:,} of {len(frame):,} rows; "
            "use the Exports page for everything."
        )


def lazy_csv_download(
    make_frame: Callable[[], pd.DataFrame], label: str, file_name: str, key: str
) -> None:
    """A CSV download whose rows are fetched only when the button is clicked.

    The callable runs outside the script run (no st.* inside), so it gets all it
    needs through its closure.
    """
    st.download_button(
        label,
        data=lambda: csv_bytes(make_frame()),
        file_name=file_name,
        mime="text/csv",
        key=key,
        icon=":material/download:",
        on_click="ignore",
    )


def fmt_ms(ms: int | None) -> str:
    if ms is None:
        return "—"
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms} ms"

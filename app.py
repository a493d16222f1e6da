"""Segment Studio: the dashboard entry point (`streamlit run app.py`)."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from pathlib import Path

import streamlit as st

from segmentation import SegmentationError
from ui.state import service, show_error, sync_segment_with_url

LOG = logging.getLogger("segment_studio.app")
LANDED = "app_landed"  # set after the first run of a browser session

HERE = Path(__file__).parent
st.set_page_config(page_title="Segment Studio", page_icon=":material/donut_large:", layout="wide")

HOME = st.Page(HERE / "views" / "home.py", title="Home", icon=":material/home:", default=True)
BUILDER = st.Page(HERE / "views" / "builder.py", title="Builder", icon=":material/tune:")
PAGES = [
    HOME,
    BUILDER,
    st.Page(HERE / "views" / "preview.py", title="Preview", icon=":material/table_view:"),
    st.Page(HERE / "views" / "estimates.py", title="Estimates", icon=":material/bar_chart:"),
    st.Page(HERE / "views" / "jobs.py", title="Jobs", icon=":material/play_circle:"),
    st.Page(HERE / "views" / "schedules.py", title="Schedules", icon=":material/schedule:"),
    st.Page(HERE / "views" / "exports.py", title="Exports", icon=":material/download:"),
    st.Page(HERE / "views" / "search.py", title="Search", icon=":material/search:"),
    st.Page(HERE / "views" / "data.py", title="Data", icon=":material/database:"),
    st.Page(HERE / "views" / "story.py", title="Demo story", icon=":material/auto_stories:"),
]


def sidebar() -> None:
    svc = service()
    info = svc.info()
    with st.sidebar:
        st.markdown("### Segment Studio")
        st.caption(f"Workspace `{Path(info['path']).name}`")
        st.markdown(
            f"**{info['profiles']:,}** profiles · **{info['events']:,}** events · "
            f"**{info['definitions']:,}** {'segment' if info['definitions'] == 1 else 'segments'}"
        )
        if info["last_load"]:
            loaded = info["last_load"]["loaded_at"]
            st.caption(f"Last load: {info['last_load']['table']} at {loaded:%Y-%m-%d %H:%M} UTC")
        st.divider()
        mode = st.radio(
            "Evaluate as of", ["Now", "A chosen time"], horizontal=True, key="as_of_mode"
        )
        if mode == "Now":
            st.session_state["as_of"] = None
        else:
            today = dt.datetime.now(dt.UTC).date()
            day = st.date_input("Date", value=today, key="as_of_date")
            clock = st.time_input("Time (UTC)", value=dt.time(0, 0), key="as_of_time")
            chosen = st.session_state["as_of"] = dt.datetime.combine(day, clock)
            newest = svc.newest_event_time()
            if newest is not None and chosen > newest:
                st.warning(
                    f"This is after the newest event ({newest:%Y-%m-%d %H:%M} UTC): windows "
                    "such as “in the last 7 days” may find no events.",
                    icon=":material/event_busy:",
                )
        with st.expander(f"Timezone: {info['timezone']}", icon=":material/public:"):
            timezone_setting(svc, info["timezone"])


def timezone_setting(svc, current: str) -> None:
    """Calendar windows (today, this month) are read in the workspace timezone."""
    zones = sorted(zoneinfo.available_timezones() | {"UTC"})
    choice = st.selectbox(
        "Workspace timezone",
        zones,
        index=zones.index(current) if current in zones else zones.index("UTC"),
        key="workspace_timezone",
        help="`today`, `this month`, `last week` are calendar periods in this timezone.",
    )
    if choice != current:
        svc.set_timezone(choice)
        st.rerun()


def run_page(page: st.Page) -> None:
    """The one place a page's unexpected exception ends: a short message, logged.

    The sidebar and whatever the page drew before the error stay, so the user can go
    on (another page, another segment). Streamlit's own rerun/stop signals are
    BaseExceptions and pass through.
    """
    try:
        page.run()
    except SegmentationError as exc:  # a user-facing message that escaped a page
        show_error(exc)
    except Exception as exc:
        LOG.exception("page %s failed", page.title)
        first = next(iter(str(exc).strip().splitlines()), "") or type(exc).__name__
        st.error(
            f"Something went wrong on this page ({type(exc).__name__}: {first[:200]}). "
            "It was logged; the rest of Segment Studio still works.",
            icon=":material/bug_report:",
        )


def route(page: st.Page) -> st.Page:
    """Links from before the home page (``/?segment=<id>``) still open the builder."""
    first_run = not st.session_state.get(LANDED)
    st.session_state[LANDED] = True
    if first_run and page.url_path == HOME.url_path and "segment" in st.query_params:
        st.switch_page(BUILDER, query_params=st.query_params.to_dict())
    return page


sidebar()
sync_segment_with_url(service())
run_page(route(st.navigation(PAGES)))

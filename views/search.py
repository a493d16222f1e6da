"""Search: segments, catalog fields and one person's profile from one box."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from ui.cells import blank_missing, cell_text
from ui.state import service, set_current_segment
from ui.widgets import BUILDER_PAGE, attempt, header, require_data
from ui.words import STATUS_HELP, status_word

SYNTAX = """
- `vip gold` — both words; `vip OR gold` — either; `NOT vip` or `-vip` — without
- `cart*` — a word starting with *cart*; `?` is one character
- `"high value"` — a phrase, words in that order
- `name:vip`, `tags:(churn OR retention)`, `description:…`, `pql:…` — one field of a segment;
  `type:BOOLEAN`, `source:event`, `values:DE` — one field of the catalog
- a profile id, an email or a phone number finds that person
"""
# A term that is only a value (no operators, wildcards, fields or spaces) is
# also tried as a person's id / email / phone.
_PERSON = re.compile(r"^[^\s*?():\"]+$")

svc = service()
header(
    "Search",
    "Find segments by name, description, tags or PQL, fields of the catalog by name or "
    "value, and a person by profile id or email.",
)


def segment_results(query: str) -> None:
    hits = attempt(svc.search.segments, query) or []
    st.subheader(f"Segments ({len(hits)})")
    if not hits:
        st.caption("No segment matches.")
        return
    for hit in hits[:20]:
        with st.container(border=True):
            cols = st.columns([4, 1, 1])
            cols[0].markdown(f"**{hit.name}**" + ("  " + " ".join(f"`{t}`" for t in hit.tags)))
            if hit.snippet:
                cols[0].caption(hit.snippet)
            with cols[1]:
                try:
                    st.page_link(
                        BUILDER_PAGE,
                        label="Open in builder",
                        icon=":material/tune:",
                        query_params={"segment": hit.id},
                    )
                except Exception:  # outside the app's navigation
                    st.caption(f"id `{hit.id}`")
            if cols[2].button(
                "Preview",
                key=f"search_preview_{hit.id}",
                icon=":material/table_view:",
                on_click=set_current_segment,
                args=(hit.id,),
            ):
                st.switch_page("views/preview.py")
    if len(hits) > 20:
        st.caption(f"… and {len(hits) - 20} more; narrow the search.")


def field_results(query: str) -> None:
    hits = attempt(svc.search.fields, query) or []
    st.subheader(f"Fields ({len(hits)})")
    if not hits:
        st.caption("No field matches.")
        return
    frame = pd.DataFrame(
        [
            {
                "field": h.name,
                "source": h.source,
                "type": h.type,
                "null share": h.null_share,
                "distinct": h.distinct_count,
                "matched values": ", ".join(h.matched_values),
                "top values": ", ".join(h.top_values[:8]),
            }
            for h in hits
        ]
    )
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "null share": st.column_config.ProgressColumn(
                "Null share", format="percent", min_value=0.0, max_value=1.0
            ),
            "distinct": st.column_config.NumberColumn("Distinct", format="localized"),
        },
    )


def render_profile(view) -> None:
    st.markdown(f"**Profile `{view.profile_id}`**")
    left, right = st.columns([2, 3])
    with left:
        attrs = pd.DataFrame(
            {
                "attribute": list(view.attributes),
                "value": [cell_text(v) for v in view.attributes.values()],
            }
        )
        st.dataframe(attrs, hide_index=True)
    with right:
        st.markdown("**Segments**")
        if view.memberships:
            st.dataframe(
                pd.DataFrame([m.model_dump() for m in view.memberships])
                .drop(columns=["segment_id", "job_id", "version"])
                .assign(status=lambda f: f["status"].map(status_word)),
                hide_index=True,
                column_config={
                    "segment_name": "Segment",
                    "status": st.column_config.TextColumn("Status", help=STATUS_HELP),
                    "last_qualification_time": st.column_config.DatetimeColumn(
                        "Last qualified (UTC)", format="YYYY-MM-DD HH:mm"
                    ),
                    "as_of": st.column_config.DatetimeColumn(
                        "From the run as of (UTC)",
                        format="YYYY-MM-DD HH:mm",
                        help="The job run these memberships come from (what-if runs never)",
                    ),
                },
            )
        else:
            st.caption("In no segment (as of the last job).")
        st.markdown(f"**Latest events** ({len(view.events)})")
        if view.events.empty:
            st.caption("No events.")
        else:
            events = view.events.drop(columns=["profile_id"], errors="ignore")
            st.dataframe(blank_missing(events), hide_index=True, height=260)


def profile_results(term: str) -> None:
    st.subheader("Profile")
    if not _PERSON.match(term):
        st.caption("Type a single profile id, email or phone number to look a person up.")
        return
    result = attempt(svc.search.profile, term)
    if result is None:
        st.caption(f"No profile has the id, email or phone {term!r}.")
        return
    if isinstance(result, list):
        ids = [m.profile_id for m in result]
        how = {m.profile_id: m.matched_column for m in result}
        st.caption(f"{len(ids)} profiles match; pick one.")
        chosen = st.selectbox(
            "Profile", ids, format_func=lambda p: f"{p} (by {how[p]})", key="search_pick"
        )
        result = attempt(svc.search.profile_view, chosen)
        if result is None:
            return
    render_profile(result)


if require_data(svc):
    query = st.text_input(
        "Search",
        key="search_q",
        placeholder='cart*   ·   name:vip OR tags:churn   ·   "high value"   ·   ann@example.com',
        label_visibility="collapsed",
    )
    with st.expander("Search syntax"):
        st.markdown(SYNTAX)
    query = query.strip()
    if not query:
        st.caption("Type words to search; an empty box lists nothing.")
    else:
        segment_results(query)
        field_results(query)
        profile_results(query)

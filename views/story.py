"""Demo story: a winback campaign from the first rule to the file for the email tool."""

from __future__ import annotations

import streamlit as st

from ui.state import service, set_current_segment
from ui.widgets import attempt, header, require_data

STORY_SEGMENT = "Lapsed VIPs"  # a demo segment: gold/platinum, spent 500+, no purchase in 6 months
STEPS = [
    (
        "1. Build",
        "views/builder.py",
        ":material/tune:",
        "Open the winback list in the builder. Read the rule in words above the tabs, switch "
        "to PQL to see the same rule as text, and open “Which condition narrows it most?”.",
    ),
    (
        "2. Estimate",
        "views/estimates.py",
        ":material/bar_chart:",
        "How big is it? On more than 250,000 profiles the size is estimated from a sample, "
        "with a 95% interval; below that it is an exact count. Compare it with other "
        "segments on the Overlap tab (“% of A also in B”).",
    ),
    (
        "3. Preview",
        "views/preview.py",
        ":material/table_view:",
        "Who exactly? Names and emails first, then the fields the rule uses. Download a "
        "page or every member as CSV (opens in Excel, accents included).",
    ),
    (
        "4. Run a job",
        "views/jobs.py",
        ":material/play_circle:",
        "Record the members: run the segment now, then see who entered and who left since "
        "the last run. A run as of another time is a what-if and changes nothing.",
    ),
    (
        "5. Schedule",
        "views/schedules.py",
        ":material/schedule:",
        "Keep it fresh: pick “Every weekday” at 07:00 in your timezone and create the "
        "schedule; the next runs are listed in that timezone and in UTC.",
    ),
    (
        "6. Export",
        "views/exports.py",
        ":material/download:",
        "Hand it over: export the members to CSV for the email tool. The page says how many "
        "rows it will write and which run they come from before it runs.",
    ),
]

svc = service()
header(
    "Demo story: a winback campaign",
    f"Six steps with the demo segment “{STORY_SEGMENT}”: gold and platinum members who "
    "spent 500 or more and have bought nothing for six months.",
)


def step_card(title: str, page: str, icon: str, text: str, segment_id: str) -> None:
    with st.container(border=True, key=f"story_{page.split('/')[-1].removesuffix('.py')}"):
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.markdown(f"**{title}**  \n{text}")
        if right.button("Go", icon=icon, key=f"story_go_{title[0]}", width="stretch"):
            set_current_segment(segment_id)
            st.switch_page(page)


if require_data(svc):
    segment = attempt(svc.definitions.find, STORY_SEGMENT)
    if segment is None:
        st.info(
            f"The demo segment “{STORY_SEGMENT}” is not in this workspace. Load the demo on "
            "the Data page (or run `segmentation init --demo`) to follow the story.",
            icon=":material/info:",
        )
    else:
        info = svc.info()
        sampled = attempt(svc.estimate, segment.id)
        if sampled is not None and not sampled.exact:
            st.success(
                f"This workspace holds {info['profiles']:,} profiles: estimates are sampled, "
                "so step 2 shows an interval.",
                icon=":material/insights:",
            )
        else:
            st.caption(
                f"This workspace holds {info['profiles']:,} profiles, so every estimate is an "
                "exact count. For sampled estimates with intervals load the large demo "
                "(README: “Demo data”)."
            )
        for title, page, icon, text in STEPS:
            step_card(title, page, icon, text, segment.id)

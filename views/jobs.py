"""Jobs: evaluate segments now, follow the history, see who entered and who left."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from segmentation.jobs import FINISHED, SegmentJob
from ui.state import as_of, current_segment, service
from ui.widgets import (
    attempt,
    csv_download,
    file_name,
    fmt_ms,
    header,
    require_data,
    require_segments,
    segments_multiselect,
)
from ui.words import STATUS_HELP, count

JOB_KEY = "jobs_selected"

svc = service()
header(
    "Jobs",
    "Evaluate segments now; each run records who entered and who left, and the "
    "history keeps every run's counts and timings.",
)


def run_now() -> None:
    with st.container(border=True):
        st.markdown("**Run now**")
        chosen = segments_multiselect(svc, "jobs_run_segments")
        when = as_of()
        st.caption(
            "Evaluated "
            + ("now" if when is None else f"as of {when:%Y-%m-%d %H:%M} UTC (sidebar)")
            + ". Segments that use other segments run after them."
        )
        clicked = st.button(
            "Run now",
            type="primary",
            icon=":material/play_arrow:",
            disabled=not chosen,
            key="jobs_run",
        )
    if not clicked:
        return
    with st.status("Running the segment job ...", expanded=True) as status:
        bar = st.progress(0.0, text="Starting")

        def progress(fraction: float, message: str) -> None:
            bar.progress(min(max(fraction, 0.0), 1.0), text=message)

        job = attempt(svc.jobs.run, chosen, as_of=when, progress=progress)
        if job is None:
            status.update(label="The job could not start", state="error")
            return
        if job.status == "SUCCEEDED":
            total = sum(job.metrics.segmented_profile_counter.values())
            status.update(
                label=("What-if job" if job.what_if else "Job")
                + f" succeeded: {count(len(job.segments), 'segment')}, "
                f"{count(total, 'qualified membership')}, "
                f"{fmt_ms(job.metrics.total_time.total_time_in_ms)}"
                + (" (members unchanged)" if job.what_if else ""),
                state="complete",
                expanded=False,
            )
        else:
            status.update(label=f"Job {job.status.lower()}", state="error")
            if job.error:
                st.error(job.error)
    st.session_state[JOB_KEY] = st.session_state["jobs_pick"] = job.id  # show this run below


def status_words(job: SegmentJob) -> str:
    """ "Succeeded · what-if": the status as a word, what-if runs marked (table and picker)."""
    return job.status.capitalize() + (" · what-if" if job.what_if else "")


def job_row(job: SegmentJob) -> dict:
    by_status = job.metrics.segmented_profile_by_status_counter
    return {
        "created": job.created_at,
        "status": status_words(job),
        "as of": job.as_of,
        "segments": ", ".join(s.name for s in job.segments),
        "qualified": sum(job.metrics.segmented_profile_counter.values()),
        "entered": sum(c.get("realized", 0) for c in by_status.values()),
        "exited": sum(c.get("exited", 0) for c in by_status.values()),
        "duration": fmt_ms(job.metrics.total_time.total_time_in_ms),
        "source": "schedule" if job.source == "scheduler" else "by hand",
    }


@st.fragment(run_every=2)
def running_jobs() -> None:
    """Unfinished jobs (e.g. a schedule's), refreshed every 2 s, with Cancel."""
    jobs = attempt(svc.jobs.list, limit=50) or []
    running = [j for j in jobs if j.status not in FINISHED]
    if not running:
        return
    st.markdown("**Running**")
    for job in running:
        cols = st.columns([5, 1])
        names = ", ".join(s.name for s in job.segments)
        cols[0].write(f"{job.status} · {names} · `{job.id[:8]}`")
        if job.status != "CANCELLING" and cols[1].button(
            "Cancel", key=f"jobs_cancel_{job.id}", icon=":material/stop:"
        ):
            attempt(svc.jobs.cancel, job.id)
            st.rerun(scope="fragment")


def history() -> list[SegmentJob]:
    st.subheader("History")
    jobs = attempt(svc.jobs.list, limit=100) or []
    if not jobs:
        st.info("No job has run yet — use Run now above.")
        return []
    frame = pd.DataFrame([job_row(j) for j in jobs])
    # widths chosen so the table fits 1280 px wide screens without scrolling sideways
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "created": st.column_config.DatetimeColumn(
                "Created (UTC)", format="YYYY-MM-DD HH:mm", width=115
            ),
            "status": st.column_config.TextColumn(
                "Status",
                width=125,
                help="what-if: run as of the future or before the latest run; its counts are "
                "kept, members and exports did not change",
            ),
            "as of": st.column_config.DatetimeColumn(
                "As of (UTC)", format="YYYY-MM-DD HH:mm", width=115
            ),
            "segments": st.column_config.TextColumn("Segments", width=120),
            "qualified": st.column_config.NumberColumn("Members", format="localized", width=75),
            "entered": st.column_config.NumberColumn(
                "Entered", format="localized", help=STATUS_HELP, width=65
            ),
            "exited": st.column_config.NumberColumn(
                "Left", format="localized", help=STATUS_HELP, width=50
            ),
            "duration": st.column_config.TextColumn(
                "Time", help="How long the whole job took", width=60
            ),
            "source": st.column_config.TextColumn("Run", width=70),
        },
    )
    return jobs


def _segment_ids(job: SegmentJob) -> list[str]:
    return [s.segment_id for s in job.segments]


def job_detail(jobs: list[SegmentJob]) -> None:
    st.subheader("Who entered and who left")
    by_id = {j.id: j for j in jobs}
    ids = list(by_id)
    current = current_segment()
    wanted = st.session_state.get(JOB_KEY)
    if wanted not in ids:  # opened for a segment (the story, a link): its newest run
        wanted = next((j.id for j in jobs if current in _segment_ids(j)), None)
    index = ids.index(wanted) if wanted in ids else 0

    def label(job_id: str) -> str:
        j = by_id[job_id]
        return (
            f"{j.created_at:%Y-%m-%d %H:%M:%S} · as of {j.as_of:%Y-%m-%d %H:%M} · "
            f"{status_words(j)} · {count(len(j.segments), 'segment')}"
        )

    job_id = st.selectbox("Job", ids, index=index, format_func=label, key="jobs_pick")
    job = by_id[job_id]
    if job.error:
        st.error(job.error)
    if job.what_if:
        st.info(
            f"What-if run as of {job.as_of:%Y-%m-%d %H:%M} UTC: its counts and who would enter "
            "or leave are kept here, but members, exports and profile memberships did not change.",
            icon=":material/science:",
        )
    by_status = job.metrics.segmented_profile_by_status_counter
    rows = [
        {
            "segment": s.name,
            "version": s.version,
            "qualified": job.metrics.segmented_profile_counter.get(s.segment_id, 0),
            "entered": by_status.get(s.segment_id, {}).get("realized", 0),
            "still in": by_status.get(s.segment_id, {}).get("existing", 0),
            "exited": by_status.get(s.segment_id, {}).get("exited", 0),
        }
        for s in job.segments
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={
            "segment": "Segment",
            "version": st.column_config.NumberColumn("Version", help="Definition version used"),
            "qualified": st.column_config.NumberColumn("Qualified", format="localized"),
            "entered": st.column_config.NumberColumn(
                "Entered", format="localized", help=STATUS_HELP
            ),
            "still in": st.column_config.NumberColumn(
                "Still in", format="localized", help=STATUS_HELP
            ),
            "exited": st.column_config.NumberColumn("Left", format="localized", help=STATUS_HELP),
        },
    )
    if job.status != "SUCCEEDED":
        return
    names = {s.segment_id: s.name for s in job.segments}
    if st.session_state.get("jobs_pick_segment") not in names and current in names:
        st.session_state["jobs_pick_segment"] = current  # the segment the page is open for
    segment_id = st.selectbox(
        "Segment", list(names), format_func=names.__getitem__, key="jobs_pick_segment"
    )
    changes = attempt(svc.job_changes, job.id, segment_id)
    if changes is None:
        return
    tabs = st.tabs(
        [
            f"Entered ({(changes['change'] == 'entered').sum():,})",
            f"Left ({(changes['change'] == 'exited').sum():,})",
        ]
    )
    for tab, change, word in ((tabs[0], "entered", "entered"), (tabs[1], "exited", "left")):
        people = changes.loc[changes["change"] == change].drop(columns=["segment_id", "change"])
        with tab:
            if people.empty:
                st.caption(f"Nobody {word}.")
                continue
            st.dataframe(people, hide_index=True, height=240)
            csv_download(
                people,
                f"Download who {word} (CSV)",
                file_name(names[segment_id], word, job.as_of),
                key=f"jobs_dl_{change}",
            )


if require_data(svc) and require_segments(svc):
    run_now()
    running_jobs()
    jobs = history()
    if jobs:
        job_detail(jobs)

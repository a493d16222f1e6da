"""Exports: write segment members to CSV, Parquet or JSON files and download them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import streamlit as st

from segmentation.exports import FINISHED, ExportJob
from ui.state import current_segment, service
from ui.widgets import attempt, header, require_data, require_segments, segment_options
from ui.words import STATUS_HELP, STATUS_WORDS, count, listed, status_word

MIME = {
    ".csv": "text/csv",
    ".parquet": "application/vnd.apache.parquet",
    ".jsonl": "application/x-ndjson",
}

svc = service()
header(
    "Exports",
    "Write the members the last job recorded (entered, still in, left) to files, "
    "one combined file or one per segment. Run the segments on the Jobs page first.",
)


def profile_columns() -> list[str]:
    fields = attempt(svc.catalog) or []
    return [f.name for f in fields if str(f.source).startswith("profile")]


def create_form(names: dict[str, str]) -> None:
    with st.container(border=True):
        st.markdown("**New export**")
        left, right = st.columns(2)
        with left:
            current = current_segment()
            if current in names and "exp_segments" not in st.session_state:
                st.session_state["exp_segments"] = [current]  # the one being worked on
            segments = st.multiselect(
                "Segments",
                list(names),
                format_func=names.__getitem__,
                key="exp_segments",
                wrap=True,
            )
            fields = st.multiselect(
                "Fields",
                profile_columns(),
                key="exp_fields",
                placeholder="All profile fields",
                help="profile_id always comes first; leave empty for every profile field.",
                wrap=True,
            )
            name = st.text_input("Name (optional)", key="exp_name", placeholder="Spring campaign")
        with right:
            fmt = st.radio(
                "Format",
                ["csv", "parquet", "json"],
                horizontal=True,
                key="exp_format",
                help="JSON is written one object per line (.jsonl).",
            )
            statuses = st.multiselect(
                "Membership status",
                list(STATUS_WORDS),
                default=["realized", "existing"],
                key="exp_statuses",
                format_func=status_word,
                help=STATUS_HELP,
                wrap=True,
            )
            combined = st.toggle(
                "One combined file",
                value=True,
                key="exp_combined",
                help="On: one file with a segment_id column. Off: one file per segment.",
            )
            include_membership = st.checkbox(
                "Add membership status and qualification time", key="exp_membership"
            )
            window = st.checkbox("Only profiles qualified in a date range", key="exp_window")
            after = before = None
            if window:
                today = dt.date.today()
                dates = st.date_input(
                    "Qualified between (UTC)",
                    value=(today - dt.timedelta(days=30), today),
                    key="exp_dates",
                )
                if isinstance(dates, tuple) and len(dates) == 2:
                    after = dt.datetime.combine(dates[0], dt.time())
                    before = dt.datetime.combine(dates[1] + dt.timedelta(days=1), dt.time())
        request = {
            "segments": segments,
            "fields": fields,
            "format": fmt,
            "statuses": statuses,
            "combined": combined,
            "include_membership": include_membership,
            "qualified_after": after,
            "qualified_before": before,
            "name": name.strip() or None,
        }
        rows, never_run = what_it_writes(request, names) if segments and statuses else (None, [])
        # members come from a run: a segment never run has none, its export would be empty
        nothing_run = bool(segments) and set(never_run) >= set(segments)
        if never_run:
            not_run_yet(never_run, names, nothing_run)
        clicked = st.button(
            "Nothing to export yet"
            if nothing_run
            else "Create export"
            if rows is None
            else f"Export {count(rows, 'row')}",
            type="primary",
            icon=":material/file_export:",
            disabled=not segments or nothing_run,
            key="exp_create",
            help="Run the segment first: there are no members to export yet."
            if nothing_run
            else None,
        )
    if clicked:
        job = attempt(svc.exports.create, request, run_async=True)
        if job is not None:
            st.toast(f"Export {job.id} started.", icon=":material/file_export:")


def what_it_writes(request: dict, names: dict[str, str]) -> tuple[int | None, list[str]]:
    """The rows the export will write, and which run each segment's members come from;
    with the segments never run (they have no members to write yet)."""
    counts = attempt(svc.export_rows, request)
    if counts is None:
        return None, []
    lines, never_run = [], []
    for segment, n in counts.items():
        run = attempt(svc.last_evaluation, segment)
        name = names.get(segment, segment)
        if run is None:
            never_run.append(segment)
            lines.append(f"- **{name}**: not run yet, so no members to export")
            continue
        stale = " (an older version of the segment)" if run["stale"] else ""
        lines.append(
            f"- **{name}**: {count(n, 'row')}, from the run as of "
            f"{run['as_of']:%Y-%m-%d %H:%M} UTC{stale}"
        )
    st.markdown("\n".join(lines), help="Exports write the members the last job recorded.")
    return sum(counts.values()), never_run


def not_run_yet(segment_ids: list[str], names: dict[str, str], nothing_run: bool) -> None:
    """Segments never run: say so and run them here (an export of them would be empty)."""
    which = listed([f"“{names.get(s, s)}”" for s in segment_ids])
    st.info(
        f"{which} {'has' if len(segment_ids) == 1 else 'have'} not been run yet"
        + (", so there is nothing to export." if nothing_run else " and will add no rows.")
        + " Run now records the members (or use the Jobs page).",
        icon=":material/info:",
    )
    if st.button("Run now", icon=":material/play_arrow:", key="exp_run_now"):
        with st.spinner("Evaluating ..."):
            job = attempt(svc.jobs.run, segment_ids)  # now: a what-if run would feed no export
        if job is not None:
            if job.status != "SUCCEEDED":
                st.error(job.error or f"The job {job.status.lower()}.")
                return
            st.rerun()


def download_buttons(job: ExportJob) -> None:
    for i, name in enumerate(job.files):
        path = Path(name)
        if not path.exists():
            st.caption(f"{path.name} (removed)")
            continue
        size = path.stat().st_size
        st.download_button(
            f"{path.name} ({size / 1024:,.1f} KB)",
            data=path.read_bytes,  # read on click, not on every rerun
            file_name=path.name,
            mime=MIME.get(path.suffix, "application/octet-stream"),
            key=f"exp_dl_{job.id}_{i}",
            icon=":material/download:",
            on_click="ignore",
        )


def job_list() -> None:
    jobs = attempt(svc.exports.list, limit=50) or []
    busy = any(j.status not in FINISHED for j in jobs)
    if st.session_state.get("exp_busy") and not busy:
        st.session_state["exp_busy"] = False
        st.rerun()  # a full run stops the once-a-second refresh
    if not jobs:
        st.info("No exports yet — create one above.")
        return
    names = segment_options(svc)
    rows = [
        {
            "created (UTC)": j.created_at,
            "status": j.status.capitalize(),
            "name": j.request.name or "",
            "segments": ", ".join(names.get(s, s) for s in j.request.segments),
            "format": j.request.format,
            "rows": j.metrics.profiles_exported,
            # which run the members came from (what-if runs never feed an export)
            "from run": ", ".join(
                sorted({f"{r.as_of:%Y-%m-%d %H:%M}" for r in j.metrics.runs if r.as_of})
            ),
            "seconds": round(j.metrics.seconds, 2),
            "error": j.error or "",
        }
        for j in jobs
    ]
    frame = pd.DataFrame(rows)
    if not frame["error"].any():  # a column of blanks only pushes the table wider
        frame = frame.drop(columns=["error"])
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "created (UTC)": st.column_config.DatetimeColumn(
                "Created (UTC)", format="YYYY-MM-DD HH:mm", width=125
            ),
            "status": st.column_config.TextColumn("Status", width=90),
            "name": st.column_config.TextColumn("Name", width=100),
            "segments": st.column_config.TextColumn("Segments", width=150),
            "format": st.column_config.TextColumn("Format", width=60),
            "rows": st.column_config.NumberColumn("Rows", format="localized", width=70),
            "from run": st.column_config.TextColumn(
                "Members as of (UTC)",
                width=130,
                help="The as-of time of the job run whose members were written",
            ),
            "seconds": st.column_config.NumberColumn("Seconds", width=65),
            "error": st.column_config.TextColumn("Error", width=200),
        },
    )
    for job in jobs:
        if job.status not in FINISHED:
            cols = st.columns([5, 1])
            cols[0].write(f"`{job.id}` is {job.status.lower()}")
            if cols[1].button("Cancel", key=f"exp_cancel_{job.id}", icon=":material/stop:"):
                attempt(svc.exports.cancel, job.id, timeout=5.0)
                st.rerun(scope="fragment")
    finished = [j for j in jobs if j.status == "SUCCEEDED" and j.files][:10]
    if finished:
        st.markdown("**Download**")
        for job in finished:
            label = job.request.name or ", ".join(names.get(s, s) for s in job.request.segments)
            with st.expander(
                f"{job.created_at:%Y-%m-%d %H:%M:%S} · {label}", expanded=job is jobs[0]
            ):
                download_buttons(job)


def watch() -> None:
    """The job list, refreshed every second while an export is running."""
    jobs = attempt(svc.exports.list, limit=50) or []
    busy = any(j.status not in FINISHED for j in jobs)
    st.session_state["exp_busy"] = busy
    st.fragment(run_every=1 if busy else None)(job_list)()


if require_data(svc) and require_segments(svc):
    names = segment_options(svc)
    create_form(names)
    st.subheader("Export jobs")
    watch()

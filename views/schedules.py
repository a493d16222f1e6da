"""Schedules: run segment jobs on a cron, in a chosen timezone."""

from __future__ import annotations

import zoneinfo

import pandas as pd
import streamlit as st

from segmentation import SegmentationError
from segmentation.schedules import Schedule
from ui.state import current_segment, service, show_error
from ui.widgets import attempt, header, require_data, segment_options

NEW = "__new__"
PICK_KEY = "sched_pick"
FIELDS = ("sched_name", "sched_cron", "sched_tz", "sched_all", "sched_segments", "sched_active")

svc = service()
header(
    "Schedules",
    "Evaluate segments on a timetable. Cron takes Quartz (AEP: `0 0 2 * * ?`) or the "
    "usual 5 fields (`0 2 * * *`); times are read in the schedule's timezone.",
)


@st.cache_data
def timezones() -> list[str]:
    return sorted(zoneinfo.available_timezones())


def segment_names(schedule: Schedule, names: dict[str, str]) -> str:
    if schedule.segments == ["*"]:
        return "All segments"
    return ", ".join(names.get(s, s) for s in schedule.segments)


def schedule_table(schedules: list[Schedule], names: dict[str, str]) -> None:
    if not schedules:
        st.info("No schedules yet — create one below.", icon=":material/schedule:")
        return
    rows = [
        {
            "name": s.name,
            "when": s.description,
            "cron": s.cron,
            "timezone": s.timezone,
            "segments": segment_names(s, names),
            "on": s.active,
            "last run (UTC)": s.last_run_at.strftime("%Y-%m-%d %H:%M")
            if s.last_run_at
            else "never",
            "next run": s.next_run.strftime("%Y-%m-%d %H:%M %Z") if s.next_run else "off",
            "last error": s.last_error or "",
        }
        for s in schedules
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={
            "name": "Name",
            "when": "When",
            "cron": "Cron",
            "timezone": "Timezone",
            "segments": "Segments",
            "on": st.column_config.CheckboxColumn("On"),
            "last run (UTC)": "Last run (UTC)",
            "next run": "Next run",
            "last error": "Last error",
        },
    )


def load_into_form() -> None:
    """On picking a schedule, copy its values into the form's widgets."""
    pick = st.session_state.get(PICK_KEY, NEW)
    found = next((s for s in svc.schedules.list() if s.id == pick), None)
    if found is None:
        for key in FIELDS:
            st.session_state.pop(key, None)
        return
    st.session_state.update(
        sched_name=found.name,
        sched_cron=found.cron,
        sched_tz=found.timezone,
        sched_all=found.segments == ["*"],
        sched_segments=[s for s in found.segments if s in segment_options(svc)],
        sched_active=found.active,
    )


def cron_preview(cron: str, tz: str) -> bool:
    """The cron in words and its next 5 runs; False (with the reason) when it is wrong."""
    if not cron.strip():
        st.caption("Type a cron expression to see when it runs.")
        return False
    try:
        words = svc.cron_describe(cron)
        runs = svc.cron_next_runs(cron, tz, 5)
    except SegmentationError as exc:
        st.error(exc.message, icon=":material/error:")
        return False
    st.success(f"**{words}** ({tz})", icon=":material/event_repeat:")
    if runs:
        st.markdown("Next runs:\n" + "\n".join(f"- {r:%a %Y-%m-%d %H:%M %Z}" for r in runs))
    else:
        st.caption("This schedule has no future runs.")
    return True


def editor(schedules: list[Schedule], names: dict[str, str]) -> None:
    labels = {NEW: "New schedule", **{s.id: f"Edit: {s.name}" for s in schedules}}
    pick = st.selectbox(
        "Schedule",
        list(labels),
        format_func=labels.__getitem__,
        key=PICK_KEY,
        on_change=load_into_form,
    )
    zones = timezones()
    st.session_state.setdefault("sched_tz", svc.timezone if svc.timezone in zones else "UTC")
    current = current_segment()
    if pick == NEW and current in names and "sched_segments" not in st.session_state:
        # a new schedule starts with the segment being worked on
        st.session_state["sched_all"] = False
        st.session_state["sched_segments"] = [current]
    st.session_state.setdefault("sched_all", True)
    st.session_state.setdefault("sched_active", True)
    left, right = st.columns([3, 2])
    with left:
        name = st.text_input("Name", key="sched_name", placeholder="Nightly refresh")
        cron = st.text_input("Cron", key="sched_cron", placeholder="0 0 2 * * ?")
        tz = st.selectbox("Timezone", zones, key="sched_tz")
        everything = st.checkbox("All segments", key="sched_all")
        segments = (
            ["*"]
            if everything
            else st.multiselect(
                "Segments", list(names), format_func=names.__getitem__, key="sched_segments"
            )
        )
        active = st.toggle("On", key="sched_active")
    with right:
        ok = cron_preview(cron, tz)
    buttons = st.columns([1, 1, 4])
    if pick == NEW:
        if buttons[0].button(
            "Create", type="primary", icon=":material/add:", disabled=not ok, key="sched_create"
        ):
            made = attempt(
                svc.schedules.create,
                name=name,
                cron=cron,
                segments=segments,
                timezone=tz,
                active=active,
            )
            if made is not None:
                st.session_state["sched_flash"] = f"Created schedule {made.name!r}."
                for key in FIELDS:
                    st.session_state.pop(key, None)
                st.rerun()
        return
    if buttons[0].button(
        "Save", type="primary", icon=":material/save:", disabled=not ok, key="sched_save"
    ):
        saved = attempt(
            svc.schedules.update,
            pick,
            name=name,
            cron=cron,
            segments=segments,
            timezone=tz,
            active=active,
        )
        if saved is not None:
            st.session_state["sched_flash"] = f"Saved schedule {saved.name!r}."
            st.rerun()
    with buttons[1].popover("Delete", icon=":material/delete:"):
        st.write(f"Delete **{labels[pick].removeprefix('Edit: ')}**? Its past jobs stay.")
        if st.button("Delete for good", type="primary", key="sched_delete"):
            try:
                svc.schedules.delete(pick)
            except SegmentationError as exc:
                show_error(exc)
            else:
                st.session_state["sched_flash"] = "Deleted the schedule."
                del st.session_state[PICK_KEY]
                for key in FIELDS:
                    st.session_state.pop(key, None)
                st.rerun()


if require_data(svc):
    flash = st.session_state.pop("sched_flash", None)
    if flash:
        st.success(flash, icon=":material/check_circle:")
    names = segment_options(svc)
    schedules = attempt(svc.schedules.list) or []
    schedule_table(schedules, names)
    st.subheader("Create or edit")
    if not names:
        st.caption("No segments yet — a schedule of 'All segments' runs whatever exists then.")
    editor(schedules, names)

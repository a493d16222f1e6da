"""Schedules: run segment jobs on a cron, in a chosen timezone."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pandas as pd
import streamlit as st

from segmentation import SegmentationError
from segmentation.schedules import Schedule
from ui.state import current_segment, service, show_error
from ui.widgets import attempt, header, require_data, segment_options

NEW = "__new__"
PICK_KEY = "sched_pick"
RESET_KEY = "sched_reset"  # set by Create/Delete: the next run starts the form over
WHEN = {
    "daily": "Every day",
    "weekdays": "Every weekday",
    "weekly": "Once a week",
    "monthly": "Once a month",
    "cron": "Cron (power users)",
}
WEEKDAY_NAMES = {
    "MON": "Monday",
    "TUE": "Tuesday",
    "WED": "Wednesday",
    "THU": "Thursday",
    "FRI": "Friday",
    "SAT": "Saturday",
    "SUN": "Sunday",
}
# 29-31 do not exist in every month; "last day" covers the month end
DAYS_OF_MONTH = [*range(1, 29), 0]

svc = service()
header(
    "Schedules",
    "Evaluate segments on a timetable: every day, every weekday, once a week or once a "
    "month at a time of day, in the schedule's timezone. Power users can type cron "
    "(Quartz as in AEP, `0 0 2 * * ?`, or the usual 5 fields).",
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
            "when": f"{s.description} ({s.timezone})",
            "cron": s.cron,
            "segments": segment_names(s, names),
            "on": s.active,
            "last run (UTC)": s.last_run_at.strftime("%Y-%m-%d %H:%M")
            if s.last_run_at
            else "never",
            # in UTC like the last run: one column, one timezone (each schedule's own
            # timezone is in "When", and the form lists its next runs in both)
            "next run (UTC)": s.next_run.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
            if s.next_run
            else "off",
            "last error": s.last_error or "",
        }
        for s in schedules
    ]
    frame = pd.DataFrame(rows)
    if not frame["last error"].any():  # a column of blanks only pushes the table wider
        frame = frame.drop(columns=["last error"])
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "name": st.column_config.TextColumn("Name", width=120),
            "when": st.column_config.TextColumn("When", width=180),
            "cron": st.column_config.TextColumn("Cron", width=110),
            "segments": st.column_config.TextColumn("Segments", width=120),
            "on": st.column_config.CheckboxColumn("On", width=40),
            "last run (UTC)": st.column_config.TextColumn("Last run (UTC)", width=110),
            "next run (UTC)": st.column_config.TextColumn("Next run (UTC)", width=110),
            "last error": st.column_config.TextColumn("Last error", width=200),
        },
    )


def _pick_into_state(cron: str) -> None:
    """Show a cron in the picker when it has one of its shapes, else as cron text."""
    pick = svc.cron_to_pick(cron)
    st.session_state["sched_cron"] = cron
    if pick is None:
        st.session_state["sched_when"] = "cron"
        return
    st.session_state.update(
        sched_when=pick.frequency,
        sched_time=dt.time(pick.hour, pick.minute),
        sched_weekday=pick.weekday or "MON",
        sched_dom=pick.day_of_month if pick.day_of_month is not None else 1,
    )


def form_defaults() -> dict[str, object]:
    """The start value of every field of a new schedule."""
    zones = timezones()
    values: dict[str, object] = {
        "sched_name": "",
        "sched_when": "daily",
        "sched_time": dt.time(2, 0),
        "sched_weekday": "MON",
        "sched_dom": 1,
        "sched_cron": "",
        "sched_tz": svc.timezone if svc.timezone in zones else "UTC",
        "sched_all": True,
        "sched_segments": [],
        "sched_active": True,
    }
    current = current_segment()
    if current in segment_options(svc):  # a new schedule starts with the segment in work
        values.update(sched_all=False, sched_segments=[current])
    return values


def reset_form() -> None:
    """Every field back to its start value.

    Values are set, not dropped: a dropped key lets the browser send its old value
    back, which is how the form used to stay half filled after Create.
    """
    st.session_state.update(form_defaults())


def load_into_form() -> None:
    """On picking a schedule, copy its values into the form's widgets."""
    pick = st.session_state.get(PICK_KEY, NEW)
    found = next((s for s in svc.schedules.list() if s.id == pick), None)
    reset_form()
    if found is None:
        return
    _pick_into_state(found.cron)
    st.session_state.update(
        sched_name=found.name,
        sched_tz=found.timezone,
        sched_all=found.segments == ["*"],
        sched_segments=[s for s in found.segments if s in segment_options(svc)],
        sched_active=found.active,
    )


def cron_preview(cron: str, tz: str) -> bool:
    """The schedule in words and its next 5 runs (its timezone and UTC); False when wrong."""
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
    st.caption(f"Cron: `{cron}`")
    if runs:
        st.markdown(
            "Next runs:\n"
            + "\n".join(
                f"- {r:%a %Y-%m-%d %H:%M %Z}"
                + ("" if tz == "UTC" else f" · {r.astimezone(dt.UTC):%a %H:%M} UTC")
                for r in runs
            )
        )
    else:
        st.caption("This schedule has no future runs.")
    return True


def when_picker() -> str | None:
    """Every day / weekday / week on a day / month on a day, at a time -> cron."""
    when = st.radio("When", list(WHEN), format_func=WHEN.get, horizontal=True, key="sched_when")
    if when == "cron":
        return st.text_input(
            "Cron", key="sched_cron", placeholder="0 0 2 * * ?", persist_state="session"
        )
    cols = st.columns(2)
    at = cols[0].time_input(
        "At", key="sched_time", step=dt.timedelta(minutes=15), persist_state="session"
    )
    days: dict[str, object] = {}
    if when == "weekly":
        days["weekday"] = cols[1].selectbox(
            "On",
            list(WEEKDAY_NAMES),
            format_func=WEEKDAY_NAMES.get,
            key="sched_weekday",
            persist_state="session",
        )
    elif when == "monthly":
        days["day_of_month"] = cols[1].selectbox(
            "On day",
            DAYS_OF_MONTH,
            format_func=lambda d: "the last day" if d == 0 else f"day {d}",
            key="sched_dom",
            persist_state="session",
        )
    return attempt(svc.cron_from_pick, when, at.hour, at.minute, **days)


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
    if st.session_state.pop(RESET_KEY, False):
        reset_form()
    # a field Streamlit dropped (not drawn in a run, e.g. the time while "Cron" was
    # picked) starts from its default, never from the widget's own (the current time)
    for key, value in form_defaults().items():
        st.session_state.setdefault(key, value)
    left, right = st.columns([3, 2])
    with left:
        # "e.g.": a bare example name reads as filled in (the demo has "Nightly refresh")
        name = st.text_input("Name", key="sched_name", placeholder="e.g. Winback, weekday mornings")
        cron = when_picker() or ""
        tz = st.selectbox("Timezone", zones, key="sched_tz")
        everything = st.checkbox("All segments", key="sched_all")
        segments = (
            ["*"]
            if everything
            else st.multiselect(
                "Segments",
                list(names),
                format_func=names.__getitem__,
                key="sched_segments",
                wrap=True,
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
                st.session_state[RESET_KEY] = True
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
                st.session_state[RESET_KEY] = True
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

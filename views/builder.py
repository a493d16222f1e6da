"""Segment builder: edit a definition visually or as PQL, see its size live, save it."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from segmentation import SegmentationError
from segmentation.errors import PQLSyntaxError
from segmentation.model import And, Or, segment_refs
from segmentation.pql import parse, to_pql
from ui import builder_state as bs
from ui.builder_widgets import Context, render_group
from ui.charts import count_axis
from ui.state import as_of, current_segment, service, set_builder_draft, set_current_segment
from ui.widgets import attempt
from ui.words import count, engine_word, listed, whole_numbers

NEW = "__new__"
K_ROOT = "builder_root"  # GroupState: the rule being edited
K_LOADED = "builder_loaded"  # the definition whose content is in the builder (NEW: a new one)
K_PICK = "builder_pick"  # the definition selectbox
K_PQL = "builder_pql_text"  # the PQL text area
K_PQL_SYNCED = "builder_pql_synced"  # the PQL last pushed into the text area
K_PQL_ERROR = "builder_pql_error"
K_PQL_NOTE = "builder_pql_note"  # why an Apply did nothing
K_FLASH = "builder_flash"
K_CONFIRM = "builder_confirm_delete"
K_NAME, K_DESC, K_TAGS = "builder_name", "builder_desc", "builder_tags"
# Keyed widgets forget their value on a page switch unless told otherwise.
KEEP = "session"

svc = service()
st.title("Segment builder")


# --- loading and switching definitions ------------------------------------------------


def _load_expression(expr: Any) -> None:
    st.session_state[K_ROOT] = bs.from_expression(expr)
    st.session_state[K_PQL_ERROR] = None
    st.session_state[K_PQL_NOTE] = None


def _load_definition(def_id: str | None) -> None:
    """Fill the builder and the save form from a saved definition (or blank them)."""
    st.session_state[K_LOADED] = def_id or NEW
    st.session_state[K_CONFIRM] = False
    set_current_segment(def_id)
    st.query_params.pop("draft", None)
    if def_id is None:
        _load_expression(None)
        st.session_state[K_NAME], st.session_state[K_DESC] = "", ""
        st.session_state[K_TAGS] = []
        return
    definition = svc.definitions.get(def_id)
    _load_expression(definition.expression)
    st.session_state[K_NAME] = definition.name
    st.session_state[K_DESC] = definition.description
    st.session_state[K_TAGS] = list(definition.tags)


def _loaded_id() -> str | None:
    loaded = st.session_state.get(K_LOADED)
    return None if loaded in (None, NEW) else loaded


def _on_pick() -> None:
    # Only asks for the switch: main() loads it, or asks first when there are unsaved edits.
    pick = st.session_state[K_PICK]
    set_current_segment(None if pick == NEW else pick)


def _start_from(pql: str, name: str, description: str = "") -> None:
    _load_definition(None)
    st.session_state[K_PICK] = NEW
    st.session_state[K_PQL] = pql
    _apply_pql()  # a bad example shows its error in the PQL tab instead of failing
    st.session_state[K_NAME] = name
    st.session_state[K_DESC] = description


def _current_expression() -> Any:
    root = st.session_state.get(K_ROOT)
    return bs.to_expression(root) if root is not None else None


def _keep_typed_text() -> None:
    """After a failed Apply the text area keeps what was typed, not the current tree."""
    expr = _current_expression()
    st.session_state[K_PQL_SYNCED] = to_pql(expr) if expr is not None else ""


def _apply_pql() -> None:
    text = st.session_state.get(K_PQL, "")
    st.session_state[K_PQL_NOTE] = None
    current = _current_expression()
    if not text.strip():
        # An empty box must never turn the rule into "everyone"; it shows the rule again.
        st.session_state[K_PQL_NOTE] = (
            "The PQL box was empty, so nothing was applied"
            + (": the rule is unchanged." if current is not None else ".")
            + " To drop conditions, remove them in the Visual tab."
        )
        st.session_state[K_PQL] = to_pql(current) if current is not None else ""
        return
    try:
        expr = parse(text)
    except PQLSyntaxError as exc:
        st.session_state[K_PQL_ERROR] = {
            "line": exc.line,
            "column": exc.column,
            "reason": exc.reason,
            "message": exc.message,
        }
        _keep_typed_text()
        return
    except SegmentationError as exc:
        st.session_state[K_PQL_ERROR] = {"message": exc.message}
        _keep_typed_text()
        return
    if expr == current:
        st.session_state[K_PQL_ERROR] = None
        st.session_state[K_PQL_NOTE] = "Nothing to apply: this text is the rule already in use."
        return
    _load_expression(expr)


def _unfinished_rows() -> Any:
    """The builder, when it holds rows the PQL cannot (started, not filled in yet).

    A blank row (what "Group" starts with) is no edit: counted, it kept "Unsaved
    changes" and the URL draft after a save.
    """
    root = st.session_state.get(K_ROOT)
    return root if root is not None and bs.unfinished(root, count_blank=False) else None


def _draft_fields() -> dict[str, Any]:
    expr = _current_expression()
    fields = {
        "pql": to_pql(expr) if expr is not None else "",
        "name": st.session_state.get(K_NAME) or "",
        "description": st.session_state.get(K_DESC) or "",
        "tags": list(st.session_state.get(K_TAGS) or []),
    }
    if (unfinished := _unfinished_rows()) is not None:
        fields["builder"] = bs.state_to_json(unfinished)
    return fields


def _saved_fields(definition: Any) -> dict[str, Any]:
    if definition is None:
        return {"pql": "", "name": "", "description": "", "tags": []}
    return {
        "pql": definition.pql,
        "name": definition.name,
        "description": definition.description,
        "tags": list(definition.tags),
    }


def unsaved_changes(definition: Any) -> list[str]:
    """What differs from the saved definition (all of it for a new one), in the user's words."""
    draft, saved = _draft_fields(), _saved_fields(definition)
    labels = {"pql": "rule", "name": "name", "description": "description", "tags": "tags"}
    changed = [labels[k] for k in labels if draft[k] != saved[k]]
    if "builder" in draft:
        changed.append("a condition not filled in yet")
    typed = st.session_state.get(K_PQL)
    if typed is not None and typed != st.session_state.get(K_PQL_SYNCED) and "rule" not in changed:
        changed.append("PQL text not applied yet")
    return changed


def _encode_draft(fields: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


def _restore_draft(token: str) -> None:
    """A reload starts a new session: the unsaved draft comes back from the URL."""
    try:
        fields = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        expr = parse(fields["pql"]) if fields.get("pql") else None
    except (ValueError, KeyError, TypeError, SegmentationError):
        st.query_params.pop("draft", None)
        st.warning("The link's unsaved draft could not be read; showing the saved segment.")
        return
    _load_expression(expr)
    _restore_rows(fields.get("builder"), expr)
    st.session_state[K_NAME] = str(fields.get("name") or "")
    st.session_state[K_DESC] = str(fields.get("description") or "")
    st.session_state[K_TAGS] = [str(t) for t in fields.get("tags") or []]


def _restore_rows(data: Any, expr: Any) -> None:
    """The draft's rows, with those not filled in yet, when they still mean its PQL."""
    if not data:
        return
    try:
        root = bs.state_from_json(data)
        same = bs.to_expression(root) == expr
    except (ValueError, TypeError, SegmentationError):  # e.g. a PQL row's text edited
        same = False
    if same:
        st.session_state[K_ROOT] = root
    else:  # a hand-edited link: the PQL is the rule, the started rows are lost
        st.warning("The link's unfinished conditions could not be read; its rule is shown.")


def reconcile(definitions: dict[str, Any]) -> str | None:
    """Load the segment the session is on; returns a segment waiting for "discard?" instead.

    The segment can change elsewhere (another page, a link) while the builder holds
    unsaved edits: then the edits stay and the user is asked first.
    """
    loaded = st.session_state.get(K_LOADED)
    if loaded not in (None, NEW) and loaded not in definitions:
        _load_definition(None)  # deleted elsewhere
        loaded = NEW
    target = current_segment()
    if loaded is None:  # first run of the session
        draft = st.query_params.get("draft")
        _load_definition(target)
        if draft:
            _restore_draft(draft)
        return None
    if (target or NEW) == loaded:
        return None
    if unsaved_changes(definitions.get(loaded)):
        return target or NEW
    _load_definition(target)
    return None


def switch_prompt(pending: str, definitions: dict[str, Any]) -> None:
    loaded = _loaded_id()
    here = definitions[loaded].name if loaded else "The new segment"
    there = definitions[pending].name if pending in definitions else "a new segment"
    with st.container(key="builder_switch_prompt", border=True):
        st.warning(
            f"“{here}” has unsaved changes. Open “{there}” and lose them?",
            icon=":material/warning:",
        )
        keep, discard = st.columns(2)
        keep.button(
            "Keep editing",
            key="builder_keep",
            on_click=set_current_segment,
            args=(loaded,),
            width="stretch",
        )
        discard.button(
            f"Discard changes, open “{there}”",
            key="builder_discard",
            on_click=_load_definition,
            args=(None if pending == NEW else pending,),
            width="stretch",
        )


def remember_draft(changed: list[str], definition: Any) -> None:
    """Keep unsaved edits in the URL, so a reload of the same link brings them back."""
    if changed:
        st.query_params["draft"] = _encode_draft(_draft_fields())
    else:
        st.query_params.pop("draft", None)
    if definition is not None:
        st.query_params["segment"] = definition.id


# --- estimate -----------------------------------------------------------------------------


@st.cache_data(max_entries=512, show_spinner=False)
def _estimate(pql: str, as_of_iso: str | None, data_version: str, _svc: Any) -> dict[str, Any]:
    """Keyed by the PQL text, as-of and the data version, so re-renders are instant."""
    when = dt.datetime.fromisoformat(as_of_iso) if as_of_iso else None
    try:
        return {"ok": _svc.estimate(pql, as_of=when).model_dump()}
    except SegmentationError as exc:
        return {"error": exc.message}


def _data_version(info: dict[str, Any], definitions: dict[str, Any]) -> str:
    last = info.get("last_load") or {}
    stamps = max((d.updated_at.isoformat() for d in definitions.values()), default="")
    return (
        f"{info['path']}|{info['profiles']}|{info['events']}|{last.get('loaded_at')}|{stamps}"
        f"|{info['timezone']}"
    )


def _interval_chart(est: dict[str, Any]) -> alt.Chart:
    total = max(est["total_profiles"], 1)
    frame = pd.DataFrame(
        [
            {
                "what": "Segment",
                "size": est["estimated_size"],
                "low": est["low"],
                "high": est["high"],
                "total": total,
            }
        ]
    )
    base = alt.Chart(frame).encode(y=alt.Y("what:N", title=None, axis=None))
    scale = alt.Scale(domain=[0, total])
    back = base.mark_bar(color="#e6e9ef", size=26).encode(
        x=alt.X("total:Q", scale=scale, title="profiles", axis=count_axis())
    )
    bar = base.mark_bar(color="#4f6bed", size=26).encode(
        x=alt.X("size:Q", scale=scale),
        tooltip=[
            alt.Tooltip("size:Q", title="estimate", format=","),
            alt.Tooltip("low:Q", title="95% low", format=","),
            alt.Tooltip("high:Q", title="95% high", format=","),
            alt.Tooltip("total:Q", title="all profiles", format=","),
        ],
    )
    rule = base.mark_rule(color="#1b1f3b", strokeWidth=2).encode(x="low:Q", x2="high:Q")
    ticks = base.mark_tick(color="#1b1f3b", thickness=2, size=18).encode(
        x="low:Q"
    ) + base.mark_tick(color="#1b1f3b", thickness=2, size=18).encode(x="high:Q")
    return (back + bar + rule + ticks).properties(height=70)


def estimate_panel(expr: Any, info: dict[str, Any], version: str) -> None:
    st.subheader("Audience size")
    if expr is None:
        st.metric(
            "Estimated size",
            count(info["profiles"], "profile"),
            help="No conditions yet: everyone.",
        )
        st.caption("Add a condition to narrow the audience.")
        return
    pql = to_pql(expr)
    when = as_of()
    result = _estimate(pql, when.isoformat() if when else None, version, svc)
    if "error" in result:
        st.error(result["error"], icon=":material/error:")
        return
    est = result["ok"]
    total = max(est["total_profiles"], 1)
    share = est["estimated_size"] / total
    if est["exact"]:
        value = count(est["estimated_size"], "profile")
        detail = f"exact · {share:.1%} of {est['total_profiles']:,}"
    else:
        value = "≈ " + count(est["estimated_size"], "profile")
        detail = (
            f"({est['low']:,}–{est['high']:,}) · {share:.1%} of {est['total_profiles']:,}"
            f" · 95% interval from a sample of {est['sample_size']:,}"
        )
    st.metric(
        "Estimated size",
        value,
        help="Exact on small data; on large data a sampled estimate with a 95% interval.",
    )
    when_text = f" · as of {when:%Y-%m-%d %H:%M} UTC" if when else " · as of now"
    st.caption(f"{detail}{when_text} · by {engine_word(est['engine'])}")
    st.altair_chart(_interval_chart(est), width="stretch")
    if isinstance(expr, And | Or):
        with st.expander("Which condition narrows it most?", icon=":material/filter_alt:"):
            waterfall_view(pql, when.isoformat() if when else None, version)


@st.cache_data(max_entries=128, show_spinner=False)
def _waterfall(pql: str, as_of_iso: str | None, data_version: str, _svc: Any) -> Any:
    when = dt.datetime.fromisoformat(as_of_iso) if as_of_iso else None
    return _svc.waterfall(pql, as_of=when)


def waterfall_view(pql: str, as_of_iso: str | None, version: str) -> None:
    table = attempt(_waterfall, pql, as_of_iso, version, svc)
    if table is None:
        return
    st.caption("Each top-level condition alone, and the audience left after it and the ones above.")
    st.dataframe(
        table[["condition", "alone", "so_far"]],
        hide_index=True,
        width="stretch",
        # the counts must stay in view in the narrow right column: the condition text
        # takes what is left (the whole text is one hover away)
        column_config={
            "condition": st.column_config.TextColumn("Condition", width=120),
            "alone": st.column_config.NumberColumn("Alone", format="localized", width=65),
            "so_far": st.column_config.NumberColumn("So far", format="localized", width=65),
        },
    )


def staleness_note(editing: Any) -> None:
    """Members come from the last job; say when that was and whether it used this version."""
    last = attempt(svc.last_evaluation, editing.id)
    if last is None:
        st.caption("Not evaluated by a job yet: run it on the Jobs page to record members.")
    elif last["stale"]:
        st.warning(
            f"Members were last recorded for v{last['version']} (as of "
            f"{last['as_of']:%Y-%m-%d %H:%M} UTC); this is v{editing.version}. "
            "Run a job to refresh them.",
            icon=":material/history:",
        )
    else:
        st.caption(
            f"Members last recorded as of {last['as_of']:%Y-%m-%d %H:%M} UTC: "
            f"{count(last['qualified'], 'profile')}."
        )


# --- save panel ----------------------------------------------------------------------------


def _flash(message: str) -> None:
    st.session_state[K_FLASH] = message


def _save(expr: Any) -> None:
    name = (st.session_state.get(K_NAME) or "").strip()
    desc = st.session_state.get(K_DESC) or ""
    tags = list(st.session_state.get(K_TAGS) or [])
    def_id = _loaded_id()
    if def_id is not None and not unsaved_changes(svc.definitions.find(def_id)):
        _flash("info:Nothing changed since the saved version, so nothing was saved.")
        return
    try:
        if def_id is None:
            saved = svc.definitions.create(name=name, expression=expr, description=desc, tags=tags)
            _flash(f"“{saved.name}” saved as v{saved.version}.")
        else:
            saved = svc.definitions.update(
                def_id, name=name, expression=expr, description=desc, tags=tags
            )
            _flash(f"v{saved.version} saved.")
    except SegmentationError as exc:
        _flash("error:" + exc.message)
        return
    st.session_state[K_LOADED] = saved.id
    st.session_state[K_PICK] = saved.id
    # what was stored (a trimmed name) is what the form shows, so it is not "unsaved"
    st.session_state[K_NAME] = saved.name
    st.session_state[K_DESC] = saved.description
    st.session_state[K_TAGS] = list(saved.tags)
    st.query_params.pop("draft", None)
    set_current_segment(saved.id)


def _duplicate() -> None:
    try:
        copy = svc.definitions.duplicate(_loaded_id())
    except SegmentationError as exc:
        _flash("error:" + exc.message)
        return
    _load_definition(copy.id)
    st.session_state[K_PICK] = copy.id
    _flash(f"Duplicated as “{copy.name}”.")


def used_by(definition: Any, definitions: dict[str, Any]) -> list[str]:
    """The segments and schedules that use ``definition``, in the user's words.

    The delete refuses while any does; asking first lets the page say so before it
    asks "delete?". (The same check as the core's delete: a rule naming this segment
    by id or name, a schedule listing it. The delete checks again under its lock.)
    """
    mine = {definition.id.lower(), definition.name.lower()}
    users = [
        f"the segment “{other.name}”"
        for other in sorted(definitions.values(), key=lambda d: d.name.lower())
        if other.id != definition.id
        and mine & {ref.lower() for ref in segment_refs(other.expression)}
    ]
    schedules = attempt(svc.schedules.uses_segment, definition.id) or []
    return users + [f"the schedule “{s.name}”" for s in schedules]


def _delete() -> None:
    def_id = _loaded_id()
    try:
        name = svc.definitions.get(def_id).name
        svc.definitions.delete(def_id)
    except SegmentationError as exc:  # e.g. a schedule made meanwhile: its message names it
        st.session_state[K_CONFIRM] = False
        _flash("error:" + exc.message)
        return
    _load_definition(None)
    st.session_state[K_PICK] = NEW
    _flash(f"“{name}” deleted.")


def _show_flash() -> None:
    message = st.session_state.pop(K_FLASH, None)
    if not message:
        return
    if message.startswith("error:"):
        st.error(message.removeprefix("error:"), icon=":material/error:")
    elif message.startswith("info:"):
        st.info(message.removeprefix("info:"), icon=":material/info:")
    else:
        st.success(message, icon=":material/check_circle:")
        st.toast(message)


def save_panel(expr: Any, definitions: dict[str, Any], changed: list[str]) -> None:
    def_id = _loaded_id()
    current = definitions.get(def_id) if def_id else None
    with st.container(border=True):
        if current is None:
            st.subheader("Save")
        else:
            st.subheader(f"Save · v{current.version}")
        st.text_input(
            "Name", key=K_NAME, placeholder="e.g. High-value customers, DE", persist_state=KEEP
        )
        st.text_area(
            "Description",
            key=K_DESC,
            height=68,
            placeholder="Who is in it, and why",
            persist_state=KEEP,
        )
        all_tags = sorted({tag for d in definitions.values() for tag in d.tags})
        st.multiselect(
            "Tags",
            list(dict.fromkeys([*all_tags, *st.session_state.get(K_TAGS, [])])),
            key=K_TAGS,
            persist_state=KEEP,
            accept_new_options=True,
            placeholder="Pick or type tags",
            wrap=True,
        )
        disabled = expr is None
        if current is None:
            st.button(
                "Save segment",
                type="primary",
                icon=":material/save:",
                key="builder_save",
                on_click=_save,
                args=(expr,),
                disabled=disabled,
                width="stretch",
                help="Add at least one condition first." if disabled else None,
            )
        else:
            # the main action only when there is something to save; it stays clickable
            # (a name typed and Save clicked at once arrive in one run)
            st.button(
                f"Save as new version (v{current.version + 1})",
                type="primary" if changed else "secondary",
                icon=":material/save:",
                key="builder_save",
                on_click=_save,
                args=(expr,),
                disabled=disabled,
                width="stretch",
                help=None if changed else f"Nothing changed since v{current.version}.",
            )
            cols = st.columns(2)
            cols[0].button(
                "Duplicate",
                icon=":material/content_copy:",
                key="builder_dup",
                on_click=_duplicate,
                width="stretch",
            )
            if cols[1].button(
                "Delete", icon=":material/delete:", key="builder_del", width="stretch"
            ):
                st.session_state[K_CONFIRM] = True
            if st.session_state.get(K_CONFIRM):
                delete_prompt(current, definitions)
        _show_flash()
        if current is not None:
            quick_links(current)


def delete_prompt(current: Any, definitions: dict[str, Any]) -> None:
    """Ask before deleting; or, when something still uses it, say what instead of asking."""
    users = used_by(current, definitions)
    if users:
        st.warning(
            f"“{current.name}” cannot be deleted: {listed(users)} "
            f"{'uses' if len(users) == 1 else 'use'} it. Take it out of "
            f"{'that' if len(users) == 1 else 'those'} first.",
            icon=":material/block:",
        )
        if st.button("OK", key="builder_del_no"):
            st.session_state[K_CONFIRM] = False
            st.rerun()
        return
    st.warning(f"Delete “{current.name}” and its history?")
    yes, no = st.columns(2)
    yes.button("Yes, delete", type="primary", key="builder_del_yes", on_click=_delete)
    if no.button("Cancel", key="builder_del_no"):
        st.session_state[K_CONFIRM] = False
        st.rerun()


QUICK_LINKS = {  # button -> the page it opens on this segment
    "Preview": ("views/preview.py", ":material/table_view:"),
    "Schedule": ("views/schedules.py", ":material/schedule:"),
    "Export": ("views/exports.py", ":material/download:"),
}


def quick_links(current: Any) -> None:
    # two to a row: four buttons in one row of the right column clip their labels
    cols = [c for _ in range(2) for c in st.columns(2)]
    for col, (label, (target, icon)) in zip(cols, QUICK_LINKS.items(), strict=False):
        if col.button(
            label,
            help=f"{label} “{current.name}”",
            icon=icon,
            key=f"builder_go_{label.lower()}",
            width="stretch",
        ):
            set_current_segment(current.id)
            st.switch_page(target)
    if cols[3].button("Run now", icon=":material/play_arrow:", key="builder_run", width="stretch"):
        with st.status(f"Evaluating “{current.name}” ...", expanded=True) as status:
            bar = st.progress(0.0)
            try:
                job = svc.jobs.run(
                    [current.id],
                    as_of=as_of(),
                    progress=lambda f, m: bar.progress(min(max(float(f), 0.0), 1.0), text=m),
                )
            except SegmentationError as exc:
                status.update(label=exc.message, state="error")
                return
            counts = (
                (job.metrics or {}).get("segmented_profile_counter", {})
                if isinstance(job.metrics, dict)
                else {}
            )
            qualified = counts.get(current.id)
            label = f"Job {job.status.lower()}" + (
                f": {count(qualified, 'profile')} qualified" if qualified is not None else ""
            )
            status.update(
                label=label,
                state="complete" if job.status == "SUCCEEDED" else "error",
                expanded=False,
            )


def history_and_transfer(current: Any) -> None:
    if current is not None:
        with st.expander(f"Version history ({current.version})"):
            for version in reversed(svc.definitions.versions(current.id)):
                st.markdown(
                    f"**v{version.version}** · {version.updated_at:%Y-%m-%d %H:%M} · {version.name}"
                )
                st.code(version.pql, language="sql", wrap_lines=True)
    with st.expander("Import / export AEP JSON"):
        upload = st.file_uploader(
            "Import segment definitions (AEP JSON)", type=["json"], key="builder_import"
        )
        mode = st.radio(
            "If a name exists",
            ["error", "skip", "rename"],
            horizontal=True,
            key="builder_import_mode",
            format_func={"error": "stop", "skip": "skip it", "rename": "import as a copy"}.get,
        )
        if upload is not None and st.button(
            "Import", key="builder_import_go", icon=":material/upload:"
        ):
            try:
                created = svc.import_aep(upload.getvalue().decode("utf-8"), on_conflict=mode)
            except (SegmentationError, UnicodeDecodeError) as exc:
                st.error(getattr(exc, "message", str(exc)), icon=":material/error:")
            else:
                names = ", ".join(getattr(d, "name", str(d)) for d in (created or []))
                st.success(
                    f"Imported {len(created or [])}: {names}" if created else "Nothing imported."
                )
        if current is not None:
            payload = json.dumps(svc.export_aep([current.id]), indent=2, default=str)
            st.download_button(
                "Export this segment (AEP JSON)",
                payload,
                file_name=f"{current.name}.json",
                mime="application/json",
                icon=":material/download:",
                key="builder_export",
                on_click="ignore",
            )


# --- the visual and PQL tabs -----------------------------------------------------------------


def pql_tab(expr: Any) -> None:
    current = to_pql(expr) if expr is not None else ""
    # The box always shows the rule in use, also when its widget state is new (a reload).
    if st.session_state.get(K_PQL_SYNCED) != current or K_PQL not in st.session_state:
        st.session_state[K_PQL] = current
        st.session_state[K_PQL_SYNCED] = current
        st.session_state[K_PQL_ERROR] = None  # the error was about text that is now replaced
    st.text_area(
        "PQL",
        key=K_PQL,
        persist_state=KEEP,
        height=160,
        placeholder='e.g. country = "DE" and xEvent[eventType = "purchase"].count() >= 2',
        help="Profile Query Language, as in Adobe Experience Platform. "
        "Apply loads it into the visual builder.",
    )
    st.button(
        "Apply",
        type="primary",
        key="builder_pql_apply",
        on_click=_apply_pql,
        icon=":material/check:",
    )
    note = st.session_state.get(K_PQL_NOTE)
    if note:
        st.info(note, icon=":material/info:")
    error = st.session_state.get(K_PQL_ERROR)
    if error:
        if "line" in error:
            st.error(
                f"Line {error['line']}, column {error['column']}: {error['reason']}",
                icon=":material/error:",
            )
            lines = (st.session_state.get(K_PQL) or "").splitlines() or [""]
            source = lines[min(error["line"], len(lines)) - 1]
            st.code(f"{source}\n{' ' * (error['column'] - 1)}^", language=None)
        else:
            st.error(error["message"], icon=":material/error:")


def visual_tab(ctx: Context) -> None:
    render_group(ctx, ctx.root)


def _example_spec(sample: Any) -> dict[str, Any]:
    """DEMO_SEGMENTS items may be dicts, models or (name, pql[, description]) tuples."""
    if isinstance(sample, dict):
        return sample
    if isinstance(sample, (tuple, list)):
        return dict(zip(("name", "pql", "description"), sample, strict=False))
    if hasattr(sample, "model_dump"):
        return sample.model_dump()
    return dict(getattr(sample, "__dict__", {}))


def examples(definitions: dict[str, Any]) -> None:
    try:
        from segmentation.samples import DEMO_SEGMENTS
    except ImportError:
        return
    if definitions or not DEMO_SEGMENTS:
        return
    st.info("No saved segments yet. Start from an example:", icon=":material/lightbulb:")
    cols = st.columns(min(len(DEMO_SEGMENTS), 4))
    for i, sample in enumerate(list(DEMO_SEGMENTS)[:8]):
        spec = _example_spec(sample)
        if not spec.get("pql"):
            continue
        name = spec.get("name") or f"Example {i + 1}"
        cols[i % len(cols)].button(
            name,
            key=f"builder_example_{i}",
            help=spec.get("description") or spec.get("pql"),
            on_click=_start_from,
            args=(spec["pql"], name, spec.get("description", "")),
            width="stretch",
        )


# --- page ---------------------------------------------------------------------------------


def main() -> None:
    info = svc.info()
    if not info["profiles"]:
        st.info(
            "No profile data is loaded yet. Load a file (or the demo data) on the Data page first.",
            icon=":material/database:",
        )
        st.page_link("views/data.py", label="Go to the Data page", icon=":material/database:")
        return
    definitions = {d.id: d for d in svc.definitions.all()}
    pending = reconcile(definitions)
    loaded = _loaded_id()
    names = {d.id: d.name for d in sorted(definitions.values(), key=lambda d: d.name.lower())}
    st.session_state[K_PICK] = loaded or NEW  # the box shows what is loaded, not what is asked
    pick_col, meta_col = st.columns([3, 2], gap="large", vertical_alignment="bottom")
    with pick_col:
        st.selectbox(
            "Segment",
            [NEW, *names],
            key=K_PICK,
            format_func=lambda i: "+ New segment" if i == NEW else names.get(i, i),
            on_change=_on_pick,
            help="Pick a saved segment to edit it; the URL changes so you can share it.",
        )
    editing = definitions.get(loaded or "")
    with meta_col:
        badge = st.container(key="builder_unsaved")
        if editing is not None:
            tags = " ".join(f"`{t}`" for t in editing.tags)
            st.caption(
                f"v{editing.version} · updated {editing.updated_at:%Y-%m-%d %H:%M} UTC {tags}"
            )
            staleness_note(editing)
        else:
            st.caption("A new segment: build it below, then save it.")
    if pending is not None:
        switch_prompt(pending, definitions)
    examples(definitions)
    catalog = svc.catalog()
    ctx = Context(
        profile_fields={
            f.name: f for f in catalog if f.source == "profile" and f.name != "profile_id"
        },
        event_fields={f.name: f for f in catalog if f.source == "event"},
        event_types=svc.event_types(),
        segments={i: n for i, n in names.items() if i != loaded},
        root=st.session_state[K_ROOT],
        labels={(lbl.source, lbl.name): lbl for lbl in svc.field_labels()},
    )
    left, right = st.columns([3, 2], gap="large")
    with left:
        reads = st.container(key="builder_sentence")
        visual, text = st.tabs(["Visual", "PQL"])
        with visual:
            visual_tab(ctx)
        expr = _current_expression()
        with text:
            pql_tab(expr)
        with reads:  # drawn above the tabs, after the tabs updated the rule
            # whole numbers without ".0": the number box gives floats, the words print them
            words = attempt(svc.sentence, whole_numbers(expr))
            if words:
                st.markdown(
                    f"**Who:** {words}.", help="The rule in words; the tabs hold it exactly."
                )
    changed = unsaved_changes(editing)
    with right:
        estimate_panel(expr, info, _data_version(info, definitions))
        save_panel(expr, definitions, changed)
        history_and_transfer(editing)
    if changed:
        with badge:
            st.badge(
                "Unsaved changes",
                icon=":material/edit_note:",
                color="orange",
                help="Changed: " + ", ".join(changed) + ". Save to keep them as a new version.",
            )
    remember_draft(changed, editing)
    draft_pql = to_pql(expr) if expr is not None and "rule" in changed else None
    set_builder_draft(loaded, st.session_state.get(K_NAME) or "", draft_pql)


main()

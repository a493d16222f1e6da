"""Render functions of the visual segment builder.

Each function draws one group or row of a ``GroupState`` tree and writes the
widget values back into it. Widget keys are built from the node's stable id
(``bld:<id>:<part>``), and a key is seeded from the state only when streamlit
does not hold it yet, so adding, removing or moving rows never moves values
between rows. Structural edits (add, remove, move) run in ``on_click``
callbacks, before the script, so the next draw already shows the new shape.

Layout: the builder's column is narrow (about 430 px inside a row at 1280 px), so
a field takes a line of its own (display names are long) and the parts that
follow share a line in a 2:3 grid (``GRID``); multiselects wrap their chips onto
more lines instead of hiding them. tests/test_browser.py measures every
dropdown, chip and label at 1280x800 and 1440x900.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from ui import builder_state as bs
from ui.builder_state import (
    AttributeRow,
    EventRow,
    GroupState,
    PqlRow,
    SegmentRow,
    SequenceRow,
    StepState,
    WindowState,
)

EVENT_SYSTEM_FIELDS = {"profile_id", "eventType", "timestamp"}
KIND_ICONS = {
    "text": "Aa",
    "number": "#",
    "boolean": "✓✗",
    "date": "📅",
    "timestamp": "🕒",
    "list": "[ ]",
    "other": "?",
}
ROW_TITLES = {
    "attribute": ":material/person: Profile attribute",
    "event": ":material/bolt: Event",
    "sequence": ":material/linear_scale: Sequence",
    "segment": ":material/donut_large: In segment",
    "pql": ":material/code: PQL, kept as written",
}
ADD_BUTTONS = [
    ("attribute", "Attribute", ":material/person:", "A profile field compared with a value"),
    ("event", "Event", ":material/bolt:", "Did (or did not) do something, how often or how much"),
    ("sequence", "Sequence", ":material/linear_scale:", "Did A, then B (then C), in order"),
    ("segment", "Segment", ":material/donut_large:", "Member of another saved segment"),
    ("group", "Group", ":material/account_tree:", "A nested all/any group"),
]
COUNT_OPS = {">=": "at least", "<=": "at most", "=": "exactly", ">": "more than", "<": "fewer than"}
AGG_OPS = {">=": "≥", ">": ">", "=": "=", "<=": "≤", "<": "<", "!=": "≠"}
HOW_LABELS = {
    "count": "performed",
    "none": "did not perform",
    "aggregate": "measured by",
}
WINDOW_MODES = {
    "any": "any time",
    "last": "in the last",
    "more_than": "more than ... ago",
    "between": "between dates",
    "before": "before",
    "after": "after",
    "period": "this / last ...",
}
UNIT_LABELS = {"hour": "hours", "day": "days", "week": "weeks", "month": "months", "year": "years"}
MEASURES = ["sum", "average", "min", "max"]
GRID = [2, 3]  # a selector and what it selects: the widths every line of a row shares


@dataclass
class Context:
    """What the widgets need to know about the workspace."""

    profile_fields: dict[str, Any]  # name -> catalog FieldInfo
    event_fields: dict[str, Any]
    event_types: list[tuple[str, int]]
    segments: dict[str, str]  # definition id -> name (never the one being edited)
    root: GroupState
    on_change: Callable[[], None] | None = None
    type_counts: dict[str, int] = field(default_factory=dict)
    # (scope, column) -> display name and description (svc.field_labels())
    labels: dict[tuple[str, str], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.type_counts = dict(self.event_types)

    def info(self, name: str | None, scope: str) -> Any:
        fields = self.profile_fields if scope == "profile" else self.event_fields
        return fields.get(name or "")

    def display(self, name: str, scope: str) -> str:
        label = self.labels.get((scope, name))
        return label.display_name if label is not None else name

    def field_help(self, name: str | None, scope: str) -> str:
        """The real name one hover away, with the field's type and description."""
        info = self.info(name, scope)
        if info is None:
            return "Fields from the data catalog, by their display name (set on the Data page)."
        label = self.labels.get((scope, name or ""))
        text = f"Column `{name}` ({info.kind})."
        if label is not None and label.description:
            text += f" {label.description}"
        return text

    def kind(self, name: str | None, scope: str) -> str:
        info = self.info(name, scope)
        return info.kind if info is not None else "other"


# --- keyed widgets seeded from the state -------------------------------------------


def _key(node_id: str, part: str) -> str:
    return f"bld:{node_id}:{part}"


def _seed(key: str, value: Any) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


def _select(label: str, options: list[Any], key: str, value: Any, **kw: Any) -> Any:
    """A selectbox whose value lives in the state; unknown values are added as options."""
    options = list(options)
    if value is not None and value not in options:
        options.append(value)
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]
    _seed(key, value if value in options else (None if kw.get("placeholder") else options[0]))
    return st.selectbox(label, options, key=key, **kw)


def _multi(label: str, options: list[Any], key: str, values: list[Any], **kw: Any) -> list[Any]:
    options = list(dict.fromkeys([*options, *(values or [])]))
    current = st.session_state.get(key)
    if current is not None:
        options = list(dict.fromkeys([*options, *current]))
    _seed(key, list(values or []))
    # in a column the chips would stay on one line and scroll out of sight
    return st.multiselect(label, options, key=key, wrap=True, **kw)


def _number(label: str, key: str, value: Any, integer: bool = False, **kw: Any) -> Any:
    original = value
    if value is not None and not isinstance(value, bool):
        try:
            value = int(value) if integer else float(value)
        except (TypeError, ValueError):
            value = None
    else:
        value = None
    _seed(key, value)
    step = 1 if integer else 1.0
    got = st.number_input(label, key=key, step=step, **kw)
    # Keep 65 as 65 (not 65.0) while it is unchanged, so PQL round-trips as written.
    if isinstance(original, (int, float)) and not isinstance(original, bool) and got == original:
        return original
    # A whole number typed in is one (1000, not 1000.0), in the PQL and the words.
    if isinstance(got, float) and got.is_integer():
        return int(got)
    return got


def _date(label: str, key: str, value: dt.date | None, **kw: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        value = value.date()
    _seed(key, value if value is not None else dt.date.today())
    return st.date_input(label, key=key, **kw)


def _to_number(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    try:
        number = float(str(value).strip())
    except ValueError:
        return str(value)
    return int(number) if number.is_integer() and "." not in str(value) else number


def _top_values(info: Any) -> list[Any]:
    return [value for value, _ in (info.top_values if info is not None else [])]


# --- structural callbacks ------------------------------------------------------------


def _add(root: GroupState, group_id: str, kind: str) -> None:
    bs.add_row(root, group_id, kind)


def _remove(root: GroupState, node_id: str) -> None:
    bs.remove(root, node_id)


def _move(root: GroupState, node_id: str, delta: int) -> None:
    bs.move(root, node_id, delta)


def _icon_button(icon: str, key: str, help_text: str, on_click: Callable, *args: Any) -> None:
    st.button(icon, key=key, help=help_text, on_click=on_click, args=args, type="tertiary")


def _row_tools(ctx: Context, node_id: str, negate_key: str, negate: bool, label: str) -> bool:
    """NOT toggle + move up/down + remove; returns the NOT value."""
    cols = st.columns([3, 2, 0.5, 0.5, 0.5], vertical_alignment="center")
    cols[0].markdown(f"**{label}**")
    with cols[1]:
        _seed(negate_key, negate)
        value = st.toggle(
            "NOT", key=negate_key, help="Exclude the profiles this matches (negate it)."
        )
    with cols[2]:
        _icon_button(
            ":material/arrow_upward:", _key(node_id, "up"), "Move up", _move, ctx.root, node_id, -1
        )
    with cols[3]:
        _icon_button(
            ":material/arrow_downward:",
            _key(node_id, "down"),
            "Move down",
            _move,
            ctx.root,
            node_id,
            1,
        )
    with cols[4]:
        _icon_button(":material/delete:", _key(node_id, "rm"), "Remove", _remove, ctx.root, node_id)
    return value


# --- groups --------------------------------------------------------------------------


def render_group(ctx: Context, group: GroupState, depth: int = 0) -> None:
    """A group: match all/any, NOT, its rows and sub-groups, and the add bar."""
    with st.container(border=depth > 0, key=f"bldgrp-{group.id}"):
        head = st.columns([3, 2, 0.5, 0.5, 0.5] if depth else [3, 2], vertical_alignment="center")
        with head[0]:
            match_key = _key(group.id, "match")
            group.match = _select(
                "Match",
                ["all", "any"],
                match_key,
                group.match,
                format_func=lambda m: "All of these (and)" if m == "all" else "Any of these (or)",
                label_visibility="collapsed",
            )
        with head[1]:
            neg_key = _key(group.id, "not")
            _seed(neg_key, group.negate)
            group.negate = st.toggle(
                "NOT",
                key=neg_key,
                help="Profiles that do NOT match this group.",
            )
        if depth:
            with head[2]:
                _icon_button(
                    ":material/arrow_upward:",
                    _key(group.id, "up"),
                    "Move group up",
                    _move,
                    ctx.root,
                    group.id,
                    -1,
                )
            with head[3]:
                _icon_button(
                    ":material/arrow_downward:",
                    _key(group.id, "down"),
                    "Move group down",
                    _move,
                    ctx.root,
                    group.id,
                    1,
                )
            with head[4]:
                _icon_button(
                    ":material/delete:",
                    _key(group.id, "rm"),
                    "Remove group",
                    _remove,
                    ctx.root,
                    group.id,
                )
        if not group.items:
            st.caption("Empty group: add a condition below.")
        joiner = "AND" if group.match == "all" else "OR"
        for i, child in enumerate(group.items):
            if i:
                st.caption(f"**{joiner}**")
            if isinstance(child, GroupState):
                render_group(ctx, child, depth + 1)
            else:
                render_row(ctx, child)
        add_bar(ctx, group)


def add_bar(ctx: Context, group: GroupState) -> None:
    with st.container(horizontal=True, gap="small", vertical_alignment="center"):
        for kind, label, icon, help_text in ADD_BUTTONS:
            st.button(
                label,
                icon=icon,
                key=_key(group.id, f"add-{kind}"),
                help="Add: " + help_text,
                on_click=_add,
                args=(ctx.root, group.id, kind),
            )


def render_row(ctx: Context, row: bs.Row) -> None:
    with st.container(border=True, key=f"bldrow-{row.id}"):
        row.negate = _row_tools(ctx, row.id, _key(row.id, "not"), row.negate, ROW_TITLES[row.kind])
        if isinstance(row, AttributeRow):
            attribute_editor(ctx, row)
        elif isinstance(row, EventRow):
            event_editor(ctx, row)
        elif isinstance(row, SequenceRow):
            sequence_editor(ctx, row)
        elif isinstance(row, SegmentRow):
            segment_editor(ctx, row)
        elif isinstance(row, PqlRow):
            pql_row_view(row)


def pql_row_view(row: PqlRow) -> None:
    """Read-only: the visual builder has no widget for this part, so it stays as written."""
    st.code(row.pql, language="sql", wrap_lines=True)
    st.caption(
        "The visual builder has no widget for this part: it is saved unchanged. "
        "Change it in the PQL tab, or remove it here."
    )


# --- attribute rows --------------------------------------------------------------------


OP_HELP = "like: % stands for any text, _ for one character. regex: RE2 syntax."


def _field_label(ctx: Context, scope: str) -> Callable[[Any], str]:
    def label(name: Any) -> str:
        info = ctx.info(name, scope)
        if info is None:
            return f"{name} (not in the data)"
        return ctx.display(name, scope)

    return label


def attribute_editor(ctx: Context, row: AttributeRow, removable: Callable | None = None) -> None:
    """field | operator | value(s); ``removable`` draws a remove button (event filters)."""
    fields = ctx.profile_fields if row.scope == "profile" else ctx.event_fields
    names = [n for n in fields if row.scope == "profile" or n not in EVENT_SYSTEM_FIELDS]
    head = st.columns([12, 1], vertical_alignment="bottom") if removable else [st.container()]
    with head[0]:
        old_field = row.field
        row.field = _select(
            "Field" if row.scope == "profile" else "Event property",
            names,
            _key(row.id, "field"),
            row.field,
            format_func=_field_label(ctx, row.scope),
            placeholder="Choose a field",
            # the widget's own value: this run may be the one that changed it
            help=ctx.field_help(st.session_state.get(_key(row.id, "field"), row.field), row.scope),
        )
    if removable:
        with head[1]:
            removable()
    kind = ctx.kind(row.field, row.scope)
    ops = bs.ops_for(kind)
    if kind == "text" and row.op in ("=", "!="):  # ``a = b`` of two text fields
        row.op = "eq" if row.op == "=" else "ne"
    if row.field != old_field and row.op not in ops:
        # A new field of another type: start from its first operator.
        row.op = ops[0]
        st.session_state.pop(_key(row.id, "op"), None)
    # top: a value box that grows (wrapped chips) keeps the operator beside its first line
    cols = st.columns(GRID, vertical_alignment="top")
    with cols[0]:
        row.op = _select(
            "Operator",
            ops,
            _key(row.id, "op"),
            row.op,
            format_func=lambda op: bs.OP_LABELS.get(op, op),
            help=OP_HELP,
        )
    with cols[1]:
        # the switch is drawn below the value but decides it: read its click first
        row.compare_field = bool(st.session_state.get(_key(row.id, "cmp"), row.compare_field))
        if row.compare_field and row.op in bs.FIELD_VALUE_OPS:
            _other_field_picker(ctx, row, kind, names)
        else:
            _value_editor(ctx, row, kind)
    with st.container(horizontal=True, vertical_alignment="bottom", gap="large"):
        if row.op in bs.FIELD_VALUE_OPS:
            _compare_with(row)
        if kind == "text" and row.op in bs.CASE_OPS and not row.compare_field:
            ci_key = _key(row.id, "ci")
            _seed(ci_key, row.case_insensitive)
            row.case_insensitive = st.checkbox("Ignore case", key=ci_key)


COMPARE_WITH = {False: "a value", True: "another field"}


def _compare_with(row: AttributeRow) -> None:
    """``age > 30`` or ``age > minAge``: the right side is a value or another field."""
    key = _key(row.id, "cmp")
    _seed(key, row.compare_field)
    picked = st.segmented_control(
        "Compare with",
        list(COMPARE_WITH),
        key=key,
        format_func=COMPARE_WITH.get,
        help="Another field of the same profile (or event), e.g. age > minimum age.",
    )
    row.compare_field = bool(picked)  # a click on the chosen one clears it: a value again


def _other_field_picker(ctx: Context, row: AttributeRow, kind: str, names: list[str]) -> None:
    same_kind = [n for n in names if n != row.field and _comparable(ctx.kind(n, row.scope), kind)]
    row.other_field = _select(
        "Other field",
        same_kind,
        _key(row.id, "other"),
        row.other_field,
        format_func=_field_label(ctx, row.scope),
        placeholder="Choose a field",
        help=ctx.field_help(
            st.session_state.get(_key(row.id, "other"), row.other_field), row.scope
        ),
    )


def _comparable(kind: str, other: str) -> bool:
    dates = {"date", "timestamp"}
    return kind == other or (kind in dates and other in dates)


def _value_editor(ctx: Context, row: AttributeRow, kind: str) -> None:
    op = row.op
    info = ctx.info(row.field, row.scope)
    integer = info is not None and any(t in info.type.upper() for t in ("INT",))
    vkey = _key(row.id, f"v-{op}")  # one key per operator: switching never mixes value types
    if op in bs.NO_VALUE_OPS or row.field is None:
        st.caption("" if row.field else "Pick a field first.")
        return
    if op in ("last", "more_than", "before", "after", "date_between", "period"):
        mode = "between" if op == "date_between" else op
        row.window.mode = mode
        _window_inputs(row.id, row.window, mode)
        return
    if op in bs.COUNT_OPS:  # interests.count() >= 2
        row.value = _number("Items", vkey, row.value, True, min_value=0)
        return
    if op in bs.LIST_VALUE_OPS:
        values = row.value if isinstance(row.value, list) else _listify(row.value)
        chosen = _multi(
            "Values",
            _top_values(info),
            vkey,
            values,
            accept_new_options=True,
            max_selections=1 if op == "includes" else None,
            placeholder="Pick or type values",
            help="Top values from the data; type to add another.",
        )
        row.value = [_to_number(v) for v in chosen] if kind == "number" else list(chosen)
        return
    if kind == "number":
        if op == "between":
            left, right = st.columns(2)
            with left:
                row.value = _number("From", vkey, row.value, integer)
            with right:
                row.value2 = _number("To", _key(row.id, "v2"), row.value2, integer)
        else:
            row.value = _number("Value", vkey, row.value, integer)
        return
    if kind in ("text", "other") and op in ("eq", "ne"):
        value = row.value if isinstance(row.value, str) else None
        row.value = _select(
            "Value",
            _top_values(info),
            vkey,
            value,
            accept_new_options=True,
            placeholder="Pick or type a value",
            help="Top values from the data; type to use another.",
        )
        return
    if kind in ("date", "timestamp") and op in ("=", "!=", ">", ">=", "<", "<="):
        row.value = _date("Date", vkey, row.value if isinstance(row.value, dt.date) else None)
        return
    _seed(vkey, "" if row.value is None else str(row.value))
    placeholder = {"like": "e.g. A%", "matches": "e.g. ^A.*son$"}.get(op, "text")
    text = st.text_input("Value", key=vkey, placeholder=placeholder)
    row.value = _to_number(text) if kind == "number" else text


def _listify(value: Any) -> list[Any]:
    return [] if value in (None, "") else [value]


# --- time windows --------------------------------------------------------------------


def _window_inputs(node_id: str, w: WindowState, mode: str) -> None:
    """The inputs of one window mode, written into ``w``."""
    if mode in ("last", "more_than"):
        a, b = st.columns(2)
        with a:
            w.amount = int(_number("N", _key(node_id, "w-amount"), w.amount, True, min_value=0))
        with b:
            w.unit = _select(
                "Unit",
                bs.WINDOW_UNITS,
                _key(node_id, "w-unit"),
                w.unit if w.unit in bs.WINDOW_UNITS else "day",
                format_func=lambda u: UNIT_LABELS.get(u, u),
            )
    elif mode in ("before", "after"):
        w.start = _date("Date", _key(node_id, "w-start"), w.start)
    elif mode == "between":  # one above the other: side by side they cut the dates off
        w.start = _date("From", _key(node_id, "w-start"), w.start)
        w.end = _date("To (inclusive)", _key(node_id, "w-end"), w.end)
    elif mode == "period":
        a, b = st.columns(2)
        with a:
            w.which = _select("Which", ["this", "last"], _key(node_id, "w-which"), w.which)
        with b:
            w.unit = _select(
                "Period",
                bs.PERIOD_UNITS,
                _key(node_id, "w-punit"),
                w.unit if w.unit in bs.PERIOD_UNITS else "month",
            )


def window_editor(node_id: str, w: WindowState, label: str = "When") -> None:
    cols = st.columns(GRID, vertical_alignment="top")
    with cols[0]:
        w.mode = _select(
            label,
            list(WINDOW_MODES),
            _key(node_id, "w-mode"),
            w.mode,
            format_func=lambda m: WINDOW_MODES[m],
            help="A time window on the event's timestamp, relative to the as-of time.",
        )
    with cols[1]:
        if w.mode != "any":
            _window_inputs(node_id, w, w.mode)


# --- event rows ----------------------------------------------------------------------


def _types_picker(ctx: Context, node_id: str, values: list[str], label: str) -> list[str]:
    names = [name for name, _ in ctx.event_types]
    return _multi(
        label,
        names,
        _key(node_id, "types"),
        values,
        format_func=lambda t: f"{t} ({ctx.type_counts[t]:,})" if t in ctx.type_counts else t,
        placeholder="Any event",
        help="Leave empty for any event type. Counts are the events in the data.",
    )


def _filters_editor(ctx: Context, owner_id: str, filters: list[AttributeRow]) -> None:
    for flt in list(filters):

        def remover(flt: AttributeRow = flt) -> None:
            st.button(
                ":material/close:",
                key=_key(flt.id, "rm"),
                help="Remove this filter",
                type="tertiary",
                on_click=filters.remove,
                args=(flt,),
            )

        attribute_editor(ctx, flt, removable=remover)
    st.button(
        "Property filter",
        icon=":material/filter_alt:",
        key=_key(owner_id, "add-filter"),
        type="tertiary",
        help="Only count events whose properties match, e.g. channel = web.",
        on_click=filters.append,
        args=(AttributeRow(scope="event"),),
    )


def event_editor(ctx: Context, row: EventRow) -> None:
    top = st.columns(GRID, vertical_alignment="top")
    with top[0]:
        row.how = _select(
            "Profile",
            list(HOW_LABELS),
            _key(row.id, "how"),
            row.how,
            format_func=lambda h: HOW_LABELS[h],
        )
    with top[1]:
        row.event_types = _types_picker(ctx, row.id, row.event_types, "Event type")
    _filters_editor(ctx, row.id, row.filters)
    window_editor(row.id, row.window)
    if row.how == "count":
        a, b = st.columns(GRID, vertical_alignment="bottom")
        with a:
            row.op = _select(
                "How often",
                list(COUNT_OPS),
                _key(row.id, "cop"),
                row.op if row.op in COUNT_OPS else ">=",
                format_func=lambda o: COUNT_OPS.get(o, o),
            )
        with b:
            row.value = _number("Times", _key(row.id, "times"), row.value, True, min_value=0)
    elif row.how == "aggregate":
        numeric = [n for n, f in ctx.event_fields.items() if f.kind == "number"]
        a, b = st.columns(GRID, vertical_alignment="bottom")
        c, d = st.columns(GRID, vertical_alignment="bottom")
        with a:
            row.measure = _select("Measure", MEASURES, _key(row.id, "measure"), row.measure)
        with b:
            row.agg_field = _select(
                "Of property",
                numeric,
                _key(row.id, "agg"),
                row.agg_field,
                placeholder="numeric property",
                format_func=_field_label(ctx, "event"),
            )
        with c:
            row.op = _select(
                "Is", list(AGG_OPS), _key(row.id, "aop"), row.op, format_func=AGG_OPS.get
            )
        with d:
            row.value = _number("Value", _key(row.id, "aval"), row.value)
        if row.measure != "sum":
            st.caption(
                "Profiles without matching events have no average/min/max, so they never match."
            )


# --- sequences -------------------------------------------------------------------------


def _add_step(row: SequenceRow) -> None:
    row.steps.append(StepState(label=bs.next_label(row.steps)))


def _remove_step(row: SequenceRow, step_id: str) -> None:
    row.steps = [s for s in row.steps if s.id != step_id]


def sequence_editor(ctx: Context, row: SequenceRow) -> None:
    for i, step in enumerate(row.steps):
        with st.container(border=False, key=f"bldstep-{step.id}"):
            head = st.columns([12, 1], vertical_alignment="center")
            head[0].markdown(f"**{'Then ' if i else ''}{step.label}**")
            with head[1]:
                if len(row.steps) > 1:
                    _icon_button(
                        ":material/close:",
                        _key(step.id, "rm"),
                        "Remove step",
                        _remove_step,
                        row,
                        step.id,
                    )
            what = st.columns(GRID[::-1], vertical_alignment="top")
            with what[0]:
                step.event_types = _types_picker(
                    ctx, step.id, step.event_types, f"Step {step.label}: event"
                )
            with what[1]:
                step.count = int(
                    _number(
                        "At least (times)", _key(step.id, "count"), step.count, True, min_value=1
                    )
                )
            if i:
                gap = st.columns(GRID, vertical_alignment="bottom")
                with gap[0]:
                    limit_key = _key(step.id, "within-on")
                    _seed(limit_key, step.within_amount is not None)
                    limited = st.checkbox(
                        f"within a time of {row.steps[i - 1].label}", key=limit_key
                    )
                if limited:
                    n_col, unit_col = gap[1].columns(2, vertical_alignment="bottom")
                    with n_col:
                        amount = _number(
                            "N",
                            _key(step.id, "within-n"),
                            step.within_amount or 1,
                            True,
                            min_value=0,
                        )
                    with unit_col:
                        step.within_unit = _select(
                            "Unit",
                            bs.WINDOW_UNITS,
                            _key(step.id, "within-unit"),
                            step.within_unit,
                            format_func=lambda u: UNIT_LABELS.get(u, u),
                        )
                    step.within_amount = int(amount)
                else:
                    step.within_amount = None
            _filters_editor(ctx, step.id, step.filters)
    st.button(
        "Add step",
        icon=":material/add:",
        key=_key(row.id, "add-step"),
        on_click=_add_step,
        args=(row,),
        type="tertiary",
    )
    window_editor(row.id, row.window, "Whole sequence")


# --- segment references ------------------------------------------------------------


def segment_editor(ctx: Context, row: SegmentRow) -> None:
    by_name = {name.lower(): sid for sid, name in ctx.segments.items()}
    current = row.segment
    if current and current not in ctx.segments and current.lower() in by_name:
        current = by_name[current.lower()]
        row.segment = current
    if not ctx.segments and not current:
        st.caption("No other saved segments yet.")
        return
    row.segment = _select(
        "Saved segment",
        list(ctx.segments),
        _key(row.id, "seg"),
        current,
        format_func=lambda sid: ctx.segments.get(sid, f"{sid} (not found)"),
        placeholder="Choose a segment",
        help="Profiles that qualify for another saved segment, at the same as-of time.",
    )

"""The visual builder's editable state, and its conversion to and from the model tree.

Pure Python (no streamlit): the page keeps a ``GroupState`` in session state,
edits it in callbacks, and calls ``to_expression`` for the PQL tab and the
estimate. ``from_expression`` goes the other way for PQL typed by hand or a
saved definition. A part the builder has no widget for (``let``, ``if(..)``,
arithmetic, an event measure compared with another, OR inside event filters)
becomes a ``PqlRow``: shown read-only, kept exactly as written, and still
movable, negatable and removable, so the rest of the definition stays editable.

Every group and row carries a stable ``id`` so widget keys survive adding,
removing and moving rows. Rows that are not filled in yet (no field chosen)
convert to nothing, so a half-built row never breaks the estimate.

Round-trip rule: ``to_expression(from_expression(e)) == e`` for every tree that
``from_expression`` accepts (tests/test_builder_state.py holds the table).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, fields, is_dataclass
from dataclasses import field as dc_field
from functools import lru_cache
from typing import Any, Literal

from segmentation.model import (
    Anchor,
    And,
    BetweenWindow,
    Compare,
    Condition,
    DateLit,
    DateTimeLit,
    Duration,
    EventCondition,
    Expression,
    FieldRef,
    Func,
    InList,
    ListMatch,
    Lit,
    Not,
    NullCheck,
    Occurs,
    Or,
    Period,
    PointWindow,
    RelativeWindow,
    SegmentRef,
    Sequence,
    SequenceStep,
    TextMatch,
    TimeWindow,
)
from segmentation.pql import parse, to_pql


def new_id() -> str:
    return uuid.uuid4().hex[:10]


# --- operators ------------------------------------------------------------------------
# op code -> label shown in the selectbox. Codes are stable; labels are for people.
OP_LABELS: dict[str, str] = {
    "eq": "equals",
    "ne": "not equals",
    "in": "is one of",
    "not_in": "is not one of",
    "contains": "contains",
    "not_contains": "does not contain",
    "starts": "starts with",
    "ends": "ends with",
    "like": "like (wildcards % _)",
    "matches": "matches regex",
    "empty": "is empty",
    "not_empty": "is not empty",
    "=": "=",
    "!=": "≠",
    ">": ">",
    ">=": "≥",
    "<": "<",
    "<=": "≤",
    "between": "between",
    "true": "is true",
    "false": "is false",
    "last": "in the last",
    "more_than": "more than ... ago",
    "before": "before",
    "after": "after",
    "date_between": "between dates",
    "period": "in this / last ...",
    "includes": "includes",
    "intersects": "includes any of",
    "superset": "includes all of",
    "subset": "only values from",
    "count>": "item count >",
    "count>=": "item count ≥",
    "count=": "item count =",
    "count<=": "item count ≤",
    "count<": "item count <",
}
OPS_BY_KIND: dict[str, list[str]] = {
    "text": [
        "eq",
        "ne",
        "in",
        "not_in",
        "contains",
        "not_contains",
        "starts",
        "ends",
        "like",
        "matches",
        "empty",
        "not_empty",
    ],
    "number": ["=", "!=", ">", ">=", "<", "<=", "between", "in", "not_in", "empty", "not_empty"],
    "boolean": ["true", "false", "empty", "not_empty"],
    "date": [
        "last",
        "more_than",
        "before",
        "after",
        "date_between",
        "period",
        "empty",
        "not_empty",
    ],
    "list": [
        "includes",
        "intersects",
        "superset",
        "subset",
        "count>",
        "count>=",
        "count=",
        "count<=",
        "count<",
        "empty",
        "not_empty",
    ],
}
OPS_BY_KIND["timestamp"] = OPS_BY_KIND["date"]
# ops whose right side may be another field of the profile (or of the event)
FIELD_VALUE_OPS = {"eq", "ne", "=", "!=", ">", ">=", "<", "<=", "before", "after"}
OPS_BY_KIND["other"] = ["eq", "ne", "empty", "not_empty"]
NO_VALUE_OPS = {"empty", "not_empty", "true", "false"}
# ops whose value is a list of scalars
LIST_VALUE_OPS = {"in", "not_in", "includes", "intersects", "superset", "subset"}
TEXT_METHOD_OPS = {"contains", "not_contains", "starts", "ends"}
# a list's number of items (``interests.count() >= 2``): op code -> comparison
COUNT_OPS = {f"count{cmp}": cmp for cmp in (">", ">=", "=", "<=", "<")}
CASE_OPS = {"eq", "ne", *TEXT_METHOD_OPS}
_TEXT_OP = {
    "contains": ("contains", False),
    "not_contains": ("contains", True),
    "starts": ("startsWith", False),
    "ends": ("endsWith", False),
    "eq": ("equals", False),
    "ne": ("equals", True),
    "like": ("like", False),
    "matches": ("matches", False),
}
_LIST_OP = {
    "includes": "includes",
    "intersects": "intersects",
    "superset": "supersetOf",
    "subset": "subsetOf",
}
WINDOW_UNITS = ["hour", "day", "week", "month", "year"]
PERIOD_UNITS = ["day", "week", "month", "year"]


def ops_for(kind: str) -> list[str]:
    return OPS_BY_KIND.get(kind, OPS_BY_KIND["other"])


# --- state ----------------------------------------------------------------------------


@dataclass
class WindowState:
    """A time window: on an event's timestamp, or a date attribute's value.

    ``mode``: any | last | more_than | before | after | between | period.
    """

    mode: str = "any"
    amount: int = 30
    unit: str = "day"
    start: dt.date | None = None
    end: dt.date | None = None
    which: str = "this"  # period: this | last


@dataclass
class AttributeRow:
    """``field op value``; ``scope`` is "event" inside an event condition's filters."""

    id: str = dc_field(default_factory=new_id)
    kind: Literal["attribute"] = "attribute"
    field: str | None = None
    op: str = "eq"
    value: Any = None
    value2: Any = None  # upper bound of a number "between"
    case_insensitive: bool = False
    window: WindowState = dc_field(default_factory=WindowState)  # date ops
    negate: bool = False
    scope: Literal["profile", "event"] = "profile"
    # Keeps "x.equals("a")" (a TextMatch) apart from "x = "a"" (a Compare) on round trips.
    text_method: bool = False
    # "compare with: another field" (``age > minAge``): the right side is that field
    compare_field: bool = False
    other_field: str | None = None


@dataclass
class EventRow:
    id: str = dc_field(default_factory=new_id)
    kind: Literal["event"] = "event"
    event_types: list[str] = dc_field(default_factory=list)
    filters: list[AttributeRow] = dc_field(default_factory=list)
    window: WindowState = dc_field(default_factory=WindowState)
    # how: count (op value) | none (did not perform) | aggregate (measure of agg_field op value)
    how: str = "count"
    op: str = ">="
    value: float | int = 1
    measure: str = "sum"
    agg_field: str | None = None
    negate: bool = False


@dataclass
class StepState:
    id: str = dc_field(default_factory=new_id)
    label: str = "A"
    event_types: list[str] = dc_field(default_factory=list)
    filters: list[AttributeRow] = dc_field(default_factory=list)
    count: int = 1
    within_amount: int | None = None  # None: no limit on the gap to the previous step
    within_unit: str = "day"


@dataclass
class SequenceRow:
    id: str = dc_field(default_factory=new_id)
    kind: Literal["sequence"] = "sequence"
    steps: list[StepState] = dc_field(
        default_factory=lambda: [StepState(label="A"), StepState(label="B")]
    )
    window: WindowState = dc_field(default_factory=WindowState)  # applied to every step
    negate: bool = False


@dataclass
class SegmentRow:
    id: str = dc_field(default_factory=new_id)
    kind: Literal["segment"] = "segment"
    segment: str | None = None
    negate: bool = False


@dataclass
class PqlRow:
    """A part the builder has no widget for, kept as its canonical PQL text."""

    id: str = dc_field(default_factory=new_id)
    kind: Literal["pql"] = "pql"
    pql: str = ""
    negate: bool = False


Row = AttributeRow | EventRow | SequenceRow | SegmentRow | PqlRow


@dataclass
class GroupState:
    id: str = dc_field(default_factory=new_id)
    kind: Literal["group"] = "group"
    match: Literal["all", "any"] = "all"
    negate: bool = False
    items: list[GroupState | Row] = dc_field(default_factory=list)


Node = GroupState | Row
ROW_KINDS = {
    "attribute": AttributeRow,
    "event": EventRow,
    "sequence": SequenceRow,
    "segment": SegmentRow,
    "pql": PqlRow,
}


# --- state -> expression ------------------------------------------------------------


def _lit(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return DateTimeLit(value=value)
    if isinstance(value, dt.date):
        return DateLit(value=value)
    return Lit(value=value)


def _scalars(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [v for v in value if v is not None and v != ""]
    return [value] if value != "" else []


def _point(value: dt.date | None) -> Any:
    return None if value is None else _lit(value)


def window_to_model(w: WindowState) -> TimeWindow | None:
    now = Anchor(name="now")
    if w.mode == "last":
        return RelativeWindow(
            cmp="<=", amount=w.amount, unit=w.unit, direction="before", anchor=now
        )
    if w.mode == "more_than":
        return RelativeWindow(cmp=">", amount=w.amount, unit=w.unit, direction="before", anchor=now)
    if w.mode in ("before", "after"):
        point = _point(w.start)
        return None if point is None else PointWindow(direction=w.mode, anchor=point)
    if w.mode == "between":
        if w.start is None or w.end is None:
            return None
        return BetweenWindow(start=_lit(w.start), end=_lit(w.end))
    if w.mode == "period":
        return PointWindow(direction="on", anchor=Period(which=w.which, unit=w.unit))
    return None


def _compare_fields(row: AttributeRow, ref: FieldRef) -> Condition | None:
    """``field op otherField``; None until the other field is chosen."""
    if not row.other_field:
        return None
    other = FieldRef(path=row.other_field, scope=row.scope)
    if row.op in ("before", "after"):
        return Occurs(operand=ref, window=PointWindow(direction=row.op, anchor=other))
    op = {"eq": "=", "ne": "!="}.get(row.op, row.op)
    return Compare(op=op, left=ref, right=other)


def _attribute(row: AttributeRow) -> Condition | None:
    if not row.field:
        return None
    ref = FieldRef(path=row.field, scope=row.scope)
    op, value = row.op, row.value
    if row.compare_field and op in FIELD_VALUE_OPS:
        return _compare_fields(row, ref)
    if op in COUNT_OPS:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        items = Func(name="count", args=[ref])
        return Compare(op=COUNT_OPS[op], left=items, right=Lit(value=value))
    if op in ("empty", "not_empty"):
        return NullCheck(operand=ref, is_null=op == "empty")
    if op in ("true", "false"):
        return Compare(op="=", left=ref, right=Lit(value=op == "true"))
    if op in ("in", "not_in"):
        values = _scalars(value)
        return InList(operand=ref, values=values, negate=op == "not_in") if values else None
    if op in _LIST_OP:
        values = _scalars(value)
        if not values:
            return None
        if op == "includes":
            values = values[:1]
        return ListMatch(op=_LIST_OP[op], operand=ref, values=values)
    if op in ("last", "more_than", "before", "after", "date_between", "period"):
        w = row.window
        mode = "between" if op == "date_between" else op
        window = window_to_model(WindowState(mode, w.amount, w.unit, w.start, w.end, w.which))
        return None if window is None else Occurs(operand=ref, window=window)
    if op == "between":
        if value is None or row.value2 is None:
            return None
        return And(
            items=[
                Compare(op=">=", left=ref, right=_lit(value)),
                Compare(op="<=", left=ref, right=_lit(row.value2)),
            ]
        )
    if op in ("=", "!=", ">", ">=", "<", "<="):
        return None if value is None or value == "" else Compare(op=op, left=ref, right=_lit(value))
    if op in _TEXT_OP:
        if value is None or value == "":
            return None
        text = str(value)
        method, negate = _TEXT_OP[op]
        if op in ("eq", "ne") and not row.case_insensitive and not row.text_method:
            return Compare(op="=" if op == "eq" else "!=", left=ref, right=Lit(value=value))
        if op in ("like", "matches"):
            return TextMatch(op=method, operand=ref, value=text)
        return TextMatch(
            op=method,
            operand=ref,
            value=text,
            case_sensitive=not row.case_insensitive,
            negate=negate,
        )
    return None


def _filters(rows: list[AttributeRow]) -> Condition | None:
    items = []
    for row in rows:
        cond = _attribute(row)
        if cond is not None:
            items.append(Not(item=cond) if row.negate else cond)
    return _combine(items, "all")


def _combine(items: list[Condition], match: str) -> Condition | None:
    if not items:
        return None
    if len(items) == 1:
        return items[0]
    return And(items=items) if match == "all" else Or(items=items)


def _event(row: EventRow) -> Condition:
    if row.how == "none":
        measure, op, value, agg = "count", "=", 0, None
    elif row.how == "aggregate" and row.agg_field:
        measure, op, value, agg = row.measure, row.op, row.value, row.agg_field
    else:
        measure, op, value, agg = "count", row.op, row.value, None
    return EventCondition(
        event_types=list(row.event_types),
        where=_filters(row.filters),
        window=window_to_model(row.window),
        measure=measure,
        field=agg,
        op=op,
        value=value,
    )


def _sequence(row: SequenceRow) -> Condition | None:
    # A step with neither an event type nor a filter is not filled in yet.
    if any(not step.event_types and _filters(step.filters) is None for step in row.steps):
        return None
    window = window_to_model(row.window)
    steps = []
    for i, step in enumerate(row.steps):
        within = None
        if i > 0 and step.within_amount is not None:
            within = Duration(amount=step.within_amount, unit=step.within_unit)
        steps.append(
            SequenceStep(
                label=step.label,
                event_types=list(step.event_types),
                where=_filters(step.filters),
                window=window,
                count=max(1, int(step.count)),
                within_previous=within,
            )
        )
    return Sequence(steps=steps) if steps else None


def node_to_expression(node: Node) -> Condition | None:
    """One group or row -> its condition; None when it is empty or not filled in."""
    if isinstance(node, GroupState):
        inner = _combine(
            [c for c in (node_to_expression(child) for child in node.items) if c is not None],
            node.match,
        )
        if inner is None:
            return None
        return Not(item=inner) if node.negate else inner
    if isinstance(node, AttributeRow):
        cond = _attribute(node)
    elif isinstance(node, EventRow):
        cond = _event(node)
    elif isinstance(node, SequenceRow):
        cond = _sequence(node)
    elif isinstance(node, SegmentRow):
        cond = SegmentRef(segment=node.segment) if node.segment else None
    elif isinstance(node, PqlRow):
        cond = _parsed(node.pql) if node.pql.strip() else None
    else:  # pragma: no cover - all kinds handled above
        cond = None
    if cond is None:
        return None
    return Not(item=cond) if node.negate else cond


@lru_cache(maxsize=512)
def _parsed(text: str) -> Condition:
    # canonical text of a tree: parse(to_pql(t)) == t is the project's round-trip rule
    return parse(text)


def to_expression(state: GroupState) -> Expression | None:
    """The whole builder -> an expression tree (None while nothing is filled in)."""
    return node_to_expression(state)


# --- expression -> state ------------------------------------------------------------


class _Unsupported(Exception):
    """A node the visual builder has no row for."""


def _require(ok: bool) -> None:
    if not ok:
        raise _Unsupported


def _field(operand: Any, scope: str) -> str:
    _require(isinstance(operand, FieldRef) and operand.scope == scope)
    return operand.path


def _date_value(node: Any) -> dt.date:
    _require(isinstance(node, DateLit))
    return node.value


def window_from_model(w: TimeWindow | None) -> WindowState:
    if w is None:
        return WindowState(mode="any")
    if isinstance(w, RelativeWindow):
        _require(
            w.direction == "before"
            and w.anchor == Anchor(name="now")
            and w.cmp in ("<=", ">")
            and w.unit in WINDOW_UNITS
        )
        return WindowState(
            mode="last" if w.cmp == "<=" else "more_than", amount=w.amount, unit=w.unit
        )
    if isinstance(w, PointWindow):
        if w.direction == "on":
            _require(
                isinstance(w.anchor, Period)
                and w.anchor.which in ("this", "last")
                and w.anchor.unit in PERIOD_UNITS
            )
            return WindowState(mode="period", which=w.anchor.which, unit=w.anchor.unit)
        return WindowState(mode=w.direction, start=_date_value(w.anchor))
    if isinstance(w, BetweenWindow):
        return WindowState(mode="between", start=_date_value(w.start), end=_date_value(w.end))
    raise _Unsupported


def _literal_value(node: Any) -> Any:
    if isinstance(node, (DateLit, DateTimeLit)):
        return node.value
    _require(isinstance(node, Lit) and not isinstance(node.value, list))
    return node.value


def _attribute_from(cond: Condition, scope: str) -> AttributeRow:
    row = AttributeRow(scope=scope)
    if isinstance(cond, NullCheck):
        row.field = _field(cond.operand, scope)
        row.op = "empty" if cond.is_null else "not_empty"
    elif isinstance(cond, Compare) and isinstance(cond.left, Func) and cond.left.name == "count":
        _require(len(cond.left.args) == 1 and cond.op in COUNT_OPS.values())
        row.field = _field(cond.left.args[0], scope)
        row.op, row.value = f"count{cond.op}", _literal_value(cond.right)
    elif isinstance(cond, Compare) and isinstance(cond.right, FieldRef):
        row.field = _field(cond.left, scope)
        row.compare_field, row.other_field = True, _field(cond.right, scope)
        row.op = cond.op
    elif isinstance(cond, Compare):
        row.field = _field(cond.left, scope)
        value = _literal_value(cond.right)
        if isinstance(value, bool):
            _require(cond.op == "=")
            row.op = "true" if value else "false"
        elif isinstance(value, str):
            _require(cond.op in ("=", "!="))
            row.op = "eq" if cond.op == "=" else "ne"
            row.value = value
        else:
            row.op, row.value = cond.op, value
    elif isinstance(cond, InList):
        row.field = _field(cond.operand, scope)
        row.op = "not_in" if cond.negate else "in"
        _require(all(isinstance(v, bool | int | float | str) for v in cond.values))  # no dates
        row.value = list(cond.values)
    elif isinstance(cond, ListMatch):
        row.field = _field(cond.operand, scope)
        row.op = {v: k for k, v in _LIST_OP.items()}[cond.op]
        _require(cond.other is None)  # a field as the argument: edited as PQL
        _require(cond.op != "includes" or len(cond.values) == 1)
        row.value = list(cond.values)
    elif isinstance(cond, TextMatch):
        row.field = _field(cond.operand, scope)
        row.value = cond.value
        row.case_insensitive = not cond.case_sensitive
        if cond.op in ("like", "matches"):
            row.op = cond.op
        else:
            found = [k for k, v in _TEXT_OP.items() if v == (cond.op, cond.negate)]
            _require(bool(found))
            row.op = found[0]
            row.text_method = cond.op == "equals" and cond.case_sensitive
    elif (
        isinstance(cond, Occurs)
        and isinstance(cond.window, PointWindow)
        and isinstance(cond.window.anchor, FieldRef)
    ):
        row.field = _field(cond.operand, scope)
        row.op = cond.window.direction
        row.compare_field, row.other_field = True, _field(cond.window.anchor, scope)
    elif isinstance(cond, Occurs):
        row.field = _field(cond.operand, scope)
        row.window = window_from_model(cond.window)
        _require(row.window.mode != "any")
        row.op = "date_between" if row.window.mode == "between" else row.window.mode
    elif isinstance(cond, And) and len(cond.items) == 2:
        low, high = cond.items
        _require(
            isinstance(low, Compare)
            and isinstance(high, Compare)
            and low.op == ">="
            and high.op == "<="
            and low.left == high.left
        )
        row.field = _field(low.left, scope)
        row.op = "between"
        row.value, row.value2 = _literal_value(low.right), _literal_value(high.right)
        _require(not isinstance(row.value, (str, bool)))
    else:
        raise _Unsupported
    # Must come back unchanged, else the builder would quietly rewrite the user's PQL.
    _require(_attribute(row) == cond)
    return row


def _filters_from(where: Condition | None) -> list[AttributeRow]:
    if where is None:
        return []
    items = list(where.items) if isinstance(where, And) else [where]
    rows = []
    for item in items:
        negate = isinstance(item, Not)
        row = _attribute_from(item.item if negate else item, "event")
        row.negate = negate
        rows.append(row)
    _require(_filters(rows) == where)
    return rows


def _event_from(cond: EventCondition) -> EventRow:
    row = EventRow(event_types=list(cond.event_types), window=window_from_model(cond.window))
    row.filters = _filters_from(cond.where)
    if cond.measure == "count":
        if cond.op == "=" and cond.value == 0:
            row.how = "none"
        else:
            row.op, row.value = cond.op, cond.value
    else:
        _require(cond.field is not None)
        row.how, row.measure, row.agg_field = "aggregate", cond.measure, cond.field
        row.op, row.value = cond.op, cond.value
    return row


def _sequence_from(cond: Sequence) -> SequenceRow:
    windows = {step.window for step in cond.steps}
    _require(len(windows) == 1)
    row = SequenceRow(steps=[], window=window_from_model(cond.steps[0].window))
    for i, step in enumerate(cond.steps):
        within = step.within_previous
        _require(within is None or (i > 0 and within.unit in WINDOW_UNITS))
        row.steps.append(
            StepState(
                label=step.label,
                event_types=list(step.event_types),
                filters=_filters_from(step.where),
                count=step.count,
                within_amount=None if within is None else within.amount,
                within_unit="day" if within is None else within.unit,
            )
        )
    return row


def _node_from(cond: Condition) -> Node:
    if isinstance(cond, Not):
        node = _node_from(cond.item)
        if node.negate:  # not not x: wrap in a one-row group so both negations survive
            return GroupState(negate=True, items=[node])
        node.negate = True
        return node
    if isinstance(cond, (And, Or)):
        return GroupState(
            match="all" if isinstance(cond, And) else "any",
            items=[_node_or_pql(item) for item in cond.items],
        )
    if isinstance(cond, EventCondition):
        return _event_from(cond)
    if isinstance(cond, Sequence):
        return _sequence_from(cond)
    if isinstance(cond, SegmentRef):
        return SegmentRow(segment=cond.segment)
    return _attribute_from(cond, "profile")


def _node_or_pql(cond: Condition) -> Node:
    """The condition's row (or group), or a read-only PQL row when it has no visual form."""
    try:
        node = _node_from(cond)
    except (_Unsupported, ValueError):
        return PqlRow(pql=to_pql(cond))
    return node if node_to_expression(node) == cond else PqlRow(pql=to_pql(cond))


def from_expression(expr: Expression | None) -> GroupState:
    """A tree -> builder state; parts with no visual form become ``PqlRow``s."""
    if expr is None:
        return GroupState()
    node = _node_or_pql(expr)
    return node if isinstance(node, GroupState) else GroupState(items=[node])


# --- editing (pure; the page calls these from button callbacks) -----------------------


def find(root: GroupState, node_id: str) -> tuple[GroupState | None, Node | None]:
    """-> (parent group, node) for an id anywhere in the tree."""
    if root.id == node_id:
        return None, root
    for child in root.items:
        if child.id == node_id:
            return root, child
        if isinstance(child, GroupState):
            parent, node = find(child, node_id)
            if node is not None:
                return parent, node
    return None, None


def add_row(root: GroupState, group_id: str, kind: str) -> Node:
    _, group = find(root, group_id)
    if not isinstance(group, GroupState):
        raise KeyError(group_id)
    node: Node = GroupState() if kind == "group" else ROW_KINDS[kind]()
    if isinstance(node, GroupState):
        node.items.append(AttributeRow())
    group.items.append(node)
    return node


def remove(root: GroupState, node_id: str) -> None:
    parent, _ = find(root, node_id)
    if parent is not None:
        parent.items = [child for child in parent.items if child.id != node_id]


def move(root: GroupState, node_id: str, delta: int) -> None:
    parent, _ = find(root, node_id)
    if parent is None:
        return
    at = next(i for i, child in enumerate(parent.items) if child.id == node_id)
    to = at + delta
    if 0 <= to < len(parent.items):
        parent.items[at], parent.items[to] = parent.items[to], parent.items[at]


def next_label(steps: list[StepState]) -> str:
    used = {step.label for step in steps}
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if letter not in used:
            return letter
    return f"S{len(steps) + 1}"


def count_rows(root: GroupState) -> int:
    return sum(count_rows(c) if isinstance(c, GroupState) else 1 for c in root.items)


# --- rows not filled in yet -------------------------------------------------------------


def _unfinished_filters(rows: list[AttributeRow]) -> bool:
    return any(_attribute(row) is None for row in rows)


def blank(node: Node) -> bool:
    """A row nothing was picked in yet (what "Add condition" and "Group" start with),
    or a group of only such rows."""
    if isinstance(node, GroupState):
        return all(blank(child) for child in node.items)
    return isinstance(node, AttributeRow) and node.field is None and not node.compare_field


def unfinished(node: Node, *, count_blank: bool = True) -> bool:
    """Whether some row under ``node`` is started but converts to nothing yet.

    The PQL cannot hold such a row (a field with no value yet), so whatever keeps
    the draft (the URL) must keep the builder state as well. ``count_blank=False``
    leaves out rows nothing was picked in: no edit is lost with them.
    """
    if not count_blank and blank(node):
        return False
    if isinstance(node, GroupState):
        return any(unfinished(child, count_blank=count_blank) for child in node.items)
    if isinstance(node, AttributeRow):
        return _attribute(node) is None
    if isinstance(node, EventRow):
        return _unfinished_filters(node.filters) or (node.how == "aggregate" and not node.agg_field)
    if isinstance(node, SequenceRow):
        return _sequence(node) is None or any(_unfinished_filters(s.filters) for s in node.steps)
    if isinstance(node, SegmentRow):
        return not node.segment
    return False


# --- builder state <-> plain JSON (the URL draft) -----------------------------------------


def _plain(value: Any) -> Any:
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def state_to_json(root: GroupState) -> dict[str, Any]:
    """The builder as JSON types (dates tagged), for ``state_from_json``."""
    return _plain(root)


_NESTED: dict[str, Any] = {  # field name -> how to read it back
    "window": lambda d: _read(WindowState, d),
    "filters": lambda items: [_read(AttributeRow, d) for d in items],
    "steps": lambda items: [_read(StepState, d) for d in items],
    "items": lambda items: [_node(d) for d in items],
}


def _value(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, text),) = value.items()
        if tag == "datetime":
            return dt.datetime.fromisoformat(text)
        if tag == "date":
            return dt.date.fromisoformat(text)
    if isinstance(value, list):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        raise ValueError("unexpected object in the builder state")
    return value


def _read(cls: type, data: Any) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"expected an object for {cls.__name__}")
    known = {f.name for f in fields(cls)}
    args = {
        name: _NESTED[name](raw) if name in _NESTED else _value(raw)
        for name, raw in data.items()
        if name in known
    }
    return cls(**args)


def _node(data: Any) -> Node:
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == "group":
        return _read(GroupState, data)
    if kind not in ROW_KINDS:
        raise ValueError(f"unknown builder row kind {kind!r}")
    return _read(ROW_KINDS[kind], data)


def state_from_json(data: Any) -> GroupState:
    """``state_to_json`` read back; ValueError for anything that is not such a state."""
    root = _node(data)
    if not isinstance(root, GroupState):
        raise ValueError("the builder state must be a group")
    return root

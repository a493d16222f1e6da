"""The visual builder's state <-> expression tree, without Streamlit."""

from __future__ import annotations

import datetime as dt

import pytest

from segmentation.pql import parse, to_pql
from ui import builder_state as bs
from ui.builder_state import (
    AttributeRow,
    EventRow,
    GroupState,
    SegmentRow,
    SequenceRow,
    StepState,
    WindowState,
)


def pql_of(state: GroupState) -> str | None:
    expr = bs.to_expression(state)
    return None if expr is None else to_pql(expr)


STATE_TO_PQL = [
    ("empty builder", GroupState(), None),
    (
        "text equals",
        GroupState(items=[AttributeRow(field="country", op="eq", value="DE")]),
        'country = "DE"',
    ),
    (
        "text equals, case-insensitive",
        GroupState(
            items=[AttributeRow(field="country", op="eq", value="de", case_insensitive=True)]
        ),
        'country.equals("de", false)',
    ),
    (
        "text is one of",
        GroupState(items=[AttributeRow(field="country", op="in", value=["DE", "FR"])]),
        'country in ["DE", "FR"]',
    ),
    (
        "text does not contain",
        GroupState(items=[AttributeRow(field="email", op="not_contains", value="@test")]),
        'email.doesNotContain("@test")',
    ),
    (
        "number between",
        GroupState(items=[AttributeRow(field="age", op="between", value=18, value2=30)]),
        "age >= 18 and age <= 30",
    ),
    (
        "boolean and null check, any of",
        GroupState(
            match="any",
            items=[
                AttributeRow(field="optIn", op="true"),
                AttributeRow(field="email", op="empty"),
            ],
        ),
        "optIn = true or email.isNull()",
    ),
    (
        "date in the last 3 months",
        GroupState(
            items=[
                AttributeRow(
                    field="signupDate", op="last", window=WindowState(amount=3, unit="month")
                )
            ]
        ),
        "signupDate occurs <= 3 months before now",
    ),
    (
        "date between",
        GroupState(
            items=[
                AttributeRow(
                    field="signupDate",
                    op="date_between",
                    window=WindowState(start=dt.date(2024, 1, 1), end=dt.date(2024, 3, 31)),
                )
            ]
        ),
        "signupDate occurs between date(2024, 1, 1) and date(2024, 3, 31)",
    ),
    (
        "list includes any of",
        GroupState(items=[AttributeRow(field="interests", op="intersects", value=["golf", "ski"])]),
        'interests.intersects(["golf", "ski"])',
    ),
    (
        "half-built rows are left out",
        GroupState(items=[AttributeRow(), AttributeRow(field="age", op=">", value=40)]),
        "age > 40",
    ),
    (
        "did not perform, in the last 30 days",
        GroupState(
            items=[
                EventRow(
                    event_types=["purchase"],
                    how="none",
                    window=WindowState(mode="last", amount=30, unit="day"),
                )
            ]
        ),
        'xEvent[eventType = "purchase" and timestamp occurs <= 30 days before now].count() = 0',
    ),
    (
        "sum of revenue with a property filter",
        GroupState(
            items=[
                EventRow(
                    event_types=["purchase"],
                    filters=[AttributeRow(field="channel", op="eq", value="web", scope="event")],
                    how="aggregate",
                    measure="sum",
                    agg_field="revenue",
                    op=">",
                    value=100,
                )
            ]
        ),
        'xEvent[eventType = "purchase" and channel = "web"].sum(revenue) > 100',
    ),
    (
        "sequence within 2 days",
        GroupState(
            items=[
                SequenceRow(
                    steps=[
                        StepState(label="A", event_types=["cart"]),
                        StepState(
                            label="B", event_types=["purchase"], within_amount=2, within_unit="day"
                        ),
                    ]
                )
            ]
        ),
        'chain(xEvent, timestamp, [A: WHAT(eventType = "cart"), '
        'B: WHAT(eventType = "purchase") WHEN(<= 2 days after A)])',
    ),
    (
        "a sequence step without an event is not filled in yet",
        GroupState(
            items=[SequenceRow(steps=[StepState(label="A", event_types=["cart"]), StepState()])]
        ),
        None,
    ),
    (
        "negated group and segment reference",
        GroupState(
            items=[
                SegmentRow(segment="VIP"),
                GroupState(
                    match="any",
                    negate=True,
                    items=[
                        AttributeRow(field="country", op="eq", value="DE"),
                        AttributeRow(field="age", op="<", value=18),
                    ],
                ),
            ]
        ),
        'inSegment("VIP") and not (country = "DE" or age < 18)',
    ),
    (
        "a one-row subgroup collapses to its row",
        GroupState(
            items=[
                AttributeRow(field="age", op=">=", value=21),
                GroupState(match="any", items=[AttributeRow(field="vip", op="true")]),
            ]
        ),
        "age >= 21 and vip = true",
    ),
]


@pytest.mark.parametrize(("case", "state", "pql"), STATE_TO_PQL, ids=[c[0] for c in STATE_TO_PQL])
def test_state_to_pql(case: str, state: GroupState, pql: str | None) -> None:
    assert pql_of(state) == pql


ROUND_TRIPS = [
    'country = "DE"',
    'country != "DE" and age > 30',
    'country.equals("DE")',
    'email.contains("gmail", false)',
    'email.startsWith("a") or email.endsWith(".org")',
    'name like "A%"',
    'name matches "^A.*"',
    'country notIn ["DE", "FR"]',
    "age in [18, 21]",
    "age >= 18 and age <= 30",
    "vip = false",
    "email.isNotNull()",
    'interests.includes("golf")',
    'interests.supersetOf(["golf", "ski"])',
    'interests.subsetOf(["golf"])',
    "signupDate occurs > 1 year before now",
    "signupDate occurs before date(2024, 1, 1)",
    "birthDate occurs last week",
    "signupDate occurs this year",
    'not (country = "DE")',
    'not (not (country = "DE"))',
    "a = 1 and (b = 2 or not (c = 3 and d = 4))",
    'not inSegment("Churn risk")',
    'xEvent[eventType = "purchase"].count() >= 3',
    'xEvent[eventType in ["view", "cart"]].count() <= 1',
    "xEvent.count() > 0",
    'xEvent[eventType = "purchase" and timestamp occurs this month].average(revenue) >= 50',
    'xEvent[eventType = "purchase" and not (channel = "web") and timestamp occurs between '
    "date(2024, 1, 1) and date(2024, 2, 1)].count() = 0",
    'chain(xEvent, timestamp, [A: WHAT(eventType = "view") WHEN(<= 7 days before now), '
    'B: WHAT(eventType = "purchase" and revenue > 10) WHEN(<= 7 days before now) COUNT(2)])',
]


@pytest.mark.parametrize("pql", ROUND_TRIPS)
def test_pql_to_state_and_back(pql: str) -> None:
    expr = parse(pql)
    state = bs.from_expression(expr)
    assert state is not None, "the builder should show this expression"
    assert bs.to_expression(state) == expr
    assert pql_of(state) == to_pql(expr)


ROUND_TRIPS += [  # a list's number of items
    "interests.count() > 2",
    "interests.count() = 0",
    'xEvent[eventType = "purchase" and tags.count() >= 1].count() >= 1',
]
ROUND_TRIPS += [  # a profile attribute as the right side of a comparison
    "age > minAge",
    "country != homeAddress.countryCode",
    "signupDate occurs before lastSeen",
    'xEvent[eventType = "purchase" and revenue >= listPrice].count() >= 1',
]

# Parts the builder has no widget for: a read-only PQL row each, kept as written,
# while the parts around them stay ordinary rows.
PQL_ROWS = [
    ("arithmetic", "age + 1 > 30", ["pql"]),
    ("date functions", "birthDate.getMonth() = currentMonth()", ["pql"]),
    ("or inside event filters", 'xEvent[eventType = "a" or eventType = "b"].count() > 0', ["pql"]),
    ("a window with no form", "signupDate occurs <= 3 days after today", ["pql"]),
    ("a constant", "true", ["pql"]),
    ("if(...)", 'country = "DE" and if(age > 30, lifetimeValue, 0) > 100', ["attribute", "pql"]),
    (
        "measure vs measure, in a group",
        'age > 18 and (xEvent[eventType = "a"].count() > xEvent[eventType = "b"].count()'
        " or vip = true)",
        ["attribute", ["pql", "attribute"]],
    ),
    ("negated", "not (age + 1 > 30) and vip = true", ["pql", "attribute"]),
    ("a measure vs an attribute", "xEvent.sum(revenue) > lifetimeValue", ["pql"]),
    ("a field as the list's argument", "favoriteCities.subsetOf(visitedCities)", ["pql"]),
    ("dates in a list", "birthDate in [date(1990, 1, 1)]", ["pql"]),
    ("distinct items", "interests.distinct().count() >= 2", ["pql"]),
]


def _kinds(group: GroupState) -> list:
    return [_kinds(n) if isinstance(n, GroupState) else n.kind for n in group.items]


@pytest.mark.parametrize(("case", "pql", "kinds"), PQL_ROWS, ids=[c[0] for c in PQL_ROWS])
def test_parts_with_no_widget_are_kept_as_pql_rows(case: str, pql: str, kinds: list) -> None:
    expr = parse(pql)
    state = bs.from_expression(expr)
    assert _kinds(state) == kinds
    assert bs.to_expression(state) == expr  # saved unchanged
    # ... also after an edit of another row and a trip through the URL draft
    bs.add_row(state, state.id, "attribute")
    again = bs.state_from_json(bs.state_to_json(state))
    assert bs.to_expression(again) == expr


def test_a_pql_row_can_be_negated_and_removed() -> None:
    state = bs.from_expression(parse("age + 1 > 30 and vip = true"))
    pql_row, _vip = state.items
    pql_row.negate = True
    assert pql_of(state) == "not (age + 1 > 30) and vip = true"
    bs.remove(state, pql_row.id)
    assert pql_of(state) == "vip = true"


def test_editing_keeps_ids_and_values() -> None:
    root = GroupState(items=[AttributeRow(field="a", op="=", value=1)])
    first = root.items[0]
    second = bs.add_row(root, root.id, "attribute")
    group = bs.add_row(root, root.id, "group")
    assert isinstance(group, GroupState) and len(group.items) == 1
    bs.move(root, second.id, -1)
    assert [n.id for n in root.items] == [second.id, first.id, group.id]
    bs.remove(root, second.id)
    assert root.items[0] is first and first.value == 1
    nested = bs.add_row(root, group.id, "event")
    assert bs.find(root, nested.id) == (group, nested)
    assert bs.count_rows(root) == 3


def test_next_sequence_label_skips_used_letters() -> None:
    assert bs.next_label([StepState(label="A"), StepState(label="C")]) == "B"


# Rows the user started but did not finish: the PQL cannot hold them, the draft must.
UNFINISHED = [
    ("field chosen, no value yet", AttributeRow(field="country", op="eq"), True),
    ("a blank row", AttributeRow(), True),
    ("between with one bound", AttributeRow(field="age", op="between", value=18), True),
    ("filled in", AttributeRow(field="age", op=">", value=18), False),
    ("an event filter with no value", EventRow(filters=[AttributeRow(scope="event")]), True),
    ("an event, filled in", EventRow(event_types=["purchase"]), False),
    ("an aggregate with no property", EventRow(how="aggregate"), True),
    ("a sequence with an empty step", SequenceRow(), True),
    ("a segment not chosen", SegmentRow(), True),
    (
        "compared with a field not chosen",
        AttributeRow(field="age", op=">", compare_field=True),
        True,
    ),
    ("a group holding a blank row", GroupState(items=[AttributeRow()]), True),
]


@pytest.mark.parametrize(("case", "node", "expected"), UNFINISHED, ids=[c[0] for c in UNFINISHED])
def test_unfinished_rows_are_found(case: str, node: bs.Node, expected: bool) -> None:
    assert bs.unfinished(GroupState(items=[node])) is expected


def test_builder_state_round_trips_through_json() -> None:
    import json

    root = GroupState(
        match="any",
        items=[
            AttributeRow(field="country", op="in", value=["DE", 3]),
            AttributeRow(
                field="signupDate",
                op="date_between",
                window=WindowState(mode="between", start=dt.date(2024, 1, 1)),
            ),
            AttributeRow(field="seen", op="=", value=dt.datetime(2024, 5, 1, 12, 30)),
            EventRow(event_types=["purchase"], filters=[AttributeRow(scope="event", field="sku")]),
            SequenceRow(steps=[StepState(label="A", within_amount=2, within_unit="week")]),
            GroupState(negate=True, items=[SegmentRow(segment="s1", negate=True)]),
        ],
    )
    text = json.dumps(bs.state_to_json(root))  # what the URL carries
    assert bs.state_from_json(json.loads(text)) == root


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"kind": "attribute"},
        {"kind": "nope"},
        {"kind": "group", "items": [{"x": 1}]},
        {"kind": "group", "items": [{"kind": "attribute", "value": {"a": 1, "b": 2}}]},
    ],
)
def test_a_broken_builder_state_is_refused(data: object) -> None:
    with pytest.raises(ValueError):
        bs.state_from_json(data)


def test_a_blank_row_is_no_edit_when_blanks_are_left_out() -> None:
    blank_group = GroupState(items=[AttributeRow(field="country", op="eq", value="DE"),
                                    GroupState(items=[AttributeRow()])])  # fmt: skip
    assert bs.unfinished(blank_group) is True
    assert bs.unfinished(blank_group, count_blank=False) is False
    started = GroupState(items=[GroupState(items=[AttributeRow(field="age", op=">")])])
    assert bs.unfinished(started, count_blank=False) is True

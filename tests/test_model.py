"""The expression tree: JSON in and out, its schema, and the checks on node shapes."""

from __future__ import annotations

import pydantic
import pytest

from segmentation.model import (
    And,
    Compare,
    EventCondition,
    FieldRef,
    Lit,
    Not,
    Or,
    SegmentRef,
    expression_from_json,
    expression_json_schema,
    expression_to_dict,
    expression_to_json,
    segment_refs,
)
from segmentation.pql import parse

TREES = [
    parse('country = "US"'),
    parse('age % 5 = 0 and not (loyaltyTier in ["gold"])'),
    parse(
        'xEvent[eventType = "purchase" and timestamp occurs <= 30 days before now]'
        ".sum(revenue) > 100"
    ),
    parse("signupDate occurs between date(2024, 1, 1) and date(2024, 3, 31)"),
    parse(
        'chain(xEvent, timestamp, [A: WHAT(eventType = "view"), '
        'B: WHAT(eventType = "buy") WHEN(<= 1 day after A)])'
    ),
    parse('inSegment("VIP") or email.endsWith("@example.com", false)'),
]


@pytest.mark.parametrize("tree", TREES, ids=lambda t: t.kind)
def test_json_round_trip(tree):
    assert expression_from_json(expression_to_json(tree)) == tree
    assert expression_from_json(expression_to_dict(tree)) == tree


def test_json_schema_names_every_node_kind():
    schema = str(expression_json_schema())
    for kind in (
        "and",
        "or",
        "not",
        "compare",
        "in",
        "text",
        "null",
        "list",
        "occurs",
        "event",
        "sequence",
        "segment",
    ):
        assert f"'{kind}'" in schema


@pytest.mark.parametrize(
    "build",
    [
        lambda: And(items=[Compare(op="=", left=FieldRef(path="a"), right=Lit(value=1))]),
        lambda: Or(items=[]),
        lambda: FieldRef(path="  "),
        lambda: EventCondition(measure="sum"),
        lambda: EventCondition(field="revenue"),
        lambda: expression_from_json('{"kind": "compare", "op": "===", "left": 1}'),
        lambda: expression_from_json('{"kind": "nonsense"}'),
    ],
)
def test_malformed_trees_are_refused(build):
    with pytest.raises(pydantic.ValidationError):
        build()


def test_segment_refs_finds_nested_references():
    tree = And(
        items=[
            SegmentRef(segment="a"),
            Not(
                item=Or(
                    items=[
                        SegmentRef(segment="b"),
                        Compare(op=">", left=FieldRef(path="x"), right=Lit(value=1)),
                    ]
                )
            ),
        ]
    )
    assert segment_refs(tree) == ["a", "b"]

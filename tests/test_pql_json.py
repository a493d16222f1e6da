"""pql/json (AEP's JSON tree) <-> expression tree: the same tree as the PQL text, both ways."""

from __future__ import annotations

import json

import pytest
from hypothesis import given

from segmentation.errors import ExpressionError, InvalidInputError
from segmentation.model import MAX_DEPTH, FieldRef, TextMatch
from segmentation.pql import parse
from segmentation.pql.json_format import from_pql_json, to_pql_json
from tests.test_pql import PARSE_CASES, PROPERTY_SETTINGS, conditions


def field(*names: str) -> dict:
    node: dict = {"nodeType": "parameterReference", "position": 1}
    for name in names:
        node = {"nodeType": "fieldLookup", "fieldName": name, "object": node}
    return node


def lit(value, kind: str) -> dict:
    return {"nodeType": "literal", "literalType": kind, "value": value}


def apply(name: str, *params) -> dict:
    return {"nodeType": "fnApply", "fnName": name, "params": list(params)}


EVENT = {"nodeType": "variableReference", "name": "xEvent"}


def event_field(name: str) -> dict:
    return {"nodeType": "fieldLookup", "fieldName": name, "object": EVENT}


# AEP's own example (segmentation-api.md section 1) and the shapes built on it
DOCUMENTS = [
    ('workAddress.country = "US"',
     apply("=", field("workAddress", "country"), lit("US", "String"))),
    (
        "age >= 21 and not (vip = true)",
        apply("and", apply(">=", field("age"), lit(21, "Integer")),
              apply("not", apply("=", field("vip"), lit(True, "Boolean")))),
    ),
    ('email.endsWith(".com", false)', apply("endsWith", field("email"), lit(".com", "String"),
                                            lit(False, "Boolean"))),
    ("country in [\"US\", \"CA\"]", apply("in", field("country"), lit(["US", "CA"], "List"))),
    ("birthDate occurs <= 3 days before today",
     apply("occurs", field("birthDate"),
           apply("before", apply("today"), lit("<=", "String"), lit(3, "Integer"),
                 lit("day", "String")))),
    # lists (#12 family 3): count of a list, a field as argument, a projection, exists
    ("interests.count() > 2", apply(">", apply("count", field("interests")), lit(2, "Integer"))),
    ("a.subsetOf(b)", apply("subsetOf", field("a"), field("b"))),
    ("xEvent.sku.distinct().count() >= 3",
     apply(">=", apply("count", apply("distinct", event_field("sku"))), lit(3, "Integer"))),
    ('exists T from tags where T = "x"',
     apply("exists", lit("T", "String"), field("tags"),
           apply("=", {"nodeType": "variableReference", "name": "T"}, lit("x", "String")))),
    ("d in [date(1990, 1, 2)]",
     apply("in", field("d"), lit([apply("date", *(lit(v, "Integer") for v in (1990, 1, 2)))],
                                 "List"))),
    (
        'xEvent[eventType = "purchase"].sum(revenue) > 100.5',
        apply(">", apply("sum", apply("filter", EVENT, apply("=", event_field("eventType"),
                                                             lit("purchase", "String"))),
                         event_field("revenue")),
              lit(100.5, "Double")),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("text", "document"), DOCUMENTS)
def test_documents_are_the_trees_of_their_text(text: str, document: dict) -> None:
    tree = parse(text)
    assert to_pql_json(tree) == document
    assert from_pql_json(document) == tree
    assert from_pql_json(json.dumps(document)) == tree  # AEP sends it as a string


@pytest.mark.parametrize(("text", "expected"), PARSE_CASES)
def test_every_parse_case_round_trips_through_json(text: str, expected) -> None:
    tree = parse(text)
    assert from_pql_json(json.loads(json.dumps(to_pql_json(tree)))) == tree


@PROPERTY_SETTINGS
@given(conditions("profile"))
def test_random_canonical_trees_round_trip(tree) -> None:
    document = to_pql_json(tree)
    assert from_pql_json(document) == tree
    assert from_pql_json(json.dumps(document)) == tree


def test_trees_without_pql_spelling_have_no_json_either() -> None:
    tree = TextMatch(op="like", operand=FieldRef(path="s"), value="a%", negate=True)
    with pytest.raises(InvalidInputError):
        to_pql_json(tree)


def _nots(n: int) -> dict:
    node = lit(True, "Boolean")
    for _ in range(n):
        node = apply("not", node)
    return node


BAD = [
    ({}, "expression", "expected a node of type fnApply or literal"),
    (apply("~", field("a"), lit(1, "Integer")), "expression.fnName", "unknown condition '~'"),
    (apply("=", field("a")), "expression.params", "= takes 2 parameters, found 1"),
    (apply("=", {"nodeType": "fieldLookup", "object": field()}, lit(1, "Integer")),
     "expression.params[0].fieldName", "needs a fieldName"),
    (apply("=", field("a"), {"nodeType": "literal", "value": {"x": 1}}), "expression",
     "Input should be"),
    (apply("in", field("a"), lit("x", "String")), "expression.params[1].value",
     "expected a list literal"),
    (apply("=", field("a"), lit(2**64, "Integer")), "expression.right.value", "too large"),
    (apply("matches", field("a"), lit("(?<=a)", "String")), "expression.value", "lookbehind"),
    (apply("occurs", field("a"), apply("around", apply("now"))), "expression.params[1].fnName",
     "unknown time window"),
    (_nots(MAX_DEPTH), "expression.item", "nested deeper than 50"),
    (_nots(5000), "expression.params[0]", "nested deeper than"),
    ("{", "expression", "not valid JSON"),
]  # fmt: skip


@pytest.mark.parametrize(("document", "path", "fragment"), BAD)
def test_bad_documents_name_the_bad_node(document, path: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        from_pql_json(document)
    assert info.value.path.startswith(path)
    assert fragment in info.value.reason

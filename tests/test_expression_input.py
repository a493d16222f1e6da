"""Trees given as data (dicts, JSON, Python objects): every bad one is an ExpressionError
naming the JSON path of the bad node, with the depth limit PQL text has."""

from __future__ import annotations

import json

import pytest

from segmentation.errors import ExpressionError, PQLSyntaxError
from segmentation.expression_input import expression_from_data
from segmentation.model import MAX_DEPTH, BoolConst, Compare, FieldRef, Lit, Not, TextMatch
from segmentation.pql import parse, to_pql

GOOD = {
    "kind": "and",
    "items": [
        {"kind": "compare", "op": "=", "left": {"kind": "field", "path": "country"},
         "right": {"kind": "literal", "value": "US"}},
        {"kind": "text", "op": "matches", "operand": {"kind": "field", "path": "email"},
         "value": "^[a-z]+@"},
    ],
}  # fmt: skip


def _with(path: list, value):
    """GOOD with the node at ``path`` replaced (or deleted when value is ...)."""
    data = json.loads(json.dumps(GOOD))
    node = data
    for step in path[:-1]:
        node = node[step]
    if value is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


# data, the path named, a fragment of the reason
BAD = [
    (_with(["items", 0, "op"], ...), "expression.items[0]", "'op' is missing"),
    (_with(["items", 0, "left", "kind"], "column"), "expression.items[0].left", "unknown kind"),
    (_with(["items", 1, "operand"], 5), "expression.items[1].operand", "expected a JSON object"),
    (_with(["items", 0, "colour"], "red"), "expression.items[0].colour", "unknown key 'colour'"),
    (_with(["items", 0, "op"], "~"), "expression.items[0].op", "Input should be"),
    (_with(["items", 0, "left", "kind"], ...), "expression.items[0].left", "has no 'kind'"),
    (_with(["items"], []), "expression.items", "at least 2"),
    ({"kind": "nope"}, "expression", "unknown kind 'nope'"),
    (5, "expression", "expected a JSON object, found 5"),
    ([GOOD], "expression", "expected a JSON object, found a list"),
    (_with(["items", 1, "value"], "^(?!test)"), "expression.items[1].value", "lookahead"),
    (_with(["items", 0, "right", "value"], "\ud83d"), "expression.items[0].right.value",
     "lone surrogate"),
    (_with(["items", 0, "right", "value"], 2**63), "expression.items[0].right.value",
     "too large"),
    (_with(["items", 0, "right", "value"], float("nan")), "expression.items[0].right.value",
     "not a finite number"),
    ('{"kind": "and", "items": [', "expression", "not valid JSON"),
    (b"\xff\xfe", "expression", "not UTF-8"),
    ({"kind": "occurs", "operand": {"kind": "field", "path": "ts"},
      "window": {"kind": "relative", "cmp": "<=", "amount": 99999999999999, "unit": "hour",
                 "direction": "before", "anchor": {"kind": "anchor", "name": "now"}}},
     "expression.window", "longer than the calendar"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "path", "fragment"), BAD)
def test_bad_trees_name_the_path_of_the_bad_node(data, path: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        expression_from_data(data)
    assert info.value.path == path
    assert fragment in info.value.reason
    assert str(info.value).startswith(f"Invalid expression at {path}: ")


def test_a_good_tree_is_the_tree_its_pql_parses_to() -> None:
    tree = expression_from_data(GOOD)
    assert tree == parse('country = "US" and email matches "^[a-z]+@"')
    assert expression_from_data(json.dumps(GOOD)) == tree
    assert expression_from_data(tree) is tree


def _nots(n: int) -> dict:
    data: dict = {"kind": "bool", "value": True}
    for _ in range(n):
        data = {"kind": "not", "item": data}
    return data


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_a_very_deep_dict_is_refused_without_recursion(depth: int) -> None:
    with pytest.raises(ExpressionError) as info:
        expression_from_data(_nots(depth))
    assert f"nested deeper than {MAX_DEPTH} levels" in info.value.reason
    assert info.value.path.startswith("expression.item.item")


def test_json_text_nested_300_deep_is_refused() -> None:
    with pytest.raises(ExpressionError) as info:
        expression_from_data(json.dumps(_nots(300)))
    assert "nested deeper than" in info.value.reason
    with pytest.raises(ExpressionError) as info:
        expression_from_data("[" * 100_000 + "]" * 100_000)
    assert "nested deeper than" in info.value.reason


def test_a_deep_python_tree_is_refused_too() -> None:
    tree = BoolConst(value=True)
    for _ in range(1000):
        tree = Not(item=tree)
    with pytest.raises(ExpressionError):
        expression_from_data(tree)
    with pytest.raises(ExpressionError) as info:
        expression_from_data(FieldRef(path="x"))
    assert "expected a condition" in info.value.reason


def test_text_and_json_share_one_depth_limit() -> None:
    # MAX_DEPTH - 1 nots around a true: the tree is exactly MAX_DEPTH nodes deep
    deepest, too_deep = MAX_DEPTH - 1, MAX_DEPTH
    assert expression_from_data(_nots(deepest)) == parse("not " * deepest + "true")
    with pytest.raises(ExpressionError):
        expression_from_data(_nots(too_deep))
    with pytest.raises(PQLSyntaxError) as info:
        parse("not " * too_deep + "true")
    assert f"nesting deeper than {MAX_DEPTH} levels" in info.value.reason


def test_regex_of_a_python_tree_is_checked() -> None:
    tree = TextMatch(op="matches", operand=FieldRef(path="email"), value="(?P<x>a)")
    with pytest.raises(ExpressionError) as info:
        expression_from_data(tree)
    assert info.value.path == "expression.value"
    assert "named groups" in info.value.reason


def test_surrogate_pairs_in_json_become_one_character() -> None:
    tree = expression_from_data(
        '{"kind": "compare", "op": "=", "left": {"kind": "field", "path": "x"},'
        ' "right": {"kind": "literal", "value": "\\ud83d\\ude80"}}'
    )
    assert tree == Compare(op="=", left=FieldRef(path="x"), right=Lit(value="\U0001f680"))
    assert to_pql(tree) == 'x = "\U0001f680"'

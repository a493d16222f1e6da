"""Expression trees from outside: dicts, JSON text and Python objects.

``definitions.create(expression=...)``, AEP JSON import and the REST API hand
trees over as data. :func:`expression_from_data` is the one door they all use.
It refuses, with an :class:`ExpressionError` naming the JSON path of the bad
node (``expression.items[1].right``), what would otherwise surface later as a
pydantic ``ValidationError``, a ``RecursionError`` or an engine error:

* JSON text that does not parse;
* a tree more than ``MAX_DEPTH`` nodes deep (the limit PQL text has too), checked
  without recursion before anything else walks it;
* a node that is no tree node (unknown kind, missing or unknown key, wrong type);
* text with a lone UTF-16 surrogate, whole numbers beyond 64 bits, NaN or
  infinite numbers (PQL text cannot spell them either);
* ``matches`` patterns outside the regex dialect (:mod:`segmentation.pattern_check`).

Trees read back from the workspace's own tables skip this door
(:func:`segmentation.model.expression_from_json`): they passed it when stored.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel, ValidationError

from segmentation.errors import ExpressionError
from segmentation.model import (
    _ADAPTER,
    CONDITION_TYPES,
    MAX_DEPTH,
    MAX_INT,
    Expression,
    expression_to_dict,
    lone_surrogate,
)
from segmentation.pattern_check import RegexDialectError, check_regex

Path = list[str | int]
# Lists add nesting without adding nodes; this bounds them too (lists of lists).
_MAX_CONTAINERS = 4 * MAX_DEPTH


def expression_from_data(data: Any, *, root: str = "expression") -> Expression:
    """A checked Expression from a dict, JSON text (str or bytes) or an Expression.

    ``root`` is how the caller names the whole tree in messages (e.g.
    ``definition 2.expression.value``).
    """
    if isinstance(data, BaseModel):
        if not isinstance(data, CONDITION_TYPES):
            raise ExpressionError(root, f"expected a condition, found {type(data).__name__}")
        _check_model_depth(data, root)
        expr, raw = data, expression_to_dict(data)
    else:
        raw = load_json(data, root)
        check_json_depth(raw, root)
        try:
            expr = _ADAPTER.validate_python(raw)
        except ValidationError as exc:
            path, reason = _explain(exc, raw)
            raise ExpressionError(render_path(root, path), reason) from None
    _check_values(raw, root)
    return expr


def render_path(root: str, path: Path) -> str:
    """``root.items[1].right``; a very long path keeps its two ends."""

    def show(parts: Path) -> str:
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)

    if len(path) > 12:
        return f"{root}{show(path[:6])}...{show(path[-4:])} ({len(path)} steps deep)"
    return root + show(path)


def tree_depth_path(expr: BaseModel) -> Path | None:
    """The path to the first node deeper than ``MAX_DEPTH``, or None; no recursion."""
    stack: list[tuple[Any, Path]] = [(expr, [])]
    while stack:
        node, path = stack.pop()
        depth = sum(1 for p in path if isinstance(p, str)) + 1
        if depth > MAX_DEPTH:
            return path
        for name in type(node).model_fields:
            value = getattr(node, name)
            if isinstance(value, BaseModel):
                stack.append((value, [*path, name]))
            elif isinstance(value, list):
                stack.extend(
                    (item, [*path, name, i])
                    for i, item in enumerate(value)
                    if isinstance(item, BaseModel)
                )
    return None


def _too_deep(root: str, path: Path) -> ExpressionError:
    return ExpressionError(
        render_path(root, path), f"the tree is nested deeper than {MAX_DEPTH} levels"
    )


def _check_model_depth(expr: BaseModel, root: str) -> None:
    path = tree_depth_path(expr)
    if path is not None:
        raise _too_deep(root, path)


def load_json(data: Any, root: str) -> Any:
    """``data`` itself, or the value of JSON text (str or bytes)."""
    if isinstance(data, bytes | bytearray):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ExpressionError(root, f"the JSON is not UTF-8 text ({exc.reason})") from None
    if not isinstance(data, str):
        return data
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise ExpressionError(
            root, f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise ExpressionError(root, f"the JSON is nested deeper than {MAX_DEPTH} levels") from None


def check_json_depth(raw: Any, root: str, max_nodes: int = MAX_DEPTH) -> None:
    """Objects at most ``max_nodes`` deep, lists included at most _MAX_CONTAINERS; no recursion."""
    stack: list[tuple[Any, Path, int, int]] = [(raw, [], 0, 0)]
    while stack:
        value, path, nodes, containers = stack.pop()
        if isinstance(value, dict):
            nodes, containers = nodes + 1, containers + 1
            children = [(v, [*path, str(k)]) for k, v in value.items()]
        elif isinstance(value, list | tuple):
            containers += 1
            children = [(v, [*path, i]) for i, v in enumerate(value)]
        else:
            continue
        if nodes > max_nodes or containers > _MAX_CONTAINERS:
            raise _too_deep(root, path)
        stack.extend((v, p, nodes, containers) for v, p in children)


def _explain(exc: ValidationError, raw: Any) -> tuple[Path, str]:
    """The data path and a readable reason for pydantic's first error."""
    error = exc.errors(include_url=False)[0]
    path: Path = []
    node = raw
    for step in error["loc"]:
        if (isinstance(node, dict) and isinstance(step, str) and step in node) or (
            isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)
        ):
            path.append(step)
            node = node[step]
        # other steps are union tags and member names pydantic adds, not places in the data
    kind, ctx, loc = error["type"], error.get("ctx") or {}, error["loc"]
    if kind == "union_tag_invalid":
        reason = f"unknown kind {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    elif kind == "union_tag_not_found":
        reason = "the node has no 'kind' (such as 'compare', 'and', 'event')"
    elif kind == "missing":
        reason = f"{loc[-1]!r} is missing"
    elif kind == "extra_forbidden":
        reason = f"unknown key {loc[-1]!r}"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        reason = f"expected a JSON object, found {_describe(error.get('input'))}"
    else:
        message = error["msg"].removeprefix("Value error, ")
        reason = f"{message} (found {_describe(error.get('input'))})"
    return path, reason


def _describe(value: Any) -> str:
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "a list"
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _check_values(raw: Any, root: str) -> None:
    """Text, numbers and patterns every engine can take."""
    stack: list[tuple[Any, Path]] = [(raw, [])]
    while stack:
        value, path = stack.pop()
        problem = _value_problem(value)
        if problem:
            raise ExpressionError(render_path(root, path), problem)
        if isinstance(value, dict):
            if value.get("kind") == "text" and value.get("op") == "matches":
                try:
                    check_regex(value["value"])
                except RegexDialectError as exc:
                    raise ExpressionError(
                        render_path(root, [*path, "value"]),
                        f"the pattern is not in PQL's regex dialect: {exc}",
                    ) from None
            stack.extend((v, [*path, str(k)]) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, [*path, i]) for i, v in enumerate(value))


def _value_problem(value: Any) -> str | None:
    if isinstance(value, str):
        at = lone_surrogate(value)
        if at is not None:
            return f"the text holds a lone surrogate character U+{ord(value[at]):04X}"
    elif isinstance(value, bool):
        return None
    elif isinstance(value, int) and not -MAX_INT <= value <= MAX_INT:
        return f"the whole number {value} is too large (at most {MAX_INT})"
    elif isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    return None

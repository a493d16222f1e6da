"""``pql/json``: AEP's JSON tree for a PQL expression, both ways.

AEP's definitions carry an expression as ``{"type": "PQL", "format": "pql/json",
"value": "<JSON text>"}``. Its nodes, as AEP shows them for
``workAddress.country = "US"``::

    {"nodeType": "fnApply", "fnName": "=", "params": [
      {"nodeType": "fieldLookup", "fieldName": "country", "object":
        {"nodeType": "fieldLookup", "fieldName": "workAddress",
         "object": {"nodeType": "parameterReference", "position": 1}}},
      {"nodeType": "literal", "literalType": "String", "value": "US"}]}

Every construct is a function application named as PQL names it: ``and``,
``not``, ``=``, ``+``, ``in``, ``contains`` (its case flag a Boolean literal after
the text), ``isNull``, ``intersects``, ``date`` (3 or 6 Integer literals),
``now``, ``currentMonth``, ``getMonth``, ``inSegment``, ``occurs`` (the window
``before/after/from`` with anchor, comparison, amount and unit, ``on``, or
``between``; periods ``this/last/next`` with the unit). An event measure is
``<op>(<measure>(filter(xEvent, <condition>)[, <field>]), <number>)`` where the
event is ``{"nodeType": "variableReference", "name": "xEvent"}`` and its fields
are looked up on it; looked up on ``xEvent`` or ``filter(xEvent, ..)`` outside an event
filter they are a projection (``xEvent[..].sku``, a list). ``exists T from <list> where
..`` is ``exists(<"T">, <list>, <condition>)`` with the item ``{"nodeType":
"variableReference", "name": "T"}``; a list function is ``filter(<list>, <condition>)``,
``topN(<list>, <value>, <n>)``, ``sum(<list>[, <value>])`` ... whose item is the variable
``$item``; a field of a struct value is a fieldLookup on the function giving it; dates in
``in [..]`` are ``date`` nodes inside the List literal; ``a.subsetOf(b)`` with a field
takes its node instead of a literal. A ``chain`` takes ``{"nodeType": "chainStep", ...}``
nodes holding the step's parts.
Names beyond AEP's example are this tool's own choice; the shape is AEP's.

``from_pql_json(to_pql_json(t)) == t`` for every tree with a PQL spelling, and
``from_pql_json`` gives exactly the tree ``parse`` gives for the same text.
Trees arrive from outside, so ``from_pql_json`` checks like
:func:`segmentation.expression_input.expression_from_data`: an
``ExpressionError`` names the JSON path of a bad node.
"""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar
from typing import Any

from pydantic import ValidationError

from segmentation.errors import ExpressionError
from segmentation.expression_input import (
    check_json_depth,
    expression_from_data,
    load_json,
    render_path,
)
from segmentation.model import (
    MAX_DEPTH,
    Anchor,
    And,
    Arith,
    BetweenWindow,
    BoolConst,
    Compare,
    DateLit,
    DateTimeLit,
    Duration,
    EventCondition,
    EventMeasure,
    EventValues,
    Expression,
    FieldRef,
    Func,
    IfValue,
    InList,
    ItemRef,
    ListAny,
    ListCall,
    ListMatch,
    Lit,
    Member,
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
)
from segmentation.pql import words
from segmentation.pql.events import EVENT_TYPE, TIMESTAMP, combine, items_of, selection
from segmentation.pql.formatter import to_pql

JsonNode = dict[str, Any]
_PROFILE: JsonNode = {"nodeType": "parameterReference", "position": 1}
_EVENT: JsonNode = {"nodeType": "variableReference", "name": "xEvent"}
_ARITH = ("+", "-", "*", "/", "%")
_MAX_JSON_NODES = 4 * MAX_DEPTH
_LITERAL_TYPES = {bool: "Boolean", int: "Integer", float: "Double", str: "String"}
# functions of more than one argument (the rest take one)
_FUNC_ARGS = {"regexGroup": (3,), "intersection": (2,), "substr": (2, 3), "get": (2,)}
# the item inside orders.filter(..), orders.sum(..) ...: a name no exists variable can have
LIST_ITEM_VAR = "$item"
# the variable of the exists being written (its items are references to it)
_ITEM_VAR: ContextVar[str] = ContextVar("item_var", default="item")


# --- tree -> JSON -------------------------------------------------------------------


def to_pql_json(expr: Expression) -> JsonNode:
    """The pql/json tree of ``expr``; InvalidInputError when it has no PQL spelling."""
    to_pql(expr)  # the same trees as the text form: refuse what text cannot spell
    return _encode(expr)


def _apply(name: str, *params: Any) -> JsonNode:
    return {"nodeType": "fnApply", "fnName": name, "params": list(params)}


def _literal(value: Any) -> JsonNode:
    if isinstance(value, list):
        return {"nodeType": "literal", "literalType": "List", "value": list(value)}
    return {"nodeType": "literal", "literalType": _LITERAL_TYPES[type(value)], "value": value}


def _field(path: str, scope: str) -> JsonNode:
    return _lookup(path, _EVENT if scope == "event" else _PROFILE)


def _lookup(path: str | None, node: JsonNode) -> JsonNode:
    for name in path.split(".") if path else []:
        node = {"nodeType": "fieldLookup", "fieldName": name, "object": node}
    return node


def _encode(node: Any) -> JsonNode:
    if isinstance(node, And | Or):
        return _apply(node.kind, *(_encode(item) for item in node.items))
    if isinstance(node, Not):
        return _apply("not", _encode(node.item))
    if isinstance(node, BoolConst):
        return _literal(node.value)
    if isinstance(node, Compare | Arith):
        return _apply(node.op, _encode(node.left), _encode(node.right))
    if isinstance(node, InList):
        values = [_encode(v) if isinstance(v, DateLit | DateTimeLit) else v for v in node.values]
        return _apply("notIn" if node.negate else "in", _encode(node.operand), _literal(values))
    if isinstance(node, TextMatch):
        name = words.TEXT_SPELLING.get((node.op, node.negate), node.op)
        flag = [] if node.case_sensitive else [_literal(False)]
        return _apply(name, _encode(node.operand), _literal(node.value), *flag)
    if isinstance(node, NullCheck):
        return _apply("isNull" if node.is_null else "isNotNull", _encode(node.operand))
    if isinstance(node, ListMatch):
        if node.other is not None:
            return _apply(node.op, _encode(node.operand), _encode(node.other))
        values = node.values[0] if node.op == "includes" else node.values
        return _apply(node.op, _encode(node.operand), _literal(values))
    if isinstance(node, ListAny):
        items = _encode(node.operand)
        token = _ITEM_VAR.set(node.var)
        try:
            return _apply("exists", _literal(node.var), items, _encode(node.where))
        finally:
            _ITEM_VAR.reset(token)
    if isinstance(node, ItemRef):
        return _lookup(node.path, {"nodeType": "variableReference", "name": _ITEM_VAR.get()})
    if isinstance(node, ListCall):
        return _list_call(node)
    if isinstance(node, Member):
        return _lookup(node.path, _encode(node.operand))
    if isinstance(node, EventValues):
        return _lookup(node.field, _source(node))
    if isinstance(node, Occurs):
        return _apply("occurs", _encode(node.operand), _encode(node.window))
    if isinstance(node, RelativeWindow):
        return _apply(
            node.direction,
            _encode(node.anchor),
            _literal(node.cmp),
            _literal(node.amount),
            _literal(node.unit),
        )
    if isinstance(node, PointWindow):
        return _apply(node.direction, _encode(node.anchor))
    if isinstance(node, BetweenWindow):
        return _apply("between", _encode(node.start), _encode(node.end))
    if isinstance(node, EventCondition):
        return _apply(node.op, _measure(node), _literal(node.value))
    if isinstance(node, EventMeasure):
        return _measure(node)
    if isinstance(node, Sequence):
        return _apply("chain", _EVENT, _field("timestamp", "event"), *map(_step, node.steps))
    if isinstance(node, SegmentRef):
        return _apply("inSegment", _literal(node.segment))
    if isinstance(node, FieldRef):
        return _field(node.path, node.scope)
    if isinstance(node, Lit):
        return _literal(node.value)
    if isinstance(node, DateLit | DateTimeLit):
        value = node.value
        parts = [value.year, value.month, value.day]
        if isinstance(value, dt.datetime):
            parts += [value.hour, value.minute, value.second]
        return _apply("date", *map(_literal, parts))
    if isinstance(node, Anchor):
        return _apply(node.name)
    if isinstance(node, Period):
        return _apply(node.which, _literal(node.unit))
    if isinstance(node, Func):
        return _apply(node.name, *map(_encode, node.args))
    if isinstance(node, IfValue):
        return _apply("if", _encode(node.test), _encode(node.then), _encode(node.otherwise))
    raise TypeError(type(node).__name__)  # pragma: no cover - to_pql refused it first


def _list_call(node: ListCall) -> JsonNode:
    items = _encode(node.operand)
    token = _ITEM_VAR.set(LIST_ITEM_VAR)
    try:
        argument = node.test if node.test is not None else node.by
        params = [] if argument is None else [_encode(argument)]
    finally:
        _ITEM_VAR.reset(token)
    count = [] if node.n is None else [_literal(node.n)]
    return _apply(node.name, items, *params, *count)


def _event_filter(event_types: list[str], where: Any, window: Any) -> Any:
    """The one condition the parser splits back into these parts (pql.events)."""
    items: list[Any] = []
    if len(event_types) == 1:
        items.append(Compare(op="=", left=EVENT_TYPE, right=Lit(value=event_types[0])))
    elif event_types:
        items.append(InList(operand=EVENT_TYPE, values=event_types))
    items.extend(items_of(where))
    if window is not None:
        items.append(Occurs(operand=TIMESTAMP, window=window))
    return combine(items)


def _source(node: EventCondition | EventMeasure | EventValues) -> JsonNode:
    """``xEvent`` or ``filter(xEvent, <condition>)``."""
    cond = _event_filter(node.event_types, node.where, node.window)
    return _EVENT if cond is None else _apply("filter", _EVENT, _encode(cond))


def _measure(node: EventCondition | EventMeasure) -> JsonNode:
    field = [] if node.field is None else [_field(node.field, "event")]
    return _apply(node.measure, _source(node), *field)


def _step(step: SequenceStep) -> JsonNode:
    within = step.within_previous
    return {
        "nodeType": "chainStep",
        "label": step.label,
        "eventTypes": list(step.event_types),
        "where": None if step.where is None else _encode(step.where),
        "when": None if step.window is None else _encode(step.window),
        "count": step.count,
        "withinPrevious": None
        if within is None
        else {"amount": within.amount, "unit": within.unit},
    }


# --- JSON -> tree -------------------------------------------------------------------


def from_pql_json(data: Any, *, root: str = "expression") -> Expression:
    """The tree of a pql/json document (a dict, or its JSON text); ExpressionError if bad."""
    raw = load_json(data, root)
    # field lookups and fnApply wrappers nest deeper than the tree; the tree's own
    # limit is checked on the result (expression_from_data)
    check_json_depth(raw, root, max_nodes=_MAX_JSON_NODES)
    try:
        tree = _Decoder(root).condition(raw, [])
    except ValidationError as exc:  # a node whose parts do not fit together
        raise ExpressionError(root, exc.errors(include_url=False)[0]["msg"]) from None
    return expression_from_data(tree, root=root)


def _is_measure(raw: Any) -> bool:
    """``count(xEvent)``, ``sum(filter(xEvent, ..), f)``; ``count(<a list>)`` is a list's."""
    if not (
        isinstance(raw, dict)
        and raw.get("nodeType") == "fnApply"
        and raw.get("fnName") in words.MEASURES
        and isinstance(raw.get("params"), list)
        and raw["params"]
    ):
        return False
    return _is_events(raw["params"][0])


def _is_events(raw: Any) -> bool:
    """``xEvent`` or ``filter(xEvent, ..)`` (a filter of another list is a list function)."""
    if not isinstance(raw, dict):
        return False
    if raw.get("nodeType") == "variableReference":
        return raw.get("name") == "xEvent"
    params = raw.get("params")
    return (
        raw.get("nodeType") == "fnApply"
        and raw.get("fnName") == "filter"
        and isinstance(params, list)
        and bool(params)
        and _is_events(params[0])
    )


def _is_number(raw: Any) -> bool:
    return (
        isinstance(raw, dict)
        and raw.get("nodeType") == "literal"
        and type(raw.get("value")) in (int, float)
    )


class _Decoder:
    def __init__(self, root: str) -> None:
        self.root = root
        self.item_var: str | None = None  # inside exists(<var>, <list>, ..)

    def fail(self, path: list[Any], reason: str) -> ExpressionError:
        return ExpressionError(render_path(self.root, path), reason)

    def node(self, raw: Any, path: list[Any], *types: str) -> JsonNode:
        if not isinstance(raw, dict):
            raise self.fail(
                path, f"expected a pql/json node (an object), found {type(raw).__name__}"
            )
        if raw.get("nodeType") not in types:
            raise self.fail(
                path, f"expected a node of type {' or '.join(types)}, found {raw.get('nodeType')!r}"
            )
        return raw

    def params(self, raw: JsonNode, path: list[Any], counts: tuple[int, ...] | None = None) -> list:
        params = raw.get("params")
        if not isinstance(params, list):
            raise self.fail([*path, "params"], "expected a list of parameters")
        if counts is not None and len(params) not in counts:
            wanted = " or ".join(map(str, counts))
            raise self.fail(
                [*path, "params"], f"{raw['fnName']} takes {wanted} parameters, found {len(params)}"
            )
        return params

    def literal(self, raw: Any, path: list[Any], *types: type) -> Any:
        node = self.node(raw, path, "literal")
        value = node.get("value")
        if types and not (
            isinstance(value, types) and not (bool not in types and isinstance(value, bool))
        ):
            names = " or ".join(t.__name__ for t in types)
            raise self.fail([*path, "value"], f"expected a {names} literal, found {value!r}")
        return value

    # --- conditions ------------------------------------------------------------

    def condition(self, raw: Any, path: list[Any], scope: str = "profile") -> Any:
        node = self.node(raw, path, "fnApply", "literal")
        if node["nodeType"] == "literal":
            return BoolConst(value=self.literal(node, path, bool))
        name = node.get("fnName")
        at = [*path, "params"]
        if name in ("and", "or"):
            items = [
                self.condition(p, [*at, i], scope) for i, p in enumerate(self.params(node, path))
            ]
            return (And if name == "and" else Or)(items=items)
        if name == "not":
            (item,) = self.params(node, path, (1,))
            return Not(item=self.condition(item, [*at, 0], scope))
        if name in words.COMPARE_OPS:
            left, right = self.params(node, path, (2,))
            if _is_measure(left) and _is_number(right):
                return self.event(node, path, scope)
            return Compare(
                op=name,
                left=self.operand(left, [*at, 0], scope),
                right=self.operand(right, [*at, 1], scope),
            )
        if name in ("in", "notIn"):
            operand, values = self.params(node, path, (2,))
            listed = self.literal(values, [*at, 1], list)
            return InList(
                operand=self.operand(operand, [*at, 0], scope),
                values=[
                    self.operand(v, [*at, 1, "value", i], scope) if isinstance(v, dict) else v
                    for i, v in enumerate(listed)
                ],
                negate=name == "notIn",
            )
        if name in words.TEXT_METHODS or name in ("like", "matches"):
            params = self.params(node, path, (2, 3))
            op, negate = words.TEXT_METHODS.get(name, (name, False))
            flag = self.literal(params[2], [*at, 2], bool) if len(params) == 3 else True
            return TextMatch(
                op=op,
                operand=self.operand(params[0], [*at, 0], scope),
                value=self.literal(params[1], [*at, 1], str),
                case_sensitive=flag,
                negate=negate,
            )
        if name in words.NULL_METHODS:
            (operand,) = self.params(node, path, (1,))
            return NullCheck(
                operand=self.operand(operand, [*at, 0], scope), is_null=words.NULL_METHODS[name]
            )
        if name in words.LIST_METHODS:
            operand, values = self.params(node, path, (2,))
            target = self.operand(operand, [*at, 0], scope)
            if not (isinstance(values, dict) and values.get("nodeType") == "literal"):
                other = self.operand(values, [*at, 1], scope)
                return ListMatch(op=name, operand=target, other=other)
            value = self.literal(values, [*at, 1])
            return ListMatch(
                op=name, operand=target, values=[value] if name == "includes" else value
            )
        if name == "exists":
            return self.list_any(node, path, scope)
        if name == "occurs":
            operand, window = self.params(node, path, (2,))
            return Occurs(
                operand=self.operand(operand, [*at, 0], scope),
                window=self.window(window, [*at, 1], scope),
            )
        if name == "chain":
            params = self.params(node, path)
            return Sequence(steps=[self.step(p, [*at, i]) for i, p in enumerate(params) if i >= 2])
        if name == "inSegment":
            (segment,) = self.params(node, path, (1,))
            return SegmentRef(segment=self.literal(segment, [*at, 0], str))
        raise self.fail([*path, "fnName"], f"unknown condition {name!r}")

    def list_any(self, node: JsonNode, path: list[Any], scope: str) -> ListAny:
        """``exists("T", <list>, <condition on T>)``."""
        var, items, where = self.params(node, path, (3,))
        at = [*path, "params"]
        if self.item_var not in (None, LIST_ITEM_VAR):
            raise self.fail(path, "an exists over a list cannot stand inside another one")
        name = self.literal(var, [*at, 0], str)
        operand = self.operand(items, [*at, 1], scope)
        saved, self.item_var = self.item_var, name
        try:
            return ListAny(var=name, operand=operand, where=self.condition(where, [*at, 2], scope))
        finally:
            self.item_var = saved

    def event(self, node: JsonNode, path: list[Any], scope: str) -> EventCondition:
        measured = self.measure(node["params"][0], [*path, "params", 0], scope)
        number = self.literal(node["params"][1], [*path, "params", 1], int, float)
        return EventCondition(**measured.selection(), op=node["fnName"], value=number)

    def events(self, raw: Any, path: list[Any], scope: str) -> Any:
        """``xEvent`` or ``filter(xEvent, cond)`` -> the filter's condition (or None)."""
        if scope == "event":
            raise self.fail(path, "an event measure cannot stand inside an event filter")
        source = self.node(raw, path, "variableReference", "fnApply")
        if source["nodeType"] == "variableReference":
            if source.get("name") != "xEvent":
                raise self.fail(path, "expected xEvent or filter(xEvent, condition)")
            return None
        if source.get("fnName") != "filter":
            raise self.fail(path, "expected xEvent or filter(xEvent, condition)")
        _, raw_cond = self.params(source, path, (2,))
        return self.condition(raw_cond, [*path, "params", 1], "event")

    def measure(self, node: JsonNode, path: list[Any], scope: str) -> EventMeasure:
        """``measure(xEvent | filter(xEvent, cond)[, field])``."""
        measure, at = node["fnName"], [*path, "params"]
        params = self.params(node, path, (1,) if measure == "count" else (2,))
        cond = self.events(params[0], [*at, 0], scope)
        field = None
        if measure != "count":
            ref = self.operand(params[1], [*at, 1], "event")
            if not isinstance(ref, FieldRef) or ref.scope != "event":
                raise self.fail([*at, 1], f"{measure} needs a field of the event")
            field = ref.path
        return EventMeasure(**selection(cond), measure=measure, field=field)

    def step(self, raw: Any, path: list[Any]) -> SequenceStep:
        node = self.node(raw, path, "chainStep")
        within = node.get("withinPrevious")
        return SequenceStep(
            label=node.get("label"),
            event_types=node.get("eventTypes") or [],
            where=None
            if node.get("where") is None
            else self.condition(node["where"], [*path, "where"], "event"),
            window=None
            if node.get("when") is None
            else self.window(node["when"], [*path, "when"], "event"),
            count=node.get("count", 1),
            within_previous=None if within is None else Duration.model_validate(within),
        )

    # --- operands and times ----------------------------------------------------------

    def operand(self, raw: Any, path: list[Any], scope: str) -> Any:
        node = self.node(raw, path, "fnApply", "literal", "fieldLookup", "variableReference")
        if node["nodeType"] == "literal":
            return Lit(value=node.get("value"))
        if node["nodeType"] in ("fieldLookup", "variableReference"):
            return self.field(node, path, scope)
        name, at = node.get("fnName"), [*path, "params"]
        if _is_measure(node):
            return self.measure(node, path, scope)
        if name == "if":
            test, then, otherwise = self.params(node, path, (3,))
            return IfValue(
                test=self.condition(test, [*at, 0], scope),
                then=self.operand(then, [*at, 1], scope),
                otherwise=self.operand(otherwise, [*at, 2], scope),
            )
        if name in _ARITH:
            left, right = self.params(node, path, (2,))
            return Arith(
                op=name,
                left=self.operand(left, [*at, 0], scope),
                right=self.operand(right, [*at, 1], scope),
            )
        if name == "date":
            parts = [
                self.literal(p, [*at, i], int)
                for i, p in enumerate(self.params(node, path, (3, 6)))
            ]
            try:
                return (
                    DateLit(value=dt.date(*parts))
                    if len(parts) == 3
                    else DateTimeLit(value=dt.datetime(*parts))
                )
            except (ValueError, OverflowError) as exc:
                raise self.fail(path, f"invalid date: {exc}") from None
        if name in words.ANCHORS:
            self.params(node, path, (0,))
            return Anchor(name=name)
        if name in words.CURRENT_FUNCS:
            self.params(node, path, (0,))
            return Func(name=name)
        if name in words.ITEM_FUNCS:
            return self.list_call(node, path, scope)
        if name in (
            *words.GET_FUNCS,
            *words.TEXT_FUNCS,
            *words.LIST_FUNCS,
            *words.MAP_FUNCS,
            *_FUNC_ARGS,
        ):
            params = self.params(node, path, _FUNC_ARGS.get(name, (1,)))
            return Func(
                name=name, args=[self.operand(p, [*at, i], scope) for i, p in enumerate(params)]
            )
        raise self.fail([*path, "fnName"], f"unknown value function {name!r}")

    def list_call(self, node: JsonNode, path: list[Any], scope: str) -> ListCall:
        """``filter(<list>, <cond>)``, ``map(<list>, <value>)``, ``topN(<list>, <value>, <n>)``,
        ``sum(<list>[, <value>])``: the item is ``$item``."""
        name, at = node["fnName"], [*path, "params"]
        counts = {"topN": (3,), "bottomN": (3,), "filter": (2,), "map": (2,), "groupBy": (2,)}
        params = self.params(node, path, counts.get(name, (1, 2)))
        operand = self.operand(params[0], [*at, 0], scope)
        saved, self.item_var = self.item_var, LIST_ITEM_VAR
        try:
            if name == "filter":
                test = self.condition(params[1], [*at, 1], scope)
                return ListCall(name=name, operand=operand, test=test)
            by = self.operand(params[1], [*at, 1], scope) if len(params) > 1 else None
        finally:
            self.item_var = saved
        n = self.literal(params[2], [*at, 2], int) if len(params) == 3 else None
        return ListCall(name=name, operand=operand, by=by, n=n)

    def field(self, node: JsonNode, path: list[Any], scope: str) -> Any:
        """A path looked up on the profile, the event, an exists item, or (outside an event
        filter) on ``xEvent`` / ``filter(xEvent, ..)``: a projection."""
        names: list[str] = []
        while node.get("nodeType") == "fieldLookup":
            name = node.get("fieldName")
            if not isinstance(name, str):
                raise self.fail([*path, "fieldName"], "a fieldLookup needs a fieldName")
            names.append(name)
            path = [*path, "object"]
            node = self.node(
                node.get("object"),
                path,
                "fieldLookup",
                "parameterReference",
                "variableReference",
                "fnApply",
            )
        dotted = ".".join(reversed(names))
        kind, name = node["nodeType"], node.get("name")
        if kind == "variableReference" and name is not None and name == self.item_var:
            return ItemRef(path=dotted or None)
        if kind == "fnApply" and not _is_events(node):  # head(..).price, get(..).id
            return Member(operand=self.operand(node, path, scope), path=dotted)
        if kind == "fnApply" or (kind == "variableReference" and scope == "profile"):
            return EventValues(**selection(self.events(node, path, scope)), field=dotted)
        if kind == "parameterReference" and node.get("position") != 1:
            raise self.fail(path, "only parameter 1 (the profile) is known")
        return FieldRef(path=dotted, scope="event" if kind == "variableReference" else "profile")

    def window(self, raw: Any, path: list[Any], scope: str) -> Any:
        node = self.node(raw, path, "fnApply")
        name, at = node.get("fnName"), [*path, "params"]
        if name == "between":
            start, end = self.params(node, path, (2,))
            return BetweenWindow(
                start=self.time(start, [*at, 0], scope), end=self.time(end, [*at, 1], scope)
            )
        params = self.params(node, path, (1, 4))
        anchor = self.time(params[0], [*at, 0], scope)
        if len(params) == 1 and name in ("before", "after", "on"):
            return PointWindow(direction=name, anchor=anchor)
        if len(params) == 4 and name in ("before", "after", "from"):
            cmp, amount, unit = (self.literal(p, [*at, i + 1]) for i, p in enumerate(params[1:]))
            return RelativeWindow(cmp=cmp, amount=amount, unit=unit, direction=name, anchor=anchor)
        raise self.fail([*path, "fnName"], f"unknown time window {name!r}")

    def time(self, raw: Any, path: list[Any], scope: str) -> Any:
        node = self.node(raw, path, "fnApply", "fieldLookup")
        if node["nodeType"] == "fnApply" and node.get("fnName") in words.PERIOD_WORDS:
            (unit,) = self.params(node, path, (1,))
            return Period(which=node["fnName"], unit=self.literal(unit, [*path, "params", 0], str))
        return self.operand(node, path, scope)

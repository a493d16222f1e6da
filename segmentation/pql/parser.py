"""Recursive-descent PQL parser: tokens -> expression tree (segmentation.model).

Precedence, loosest first: ``or``; ``and``; ``not``/``!``; comparisons and
``in``/``notIn``/``like``/``matches``/``occurs``; ``+ -``; ``* / %``; unary
minus (numbers only); postfix ``.method(...)`` and ``[filter]``.

Only SegmentationError subclasses leave this module: PQLSyntaxError for text
that is not PQL, UnsupportedError for PQL this tool does not evaluate.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from segmentation.errors import PQLSyntaxError, UnsupportedError
from segmentation.expression_input import tree_depth_path
from segmentation.model import (
    CONDITION_TYPES,
    MAX_DEPTH,
    MAX_ITEMS,
    OPERAND_TYPES,
    SOME_ITEM_VAR,
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
    amount_problem,
    substr_bounds,
)
from segmentation.pattern_check import RegexDialectError, check_regex
from segmentation.pql import words
from segmentation.pql.events import combine, items_of, selection, split_filter
from segmentation.pql.lexer import Positions, Token, tokenize

CONDITIONS = CONDITION_TYPES
OPERANDS = OPERAND_TYPES


@dataclass(frozen=True)
class _Events:
    """``xEvent`` or ``xEvent[filter]`` before its measure is known."""

    filter: Any
    token: Token


@dataclass(frozen=True)
class _Aggregate:
    """``xEvent[...].sum(f)`` before the comparison that makes it a condition."""

    measure: str
    field: str | None
    filter: Any
    token: Token


@dataclass(frozen=True)
class _EventPath:
    """``xEvent.commerce.order.priceTotal`` (or ``xEvent[f].path``): an event field as
    the values of all the profile's events, before the condition on them is known."""

    value: Any  # the event field (scope "event"), or a method of it (``.lowerCase()``)
    filter: Any
    token: Token


@dataclass(frozen=True)
class _StepRef:
    """A chain label used as a time (``WHEN(<= 2 hours after A)``)."""

    label: str
    token: Token


def parse(text: str) -> Any:
    """PQL text -> Expression. Raises PQLSyntaxError or UnsupportedError only."""
    if not isinstance(text, str):
        raise PQLSyntaxError("PQL must be given as text", "", 1, 1)
    try:
        return _Parser(text).parse_all()
    except RecursionError:
        raise PQLSyntaxError(f"nesting deeper than {MAX_DEPTH} levels", text, 1, 1) from None


_MEMBER_BASES = (Func, ListCall, Member)  # what ``.price`` may follow: head(), get(..)

_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _is_number(node: Any) -> bool:
    return isinstance(node, Lit) and type(node.value) in (int, float)


def _suggest(word: str, candidates: Any) -> str:
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.positions = Positions(text)
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.scope = "profile"
        self.on_event_path = False  # the rest of ``xEvent.<field> ...``: an event filter
        self.event_var: str | None = None
        self.item_var: str | None = None  # the variable of an exists over a list
        self.implicit_item = False  # inside orders.filter(..): a bare name is the item's field
        self.levels = ["profile"]  # what each ^ goes up to: profile, event, item
        self.profile_var: str | None = None
        self.lets: dict[str, _Aggregate] = {}  # let variables in scope

    # --- token helpers ----------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.peek()
        if token.kind != "eof":
            self.i += 1
        return token

    def error(self, message: str, token: Token | None = None) -> PQLSyntaxError:
        token = token or self.peek()
        return PQLSyntaxError(message, self.text, token.line, token.column)

    def unsupported(self, construct: str, token: Token | None = None) -> UnsupportedError:
        """Valid AEP PQL this tool does not evaluate, at ``token`` (default: the next one)."""
        token = token or self.peek()
        return UnsupportedError(construct, self.text, token.line, token.column)

    def expect_op(self, op: str, what: str | None = None) -> Token:
        token = self.peek()
        if not token.is_op(op):
            raise self.error(f"expected {what or repr(op)} but found {token.describe()}")
        return self.advance()

    def expect_word(self, word: str, *, ci: bool = False) -> Token:
        token = self.peek()
        ok = token.is_word_ci(word.lower()) if ci else token.is_word(word)
        if not ok:
            raise self.error(f"expected '{word}' but found {token.describe()}")
        return self.advance()

    def expect_name(self, what: str) -> Token:
        token = self.peek()
        if token.kind != "ident":
            raise self.error(f"expected {what} but found {token.describe()}")
        return self.advance()

    def make(self, cls: type[BaseModel], token: Token, **fields: Any) -> Any:
        try:
            return cls(**fields)
        except ValidationError as exc:
            detail = exc.errors()[0].get("msg", "invalid value")
            raise self.error(f"invalid {cls.__name__}: {detail}", token) from None

    @contextmanager
    def nested(self, token: Token, levels: int = 1) -> Iterator[None]:
        self.depth += levels
        if self.depth > MAX_DEPTH:
            raise self.error(f"nesting deeper than {MAX_DEPTH} levels", token)
        try:
            yield
        finally:
            self.depth -= levels

    @contextmanager
    def event_scope(self, token: Token, var: str | None) -> Iterator[None]:
        if self.scope == "event":
            raise self.unsupported("an event condition inside an event filter", token)
        saved = (self.scope, self.event_var, self.implicit_item)
        self.scope, self.event_var, self.implicit_item = "event", var, False
        self.levels.append("event")
        try:
            yield
        finally:
            self.scope, self.event_var, self.implicit_item = saved
            self.levels.pop()

    @contextmanager
    def item_scope(self, token: Token, implicit: bool = True) -> Iterator[None]:
        """Inside a list function's argument: bare names are fields of the item."""
        saved = self.implicit_item
        self.implicit_item = implicit
        self.levels.append("item")
        try:
            with self.nested(token):
                yield
        finally:
            self.implicit_item = saved
            self.levels.pop()

    # --- conditions ---------------------------------------------------------------

    def parse_all(self) -> Any:
        self.lambda_header()
        start = self.peek()
        if start.kind == "eof":
            raise self.error("expected a condition but found end of text")
        node = self.parse_or()
        if self.peek().kind != "eof":
            token = self.peek()
            raise self.error(f"expected 'and', 'or' or end of text but found {token.describe()}")
        tree = self.as_condition(node, start)
        if tree_depth_path(tree) is not None:  # the limit trees given as JSON have too
            raise self.error(f"nesting deeper than {MAX_DEPTH} levels", start)
        return tree

    def lambda_header(self) -> None:
        t = [self.peek(k) for k in range(4)]
        if t[0].kind == "ident" and t[1].is_op("=>"):
            self.profile_var, self.i = t[0].text, 2
        elif t[0].is_op("(") and t[1].kind == "ident" and t[2].is_op(")") and t[3].is_op("=>"):
            self.profile_var, self.i = t[1].text, 4
        elif t[0].is_op("(") and t[1].kind == "ident" and t[2].is_op(","):
            j = 3
            while self.peek(j).kind == "ident" or self.peek(j).is_op(","):
                j += 1
            if self.peek(j).is_op(")") and self.peek(j + 1).is_op("=>"):
                raise self.unsupported("a query with several parameters")

    def as_condition(self, node: Any, token: Token) -> Any:
        if isinstance(node, Lit) and isinstance(node.value, bool):
            return BoolConst(value=node.value)
        if isinstance(node, CONDITIONS):
            return node
        if isinstance(node, ListCall) and node.name == "filter":  # orders[price > 50]
            return self.some_item(node.operand, node.test, token)
        if isinstance(node, (_Events, _Aggregate)):
            raise self.error("expected a comparison such as xEvent[...].count() >= 1", node.token)
        raise self.error("expected a condition but found a value (compare it, e.g. x = 1)", token)

    def as_operand(self, node: Any, token: Token) -> Any:
        if isinstance(node, OPERANDS):
            return node
        if isinstance(node, _Aggregate):  # a measure as a value: compared with a field ...
            return self.make(
                EventMeasure,
                node.token,
                **selection(node.filter),
                measure=node.measure,
                field=node.field,
            )
        if isinstance(node, _Events):
            raise self.error(
                "expected .count(), .sum(f), .average(f), .min(f) or .max(f) after xEvent",
                node.token,
            )
        if isinstance(node, _EventPath):
            raise self.unsupported(
                "xEvent.<field> inside arithmetic or on the right of a comparison "
                "(write exists E from xEvent where E.<field> ...)",
                node.token,
            )
        raise self.error("expected a value but found a condition", token)

    def parse_or(self) -> Any:
        start = self.peek()
        with self.nested(start):
            items = [self.parse_and()]
            tokens = [start]
            while self.peek().is_word_ci("or"):
                self.advance()
                tokens.append(self.peek())
                items.append(self.parse_and())
        if len(items) == 1:
            return items[0]
        return Or(items=[self.as_condition(n, t) for n, t in zip(items, tokens, strict=True)])

    def parse_and(self) -> Any:
        start = self.peek()
        items = [self.parse_not()]
        tokens = [start]
        while self.peek().is_word_ci("and"):
            self.advance()
            tokens.append(self.peek())
            items.append(self.parse_not())
        if len(items) == 1:
            return items[0]
        return And(items=[self.as_condition(n, t) for n, t in zip(items, tokens, strict=True)])

    def parse_not(self) -> Any:
        token = self.peek()
        if token.is_word_ci("not") or token.is_op("!"):
            self.advance()
            with self.nested(token):
                start = self.peek()
                item = self.parse_not()
            return Not(item=self.as_condition(item, start))
        return self.parse_comparison()

    def parse_comparison(self) -> Any:
        start = self.peek()
        left = self.parse_additive()
        if isinstance(left, _EventPath):
            saved, self.on_event_path = self.on_event_path, True
            try:
                cond = self.comparison_after(left.value, start)
            finally:
                self.on_event_path = saved
            return self.on_some_event(left, cond)
        return self.comparison_after(left, start)

    def on_some_event(self, path: _EventPath, cond: Any) -> EventCondition:
        """``xEvent.<field> <op> v``: a condition on the field of the profile's events
        holds when one of them meets it, as ``exists E from xEvent where E.<field> <op> v``
        (AEP's "xEvent.metrics.commerce.abandons.value > 0": profiles who abandoned a cart)."""
        if not isinstance(cond, CONDITIONS):
            raise self.error(
                "expected a comparison after an event field, e.g. xEvent.revenue > 0", path.token
            )
        both = combine([*items_of(path.filter), cond])
        return self.make(EventCondition, path.token, **selection(both))

    def comparison_after(self, left: Any, start: Token) -> Any:
        token = self.peek()
        if isinstance(left, _Events):
            raise self.error(
                "expected .count(), .sum(f), .average(f), .min(f) or .max(f) after xEvent",
                token,
            )
        if isinstance(left, _Aggregate) and not (
            token.kind == "op" and token.text in words.COMPARE_OPS
        ):
            raise self.error(
                f"expected a comparison after {left.measure}() (e.g. >= 1) "
                f"but found {token.describe()}"
            )
        if not isinstance(left, (*OPERANDS, _Aggregate)):
            return left
        if token.kind == "op" and token.text in words.COMPARE_OPS:
            self.advance()
            right_token = self.peek()
            right = self.parse_additive()
            return self.comparison(token, left, start, right, right_token)
        if token.is_op("=="):
            raise self.error("use '=' to compare", token)
        if token.is_word("in", "notIn"):
            self.advance()
            values = self.list_literal(at_least_one=True, dates=True)
            return self.make(
                InList, token, operand=left, values=values, negate=token.text == "notIn"
            )
        if token.is_word("like", "matches"):
            self.advance()
            value = self.pattern() if token.text == "matches" else self.string_literal()
            return TextMatch(op=token.text, operand=left, value=value)
        if token.is_word("occurs"):
            self.advance()
            window = self.parse_window()
            return Occurs(operand=left, window=window)
        if token.kind == "ident" and not token.is_word_ci("and", "or"):
            raise self.unknown_operator(token, start)
        return left

    def unknown_operator(self, token: Token, start: Token) -> PQLSyntaxError:
        word = token.text
        if word in words.KNOWN_METHODS:
            return self.error(f"'{word}' is a method: write value.{word}(...)", token)
        if word in words.INFIX_WORDS:  # reached as value.like(...)
            return self.error(f"'{word}' goes between its operands: write value {word} ...", token)
        hint = _suggest(word, (*words.INFIX_WORDS, *words.KNOWN_METHODS))
        return self.error(f"unknown operator '{word}'{hint}", token)

    def comparison(self, op: Token, left: Any, start: Token, right: Any, right_token: Token) -> Any:
        """``left op right``; an event measure against a plain number is an EventCondition."""
        if isinstance(left, _Aggregate) and isinstance(right, Lit) and not _is_number(right):
            raise self.error(f"expected a number but found {right_token.describe()}", right_token)
        if isinstance(right, _Aggregate) and _is_number(left):
            return self.event_condition(right, _FLIP[op.text], left.value)
        if isinstance(left, _Aggregate) and _is_number(right):
            return self.event_condition(left, op.text, right.value)
        return self.make(
            Compare,
            op,
            op=op.text,
            left=self.as_operand(left, start),
            right=self.as_operand(right, right_token),
        )

    def event_condition(self, agg: _Aggregate, op: str, value: int | float) -> EventCondition:
        return self.make(
            EventCondition,
            agg.token,
            **selection(agg.filter),
            measure=agg.measure,
            field=agg.field,
            op=op,
            value=value,
        )

    # --- arithmetic ------------------------------------------------------------------

    def parse_additive(self) -> Any:
        start = self.peek()
        left = self.parse_multiplicative()
        chain = 0
        while self.peek().is_op("+", "-"):
            op = self.advance()
            chain += 1
            if self.depth + chain > MAX_DEPTH:
                raise self.error(f"nesting deeper than {MAX_DEPTH} levels", op)
            right_token = self.peek()
            right = self.parse_multiplicative()
            left = Arith(
                op=op.text,
                left=self.as_operand(left, start),
                right=self.as_operand(right, right_token),
            )
        return left

    def parse_multiplicative(self) -> Any:
        start = self.peek()
        left = self.parse_unary()
        chain = 0
        while self.peek().is_op("*", "/", "%"):
            op = self.advance()
            chain += 1
            if self.depth + chain > MAX_DEPTH:
                raise self.error(f"nesting deeper than {MAX_DEPTH} levels", op)
            right_token = self.peek()
            right = self.parse_unary()
            left = Arith(
                op=op.text,
                left=self.as_operand(left, start),
                right=self.as_operand(right, right_token),
            )
        return left

    def parse_unary(self) -> Any:
        token = self.peek()
        if token.is_op("-"):
            if self.peek(1).kind not in ("int", "float"):
                raise self.error("a minus sign may only stand before a number", token)
            self.advance()
            number = self.advance()
            return self.parse_postfix(Lit(value=-number.value), token)  # type: ignore[operator]
        if token.is_op("!", "not") or token.is_word_ci("not"):
            raise self.error(
                f"{token.describe()} must stand before a condition, as in not (x = 1)", token
            )
        return self.parse_postfix(self.parse_primary(), token)

    def parse_postfix(self, node: Any, start: Token) -> Any:
        while True:
            token = self.peek()
            if token.is_op("["):
                node = self.filter_suffix(node, token)
            elif token.is_op("."):
                self.advance()
                name = self.peek()
                if isinstance(node, _Events) and not self.peek(1).is_op("("):
                    node = self.event_path(node)
                    continue
                call = name.kind == "ident" and self.peek(1).is_op("(")
                if (
                    name.kind in ("ident", "qident")
                    and isinstance(node, _MEMBER_BASES)
                    and not call
                ):
                    node = self.member(node)
                    continue
                if name.kind != "ident" or not self.peek(1).is_op("("):
                    raise self.error(
                        f"expected a method call such as .isNull() after '.' "
                        f"but found {name.describe()}",
                        name,
                    )
                self.advance()
                self.advance()  # "("
                if self.is_projection(node, name):  # a list of the events' values
                    node = self.method(self.projection(node), name, start)
                    self.expect_op(")")
                    continue
                if isinstance(node, _EventPath):  # a method of the events' field
                    value = self.method(node.value, name, start)
                    self.expect_op(")")
                    if isinstance(value, CONDITIONS):
                        return self.on_some_event(node, value)
                    node = _EventPath(value, node.filter, node.token)
                    continue
                node = self.method(node, name, start)
                self.expect_op(")")
            else:
                return node

    def event_path(self, events: _Events) -> _EventPath:
        """The field path after ``xEvent.`` (the '.' is read), named as in an event filter."""
        with self.event_scope(events.token, None):
            field = self.field_path()
        return _EventPath(field, events.filter, events.token)

    @staticmethod
    def is_projection(node: Any, method: Token) -> bool:
        """``xEvent[..].sku.distinct()``: a list method reads the field's values over the
        events (other methods, ``.startsWith(..)``, test each event's own value)."""
        return (
            isinstance(node, _EventPath)
            and isinstance(node.value, FieldRef)
            and method.text in words.PROJECTION_METHODS
        )

    def projection(self, path: _EventPath) -> EventValues:
        """``xEvent[..].sku`` before a list method: the field's values over the events."""
        return self.make(EventValues, path.token, **selection(path.filter), field=path.value.path)

    def filter_suffix(self, node: Any, token: Token) -> Any:
        if isinstance(node, _Events) and node.filter is None:
            self.advance()
            with self.event_scope(token, None):
                start = self.peek()
                cond = self.as_condition(self.parse_or(), start)
            self.expect_op("]")
            return _Events(cond, node.token)
        if isinstance(node, OPERANDS) and not isinstance(node, Lit):
            self.advance()
            test = self.item_test(token)
            self.expect_op("]")
            return ListCall(name="filter", operand=node, test=test)
        raise self.error("unexpected '['", token)

    def some_item(self, items: Any, test: Any, token: Token) -> ListAny:
        """``orders[price > 50]`` as a condition: exists I from orders where I.price > 50."""
        if "item" in self.levels:
            raise self.unsupported(
                "a test on some item of a list inside a function of a list's items "
                "(write l.filter(..).count() > 0)",
                token,
            )
        return ListAny(var=SOME_ITEM_VAR, operand=items, where=test)

    def item_test(self, token: Token) -> Any:
        """The condition on each item of ``orders[..]`` / ``orders.filter(..)``."""
        with self.item_scope(token):
            start = self.peek()
            return self.as_condition(self.parse_or(), start)

    def member(self, base: Any) -> Member:
        """``.price`` after ``head()`` or ``get(..)``: a field of the struct it gives (the
        '.' is read)."""
        segments = [self.advance().text]
        while self.peek().is_op(".") and self.peek(1).kind in ("ident", "qident"):
            if self.peek(1).kind == "ident" and self.peek(2).is_op("("):
                break
            self.advance()
            segments.append(self.advance().text)
        return Member(operand=base, path=".".join(segments))

    # --- methods ---------------------------------------------------------------------

    def method(self, base: Any, name: Token, start: Token) -> Any:
        word = name.text
        if word in words.UNSUPPORTED_METHODS:
            raise self.unsupported(words.UNSUPPORTED_METHODS[word], name)
        if isinstance(base, _Events):
            return self.measure(base, name)
        if word in words.LIST_FUNCS and isinstance(base, OPERANDS):
            after = self.peek()
            if after.is_op(")"):
                return Func(name=word, args=[base])
            raise self.error(f"expected ')': a list's {word}() takes no arguments", after)
        if not isinstance(base, OPERANDS):
            raise self.error(f"'.{word}()' cannot follow a condition", name)
        if word in words.ITEM_FUNCS:
            return self.list_call(base, name)
        if word == "exists":  # m.values().exists(stringProperty = "active"): some item meets it
            return self.some_item(base, self.item_test(name), name)
        if word in words.MAP_FUNCS:
            return self.map_func(base, name)
        if word in words.TEXT_METHODS:
            op, negate = words.TEXT_METHODS[word]
            value = self.string_literal()
            case_sensitive = True
            if self.peek().is_op(","):
                self.advance()
                case_sensitive = self.bool_literal()
            return TextMatch(
                op=op, operand=base, value=value, case_sensitive=case_sensitive, negate=negate
            )
        if word == "matches":
            return TextMatch(op="matches", operand=base, value=self.pattern())
        if word in words.LIST_METHODS:
            return self.list_match(base, name)
        if word == "intersection":
            argument = self.peek()
            other = self.as_operand(self.parse_additive(), argument)
            return Func(name=word, args=[base, other])
        if word in words.NULL_METHODS:
            return NullCheck(operand=base, is_null=words.NULL_METHODS[word])
        if word in words.GET_FUNCS or word in words.TEXT_FUNCS:
            return Func(name=word, args=[base])
        if word == "substr":
            return self.substr(base, name)
        if word == "regexGroup":
            pattern_token = self.peek()
            pattern = self.pattern()
            self.expect_op(",", "',' and the group number")
            group_token = self.peek()
            group = self.int_literal("a group number")
            groups = check_regex(pattern)
            if group > groups:
                raise self.error(
                    f"the pattern has {groups} group(s); group {group} does not exist",
                    group_token if groups else pattern_token,
                )
            return Func(name=word, args=[base, Lit(value=pattern), Lit(value=group)])
        raise self.unknown_operator(name, start)

    def list_call(self, base: Any, name: Token) -> ListCall:
        """``orders.filter(price > 50)``, ``.map(price)``, ``.groupBy(storeId)``,
        ``.topN(price, 5)``, ``.sum(price)`` (``.sum()`` of a list of numbers)."""
        word = name.text
        if word == "filter":
            return ListCall(name="filter", operand=base, test=self.item_test(name))
        by, n = None, None
        if not (word in words.MEASURES and self.peek().is_op(")")):
            with self.item_scope(name):
                start = self.peek()
                by = self.as_operand(self.parse_additive(), start)
        if word in ("topN", "bottomN"):
            self.expect_op(",", f"',' and the number of items {word}() keeps")
            count = self.peek()
            n = self.int_literal("the number of items")
            if not 1 <= n <= MAX_ITEMS:
                raise self.error(f"{word}() keeps from 1 to {MAX_ITEMS:,} items", count)
        return self.make(ListCall, name, name=word, operand=base, by=by, n=n)

    def map_func(self, base: Any, name: Token) -> Func:
        """``m.get("key")`` (the key: a text), ``m.keys()``, ``m.values()``, ``l.head()``."""
        if name.text != "get":
            return Func(name=name.text, args=[base])
        return Func(name="get", args=[base, Lit(value=self.string_literal())])

    def substr(self, base: Any, name: Token) -> Func:
        """``s.substr(begin[, end])``: 0-based, end exclusive (model.substr_bounds)."""
        bounds = [self.int_literal("the index where the text begins")]
        if self.peek().is_op(","):
            self.advance()
            end_token = self.peek()
            bounds.append(self.int_literal("the index where it ends"))
            if bounds[1] < bounds[0]:
                raise self.error("substr() ends before it begins", end_token)
        args = [base, *(Lit(value=bound) for bound in bounds)]
        if substr_bounds(args) is None:
            raise self.error("substr() takes 0 <= begin <= end, whole numbers", name)
        return Func(name="substr", args=args)

    def list_match(self, base: Any, name: Token) -> ListMatch:
        """``a.subsetOf([..])`` (values written out), ``a.includes(v)``, or with any
        expression as the argument: ``a.subsetOf(b)``, ``a.includes(b.lowerCase())``."""
        word, argument = name.text, self.peek()
        other = self.as_operand(self.parse_additive(), argument)
        if not isinstance(other, Lit):
            return self.make(ListMatch, name, op=word, operand=base, other=other)
        if word == "includes" and isinstance(other.value, list):
            raise self.error("includes() takes one value (intersects takes a list)", argument)
        if word != "includes" and not isinstance(other.value, list):
            raise self.error(f'{word}() takes a list such as ["a", "b"]', argument)
        if other.value == []:
            raise self.error("the list needs at least one value", argument)
        values = other.value if isinstance(other.value, list) else [other.value]
        return self.make(ListMatch, name, op=word, operand=base, values=values)

    def measure(self, base: _Events, name: Token) -> _Aggregate:
        word = name.text
        if word in (*words.ITEM_FUNCS, *words.MAP_FUNCS) and word not in words.MEASURES:
            raise self.unsupported(f"{word}() of xEvent (of a list field it is supported)", name)
        if word not in words.MEASURES:
            raise self.error(
                f"unknown event measure '{word}'{_suggest(word, words.MEASURES)}", name
            )
        field = None
        if word != "count":
            with self.event_scope(name, None):
                token = self.peek()
                ref = self.field_path()
                if ref.scope != "event":
                    raise self.error(f"{word}() needs a field of the event", token)
                field = ref.path
        return _Aggregate(word, field, base.filter, base.token)

    # --- primaries ---------------------------------------------------------------------

    def parse_primary(self) -> Any:
        token = self.peek()
        kind = token.kind
        if kind in ("int", "float", "string"):
            self.advance()
            return Lit(value=token.value)
        if token.is_op("("):
            self.advance()
            node = self.parse_or()
            self.expect_op(")", "')'")
            return node
        if token.is_op("["):
            return Lit(value=self.list_literal())
        if token.is_op("^"):
            return self.up_reference()
        if kind in ("qident", "param"):
            return self.field_path()
        if kind == "ident":
            return self.word_primary(token)
        raise self.error(f"expected a value but found {token.describe()}")

    def word_primary(self, token: Token) -> Any:
        word, nxt = token.text, self.peek(1)
        call = nxt.is_op("(")
        if token.is_word_ci("true", "false"):
            self.advance()
            return Lit(value=word.lower() == "true")
        if token.is_word_ci("and", "or", "not") or word in ("in", "notIn", "like", "occurs"):
            raise self.error(f"expected a value but found {token.describe()}")
        if word in words.ANCHORS:
            self.advance()
            return Anchor(name=word)
        if word == "xEvent":
            if self.scope == "event" or self.on_event_path:
                raise self.unsupported("an event condition inside an event filter")
            self.no_events_in_items(token)
            self.advance()
            return _Events(None, token)
        if word in self.lets and not call and not nxt.is_op("."):
            self.advance()
            return self.lets[word]
        if word in ("select", "exists", "forall") and nxt.kind == "ident":
            return self.comprehension()
        if word == "let" and nxt.kind == "ident":
            return self.let()
        if not call:
            return self.field_path()
        if word == "date":
            return self.date_literal()
        if word in words.CURRENT_FUNCS:
            self.advance()
            self.advance()
            self.expect_op(")", f"')' ({word}() takes no arguments)")
            return Func(name=word)
        if word == "inSegment":
            self.advance()
            self.advance()
            segment = self.string_literal()
            self.expect_op(")")
            return SegmentRef(segment=segment)
        if word in ("chain", "CHAIN"):
            return self.chain()
        if word == "if":
            return self.if_value()
        hint = _suggest(word, words.KNOWN_FUNCTIONS)
        raise self.error(f"unknown function '{word}'{hint}", token)

    def if_value(self) -> IfValue:
        """``if(test, a, b)``."""
        token = self.advance()
        self.advance()  # "("
        with self.nested(token):
            start = self.peek()
            test = self.as_condition(self.parse_or(), start)
            self.expect_op(",", "',' after the test of if(")
            then_token = self.peek()
            then = self.as_operand(self.parse_additive(), then_token)
            self.expect_op(",", "',' and the value when the test is false")
            else_token = self.peek()
            otherwise = self.as_operand(self.parse_additive(), else_token)
            self.expect_op(")", "')' to close if(")
        return self.make(IfValue, token, test=test, then=then, otherwise=otherwise)

    def up_reference(self) -> FieldRef:
        """``^.x``, ``^^.x``: a field of the level each ^ goes up to (an event, the profile)."""
        token, ups = self.peek(), 0
        while self.peek().is_op("^"):
            self.advance()
            ups += 1
        if len(self.levels) == 1:
            raise self.error("^ stands inside a filter, where it names the level around it", token)
        if ups >= len(self.levels):
            raise self.error(f"{'^' * ups} goes above the profile: no level is there", token)
        level = self.levels[-1 - ups]
        if level == "item":
            raise self.unsupported("^ to the item of an outer list", token)
        self.expect_op(".", f"'.' and a field after {'^' * ups}")
        saved = (self.scope, self.implicit_item, self.item_var)
        self.scope, self.implicit_item, self.item_var = level, False, None
        try:
            ref = self.field_path()
        finally:
            self.scope, self.implicit_item, self.item_var = saved
        return ref

    def field_path(self) -> FieldRef:
        """A dotted name; strips ``$1.``, the lambda variable and the event variable."""
        token = self.peek()
        scope = self.scope
        segments: list[str] = []
        prefixed = False
        if token.kind == "ident" and token.text == self.item_var:
            if self.implicit_item:  # T.price would read the inner list's item
                raise self.unsupported(
                    f"{token.text}, the item of an outer list, inside a function of a list's items",
                    token,
                )
            return self.item_ref()
        if (
            self.implicit_item
            and token.kind in ("ident", "qident")
            and not (token.text in (self.profile_var, self.event_var) and self.peek(1).is_op("."))
        ):
            return self.item_ref(named=False)
        if token.kind == "param":
            if token.value != 1:
                raise self.unsupported(f"parameter {token.text} (only $1, the profile)")
            self.advance()
            scope, prefixed = "profile", True
        elif (
            token.kind == "ident"
            and self.peek(1).is_op(".")
            and token.text
            in (
                self.profile_var,
                self.event_var,
            )
        ):
            self.advance()
            scope = "profile" if token.text == self.profile_var else "event"
            prefixed = True
        elif token.kind in ("ident", "qident"):
            segments.append(self.advance().text)
        else:
            raise self.error(f"expected a field name but found {token.describe()}")
        if prefixed:
            self.expect_op(".", f"'.' after {token.text}")
            name = self.peek()
            if name.kind not in ("ident", "qident"):
                raise self.error(f"expected a field name but found {name.describe()}")
            segments.append(self.advance().text)
        while (
            self.peek().is_op(".")
            and self.peek(1).kind in ("ident", "qident")
            and not (self.peek(1).kind == "ident" and self.peek(2).is_op("("))
        ):
            self.advance()
            segments.append(self.advance().text)
        return self.make(FieldRef, token, path=".".join(segments), scope=scope)

    def item_ref(self, named: bool = True) -> ItemRef:
        """``T`` or ``T.sku``: the item of the list an ``exists`` walks; ``sku`` inside
        ``orders.filter(..)`` (not named: the first name is the item's field)."""
        first = self.advance()
        segments: list[str] = [] if named else [first.text]
        while self.peek().is_op(".") and self.peek(1).kind in ("ident", "qident"):
            if self.peek(1).kind == "ident" and self.peek(2).is_op("("):
                break
            self.advance()
            segments.append(self.advance().text)
        return ItemRef(path=".".join(segments) or None)

    # --- literals ----------------------------------------------------------------------

    def string_literal(self) -> str:
        token = self.peek()
        if token.kind != "string":
            raise self.error(f"expected a string in double quotes but found {token.describe()}")
        self.advance()
        return token.text

    def pattern(self) -> str:
        """A ``matches`` pattern, checked against the regex dialect where it is written."""
        token = self.peek()
        value = self.string_literal()
        try:
            check_regex(value)
        except RegexDialectError as exc:
            at = token.offsets[exc.offset] if exc.offset < len(token.offsets) else token.offset
            raise self.positions.error(f"regular expression: {exc.reason}", at) from None
        return value

    def bool_literal(self) -> bool:
        token = self.peek()
        if not token.is_word_ci("true", "false"):
            raise self.error(f"expected true or false but found {token.describe()}")
        self.advance()
        return token.text.lower() == "true"

    def number_literal(self) -> int | float:
        token = self.peek()
        sign = 1
        if token.is_op("-"):
            self.advance()
            sign = -1
        number = self.peek()
        if number.kind not in ("int", "float"):
            raise self.error(f"expected a number but found {number.describe()}")
        self.advance()
        return sign * number.value  # type: ignore[operator]

    def scalar_literal(self) -> Any:
        token = self.peek()
        if token.kind == "string":
            return self.string_literal()
        if token.is_word_ci("true", "false"):
            return self.bool_literal()
        if token.kind in ("int", "float") or token.is_op("-"):
            return self.number_literal()
        raise self.error(
            f"expected a plain value (string, number, true or false) but found {token.describe()}"
        )

    def list_literal(self, at_least_one: bool = False, dates: bool = False) -> list[Any]:
        """``[v, ..]`` of plain values; with ``dates`` also ``date(..)`` (``x in [..]``)."""
        start = self.expect_op("[", "'[' to start a list")
        if at_least_one and self.peek().is_op("]"):
            raise self.error("the list needs at least one value", start)
        values: list[Any] = []
        while not self.peek().is_op("]"):
            if values:
                self.expect_op(",", "',' or ']'")
            is_date = self.peek().is_word("date") and self.peek(1).is_op("(")
            values.append(self.date_literal() if dates and is_date else self.scalar_literal())
        self.expect_op("]", "',' or ']'")
        return values

    def int_literal(self, what: str) -> int:
        token = self.peek()
        if token.kind != "int":
            raise self.error(f"expected {what} (a whole number) but found {token.describe()}")
        self.advance()
        return token.value  # type: ignore[return-value]

    def date_literal(self) -> DateLit | DateTimeLit:
        token = self.advance()
        self.advance()  # "("
        parts = [self.int_literal("a date part")]
        while self.peek().is_op(","):
            self.advance()
            parts.append(self.int_literal("a date part"))
        self.expect_op(")", "')'")
        if len(parts) not in (3, 6):
            raise self.error(
                "date() takes 3 numbers (year, month, day) or 6 (with hour, minute, second)",
                token,
            )
        try:
            if len(parts) == 3:
                return DateLit(value=dt.date(*parts))
            return DateTimeLit(value=dt.datetime(*parts))
        except (ValueError, OverflowError) as exc:
            raise self.error(f"invalid date: {exc}", token) from None

    # --- time windows ----------------------------------------------------------------------

    def parse_window(self, labels: tuple[str, ...] = ()) -> Any:
        token = self.peek()
        if token.kind == "op" and token.text in words.COMPARE_OPS:
            self.advance()
            amount_token = self.peek()
            amount = self.int_literal("an amount")
            unit = self.unit()
            problem = amount_problem(amount, unit)
            if problem:
                raise self.error(problem, amount_token)
            direction = self.peek()
            if not direction.is_word("before", "after", "from"):
                raise self.error(
                    f"expected 'before', 'after' or 'from' but found {direction.describe()}"
                )
            self.advance()
            anchor = self.time_point(labels)
            if isinstance(anchor, _StepRef):
                return (token.text, amount, unit, direction.text, anchor)
            return self.make(
                RelativeWindow,
                token,
                cmp=token.text,
                amount=amount,
                unit=unit,
                direction=direction.text,
                anchor=anchor,
            )
        if token.is_word("from"):
            raise self.unsupported("occurs from <time> without an amount")
        if token.is_word("between"):
            self.advance()
            start = self.time_point(labels)
            self.expect_word("and", ci=True)
            end = self.time_point(labels)
            self.no_step_ref(start, end)
            return BetweenWindow(start=start, end=end)
        direction = "on"
        if token.is_word("before", "after", "on"):
            self.advance()
            direction = token.text
        anchor = self.time_point(labels)
        self.no_step_ref(anchor)
        return PointWindow(direction=direction, anchor=anchor)

    def no_step_ref(self, *points: Any) -> None:
        if any(isinstance(point, _StepRef) for point in points):
            raise self.unsupported("WHEN relative to a step other than '<= N units after <step>'")

    def unit(self) -> str:
        token = self.peek()
        if token.kind != "ident" or token.text not in words.UNITS:
            hint = _suggest(token.text, words.UNITS) if token.kind == "ident" else ""
            raise self.error(
                f"expected a time unit such as days but found {token.describe()}{hint}"
            )
        self.advance()
        return words.UNITS[token.text]

    def time_point(self, labels: tuple[str, ...] = ()) -> Any:
        token = self.peek()
        if token.is_word(*words.ANCHORS):
            self.advance()
            return Anchor(name=token.text)
        if token.is_word(*words.PERIOD_WORDS) and self.peek(1).kind == "ident":
            self.advance()
            return Period(which=token.text, unit=self.unit())
        if token.is_word("date") and self.peek(1).is_op("("):
            return self.date_literal()
        if token.kind == "ident" and token.text in labels and not self.peek(1).is_op("."):
            self.advance()
            return _StepRef(token.text, token)
        if token.kind in ("ident", "qident", "param"):
            return self.field_path()
        raise self.error(
            "expected a time (now, today, this month, date(2024, 1, 31) or a date field) "
            f"but found {token.describe()}"
        )

    # --- event forms -------------------------------------------------------------------------

    def comprehension(self) -> Any:
        """``exists/forall/select X from xEvent where ..`` (an event condition), with a
        second generator over a list field of the event (``, T from X.tags where ..``),
        or ``exists T from <list> where ..`` over a list (a ListAny).

        Several generators range over every (event, item) pair and their conditions
        hold together: ``exists`` asks for one pair meeting both, ``forall`` for every
        pair (an event with no items has none)."""
        keyword = self.advance()
        var = self.expect_name("a variable name").text
        self.expect_word("from")
        if not self.peek().is_word("xEvent"):
            return self.list_comprehension(keyword, var)
        self.event_source(keyword.text)
        cond = None
        with self.event_scope(keyword, var):
            if self.peek().is_word("where") or self.peek().is_op(":"):
                self.advance()
                start = self.peek()
                cond = self.as_condition(self.parse_or(), start)
            if self.peek().is_op(","):
                return self.two_generators(keyword, var, cond)
        if keyword.text == "forall":
            if cond is None:
                raise self.error("forall needs a condition: forall X from xEvent where ...")
            return EventCondition(where=Not(item=cond), op="=", value=0)
        return EventCondition(**selection(cond))

    def two_generators(self, keyword: Token, var: str, cond: Any) -> EventCondition:
        """``.., T from E.tags where C2``: one event condition holding a ListAny."""
        comma = self.advance()
        if self.peek(1).is_word("from") and self.peek(2).is_word("xEvent"):
            raise self.unsupported(f"several generators in {keyword.text} over xEvent", comma)
        item = self.expect_name("a variable name").text
        self.expect_word("from")
        source = self.peek()
        if not (source.is_word(var) and self.peek(1).is_op(".")):
            raise self.unsupported(
                f"a second generator in {keyword.text} over something other than {var}.<list>",
                source,
            )
        items = self.field_path()
        where = self.item_condition(keyword, item)
        if self.peek().is_op(","):
            raise self.unsupported(f"more than two generators in {keyword.text}")
        both = where if cond is None else And(items=[*items_of(cond), where])
        if keyword.text == "forall":  # no pair fails both conditions
            failing = self.make(ListAny, source, var=item, operand=items, where=Not(item=both))
            return EventCondition(where=failing, op="=", value=0)
        found = self.make(ListAny, source, var=item, operand=items, where=where)
        return EventCondition(**selection(combine([*items_of(cond), found])))

    def list_comprehension(self, keyword: Token, var: str) -> Any:
        """``exists T from tags where T = "x"``; ``forall`` is ``not (exists .. not ..)``."""
        source = self.peek()
        if source.kind not in ("ident", "qident", "param"):
            raise self.unsupported(f"{keyword.text} over an array other than xEvent", source)
        items = self.as_operand(self.parse_postfix(self.field_path(), source), source)
        where = self.item_condition(keyword, var)
        if self.peek().is_op(","):
            raise self.unsupported(f"several generators in {keyword.text} over a list")
        if keyword.text == "forall":
            return Not(
                item=self.make(ListAny, source, var=var, operand=items, where=Not(item=where))
            )
        return self.make(ListAny, source, var=var, operand=items, where=where)

    def item_condition(self, keyword: Token, var: str) -> Any:
        if not (self.peek().is_word("where") or self.peek().is_op(":")):
            raise self.error(f"expected 'where' and a condition on {var}")
        self.advance()
        if self.item_var is not None:
            raise self.unsupported(f"{keyword.text} inside an exists over a list", keyword)
        self.item_var = var
        try:
            with self.item_scope(keyword, implicit=False):
                start = self.peek()
                return self.as_condition(self.parse_or(), start)
        finally:
            self.item_var = None

    def event_source(self, keyword: str) -> None:
        source = self.peek()
        if not source.is_word("xEvent"):
            raise self.unsupported(f"{keyword} over an array other than xEvent")
        self.no_events_in_items(source)
        if self.scope == "event":
            raise self.unsupported("an event condition inside an event filter")
        self.advance()
        if self.peek().is_op(","):
            raise self.unsupported(f"several generators in {keyword}")

    def no_events_in_items(self, token: Token) -> None:
        if "item" in self.levels:
            raise self.unsupported("xEvent inside a function of a list's items", token)

    def let(self) -> Any:
        self.no_events_in_items(self.peek())
        keyword = self.advance()
        name = self.expect_name("a variable name").text
        self.expect_op("=")
        paren = self.peek().is_op("(")
        if paren:
            self.advance()
        measure_token = self.peek()
        if not measure_token.is_word(*words.MEASURES):
            raise self.unsupported("let with a value other than sum/average/min/max/count ... over")
        self.advance()
        path_start = self.i
        if not self.peek().is_word("over"):
            self.field_path()  # re-read below, once the variable is known
        path_end = self.i
        self.expect_word("over")
        var = self.expect_name("a variable name").text
        self.expect_word("from")
        self.event_source("let")
        field = None
        with self.event_scope(keyword, var):
            if measure_token.text != "count":
                if path_start == path_end:
                    raise self.error(f"{measure_token.text} needs a field", measure_token)
                resume, self.i = self.i, path_start
                ref = self.field_path()
                self.i = resume
                if ref.scope != "event":
                    raise self.error(
                        f"{measure_token.text} needs a field of the event", measure_token
                    )
                field = ref.path
            cond = None
            if self.peek().is_word("where") or self.peek().is_op(":"):
                self.advance()
                start = self.peek()
                cond = self.as_condition(self.parse_or(), start)
        if paren:
            self.expect_op(")")
        self.expect_word("in")
        # the body is any condition; each comparison of the variable is one event measure
        saved = self.lets
        self.lets = {**saved, name: _Aggregate(measure_token.text, field, cond, measure_token)}
        try:
            start = self.peek()
            with self.nested(start):
                return self.as_condition(self.parse_not(), start)
        finally:
            self.lets = saved

    def chain(self) -> Sequence:
        token = self.advance()
        self.advance()  # "("
        source = self.peek()
        if not source.is_word("xEvent"):
            raise self.unsupported("chain over an array other than xEvent")
        if self.scope == "event":
            raise self.unsupported("an event condition inside an event filter")
        self.advance()
        self.expect_op(",")
        order = self.peek()
        if not order.is_word("timestamp"):
            raise self.unsupported("chain ordered by a field other than timestamp")
        self.advance()
        self.expect_op(",")
        self.expect_op("[", "'[' before the chain steps")
        steps: list[SequenceStep] = []
        while True:
            steps.append(self.chain_step(steps))
            if not self.peek().is_op(","):
                break
            self.advance()
        self.expect_op("]", "',' or ']' after a chain step")
        self.expect_op(")", "')' to close chain(")
        return self.make(Sequence, token, steps=steps)

    def chain_step(self, previous: list[SequenceStep]) -> SequenceStep:
        label = self.expect_name("a step label such as A")
        if any(step.label == label.text for step in previous):
            raise self.error(f"step label '{label.text}' is used twice", label)
        self.expect_op(":", f"':' after the step label {label.text}")
        seen: set[str] = set()
        what: Any = None
        extra: list[Any] = []
        window = within = None
        count = 1
        with self.event_scope(label, None):
            while True:
                token = self.peek()
                clause = token.text.upper() if token.kind == "ident" else ""
                if clause not in ("WHAT", "WHEN", "COUNT", "WHERE") or not self.peek(1).is_op("("):
                    break
                self.advance()
                self.advance()
                if clause == "WHEN":
                    when = self.parse_window(tuple(step.label for step in previous))
                    if isinstance(when, tuple):
                        within = self.within_previous(when, previous)
                        clause = "WHEN (after the previous step)"
                    else:
                        window = when
                elif clause == "COUNT":
                    count = self.int_literal("a count")
                    if count < 1:
                        raise self.error("COUNT must be at least 1", token)
                else:
                    start = self.peek()
                    cond = self.as_condition(self.parse_or(), start)
                    if clause == "WHAT":
                        what = cond
                    else:
                        extra = items_of(cond)
                if clause in seen:
                    raise self.error(f"{clause} is given twice in step {label.text}", token)
                seen.add(clause)
                self.expect_op(")", "')'")
        event_types, _, rest = split_filter(what, take_window=False)
        return self.make(
            SequenceStep,
            label,
            label=label.text,
            event_types=event_types,
            where=combine(rest + extra),
            window=window,
            count=count,
            within_previous=within,
        )

    def within_previous(self, when: tuple[Any, ...], previous: list[SequenceStep]) -> Duration:
        cmp, amount, unit, direction, ref = when
        if cmp != "<=" or direction != "after" or ref.label != previous[-1].label:
            raise self.unsupported(
                "WHEN relative to a step other than '<= N units after <previous step>'"
            )
        return Duration(amount=amount, unit=unit)

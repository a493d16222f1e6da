"""Tree -> SQL boolean over ``profiles p`` joined with the one events pass ``ev``.

Logic is two-valued: a condition on a missing value may render SQL NULL, which
a WHERE treats as false and AND/OR combine exactly as false would; only NOT
needs care, so it is compiled as ``NOT coalesce(x, FALSE)``.

Event conditions do not become subqueries: each registers one aggregate
(``count(*) FILTER (WHERE ...)``, ``sum(x) FILTER (...)``) with the shared
``EventPass`` and the boolean reads ``ev.aN``. Sequences register CTEs there too.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from segmentation.compiler.events import EventPass, Hint
from segmentation.compiler.lists import MAP_FUNCS, ListFunctions, item_name
from segmentation.compiler.operands import (
    ITEM,
    TEMPORAL,
    Context,
    OperandCompiler,
    Val,
    present_items,
)
from segmentation.compiler.schema import EVENT_TYPE_COLUMN, TIMESTAMP_COLUMN, element_type, kind_of
from segmentation.compiler.sqlparts import sql_and, sql_or
from segmentation.compiler.timewindows import SQL_INTERVAL_FN, literal_span, window_floor
from segmentation.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    SegmentationError,
    UnsupportedError,
)
from segmentation.model import (
    And,
    BoolConst,
    Compare,
    DateLit,
    DateTimeLit,
    EventCondition,
    EventMeasure,
    EventValues,
    FieldRef,
    Func,
    IfValue,
    InList,
    ListAny,
    ListCall,
    ListMatch,
    Member,
    Not,
    NullCheck,
    Occurs,
    Or,
    SegmentRef,
    Sequence,
    TextMatch,
)
from segmentation.pattern_check import RegexDialectError, check_regex

MAX_SEGMENT_DEPTH = 50
_PY_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass
class Compiler(ListFunctions, OperandCompiler):
    """Conditions; operands and time come from OperandCompiler."""

    events: EventPass | None = None
    resolve_segment: Callable[[str], Any] | None = None
    segment_stack: list[str] = field(default_factory=list)
    uses_profile_fields: bool = False
    _reads_profile: bool = False  # the event filter being compiled reads a profile field

    # --- conditions ----------------------------------------------------------------

    def condition(self, node: Any, ctx: Context | None = None) -> str:
        ctx = ctx or Context()
        if isinstance(node, (Compare, InList, TextMatch, Occurs)):
            node = self.some_item(node, ctx)
        method = getattr(self, "_c_" + type(node).__name__, None)
        if method is None:
            raise UnsupportedError(f"condition of kind {getattr(node, 'kind', node)!r}")
        return method(node, ctx)

    def _c_And(self, node: And, ctx: Context) -> str:
        return sql_and([self.condition(item, ctx) for item in _flatten(node, And)])

    def _c_Or(self, node: Or, ctx: Context) -> str:
        return sql_or([self.condition(item, ctx) for item in _flatten(node, Or)])

    def _c_Not(self, node: Not, ctx: Context) -> str:
        depth = 0
        while isinstance(node, Not):  # a chain of NOTs folds to its parity
            node, depth = node.item, depth + 1
        inner = self.condition(node, ctx)
        if inner in ("TRUE", "FALSE"):
            return inner if depth % 2 == 0 else {"TRUE": "FALSE", "FALSE": "TRUE"}[inner]
        folded = f"coalesce({inner}, FALSE)"
        return folded if depth % 2 == 0 else f"(NOT {folded})"

    def _c_BoolConst(self, node: BoolConst, ctx: Context) -> str:
        return "TRUE" if node.value else "FALSE"

    def _c_Compare(self, node: Compare, ctx: Context) -> str:
        left, right = self.operand(node.left, ctx), self.operand(node.right, ctx)
        op = node.op
        if left.is_literal and not right.is_literal:
            left, right, op = right, left, _FLIP[op]
        if left.is_literal and left.span is not None:  # two time values: bind the first
            left = replace(left, sql=self._time_sql(left.span.start, left.kind))
        if left.kind in TEMPORAL and right.is_literal and right.kind in (*TEMPORAL, "text"):
            return self._temporal_compare(left, op, self._as_span(right, left))
        if left.kind in TEMPORAL and right.kind in TEMPORAL:
            a, b = self._align_temporal(left, right)
            return f"({a} {op} {b})"
        if "list" in (left.kind, right.kind):
            return self._list_compare(left, op, right)
        self._check_comparable(left, right, op)
        return f"({self.bind(left, right.kind)} {op} {self.bind(right, left.kind)})"

    def _list_compare(self, left: Val, op: str, right: Val) -> str:
        """Lists are equal when they hold the same items (as sets: order and repeats
        aside), so ``a.intersection(b) = ["red", "blue"]`` does not depend on an order."""
        if op not in ("=", "!="):
            raise InvalidInputError(f"Lists compare only with = and != (as sets), not {op}.")
        for side in (left, right):
            if side.kind != "list":
                raise InvalidInputError(
                    f"Type mismatch: {left.label} and {right.label} are not both lists."
                )
        field, other = (right, left) if left.is_literal else (left, right)
        if field.is_literal:
            raise InvalidInputError("Compare a list field with a list, not two written lists.")
        a, b = field.sql, self.bind_list(other, field)
        same = f"(list_has_all({a}, {b}) AND list_has_all({b}, {a}))"
        return same if op == "=" else f"(NOT {same})"

    def _c_InList(self, node: InList, ctx: Context) -> str:
        target = self.operand(node.operand, ctx)
        if target.kind in ("list", "struct", "map", "other"):
            raise InvalidInputError(
                f"'in' needs a single value but {target.label} is a {target.kind}"
                + (": use intersects/includes for lists." if target.kind == "list" else ".")
            )
        x = self.bind(target)
        days = [v for v in node.values if isinstance(v, (DateLit, DateTimeLit))]
        scalars = [self._bind_scalar(v, target, "in") for v in node.values if v not in days]
        tests = [f"({x} IN ({', '.join(scalars)}))"] if scalars else []
        if days and target.kind not in TEMPORAL:
            raise InvalidInputError(
                f"in: {target.label} is a {target.kind} field and cannot be compared with "
                f"the date {days[0].value}."
            )
        # a date matches its whole day (a date-time its instant), as `x = date(..)` does
        tests += [self._temporal_compare(target, "=", self.span(day, ctx)) for day in days]
        found = sql_or(tests)
        if node.negate:  # notIn requires a value: false on null
            return f"({x} IS NOT NULL AND NOT coalesce({found}, FALSE))"
        return found

    def _c_TextMatch(self, node: TextMatch, ctx: Context) -> str:
        target = self.operand(node.operand, ctx)
        if target.kind != "text":
            raise InvalidInputError(
                f"{node.op} needs a text field but {target.label} is a {target.kind}."
            )
        if node.op == "matches":  # trees stored before the dialect check, built in Python
            try:
                check_regex(node.value)
            except RegexDialectError as exc:
                raise InvalidInputError(f"Bad regular expression {node.value!r}: {exc}.") from exc
        value = node.value
        if node.op == "matches" and not node.case_sensitive:  # a flag every engine reads
            value = "(?i)" + value
        x, v = self.bind(target), self.params.bind(value, "VARCHAR")
        if not node.case_sensitive and node.op not in ("like", "matches"):
            x, v = f"lower({x})", f"lower({v})"
        sql = {
            "contains": f"contains({x}, {v})",
            "startsWith": f"starts_with({x}, {v})",
            "endsWith": f"ends_with({x}, {v})",
            "equals": f"({x} = {v})",
            "like": f"({x} {'LIKE' if node.case_sensitive else 'ILIKE'} {v})",
            "matches": f"regexp_matches({x}, {v})",
        }[node.op]
        return f"(NOT {sql})" if node.negate else sql

    def _c_NullCheck(self, node: NullCheck, ctx: Context) -> str:
        x = self.bind(self.operand(node.operand, ctx))
        return f"({x} IS {'' if node.is_null else 'NOT '}NULL)"

    def _c_ListMatch(self, node: ListMatch, ctx: Context) -> str:
        target = self.operand(node.operand, ctx)
        if target.kind != "list" or target.is_literal:
            raise InvalidInputError(
                f"{node.op} needs a list field but {target.label} is a {target.kind}."
            )
        elem = element_type(target.value)
        item = Val(kind=kind_of(elem), label=f"items of {target.label}")
        x = target.sql
        if node.other is not None:
            other = self.operand(node.other, ctx)
            if node.op == "includes":  # one value: a field, an expression
                if other.kind != item.kind and "other" not in (other.kind, item.kind):
                    raise InvalidInputError(
                        f"includes: the items of {target.label} are {item.kind} values and "
                        f"cannot be compared with {other.label} ({other.kind})."
                    )
                return f"list_contains({x}, {self.bind(other)})"
            if other.kind != "list":
                raise InvalidInputError(
                    f"{node.op} needs a list to compare with but {other.label} is a {other.kind}."
                )
            vs = self.bind_list(other, target)
        else:
            values = [self._coerce_scalar(v, item, node.op) for v in node.values]
            vs = self.params.bind(values, f"{elem}[]")
        return {
            "intersects": f"list_has_any({x}, {vs})",
            "includes": f"list_has_all({x}, {vs})",
            "subsetOf": f"list_has_all({vs}, {x})",
            "supersetOf": f"list_has_all({x}, {vs})",
        }[node.op]

    def _c_ListAny(self, node: ListAny, ctx: Context) -> str:
        """Some item meets the condition: the items it keeps (a lambda over ``_li``) are
        not none. The condition may read the event or profile around it too."""
        target = self.operand(node.operand, ctx)
        if target.kind != "list" or target.is_literal:
            raise InvalidInputError(
                f"exists {node.var} from ... needs a list field but {target.label} is a "
                f"{target.kind}."
            )
        if ctx.item is not None:
            raise UnsupportedError("an exists over a list inside another one")
        elem = element_type(target.value)
        item = Val(kind=kind_of(elem), label=f"items of {target.label}", sql=ITEM, value=elem)
        inner = Context(
            scope=ctx.scope, alias=ctx.alias, item=item, item_name=item_name(node.operand)
        )
        test = self.condition(node.where, inner)
        kept = f"list_filter({target.sql}, lambda {ITEM}: coalesce({test}, FALSE))"
        return f"(array_length({kept}) > 0)"

    def _c_Occurs(self, node: Occurs, ctx: Context) -> str:
        target = self.operand(node.operand, ctx)
        if target.kind not in TEMPORAL or target.is_literal:  # e.g. "now occurs before now"
            kind = "fixed value" if target.is_literal else target.kind
            raise InvalidInputError(
                f"occurs needs a date or timestamp field but {target.label} is a {kind}."
            )
        return self.window(node.window, target, ctx)

    def _c_EventCondition(self, node: EventCondition, ctx: Context) -> str:
        if ctx.scope == "event":
            raise UnsupportedError("an event condition inside an event filter")
        if not self.schema.has_events:  # no events at all: count 0, sum 0, the rest missing
            if node.measure in ("count", "sum"):
                return "TRUE" if _PY_CMP[node.op](0, node.value) else "FALSE"
            return "FALSE"
        measured = self.operand(EventMeasure(**node.selection()), ctx)
        return f"({measured.sql} {node.op} {self.params.bind(node.value)})"

    def operand(self, node: Any, ctx: Context) -> Val:
        if isinstance(node, EventMeasure):
            return self._measure(node, ctx)
        if isinstance(node, EventValues):
            return self._values(node, ctx)
        if isinstance(node, IfValue):
            return self._if(node, ctx)
        if isinstance(node, ListCall):
            return self._list_call(node, ctx)
        if isinstance(node, Member):
            return self._member(node, ctx)
        if isinstance(node, Func) and node.name in MAP_FUNCS:
            return self._map_func(node, ctx)
        return super().operand(node, ctx)

    def _if(self, node: IfValue, ctx: Context) -> Val:
        """``CASE WHEN test THEN a ELSE b END``; a missing test is false, as everywhere."""
        test = self.condition(node.test, ctx)
        then, otherwise = self.operand(node.then, ctx), self.operand(node.otherwise, ctx)
        if then.kind != otherwise.kind:  # both branches give one kind of value
            self._check_comparable(then, otherwise, "if")
        kind = otherwise.kind if then.is_literal else then.kind
        a, b = self.bind(then, otherwise.kind), self.bind(otherwise, then.kind)
        sql = f"(CASE WHEN coalesce({test}, FALSE) THEN {a} ELSE {b} END)"
        return Val(kind=kind, label="if(...)", sql=sql)

    def _field(self, node: FieldRef, ctx: Context) -> Val:
        if node.scope == "profile" and ctx.scope == "event":
            return self._profile_in_events(node)
        return super()._field(node, ctx)

    def _profile_in_events(self, node: FieldRef) -> Val:
        """A profile attribute inside an event filter (``$1.ltv``): the events pass joins
        it onto each event as a column of its own; the filter reading it is noted, so
        that only the pass computing it joins the profiles."""
        resolved = self.schema.resolve(node.path, "profile")
        self._reads_profile = True
        return Val(
            kind=resolved.kind,
            label=resolved.describe(),
            sql=self.events.profile_column(resolved.sql(None)),
            value=resolved.duck_type,
        )

    def _measure(self, node: EventMeasure, ctx: Context) -> Val:
        """An aggregate of the events pass: count and sum of no events are 0, the rest NULL."""
        if ctx.scope == "event":
            raise UnsupportedError("an event measure inside an event filter")
        if node.measure != "count" and not node.field:
            raise InvalidInputError(f"{node.measure} of events needs a field to aggregate.")
        label = f"{node.measure}() of events"
        if not self.schema.has_events:
            sql = "0" if node.measure in ("count", "sum") else "CAST(NULL AS DOUBLE)"
            return Val(kind="number", label=label, sql=sql)
        selector, _ = self.event_filter(node.event_types, node.where, node.window)
        measured = None
        if node.measure != "count":
            measured = self.schema.resolve(node.field, "event")
            if measured.kind != "number":
                raise InvalidInputError(
                    f"{node.measure} needs a number field but {measured.describe()} is not."
                )
        column = self.events.aggregate(
            node.measure, measured.sql(None) if measured else None, selector
        )
        sql = f"coalesce(ev.{column}, 0)" if node.measure in ("count", "sum") else f"ev.{column}"
        return Val(kind="number", label=label, sql=sql)

    def _values(self, node: EventValues, ctx: Context) -> Val:
        """An event field over the selected events, as a list read from the events pass:
        no events give an empty list; missing values are left out (DuckDB's list() keeps
        NULLs, Spark's collect_list drops them: dropped here on both). A list field gives
        its items."""
        if ctx.scope == "event" or ctx.item is not None:
            raise UnsupportedError("an event projection inside an event filter or an exists")
        measured = self.schema.resolve(node.field, "event")  # no events table: said here
        selector, _ = self.event_filter(node.event_types, node.where, node.window)
        column = self.events.aggregate("list", measured.sql(None), selector)
        values, duck_type = f"coalesce(ev.{column}, [])", f"{measured.duck_type}[]"
        if measured.kind == "list":
            values, duck_type = f"flatten({values})", measured.duck_type
        label = f"{node.field} of the events"
        return Val(kind="list", label=label, sql=present_items(values), value=duck_type)

    def _c_Sequence(self, node: Sequence, ctx: Context) -> str:
        if ctx.scope == "event":
            raise UnsupportedError("a sequence inside an event filter")
        if not self.schema.has_events:
            return "FALSE"
        steps = []
        floor = None  # a step's events come after every earlier step's: after its floor too
        for step in node.steps:
            selector, own = self.event_filter(step.event_types, step.where, step.window, floor)
            if own is not None and (floor is None or own > floor):
                floor = own
            within = None
            if step.within_previous is not None:
                fn, mult = SQL_INTERVAL_FN[step.within_previous.unit]
                amount = self.params.bind(step.within_previous.amount * mult, "INTEGER")
                within = f"{fn}({amount})"
            steps.append((selector, step.count, within))
        return self.events.hit(self.events.sequence(steps, self.params))

    def _c_SegmentRef(self, node: SegmentRef, ctx: Context) -> str:
        if self.resolve_segment is None:
            raise InvalidInputError(
                f"inSegment({node.segment!r}) needs saved segments, and none are available here."
            )
        chain = " -> ".join([*self.segment_stack, node.segment])
        if node.segment in self.segment_stack:
            raise ConflictError(f"Segments refer to each other in a cycle: {chain}.")
        if len(self.segment_stack) >= MAX_SEGMENT_DEPTH:
            raise ConflictError(
                f"Segments refer to segments {MAX_SEGMENT_DEPTH} deep or more ({chain}); "
                f"at most {MAX_SEGMENT_DEPTH} are evaluated in one chain."
            )
        try:
            expr = self.resolve_segment(node.segment)
        except KeyError:
            expr = None
        if expr is None:
            raise NotFoundError(f"inSegment({node.segment!r}): no such segment.")
        self.segment_stack.append(node.segment)
        try:
            return self.condition(expr, ctx)
        finally:
            self.segment_stack.pop()

    # --- events ----------------------------------------------------------------------

    def event_filter(
        self,
        event_types: list[str],
        where: Any,
        window: Any,
        after: dt.datetime | None = None,
    ) -> tuple[str, dt.datetime | None]:
        """The SQL that picks one condition's events (read inside the events pass), and
        the earliest time it admits (None: unbounded).

        ``after``: a floor known from elsewhere (a chain's earlier steps), added to the
        SQL when it is later than the window's own, so the scan can skip older events.
        """
        ectx = Context(scope="event", alias=None)
        parts, kind_sql, types = [], None, None
        self._reads_profile = False
        if event_types:
            kind_sql = self.schema.resolve(EVENT_TYPE_COLUMN, "event").sql(None)
            types = tuple(self.params.bind(t, "VARCHAR") for t in event_types)
            parts.append(f"({kind_sql} IN ({', '.join(types)}))")
        if where is not None:
            parts.append(self.condition(where, ectx))
        floor, floor_sql = None, None
        if window is not None or after is not None:
            ts = self.operand(FieldRef(path=TIMESTAMP_COLUMN, scope="event"), ectx)
            if window is not None:
                parts.append(self.window(window, ts, ectx))
                floor = window_floor(
                    window, lambda point: literal_span(self.clock, point), self._shift
                )
            if after is not None and (floor is None or after > floor):
                floor = after
                parts.append(f"({ts.sql} >= {self._time_sql(after, ts.kind)})")
            if floor is not None:
                floor_sql = f"({ts.sql} >= {self._time_sql(floor, ts.kind)})"
        selector = sql_and(parts)
        self.events.hints.setdefault(selector, Hint(kind_sql, types, floor, floor_sql))
        if self._reads_profile:
            self.events.profile_selectors.add(selector)
        return selector, floor

    # --- which profiles can qualify ---------------------------------------------------

    def drivers(self, node: Any) -> frozenset[str] | None:
        """Where every profile meeting ``node`` is found: ``{"ev"}`` (it has a row in
        the events pass), ``{"seq"}`` (it completes a chain), both (either), or None
        (it may qualify with no events at all, e.g. ``count() = 0`` or an attribute).

        A profile in none of the returned sources has every event condition at its
        no-event value and no chain; the condition is then false for it.
        """
        try:
            return self._drivers(node, [])
        except (SegmentationError, RecursionError, KeyError, TypeError):
            return None  # compiling reports the problem; here it just means "unknown"

    def _drivers(self, node: Any, stack: list[str]) -> frozenset[str] | None:
        if isinstance(node, EventCondition):
            return _EV if self._at_empty(node, stack) is False else None
        if isinstance(node, Sequence):
            return _SEQ
        if isinstance(node, And):
            found = [d for d in (self._drivers(i, stack) for i in _flatten(node, And)) if d]
            return min(found, key=lambda d: (len(d), "seq" in d)) if found else None
        if isinstance(node, Or):
            found = [self._drivers(i, stack) for i in _flatten(node, Or)]
            return None if any(d is None for d in found) else frozenset().union(*found)
        if isinstance(node, Not):
            if self._at_empty(node.item, stack) is True:
                sources = self._sources(node.item, stack)
                return sources or None
            return None
        if isinstance(node, SegmentRef):
            return self._in_segment(node, stack, self._drivers)
        return None

    def _at_empty(self, node: Any, stack: list[str]) -> bool | None:
        """The value of ``node`` for a profile with no events and no chain; None: unknown
        (it depends on the profile's attributes). SQL NULL acts as false (see NOT)."""
        if isinstance(node, EventCondition):
            if node.measure not in ("count", "sum"):
                return False  # average/min/max of nothing is NULL
            return bool(_PY_CMP[node.op](0, node.value))
        if isinstance(node, Sequence):
            return False
        if isinstance(node, BoolConst):
            return node.value
        if isinstance(node, (And, Or)):
            values = [self._at_empty(i, stack) for i in _flatten(node, type(node))]
            decisive = isinstance(node, Or)  # True decides an OR, False an AND
            if decisive in values:
                return decisive
            return None if None in values else not decisive
        if isinstance(node, Not):
            inner = self._at_empty(node.item, stack)
            return None if inner is None else not inner
        if isinstance(node, SegmentRef):
            return self._in_segment(node, stack, self._at_empty)
        return None

    def _sources(self, node: Any, stack: list[str]) -> frozenset[str]:
        """Every source an expression reads."""
        if isinstance(node, EventCondition):
            return _EV
        if isinstance(node, Sequence):
            return _SEQ
        if isinstance(node, (And, Or)):
            return frozenset().union(*(self._sources(i, stack) for i in node.items))
        if isinstance(node, Not):
            return self._sources(node.item, stack)
        if isinstance(node, SegmentRef):
            return self._in_segment(node, stack, self._sources) or frozenset()
        return frozenset()

    def uses_profile(self, node: Any, stack: list[str] | None = None) -> bool:
        """Whether ``node`` reads profile attributes (conservatively: anything but events)."""
        stack = stack if stack is not None else []
        if isinstance(node, (EventCondition, Sequence, BoolConst)):
            return False
        if isinstance(node, (And, Or)):
            return any(self.uses_profile(i, stack) for i in node.items)
        if isinstance(node, Not):
            return self.uses_profile(node.item, stack)
        if isinstance(node, SegmentRef):
            try:
                found = self._in_segment(node, stack, self.uses_profile)
            except (SegmentationError, KeyError):
                return True
            return True if found is None else found
        return True

    def _in_segment(self, node: SegmentRef, stack: list[str], fn: Callable) -> Any:
        if self.resolve_segment is None or node.segment in stack:
            return None
        if len(stack) >= MAX_SEGMENT_DEPTH:
            return None
        expr = self.resolve_segment(node.segment)
        if expr is None:
            return None
        return fn(expr, [*stack, node.segment])


_EV = frozenset({"ev"})
_SEQ = frozenset({"seq"})


def _flatten(node: Any, cls: type) -> list[Any]:
    """Items of nested groups of the same kind, without recursion."""
    out, stack = [], list(reversed(node.items))
    while stack:
        item = stack.pop()
        if isinstance(item, cls):
            stack.extend(reversed(item.items))
        else:
            out.append(item)
    return out

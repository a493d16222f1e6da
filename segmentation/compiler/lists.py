"""AEP's functions of a list's items and of maps, as SQL lambdas: ``orders.filter(..)``,
``.map``, ``.groupBy``, ``.topN``/``.bottomN``, ``.sum``/``average``/``min``/``max``,
``.head()``, ``m.get("k")``, ``m.keys()``, ``m.values()``, and a field of a struct value.

The SQL is DuckDB's spelling; ``dialects.py`` rewrites the functions Spark spells
otherwise. A list keeps its DuckDB type in ``Val.value`` (``STRUCT(price DOUBLE)[]``), so
each item's fields are known to the function's argument.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from pydantic import BaseModel

from segmentation.compiler.operands import ITEM, Context, Val, present_items
from segmentation.compiler.schema import element_type, kind_of, map_types, struct_fields
from segmentation.errors import InvalidInputError, SegmentationError
from segmentation.model import SOME_ITEM_VAR, FieldRef, Func, ItemRef, ListAny, ListCall, Member
from segmentation.store import quote_ident

# the DuckDB type of a computed value of each kind (a field keeps its own)
_KIND_TYPES = {
    "number": "DOUBLE",
    "text": "VARCHAR",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMPTZ",
}
_SCALARS = tuple(_KIND_TYPES)
_AGGREGATES = {"sum": "list_sum", "average": "list_avg", "min": "list_min", "max": "list_max"}
MAP_FUNCS = ("head", "keys", "values", "get")


def duck_type(val: Val) -> str:
    """The DuckDB type of a compiled value: a field's own, else its kind's."""
    if not val.is_literal and isinstance(val.value, str):
        return val.value
    return _KIND_TYPES.get(val.kind, "VARCHAR")


def item_name(node: Any) -> str | None:
    """What AEP's examples call an item of a list: ``order`` of ``orders``."""
    if isinstance(node, FieldRef):
        last = node.path.split(".")[-1]
        return last[:-1] if last.endswith("s") and len(last) > 1 else None
    return None


class ListFunctions:
    """Mixed into the Compiler: it gives ``operand``, ``condition`` and ``bind``."""

    def some_item(self, node: Any, ctx: Context) -> Any:
        """``xEvent.productListItems.SKU = "PS"`` (AEP's example, on a loaded list of
        structs): the test holds for some item of the event's list, so it reads as
        ``exists I from productListItems where I.SKU = "PS"``. ``node`` as it is when no
        event field of it goes through a list (or more than one does)."""
        if ctx.scope != "event" or ctx.item is not None:
            return node
        through: dict[FieldRef, tuple[str, ...]] = {}
        for ref in set(_direct_event_fields(node)):
            inner = self._through_list(ref)
            if inner:
                through[ref] = inner
        lists = {_list_of(ref, inner) for ref, inner in through.items()}
        if len(lists) != 1:  # none, or items of two lists: as written
            return node
        for ref, inner in through.items():
            node = substitute(node, ref, ItemRef(path=".".join(inner)))
        return ListAny(var=SOME_ITEM_VAR, operand=lists.pop(), where=node)

    def _through_list(self, ref: FieldRef) -> tuple[str, ...]:
        try:
            return self.schema.resolve(ref.path, "event").item_path
        except SegmentationError:  # compiling the node says what is wrong
            return ()

    def _list_call(self, node: ListCall, ctx: Context) -> Val:
        items = self._a_list(node.operand, ctx, f"{node.name}()")
        var = ITEM if ctx.item is None else f"{ctx.item.sql}_"
        elem = element_type(items.value)
        item = Val(kind=kind_of(elem), label=f"items of {items.label}", sql=var, value=elem)
        inner = replace(ctx, item=item, item_name=item_name(node.operand))
        if node.name == "filter":
            test = self.condition(node.test, inner)
            sql = f"list_filter({items.sql}, lambda {var}: coalesce({test}, FALSE))"
            return Val(kind="list", label=f"filter() of {items.label}", sql=sql, value=items.value)
        by = self.operand(node.by, inner) if node.by is not None else item
        label = f"{node.name}() of {items.label}"
        if node.name == "map":
            sql = f"list_transform({items.sql}, lambda {var}: {self.bind(by)})"
            return Val(kind="list", label=label, sql=sql, value=f"{duck_type(by)}[]")
        self._scalar(by, node.name, number=node.name in ("sum", "average"))
        key = self.bind(by)
        if node.name in _AGGREGATES:
            return self._aggregate(node.name, items, var, key, label, by)
        if node.name == "groupBy":
            return self._group_by(items, var, key, duck_type(by), label)
        order = "DESC" if node.name == "topN" else "ASC"
        present = f"list_filter({items.sql}, lambda {var}: {key} IS NOT NULL)"
        pairs = f"list_transform({present}, lambda {var}: {{'k': {key}, 'v': {var}}})"
        top = f"list_slice(list_sort({pairs}, '{order}'), 1, {node.n})"
        sql = f"list_transform({top}, lambda {var}: {var}.v)"
        return Val(kind="list", label=label, sql=sql, value=items.value)

    def _aggregate(self, name: str, items: Val, var: str, value: str, label: str, by: Val) -> Val:
        """Over the present values; the sum of none is 0 (of a missing list: missing);
        min and max are of the values' kind (the highest store id is a text)."""
        values = f"list_transform({items.sql}, lambda {var}: {value})"
        sql = f"{_AGGREGATES[name]}({values})"
        if name == "sum":
            sql = f"(CASE WHEN {items.sql} IS NULL THEN NULL ELSE coalesce({sql}, 0) END)"
        if name in ("min", "max"):
            return Val(kind=by.kind, label=label, sql=sql, value=duck_type(by))
        return Val(kind="number", label=label, sql=sql)

    def _group_by(self, items: Val, var: str, key: str, key_type: str, label: str) -> Val:
        """A map of each present key to its items (the keys' order is the engine's)."""
        keys = (
            f"list_distinct({present_items(f'list_transform({items.sql}, lambda {var}: {key})')})"
        )
        k = f"{var}k"
        group = f"list_filter({items.sql}, lambda {var}: {key} = {k})"
        entries = f"list_transform({keys}, lambda {k}: {{'key': {k}, 'value': {group}}})"
        sql = f"map_from_entries({entries})"
        return Val(kind="map", label=label, sql=sql, value=f"MAP({key_type}, {items.value})")

    def _map_func(self, node: Func, ctx: Context) -> Val:
        """``l.head()``; ``m.get("k")``, ``m.keys()``, ``m.values()``."""
        if node.name == "head":
            items = self._a_list(node.args[0] if node.args else None, ctx, "head()")
            elem = element_type(items.value)
            label = f"the first item of {items.label}"
            return Val(
                kind=kind_of(elem), label=label, sql=f"list_extract({items.sql}, 1)", value=elem
            )
        target = self.operand(node.args[0], ctx) if node.args else None
        if target is None or target.kind != "map":
            what = f"{target.label} is a {target.kind}" if target else "nothing is given"
            raise InvalidInputError(f"{node.name}() needs a map but {what}.")
        key_type, value_type = map_types(target.value)
        if node.name == "get":
            return self._get(node, target, key_type, value_type)
        of = key_type if node.name == "keys" else value_type
        sql = f"map_{node.name}({target.sql})"
        return Val(kind="list", label=f"{node.name}() of {target.label}", sql=sql, value=f"{of}[]")

    def _get(self, node: Func, target: Val, key_type: str, value_type: str) -> Val:
        key = node.args[1].value if len(node.args) == 2 else None
        if not isinstance(key, str) or kind_of(key_type) != "text":
            raise InvalidInputError(
                f'get() takes a text key of {target.label} (keys: {key_type}), as m.get("k").'
            )
        sql = f"map_extract_value({target.sql}, {self.params.bind(key, 'VARCHAR')})"
        label = f"{key!r} of {target.label}"
        return Val(kind=kind_of(value_type), label=label, sql=sql, value=value_type)

    def _item(self, node: ItemRef, ctx: Context) -> Val:
        """The item a list function or an exists walks, or a field of a struct item;
        ``order.price`` in ``orders.sum(order.price)`` names the item ``order``."""
        if ctx.item is None:
            raise InvalidInputError("A list item is used outside a function of its list.")
        if node.path is None:
            return ctx.item
        names = node.path.split(".")
        elem = ctx.item.value
        fields = struct_fields(elem) if kind_of(elem) == "struct" else {}
        if len(names) > 1 and names[0] not in fields and names[0] == ctx.item_name:
            names = names[1:]
        try:
            return walk_fields(ctx.item, names)
        except InvalidInputError as exc:
            if names[0] in fields:
                raise
            hint = f" A bare name is the item's field: $1.{node.path} is the profile's."
            raise InvalidInputError(str(exc) + hint) from None

    def _member(self, node: Member, ctx: Context) -> Val:
        """A field of a struct value; of a list of structs, the list of that field."""
        base = self.operand(node.operand, ctx)
        return walk_fields(base, node.path.split("."))

    def _a_list(self, node: Any, ctx: Context, what: str) -> Val:
        items = self.operand(node, ctx) if node is not None else None
        if items is not None and items.is_literal:
            raise InvalidInputError(f"{what} needs a list field, not a list written out.")
        if items is None or items.kind != "list":
            got = f"{items.label} is a {items.kind}" if items else "nothing is given"
            raise InvalidInputError(f"{what} needs a list field but {got}.")
        return items

    def _scalar(self, val: Val, what: str, number: bool) -> None:
        wanted = ("number",) if number else _SCALARS
        if val.kind not in wanted and val.kind != "other":
            need = "a number" if number else "a single value (a number, text, date ...)"
            raise InvalidInputError(
                f"{what} needs {need} of each item but {val.label} is a {val.kind}."
            )


def _direct_event_fields(node: Any) -> Iterator[FieldRef]:
    """The event fields a test reads as values, not those a list function reads as a
    list (``productListItems.SKU.count()`` counts the list)."""
    if isinstance(node, FieldRef):
        if node.scope == "event":
            yield node
        return
    if isinstance(node, (Func, ListCall, Member)) or not isinstance(node, BaseModel):
        return
    for name in type(node).model_fields:
        value = getattr(node, name)
        for item in value if isinstance(value, list) else [value]:
            yield from _direct_event_fields(item)


def _list_of(ref: FieldRef, inner: tuple[str, ...]) -> FieldRef:
    names = ref.path.split(".")
    return FieldRef(path=".".join(names[: len(names) - len(inner)]), scope="event")


def substitute(node: Any, old: Any, new: Any) -> Any:
    """``node`` with every ``old`` (a node, compared by value) replaced by ``new``."""
    if node == old:
        return new
    if isinstance(node, list):
        return [substitute(item, old, new) for item in node]
    if not isinstance(node, BaseModel):
        return node
    changed = {name: substitute(getattr(node, name), old, new) for name in type(node).model_fields}
    return node.model_copy(update=changed)


def walk_fields(base: Val, names: list[str]) -> Val:
    """``base.a.b`` through structs (a field named with a dot, ``a.b``, first); a list of
    structs gives the list of the field."""
    duck, sql, label, i = base.value, base.sql, base.label, 0
    while i < len(names):
        if kind_of(duck) == "list" and kind_of(element_type(duck)) == "struct":
            return _each_item(base, Val(kind="list", label=label, sql=sql, value=duck), names, i)
        fields = struct_fields(duck) if kind_of(duck) == "struct" else {}
        cut = next((j for j in range(len(names), i, -1) if ".".join(names[i:j]) in fields), 0)
        if not cut:
            raise InvalidInputError(_no_field(label, names[i], duck, fields))
        name, i = ".".join(names[i:cut]), cut
        base_sql = sql if sql.isidentifier() else f"({sql})"
        duck, sql = fields[name], f"{base_sql}.{quote_ident(name)}"
    return Val(kind=kind_of(duck), label=f"{'.'.join(names)} of {label}", sql=sql, value=duck)


def _each_item(base: Val, items: Val, names: list[str], i: int) -> Val:
    """``names[i:]`` of each item of the list of structs ``items``: a list."""
    var = f"{ITEM}p"
    struct = Val(kind="struct", label=items.label, sql=var, value=element_type(items.value))
    inner = walk_fields(struct, names[i:])
    if inner.kind == "list":
        raise InvalidInputError(f"{'.'.join(names)} goes through two lists in {base.label}.")
    sql = f"list_transform({items.sql}, lambda {var}: {inner.sql})"
    label = f"{'.'.join(names)} of {items.label}"
    return Val(kind="list", label=label, sql=sql, value=f"{inner.value}[]")


def _no_field(label: str, name: str, duck: str, fields: dict[str, str]) -> str:
    subject = label[0].upper() + label[1:]
    verb = "have" if label.startswith("items of") else "has"
    if fields:
        return f"{subject} {verb} no field {name!r} (fields: {', '.join(map(repr, fields))})."
    return f"{subject} {verb} no field {name!r}: {duck} is no struct."

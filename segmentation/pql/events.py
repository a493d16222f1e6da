"""Canonical split of an event filter into event types, time window and the rest.

``xEvent[eventType = "a" and channel = "web" and timestamp occurs today]``
holds three kinds of items; the model keeps them apart. The rule is the same
for the parser and for the checks that a tree is canonical:

* flatten the top-level ``and`` of the filter (a parenthesised group is one item);
* exactly one ``eventType = "s"`` / ``eventType in [...]`` item -> ``event_types``;
* exactly one ``timestamp occurs W`` item -> ``window`` (when windows are taken);
* everything else, in order, is ``where`` (none -> None, one -> it, more -> And).

Two eventType items (or two windows) are all left in ``where``.
"""

from __future__ import annotations

from typing import Any

from segmentation.model import And, Compare, Condition, FieldRef, InList, Lit, Occurs, TimeWindow

EVENT_TYPE = FieldRef(path="eventType", scope="event")
TIMESTAMP = FieldRef(path="timestamp", scope="event")


def event_types_of(item: Condition) -> list[str] | None:
    """The event types an item names, if it has the eventType shape."""
    if isinstance(item, Compare):
        if (
            item.op == "="
            and item.left == EVENT_TYPE
            and isinstance(item.right, Lit)
            and isinstance(item.right.value, str)
        ):
            return [item.right.value]
        return None
    if (
        isinstance(item, InList)
        and not item.negate
        and item.operand == EVENT_TYPE
        and all(isinstance(value, str) for value in item.values)
    ):
        return [str(value) for value in item.values]
    return None


def window_of(item: Condition) -> TimeWindow | None:
    if isinstance(item, Occurs) and item.operand == TIMESTAMP:
        return item.window
    return None


def items_of(cond: Condition | None) -> list[Condition]:
    if cond is None:
        return []
    return list(cond.items) if isinstance(cond, And) else [cond]


def combine(items: list[Condition]) -> Condition | None:
    if not items:
        return None
    if len(items) == 1:
        return items[0]
    return And(items=items)


def split_filter(
    cond: Condition | None, take_window: bool = True
) -> tuple[list[str], TimeWindow | None, list[Condition]]:
    """-> (event_types, window, remaining items) per the module rule."""
    items = items_of(cond)
    type_at = [i for i, item in enumerate(items) if event_types_of(item) is not None]
    window_at = [i for i, item in enumerate(items) if window_of(item) is not None]
    taken: set[int] = set()
    event_types: list[str] = []
    window: TimeWindow | None = None
    if len(type_at) == 1:
        event_types = event_types_of(items[type_at[0]]) or []
        taken.add(type_at[0])
    if take_window and len(window_at) == 1:
        window = window_of(items[window_at[0]])
        taken.add(window_at[0])
    rest = [item for i, item in enumerate(items) if i not in taken]
    return event_types, window, rest


def where_is_canonical(
    event_types: list[str], where: Condition | None, window: TimeWindow | None, take_window: bool
) -> bool:
    """True when formatting and re-splitting gives back exactly these parts."""
    items = items_of(where)
    type_items = sum(event_types_of(item) is not None for item in items)
    if (type_items != 0) if event_types else (type_items == 1):
        return False
    if not take_window:
        return True
    window_items = sum(window_of(item) is not None for item in items)
    return not ((window_items != 0) if window is not None else (window_items == 1))


def selection(cond: Condition | None) -> dict[str, Any]:
    """The fields of an event selection (event_types, window, where) that ``cond`` gives."""
    event_types, window, rest = split_filter(cond)
    return {"event_types": event_types, "window": window, "where": combine(rest)}

"""Which profile columns a person wants to see next to an id.

A list of profile ids means little to a marketer: previews and "who entered"
lists show the contact columns first (names, then email), then the fields the
segment itself uses, so each row says why it is there.
"""

from __future__ import annotations

import re

from segmentation.catalog import FieldInfo
from segmentation.model import Expression, FieldRef, walk

ID = "profile_id"
# Name columns first (first, last, full), then email; matched on the lower-cased name.
_CONTACT = [
    re.compile(r"^(first|given)[_ ]?name$"),
    re.compile(r"^(last|family|sur)[_ ]?name$"),
    re.compile(r"^(full[_ ]?)?name$"),
    re.compile(r"^(e[_-]?mail|email[_ ]?address|personalemail\.address|.*\.email)$"),
]


def _flat(name: str) -> str:
    return name.lower().replace("person.name.", "").replace("workemail.", "")


def contact_columns(catalog: list[FieldInfo]) -> list[str]:
    """The profile columns that name or reach a person, in reading order."""
    names = [f.name for f in catalog if f.source == "profile" and f.name != ID]
    found: list[str] = []
    for pattern in _CONTACT:
        found += [n for n in names if pattern.match(_flat(n)) and n not in found]
    return found


def used_fields(expr: Expression | None) -> list[str]:
    """Profile fields the expression reads, in the order they appear."""
    if expr is None:
        return []
    seen: list[str] = []
    for node in walk(expr):
        if isinstance(node, FieldRef) and node.scope == "profile" and node.path not in seen:
            seen.append(node.path)
    return seen


def default_columns(catalog: list[FieldInfo], expr: Expression | None, limit: int = 8) -> list[str]:
    """Contact columns, then the segment's own fields (profile_id always comes first anyway)."""
    known = {f.name for f in catalog if f.source == "profile" and f.name != ID}
    out = contact_columns(catalog)
    out += [n for n in used_fields(expr) if n in known and n not in out]
    return out[:limit]

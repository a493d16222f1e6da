"""What the compiler knows about the tables: column names and DuckDB types.

Field names are checked here before any identifier reaches SQL text, and each
resolved field carries a coarse *kind* (text, number, ...) so conditions can
refuse a type mismatch with a message a person can act on.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Literal

from segmentation.errors import InvalidInputError, UnknownFieldError
from segmentation.store import Database, quote_ident

Kind = Literal[
    "text", "number", "bool", "date", "timestamp", "timestamptz", "list", "struct", "map", "other"
]
Scope = Literal["profile", "event"]

TABLES: dict[str, str] = {"profile": "profiles", "event": "events"}
# In PQL ``eventType`` and ``timestamp`` name the event columns chosen at ingest.
EVENT_TYPE_COLUMN = "eventType"
TIMESTAMP_COLUMN = "timestamp"

_NUMBER = re.compile(
    r"^(TINYINT|SMALLINT|INTEGER|INT|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|"
    r"UHUGEINT|FLOAT|REAL|DOUBLE|DECIMAL(\(.*\))?|NUMERIC(\(.*\))?)$"
)


def kind_of(duck_type: str) -> Kind:
    """Map a DuckDB type name (as information_schema spells it) to a kind."""
    t = duck_type.strip().upper()
    if t.endswith("[]") or re.search(r"\[\d+\]$", t):
        return "list"
    if t.startswith("STRUCT"):
        return "struct"
    if t.startswith("MAP("):
        return "map"
    if t in ("VARCHAR", "TEXT", "STRING", "UUID") or t.startswith(("VARCHAR(", "ENUM")):
        return "text"
    if t in ("BOOLEAN", "BOOL"):
        return "bool"
    if t == "DATE":
        return "date"
    if t in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return "timestamptz"
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    if _NUMBER.match(t):
        return "number"
    return "other"


def element_type(list_type: str) -> str:
    t = list_type.strip()
    return re.sub(r"\[\d*\]$", "", t)


def _split_top_level(text: str) -> list[str]:
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def map_types(duck_type: str) -> tuple[str, str]:
    """``MAP(VARCHAR, STRUCT(id VARCHAR))`` -> ("VARCHAR", "STRUCT(id VARCHAR)")."""
    t = duck_type.strip()
    key, value = _split_top_level(t[t.index("(") + 1 : t.rindex(")")])
    return key, value


def struct_fields(duck_type: str) -> dict[str, str]:
    """``STRUCT(city VARCHAR, "zip code" VARCHAR)`` -> {"city": "VARCHAR", ...}."""
    t = duck_type.strip()
    inner = t[t.index("(") + 1 : t.rindex(")")]
    out: dict[str, str] = {}
    for part in _split_top_level(inner):
        if part.startswith('"'):
            end = 1
            while True:
                end = part.index('"', end)
                if end + 1 < len(part) and part[end + 1] == '"':
                    end += 2
                    continue
                break
            name, rest = part[1:end].replace('""', '"'), part[end + 1 :]
        else:
            name, _, rest = part.partition(" ")
        out[name] = rest.strip()
    return out


@dataclass(frozen=True)
class ResolvedField:
    """A field checked against the schema: SQL to read it, its type and kind."""

    path: str
    scope: Scope
    column: str
    struct_path: tuple[str, ...]
    duck_type: str
    kind: Kind
    item_path: tuple[str, ...] = ()  # fields of each item of a list of structs on the way

    def sql(self, alias: str | None) -> str:
        parts = ([alias] if alias else []) + [quote_ident(self.column)]
        parts += [quote_ident(p) for p in self.struct_path]
        if not self.item_path:
            return ".".join(parts)
        inner = ".".join(["_lp", *(quote_ident(p) for p in self.item_path)])
        return f"list_transform({'.'.join(parts)}, lambda _lp: {inner})"

    def describe(self) -> str:
        return f"{self.scope} field {self.path!r} ({self.duck_type})"


def _walk(path: str, scope: Scope, column: str, duck_type: str, names: list[str]) -> Any:
    """The field at ``names`` inside ``column``'s structs, or None; through one list of
    structs, the list of the field (``person.orders.storeId``: each order's store)."""
    walked: list[str] = []
    items: list[str] | None = None  # past a list of structs: the path inside each item
    for name in names:
        if items is None and kind_of(duck_type) == "list":
            items, duck_type = [], element_type(duck_type)
        if kind_of(duck_type) != "struct" or name not in struct_fields(duck_type):
            return None
        duck_type = struct_fields(duck_type)[name]
        (walked if items is None else items).append(name)
    if items is None:
        return ResolvedField(path, scope, column, tuple(walked), duck_type, kind_of(duck_type))
    if kind_of(duck_type) == "list":
        raise InvalidInputError(
            f"The {scope} field {path!r} is a list in each item of a list (a list of lists, "
            "which no condition reads): test the items with exists or filter(), e.g. "
            f"exists I from {'.'.join(path.split('.')[: -len(items)])} where ..."
        )
    listed = f"{duck_type}[]"
    return ResolvedField(path, scope, column, tuple(walked), listed, "list", tuple(items))


@dataclass(frozen=True)
class Schema:
    """Columns of ``profiles`` and ``events``; ``None`` when the table does not exist."""

    profile_columns: dict[str, str] | None = None
    event_columns: dict[str, str] | None = None

    @classmethod
    def from_db(cls, db: Database) -> Schema:
        profiles = db.columns("profiles")
        events = db.columns("events")
        return cls(
            profile_columns=dict(profiles) if profiles else None,
            event_columns=dict(events) if events else None,
        )

    @classmethod
    def from_columns(
        cls,
        profiles: dict[str, str] | list[tuple[str, str]] | None,
        events: dict[str, str] | list[tuple[str, str]] | None,
    ) -> Schema:
        return cls(
            profile_columns=dict(profiles) if profiles is not None else None,
            event_columns=dict(events) if events is not None else None,
        )

    def columns(self, scope: Scope) -> dict[str, str] | None:
        return self.profile_columns if scope == "profile" else self.event_columns

    @property
    def has_profiles(self) -> bool:
        return self.profile_columns is not None

    @property
    def has_events(self) -> bool:
        return self.event_columns is not None

    def resolve(self, path: str, scope: Scope) -> ResolvedField:
        """A dotted path (``commerce.order.priceTotal``, as AEP's XDM names fields) on
        the columns a user loaded: a column of that exact name (dots kept whole), the
        same with underscores (``commerce_order_priceTotal``), then a STRUCT walk from
        the longest such prefix (``commerce`` STRUCT(order STRUCT(priceTotal ..)))."""
        columns = self.columns(scope)
        table = TABLES[scope]
        if columns is None:
            raise InvalidInputError(
                f"The {scope} field {path!r} cannot be used: the workspace has no "
                f"{table} table yet. Load {table} data first."
            )
        parts = path.split(".")
        for column in dict.fromkeys((path, "_".join(parts))):
            if column in columns:
                duck_type = columns[column]
                return ResolvedField(path, scope, column, (), duck_type, kind_of(duck_type))
        prefixes = {
            joiner.join(parts[:cut]): cut for cut in range(len(parts) - 1, 0, -1) for joiner in "._"
        }  # longest first; a one-part prefix is the same with either joiner
        for column, cut in prefixes.items():
            if column not in columns:
                continue
            found = _walk(path, scope, column, columns[column], parts[cut:])
            if found is not None:
                return found
        raise UnknownFieldError(self._unknown_message(path, scope), path)

    def _unknown_message(self, path: str, scope: Scope) -> str:
        known = self.known_names(scope)
        close = difflib.get_close_matches(path, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return (
            f"Unknown {scope} field {path!r}: the {TABLES[scope]} table has no such column.{hint}"
        )

    def known_names(self, scope: Scope) -> list[str]:
        """Every column, and every path into its structs (``commerce.order.priceTotal``)
        and into the items of its lists of structs (``productListItems.SKU``)."""
        names: list[str] = []
        stack = list(reversed((self.columns(scope) or {}).items()))
        while stack:
            name, duck_type = stack.pop()
            names.append(name)
            if kind_of(duck_type) == "list" and kind_of(element_type(duck_type)) == "struct":
                duck_type = element_type(duck_type)  # person.orders.storeId: each order's
            if kind_of(duck_type) == "struct":
                subs = struct_fields(duck_type).items()
                stack += reversed([(f"{name}.{sub}", t) for sub, t in subs])
        return names

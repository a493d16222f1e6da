"""Segment definitions: named, tagged, versioned expressions in the workspace."""

# ruff: noqa: S608 - SQL text holds only checked, quoted identifiers; values are bound

from __future__ import annotations

import datetime as dt
import difflib
import functools
import re
import unicodedata
import uuid
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from segmentation.errors import ConflictError, InvalidInputError, NameTakenError, NotFoundError
from segmentation.expression_input import expression_from_data
from segmentation.model import (
    Expression,
    expression_from_json,
    expression_to_json,
    segment_refs,
)
from segmentation.pql import parse, to_pql
from segmentation.pql.locate import fields_located
from segmentation.store import Database

SortKey = Literal["name", "-name", "updated_at", "-updated_at", "created_at", "-created_at"]
MAX_DESCRIPTION = 10_000
MAX_TAGS, MAX_TAG = 50, 100
MAX_PQL = 1_000_000  # characters: a long `in [..]` list fits, a runaway paste does not
_INVISIBLE = {"Cc", "Cf"}  # control and format characters (NUL, ESC, zero-width space)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
# AEP's ttlInDays when none is given (aepp's default too); at most 100 years
DEFAULT_TTL_DAYS = 30
MAX_TTL_DAYS = 36_500
_SORT_SQL = {
    "name": "lower(name) ASC",
    "-name": "lower(name) DESC",
    "updated_at": "updated_at ASC",
    "-updated_at": "updated_at DESC",
    "created_at": "created_at ASC",
    "-created_at": "created_at DESC",
}
_COLUMNS = "id, name, description, tags, expression, pql, version, created_at, updated_at, ttl_days"


class Definition(BaseModel):
    """Frozen: reads are kept per workspace generation and shared between callers."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    expression: Expression
    pql: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    ttl_days: int = DEFAULT_TTL_DAYS


class DefinitionPage(BaseModel):
    items: list[Definition]
    total: int
    next_offset: int | None


def _row_to_definition(row: tuple) -> Definition:
    return Definition(
        id=row[0],
        name=row[1],
        description=row[2] or "",
        tags=list(row[3] or []),
        expression=_stored_expression(row[4]),
        pql=row[5],
        version=row[6],
        created_at=row[7],
        updated_at=row[8],
        ttl_days=row[9] or DEFAULT_TTL_DAYS,
    )


@functools.lru_cache(maxsize=4096)
def _stored_expression(text: str) -> Expression:
    """A stored tree, parsed once per distinct JSON text (trees are frozen, so shared):
    validating the tree is most of what reading a definition costs."""
    return expression_from_json(text)


def _clean_text(text: str, what: str) -> str:
    """One line, in one Unicode form, without invisible characters: "Café" typed two
    ways, or with a zero-width space, is one name, as it looks."""
    if not isinstance(text, str):
        raise InvalidInputError(f"The {what} must be text.")
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if c.isspace() or unicodedata.category(c) not in _INVISIBLE)
    return " ".join(text.split())


def _clean_name(name: str) -> str:
    cleaned = _clean_text(name or "", "name")
    if not cleaned:
        raise InvalidInputError("A segment definition needs a name.")
    if len(cleaned) > 200:
        raise InvalidInputError(f"The name is {len(cleaned)} characters long; at most 200.")
    if _UUID.match(cleaned):  # a definition is found by id first: this one could not be
        raise InvalidInputError(f"The name {cleaned!r} looks like an id; give it words.")
    return cleaned


def _clean_description(description: str) -> str:
    if not isinstance(description, str):
        raise InvalidInputError("The description must be text.")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInputError(
            f"The description is {len(description):,} characters long; at most {MAX_DESCRIPTION:,}."
        )
    return description


def _clean_tags(tags: list[str] | None) -> list[str]:
    if not isinstance(tags, list | tuple | None):
        raise InvalidInputError("Tags must be a list of words.")
    seen: list[str] = []
    for tag in tags or []:
        tag = _clean_text(tag, "tag")
        if len(tag) > MAX_TAG:
            raise InvalidInputError(f"The tag {tag[:40]!r}... is longer than {MAX_TAG} characters.")
        if tag and tag not in seen:
            seen.append(tag)
    if len(seen) > MAX_TAGS:
        raise InvalidInputError(f"{len(seen):,} tags; a definition takes at most {MAX_TAGS}.")
    return seen


def to_expression(pql: str | None, expression: Expression | dict | str | None) -> Expression:
    """The expression from exactly one of PQL text or a tree (an Expression, a dict, JSON)."""
    if (pql is None) == (expression is None):
        raise InvalidInputError("Give the segment either as PQL text or as an expression.")
    if pql is not None:
        if isinstance(pql, str) and len(pql) > MAX_PQL:
            raise InvalidInputError(
                f"The PQL is {len(pql):,} characters long; at most {MAX_PQL:,}. Split it into "
                "segments, or keep long value lists in a profile attribute."
            )
        return parse(pql)
    return expression_from_data(expression)


class DefinitionStore:
    """CRUD with versions. ``validate`` checks an expression against the workspace
    (fields, types, segment references and cycles) before anything is written."""

    def __init__(
        self,
        db: Database,
        validate: Callable[[Expression, str | None], None],
        blockers: Callable[[Definition], list[str]],
    ):
        self._db = db
        self._validate = validate
        self._blockers = blockers

    # --- reading -------------------------------------------------------------------

    def get(self, id_or_name: str) -> Definition:
        """By id, else by name (any case); kept until the workspace next changes."""
        found = self._db.memo(("definition", id_or_name), lambda: self._read(id_or_name))
        if found is None:
            raise NotFoundError(self._unknown_message(id_or_name))
        return found

    def _read(self, id_or_name: str) -> Definition | None:
        row = self._db.one(  # ids in any case: a client may upper-case a UUID
            f"SELECT {_COLUMNS} FROM definitions WHERE lower(id) = lower(?)", [id_or_name]
        )
        if row is None:
            row = self._db.one(
                f"SELECT {_COLUMNS} FROM definitions WHERE lower(name) = lower(?)", [id_or_name]
            )
        return None if row is None else _row_to_definition(row)

    def find(self, id_or_name: str) -> Definition | None:
        try:
            return self.get(id_or_name)
        except NotFoundError:
            return None

    def find_many(self, ids_or_names: list[str]) -> dict[str, Definition]:
        """Each one found, by id, else by name, both in any case (as :meth:`get` reads
        them), from one read of them all (kept until the workspace changes): each unknown
        one cost :meth:`get` two queries. The ones not found are left out."""
        every = self.all()
        by_id = {d.id.lower(): d for d in every}
        by_name: dict[str, Definition] = {}
        for d in every:
            by_name.setdefault(d.name.lower(), d)
        found = {i: by_id.get(i.lower()) or by_name.get(i.lower()) for i in ids_or_names}
        return {i: d for i, d in found.items() if d is not None}

    def bulk_get(self, ids: list[str]) -> list[Definition]:
        """In the order asked; the ids read in one query (a job of 50 definitions after a
        write would otherwise read them one query each), names as :meth:`get` reads them."""
        if not ids:
            return []
        found = self._db.memo(("definitions", tuple(ids)), lambda: self._read_ids(ids))
        return [found[i] if i in found else self.get(i) for i in ids]

    def _read_ids(self, ids: list[str]) -> dict[str, Definition]:
        marks = ", ".join("?" for _ in ids)
        rows = self._db.rows(f"SELECT {_COLUMNS} FROM definitions WHERE id IN ({marks})", ids)
        return {d.id: d for d in map(_row_to_definition, rows)}

    def list(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        sort: SortKey = "name",
        name_contains: str | None = None,
        tag: str | None = None,
    ) -> DefinitionPage:
        if sort not in _SORT_SQL:
            raise InvalidInputError(f"Unknown sort {sort!r}; use one of {', '.join(_SORT_SQL)}.")
        where, params = ["true"], []
        if name_contains:
            where.append("contains(lower(name), lower(?))")
            params.append(name_contains)
        if tag:
            where.append("list_contains(tags, ?)")
            params.append(tag)
        condition = " AND ".join(where)
        total = self._db.scalar(f"SELECT count(*) FROM definitions WHERE {condition}", params)
        rows = self._db.rows(
            f"SELECT {_COLUMNS} FROM definitions WHERE {condition} "
            f"ORDER BY {_SORT_SQL[sort]}, id LIMIT ? OFFSET ?",
            [*params, max(0, limit), max(0, offset)],
        )
        items = [_row_to_definition(r) for r in rows]
        next_offset = offset + len(items) if offset + len(items) < total else None
        return DefinitionPage(items=items, total=total, next_offset=next_offset)

    def all(self) -> list[Definition]:
        """By name; kept until the workspace next changes (a job's every poll reads them)."""

        def read() -> list[Definition]:
            rows = self._db.rows(f"SELECT {_COLUMNS} FROM definitions ORDER BY lower(name), id")
            return [_row_to_definition(r) for r in rows]

        return list(self._db.memo("definitions", read))

    def versions(self, id_or_name: str) -> list[Definition]:
        current = self.get(id_or_name)
        rows = self._db.rows(
            "SELECT definition_id, name, description, tags, expression, pql, version, "
            "saved_at, saved_at, NULL FROM definition_versions WHERE definition_id = ? "
            "ORDER BY version",
            [current.id],
        )
        return [_row_to_definition(r) for r in rows]

    def _unknown_message(self, id_or_name: str) -> str:
        names = [r[0] for r in self._db.rows("SELECT name FROM definitions")]
        close = difflib.get_close_matches(id_or_name, names, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"No segment definition with id or name {id_or_name!r}.{hint}"

    # --- writing -------------------------------------------------------------------

    def create(
        self,
        *,
        name: str,
        pql: str | None = None,
        expression: Expression | dict | None = None,
        description: str = "",
        tags: list[str] | None = None,
        ttl_days: int | None = None,
    ) -> Definition:
        name = _clean_name(name)
        expr = to_expression(pql, expression)
        now = _now()
        definition = Definition(
            id=str(uuid.uuid4()),
            name=name,
            description=_clean_description(description or ""),
            tags=_clean_tags(tags),
            expression=expr,
            pql=to_pql(expr),
            version=1,
            created_at=now,
            updated_at=now,
            ttl_days=_clean_ttl(ttl_days),
        )
        with self._db.write() as con:
            self._check_name_free(con, name, None)
            with fields_located(pql):  # under the lock: what it refers to cannot go meanwhile
                self._validate(expr, None)
            self._insert(con, definition)
        return definition

    def update(
        self,
        id_or_name: str,
        *,
        name: str | None = None,
        pql: str | None = None,
        expression: Expression | dict | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        ttl_days: int | None = None,
    ) -> Definition:
        current = self.get(id_or_name)
        changes: dict = {}
        if name is not None:
            changes["name"] = _clean_name(name)
        if pql is not None or expression is not None:
            expr = to_expression(pql, expression)
            changes["expression"] = expr
            changes["pql"] = to_pql(expr)
        if description is not None:
            changes["description"] = _clean_description(description)
        if tags is not None:
            changes["tags"] = _clean_tags(tags)
        if ttl_days is not None:
            changes["ttl_days"] = _clean_ttl(ttl_days)
        if not changes:
            return current
        with self._db.write() as con:
            # read again under the lock: a concurrent edit or delete wins cleanly
            row = con.execute(f"SELECT {_COLUMNS} FROM definitions WHERE id = ?", [current.id])
            fresh = row.fetchone()
            if fresh is None:
                raise NotFoundError(f"The segment definition {current.name!r} was deleted.")
            if "expression" in changes:  # under the lock: what it refers to cannot go meanwhile
                with fields_located(pql):
                    self._validate(changes["expression"], current.id)
            latest = _row_to_definition(fresh)
            updated = latest.model_copy(
                update={**changes, "version": latest.version + 1, "updated_at": _now()}
            )
            if updated.name.lower() != latest.name.lower():
                self._check_name_free(con, updated.name, current.id)
                self._check_not_referenced_by_name(latest)
            con.execute("DELETE FROM definitions WHERE id = ?", [current.id])
            self._insert(con, updated)
        return updated

    def _check_not_referenced_by_name(self, definition: Definition) -> None:
        """inSegment("name") would break on a rename: refuse and say how to fix it."""
        users = [
            d.name
            for d in self.all()
            if d.id != definition.id
            and definition.name.lower() in {r.lower() for r in segment_refs(d.expression)}
        ]
        if users:
            raise ConflictError(
                f"Cannot rename {definition.name!r}: {', '.join(repr(u) for u in users)} refer "
                f'to it by name. Change them to inSegment("{definition.id}") first.'
            )

    def duplicate(self, id_or_name: str, new_name: str | None = None) -> Definition:
        source = self.get(id_or_name)
        name = new_name or self._free_copy_name(source.name)
        return self.create(
            name=name,
            expression=source.expression,
            description=source.description,
            tags=source.tags,
            ttl_days=source.ttl_days,
        )

    def delete(self, id_or_name: str) -> None:
        """Delete, unless another definition or a schedule still uses it. Checked under
        the write lock, where a reference or schedule made meanwhile is seen (it was
        not: both answered 200, and every run of "*" then failed on the dangling id)."""
        current = self.get(id_or_name)
        with self._db.write() as con:
            if (
                con.execute("SELECT 1 FROM definitions WHERE id = ?", [current.id]).fetchone()
                is None
            ):
                raise NotFoundError(f"The segment definition {current.name!r} was deleted.")
            reasons = self._blockers(current)
            if reasons:
                raise ConflictError(
                    f"Cannot delete {current.name!r}: it is used by " + "; ".join(reasons) + "."
                )
            con.execute("DELETE FROM definitions WHERE id = ?", [current.id])
            con.execute("DELETE FROM memberships WHERE segment_id = ?", [current.id])

    def _free_copy_name(self, name: str) -> str:
        taken = {r[0].lower() for r in self._db.rows("SELECT name FROM definitions")}
        candidate, n = f"{name} (copy)", 2
        while candidate.lower() in taken:
            candidate, n = f"{name} (copy {n})", n + 1
        return candidate

    @staticmethod
    def _check_name_free(con, name: str, own_id: str | None) -> None:
        row = con.execute(
            "SELECT id FROM definitions WHERE lower(name) = lower(?) AND id IS DISTINCT FROM ?",
            [name, own_id],
        ).fetchone()
        if row:
            raise NameTakenError(f"A segment definition named {name!r} already exists.")

    @staticmethod
    def _insert(con, d: Definition) -> None:
        expression = expression_to_json(d.expression)
        con.execute(
            f"INSERT INTO definitions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [d.id, d.name, d.description, d.tags, expression, d.pql, d.version]
            + [d.created_at, d.updated_at, d.ttl_days],
        )
        con.execute(
            "INSERT INTO definition_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [d.id, d.version, d.name, d.description, d.tags, expression, d.pql, d.updated_at],
        )


def _clean_ttl(days: int | None) -> int:
    if days is None:
        return DEFAULT_TTL_DAYS
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_TTL_DAYS:
        raise InvalidInputError(
            f"ttlInDays must be a whole number of days from 1 to {MAX_TTL_DAYS}; got {days!r}."
        )
    return days


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)

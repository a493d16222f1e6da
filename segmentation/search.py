"""Search: segment definitions, catalog fields, and one profile's view.

Segments and fields are few (thousands at most), so a query (see
:mod:`segmentation.search_query` for the syntax) is parsed once and matched in
Python, which keeps wildcards, phrases and ranking simple and every character
literal. Profile lookup runs in DuckDB with every value bound as a parameter.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from segmentation.errors import InvalidInputError, NotFoundError
from segmentation.search_query import (
    MAX_QUERY_LENGTH,
    evaluate,
    find_matches,
    parse,
    positive_terms,
    snippet,
)
from segmentation.store import Database, quote_ident

# accepted field names (lower case) -> canonical field
SEGMENT_FIELDS = {
    "name": "name",
    "segmentname": "name",
    "description": "description",
    "desc": "description",
    "segmentdescription": "description",
    "tags": "tags",
    "tag": "tags",
    "pql": "pql",
    "id": "id",
    "segmentid": "id",
}
# searched when a term names no field, in ranking order
SEGMENT_DEFAULT_FIELDS = ("name", "description", "tags", "pql")
_SEGMENT_WEIGHTS = {"name": 1000, "description": 100, "tags": 10, "pql": 1, "id": 1000}

CATALOG_FIELDS = {
    "name": "name",
    "field": "name",
    "source": "source",
    "type": "type",
    "values": "values",
    "value": "values",
    "top": "values",
}
CATALOG_DEFAULT_FIELDS = ("name", "values")

# VARCHAR profile columns searched for an identity value besides profile_id
_IDENTITY_NAME = re.compile(r"id$|^id|[._]id|email|e_mail|mail|phone|mobile|identity", re.I)
_EMAIL_NAME = re.compile(r"mail", re.I)
_PHONE_NAME = re.compile(r"phone|mobile", re.I)
MAX_PROFILE_MATCHES = 50


class SegmentHit(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    matched_fields: list[str] = Field(default_factory=list)
    snippet: str = ""  # the best match in context, the match in **bold**
    score: int = 0


class FieldHit(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    source: str | None = None  # "profile" / "event" (as the catalog stores it)
    type: str | None = None
    null_share: float | None = None
    distinct_count: int | None = None
    top_values: list[str] = Field(default_factory=list)
    matched_fields: list[str] = Field(default_factory=list)
    matched_values: list[str] = Field(default_factory=list)  # top values that matched
    score: int = 0


class ProfileMatch(BaseModel):
    model_config = ConfigDict(frozen=True)

    profile_id: str
    matched_column: str  # "profile_id", "email", ...


class MembershipRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    segment_id: str
    segment_name: str
    status: str
    last_qualification_time: dt.datetime | None = None
    version: int | None = None
    job_id: str | None = None  # the run this membership comes from
    as_of: dt.datetime | None = None  # and its as-of


class ProfileView(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    profile_id: str
    attributes: dict[str, Any]
    events: pd.DataFrame  # newest first
    memberships: list[MembershipRow]


# --- segments ------------------------------------------------------------------------


def _check_limit(limit: int) -> None:
    if not isinstance(limit, int) or limit < 1:
        raise InvalidInputError(f"limit must be a positive whole number, not {limit!r}")


def search_segments(db: Database, query: str, limit: int = 50) -> list[SegmentHit]:
    """Definitions matching ``query``, name matches first; an empty query lists all."""
    _check_limit(limit)
    node = parse(query, SEGMENT_FIELDS, foreign=CATALOG_FIELDS)
    hits: list[SegmentHit] = []
    stripped = query.strip().strip('"').lower()
    for seg_id, name, description, tags, pql in db.rows(
        "SELECT id, name, description, tags, pql FROM definitions"
    ):
        record = {
            "id": [seg_id or ""],
            "name": [name or ""],
            "description": [description or ""],
            "tags": list(tags or []),
            "pql": [pql or ""],
        }
        if node is not None and not evaluate(node, record, SEGMENT_DEFAULT_FIELDS):
            continue
        matches = find_matches(node, record, SEGMENT_DEFAULT_FIELDS)
        fields = list(dict.fromkeys(m.field for m in matches))
        score = sum(_SEGMENT_WEIGHTS.get(f, 0) for f in fields)
        if name and stripped and name.lower() == stripped:
            score += 5000  # the exact name
        hits.append(
            SegmentHit(
                id=seg_id,
                name=name or "",
                description=description,
                tags=list(tags or []),
                matched_fields=fields,
                snippet=snippet(matches[0]) if matches else (description or name or "")[:80],
                score=score,
            )
        )
    hits.sort(key=lambda h: (-h.score, h.name.lower(), h.id))
    return hits[:limit]


# --- fields ----------------------------------------------------------------------------


def _top_values(raw: str | None) -> list[str]:
    """The catalog's top values as text, whatever JSON shape the catalog stored."""
    if not raw:
        return []
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        return [str(raw)]
    if isinstance(data, dict):
        return [str(k) for k in data]
    if not isinstance(data, list):
        return [str(data)]
    out: list[str] = []
    for item in data:
        if isinstance(item, dict):
            value = item.get("value", next(iter(item.values()), None) if item else None)
        elif isinstance(item, (list, tuple)):
            value = item[0] if item else None
        else:
            value = item
        if value is not None:
            out.append(str(value))
    return out


def search_fields(db: Database, query: str, limit: int = 200) -> list[FieldHit]:
    """Catalog fields whose name (or one of whose top values) matches ``query``."""
    _check_limit(limit)
    node = parse(query, CATALOG_FIELDS, foreign=SEGMENT_FIELDS)
    hits: list[FieldHit] = []
    for name, source, type_, null_share, distinct, top in db.rows(
        "SELECT name, source, type, null_share, distinct_count, top_values FROM catalog"
    ):
        values = _top_values(top)
        record = {
            "name": [name or ""],
            "source": [source or ""],
            "type": [type_ or ""],
            "values": values,
        }
        if node is not None and not evaluate(node, record, CATALOG_DEFAULT_FIELDS):
            continue
        matches = find_matches(node, record, CATALOG_DEFAULT_FIELDS)
        fields = list(dict.fromkeys(m.field for m in matches))
        # every top value a positive term matches, not only the first one
        terms = [t for t in positive_terms(node) if t.field in (None, "values")]
        matched_values = [v for v in values if any(t.pattern.search(v) for t in terms)]
        score = (1000 if "name" in fields else 0) + (10 if "values" in fields else 0)
        score += 1 if {"source", "type"} & set(fields) else 0
        hits.append(
            FieldHit(
                name=name or "",
                source=source,
                type=type_,
                null_share=null_share,
                distinct_count=distinct,
                top_values=values,
                matched_fields=fields,
                matched_values=matched_values,
                score=score,
            )
        )
    hits.sort(key=lambda h: (-h.score, h.name.lower(), h.source or ""))
    return hits[:limit]


# --- profiles ---------------------------------------------------------------------------


def identity_columns(db: Database) -> list[str]:
    """profile_id plus the VARCHAR profile columns that look like identities."""
    cols = db.columns("profiles")
    names = [n for n, _ in cols]
    if "profile_id" not in names:
        return []
    return ["profile_id"] + [
        n for n, t in cols if n != "profile_id" and t == "VARCHAR" and _IDENTITY_NAME.search(n)
    ]


def find_profiles(db: Database, term: str, limit: int = MAX_PROFILE_MATCHES) -> list[ProfileMatch]:
    """Profiles whose profile_id or an identity column equals ``term``.

    profile_id and other ids match exactly; email columns ignore case; phone
    columns compare digits only ("+1 (555) 010-2000" finds "15550102000").
    An exact profile_id match is returned first.
    """
    _check_limit(limit)
    term = (term or "").strip()
    if not term:
        return []
    if len(term) > MAX_QUERY_LENGTH:
        raise InvalidInputError(
            f"The search term is {len(term):,} characters long; at most {MAX_QUERY_LENGTH:,}."
        )
    columns = identity_columns(db)
    if not columns:
        return []
    digits = re.sub(r"\D", "", term)
    parts: list[str] = []
    params: list[Any] = []
    for rank, col in enumerate(columns):
        q = quote_ident(col)
        if _EMAIL_NAME.search(col):
            cond, value = f"lower({q}) = lower(?)", term
        elif _PHONE_NAME.search(col):
            if not digits:
                continue
            cond, value = f"regexp_replace({q}, '\\D', '', 'g') = ?", digits
        else:
            cond, value = f"{q} = ?", term
        # identifiers: existing columns via quote_ident; values: bound
        select = "SELECT profile_id, ?::VARCHAR AS matched_column, ?::INTEGER AS rank"
        parts.append(f"{select} FROM profiles WHERE {cond}")
        params += [col, rank, value]
    union = " UNION ALL ".join(parts)
    select = "SELECT profile_id, arg_min(matched_column, rank) AS matched_column, min(rank) AS r"
    sql = f"{select} FROM ({union}) GROUP BY profile_id ORDER BY r, profile_id LIMIT ?"
    params.append(limit)
    return [ProfileMatch(profile_id=p, matched_column=c) for p, c, _ in db.rows(sql, params)]


def profile_view(db: Database, profile_id: str, events_limit: int = 20) -> ProfileView:
    """One profile's attributes, latest events (newest first) and memberships."""
    if not isinstance(events_limit, int) or events_limit < 0:
        raise InvalidInputError(f"events_limit must be 0 or more, not {events_limit!r}")
    if not db.table_exists("profiles"):
        raise NotFoundError("There are no profiles in this workspace yet.")
    names = [n for n, _ in db.columns("profiles")]
    row = db.one("SELECT * FROM profiles WHERE profile_id = ? LIMIT 1", [profile_id])
    if row is None:
        raise NotFoundError(f"No profile with profile_id {profile_id!r}.")
    attributes = dict(zip(names, row, strict=True))
    return ProfileView(
        profile_id=profile_id,
        attributes=attributes,
        events=_latest_events(db, profile_id, events_limit),
        memberships=_memberships(db, profile_id),
    )


def _latest_events(db: Database, profile_id: str, limit: int) -> pd.DataFrame:
    cols = [n for n, _ in db.columns("events")]
    if "profile_id" not in cols:
        return pd.DataFrame()
    order = f"ORDER BY {quote_ident('timestamp')} DESC NULLS LAST" if "timestamp" in cols else ""
    sql = f"SELECT * FROM events WHERE profile_id = ? {order} LIMIT ?"  # noqa: S608
    return db.df(sql, [profile_id, limit])


def _memberships(db: Database, profile_id: str) -> list[MembershipRow]:
    rows = db.rows(
        "SELECT m.segment_id, d.name, m.status, m.last_qualification_time, m.version, "
        "m.job_id, m.as_of "
        "FROM memberships m JOIN definitions d ON d.id = m.segment_id "
        "WHERE m.profile_id = ? ORDER BY lower(d.name), m.segment_id",
        [profile_id],
    )
    return [
        MembershipRow(
            segment_id=s,
            segment_name=n or "",
            status=st,
            last_qualification_time=t,
            version=v,
            job_id=j,
            as_of=a,
        )
        for s, n, st, t, v, j, a in rows
    ]


def search_profile(
    db: Database, term: str, events_limit: int = 20
) -> ProfileView | list[ProfileMatch] | None:
    """Look a person up by profile_id, email, phone or another id.

    Returns the profile's view when exactly one profile matches (or the term is
    a profile_id), the candidates when several do (show them and call
    :func:`profile_view` with the chosen one), and None when none does.
    """
    matches = find_profiles(db, term)
    if not matches:
        return None
    exact = [m for m in matches if m.matched_column == "profile_id"]
    if exact:
        return profile_view(db, exact[0].profile_id, events_limit)
    if len(matches) == 1:
        return profile_view(db, matches[0].profile_id, events_limit)
    return matches

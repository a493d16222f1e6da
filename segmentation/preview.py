"""Preview: the qualified profiles, one page at a time, in a stable order."""

# ruff: noqa: S608 - SQL text holds only checked, quoted identifiers; values are bound

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, ConfigDict

from segmentation.errors import InvalidInputError
from segmentation.store import Database, quote_ident

MAX_PAGE = 10_000


class PreviewPage(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    total: int
    rows: pd.DataFrame
    offset: int
    limit: int
    next_offset: int | None
    columns: list[str]


def preview_page(
    db: Database,
    sql: str,
    params: list,
    *,
    columns: list[str] | None,
    limit: int,
    offset: int,
) -> PreviewPage:
    """Page through ``sql`` (which selects ``profile_id``), ordered by profile id.

    Ids are paged first and the chosen columns are joined for that page only,
    so the hundredth page costs about what the first does.
    """
    if limit < 1 or limit > MAX_PAGE:
        raise InvalidInputError(f"The page size must be between 1 and {MAX_PAGE}; got {limit}.")
    if offset < 0:
        raise InvalidInputError(f"The offset must be 0 or more; got {offset}.")
    known = [name for name, _ in db.columns("profiles")]
    chosen = _check_columns(columns, known)
    select = ", ".join(f"p.{quote_ident(c)}" for c in chosen)
    total = db.scalar(f"SELECT count(*) FROM ({sql})", params)
    rows = db.df(
        f"""WITH page AS (SELECT profile_id FROM ({sql}) ORDER BY profile_id LIMIT ? OFFSET ?)
        SELECT {select} FROM page JOIN profiles p USING (profile_id) ORDER BY p.profile_id""",
        [*params, limit, offset],
    )
    next_offset = offset + limit if offset + limit < total else None
    return PreviewPage(
        total=total,
        rows=rows,
        offset=offset,
        limit=limit,
        next_offset=next_offset,
        columns=chosen,
    )


def _check_columns(columns: list[str] | None, known: list[str]) -> list[str]:
    if not columns:
        return known
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise InvalidInputError(
            f"Unknown profile column(s): {', '.join(unknown)}. Known: {', '.join(known)}."
        )
    return ["profile_id", *[c for c in columns if c != "profile_id"]]

"""Helpers for tests that run many compiled queries on Spark as one query."""

from __future__ import annotations


def spark_union(queries: dict[str, tuple[str, list]]) -> str:
    """Many compiled queries as one Spark query of (k, profile_id) rows: one job, not 100."""
    from segmentation.compiler.dialects import to_spark

    parts = [
        f"SELECT '{key}' AS k, q.profile_id FROM ({to_spark(sql, params)}) q"
        for key, (sql, params) in queries.items()
    ]
    return " UNION ALL ".join(parts)


def by_key(rows) -> dict[str, set[str]]:
    """(key, profile_id) rows as {key: profile ids}."""
    out: dict[str, set[str]] = {}
    for key, pid in rows:
        out.setdefault(key, set()).add(pid)
    return out

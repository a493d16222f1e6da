"""Segment expression tree -> DuckDB SQL.

    schema = Schema.from_db(db)
    opts = CompileOptions(as_of=datetime(2024, 6, 1), timezone="Europe/Paris")
    q = compile_segment(expr, schema, opts)      # SELECT profile_id ...
    db.rows(q.sql, q.params)

Values are bound as numbered parameters (``$n``), identifiers are checked
against the Schema and quoted. See the module docstrings for the semantics:
``conditions`` (two-valued logic), ``timewindows`` (calendar windows),
``events`` (the shared events pass and sequences).
"""

from segmentation.compiler.query import (
    CompiledQuery,
    CompileOptions,
    compile_count,
    compile_many,
    compile_segment,
)
from segmentation.compiler.schema import ResolvedField, Schema

__all__ = [
    "CompileOptions",
    "CompiledQuery",
    "ResolvedField",
    "Schema",
    "compile_count",
    "compile_many",
    "compile_segment",
]

"""The embedded default: the workspace's own DuckDB file holds the data too."""

# ruff: noqa: S608 - SQL text holds only the compiler's SQL and fixed table names

from __future__ import annotations

from typing import Any

import duckdb

from segmentation import estimate
from segmentation.compiler import Schema
from segmentation.engines.base import Engine
from segmentation.estimate import SampleInfo


class DuckDBEngine(Engine):
    name = "duckdb"

    def schema(self) -> Schema:
        return Schema.from_db(self.db)

    def rows(self, sql: str, params: list[Any]) -> list[tuple]:
        return self.db.rows(sql, params)

    def ids_into(
        self,
        sql: str,
        params: list[Any],
        con: duckdb.DuckDBPyConnection,
        table: str,
        *,
        numbered: bool = False,
    ) -> None:
        if numbered:
            sql = (
                "SELECT row_number() OVER (ORDER BY profile_id) AS rn, profile_id "
                f"FROM ({sql}) ORDER BY rn"
            )
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}", params)

    def sample_info(self) -> SampleInfo:
        return estimate.sample_info(self.db)

    def slice_options(self, index: int, info: SampleInfo) -> dict[str, Any]:
        # the sample tables hold each slice's profiles and their events, in slice order
        return {"tables": estimate.slice_tables(index)}

    def refresh(self, tx: duckdb.DuckDBPyConnection | None = None) -> None:
        estimate.refresh_sample(self.db, tx=tx)

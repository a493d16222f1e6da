"""The engine interface: what the service asks of whoever evaluates a segment.

Every query an engine receives is the compiler's portable SQL (DuckDB spelling,
``$n`` values, see ``compiler.dialects``); an engine runs it where the data is.
Results that outlive the call (a job's qualified pairs, a preview's ids) land in
a table of the workspace's DuckDB file, where memberships and pages are made, so
the rest of the service never needs to know which engine ran.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

import duckdb
from pydantic import BaseModel, ConfigDict

from segmentation.compiler import Schema
from segmentation.estimate import SampleInfo
from segmentation.store import Database

EngineName = Literal["duckdb", "spark"]


class EngineConfig(BaseModel):
    """The workspace's choice of engine, kept in ``workspace_meta`` as JSON."""

    model_config = ConfigDict(frozen=True)

    name: EngineName = "duckdb"
    master: str | None = None  # Spark: local[N], spark://host:port or sc://host:port
    data: str | None = None  # Spark: the folder holding profiles/ and events/ Parquet


class Engine(ABC):
    """Evaluates compiled queries over the profiles and events of one workspace."""

    name: ClassVar[str]
    tables: tuple[str, str] = ("profiles", "events")  # what the compiled SQL reads
    config: EngineConfig | None = None  # the setting it was opened from

    def __init__(self, db: Database) -> None:
        self.db = db  # the workspace: results land here

    @abstractmethod
    def schema(self) -> Schema:
        """The columns of profiles and events, in DuckDB type names (the compiler's)."""

    @abstractmethod
    def rows(self, sql: str, params: list[Any]) -> list[tuple]:
        """All rows of a small result (counts, breakdowns), fully fetched."""

    def count(self, sql: str, params: list[Any]) -> int:
        """The number of rows ``sql`` selects."""
        return int(self.rows(f"SELECT count(*) FROM ({sql})", params)[0][0])  # noqa: S608

    @abstractmethod
    def ids_into(
        self,
        sql: str,
        params: list[Any],
        con: duckdb.DuckDBPyConnection,
        table: str,
        *,
        numbered: bool = False,
    ) -> None:
        """The rows of ``sql`` as the temporary table ``table`` on the workspace
        connection ``con``; ``numbered`` adds ``rn``, 1.. in profile id order."""

    @abstractmethod
    def sample_info(self) -> SampleInfo:
        """How estimates sample: md5 buckets per slice and the profiles in each."""

    @abstractmethod
    def slice_options(self, index: int, info: SampleInfo) -> dict[str, Any]:
        """CompileOptions updates that make a query read only sample slice ``index``."""

    def refresh(self, tx: duckdb.DuckDBPyConnection | None = None) -> None:  # noqa: B027
        """After a load (in its transaction ``tx`` when given): rebuild whatever the
        engine derives from the data. Optional."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the engine holds (the workspace stays open)."""

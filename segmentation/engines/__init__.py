"""Who evaluates: the engine interface and its DuckDB and Spark implementations.

Definitions, jobs, memberships, schedules and tokens always stay in the
workspace's DuckDB file; an engine evaluates compiled segments over the profiles
and events data and lands what it finds in that file (see ``base.Engine``).
"""

from segmentation.engines.base import Engine, EngineConfig
from segmentation.engines.duckdb import DuckDBEngine

__all__ = ["DuckDBEngine", "Engine", "EngineConfig"]

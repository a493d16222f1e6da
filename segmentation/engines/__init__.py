"""Who evaluates: the engine interface and its DuckDB and Spark implementations.

Definitions, jobs, memberships, schedules and tokens always stay in the
workspace's DuckDB file; an engine evaluates compiled segments over the profiles
and events data and lands what it finds in that file (see ``base.Engine``).
"""

from segmentation.engines.base import Engine, EngineConfig
from segmentation.engines.duckdb import DuckDBEngine
from segmentation.store import Database


def open_engine(db: Database, config: EngineConfig) -> Engine:
    """The engine a configuration names (Spark is imported only when chosen)."""
    if config.name == "spark":
        from segmentation.engines.spark import SparkEngine

        engine: Engine = SparkEngine(db, config.master or "local[*]", config.data or ".")
    else:
        engine = DuckDBEngine(db)
    engine.config = config
    return engine


__all__ = ["DuckDBEngine", "Engine", "EngineConfig", "open_engine"]

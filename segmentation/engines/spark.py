"""Apache Spark: the same compiled segments, evaluated where the data lake is.

The data: ``<data>/profiles`` and ``<data>/events``, Parquet files (or folders of
them, as Spark writes). Spark reads them as temporary views; the workspace's
DuckDB file keeps definitions, jobs and memberships, and sees the same files
through views of its own (``attach_views``), so the catalog, search, preview
pages and exports read the data where it is.

Every query is the compiler's portable SQL turned into Spark SQL by
``compiler.dialects.to_spark`` (values inlined as typed literals). Results that
outlive a call are written by Spark once as Parquet under the data folder and
read into the workspace by DuckDB; a failure before that leaves the workspace
as it was. Spark's errors reach the user as one-line SegmentationErrors, never
as a JVM stack trace.
"""

# ruff: noqa: S608 - SQL text holds the compiler's SQL, checked identifiers and escaped paths

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import socket
import threading
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import duckdb
from sqlglot import exp

from segmentation import estimate
from segmentation.compiler import Schema
from segmentation.compiler.dialects import to_spark
from segmentation.compiler.sqlparts import bucket_sql
from segmentation.engines.base import Engine
from segmentation.errors import ConflictError, InvalidInputError, SegmentationError
from segmentation.estimate import SampleInfo
from segmentation.ingest_report import IngestReport
from segmentation.store import Database, check_memory_only, quote_ident

DATA_TABLES = ("profiles", "events")
RESULTS_FOLDER = "_segment_studio_results"
CONNECT_TIMEOUT_S = 5.0
_start_lock = threading.Lock()
# pyspark 4.3 warns on every start that it has not certified pandas 3: nothing a user can act on
warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)


class SparkError(SegmentationError):
    """Spark is missing, unreachable, or refused a query."""


def check_available() -> None:
    """pyspark importable and a Java runtime on the machine, or a clear error."""
    if importlib.util.find_spec("pyspark") is None:
        raise SparkError(
            "Spark is not installed: install the spark extra (pip install "
            "'segment-studio[spark]'), or switch back with `segmentation engine duckdb`."
        )
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and (Path(java_home) / "bin" / "java").exists()):
        raise SparkError(
            "Spark needs Java (17 or later) and none was found: install a JDK and put `java` "
            "on PATH (or set JAVA_HOME), or switch back with `segmentation engine duckdb`."
        )


def check_master(master: str) -> None:
    """A cluster URL must answer before Spark is asked to join it (Spark would retry
    for minutes); ``local[N]`` needs no network."""
    if master == "local" or master.startswith("local["):
        return
    url = urlparse(master)
    if url.scheme not in ("spark", "sc") or not url.hostname:
        raise InvalidInputError(
            f"Unknown Spark master {master!r}: use local[N], spark://host:7077 or sc://host:15002."
        )
    port = url.port or (15002 if url.scheme == "sc" else 7077)
    try:
        socket.create_connection((url.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise SparkError(
            f"The Spark cluster at {master} does not answer ({exc.strerror or exc}): "
            "check the address and that the cluster is running."
        ) from exc


def data_path(data: str | os.PathLike[str], table: str) -> Path | None:
    """``<data>/<table>`` as a Parquet folder or ``<table>.parquet``; None when absent."""
    for candidate in (Path(data) / table, Path(data) / f"{table}.parquet"):
        if candidate.is_file() or (candidate.is_dir() and any(candidate.rglob("*.parquet"))):
            return candidate
    return None


def _parquet_glob(path: Path) -> str:
    return str(path / "**" / "*.parquet") if path.is_dir() else str(path)


def _sql_string(text: str) -> str:
    """A path as an escaped SQL string literal (views cannot take parameters)."""
    return exp.Literal.string(text).sql(dialect="duckdb")


def attach_views(db: Database, data: str | os.PathLike[str]) -> None:
    """The workspace's ``profiles``/``events`` as DuckDB views of the Parquet under
    ``data`` (no view where there is no data)."""
    with db.write() as tx:
        for table in DATA_TABLES:
            tx.execute(f"DROP VIEW IF EXISTS {table}")
            found = data_path(data, table)
            if found is not None:
                tx.execute(
                    f"CREATE VIEW {table} AS SELECT * FROM "
                    f"read_parquet({_sql_string(_parquet_glob(found))}, union_by_name = true)"
                )


def own_tables(db: Database) -> list[str]:
    """The data tables the workspace file holds itself (not views of files)."""
    rows = db.rows(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_type = 'BASE TABLE' AND table_name IN ('profiles', 'events')"
    )
    return sorted(r[0] for r in rows)


def move_tables_to(db: Database, data: str | os.PathLike[str]) -> None:
    """Write the workspace's own data tables as Parquet under ``data`` (each to a
    temporary name first, then renamed), then replace them with views of the files."""
    for table in own_tables(db):
        target = Path(data) / table
        partial = Path(data) / f".{table}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        db.connection().execute(
            f"COPY {table} TO ? (FORMAT parquet)", [str(partial / "part-0.parquet")]
        )
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        os.replace(partial, target)
    with db.write() as tx:
        for table in own_tables(db):
            tx.execute(f"DROP TABLE {table}")
    attach_views(db, data)


def prepare_workspace(db: Database, engine: SparkEngine) -> None:
    """Before a workspace evaluates on Spark: its own data moves to Parquet under the
    data location (refused when both hold data: one would hide the other)."""
    mine = own_tables(db)
    theirs = [t for t in DATA_TABLES if data_path(engine.data, t) is not None]
    if mine and theirs:
        raise ConflictError(
            f"The workspace holds its own {' and '.join(mine)} and {engine.data} has "
            f"{' and '.join(theirs)} data too: use an empty data folder (the workspace's "
            "data moves there) or a new workspace for the data that is there."
        )
    if mine:
        move_tables_to(db, engine.data)
    else:
        attach_views(db, engine.data)


def ingest_to_parquet(
    db: Database,
    data: str | os.PathLike[str] | None,
    table: str,
    mode: str,
    run_ingest: Callable[[], IngestReport],
) -> IngestReport:
    """Ingest as usual into the workspace file, then move the table to Parquet under
    ``data``. An append starts from the files' rows; a failed load leaves the files
    (and the views of them) as they were."""
    if data is None:
        raise InvalidInputError("This Spark workspace has no data location: run `engine spark`.")
    with db.write() as tx:
        is_view = tx.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_name = ? AND table_type = 'VIEW'",
            [table],
        ).fetchone()[0]
        if is_view:
            if mode == "append":
                tx.execute(f"CREATE TABLE __ingest_base AS SELECT * FROM {table}")
                tx.execute(f"DROP VIEW {table}")
                tx.execute(f"ALTER TABLE __ingest_base RENAME TO {table}")
            else:
                tx.execute(f"DROP VIEW {table}")
    try:
        report = run_ingest()
    except BaseException:
        with db.write() as tx:
            tx.execute(f"DROP TABLE IF EXISTS {table}")
        attach_views(db, data)
        raise
    move_tables_to(db, data)
    return report


def spark_type(data_type: Any) -> str:
    """A Spark type as the DuckDB type name the compiler classifies."""
    from pyspark.sql import types as T

    simple = {
        T.StringType: "VARCHAR",
        T.LongType: "BIGINT",
        T.IntegerType: "INTEGER",
        T.ShortType: "SMALLINT",
        T.ByteType: "TINYINT",
        T.DoubleType: "DOUBLE",
        T.FloatType: "FLOAT",
        T.BooleanType: "BOOLEAN",
        T.DateType: "DATE",
        T.TimestampNTZType: "TIMESTAMP",
        T.TimestampType: "TIMESTAMP WITH TIME ZONE",
    }
    for cls, name in simple.items():
        if isinstance(data_type, cls):
            return name
    if isinstance(data_type, T.DecimalType):
        return f"DECIMAL({data_type.precision},{data_type.scale})"
    if isinstance(data_type, T.ArrayType):
        return f"{spark_type(data_type.elementType)}[]"
    if isinstance(data_type, T.MapType):
        return f"MAP({spark_type(data_type.keyType)}, {spark_type(data_type.valueType)})"
    if isinstance(data_type, T.StructType):
        fields = ", ".join(f"{quote_ident(f.name)} {spark_type(f.dataType)}" for f in data_type)
        return f"STRUCT({fields})"
    return data_type.simpleString().upper()


def _one_line(exc: BaseException) -> str:
    """The first line of a Spark error: its class and message, no JVM stack trace."""
    text = str(exc).strip().split("\n")[0].split("JVM stacktrace")[0].strip()
    return text[:500] or type(exc).__name__


class SparkEngine(Engine):
    name = "spark"

    def __init__(self, db: Database, master: str, data: str | os.PathLike[str]) -> None:
        super().__init__(db)
        check_available()
        self.master = master
        self.data = Path(data).resolve()
        if not self.data.is_dir():
            raise InvalidInputError(
                f"The Spark data location {self.data} is not a folder: create it, or point "
                "--data at the folder holding profiles/ and events/ Parquet."
            )
        # the views of one workspace, named apart from another's in the same session
        tag = uuid.uuid5(uuid.NAMESPACE_URL, str(self.data)).hex[:8]
        self.tables = (f"profiles_{tag}", f"events_{tag}")
        self._session: Any = None
        self._sample: SampleInfo | None = None
        self._lock = threading.Lock()

    # --- session -------------------------------------------------------------------

    def session(self) -> Any:
        """The process's SparkSession (started on first use), with this data's views."""
        check_memory_only()
        with self._lock:
            if self._session is None:
                self._session = _start_session(self.master)
                self._register()
            return self._session

    def _register(self) -> None:
        for view, table in zip(self.tables, DATA_TABLES, strict=True):
            found = data_path(self.data, table)
            if found is None:
                self._session.catalog.dropTempView(view)
                continue
            try:
                frame = self._session.read.parquet(str(found))
            except Exception as exc:
                raise SparkError(f"Spark cannot read {found}: {_one_line(exc)}") from exc
            frame.createOrReplaceTempView(view)

    def _frame(self, sql: str, params: list[Any]) -> Any:
        spark = self.session()
        text = to_spark(sql, params)
        try:
            return spark.sql(text)
        except Exception as exc:
            raise SparkError(f"Spark refused the query: {_one_line(exc)}") from exc

    # --- Engine ----------------------------------------------------------------------

    def schema(self) -> Schema:
        spark = self.session()
        columns = []
        for view in self.tables:
            if not spark.catalog.tableExists(view):
                columns.append(None)
                continue
            fields = spark.table(view).schema.fields
            columns.append({f.name: spark_type(f.dataType) for f in fields})
        return Schema.from_columns(*columns)

    def rows(self, sql: str, params: list[Any]) -> list[tuple]:
        frame = self._frame(sql, params)
        try:
            return [tuple(row) for row in frame.collect()]
        except Exception as exc:
            raise SparkError(f"Spark could not evaluate the query: {_one_line(exc)}") from exc

    def ids_into(
        self,
        sql: str,
        params: list[Any],
        con: duckdb.DuckDBPyConnection,
        table: str,
        *,
        numbered: bool = False,
    ) -> None:
        frame = self._frame(sql, params)
        out = self.data / RESULTS_FOLDER / uuid.uuid4().hex
        try:
            try:
                frame.write.parquet(str(out))
            except Exception as exc:
                raise SparkError(f"Spark could not evaluate the query: {_one_line(exc)}") from exc
            select = "SELECT * FROM read_parquet(?)"
            if numbered:
                select = (
                    "SELECT row_number() OVER (ORDER BY profile_id) AS rn, profile_id "
                    "FROM read_parquet(?) ORDER BY rn"
                )
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS {select}", [str(out / "*.parquet")]
            )
        finally:
            shutil.rmtree(out, ignore_errors=True)

    def sample_info(self) -> SampleInfo:
        if self._sample is not None:
            return self._sample
        profiles = self.tables[0]
        if self.schema().profile_columns is None:
            info = SampleInfo(buckets=None, total_profiles=0)
        else:
            total = self.count(f"SELECT profile_id FROM {profiles}", [])
            plan = estimate.sample_plan(total)
            if plan is None:
                info = SampleInfo(buckets=None, total_profiles=total)
            else:
                per, slices = plan
                bucket = bucket_sql("profile_id", "$1")
                counts = dict(
                    self.rows(
                        f"SELECT b // $2 AS s, count(*) FROM (SELECT {bucket} AS b FROM "
                        f"{profiles}) WHERE b < $2 * $3 GROUP BY 1",
                        [estimate.SAMPLE_BUCKETS, per, slices],
                    )
                )
                info = SampleInfo(
                    buckets=per,
                    slices=slices,
                    profiles=[int(counts.get(i, 0)) for i in range(slices)],
                    total_profiles=total,
                )
        self._sample = info
        return info

    def slice_options(self, index: int, info: SampleInfo) -> dict[str, Any]:
        per = info.buckets or estimate.SAMPLE_BUCKETS
        return {"sample": (index * per, (index + 1) * per, estimate.SAMPLE_BUCKETS)}

    def refresh(self, tx: duckdb.DuckDBPyConnection | None = None) -> None:
        self._sample = None
        if tx is not None:  # inside a load: its table moves to Parquet after the commit
            return
        attach_views(self.db, self.data)
        if self._session is not None:
            with self._lock:
                self._register()

    def close(self) -> None:
        self._session = None  # the session is the process's; other workspaces may use it


def _start_session(master: str) -> Any:
    """Join the running SparkSession, or start one for ``master``."""
    check_master(master)
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        # pyspark logs every failed query with its JVM stack trace to stderr; the
        # error itself reaches the user, as one line, through SparkError
        logging.getLogger(name).setLevel(logging.CRITICAL)
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    with _start_lock:
        if SparkContext._active_spark_context is not None:  # started here before (tests)
            return SparkSession.builder.getOrCreate()
        try:
            if master.startswith("sc://"):
                return SparkSession.builder.remote(master).getOrCreate()
            session = (
                SparkSession.builder.master(master)
                .appName("segment-studio")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.sql.session.timeZone", "UTC")
                .getOrCreate()
            )
            session.sparkContext.setLogLevel("ERROR")
            return session
        except Exception as exc:
            raise SparkError(f"Spark did not start on {master}: {_one_line(exc)}") from exc

"""The workspace file: one DuckDB database per file per process.

Each thread gets its own connection to the shared database instance (DuckDB
caches the instance per path inside a process), every result is fully fetched
before it leaves a method, and all writes go through one lock so that they are
applied one at a time, each in its own transaction.

DuckDB lets one process write a file, and in this process every write goes
through :meth:`Database.write`, which counts the transactions it commits
(``generation``). A value derived from stored rows (the workspace settings, the
tables' columns, a compiled query) is therefore current for as long as the
generation has not moved: :meth:`Database.memo` keeps such values per
generation, so that a request does not read them again on every call. Code run
under :func:`memory_only` may answer from such kept values only: its first
read of the file raises :class:`NotInMemory` (the API answers a GET on its event
loop that way, and on its thread pool when it must read the file).
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd

from segmentation.errors import SegmentationError, WorkspaceLockedError
from segmentation.holder import describe_pid
from segmentation.migrations import MIGRATIONS

DEFAULT_PATH = Path("workspace") / "segments.duckdb"
ENV_PATH = "SEGMENTATION_WORKSPACE"

T = TypeVar("T")
MEMO_SIZE = 256  # values kept by Database.memo, least recently used out
_MEMORY_ONLY: ContextVar[bool] = ContextVar("memory_only", default=False)
_LOCK_PATTERN = re.compile(r"Conflicting lock is held in (?P<prog>.*?) \(PID (?P<pid>\d+)\)")


def default_path() -> str:
    return os.environ.get(ENV_PATH, str(DEFAULT_PATH))


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB; inner double quotes are doubled."""
    return '"' + name.replace('"', '""') + '"'


class NotInMemory(Exception):
    """What runs under :func:`memory_only` needed to read the workspace."""


@contextmanager
def memory_only() -> Iterator[None]:
    """Inside, asking for a connection raises :class:`NotInMemory` instead of waiting on
    a query: code that answers from what is kept in memory runs to its end, anything
    else stops at its first read (before it changes anything) and can be run again
    where a wait does not hold others up."""
    token = _MEMORY_ONLY.set(True)
    try:
        yield
    finally:
        _MEMORY_ONLY.reset(token)


def check_memory_only() -> None:
    """Raise :class:`NotInMemory` under :func:`memory_only` (before any read of a file,
    a query or a wait on one: the workspace's, or another engine's)."""
    if _MEMORY_ONLY.get():
        raise NotInMemory


class Database:
    """A workspace database; use :meth:`open` so a process holds one per file."""

    _registry: dict[str, Database] = {}
    _registry_lock = threading.Lock()

    def __init__(self, path: str, *, memory_limit: str | None = None, threads: int | None = None):
        self.path = path
        self.is_memory = path == ":memory:" or path.startswith(":memory:")
        self._target = f":memory:ws_{uuid.uuid4().hex}" if path == ":memory:" else path
        self._config: dict[str, Any] = {}
        if memory_limit:
            self._config["memory_limit"] = memory_limit
        if threads:
            self._config["threads"] = threads
        if not self.is_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._config["temp_directory"] = str(Path(path).with_suffix(".tmp"))
        self._write_lock = threading.RLock()
        # thread -> its connection; Streamlit runs each rerun on a new thread, so
        # connections of finished threads are closed when the next one is made
        self._by_thread: dict[threading.Thread, duckdb.DuckDBPyConnection] = {}
        self._pool_lock = threading.Lock()
        self._extra: list[duckdb.DuckDBPyConnection] = []
        self._keepalive = self._connect()  # keeps the instance (and its cache) alive
        self.generation = 0  # committed write transactions so far (see the module doc)
        self._memo: OrderedDict[Hashable, tuple[int, Any]] = OrderedDict()
        self._memo_lock = threading.Lock()
        self._committed = threading.local()  # callbacks of this thread's open write
        self._migrate()

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, **config: Any) -> Database:
        """The process-wide database for ``path`` (a new one for ``:memory:``)."""
        key = str(path) if path is not None else default_path()
        if key == ":memory:":
            return cls(key, **config)
        key = str(Path(key).resolve())
        with cls._registry_lock:
            db = cls._registry.get(key)
            if db is None or db.closed:
                db = cls(key, **config)
                cls._registry[key] = db
            return db

    # --- connections ---------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._keepalive is None

    def _connect(self) -> duckdb.DuckDBPyConnection:
        try:
            con = duckdb.connect(self._target, config=self._config)
        except duckdb.IOException as exc:
            raise _translate_open_error(self.path, exc) from exc
        return con

    def connection(self) -> duckdb.DuckDBPyConnection:
        """This thread's own connection to the workspace."""
        check_memory_only()
        if self.closed:
            raise SegmentationError(f"The workspace {self.path} is closed.")
        thread = threading.current_thread()
        with self._pool_lock:
            con = self._by_thread.get(thread)
            if con is None:
                self._close_finished_threads()
                con = self._by_thread[thread] = self._connect()
        return con

    def new_connection(self) -> duckdb.DuckDBPyConnection:
        """A connection of the caller's own (closed with the database), for a
        component that keeps temporary tables across threads under its own lock."""
        check_memory_only()
        con = self._connect()
        with self._pool_lock:
            self._extra.append(con)
        return con

    def _close_finished_threads(self) -> None:
        for thread in [t for t in self._by_thread if not t.is_alive()]:
            with suppress(duckdb.Error):
                self._by_thread.pop(thread).close()

    def close(self) -> None:
        with self._pool_lock:
            connections = [*self._by_thread.values(), *self._extra, self._keepalive]
            self._by_thread.clear()
            self._extra.clear()
            self._keepalive = None
        for con in connections:
            if con is not None:
                with suppress(duckdb.Error):
                    con.close()

    # --- reading -------------------------------------------------------------------

    def rows(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
        return self.connection().execute(sql, params or []).fetchall()

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> tuple | None:
        rows = self.rows(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        row = self.one(sql, params)
        return row[0] if row else None

    def df(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        return self.connection().execute(sql, params or []).df()

    def table_exists(self, name: str) -> bool:
        return bool(
            self.scalar(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = 'main' AND table_name = ?",
                [name],
            )
        )

    def columns(self, table: str) -> list[tuple[str, str]]:
        """(name, type) of a table's columns in order; empty when it does not exist."""
        return [
            (r[0], r[1])
            for r in self.rows(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
                [table],
            )
        ]

    # --- writing -------------------------------------------------------------------

    @contextmanager
    def write(
        self, within: duckdb.DuckDBPyConnection | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """One serialized write transaction; rolled back whole on any error. ``within``
        an open one (this thread's), the work joins it: a load and what it derives
        commit together."""
        check_memory_only()  # before waiting on another thread's write
        if within is not None:
            yield within
            return
        with self._write_lock:
            con = self.connection()
            con.execute("BEGIN TRANSACTION")
            self._committed.callbacks = []
            try:
                yield con
            except BaseException:
                self._committed.callbacks = None
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
            self.generation += 1  # after the commit: a reader that saw it reads anew
            callbacks, self._committed.callbacks = self._committed.callbacks, None
            for callback in callbacks:
                callback()

    @property
    def in_write(self) -> bool:
        """Whether this thread is inside :meth:`write` (its reads see uncommitted rows)."""
        return getattr(self._committed, "callbacks", None) is not None

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the write transaction this thread is in commits, still
        under the write lock and with ``generation`` already moved (so it can remember
        what it wrote as current); never if the transaction rolls back."""
        if not self.in_write:
            raise RuntimeError("after_commit is for use inside db.write()")
        self._committed.callbacks.append(callback)

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, kept until the next committed write. The generation is read
        before computing, so a value computed while a write commits is not kept past it."""
        if self.in_write:  # it could see this transaction's own uncommitted rows
            return compute()
        generation = self.generation
        with self._memo_lock:
            hit = self._memo.get(key)
            if hit is not None and hit[0] == generation:
                self._memo.move_to_end(key)
                return hit[1]
        value = compute()  # outside the lock: two threads may compute it, both right
        with self._memo_lock:
            self._memo[key] = (generation, value)
            self._memo.move_to_end(key)
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        return value

    def _migrate(self) -> None:
        con = self.connection()
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER, applied_at TIMESTAMP DEFAULT current_timestamp)"
        )
        current = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
        for version, statements in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            with self.write() as tx:
                for statement in statements:
                    tx.execute(statement)
                tx.execute("INSERT INTO schema_version (version) VALUES (?)", [version])

    # --- workspace settings --------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        settings = self.memo(
            "workspace_meta", lambda: dict(self.rows("SELECT * FROM workspace_meta"))
        )
        value = settings.get(key)
        return default if value is None else value

    def set_meta(self, key: str, value: str, con: duckdb.DuckDBPyConnection | None = None) -> None:
        if con is None:
            with self.write() as tx:
                self.set_meta(key, value, tx)
            return
        con.execute("DELETE FROM workspace_meta WHERE key = ?", [key])
        con.execute("INSERT INTO workspace_meta VALUES (?, ?)", [key, value])


def _translate_open_error(path: str, exc: duckdb.IOException) -> SegmentationError:
    match = _LOCK_PATTERN.search(str(exc))
    if match:
        program = describe_pid(int(match["pid"])) or match["prog"]
        return WorkspaceLockedError(
            f"The workspace {path} is in use by another program: {program} "
            f"(PID {match['pid']}). DuckDB lets one program write a workspace at a time: "
            "stop that program, or use another workspace with --workspace."
        )
    return SegmentationError(f"Cannot open the workspace {path}: {exc}")

"""Export jobs: write the members of segments to CSV, Parquet or JSON files.

A job is validated before anything is recorded, then written with DuckDB
``COPY (SELECT ...) TO`` into a hidden ``.<name>.partial`` file inside the
exports folder and moved into place with :func:`os.replace`, so a reader never
sees half a file. A job is all or nothing: when it fails or is cancelled, the
files it had already finished are removed too.

File names are ``<export id>_<slug>.<ext>``, the slug made of ``[a-z0-9_-]``
from the segment name (or the export's name when combined), never raw user
text, and every path is checked to resolve inside the exports folder.

JSON is written newline-delimited (one object per line, ``.jsonl``): it streams,
appends, and reads back with ``pandas.read_json(path, lines=True)``.

Async jobs run one at a time on one worker thread (with its own DuckDB
connection); a cancel sets a flag checked between segments and interrupts the
COPY in progress.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import os
import re
import threading
import time
import unicodedata
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from segmentation.errors import ConflictError, InvalidInputError, NotFoundError
from segmentation.jobs import MembershipRun, current_runs
from segmentation.store import Database, quote_ident

Format = Literal["csv", "parquet", "json"]
MembershipStatus = Literal["realized", "existing", "exited"]
JobStatus = Literal["NEW", "PROCESSING", "SUCCEEDED", "FAILED", "CANCELLED"]
FINISHED: frozenset[str] = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})

EXTENSIONS: dict[str, str] = {"csv": "csv", "parquet": "parquet", "json": "jsonl"}
_COPY_OPTIONS: dict[str, str] = {
    "csv": "FORMAT csv, HEADER true",
    "parquet": "FORMAT parquet, COMPRESSION zstd",
    "json": "FORMAT json",  # newline-delimited
}
MAX_SLUG = 60
_ID_PATTERN = re.compile(r"exp-[0-9a-f]{12}")
_SEGMENT_COLUMN = "segment_id"
_MEMBERSHIP_COLUMNS = ("membership_status", "last_qualification_time")


class ExportRequest(BaseModel):
    """What to export; ``fields`` empty means every profile column."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    segments: list[str]
    fields: list[str] = Field(default_factory=list)
    format: Format = "csv"
    statuses: list[MembershipStatus] = Field(default_factory=lambda: ["realized", "existing"])
    qualified_after: dt.datetime | None = None  # inclusive
    qualified_before: dt.datetime | None = None  # exclusive
    combined: bool = True
    include_membership: bool = False  # add membership_status, last_qualification_time
    name: str | None = Field(default=None, max_length=200)  # only its slug reaches a path

    @field_validator("segments", "fields", "statuses")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("qualified_after", "qualified_before")
    @classmethod
    def _to_naive_utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        # memberships store naive UTC timestamps
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    @model_validator(mode="after")
    def _check(self) -> ExportRequest:
        if not self.segments:
            raise ValueError("choose at least one segment to export")
        if not self.statuses:
            raise ValueError("choose at least one membership status (realized, existing, exited)")
        if (
            self.qualified_after is not None
            and self.qualified_before is not None
            and self.qualified_after >= self.qualified_before
        ):
            raise ValueError(
                f"qualified_after ({self.qualified_after}) must be before "
                f"qualified_before ({self.qualified_before})"
            )
        return self


class ExportMetrics(BaseModel):
    profiles_exported: int = 0  # rows written: one per (segment, profile)
    files: int = 0
    seconds: float = 0.0
    bytes: int = 0
    # the job each segment's exported members come from, and its as-of
    runs: list[MembershipRun] = Field(default_factory=list)


class ExportJob(BaseModel):
    id: str
    status: JobStatus
    request: ExportRequest
    created_at: dt.datetime
    finished_at: dt.datetime | None = None
    metrics: ExportMetrics = Field(default_factory=ExportMetrics)
    files: list[str] = Field(default_factory=list)
    error: str | None = None


def slugify(text: str | None, fallback: str = "export") -> str:
    """``[a-z0-9_-]`` only, at most MAX_SLUG characters, never empty."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_-]+", "-", ascii_text.lower())
    slug = re.sub(r"-{2,}", "-", slug).strip("-_")[:MAX_SLUG].strip("-_")
    return slug or fallback


class _Cancelled(Exception):
    pass


@dataclass
class _Run:
    """In-process state of a job this manager is running or has queued."""

    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    con: duckdb.DuckDBPyConnection | None = None
    started: bool = False
    in_copy: bool = False


@dataclass(frozen=True)
class _Segment:
    id: str
    name: str


class ExportManager:
    """Create, run, list, cancel and clean up export jobs of one workspace."""

    def __init__(self, db: Database, exports_dir: Path | str) -> None:
        self.db = db
        self.exports_dir = Path(exports_dir).resolve()
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._executor: ThreadPoolExecutor | None = None

    # --- public --------------------------------------------------------------------------

    def create(self, request: ExportRequest | dict, run_async: bool = False) -> ExportJob:
        """Validate, record, then run the export (here, or on the worker thread)."""
        if not isinstance(request, ExportRequest):
            try:
                request = ExportRequest.model_validate(request)
            except ValueError as exc:
                raise InvalidInputError(f"Invalid export request: {exc}") from exc
        segments = self._validate(request)
        job = ExportJob(
            id=f"exp-{uuid.uuid4().hex[:12]}",
            status="NEW",
            request=request,
            created_at=_now(),
        )
        with self.db.write() as con:
            con.execute(
                "INSERT INTO exports (id, status, request, created_at, metrics, files) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    job.id,
                    job.status,
                    request.model_dump_json(),
                    job.created_at,
                    job.metrics.model_dump_json(),
                    "[]",
                ],
            )
        run = _Run()
        with self._lock:
            self._runs[job.id] = run
        if run_async:
            self._worker().submit(self._execute, job, segments, run)
            return job
        self._execute(job, segments, run)
        return self.get(job.id)

    def get(self, export_id: str) -> ExportJob:
        row = self.db.one(
            "SELECT id, status, request, created_at, finished_at, metrics, files, error "
            "FROM exports WHERE id = ?",
            [export_id],
        )
        if row is None:
            raise NotFoundError(f"No export job with id {export_id!r}.")
        return _job_from_row(row)

    def list(self, status: JobStatus | None = None, limit: int = 100) -> list[ExportJob]:
        """Newest first."""
        rows = self.db.rows(
            "SELECT id, status, request, created_at, finished_at, metrics, files, error "
            "FROM exports WHERE (? IS NULL OR status = ?) ORDER BY created_at DESC, id LIMIT ?",
            [status, status, limit],
        )
        return [_job_from_row(r) for r in rows]

    def cancel(self, export_id: str, timeout: float = 30.0) -> ExportJob:
        """Stop a queued or running job; it ends CANCELLED with no files left."""
        job = self.get(export_id)
        if job.status in FINISHED:
            raise ConflictError(f"export {export_id} already {job.status}; nothing to cancel")
        with self._lock:
            run = self._runs.get(export_id)
            queued = run is not None and not run.started
            if run is not None:
                run.cancel.set()
                if run.in_copy and run.con is not None:
                    run.con.interrupt()
        if run is not None and queued:
            self._finish(export_id, "CANCELLED", error="cancelled by request")
            run.done.set()  # the worker skips it when its turn comes
            return self.get(export_id)
        if run is None:
            # recorded as unfinished by a process that is gone: close it, drop its partials
            if _ID_PATTERN.fullmatch(export_id):
                _remove(list(self.exports_dir.glob(f".{export_id}_*.partial")))
            self._finish(export_id, "CANCELLED", error="cancelled (no running worker found)")
            return self.get(export_id)
        deadline = time.monotonic() + timeout
        while not run.done.wait(0.2) and time.monotonic() < deadline:
            # an interrupt sent just before the COPY started is lost: send again
            with self._lock:
                if run.in_copy and run.con is not None:
                    run.con.interrupt()
        return self.get(export_id)

    def wait(self, export_id: str, timeout: float | None = None) -> ExportJob:
        """The job once finished, or as it stands when ``timeout`` seconds pass."""
        with self._lock:
            run = self._runs.get(export_id)
        if run is not None:
            run.done.wait(timeout)
        return self.get(export_id)

    def delete_files(self, export_id: str) -> list[str]:
        """Remove a finished job's files (the job row stays); returns what was removed."""
        job = self.get(export_id)
        if job.status not in FINISHED:
            raise ConflictError(f"export {export_id} is {job.status}; cancel it first")
        removed = []
        for name in job.files:
            path = Path(name)
            if not self._inside(path):  # never trust a stored path blindly
                continue
            try:
                path.unlink()
                removed.append(name)
            except FileNotFoundError:
                pass
        with self.db.write() as con:
            con.execute("UPDATE exports SET files = '[]' WHERE id = ?", [export_id])
        return removed

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # --- validation ------------------------------------------------------------------------

    def _validate(self, request: ExportRequest) -> list[_Segment]:
        found = dict(
            self.db.rows(
                "SELECT id, name FROM definitions WHERE list_contains(?, id)",
                [request.segments],
            )
        )
        missing = [s for s in request.segments if s not in found]
        if missing:
            raise NotFoundError(
                "No segment definition with id "
                + ", ".join(repr(m) for m in missing)
                + " (deleted, or never saved)."
            )
        self._resolve_fields(request)
        return [_Segment(s, found[s] or s) for s in request.segments]

    def _resolve_fields(self, request: ExportRequest) -> list[str]:
        """The profile columns to write, profile_id first, in their stored spelling."""
        columns = [n for n, _ in self.db.columns("profiles")]
        if not columns:
            if any(f != "profile_id" for f in request.fields):
                raise InvalidInputError(
                    "There is no profiles table yet, so only profile_id can be exported."
                )
            return ["profile_id"]
        by_lower: dict[str, str] = {}
        for c in columns:
            by_lower.setdefault(c.lower(), c)
        out = ["profile_id"]
        for requested in request.fields or columns:
            actual = requested if requested in columns else by_lower.get(requested.lower())
            if actual is None:
                close = difflib.get_close_matches(requested, columns, n=1, cutoff=0.5)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise InvalidInputError(f"Unknown profile field {requested!r}{hint}")
            if actual not in out:
                out.append(actual)
        reserved = set()
        if request.combined:
            reserved.add(_SEGMENT_COLUMN)
        if request.include_membership:
            reserved.update(_MEMBERSHIP_COLUMNS)
        clash = [c for c in out if c.lower() in reserved]
        if clash:
            raise InvalidInputError(
                f"The profile field {clash[0]!r} has the name of a column the export adds; "
                "leave it out of fields."
            )
        return out

    # --- running ---------------------------------------------------------------------------

    def _worker(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export")
            return self._executor

    def _execute(self, job: ExportJob, segments: list[_Segment], run: _Run) -> None:
        written: list[Path] = []
        started = time.monotonic()
        with self._lock:
            if run.cancel.is_set():  # cancelled while queued: already recorded
                run.done.set()
                self._runs.pop(job.id, None)
                return
            run.started = True
        try:
            self._set_status(job.id, "PROCESSING")
            run.con = self.db.connection()
            self.exports_dir.mkdir(parents=True, exist_ok=True)
            fields = self._resolve_fields(job.request)  # again: the table may have changed
            rows = 0
            runs = current_runs(self.db, [s.id for s in segments])
            has_profiles = self.db.table_exists("profiles")
            for target, seg_ids in self._plan(job, segments):
                select, params = _select(job.request, fields, seg_ids, has_profiles)
                rows += self._copy(select, params, job.request.format, target, run)
                written.append(target)
            metrics = ExportMetrics(
                profiles_exported=rows,
                files=len(written),
                seconds=round(time.monotonic() - started, 3),
                bytes=sum(p.stat().st_size for p in written),
                runs=runs,
            )
            with self._lock:  # a cancel that got in first wins
                if run.cancel.is_set():
                    raise _Cancelled
                self._finish(job.id, "SUCCEEDED", metrics=metrics, files=written)
        except _Cancelled:
            _remove(written)
            self._finish(job.id, "CANCELLED", error="cancelled by request", started=started)
        except Exception as exc:
            _remove(written)
            if run.cancel.is_set():
                self._finish(job.id, "CANCELLED", error="cancelled by request", started=started)
            else:
                self._finish(job.id, "FAILED", error=_message(exc), started=started)
        finally:
            run.done.set()
            with self._lock:
                self._runs.pop(job.id, None)

    def _plan(self, job: ExportJob, segments: list[_Segment]) -> list[tuple[Path, list[str]]]:
        ext = EXTENSIONS[job.request.format]
        if job.request.combined:
            slug = slugify(job.request.name, "combined")
            return [(self._target(f"{job.id}_{slug}.{ext}"), [s.id for s in segments])]
        plan: list[tuple[Path, list[str]]] = []
        used: set[str] = set()
        for seg in segments:
            slug = slugify(seg.name, "segment")
            base, n = slug, 2
            while slug in used:  # two names may share a slug ("VIP!" and "vip?")
                slug, n = f"{base}-{n}", n + 1
            used.add(slug)
            plan.append((self._target(f"{job.id}_{slug}.{ext}"), [seg.id]))
        return plan

    def _target(self, filename: str) -> Path:
        path = (self.exports_dir / filename).resolve()
        if not self._inside(path) or path.parent != self.exports_dir:
            raise InvalidInputError(f"Refusing to write outside {self.exports_dir}: {filename!r}")
        return path

    def _inside(self, path: Path) -> bool:
        try:
            return path.resolve().is_relative_to(self.exports_dir)
        except (OSError, ValueError):
            return False

    def _copy(self, select: str, params: list[object], fmt: str, target: Path, run: _Run) -> int:
        partial = target.with_name(f".{target.name}.partial")
        con = run.con
        assert con is not None
        with self._lock:
            if run.cancel.is_set():
                raise _Cancelled
            run.in_copy = True
        try:
            # duckdb 2.0 binds the COPY target as a parameter (checked), so no
            # path is ever pasted into SQL text
            result = con.execute(
                f"COPY ({select}) TO ? ({_COPY_OPTIONS[fmt]})",
                [*params, str(partial)],
            ).fetchall()
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            with self._lock:
                run.in_copy = False
        if run.cancel.is_set():
            partial.unlink(missing_ok=True)
            raise _Cancelled
        os.replace(partial, target)
        return int(result[0][0]) if result else 0

    # --- bookkeeping -----------------------------------------------------------------------

    def _set_status(self, export_id: str, status: str) -> None:
        with self.db.write() as con:
            con.execute("UPDATE exports SET status = ? WHERE id = ?", [status, export_id])

    def _finish(
        self,
        export_id: str,
        status: str,
        *,
        metrics: ExportMetrics | None = None,
        files: list[Path] | None = None,
        error: str | None = None,
        started: float | None = None,
    ) -> None:
        if metrics is None:
            seconds = round(time.monotonic() - started, 3) if started is not None else 0.0
            metrics = ExportMetrics(seconds=seconds)
        with self.db.write() as con:
            con.execute(
                "UPDATE exports SET status = ?, finished_at = ?, metrics = ?, files = ?, "
                "error = ? WHERE id = ?",
                [
                    status,
                    _now(),
                    metrics.model_dump_json(),
                    json.dumps([str(p) for p in files or []]),
                    error,
                    export_id,
                ],
            )


def _select(
    request: ExportRequest, fields: list[str], segment_ids: list[str], has_profiles: bool
) -> tuple[str, list[object]]:
    """The members query: identifiers are checked columns, every value a parameter."""
    cols = ["m.profile_id AS profile_id"]
    if request.combined:
        cols.append(f"m.segment_id AS {_SEGMENT_COLUMN}")
    cols += [f"p.{quote_ident(f)}" for f in fields if f != "profile_id"]
    if request.include_membership:
        cols += [
            f"m.status AS {_MEMBERSHIP_COLUMNS[0]}",
            f"m.last_qualification_time AS {_MEMBERSHIP_COLUMNS[1]}",
        ]
    where = ["list_contains(?, m.segment_id)", "list_contains(?, m.status)"]
    params: list[object] = [segment_ids, list(request.statuses)]
    if request.qualified_after is not None:
        where.append("m.last_qualification_time >= ?")
        params.append(request.qualified_after)
    if request.qualified_before is not None:
        where.append("m.last_qualification_time < ?")
        params.append(request.qualified_before)
    # only members that are still profiles (a re-load may have dropped some)
    join = "JOIN profiles p ON p.profile_id = m.profile_id" if has_profiles else ""
    sql = (
        f"SELECT {', '.join(cols)} FROM memberships m {join} "  # noqa: S608
        f"WHERE {' AND '.join(where)} ORDER BY m.segment_id, m.profile_id"
    )
    return sql, params


def _job_from_row(row: tuple) -> ExportJob:
    id_, status, request, created_at, finished_at, metrics, files, error = row
    return ExportJob(
        id=id_,
        status=status,
        request=ExportRequest.model_validate_json(request),
        created_at=created_at,
        finished_at=finished_at,
        metrics=ExportMetrics.model_validate_json(metrics) if metrics else ExportMetrics(),
        files=json.loads(files) if files else [],
        error=error,
    )


def _remove(paths: list[Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def _message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)

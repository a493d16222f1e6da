"""Export jobs: write the members of segments to CSV, Parquet or JSON files.

A job is validated before anything is recorded, then written with DuckDB
``COPY (SELECT ...) TO`` into a hidden ``.<name>.partial`` file inside the
exports folder and moved into place with :func:`os.replace`, so a reader never
sees half a file. A job is all or nothing: when it fails or is cancelled, the
files it had already finished are removed too.

File names are ``<export id>_<slug>.<ext>``, the slug made of ``[a-z0-9_-]``
from the segment name (or the export's name when combined, else "combined"), never raw user
text, and every path is checked to resolve inside the exports folder.

JSON is written newline-delimited (one object per line, ``.jsonl``): it streams,
appends, and reads back with ``pandas.read_json(path, lines=True)``.

Exports are tasks of kind ``export`` (see ``tasks``): async ones run one at a
time on the export worker; a cancel sets a flag checked between segments and
interrupts the COPY in progress, and the files already written are removed. An
export left unfinished by a crash is FAILED on the next open, and its files and
``.partial`` files are removed then.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from segmentation.errors import ConflictError, InvalidInputError, NotFoundError
from segmentation.faults import crash_point
from segmentation.jobs import MembershipRun, current_runs
from segmentation.store import Database, quote_ident
from segmentation.tasks import FINISHED, Task, TaskContext, TaskRunner, TaskStatus
from segmentation.utc import naive_utc

Format = Literal["csv", "parquet", "json"]
MembershipStatus = Literal["realized", "existing", "exited"]
JobStatus = TaskStatus
KIND = "export"

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
        return None if value is None else naive_utc(value, "qualification time")

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
    progress: float = 0.0  # 0..1, while it runs


def slugify(text: str | None, fallback: str = "export") -> str:
    """``[a-z0-9_-]`` only, at most MAX_SLUG characters, never empty."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_-]+", "-", ascii_text.lower())
    slug = re.sub(r"-{2,}", "-", slug).strip("-_")[:MAX_SLUG].strip("-_")
    return slug or fallback


@dataclass(frozen=True)
class _Segment:
    id: str
    name: str


class ExportManager:
    """Create, run, list, cancel and clean up export jobs of one workspace."""

    def __init__(self, db: Database, exports_dir: Path | str, tasks: TaskRunner) -> None:
        self.db = db
        self.exports_dir = Path(exports_dir).resolve()
        self._tasks = tasks
        tasks.register(KIND, workers=1, queued=16, retry_after=5, on_recover=self._recovered)

    # --- public --------------------------------------------------------------------------

    def create(self, request: ExportRequest | dict, run_async: bool = False) -> ExportJob:
        """Validate, record, then run the export (here, or on the export worker)."""
        if not isinstance(request, ExportRequest):
            try:
                request = ExportRequest.model_validate(request)
            except ValueError as exc:
                raise InvalidInputError(f"Invalid export request: {exc}") from exc
        segments = self._validate(request)
        export_id = f"exp-{uuid.uuid4().hex[:12]}"
        payload = request.model_dump(mode="json")

        def write(ctx: TaskContext) -> dict:
            return self._execute(ctx, request, segments)

        if run_async:
            return _to_job(self._tasks.submit(KIND, write, payload=payload, task_id=export_id))
        return _to_job(self._tasks.run(KIND, write, payload=payload, task_id=export_id))

    def get(self, export_id: str) -> ExportJob:
        try:
            return _to_job(self._tasks.get(export_id, KIND))
        except NotFoundError:
            raise NotFoundError(f"No export job with id {export_id!r}.") from None

    def list(self, status: JobStatus | None = None, limit: int = 100) -> list[ExportJob]:
        """Newest first."""
        return [_to_job(t) for t in self._tasks.list(KIND, status=status, limit=limit)]

    def cancel(self, export_id: str, timeout: float = 30.0) -> ExportJob:
        """Stop a queued or running job; it ends CANCELLED with no files left."""
        job = self.get(export_id)
        try:
            self._tasks.cancel(export_id)
        except ConflictError:
            state = job.status if job.status in FINISHED else "finishing"
            raise ConflictError(f"export {export_id} already {state}; nothing to cancel") from None
        return self.wait(export_id, timeout)

    def wait(self, export_id: str, timeout: float | None = None) -> ExportJob:
        """The job once finished, or as it stands when ``timeout`` seconds pass."""
        self._tasks.wait(export_id, timeout)
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
        self._tasks.set_result(export_id, {"metrics": job.metrics.model_dump(), "files": []})
        return removed

    def _recovered(self, task: Task) -> None:
        """An export the last program did not finish (now FAILED): remove what it wrote."""
        if _ID_PATTERN.fullmatch(task.id):
            self._remove_files_of(task.id)

    def _remove_files_of(self, export_id: str) -> None:
        for pattern in (f"{export_id}_*", f".{export_id}_*.partial"):
            _remove([p for p in self.exports_dir.glob(pattern) if self._inside(p)])

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

    def _execute(self, ctx: TaskContext, request: ExportRequest, segments: list[_Segment]) -> dict:
        written: list[Path] = []
        started = time.monotonic()
        try:
            con = self.db.connection()
            self.exports_dir.mkdir(parents=True, exist_ok=True)
            fields = self._resolve_fields(request)  # again: the table may have changed
            rows = 0
            runs = current_runs(self.db, [s.id for s in segments])
            has_profiles = self.db.table_exists("profiles")
            plan = self._plan(ctx.id, request, segments)
            for n, (target, seg_ids) in enumerate(plan):
                ctx.progress(n / len(plan), f"Writing {target.name}")
                select, params = _select(request, fields, seg_ids, has_profiles)
                rows += self._copy(ctx, con, select, params, request.format, target)
                written.append(target)
                crash_point("export.file_written")
            metrics = ExportMetrics(
                profiles_exported=rows,
                files=len(written),
                seconds=round(time.monotonic() - started, 3),
                bytes=sum(p.stat().st_size for p in written),
                runs=runs,
            )
            ctx.point_of_no_return()  # a cancel that got in first wins
        except BaseException:
            _remove(written)  # all or nothing: no file of a failed or cancelled export
            raise
        return {"metrics": metrics.model_dump(mode="json"), "files": [str(p) for p in written]}

    def _plan(
        self, export_id: str, request: ExportRequest, segments: list[_Segment]
    ) -> list[tuple[Path, list[str]]]:
        ext = EXTENSIONS[request.format]
        if request.combined:
            # one segment and no name of its own: the file is named after the segment
            name = request.name or (segments[0].name if len(segments) == 1 else None)
            slug = slugify(name, "combined")
            return [(self._target(f"{export_id}_{slug}.{ext}"), [s.id for s in segments])]
        plan: list[tuple[Path, list[str]]] = []
        used: set[str] = set()
        for seg in segments:
            slug = slugify(seg.name, "segment")
            base, n = slug, 2
            while slug in used:  # two names may share a slug ("VIP!" and "vip?")
                slug, n = f"{base}-{n}", n + 1
            used.add(slug)
            plan.append((self._target(f"{export_id}_{slug}.{ext}"), [seg.id]))
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

    def _copy(
        self,
        ctx: TaskContext,
        con: duckdb.DuckDBPyConnection,
        select: str,
        params: list[object],
        fmt: str,
        target: Path,
    ) -> int:
        partial = target.with_name(f".{target.name}.partial")
        try:
            # duckdb 2.0 binds the COPY target as a parameter (checked), so no
            # path is ever pasted into SQL text
            with ctx.interruptible(con):
                result = con.execute(
                    f"COPY ({select}) TO ? ({_COPY_OPTIONS[fmt]})",
                    [*params, str(partial)],
                ).fetchall()
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, target)
        return int(result[0][0]) if result else 0


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


def _to_job(task: Task) -> ExportJob:
    result = task.result or {}
    return ExportJob(
        id=task.id,
        status=task.status,
        request=ExportRequest.model_validate(task.payload),
        created_at=task.created_at,
        finished_at=task.finished_at,
        metrics=ExportMetrics.model_validate(result.get("metrics") or {}),
        files=result.get("files") or [],
        error=task.error,
        progress=task.progress,
    )


def _remove(paths: list[Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def _message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)

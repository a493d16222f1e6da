"""Loading profiles and events from CSV or Parquet into the workspace.

The whole load is set-based SQL inside DuckDB: the file is read into a
connection-local staging table, role columns are renamed and converted, every
row gets at most one rejection reason in one pass (anti-joins and a window, no
Python row loops), and the good rows replace or extend the table in ONE write
transaction. Any error before that commit leaves the workspace as it was.

Rules a user can rely on (the data page repeats them):

- profiles: one row per ``profile_id``. A row without an id is rejected; of rows
  sharing an id the first in the file is kept and the later ones are rejected; on
  append, rows whose id is already loaded are rejected (the stored profile wins).
- events: a row without an id, without an event type, or whose timestamp is
  missing or cannot be read is rejected. Events of profiles that are not in the
  ``profiles`` table are rejected too ("unknown profile"), so every event belongs
  to a known person; when no profiles are loaded yet the check is skipped and the
  report says so.
- timestamps are stored as naive UTC: text with an offset (``Z``, ``+02:00``) and
  TIMESTAMPTZ columns are converted to UTC, text without one is taken as UTC,
  whole numbers are read as epoch seconds (milliseconds when >= 1e11).
- CSV text columns whose every value is a JSON array (``["a","b"]``) become
  ``VARCHAR[]``; Parquet lists are kept as they are. Dotted names are kept whole.
- ``shift_to_now`` (the demo uses it): event timestamps move by
  ``shift_to_now - max(timestamp)`` so the newest event is "now". DATE/TIMESTAMP
  profile columns whose name contains "signup" or "last" move by the same shift
  rounded to whole days: stored profiles are moved when events are loaded with a
  shift, and profiles loaded later with ``shift_to_now`` take the stored events
  shift (with no events yet, the days between their own newest such date and
  ``shift_to_now``; a later shifted events load then aligns them). The shifts are
  kept in ``workspace_meta``: ``events_time_shift_seconds``,
  ``profiles_time_shift_days`` (what the stored profiles have moved) and
  ``time_shift_to``.
- column types (``ingest_types``): chosen by the caller (``column_types``,
  ``date_format``), else the stored column's on append, else detected (numbers with
  decimal commas or thousands separators become numbers, with a warning). A value
  that does not fit rejects its row, naming the column; it never fails the file.
- rows that fail are reported with their 1-based data row (the header not
  counted); the first 20 are listed, all are counted per reason, and every one is
  written with its reason to the rejected-rows CSV (``rejects_dir``). If every row
  is rejected, or the file is unusable, ``InvalidInputError`` is raised and nothing
  changes. ``ingest_preview`` does all of this without storing anything.
- text values differing only by case or spaces from another value of their column
  (in the file or stored) are warned about, with both values.
- the file is a name, never a glob pattern; UTF-16 (with a BOM) is read; a file
  of blank lines, a header too wide, a line too long or two columns of one name
  are refused, saying which.
"""

# SQL text here carries identifiers (through quote_ident, after checking they exist) and
# our own constants only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import duckdb

from segmentation.catalog import kind_of, refresh_catalog
from segmentation.errors import InvalidInputError
from segmentation.faults import crash_point
from segmentation.ingest_report import (
    BAD_TIMESTAMP,
    DUPLICATE_ID,
    MAX_PREVIEW_ROWS,
    MAX_PROBLEMS,
    MISSING_EVENT_TYPE,
    MISSING_ID,
    MISSING_TIMESTAMP,
    UNKNOWN_PROFILE,
    ColumnInfo,
    IngestPreview,
    IngestReport,
    PreviewColumn,
    Problem,
    SimilarValue,
)
from segmentation.ingest_source import (
    SourceInfo,
    check_file,
    check_header_names,
    delimiter_hint,
    prepared,
    read_into,
    sniff,
)
from segmentation.ingest_types import (
    ColumnType,
    convert_expr,
    fits_expr,
    parse_column_types,
    separated_number_expr,
    strptime_format,
)
from segmentation.store import Database, quote_ident

__all__ = [
    "DEFAULT_MAX_BYTES",
    "UPLOAD_MAX_BYTES",
    "IngestPreview",
    "IngestReport",
    "Problem",
    "ingest",
]

# Files named by path (CLI, API) may be large; uploads through the dashboard are
# bounded lower, matching Streamlit's server.maxUploadSize.
DEFAULT_MAX_BYTES = 64 * 1024**3
UPLOAD_MAX_BYTES = 2 * 1024**3
TableName = Literal["profiles", "events"]
Derive = Callable[[duckdb.DuckDBPyConnection], None]
Mode = Literal["replace", "append"]

ID_COLUMN, EVENT_TYPE_COLUMN, TIMESTAMP_COLUMN = "profile_id", "eventType", "timestamp"
# Candidate names, compared case-insensitively, best first.
ID_CANDIDATES = [
    "profile_id", "profileid", "id", "customer_id", "customerid", "ecid",
    "identitymap.ecid", "identitymap.ecid.id", "identitymap", "user_id", "userid",
]  # fmt: skip
ID_FRAGMENTS = ["ecid", "identitymap"]
EVENT_TYPE_CANDIDATES = ["eventtype", "event_type", "type", "event", "name"]
TIMESTAMP_CANDIDATES = ["timestamp", "ts", "event_time", "time", "occurred_at"]
PROFILE_SHIFT_MARKERS = ("signup", "last")

META_EVENT_SHIFT = "events_time_shift_seconds"
META_PROFILE_SHIFT = "profiles_time_shift_days"
META_SHIFT_TO = "time_shift_to"

_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                  "USMALLINT", "UINTEGER", "UBIGINT"}  # fmt: skip
# Values of a text column looked at before scanning it whole for JSON arrays.
_PROBE_ROWS = 1000
# Offsets: Z, +02, +0200, +02:00 after a time of day.
_TZ_SUFFIX = r"\d:\d\d(:\d\d(\.\d+)?)?\s*([zZ]|[+-]\d\d(:?\d\d)?)$"
# ISO 8601 basic form (20260131T101500Z) and a decimal comma before the fraction
# (10:15:00,5Z): rewritten to the extended form the cast reads.
_ISO_BASIC = r"^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)?"
_ISO_COMMA = r"(\d:\d\d),(\d)"
# Text columns with more distinct values than this are not checked for near-duplicates
# ("Gold " vs "gold"): those are categories, not names or ids.
_SIMILAR_MAX_DISTINCT = 1000
_SIMILAR_PER_COLUMN = 10


@dataclass
class Roles:
    """Source column chosen for each role (None for event roles of a profiles load)."""

    id: str
    event_type: str | None = None
    timestamp: str | None = None

    def target(self, column: str) -> str | None:
        return {
            self.id: ID_COLUMN,
            self.event_type: EVENT_TYPE_COLUMN,
            self.timestamp: TIMESTAMP_COLUMN,
        }.get(column)


def ingest(
    db: Database,
    table: TableName,
    source: str | Path,
    *,
    mode: Mode = "replace",
    id_column: str | None = None,
    event_type_column: str | None = None,
    timestamp_column: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    shift_to_now: datetime | None = None,
    original_name: str | None = None,
    delimiter: str | None = None,
    column_types: dict[str, str] | None = None,
    date_format: str | None = None,
    rejects_dir: Path | None = None,
    derive: Derive | None = None,
) -> IngestReport:
    """Load ``source`` (CSV or Parquet) into ``profiles`` or ``events``; see the module doc.

    ``column_types`` sets a column's type by hand (``text``, ``number``, ``date``,
    ``timestamp``, ``boolean``; ``date:DD/MM/YYYY`` with a format); ``date_format``
    (``DD/MM/YYYY``, ``MM/DD/YYYY``, ...) is how the file writes dates. With
    ``rejects_dir``, the rejected rows are written there with the reason per row.
    ``derive(tx)`` rebuilds what the caller derives from the tables (flags, samples)
    inside the load's transaction, as the catalog is: a crash at any moment leaves the
    tables and everything derived from them in agreement."""
    report = _run(
        db, table, source, mode, id_column, event_type_column, timestamp_column, max_bytes,
        shift_to_now, original_name, delimiter, column_types, date_format, rejects_dir,
        write=True, derive=derive,
    )  # fmt: skip
    assert isinstance(report, IngestReport)
    return report


def ingest_preview(
    db: Database,
    table: TableName,
    source: str | Path,
    *,
    mode: Mode = "append",
    id_column: str | None = None,
    event_type_column: str | None = None,
    timestamp_column: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    original_name: str | None = None,
    delimiter: str | None = None,
    column_types: dict[str, str] | None = None,
    date_format: str | None = None,
    rejects_dir: Path | None = None,
    rows: int = MAX_PREVIEW_ROWS,
) -> IngestPreview:
    """Everything :func:`ingest` would do with these options, without storing anything:
    the parsed rows, each column's detected type, and every problem of the file."""
    preview = _run(
        db, table, source, mode, id_column, event_type_column, timestamp_column, max_bytes,
        None, original_name, delimiter, column_types, date_format, rejects_dir,
        write=False, preview_rows=rows,
    )  # fmt: skip
    assert isinstance(preview, IngestPreview)
    return preview


def _run(
    db: Database,
    table: TableName,
    source: str | Path,
    mode: Mode,
    id_column: str | None,
    event_type_column: str | None,
    timestamp_column: str | None,
    max_bytes: int,
    shift_to_now: datetime | None,
    original_name: str | None,
    delimiter: str | None,
    column_types: dict[str, str] | None,
    date_format: str | None,
    rejects_dir: Path | None,
    *,
    write: bool,
    preview_rows: int = 0,
    derive: Derive | None = None,
) -> IngestReport | IngestPreview:
    started = time.perf_counter()
    if table not in ("profiles", "events"):
        raise InvalidInputError(f"Unknown table {table!r}: choose 'profiles' or 'events'.")
    if mode not in ("replace", "append"):
        raise InvalidInputError(f"Unknown mode {mode!r}: choose 'replace' or 'append'.")
    name = original_name or Path(source).name
    path = check_file(source, max_bytes, name)
    fmt = strptime_format(date_format) if date_format else None
    con = db.connection()
    checked = f"__ingest_checked_{uuid.uuid4().hex[:12]}"
    try:
        with prepared(path, name) as (readable, notes):
            info = sniff(con, readable, name, delimiter)
            check_header_names(info, name)
            roles = _resolve_roles(
                table, info, name, id_column, event_type_column, timestamp_column
            )
            types = parse_column_types(column_types, date_format, info.names, name)
            existing = (
                dict(db.columns(table)) if mode == "append" and db.table_exists(table) else {}
            )
            load = _Load(db, con, table, mode, name, info, roles, existing, checked)
            load.types, load.date_format, load.notes = types, fmt, notes
            retry = {roles.timestamp: "VARCHAR"} if roles.timestamp else {}
            forced = _forced_types(info, roles, existing, types, fmt is not None)
            read_into(con, info, name, checked, forced, retry, load.build)
            rows_read = con.execute(f"SELECT count(*) FROM {quote_ident(checked)}").fetchone()[0]
            if rows_read == 0:
                what = "a header but no data rows" if info.format == "csv" else "no data rows"
                raise InvalidInputError(
                    f"{name} has {what} ({', '.join(info.names)}); nothing changed."
                )
            if mode == "replace" and db.table_exists(table):
                load.kept = _kept_types(con, checked, dict(db.columns(table)), types, fmt)
            load.apply_types()
            if not write:
                return load.preview(rows_read, started, rejects_dir, preview_rows)
            return load.run(rows_read, shift_to_now, started, rejects_dir, derive)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(checked)}")


# --- roles -----------------------------------------------------------------------------


def _resolve_roles(
    table: TableName,
    info: SourceInfo,
    name: str,
    id_column: str | None,
    event_type_column: str | None,
    timestamp_column: str | None,
) -> Roles:
    names = info.names
    found = ", ".join(repr(n) for n in names)
    hint = delimiter_hint(names)

    def pick(given: str | None, candidates: list[str], what: str, arg: str) -> str:
        lowered = {n.lower(): n for n in reversed(names)}
        if given is not None:
            if given.lower() in lowered:
                return lowered[given.lower()]
            raise InvalidInputError(
                f"{name} has no column {given!r} (given as {arg}). Columns found: {found}.{hint}"
            )
        for candidate in candidates:
            if candidate in lowered:
                return lowered[candidate]
        if what == "id":
            for column in names:
                if any(fragment in column.lower() for fragment in ID_FRAGMENTS):
                    return column
        raise InvalidInputError(
            f"{name} has no {what} column: looked for {', '.join(candidates)} "
            f"(any case). Columns found: {found}.{hint} Name the column with {arg}=..."
        )

    roles = Roles(id=pick(id_column, ID_CANDIDATES, "id", "id_column"))
    if table == "events":
        roles.event_type = pick(
            event_type_column, EVENT_TYPE_CANDIDATES, "event type", "event_type_column"
        )
        roles.timestamp = pick(
            timestamp_column, TIMESTAMP_CANDIDATES, "timestamp", "timestamp_column"
        )
        chosen = [roles.id, roles.event_type, roles.timestamp]
        if len(set(chosen)) < 3:
            raise InvalidInputError(
                f"{name}: one column cannot play two roles (id {roles.id!r}, event type "
                f"{roles.event_type!r}, timestamp {roles.timestamp!r}); name them explicitly."
            )
    targets = {ID_COLUMN.lower(), EVENT_TYPE_COLUMN.lower(), TIMESTAMP_COLUMN.lower()}
    for column in names:
        if roles.target(column) is None and column.lower() in targets & _role_targets(table):
            raise InvalidInputError(
                f"{name} has a column {column!r} besides the one chosen for that role; "
                f"rename it in the file or choose it as the role column."
            )
    return roles


def _role_targets(table: TableName) -> set[str]:
    if table == "profiles":
        return {ID_COLUMN.lower()}
    return {ID_COLUMN.lower(), EVENT_TYPE_COLUMN.lower(), TIMESTAMP_COLUMN.lower()}


def _forced_types(
    info: SourceInfo,
    roles: Roles,
    existing: dict[str, str],
    types: dict[str, ColumnType],
    has_date_format: bool,
) -> dict[str, str]:
    """CSV columns read as text: id and event type, columns already stored as text (so
    "007" stays "007" rather than passing through an integer), columns whose type the
    caller chose (converted from their text here), and, with a date format given, the
    columns the reader took for dates (its guess of the format may be the other one).
    The timestamp column is left to the reader's fast typed parsing unless that fails
    (see ``read_into``)."""
    if info.format != "csv":
        return {}
    stored_text = {n.lower() for n, t in existing.items() if t == "VARCHAR"}
    detected = dict(info.columns)
    return {
        column: "VARCHAR"
        for column in info.names
        if roles.target(column) in (ID_COLUMN, EVENT_TYPE_COLUMN)
        or column.lower() in stored_text
        or column in types
        or (has_date_format and detected[column] in ("DATE", "TIMESTAMP"))
    }


def _kept_types(
    con: duckdb.DuckDBPyConnection,
    checked: str,
    stored: dict[str, str],
    chosen: dict[str, ColumnType],
    date_format: str | None,
) -> dict[str, str]:
    """On replace, the stored type of each column that the file alone reads as text but
    whose values mostly fit that type: one bad date among good ones made the whole
    column text (and every saved segment comparing it failed); now the bad rows are
    rejected, as on append. A type the caller chose wins; a column whose values mostly
    do not fit becomes text, as the file says."""
    text_columns = [
        name
        for name, kind, *_ in con.execute(f"DESCRIBE {quote_ident(checked)}").fetchall()
        if kind == "VARCHAR" and stored.get(name, "VARCHAR") != "VARCHAR" and name not in chosen
    ]
    kept = {}
    for name in text_columns:
        col, target = quote_ident(name), stored[name]
        given, fitting = con.execute(
            f"SELECT count(nullif(trim({col}), '')), "
            f"count({fits_expr(col, target, date_format)}) FROM {quote_ident(checked)}"
        ).fetchone()
        if given and fitting * 2 > given:
            kept[name] = target
    return kept


# --- the load --------------------------------------------------------------------------


class _Load:
    """One load: the checked table, then the write; a class only to share the many inputs."""

    def __init__(
        self,
        db: Database,
        con: duckdb.DuckDBPyConnection,
        table: TableName,
        mode: Mode,
        name: str,
        info: SourceInfo,
        roles: Roles,
        existing: dict[str, str],
        checked: str,
    ) -> None:
        self.db, self.con, self.table, self.mode, self.name = db, con, table, mode, name
        self.info, self.roles, self.existing = info, roles, existing
        self.kept: dict[str, str] = {}  # replace: stored types the file's columns keep
        self.checked = quote_ident(checked)
        self.source_types: dict[str, str] = {}
        self.list_columns: set[str] = set()
        self.has_ts_text = False
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self.types: dict[str, ColumnType] = {}
        self.date_format: str | None = None
        # column -> the format its dates were read with, for the preview
        self.formats: dict[str, str] = {}
        self.similar: list[SimilarValue] = []
        # SQL of a rejected row's own (role) reason, its column, value and detail, and
        # of the list of its values that do not fit their column (see apply_types)
        self.reason_parts = ("__reason", "__column", "__value", "__detail")
        self.cells: str | None = None
        self.raw: dict[str, str] = {}  # converted column -> its text in rejected rows
        # The 1-based data row. Events are read straight into the checked table, whose
        # rowids follow the file (insertion order is kept), so no window is needed;
        # profiles number rows in the read, as the duplicate check orders by it.
        self.row = "(rowid + 1)" if table == "events" else "__row"

    # -- building the checked table --

    def run(
        self,
        rows_read: int,
        shift_to_now: datetime | None,
        started: float,
        rejects_dir: Path | None,
        derive: Derive | None,
    ) -> IngestReport:
        counts = self._counts()
        rejected = self._rejected()
        problems = self._problems()
        if rejected == rows_read:
            listed = "\n".join(f"  row {p.row}, column {p.column!r}: {p.reason} "
                               f"({p.value!r})" for p in problems[:5])  # fmt: skip
            raise InvalidInputError(
                f"Every row of {self.name} was rejected ({_counts_text(counts)}); "
                f"nothing changed.\n{listed}"
            )
        final_types = self._final_types()
        self._similar_values()
        shift = self._event_shift(shift_to_now)
        profile_days = self._profile_shift_days(shift_to_now)
        load_id = uuid.uuid4().hex
        rejects_file = self._write_rejects(rejects_dir, load_id) if rejected else None
        with self.db.write() as tx:
            self._write(tx, final_types, shift, profile_days)
            loaded = rows_read - rejected
            tx.execute(
                "INSERT INTO loads VALUES ($id, $t, $m, $s, $r, $l, $j, $at)",
                {"id": load_id, "t": self.table, "m": self.mode, "s": self.name,
                 "r": rows_read, "l": loaded, "j": rejected, "at": _utcnow()},
            )  # fmt: skip
            self._record_shifts(tx, shift, profile_days, shift_to_now)
            self._orphan_warning(tx)
            crash_point("ingest.written")
            refresh_catalog(self.db, tx)
            if derive is not None:
                derive(tx)
            crash_point("ingest.derived")
        crash_point("ingest.committed")
        return IngestReport(
            table=self.table,
            mode=self.mode,
            source=self.name,
            load_id=load_id,
            rows_read=rows_read,
            rows_loaded=loaded,
            rows_rejected=rejected,
            problems=problems,
            problem_counts=counts,
            columns=[ColumnInfo(name=n, type=t) for n, t in self.db.columns(self.table)],
            elapsed_seconds=round(time.perf_counter() - started, 3),
            warnings=self.notes + self.warnings,
            similar_values=self.similar,
            rejected_rows_file=rejects_file,
            time_shift_seconds=shift.total_seconds() if shift is not None else None,
        )

    def preview(
        self, rows_read: int, started: float, rejects_dir: Path | None, limit: int
    ) -> IngestPreview:
        """What :meth:`run` would store, without writing: parsed rows and column types."""
        counts = self._counts()
        rejected = self._rejected()
        self._similar_values()
        final_types = self._final_types()
        select, params = self._select_list(final_types, None, None)
        result = self.con.execute(
            f"SELECT {select} FROM {self.checked} WHERE __reason IS NULL "
            f"ORDER BY {self.row} LIMIT {int(limit)}",
            params,
        )
        names = [d[0] for d in result.description]
        rows = [dict(zip(names, values, strict=True)) for values in result.fetchall()]
        columns = []
        sources = {self.roles.target(c) or self._stored_name(c): c for c in self.source_types}
        for column, sql_type in final_types.items():
            source = sources.get(column, column)
            chosen = self.types.get(source)
            columns.append(
                PreviewColumn(
                    name=column,
                    source=source,
                    role=_role_name(self.roles.target(source)),
                    type=sql_type,
                    kind=kind_of(sql_type),
                    date_format=self.formats.get(column),
                    chosen=chosen.kind if chosen else None,
                    stored_type=self.existing.get(column),
                )
            )
        return IngestPreview(
            table=self.table,
            mode=self.mode,
            source=self.name,
            rows_read=rows_read,
            rows_to_load=rows_read - rejected,
            rows_rejected=rejected,
            columns=columns,
            rows=rows,
            problems=self._problems(),
            problem_counts=counts,
            warnings=self.notes + self.warnings,
            similar_values=self.similar,
            rejected_rows_file=(
                self._write_rejects(rejects_dir, f"preview-{uuid.uuid4().hex[:12]}")
                if rejected
                else None
            ),
            elapsed_seconds=round(time.perf_counter() - started, 3),
        )

    def _counts(self) -> dict[str, int]:
        """Rows per reason; a row with several problems counts under each."""
        role = self.reason_parts[0]
        if self.cells is None:
            reasons = f"[{role}]"
        else:
            reasons = f"list_prepend({role}, list_transform({self.cells}, lambda x: x.reason))"
        return dict(
            self.con.execute(
                f"SELECT r, count(*) FROM (SELECT unnest(list_distinct(list_filter({reasons}, "
                f"lambda x: x IS NOT NULL))) AS r FROM {self.checked} WHERE __reason IS NOT NULL) "
                "GROUP BY 1"
            ).fetchall()
        )

    def _rejected(self) -> int:
        return self.con.execute(
            f"SELECT count(*) FROM {self.checked} WHERE __reason IS NOT NULL"
        ).fetchone()[0]

    def build(self, reader: str, reader_params: dict, source_types: dict[str, str]) -> None:
        """CREATE the checked table: role columns renamed and converted, the data row
        (``self.row``: for profiles a ``__row`` column numbered straight off the reader,
        before any join reorders rows; for events the rowid) and ``__reason`` (NULL for
        a good row)."""
        self.source_types = source_types
        self.warnings = []  # built afresh when the file is read a second time
        params = dict(reader_params)
        selects = []
        ordered = sorted(source_types, key=lambda c: _role_order(self.roles.target(c)))
        for column in ordered:
            target = self.roles.target(column) or self._stored_name(column)
            source = quote_ident(column)
            if target in (ID_COLUMN, EVENT_TYPE_COLUMN):
                expr = f"CAST({source} AS VARCHAR)"
            elif target == TIMESTAMP_COLUMN:
                expr = self._timestamp_expr(source, source_types[column], params)
            else:
                expr = source
            selects.append(f"{expr} AS {quote_ident(target)}")
        # The text of a timestamp column tells "missing" from "unreadable" apart.
        self.has_ts_text = (
            bool(self.roles.timestamp) and source_types[self.roles.timestamp] == "VARCHAR"
        )
        if self.has_ts_text:
            selects.append(f"{quote_ident(self.roles.timestamp)} AS __ts_raw")
        reason, check_known = self._reason_expr()
        if self.table == "events":
            # Only row-wise expressions here, so the rows keep the file order; the
            # unknown-profile check (a join, which may reorder) follows as an UPDATE.
            sql = (
                f"CREATE TEMP TABLE {self.checked} AS "
                f"SELECT *, {reason} AS __reason FROM ("
                f"SELECT {', '.join(selects)} FROM {reader})"
            )
        else:
            sql = (
                f"CREATE TEMP TABLE {self.checked} AS "
                f"SELECT *, {reason} AS __reason FROM ("
                f"SELECT __row, {', '.join(selects)} FROM ("
                f"SELECT row_number() OVER () AS __row, * FROM {reader}))"
            )
        self.con.execute(sql, params)
        if check_known:
            self.con.execute(
                f"UPDATE {self.checked} SET __reason = '{UNKNOWN_PROFILE}' "
                f"WHERE __reason IS NULL AND {quote_ident(ID_COLUMN)} NOT IN "
                "(SELECT profile_id FROM profiles WHERE profile_id IS NOT NULL)"
            )

    def apply_types(self) -> None:
        """Give every column its final type (see ``ingest_types``) in one rewrite of the
        checked table; a value that does not convert rejects its row, naming the column.
        The same pass names the column and value behind every row's reason."""
        sources = {self.roles.target(c) or self._stored_name(c): c for c in self.source_types}
        self.list_columns = {
            c for c in self._json_list_columns() if sources.get(c, c) not in self.types
        }
        replaced: dict[str, str] = {}
        failures: list[tuple[str, str, str, str]] = []  # column, converted, reason, detail
        for column, current in self._checked_types().items():
            source = sources.get(column, column)
            if self.roles.target(source) is not None or column in self.list_columns:
                continue
            col = quote_ident(column)
            chosen = self.types.get(source)
            stored = self.existing.get(column) or self.kept.get(column)
            if chosen is not None:
                expr = convert_expr(col, chosen)
                if chosen.format:
                    self.formats[column] = _readable_format(chosen.format)
                failures.append((column, expr, f"not a {chosen.kind}", _expected(chosen)))
            elif stored is not None and stored != current:
                expr = fits_expr(col, stored, self.date_format)
                if self.date_format and kind_of(stored) in ("date", "timestamp"):
                    self.formats[column] = _readable_format(self.date_format)
                what, detail = _kind_words(stored), f"{column!r} holds {stored}"
                if column in self.formats:
                    detail += f", read as {self.formats[column]}"
                failures.append((column, expr, f"not a {what}", detail))
            elif current == "VARCHAR" and stored is None:
                expr = self._detected_expr(column)
                if expr is None:
                    continue
            else:
                continue
            replaced[column] = expr
        for column in self._checked_types():
            if column in self.formats or column in replaced:
                continue
            if (
                self.info.date_format
                and dict(self.source_types).get(sources.get(column, "")) == "DATE"
            ):
                self.formats[column] = _readable_format(self.info.date_format)
        role_column = {
            MISSING_ID: self.roles.id,
            DUPLICATE_ID: self.roles.id,
            UNKNOWN_PROFILE: self.roles.id,
            MISSING_EVENT_TYPE: self.roles.event_type,
            MISSING_TIMESTAMP: self.roles.timestamp,
            BAD_TIMESTAMP: self.roles.timestamp,
        }
        ts_text = self._ts_text()
        role_value = {
            MISSING_EVENT_TYPE: quote_ident(EVENT_TYPE_COLUMN),
            MISSING_TIMESTAMP: ts_text,
            BAD_TIMESTAMP: ts_text,
        }
        column_base = _case_of_reason(
            {r: _sql_literal(c) for r, c in role_column.items() if c}, "NULL"
        )
        value_base = _case_of_reason(
            role_value if self.table == "events" else {},
            f"CAST({quote_ident(ID_COLUMN)} AS VARCHAR)",
        )
        detail_base = _case_of_reason(
            {UNKNOWN_PROFILE: "'no profile with this id in profiles'"}, "NULL"
        )

        if not replaced and not failures:
            # Nothing to convert: spare the table a rewrite (a large events file would be
            # copied whole); the reasons' columns and values are computed when listed.
            self.reason_parts = ("__reason", column_base, value_base, detail_base)
            return
        # Every value of a row that does not fit its column, so that one report (and the
        # rejected-rows file) lists all of a row's problems, not the first one only.
        cells = ", ".join(
            f"CASE WHEN nullif(trim(CAST({quote_ident(c)} AS VARCHAR)), '') IS NOT NULL "
            f"AND ({e}) IS NULL THEN {{'column': {_sql_literal(sources.get(c, c))}, "
            f"'reason': {_sql_literal(r)}, 'value': CAST({quote_ident(c)} AS VARCHAR), "
            f"'detail': {_sql_literal(d)}}} END"
            for c, e, r, d in failures
        )
        cells_sql = f"list_filter([{cells}], lambda x: x IS NOT NULL)" if failures else "NULL"
        reason = f"coalesce(__reason, ({cells_sql})[1].reason)" if failures else "__reason"
        self.raw = {c: f"__raw_{i}" for i, c in enumerate(replaced)}
        raws = [
            f"CASE WHEN ({reason}) IS NOT NULL THEN CAST({quote_ident(c)} AS VARCHAR) END "
            f"AS {self.raw[c]}"
            for c in replaced
        ]
        replaces = [f"{e} AS {quote_ident(c)}" for c, e in replaced.items()]
        extra = [
            "__reason AS __role_reason",
            f"{column_base} AS __column",
            f"{value_base} AS __value",
            f"{detail_base} AS __detail",
            f"{cells_sql} AS __cells",
            *raws,
        ]
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {self.checked} AS SELECT * REPLACE ("
            + ", ".join([*replaces, f"{reason} AS __reason"])
            + f"), {', '.join(extra)} FROM {self.checked}"
        )
        self.reason_parts = ("__role_reason", "__column", "__value", "__detail")
        self.cells = "__cells" if failures else None

    def _detected_expr(self, column: str) -> str | None:
        """A text column that is really dates in the given format, or numbers written with
        decimal commas / thousands separators: the converting SQL (with a warning)."""
        col = quote_ident(column)
        text = f"nullif(trim({col}), '')"
        comma_first = (self.info.delimiter or ",") != ","
        number = separated_number_expr(text, decimal_comma_first=comma_first)
        tests = [f"count({text})", f"count(*) FILTER ({text} IS NOT NULL AND ({number}) IS NULL)"]
        date_sql = None
        if self.date_format:
            kind = "TIMESTAMP" if "%H" in self.date_format else "DATE"
            date_sql = f"CAST(try_strptime({text}, '{self.date_format}') AS {kind})"
            tests.append(f"count(*) FILTER ({text} IS NOT NULL AND ({date_sql}) IS NULL)")
        found = self.con.execute(f"SELECT {', '.join(tests)} FROM {self.checked}").fetchone()
        if not found[0]:
            return None
        if date_sql is not None and found[2] == 0:
            self.formats[column] = _readable_format(self.date_format or "")
            return date_sql
        if found[1] == 0:
            example, value = self.con.execute(
                f"SELECT {col}, {number} FROM {self.checked} WHERE {text} IS NOT NULL "
                f"AND NOT regexp_full_match({text}, '[+-]?[0-9]+') LIMIT 1"
            ).fetchone() or (None, None)
            if example is not None:
                self.warnings.append(
                    f"Column {column!r} holds numbers written with separators "
                    f"(e.g. {example!r} read as {value:g}); it was loaded as numbers. "
                    f"If it is text, load it with column_types={{{column!r}: 'text'}}."
                )
            return number
        return None

    def _stored_name(self, column: str) -> str:
        """Appending matches names case-insensitively (as DuckDB does); keep the stored one."""
        for stored in self.existing:
            if stored.lower() == column.lower():
                return stored
        return column

    def _timestamp_expr(self, source: str, source_type: str, params: dict) -> str:
        kind = source_type.upper()
        if kind in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
            return f"timezone('UTC', {source})"
        if kind.startswith("TIMESTAMP") or kind == "DATE":
            return f"CAST({source} AS TIMESTAMP)"
        if kind in _INTEGER_TYPES:
            return _epoch_expr(f"CAST({source} AS BIGINT)")
        # Any ISO 8601 form: a lowercase "z" or "t", the basic form, a decimal comma.
        value = (
            f"regexp_replace(regexp_replace(upper(trim(CAST({source} AS VARCHAR))), "
            "$iso_basic, '\\1-\\2-\\3T\\4:\\5:\\6'), $iso_comma, '\\1.\\2')"
        )
        params.update(tz_suffix=_TZ_SUFFIX, iso_basic=_ISO_BASIC, iso_comma=_ISO_COMMA)
        raw = f"trim(CAST({source} AS VARCHAR))"
        parsers = [
            f"try_cast({value} AS TIMESTAMP)",
            f"CASE WHEN regexp_full_match({value}, '-?[0-9]{{9,13}}') "
            f"THEN {_epoch_expr(f'try_cast({value} AS BIGINT)')} END",
        ]
        chosen = self.types.get(self.roles.timestamp or "")
        for key, fmt in (
            ("ts_chosen_format", chosen.format if chosen else None),
            ("ts_given_format", self.date_format),
            ("ts_format", self.info.timestamp_format),
            ("date_format", self.info.date_format),
        ):
            if fmt:
                params[key] = fmt
                parsers.append(f"CAST(try_strptime({raw}, ${key}) AS TIMESTAMP)")
        return (
            f"CASE WHEN regexp_matches({value}, $tz_suffix) "
            f"THEN timezone('UTC', try_cast({value} AS TIMESTAMPTZ)) "
            f"ELSE coalesce({', '.join(parsers)}) END"
        )

    def _reason_expr(self) -> tuple[str, bool]:
        """The row-wise CASE giving each row's first rejection reason, and whether the
        events still need the unknown-profile check (done after the read)."""
        pid = quote_ident(ID_COLUMN)
        whens = [f"WHEN {pid} IS NULL OR trim({pid}) = '' THEN '{MISSING_ID}'"]
        has_profiles = self.db.table_exists("profiles") and bool(
            self.con.execute("SELECT count(*) > 0 FROM profiles").fetchone()[0]
        )
        known = f"{pid} IN (SELECT profile_id FROM profiles WHERE profile_id IS NOT NULL)"
        check_known = False
        if self.table == "events":
            et, ts = quote_ident(EVENT_TYPE_COLUMN), quote_ident(TIMESTAMP_COLUMN)
            whens += [
                f"WHEN {et} IS NULL OR trim({et}) = '' THEN '{MISSING_EVENT_TYPE}'",
                f"WHEN __ts_raw IS NULL OR trim(__ts_raw) = '' THEN '{MISSING_TIMESTAMP}'"
                if self.has_ts_text
                else f"WHEN {ts} IS NULL THEN '{MISSING_TIMESTAMP}'",
                f"WHEN {ts} IS NULL THEN '{BAD_TIMESTAMP}'",
            ]
            check_known = has_profiles
            if not has_profiles:
                self.warnings.append(
                    "No profiles are loaded yet, so events were not checked against profiles; "
                    "load profiles first to reject events of unknown people."
                )
        else:
            if self.mode == "append" and has_profiles:
                whens.append(f"WHEN {known} THEN '{DUPLICATE_ID}'")
            whens.append(
                f"WHEN row_number() OVER (PARTITION BY {pid} ORDER BY __row) > 1 "
                f"THEN '{DUPLICATE_ID}'"
            )
        return "CASE " + " ".join(whens) + " END", check_known

    def _json_list_columns(self) -> set[str]:
        """CSV text columns whose every non-empty value is a JSON array."""
        if self.info.format != "csv":
            return set()
        roles = {ID_COLUMN, EVENT_TYPE_COLUMN, TIMESTAMP_COLUMN}
        candidates = [
            c
            for c, t in self._checked_types().items()
            if t == "VARCHAR" and c not in roles
            and self.existing.get(c, "VARCHAR[]") == "VARCHAR[]"
        ]  # fmt: skip
        if not candidates:
            return set()

        def all_of(test: str) -> str:
            return ", ".join(
                f"count({quote_ident(c)}) > 0 AND bool_and({quote_ident(c)} IS NULL OR "
                f"{test.format(c=quote_ident(c))})"
                for c in candidates
            )

        bracketed_sql = "(starts_with({c}, '[') AND ends_with({c}, ']'))"
        # Most text columns give themselves away in their first values; a probe that
        # stops early spares them the full scans below (which stay the real test).
        candidates = [
            c for c in candidates if self._probe(bracketed_sql.format(c=quote_ident(c)), c)
        ]
        if not candidates:
            return set()
        bracket_test = all_of(bracketed_sql)
        bracketed = self.con.execute(f"SELECT {bracket_test} FROM {self.checked}").fetchone()
        candidates = [c for c, ok in zip(candidates, bracketed, strict=True) if ok]
        if not candidates:
            return set()
        json_test = all_of("json_valid({c})")  # bracketed and valid: an array
        valid = self.con.execute(f"SELECT {json_test} FROM {self.checked}").fetchone()
        return {c for c, ok in zip(candidates, valid, strict=True) if ok}

    def _probe(self, test: str, column: str) -> bool:
        """Whether the first non-null values of ``column`` all pass ``test`` (False when
        the column holds no value at all)."""
        col = quote_ident(column)
        found = self.con.execute(
            f"SELECT bool_and({test}) FROM (SELECT {col} FROM {self.checked} "
            f"WHERE {col} IS NOT NULL LIMIT {_PROBE_ROWS})"
        ).fetchone()[0]
        return bool(found)

    # -- reporting --

    def _problems(self) -> list[Problem]:
        """The first problems, in row order: each row's own reason, then each of its
        values that does not fit its column."""
        cells = self.cells or "NULL"
        rows = self.con.execute(
            f"SELECT {self.row}, {', '.join(self.reason_parts)}, {cells}, "
            f"{quote_ident(ID_COLUMN)} FROM {self.checked} WHERE __reason IS NOT NULL "
            f"ORDER BY {self.row} LIMIT {MAX_PROBLEMS}"
        ).fetchall()
        firsts = self._first_rows([r[-1] for r in rows if r[1] == DUPLICATE_ID])
        problems = []
        for row, reason, column, value, detail, row_cells, id_raw in rows:
            if reason == DUPLICATE_ID:
                first = firsts.get(id_raw)
                detail = f"first seen in row {first}" if first and first < row else "already loaded"
            if reason is not None:
                problems.append(
                    Problem(row=row, column=column or "", value=value, reason=reason, detail=detail)
                )
            problems += [Problem(row=row, **cell) for cell in row_cells or []]
        return problems[:MAX_PROBLEMS]

    def _write_rejects(self, folder: Path | None, stem: str) -> str | None:
        """Every rejected row, with its row number, reason, column and value first, then
        the row's own fields, as a CSV a person can open, fix and load again."""
        if folder is None:
            return None
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{Path(self.name).stem}-rejected-{stem}.csv"
        role, column, value, detail = self.reason_parts
        fields = ", ".join(
            f"coalesce({self.raw[c]}, CAST({quote_ident(c)} AS VARCHAR)) AS {quote_ident(c)}"
            if c in self.raw
            else f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}"
            for c in self._checked_types()
        )

        def joined(own: str, key: str) -> str:
            """The row's own part and each misfit value's, joined with '; '."""
            if self.cells is None:
                return own
            return (
                f"array_to_string(list_filter(list_prepend(CASE WHEN {role} IS NOT NULL "
                f"THEN CAST({own} AS VARCHAR) END, list_transform({self.cells}, "
                f"lambda x: coalesce(x.{key}, ''))), lambda x: x IS NOT NULL), '; ')"
            )

        self.con.execute(
            f"COPY (SELECT {self.row} AS row, {joined(role, 'reason')} AS reason, "
            f"{joined(column, 'column')} AS column, {joined(value, 'value')} AS value, "
            f"{joined(detail, 'detail')} AS detail, {fields} FROM {self.checked} "
            f"WHERE __reason IS NOT NULL ORDER BY {self.row}) "
            f"TO {_sql_literal(str(path))} (HEADER, DELIMITER ',')"
        )
        return str(path)

    def _similar_values(self) -> None:
        """Text values that differ only by case or spaces from another value of the same
        column, in the file or already stored ("Gold " beside "gold"): a warning each,
        since they would count as different values in every segment."""
        self.similar = []
        stored_text = (
            {c for c, t in self.db.columns(self.table) if t == "VARCHAR"}
            if self.db.table_exists(self.table)
            else set()
        )
        skip = {ID_COLUMN, TIMESTAMP_COLUMN}
        candidates = [
            c for c, t in self._checked_types().items() if t == "VARCHAR" and c not in skip
        ]
        if not candidates:
            return
        counts = self.con.execute(
            "SELECT "
            + ", ".join(f"approx_count_distinct({quote_ident(c)})" for c in candidates)
            + f" FROM {self.checked} WHERE __reason IS NULL"
        ).fetchone()

        def norm(value: str) -> str:
            return f"lower(regexp_replace(trim({value}), '\\s+', ' ', 'g'))"

        for column, distinct in zip(candidates, counts, strict=True):
            if not distinct or distinct > _SIMILAR_MAX_DISTINCT:
                continue
            col = quote_ident(column)
            stored = ""
            if column in stored_text:
                stored = (
                    f"UNION SELECT DISTINCT {col} AS v, 'stored' AS src FROM "
                    f"{quote_ident(self.table)} WHERE {col} IS NOT NULL"
                )
            rows = self.con.execute(
                f"WITH new AS (SELECT DISTINCT {col} AS v FROM {self.checked} "
                f"WHERE __reason IS NULL AND {col} IS NOT NULL), "
                f"known AS (SELECT v, 'file' AS src FROM new {stored}) "
                f"SELECT n.v, k.v, k.src FROM new n JOIN known k "
                f"ON {norm('n.v')} = {norm('k.v')} "
                "AND n.v <> k.v AND (k.src = 'stored' OR n.v > k.v) "
                f"ORDER BY k.src DESC, n.v, k.v LIMIT {_SIMILAR_PER_COLUMN}"
            ).fetchall()
            for value, other, where in rows:
                self.similar.append(
                    SimilarValue(column=column, value=value, similar_to=other, where=where)
                )
                place = "already stored" if where == "stored" else "also in the file"
                self.warnings.append(
                    f"Column {column!r}: {value!r} differs only by case or spaces from "
                    f"{other!r} ({place}); they count as different values."
                )

    def _first_rows(self, ids: list[str]) -> dict[str, int]:
        if not ids:
            return {}
        return dict(
            self.con.execute(
                f"SELECT {quote_ident(ID_COLUMN)}, min({self.row}) FROM {self.checked} "
                f"WHERE {quote_ident(ID_COLUMN)} IN (SELECT unnest($ids)) GROUP BY 1",
                {"ids": ids},
            ).fetchall()
        )

    # -- structure --

    def _ts_text(self) -> str:
        if self.has_ts_text:
            return "__ts_raw"
        if self.roles.timestamp:
            return f"CAST({quote_ident(TIMESTAMP_COLUMN)} AS VARCHAR)"
        return "NULL"

    def _checked_types(self) -> dict[str, str]:
        described = self.con.execute(f"DESCRIBE {self.checked}").fetchall()
        return {r[0]: r[1] for r in described if not r[0].startswith("__")}

    def _final_types(self) -> dict[str, str]:
        return {
            c: "VARCHAR[]" if c in self.list_columns else t
            for c, t in self._checked_types().items()
        }

    def _value(self, column: str) -> str:
        """The stored value of a checked column: JSON-array text becomes a list."""
        col = quote_ident(column)
        return f"""from_json({col}, '["VARCHAR"]')""" if column in self.list_columns else col

    # -- time shift --

    def _event_shift(self, shift_to_now: datetime | None) -> timedelta | None:
        if shift_to_now is None or self.table != "events":
            return None
        newest = self.con.execute(
            f"SELECT max({quote_ident(TIMESTAMP_COLUMN)}) FROM {self.checked} "
            "WHERE __reason IS NULL"
        ).fetchone()[0]
        return _naive_utc(shift_to_now) - newest if newest is not None else None

    def _shift_columns(self, final_types: dict[str, str]) -> list[str]:
        return [
            c
            for c, t in final_types.items()
            if t in ("DATE", "TIMESTAMP") and any(m in c.lower() for m in PROFILE_SHIFT_MARKERS)
        ]

    def _profile_shift_days(self, shift_to_now: datetime | None) -> int | None:
        if shift_to_now is None or self.table != "profiles":
            return None
        stored = self.db.get_meta(META_EVENT_SHIFT)
        if stored is not None:
            return _whole_days(timedelta(seconds=float(stored)))
        columns = self._shift_columns(self._final_types())
        if not columns:
            return None
        newest = self.con.execute(
            "SELECT greatest("
            + ", ".join(f"max(CAST({quote_ident(c)} AS DATE))" for c in columns)
            + f") FROM {self.checked} WHERE __reason IS NULL"
        ).fetchone()[0]
        return (_naive_utc(shift_to_now).date() - newest).days if newest is not None else None

    def _record_shifts(
        self,
        tx: duckdb.DuckDBPyConnection,
        shift: timedelta | None,
        days: int | None,
        shift_to_now: datetime | None,
    ) -> None:
        if shift is not None:
            self.db.set_meta(META_EVENT_SHIFT, str(shift.total_seconds()), tx)
            self._align_stored_profiles(tx, _whole_days(shift))
        if self.table == "profiles" and (days is not None or self.mode == "replace"):
            # A new profiles table starts unshifted unless this load shifted it.
            self.db.set_meta(META_PROFILE_SHIFT, str(days or 0), tx)
        if shift_to_now is not None and (shift is not None or days is not None):
            self.db.set_meta(META_SHIFT_TO, _naive_utc(shift_to_now).isoformat(), tx)

    def _align_stored_profiles(self, tx: duckdb.DuckDBPyConnection, days: int) -> None:
        """Move stored profiles' signup/last dates so that, in all, they moved ``days``."""
        if not self.db.table_exists("profiles"):
            return
        done = tx.execute(
            "SELECT value FROM workspace_meta WHERE key = $k", {"k": META_PROFILE_SHIFT}
        ).fetchone()
        delta = days - int(done[0]) if done else days
        columns = self._shift_columns(dict(self.db.columns("profiles")))
        if not delta or not columns:
            return
        stored = dict(self.db.columns("profiles"))
        sets = ", ".join(
            f"{quote_ident(c)} = CAST(date_add({quote_ident(c)}, to_days($d)) AS {stored[c]})"
            for c in columns
        )
        tx.execute(f"UPDATE profiles SET {sets}", {"d": delta})
        self.db.set_meta(META_PROFILE_SHIFT, str(days), tx)

    # -- writing --

    def _select_list(
        self, final_types: dict[str, str], shift: timedelta | None, days: int | None
    ) -> tuple[str, dict]:
        shifted = set(self._shift_columns(final_types)) if days else set()
        params: dict = {}
        parts = []
        for column, new_type in final_types.items():
            expr = self._value(column)
            if column == TIMESTAMP_COLUMN and shift is not None:
                expr = f"{expr} + $shift"
                params["shift"] = shift
            elif column in shifted:
                expr = f"CAST(date_add({expr}, to_days($days)) AS {new_type})"
                params["days"] = days
            if column in self.existing and self.existing[column] != new_type:
                expr = f"CAST({expr} AS {self.existing[column]})"
            parts.append(f"{expr} AS {quote_ident(column)}")
        return ", ".join(parts), params

    def _write(
        self,
        tx: duckdb.DuckDBPyConnection,
        final_types: dict[str, str],
        shift: timedelta | None,
        days: int | None,
    ) -> None:
        select, params = self._select_list(final_types, shift, days)
        query = f"SELECT {select} FROM {self.checked} WHERE __reason IS NULL"
        target = quote_ident(self.table)
        if self.mode == "replace" or not self.existing:
            # The old table stays visible to readers until this transaction commits.
            tx.execute(f"CREATE OR REPLACE TABLE {target} AS {query}", params)
            return
        for column, new_type in final_types.items():
            if column not in self.existing:
                tx.execute(f"ALTER TABLE {target} ADD COLUMN {quote_ident(column)} {new_type}")
        tx.execute(f"INSERT INTO {target} BY NAME {query}", params)

    def _orphan_warning(self, tx: duckdb.DuckDBPyConnection) -> None:
        if self.table != "profiles" or not self.db.table_exists("events"):
            return
        orphans = tx.execute(
            "SELECT count(*) FROM events WHERE profile_id NOT IN "
            "(SELECT profile_id FROM profiles WHERE profile_id IS NOT NULL)"
        ).fetchone()[0]
        if orphans:
            self.warnings.append(
                f"Stored events of profiles missing from the new profiles table: {orphans:,}; "
                "they stay stored but match no profile."
            )


# --- helpers ---------------------------------------------------------------------------


def _case_of_reason(by_reason: dict[str, str], otherwise: str) -> str:
    """SQL picking a value by the row's rejection reason (NULL for a good row)."""
    whens = " ".join(f"WHEN __reason = {_sql_literal(r)} THEN {v}" for r, v in by_reason.items())
    return f"(CASE WHEN __reason IS NULL THEN NULL {whens} ELSE {otherwise} END)"


def _sql_literal(text: str | None) -> str:
    return "NULL" if text is None else "'" + text.replace("'", "''") + "'"


def _readable_format(fmt: str) -> str:
    """%d/%m/%Y -> DD/MM/YYYY, the way the data page and the CLI write formats."""
    for token, code in (("YYYY", "%Y"), ("YY", "%y"), ("MM", "%m"), ("DD", "%d"),
                        ("HH", "%H"), ("mm", "%M"), ("ss", "%S")):  # fmt: skip
        fmt = fmt.replace(code, token)
    return fmt


def _expected(chosen: ColumnType) -> str:
    if chosen.format:
        return f"expected a {chosen.kind} written {_readable_format(chosen.format)}"
    return f"expected a {chosen.kind}"


def _kind_words(sql_type: str) -> str:
    kind = kind_of(sql_type)
    if kind == "number" and sql_type.upper().endswith(("INT", "INTEGER")):
        return "whole number"
    return kind


def _role_name(target: str | None) -> str | None:
    return {ID_COLUMN: "id", EVENT_TYPE_COLUMN: "event type", TIMESTAMP_COLUMN: "timestamp"}.get(
        target or ""
    )


def _role_order(target: str | None) -> int:
    return {ID_COLUMN: 0, EVENT_TYPE_COLUMN: 1, TIMESTAMP_COLUMN: 2}.get(target or "", 3)


def _epoch_expr(value: str) -> str:
    """Epoch seconds, or milliseconds when the number is too big to be seconds."""
    return (
        f"try(make_timestamp(CASE WHEN abs({value}) >= 100000000000 "
        f"THEN {value} * 1000 ELSE {value} * 1000000 END))"
    )


def _whole_days(shift: timedelta) -> int:
    return round(shift.total_seconds() / 86400)


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _counts_text(counts: dict[str, int]) -> str:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{reason}: {count:,}" for reason, count in ordered)

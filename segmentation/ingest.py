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
- rows that fail are reported with their 1-based data row (the header not
  counted); the first 20 are listed, all are counted per reason. If every row is
  rejected, or the file is unusable, ``InvalidInputError`` is raised and nothing
  changes.
"""

# SQL text here carries identifiers (through quote_ident, after checking they exist) and
# our own constants only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import duckdb

from segmentation.catalog import kind_of, refresh_catalog
from segmentation.errors import InvalidInputError
from segmentation.ingest_report import (
    BAD_TIMESTAMP,
    DUPLICATE_ID,
    MAX_PROBLEMS,
    MISSING_EVENT_TYPE,
    MISSING_ID,
    MISSING_TIMESTAMP,
    UNKNOWN_PROFILE,
    ColumnInfo,
    IngestReport,
    Problem,
)
from segmentation.ingest_source import (
    SourceInfo,
    check_file,
    delimiter_hint,
    read_into,
    sniff,
)
from segmentation.store import Database, quote_ident

__all__ = ["DEFAULT_MAX_BYTES", "UPLOAD_MAX_BYTES", "IngestReport", "Problem", "ingest"]

# Files named by path (CLI, API) may be large; uploads through the dashboard are
# bounded lower, matching Streamlit's server.maxUploadSize.
DEFAULT_MAX_BYTES = 64 * 1024**3
UPLOAD_MAX_BYTES = 2 * 1024**3
TableName = Literal["profiles", "events"]
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
) -> IngestReport:
    """Load ``source`` (CSV or Parquet) into ``profiles`` or ``events``; see the module doc."""
    started = time.perf_counter()
    if table not in ("profiles", "events"):
        raise InvalidInputError(f"Unknown table {table!r}: choose 'profiles' or 'events'.")
    if mode not in ("replace", "append"):
        raise InvalidInputError(f"Unknown mode {mode!r}: choose 'replace' or 'append'.")
    name = original_name or Path(source).name
    path = check_file(source, max_bytes, name)
    con = db.connection()
    checked = f"__ingest_checked_{uuid.uuid4().hex[:12]}"
    try:
        info = sniff(con, path, name, delimiter)
        roles = _resolve_roles(table, info, name, id_column, event_type_column, timestamp_column)
        existing = dict(db.columns(table)) if mode == "append" and db.table_exists(table) else {}
        load = _Load(db, con, table, mode, name, info, roles, existing, checked)
        retry = {roles.timestamp: "VARCHAR"} if roles.timestamp else {}
        read_into(con, info, name, checked, _forced_types(info, roles, existing), retry, load.build)
        rows_read = con.execute(f"SELECT count(*) FROM {quote_ident(checked)}").fetchone()[0]
        if rows_read == 0:
            what = "a header but no data rows" if info.format == "csv" else "no data rows"
            raise InvalidInputError(
                f"{name} has {what} ({', '.join(info.names)}); nothing changed."
            )
        return load.run(rows_read, shift_to_now, started)
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


def _forced_types(info: SourceInfo, roles: Roles, existing: dict[str, str]) -> dict[str, str]:
    """CSV columns read as text: id and event type, and columns already stored as text
    (so "007" stays "007" rather than passing through an integer). The timestamp column
    is left to the reader's fast typed parsing unless that fails (see ``read_into``)."""
    if info.format != "csv":
        return {}
    stored_text = {n.lower() for n, t in existing.items() if t == "VARCHAR"}
    return {
        column: "VARCHAR"
        for column in info.names
        if roles.target(column) in (ID_COLUMN, EVENT_TYPE_COLUMN) or column.lower() in stored_text
    }


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
        self.checked = quote_ident(checked)
        self.source_types: dict[str, str] = {}
        self.list_columns: set[str] = set()
        self.has_ts_text = False
        self.warnings: list[str] = []
        # The 1-based data row. Events are read straight into the checked table, whose
        # rowids follow the file (insertion order is kept), so no window is needed;
        # profiles number rows in the read, as the duplicate check orders by it.
        self.row = "(rowid + 1)" if table == "events" else "__row"

    # -- building the checked table --

    def run(self, rows_read: int, shift_to_now: datetime | None, started: float) -> IngestReport:
        counts = dict(
            self.con.execute(
                f"SELECT __reason, count(*) FROM {self.checked} "
                "WHERE __reason IS NOT NULL GROUP BY 1"
            ).fetchall()
        )
        rejected = sum(counts.values())
        problems = self._problems()
        if rejected == rows_read:
            listed = "\n".join(f"  row {p.row}, column {p.column!r}: {p.reason} "
                               f"({p.value!r})" for p in problems[:5])  # fmt: skip
            raise InvalidInputError(
                f"Every row of {self.name} was rejected ({_counts_text(counts)}); "
                f"nothing changed.\n{listed}"
            )
        self.list_columns = self._json_list_columns()
        final_types = self._final_types()
        self._check_type_conflicts(final_types)
        shift = self._event_shift(shift_to_now)
        profile_days = self._profile_shift_days(shift_to_now)
        load_id = uuid.uuid4().hex
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
        refresh_catalog(self.db)
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
            warnings=self.warnings,
            time_shift_seconds=shift.total_seconds() if shift is not None else None,
        )

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
        value = f"trim(CAST({source} AS VARCHAR))"
        params["tz_suffix"] = _TZ_SUFFIX
        parsers = [
            f"try_cast({value} AS TIMESTAMP)",
            f"CASE WHEN regexp_full_match({value}, '-?[0-9]{{9,13}}') "
            f"THEN {_epoch_expr(f'try_cast({value} AS BIGINT)')} END",
        ]
        for key, fmt in (
            ("ts_format", self.info.timestamp_format),
            ("date_format", self.info.date_format),
        ):
            if fmt:
                params[key] = fmt
                parsers.append(f"CAST(try_strptime({value}, ${key}) AS TIMESTAMP)")
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
        rows = self.con.execute(
            f"SELECT {self.row}, __reason, {quote_ident(ID_COLUMN)}, "
            f"{self._ts_text()}, "
            f"{quote_ident(EVENT_TYPE_COLUMN) if self.table == 'events' else 'NULL'} "
            f"FROM {self.checked} WHERE __reason IS NOT NULL "
            f"ORDER BY {self.row} LIMIT {MAX_PROBLEMS}"
        ).fetchall()
        firsts = self._first_rows([r[2] for r in rows if r[1] == DUPLICATE_ID])
        problems = []
        for row, reason, id_raw, ts_raw, event_type in rows:
            column, value, detail = self.roles.id, id_raw, None
            if reason in (BAD_TIMESTAMP, MISSING_TIMESTAMP):
                column, value = self.roles.timestamp or "", ts_raw
            elif reason == MISSING_EVENT_TYPE:
                column, value = self.roles.event_type or "", event_type
            elif reason == UNKNOWN_PROFILE:
                detail = "no profile with this id in profiles"
            elif reason == DUPLICATE_ID:
                first = firsts.get(id_raw)
                detail = f"first seen in row {first}" if first and first < row else "already loaded"
            problems.append(
                Problem(row=row, column=column, value=value, reason=reason, detail=detail)
            )
        return problems

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

    def _check_type_conflicts(self, final_types: dict[str, str]) -> None:
        """On append, every stored column must be able to hold the new values."""
        pairs = [
            (column, self.existing[column], new_type)
            for column, new_type in final_types.items()
            if column in self.existing and self.existing[column] != new_type
        ]
        if not pairs:
            return
        parts = []
        for column, old_type, new_type in pairs:
            col = self._value(column)
            bad = f"{col} IS NOT NULL AND try_cast({col} AS {old_type}) IS NULL"
            if kind_of(old_type) == kind_of(new_type) == "number":
                # DuckDB rounds 1.5 into an integer column: a number must come back whole.
                bad = f"({bad}) OR CAST(try_cast({col} AS {old_type}) AS {new_type}) <> {col}"
            parts.append(f"count(*) FILTER ({bad})")
            parts.append(f"arg_min({self.row}, {self.row}) FILTER ({bad})")
            parts.append(f"arg_min(CAST({col} AS VARCHAR), {self.row}) FILTER ({bad})")
        found = self.con.execute(
            f"SELECT {', '.join(parts)} FROM {self.checked} WHERE __reason IS NULL"
        ).fetchone()
        for i, (column, old_type, new_type) in enumerate(pairs):
            count, row, value = found[3 * i : 3 * i + 3]
            if count:
                raise InvalidInputError(
                    f"Column {column!r} is {old_type} in {self.table}, but {self.name} has "
                    f"{new_type} values that do not fit it ({count:,} rows, first at row "
                    f"{row}: {value!r}); nothing changed. Fix the values, or replace the "
                    f"table instead of appending."
                )

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

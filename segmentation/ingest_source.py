"""Reading a user's file into a connection-local staging table.

Everything here is about the file itself (does it exist, how big, which format,
is it well-formed CSV); what the columns mean is decided in ``ingest``.
"""

# SQL text here carries identifiers (through quote_ident, after checking they exist) and
# our own constants only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb

from segmentation.errors import InvalidInputError
from segmentation.store import quote_ident

PARQUET_SUFFIXES = {".parquet", ".pq", ".parq"}
# Characters that often separate fields; used to explain a file read as one column.
SNIFFER_DELIMITERS = [",", ";", "\t", "|"]
LIKELY_DELIMITERS = [";", "|", "\t", ":", "^", "~", ",", " "]
# Reader errors that mean the file is not the CSV we think it is; the load stops.
_STRUCTURAL_LABELS = {
    "MISSING COLUMNS": "too few fields (ragged row)",
    "TOO MANY COLUMNS": "too many fields (ragged row)",
    "INVALID ENCODING": "bytes that are not valid UTF-8",
    "UNQUOTED VALUE": "a quote in an unquoted value",
    "LINE SIZE OVER MAXIMUM": "a line longer than the reader's maximum",
    "INVALID STATE": "malformed quoting",
}

Format = Literal["csv", "parquet"]


@dataclass
class SourceInfo:
    """What sniffing found: the columns with their detected types, and CSV details."""

    path: Path
    format: Format
    columns: list[tuple[str, str]]
    delimiter: str | None = None
    has_header: bool = True
    timestamp_format: str | None = None
    date_format: str | None = None
    options: dict[str, object] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]


def human_size(num: int) -> str:
    size = float(num)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


def check_file(source: str | Path, max_bytes: int, name: str) -> Path:
    """The path, once it is known to be a readable, non-empty file under the size bound."""
    path = Path(source)
    if not path.exists():
        raise InvalidInputError(f"File not found: {name} ({path}).")
    if not path.is_file():
        raise InvalidInputError(f"{name} is not a file ({path}).")
    size = path.stat().st_size
    if size == 0:
        raise InvalidInputError(f"{name} is empty (0 bytes): there is nothing to load.")
    if size > max_bytes:
        raise InvalidInputError(
            f"{name} is {human_size(size)} ({size:,} bytes), over the limit of "
            f"{human_size(max_bytes)} ({max_bytes:,} bytes). Split the file, or raise the limit."
        )
    return path


def detect_format(path: Path) -> Format:
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return "parquet"
    with path.open("rb") as handle:
        return "parquet" if handle.read(4) == b"PAR1" else "csv"


def _csv_options(delimiter: str | None) -> dict[str, object]:
    return {"delim": delimiter} if delimiter else {}


def _options_sql(options: dict[str, object]) -> str:
    # Option names are ours (fixed identifiers); their values are bound as parameters.
    return "".join(f", {key} = ${key}" for key in options)


def sniff(
    con: duckdb.DuckDBPyConnection, path: Path, name: str, delimiter: str | None
) -> SourceInfo:
    fmt = detect_format(path)
    if fmt == "parquet":
        try:
            rows = con.execute("DESCRIBE SELECT * FROM read_parquet($path)", {"path": str(path)})
            columns = [(r[0], r[1]) for r in rows.fetchall()]
        except duckdb.Error as exc:
            raise InvalidInputError(
                f"{name} is not a readable Parquet file: {_first_line(exc)}"
            ) from exc
        return SourceInfo(path=path, format="parquet", columns=columns)

    options = _csv_options(delimiter)
    record = _sniff_csv(con, path, name, options)
    header = record["Columns"][0]["name"] if len(record["Columns"]) == 1 else ""
    if delimiter is None and header:
        # Ragged lines can make the sniffer settle for one column, "a,b,c"; if the
        # header holds a usual delimiter, sniff with it so the read can point at the
        # bad lines instead.
        for char in SNIFFER_DELIMITERS:
            if char in header:
                try:
                    retry = _sniff_csv(con, path, name, {"delim": char})
                except InvalidInputError:
                    continue
                if len(retry["Columns"]) > 1:
                    record, options = retry, {"delim": char}
                    break
    return SourceInfo(
        path=path,
        format="csv",
        columns=[(c["name"], c["type"]) for c in record["Columns"]],
        delimiter=record["Delimiter"],
        has_header=bool(record["HasHeader"]),
        timestamp_format=record["TimestampFormat"] or None,
        date_format=record["DateFormat"] or None,
        options=options,
    )


def _sniff_csv(
    con: duckdb.DuckDBPyConnection, path: Path, name: str, options: dict[str, object]
) -> dict:
    params = {"path": str(path), **options}
    error: Exception | None = None
    # Bad bytes or ragged lines can stop the sniffer; sniff leniently then, and let the
    # full read report each bad line with its number.
    for extra in ("", ", ignore_errors = true"):
        try:
            result = con.execute(f"FROM sniff_csv($path{_options_sql(options)}{extra})", params)
            names = [c[0] for c in result.description]
            return dict(zip(names, result.fetchone(), strict=True))
        except duckdb.Error as exc:
            error = exc
    raise InvalidInputError(f"{name} cannot be read as CSV: {_first_line(error)}")


Build = Callable[[str, dict[str, object], dict[str, str]], None]


def read_into(
    con: duckdb.DuckDBPyConnection,
    info: SourceInfo,
    name: str,
    target: str,
    forced_types: dict[str, str],
    retry_types: dict[str, str],
    build: Build,
) -> None:
    """Let ``build(reader_sql, params, column_types)`` create the temp table ``target``
    from the file; ``reader_sql`` is a table function call that yields the data rows in
    file order, with ``forced_types`` applied to CSV columns.

    CSV lines the reader cannot split or decode stop the load with their line numbers.
    A value that does not fit the type the sniffer guessed from its sample (say a
    "12.5x" far down an integer column, or an unreadable date) is a bad guess rather
    than a bad row: the file is read again with types detected from every row and
    ``retry_types`` forced too (the caller then checks those columns row by row).
    """
    params: dict[str, object] = {"path": str(info.path)}
    if info.format == "parquet":
        reader = "read_parquet($path)"
        _build(con, name, target, reader, params, build, "Parquet")
        return
    for sample_all in (False, True):
        forced = {**forced_types, **retry_types} if sample_all else forced_types
        options: dict[str, object] = dict(info.options)
        if forced:
            options["types"] = forced
        if sample_all:
            options["sample_size"] = -1
        suffix = uuid.uuid4().hex[:12]
        rejects_table, rejects_scan = f"__rejects_{suffix}", f"__reject_scans_{suffix}"
        reader = (
            f"read_csv($path{_options_sql(options)}, store_rejects = true, "
            f"rejects_table = '{rejects_table}', rejects_scan = '{rejects_scan}')"
        )
        try:
            _build(con, name, target, reader, {**params, **options}, build, "CSV")
            rejects = con.execute(
                "SELECT count(*) OVER (PARTITION BY error_type), line, column_name, error_type, "
                f"csv_line, error_message FROM {rejects_table} ORDER BY line LIMIT 1000"
            ).fetchall()
        finally:
            con.execute(f"DROP TABLE IF EXISTS {rejects_table}")
            con.execute(f"DROP TABLE IF EXISTS {rejects_scan}")
        if not rejects:
            return
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(target)}")
        structural = [r for r in rejects if r[3] != "CAST"]
        if structural or sample_all:
            raise _reader_error(name, info, structural or rejects)


def _build(
    con: duckdb.DuckDBPyConnection,
    name: str,
    target: str,
    reader: str,
    params: dict[str, object],
    build: Build,
    kind: str,
) -> None:
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {reader}", params).fetchall()
        build(reader, params, {r[0]: r[1] for r in described})
    except duckdb.Error as exc:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(target)}")
        raise InvalidInputError(f"{name} cannot be read as {kind}: {_first_line(exc)}") from exc


def _reader_error(name: str, info: SourceInfo, rejects: list[tuple]) -> InvalidInputError:
    offset = 1 if info.has_header else 0
    counts: dict[str, int] = {}
    for count, _line, _col, kind, _text, _msg in rejects:
        counts[kind] = count
    parts = []
    for _count, line, column, kind, text, message in rejects[:5]:
        label = _STRUCTURAL_LABELS.get(kind, kind.lower())
        where = f"row {line - offset} (line {line})"
        if column and kind not in ("TOO MANY COLUMNS",):
            where += f", column {column!r}"
        snippet = (text or "").strip()
        snippet = snippet if len(snippet) <= 80 else snippet[:77] + "..."
        detail = f": {message}" if kind == "CAST" else ""
        parts.append(f"  {where}: {label}{detail} -> {snippet!r}")
    totals = ", ".join(
        f"{_STRUCTURAL_LABELS.get(kind, kind.lower())}: {count:,}" for kind, count in counts.items()
    )
    hint = ""
    if "INVALID ENCODING" in counts:
        hint = (
            " Save the file as UTF-8 (e.g. 'CSV UTF-8' in a spreadsheet program) and load it again."
        )
    elif {"MISSING COLUMNS", "TOO MANY COLUMNS"} & counts.keys():
        expected = len(info.columns)
        hint = (
            f" Every row needs the {expected} fields of the header "
            f"(delimiter {info.delimiter!r}); quote values that contain the delimiter."
        )
    return InvalidInputError(
        f"{name} is not well-formed CSV ({totals}); nothing was loaded.{hint}\n" + "\n".join(parts)
    )


def delimiter_hint(columns: list[str]) -> str:
    """When a file was read as one column, guess which character separates its fields."""
    if len(columns) != 1:
        return ""
    header = columns[0]
    for char in LIKELY_DELIMITERS:
        if char in header:
            return (
                f" The file was read as a single column; it seems to use {char!r} as the "
                f"delimiter: load it again with delimiter={char!r}."
            )
    return " The file was read as a single column: is the delimiter right?"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    text = re.sub(r"^[A-Za-z ]+Error: ", "", text)
    return text.splitlines()[0] if text else type(exc).__name__

"""Reading a user's file into a connection-local staging table.

Everything here is about the file itself (does it exist, how big, which format,
is it well-formed CSV); what the columns mean is decided in ``ingest``.
"""

# SQL text here carries identifiers (through quote_ident, after checking they exist) and
# our own constants only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import codecs
import csv
import gzip
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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

# DuckDB's default maximum line size; a longer line is a value nobody meant to load.
MAX_LINE_BYTES = 2_000_000
# More columns than this is not a table of people or events (and would swamp the catalog).
MAX_COLUMNS = 5_000
_UTF16_BOMS = {codecs.BOM_UTF16_LE: "utf-16-le", codecs.BOM_UTF16_BE: "utf-16-be"}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


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


def glob_safe(path: Path) -> str:
    """The path as DuckDB's readers take it: they expand ``*``, ``?`` and ``[...]`` as
    glob patterns, so each such character is put in brackets to stand for itself (a
    file ``profiles[1].csv`` must never load ``profiles1.csv``)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in str(path))


@contextmanager
def prepared(path: Path, name: str) -> Iterator[tuple[Path, list[str]]]:
    """The file as the reader should see it, and notes for the report: a UTF-16 file
    (Excel's "Unicode Text") is re-encoded to UTF-8 in a temporary copy; a file of blank
    lines, or a header no reader can take, is refused here with what is wrong."""
    if detect_format(path) == "parquet":
        yield path, []
        return
    with path.open("rb") as handle:
        head = handle.read(4)
    encoding = next((enc for bom, enc in _UTF16_BOMS.items() if head.startswith(bom)), None)
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise InvalidInputError(f"{name} is UTF-32 text: save it as UTF-8 and load it again.")
    if encoding is None:
        _check_text(path, name, "utf-8")
        yield path, []
        return
    with tempfile.TemporaryDirectory(prefix="segmentation-ingest-") as folder:
        copy = Path(folder) / (path.stem + ".csv")
        with (
            path.open("r", encoding=encoding, newline="") as src,
            copy.open("w", encoding="utf-8", newline="") as dst,
        ):
            if src.read(1) != "\ufeff":  # the BOM; anything else is data
                src.seek(0)
            try:
                shutil.copyfileobj(src, dst, _CHUNK)
            except UnicodeDecodeError as exc:
                raise InvalidInputError(
                    f"{name} starts like UTF-16 text but has bytes that are not UTF-16 "
                    f"(at byte {exc.start:,}): save it as UTF-8 and load it again."
                ) from exc
        _check_text(copy, name, "utf-8")
        yield copy, [f"{name} is UTF-16 text; it was read as such (UTF-8 is the usual form)."]


def _open_text(path: Path):
    with path.open("rb") as handle:
        gz = handle.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rb") if gz else path.open("rb")


def _check_text(path: Path, name: str, encoding: str) -> None:
    """Blank lines only, or a first line (the header) too long or too wide to read."""
    with _open_text(path) as handle:
        first = handle.readline(MAX_LINE_BYTES + 1)
        if len(first) > MAX_LINE_BYTES:
            fields = max(first.count(d.encode()) for d in SNIFFER_DELIMITERS) + 1
            raise InvalidInputError(
                f"{name}: the header (line 1) is longer than {MAX_LINE_BYTES:,} bytes, with "
                f"over {fields:,} fields; a table can have at most {MAX_COLUMNS:,} columns. "
                "Is this the file you meant (one record per line, names on the first)?"
            )
        blank = not first.strip()
        while blank:
            chunk = handle.read(_CHUNK)
            if not chunk:
                raise InvalidInputError(
                    f"{name} holds only blank lines: there is no header and no rows to load."
                )
            blank = not chunk.strip()
    text = first.decode(encoding, errors="replace").lstrip("\ufeff").rstrip("\r\n")
    fields = max(text.count(d) for d in SNIFFER_DELIMITERS) + 1
    if fields > MAX_COLUMNS:
        raise InvalidInputError(
            f"{name}: the header (line 1) has {fields:,} fields; a table can have at most "
            f"{MAX_COLUMNS:,} columns."
        )


def check_header_names(info: SourceInfo, name: str) -> None:
    """Two columns with the same name (DuckDB would silently rename the second, and
    names are compared without case): refused with both positions."""
    names = info.names
    if info.format == "csv" and info.has_header:
        with _open_text(info.path) as handle:
            line = handle.readline(MAX_LINE_BYTES + 1).decode("utf-8", errors="replace")
        quote = info.options.get("quote", '"')
        row = next(csv.reader([line.lstrip("\ufeff")], delimiter=info.delimiter or ",",
                              quotechar=str(quote)), [])  # fmt: skip
        if len(row) == len(names):
            names = [n.strip() for n in row]
    seen: dict[str, int] = {}
    for position, column in enumerate(names, start=1):
        key = column.lower()
        if key in seen:
            first = seen[key]
            raise InvalidInputError(
                f"{name} has two columns named {names[first - 1]!r}: column {first} and "
                f"column {position}{'' if column == names[first - 1] else f' ({column!r})'}. "
                "Column names must be unique (without regard to case): rename one and load "
                "it again."
            )
        seen[key] = position


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
            rows = con.execute(
                "DESCRIBE SELECT * FROM read_parquet($path)", {"path": glob_safe(path)}
            )
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
    params = {"path": glob_safe(path), **options}
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
    raise InvalidInputError(f"{name} cannot be read as CSV: {_reader_message(error, path)}")


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
    params: dict[str, object] = {"path": glob_safe(info.path)}
    if info.format == "parquet":
        reader = "read_parquet($path)"
        _build(con, name, target, reader, params, build, "Parquet", info.path)
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
            _build(con, name, target, reader, {**params, **options}, build, "CSV", info.path)
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
    path: Path,
) -> None:
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {reader}", params).fetchall()
        build(reader, params, {r[0]: r[1] for r in described})
    except duckdb.Error as exc:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(target)}")
        raise InvalidInputError(
            f"{name} cannot be read as {kind}: {_reader_message(exc, path)}"
        ) from exc


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


_LINE_SIZE = re.compile(r"Maximum line size of (?P<max>\d+) bytes exceeded")


def _reader_message(exc: Exception | None, path: Path | None = None) -> str:
    """The reader's error in words. For a line over its maximum size DuckDB says "CSV
    Error on Line: 1" whatever the line, so the file is scanned for the long line."""
    match = _LINE_SIZE.search(str(exc))
    if match and path is not None:
        limit = int(match["max"])
        line, size = _first_long_line(path, limit)
        return (
            f"line {line:,} is {size:,} bytes long, over the {limit:,}-byte maximum for one "
            "row: a value that long (a whole document in one cell?) is not a field to "
            "segment on; shorten or drop it."
        )
    return _first_line(exc) if exc is not None else "unknown error"


def _first_long_line(path: Path, limit: int) -> tuple[int, int]:
    """The 1-based number and size of the first line over ``limit`` bytes (quoted line
    breaks aside, which the reader's own errors name)."""
    with _open_text(path) as handle:
        for number, line in enumerate(iter(lambda: handle.readline(limit + 1), b""), start=1):
            if len(line) > limit:
                size = len(line)
                while not line.endswith(b"\n"):
                    line = handle.readline(_CHUNK)
                    if not line:
                        break
                    size += len(line)
                return number, size
    return 0, 0


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    text = re.sub(r"^[A-Za-z ]+Error: ", "", text)
    return text.splitlines()[0] if text else type(exc).__name__

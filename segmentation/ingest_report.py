"""What a load did: the report the data page shows and the CLI prints."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

# Reasons a row is rejected; the labels are what a person reads in the report.
MISSING_ID = "missing id"
DUPLICATE_ID = "duplicate profile id"
MISSING_EVENT_TYPE = "missing event type"
MISSING_TIMESTAMP = "missing timestamp"
BAD_TIMESTAMP = "unparseable timestamp"
UNKNOWN_PROFILE = "unknown profile"

MAX_PROBLEMS = 20
MAX_PREVIEW_ROWS = 20


class Problem(BaseModel):
    """One rejected row: where it is in the file and why it was refused."""

    row: int = Field(description="1-based data row in the file (the header is not counted)")
    column: str
    value: str | None
    reason: str
    detail: str | None = None


class ColumnInfo(BaseModel):
    name: str
    type: str


class SimilarValue(BaseModel):
    """A text value that differs only by case or spaces from another one of its column."""

    column: str
    value: str
    similar_to: str
    where: Literal["file", "stored"] = Field(description="where the other value is")


class PreviewColumn(BaseModel):
    """One column as the load would store it."""

    name: str = Field(description="the stored name (role columns renamed)")
    source: str = Field(description="the name in the file")
    role: Literal["id", "event type", "timestamp"] | None = None
    type: str = Field(description="DuckDB type, e.g. DOUBLE")
    kind: str = Field(description="text, number, boolean, date, timestamp, list or other")
    date_format: str | None = Field(None, description="how its dates were read, e.g. DD/MM/YYYY")
    chosen: str | None = Field(None, description="the kind the caller chose (column_types)")
    stored_type: str | None = Field(None, description="the stored column's type on append")


class IngestPreview(BaseModel):
    """What a load would do, computed without storing anything (``svc.ingest_preview``)."""

    table: Literal["profiles", "events"]
    mode: Literal["replace", "append"]
    source: str
    rows_read: int
    rows_to_load: int
    rows_rejected: int
    columns: list[PreviewColumn]
    rows: list[dict[str, Any]] = Field(description="the first parsed rows that would load")
    problems: list[Problem] = Field(default_factory=list, description=f"first {MAX_PROBLEMS}")
    problem_counts: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    similar_values: list[SimilarValue] = Field(default_factory=list)
    rejected_rows_file: str | None = Field(
        None, description="CSV of every rejected row with its reason"
    )
    elapsed_seconds: float = 0.0


class IngestReport(BaseModel):
    table: Literal["profiles", "events"]
    mode: Literal["replace", "append"]
    source: str
    load_id: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    problems: list[Problem] = Field(default_factory=list, description=f"first {MAX_PROBLEMS}")
    problem_counts: dict[str, int] = Field(default_factory=dict)
    columns: list[ColumnInfo] = Field(default_factory=list)
    elapsed_seconds: float = 0.0
    warnings: list[str] = Field(default_factory=list)
    similar_values: list[SimilarValue] = Field(default_factory=list)
    rejected_rows_file: str | None = Field(
        None, description="CSV of every rejected row with its reason (row, column, value)"
    )
    time_shift_seconds: float | None = None

    def summary(self) -> str:
        """One sentence, e.g. 'Loaded 99,812 of 100,000 rows into events; 188 rejected (...)'."""
        text = f"Loaded {self.rows_loaded:,} of {self.rows_read:,} rows into {self.table}"
        if not self.rows_rejected:
            return text + "."
        counts = sorted(self.problem_counts.items(), key=lambda kv: (-kv[1], kv[0]))
        detail = ", ".join(f"{reason}: {count:,}" for reason, count in counts)
        return f"{text}; {self.rows_rejected:,} rejected ({detail})"

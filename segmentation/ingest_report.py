"""What a load did: the report the data page shows and the CLI prints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

# Reasons a row is rejected; the labels are what a person reads in the report.
MISSING_ID = "missing id"
DUPLICATE_ID = "duplicate profile id"
MISSING_EVENT_TYPE = "missing event type"
MISSING_TIMESTAMP = "missing timestamp"
BAD_TIMESTAMP = "unparseable timestamp"
UNKNOWN_PROFILE = "unknown profile"

MAX_PROBLEMS = 20


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
    time_shift_seconds: float | None = None

    def summary(self) -> str:
        """One sentence, e.g. 'Loaded 99,812 of 100,000 rows into events; 188 rejected (...)'."""
        text = f"Loaded {self.rows_loaded:,} of {self.rows_read:,} rows into {self.table}"
        if not self.rows_rejected:
            return text + "."
        counts = sorted(self.problem_counts.items(), key=lambda kv: (-kv[1], kv[0]))
        detail = ", ".join(f"{reason}: {count:,}" for reason, count in counts)
        return f"{text}; {self.rows_rejected:,} rejected ({detail})"

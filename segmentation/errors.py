"""One error family for everything a user can do wrong.

Every message says what is wrong and where, so the UI can show it with
``st.error`` and the CLI can print it without a traceback.
"""

from __future__ import annotations


class SegmentationError(Exception):
    """Base class: the message is meant for a person, not a developer."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(SegmentationError):
    """An id or name that does not exist in the workspace."""


class ConflictError(SegmentationError):
    """The request clashes with what is stored (duplicate name, in use, cycle)."""


class NameTakenError(ConflictError):
    """A name that another stored object of the same kind already has."""


class InvalidInputError(SegmentationError):
    """Input that cannot be accepted as given (bad file, bad value, bad cron)."""


class WorkspaceLockedError(SegmentationError):
    """Another process holds the workspace file for writing."""


class PQLSyntaxError(SegmentationError):
    """PQL text that does not parse; carries the 1-based line and column."""

    def __init__(self, message: str, text: str, line: int, column: int) -> None:
        self.reason = message
        self.text = text
        self.line = line
        self.column = column
        source_line = text.splitlines()[line - 1] if text.splitlines() else ""
        caret = " " * (column - 1) + "^"
        super().__init__(
            f"PQL syntax error at line {line}, column {column}: {message}\n"
            f"  {source_line}\n  {caret}"
        )


class UnsupportedError(SegmentationError):
    """PQL that is valid in AEP but that this tool does not evaluate yet."""

    def __init__(self, construct: str) -> None:
        self.construct = construct
        super().__init__(f"not supported yet: {construct}")

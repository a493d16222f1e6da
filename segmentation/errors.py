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


class UnknownFieldError(InvalidInputError):
    """A field the workspace's tables do not have; ``path`` is the name as written."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class ExpressionError(InvalidInputError):
    """An expression tree given as data (dict, JSON) that is not a valid tree.

    ``path`` names the bad node the way a JSON reader would find it, e.g.
    ``expression.items[1].right``.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"Invalid expression at {path}: {reason}")


class WorkspaceLockedError(SegmentationError):
    """Another process holds the workspace file for writing."""


class PQLSyntaxError(SegmentationError):
    """PQL text that does not parse; carries the 1-based line and column."""

    def __init__(self, message: str, text: str, line: int, column: int) -> None:
        self.reason = message
        self.text = text
        self.line = line
        self.column = column
        super().__init__(
            f"PQL syntax error at line {line}, column {column}: {message}\n"
            + quote_position(text, line, column)
        )


def quote_position(text: str, line: int, column: int) -> str:
    """The line of ``text`` and a caret under ``column``, indented, for a message."""
    source_line = text.splitlines()[line - 1] if text.splitlines() else ""
    # a lone surrogate in the quoted line would make the message unprintable
    source_line = source_line.encode("utf-8", "replace").decode("utf-8")
    return f"  {source_line}\n  {' ' * (column - 1)}^"


class UnsupportedError(SegmentationError):
    """PQL that is valid in AEP but that this tool does not evaluate yet.

    From the parser it also carries the 1-based ``line`` and ``column`` of the
    construct, and quotes the line with a caret like :class:`PQLSyntaxError`.
    """

    def __init__(
        self, construct: str, text: str | None = None, line: int = 0, column: int = 0
    ) -> None:
        self.construct = construct
        self.line = line
        self.column = column
        message = f"not supported yet: {construct}"
        if text is not None and line:
            message += f" (line {line}, column {column})\n" + quote_position(text, line, column)
        super().__init__(message)

"""The error tree shared by every capability.

Only the root carries the project name. Context (source, line, rule id, event id) is kept as
attributes and shown in ``__str__`` so a message is useful wherever it ends up.
"""

from __future__ import annotations


class TocsinError(Exception):
    """Root of every error tocsin raises on purpose."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.source = source
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.source is not None:
            where = self.source if self.line is None else f"{self.source}:{self.line}"
            return f"{where}: {self.message}"
        return self.message


class NotFoundError(TocsinError):
    """Something asked for does not exist."""


class ConflictError(TocsinError):
    """The request clashes with the current state (duplicate, already imported)."""


class InvalidInputError(TocsinError):
    """Input that tocsin was asked to read is malformed or unsupported."""


class ExternalServiceError(TocsinError):
    """A service outside tocsin failed (a database, a remote host)."""


class AuthenticationError(TocsinError):
    """The caller could not be identified (no token, unknown or expired token)."""


class PermissionDeniedError(TocsinError):
    """The caller is known but lacks the scope or role for the action."""


class RateLimitedError(TocsinError):
    """Too many attempts (failed logins); try again after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class MissingExtraError(TocsinError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str):
        super().__init__(
            f"this feature needs the {package!r} package: pip install 'tocsin[{extra}]'"
        )
        self.package = package
        self.extra = extra


class QuerySyntaxError(InvalidInputError):
    """A search query could not be parsed; ``column`` is 1-based."""

    def __init__(self, message: str, *, query: str, column: int):
        super().__init__(message)
        self.query = query
        self.column = column

    def __str__(self) -> str:
        pointer = " " * (self.column - 1) + "^"
        return f"{self.message} at column {self.column}\n  {self.query}\n  {pointer}"

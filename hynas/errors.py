"""Errors a user can act on.

Every error that comes from user input (a space file, a CLI flag, a run directory) is a
``UserError``: the CLI prints its message as one paragraph and exits with code 2, never
with a traceback. ``SpecError`` adds where the problem is (file and field path) and what
would have been allowed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class UserError(Exception):
    """An error caused by input the user gave; shown without a traceback, exit code 2."""


class SpecError(UserError):
    """A problem in a spec file: names the file, the field path and what is allowed."""

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None,
                 allowed: Iterable[Any] | str | None = None) -> None:
        self.file = file
        self.path = path
        self.allowed = allowed
        self.detail = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.path:
            where.append(f"field '{self.path}'")
        head = ", ".join(where)
        text = f"{head}: {self.detail}" if head else self.detail
        if self.allowed is not None:
            allowed = self.allowed if isinstance(self.allowed, str) else ", ".join(
                repr(a) for a in self.allowed)
            text += f" Allowed: {allowed}."
        return text

    def located(self, file: str) -> SpecError:
        """Return the same error with the file name filled in (if it was missing)."""
        if self.file:
            return self
        return SpecError(self.detail, file=file, path=self.path, allowed=self.allowed)


class ArchError(UserError):
    """An architecture that cannot be built as asked (e.g. a window that does not divide a map)."""


class CandidateError(Exception):
    """A candidate failed during evaluation; the search records it and goes on."""

"""Errors a user can act on: every config problem carries its file, line, key path and a hint."""
from __future__ import annotations

from dataclasses import dataclass


class OkrSyncError(Exception):
    """Base class of every error okr-sync reports to a user as one line (no traceback)."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file, located so the user can jump to it."""

    file: str
    line: int | None
    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(OkrSyncError):
    """The config is invalid; holds every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        count = len(problems)
        head = f"{count} problem{'s' if count != 1 else ''} in config"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in problems))

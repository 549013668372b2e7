"""One root exception; every error says what went wrong and what to do next."""

from __future__ import annotations


class TrackstackError(Exception):
    """Root of every trackstack_wh error."""


class ConfigError(TrackstackError):
    """A setting is missing or invalid."""


class UnreadableFileError(TrackstackError):
    """A whole input file cannot be read (missing, unsupported, corrupt, not JSON)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}. Nothing from this file was loaded.")


class SqlFileNotFound(TrackstackError):
    """A query file under sql/ is missing."""

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


class WarehouseBusyError(TrackstackError):
    """Another process holds the warehouse file (DuckDB allows one writer process, and no
    readers in other processes while it writes)."""

    def __init__(self, path: str, holder_pid: int | None, waited_seconds: float) -> None:
        self.path = path
        self.holder_pid = holder_pid
        self.waited_seconds = waited_seconds
        holder = f"process {holder_pid}" if holder_pid else "another process"
        super().__init__(
            f"{path} is in use by {holder} (waited {waited_seconds:.0f} s). A pipeline run "
            "or another notebook is writing it: try again in a moment, pass a longer "
            "busy_timeout, or read a copy of the file."
        )

"""One root exception; every error says what went wrong and what to do next.

Catch ``TrackstackError`` for anything a user can cause. The classes a caller may also
know by a built-in type inherit it too (``UsageError`` is a ``ValueError``,
``NotFoundError`` a ``KeyError``), so ``except ValueError`` keeps working. The command
line turns each into an exit code (``exit_code``) and one line on stderr.
"""

from __future__ import annotations

EXIT_ERROR = 1
"""Any other ``TrackstackError``: the run failed."""
EXIT_USAGE = 2
"""The command cannot run as asked: a bad argument (``UsageError``), a bad setting
(``ConfigError``) or a step to run first (``StaleDataError``). Fix that and rerun."""
EXIT_BUSY = 3
"""The warehouse file is held by another process: try again later."""


class TrackstackError(Exception):
    """Root of every trackstack_wh error."""


class ConfigError(TrackstackError):
    """A setting is missing or invalid."""


class UsageError(TrackstackError, ValueError):
    """A library call was given an argument it cannot use (an unknown destination or
    mart, a bad ``period``/``by`` value, an empty or naive time window); the message
    lists what is allowed."""


class NotFoundError(UsageError, KeyError):
    """A name looked up is not there (a report's table or chart, a destination in a push
    report); the message lists the names there are."""

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


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


class StaleDataError(TrackstackError):
    """A derived table is missing or older than the data it is derived from; the message
    names the call that refreshes it (read methods never write)."""


def exit_code(exc: TrackstackError) -> int:
    """The command line's exit code for ``exc``: 2 usage, config or stale data,
    3 warehouse busy, 1 anything else."""
    if isinstance(exc, (UsageError, ConfigError, StaleDataError)):
        return EXIT_USAGE
    if isinstance(exc, WarehouseBusyError):
        return EXIT_BUSY
    return EXIT_ERROR

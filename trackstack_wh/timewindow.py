"""Half-open UTC time windows ``[start, end)``: the unit of partitioned work (a day)."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from trackstack_wh.errors import UsageError
from trackstack_wh.sql import in_range


class TimeWindow(NamedTuple):
    """Events with ``start <= ts < end`` (both timezone-aware)."""

    start: dt.datetime
    end: dt.datetime

    @classmethod
    def days(cls, first: dt.date | str, last: dt.date | str | None = None) -> TimeWindow:
        """UTC days ``first`` through ``last`` (inclusive; default just ``first``)."""
        first_day = dt.date.fromisoformat(first) if isinstance(first, str) else first
        last_day = first_day if last is None else last
        last_day = dt.date.fromisoformat(last_day) if isinstance(last_day, str) else last_day
        if last_day < first_day:
            raise UsageError(f"last day {last_day} is before first day {first_day}")
        start = dt.datetime.combine(first_day, dt.time(), dt.UTC)
        end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), dt.UTC)
        return cls(start, end)

    def check(self) -> TimeWindow:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise UsageError("time window bounds must be timezone-aware (UTC)")
        if self.end <= self.start:
            raise UsageError(f"empty time window {self.start} .. {self.end}")
        return self

    def whole_days(self) -> bool:
        """Both bounds fall on UTC midnight."""
        return all(
            b.astimezone(dt.UTC).timetz().replace(tzinfo=None) == dt.time()
            for b in (self.start, self.end)
        )

    def dates(self) -> list[dt.date]:
        """The UTC dates the window touches."""
        first = self.start.astimezone(dt.UTC).date()
        last = (self.end - dt.timedelta(microseconds=1)).astimezone(dt.UTC).date()
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def window_params(window: TimeWindow | None) -> dict[str, float | None]:
    """``$from_s`` / ``$to_s`` (epoch seconds, None = unbounded) for SQL filters."""
    if window is None:
        return {"from_s": None, "to_s": None}
    window.check()
    return {"from_s": window.start.timestamp(), "to_s": window.end.timestamp()}


def in_window(column: str, from_s: str = "$from_s", to_s: str = "$to_s") -> str:
    """SQL: the time in ``column`` is in ``[from_s, to_s)`` (epoch seconds, as
    `window_params` binds them; NULL: open)."""
    return in_range(column, from_s, to_s, "to_timestamp({})")

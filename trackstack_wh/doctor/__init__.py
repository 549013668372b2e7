"""``trackstack-wh doctor`` (``wh.doctor()``): the TrackStack setup checklist judged from
the config, the environment and the data.

One check per item, in checklist order: something ingested (``warehouse``); create a key
(``sink_keys``); configure destinations (``destination_credentials``, ``api_versions``);
event mapping and allowlists (``expected_events``); the domain allowlist
(``domain_allowlist``); install the SDK with the public key (``sdk_events``); identify on
login (``identify``); capture PageView, SignUp and Purchase (``events_by_stage``) with
email, click IDs and user agents (``match_keys``); verify in the delivery logs
(``deliveries``, ``freshness``); and what got stuck on the way (``quarantine``,
``landing``). Each is ``ok``, ``warn`` or ``fail`` with a one-line fix; only ``fail``
makes the CLI exit 1. The data checks read the events of the last ``days`` up to the
newest event in the warehouse (not up to now); sunsets, freshness and landing ages are
judged at the wall clock. Read-only: nothing is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from trackstack_wh.config import WorkspaceConfig
from trackstack_wh.doctor import delivery, events, keys, setup
from trackstack_wh.doctor.report import FAIL, OK, STATUSES, WARN, Check, DoctorReport
from trackstack_wh.doctor.scope import Scope, make_scope
from trackstack_wh.errors import UsageError

if TYPE_CHECKING:
    import httpx

DEFAULT_DAYS = 30.0

CHECKS: tuple[Callable[[Scope], Check], ...] = (
    events.warehouse,
    setup.sink_keys,
    setup.destination_credentials,
    setup.api_versions,
    events.expected_events,
    events.domain_allowlist,
    events.sdk_events,
    events.identify,
    events.events_by_stage,
    keys.match_keys,
    delivery.deliveries,
    delivery.freshness,
    delivery.quarantine,
    delivery.landing,
)
"""Every check, in checklist order."""
CHECK_NAMES = tuple(check.__name__ for check in CHECKS)
"""Their names, as reported (each check names itself after its function)."""

__all__ = [
    "CHECKS",
    "CHECK_NAMES",
    "DEFAULT_DAYS",
    "FAIL",
    "OK",
    "STATUSES",
    "WARN",
    "Check",
    "DoctorReport",
    "run_doctor",
]


def run_doctor(
    conn: duckdb.DuckDBPyConnection,
    config: WorkspaceConfig,
    *,
    days: float = DEFAULT_DAYS,
    landing: Path,
    online: bool = False,
    as_of: dt.datetime | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> DoctorReport:
    """Run every check (see the module docstring) and return them in checklist order."""
    if not days > 0:
        raise UsageError(f"days must be a positive number of days, not {days!r}")
    scope = make_scope(
        conn, config, days=days, landing=landing, as_of=as_of, online=online, transport=transport
    )
    return DoctorReport([check(scope) for check in CHECKS], scope.window_line())

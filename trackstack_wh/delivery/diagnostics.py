"""Read back what the platforms made of what we sent: ``platform_diagnostics``.

``fetch_diagnostics`` asks each enabled destination that offers a read-back, with the
push's credentials (renewed, masked):

- Meta: the Dataset Quality API (``GET /{version}/dataset_quality``), per event name:
  event match quality (``composite_score``), each identifier's coverage
  (``match_key_feedback``), Meta's diagnostics, event coverage and data freshness;
- Google Ads through the Data Manager API: ``requestStatus:retrieve`` for every request
  ID of the last ``days`` whose status is not final yet (``SUCCESS``, ``FAILED`` and
  ``PARTIAL_SUCCESS`` are final): status, records ingested, errors and warnings by reason;
- Google Ads through the Google Ads API (``api = "upload_click_conversions"``): the
  offline conversion upload client summary (``googleAds:search``): status, event counts,
  success rate, alerts.

Each reading is one row per (destination, source, scope, metric) with the number or text
and the platform's item as masked JSON; every call is logged in ``diagnostics_runs``. A
read-back that fails (no credentials, refused, unreachable, an answer we cannot read) is
logged as failed with its masked reason and never raises: it must not block delivery.
Tables: ``sql/ddl/008_diagnostics.sql``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import duckdb
import httpx

from trackstack_wh.config import (
    Destination,
    GoogleAdsDestination,
    MetaDestination,
    WorkspaceConfig,
)
from trackstack_wh.delivery.credentials import Credentials
from trackstack_wh.delivery.http import Sender, TransportFailure
from trackstack_wh.delivery.masking import Masker
from trackstack_wh.delivery.plan import missing_secrets, run_masker
from trackstack_wh.delivery.platform_auth import GOOGLE_ADS
from trackstack_wh.delivery.tokens import CredentialError
from trackstack_wh.payloads.requests import platform_headers, platform_url

META_FIELDS = (
    "web{event_name,event_match_quality{composite_score,match_key_feedback,diagnostics},"
    "event_coverage,data_freshness}"
)
FINAL_STATUSES = ("SUCCESS", "FAILED", "PARTIAL_SUCCESS")
SUMMARY_QUERY = (
    "SELECT offline_conversion_upload_client_summary.client, "
    "offline_conversion_upload_client_summary.status, "
    "offline_conversion_upload_client_summary.total_event_count, "
    "offline_conversion_upload_client_summary.successful_event_count, "
    "offline_conversion_upload_client_summary.pending_event_count, "
    "offline_conversion_upload_client_summary.success_rate, "
    "offline_conversion_upload_client_summary.last_upload_date_time, "
    "offline_conversion_upload_client_summary.alerts "
    "FROM offline_conversion_upload_client_summary"
)
MAX_REQUESTS = 500
"""Google request statuses asked per run (the oldest unresolved first)."""

Row = tuple[str | None, str, float | None, str | None, Any]
"""(scope, metric, value, text, detail)."""


class ReadBackError(Exception):
    """A read-back call that gave no usable answer (message already masked)."""


@dataclass
class Reading:
    """What one destination's read-back gave."""

    destination: str
    source: str
    status: str = "ok"
    message: str = ""
    calls: int = 0
    rows: list[Row] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"destination": self.destination, "source": self.source, "status": self.status,
                "message": self.message, "calls": self.calls, "rows": len(self.rows)}  # fmt: skip


class Caller:
    """Authenticated GET/POST for one destination, answers parsed as JSON."""

    def __init__(self, dest: Destination, sender: Sender, mask: Masker) -> None:
        self.dest, self.sender, self.mask = dest, sender, mask
        self.calls = 0

    async def json(
        self, method: str, url: str, *, style: str = "bearer", body: Any = None,
        developer_token: bool = False, missing_ok: bool = False,
    ) -> Any:  # fmt: skip
        headers = {"Content-Type": "application/json"} | platform_headers(
            self.dest, developer_token=developer_token, reveal_secrets=True
        )
        content = b"" if body is None else json.dumps(body).encode()
        self.calls += 1
        try:
            answer = await self.sender.send(method, url, headers, content, credential=style)
        except CredentialError as exc:
            raise ReadBackError(f"credentials {exc.status}: {exc.message}") from None
        except TransportFailure as exc:
            raise ReadBackError(f"no answer ({exc.code}: {self.mask(exc.message)})") from None
        text = self.mask(self.mask.content(answer.content).decode("utf-8", "replace"))
        if answer.status == 404 and missing_ok:
            return None
        if answer.status != 200:
            raise ReadBackError(f"HTTP {answer.status}: {text[:300]}")
        try:
            return json.loads(text)
        except ValueError:
            raise ReadBackError(f"HTTP 200 but not JSON: {text[:120]!r}") from None


def _number(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


async def read_meta(caller: Caller, _: list[str]) -> list[Row]:
    """Meta's dataset quality per event name."""
    dest = caller.dest
    query = urlencode({"dataset_id": MetaDestination.of(dest).pixel_id, "fields": META_FIELDS,
                       "agent_name": "trackstack_wh"})  # fmt: skip
    url = platform_url(
        "{base}/{version}/dataset_quality", dest,
        default_base="https://graph.facebook.com", api="meta_graph",
    ) + "?" + query  # fmt: skip
    doc = await caller.json("GET", url, style="query")
    if not isinstance(doc, dict) or not isinstance(doc.get("web"), list):
        raise ReadBackError("the answer has no 'web' list of event names")
    rows: list[Row] = []
    for item in doc["web"]:
        if not isinstance(item, dict):
            continue
        name = str(item.get("event_name"))
        quality = item.get("event_match_quality") or {}
        rows.append((name, "event_match_quality", _number(quality.get("composite_score")),
                     None, item))  # fmt: skip
        for key in quality.get("match_key_feedback") or []:
            coverage = (key.get("coverage") or {}).get("percentage")
            rows.append((name, f"coverage:{key.get('identifier')}", _number(coverage), None, key))
        for diagnostic in quality.get("diagnostics") or []:
            rows.append((name, "diagnostic", _number(diagnostic.get("percentage")),
                         str(diagnostic.get("name")), diagnostic))  # fmt: skip
        coverage = (item.get("event_coverage") or {}).get("percentage")
        rows.append((name, "event_coverage", _number(coverage), None, None))
        freshness = (item.get("data_freshness") or {}).get("upload_frequency")
        rows.append((name, "data_freshness", None, freshness, None))
    return rows


async def read_google(caller: Caller, request_ids: list[str]) -> list[Row]:
    """Data Manager request statuses, or the Google Ads API upload summary."""
    dest = GoogleAdsDestination.of(caller.dest)
    if dest.classic:
        url = platform_url(
            "{base}/{version}/customers/{customer_id}/googleAds:search", dest,
            default_base=GOOGLE_ADS, api="google_ads_api",
        )  # fmt: skip
        doc = await caller.json("POST", url, body={"query": SUMMARY_QUERY}, developer_token=True)
        rows: list[Row] = []
        for result in (doc or {}).get("results") or []:
            summary = result.get("offlineConversionUploadClientSummary") or {}
            scope = str(summary.get("client"))
            rows.append((scope, "upload_status", None, summary.get("status"), summary))
            for metric in ("totalEventCount", "successfulEventCount", "pendingEventCount",
                           "successRate"):  # fmt: skip
                rows.append((scope, metric, _number(summary.get(metric)), None, None))
            rows.append((scope, "alerts", float(len(summary.get("alerts") or [])), None, None))
        return rows
    rows = []
    for request_id in request_ids:
        url = platform_url(
            "{base}/{version}/requestStatus:retrieve", dest,
            default_base="https://datamanager.googleapis.com", api="data_manager",
        ) + "?" + urlencode({"requestId": request_id})  # fmt: skip
        doc = await caller.json("GET", url, missing_ok=True)
        if doc is None:
            rows.append((request_id, "request_status", None, "NOT_FOUND", None))
            continue
        for status in doc.get("requestStatusPerDestination") or []:
            rows.append((request_id, "request_status", None, status.get("requestStatus"), status))
            records = (status.get("eventsIngestionStatus") or {}).get("recordCount")
            rows.append((request_id, "records", _number(records), None, None))
            for kind in ("errorInfo", "warningInfo"):
                counts = (status.get(kind) or {}).get(
                    "errorCounts" if kind == "errorInfo" else "warningCounts"
                ) or []
                for count in counts:
                    metric = f"{kind.removesuffix('Info')}s:{count.get('reason')}"
                    rows.append((request_id, metric, _number(count.get("recordCount")), None,
                                 None))  # fmt: skip
    return rows


READERS = {"meta": ("meta_dataset_quality", read_meta),
           "google_ads": ("google_request_status", read_google)}  # fmt: skip
"""Destinations with a read-back: the source name and the reader."""


def pending_requests(conn: duckdb.DuckDBPyConnection, dest: Destination, days: float) -> list[str]:
    """Google request IDs (the answers' ``requestId``) sent to this target in the last
    ``days`` whose status was not read back as final."""
    found = conn.execute(
        """
select r.trace_id from delivery_requests r
where r.destination = $d and r.target = $target and r.trace_id is not null
  and r.http_status = 200 and r.sent_at >= now() - to_seconds($days * 86400)
  and r.trace_id not in (
      select scope from platform_diagnostics
      where destination = $d and target = $target and metric = 'request_status'
        and text in (select unnest($final::varchar[])))
group by r.trace_id order by min(r.sent_at) limit $n""",
        {
            "d": dest.name,
            "target": dest.target,
            "days": days,
            "final": list(FINAL_STATUSES),
            "n": MAX_REQUESTS,
        },  # fmt: skip
    ).fetchall()
    return [r[0] for r in found]


async def _read_one(
    dest: Destination, inputs: list[str], mask: Masker, transport: httpx.AsyncBaseTransport | None
) -> Reading:
    source, reader = READERS[dest.name]
    reading = Reading(dest.name, source)
    missing = missing_secrets(dest)
    if missing:
        reading.status, reading.message = "skipped", f"credentials not set: {', '.join(missing)}"
        return reading
    credentials = Credentials(dest, mask, transport)
    sender = Sender(timeout=30.0, concurrency=1, transport=transport, auth=credentials.auth)
    caller = Caller(dest, sender, mask)
    try:
        reading.rows = await reader(caller, inputs)
    except ReadBackError as exc:
        reading.status, reading.message = "failed", str(exc)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        reading.status, reading.message = "failed", f"unreadable answer ({type(exc).__name__})"
    finally:
        reading.calls = caller.calls
        await sender.aclose()
        await credentials.aclose()
    return reading


def fetch_diagnostics(
    conn: duckdb.DuckDBPyConnection,
    config: WorkspaceConfig,
    *,
    destinations: Iterable[str] | None = None,
    days: float = 7.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[Reading]:
    """Read back every enabled destination that offers it (or those named) and store the
    readings; never raises for a platform's failure."""
    from trackstack_wh.delivery.push import run_coroutine

    names = set(destinations) if destinations is not None else None
    chosen = [
        d for d in config.enabled() if d.name in READERS and (names is None or d.name in names)
    ]
    inputs = {d.name: pending_requests(conn, d, days) if d.name == "google_ads" else []
              for d in chosen}  # fmt: skip
    mask = run_masker(chosen)

    async def run_all() -> list[Reading]:
        return list(await asyncio.gather(
            *(_read_one(d, inputs[d.name], mask, transport) for d in chosen)))  # fmt: skip

    readings = run_coroutine(run_all())
    _store(conn, config, readings)
    return readings


def _store(
    conn: duckdb.DuckDBPyConnection, config: WorkspaceConfig, readings: list[Reading]
) -> None:
    fetched = dt.datetime.now(dt.UTC)
    for reading in readings:
        target = config.destinations[reading.destination].target
        rows = [
            (fetched, reading.destination, target, reading.source, scope, metric, value, text,
             None if detail is None else json.dumps(detail))
            for scope, metric, value, text, detail in reading.rows
        ]  # fmt: skip
        if rows:
            conn.executemany(
                "insert into platform_diagnostics values (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )
        conn.execute(
            "insert into diagnostics_runs values (?, ?, ?, ?, ?, ?, ?, ?)",
            [fetched, reading.destination, target, reading.source, reading.status,
             reading.calls, len(reading.rows), reading.message or None],
        )  # fmt: skip

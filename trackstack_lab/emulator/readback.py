"""The platforms' read-back endpoints, answered from what the emulator received.

- Meta ``GET /{version}/dataset_quality?dataset_id=&fields=&access_token=``: per event
  name, ``event_match_quality`` (``composite_score`` 0-10 and ``match_key_feedback``:
  each identifier's coverage), ``event_coverage`` and ``data_freshness``, in the
  documented shape. The score is the emulator's own weighting of key coverage (Meta does
  not publish its formula): email 3, click (fbc) 2, IP + user agent 1.5, phone 1.5,
  external ID 1, browser ID (fbp) 1.
- Google Data Manager ``GET /{version}/requestStatus:retrieve?requestId=``: the status of
  an ``events:ingest`` request the emulator answered (``SUCCESS`` with its record count),
  404 for an unknown ID.
- Google Ads ``POST /{version}/customers/{id}/googleAds:search`` over
  ``offline_conversion_upload_client_summary``: totals of the click conversions received.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from trackstack_lab.emulator.checks import token_ok, trace_id
from trackstack_lab.emulator.platforms import google_rpc
from trackstack_lab.emulator.wire import Call, Reply

META_KEYS: dict[str, tuple[str, ...]] = {
    "email": ("em",),
    "phone": ("ph",),
    "external_id": ("external_id",),
    "ip_address": ("client_ip_address",),
    "user_agent": ("client_user_agent",),
    "fbc": ("fbc",),
    "fbp": ("fbp",),
}
"""Dataset Quality identifiers -> the ``user_data`` fields that fill them."""
META_WEIGHTS = {"email": 3.0, "fbc": 2.0, "phone": 1.5, "external_id": 1.0, "fbp": 1.0}
IP_AND_AGENT = 1.5


def record_meta_events(call: Call, data: list[Any]) -> None:
    """Count, per event name, the events received and the identifiers each carried."""
    coverage = call.state.coverage
    for event in data:
        user = event.get("user_data") or {}
        counts = coverage.setdefault(str(event.get("event_name")), {"_events": 0})
        counts["_events"] += 1
        for identifier, fields in META_KEYS.items():
            if any(user.get(f) not in (None, "", []) for f in fields):
                counts[identifier] = counts.get(identifier, 0) + 1


def _share(counts: dict[str, int], identifier: str) -> float:
    return counts.get(identifier, 0) / counts["_events"]


def _meta_event(name: str, counts: dict[str, int]) -> dict[str, Any]:
    both = min(_share(counts, "ip_address"), _share(counts, "user_agent"))
    score = sum(w * _share(counts, k) for k, w in META_WEIGHTS.items()) + IP_AND_AGENT * both
    feedback = [
        {"identifier": k, "coverage": {"percentage": round(100 * _share(counts, k), 1)}}
        for k in META_KEYS
        if counts.get(k)
    ]
    diagnostics = []
    if _share(counts, "email") < 0.5:
        diagnostics.append({
            "name": "Send more customer information parameters",
            "description": "Fewer than half of these events carry an email address.",
            "solution": "Add hashed email (em) to the events you send.",
            "percentage": round(100 * (1 - _share(counts, "email")), 1),
            "affected_event_count": counts["_events"] - counts.get("email", 0),
        })  # fmt: skip
    return {
        "event_name": name,
        "event_match_quality": {
            "composite_score": round(min(score, 10.0), 1),
            "match_key_feedback": feedback,
            "diagnostics": diagnostics,
        },
        "event_coverage": {"goal_percentage": 75, "percentage": 100},
        "data_freshness": {"upload_frequency": "real_time"},
    }


def dataset_quality(call: Call) -> Reply:
    """Meta's Dataset Quality API over the events received so far."""
    if not token_ok(call.query.get("access_token")):
        error = {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}
        return Reply(401, {"error": {**error, "fbtrace_id": trace_id()}})
    if not call.query.get("dataset_id"):
        error = {"message": "(#100) The parameter dataset_id is required", "code": 100}
        return Reply(400, {"error": {**error, "type": "OAuthException", "fbtrace_id": trace_id()}})
    coverage = call.state.coverage
    return Reply(200, {"web": [_meta_event(n, c) for n, c in sorted(coverage.items())]})


def remember_request(call: Call, request_id: str, records: int) -> None:
    """An ``events:ingest`` request the status endpoint will answer for."""
    call.state.request_status[request_id] = records


def data_manager_status(call: Call) -> Reply:
    """Data Manager's ``requestStatus:retrieve`` for a request the emulator answered."""
    denied = google_rpc.auth_problem(call, developer_token=False)
    if denied is not None:
        return denied
    request_id = call.query.get("requestId", "")
    records = call.state.request_status.get(request_id)
    if records is None:
        return google_rpc.rpc_error(404, f"Request {request_id!r} not found.")
    status = {
        "destination": {"reference": "conversions"},
        "requestStatus": "SUCCESS",
        "eventsIngestionStatus": {"recordCount": str(records)},
    }
    return Reply(200, {"requestStatusPerDestination": [status]})


def upload_summary(call: Call) -> Reply:
    """``googleAds:search`` answering the offline conversion upload client summary."""
    denied = google_rpc.auth_problem(call, developer_token=True)
    if denied is not None:
        return denied
    if b"offline_conversion_upload_client_summary" not in call.body:
        return google_rpc.rpc_error(400, "The emulator answers only the upload summary query.")
    received = call.state.received
    summary = {
        "resourceName": f"customers/{call.match['cid']}/"
        "offlineConversionUploadClientSummaries/GOOGLE_ADS_API",
        "client": "GOOGLE_ADS_API",
        "status": "EXCELLENT" if received else "NO_RECENT_UPLOAD",
        "totalEventCount": str(received + call.state.rejected_events),
        "successfulEventCount": str(received),
        "pendingEventCount": "0",
        "successRate": received / max(received + call.state.rejected_events, 1),
        "lastUploadDateTime": dt.datetime.fromtimestamp(call.now, dt.UTC).strftime(
            "%Y-%m-%d %H:%M:%S"
        ),
        "alerts": [],
    }
    return Reply(200, {"results": [{"offlineConversionUploadClientSummary": summary}]})

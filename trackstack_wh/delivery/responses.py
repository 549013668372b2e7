"""Platform answers -> per-row outcomes: ``parse_response`` judges by the HTTP status
first, then lets the platform's parser (``parsers``) refine the verdict from the body."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from trackstack_wh.delivery.parsers import PARSERS
from trackstack_wh.delivery.taxonomy import (
    CONFIG,
    PERMANENT,
    RATE_LIMITED,
    RETRIED,
    RETRYABLE,
    class_for_status,
)
from trackstack_wh.delivery.verdicts import (
    Failure,
    Verdict,
    body_text,
    retry_after_seconds,
    unexpected_answer,
)

__all__ = ["PARSERS", "is_transient", "parse_response", "retry_after_seconds"]


def parse_response(
    destination: str,
    kind: str,
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    rows: Sequence[str],
) -> Verdict:
    """The verdict for one response. The HTTP status decides first: whatever the body
    (empty, text, HTML, JSON of any shape, truncated), a 408/425/429/5xx stays a retry and
    no answer makes the push fail; the body only refines the verdict."""
    try:
        body: Any = orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        body = content
    if 300 <= status < 400:
        return Verdict(request_failure=Failure(CONFIG, str(status), "redirected: check base_url"))
    if isinstance(body, bytes) and 200 <= status < 300:
        # Accepted or not? Unknown: send again (same dedup keys, so the platform drops
        # repeats) rather than guess.
        return Verdict(request_failure=Failure(RETRYABLE, f"unreadable_{status}", body_text(body)))
    if isinstance(body, bytes) and status >= 400:
        # HTML error pages and the like: a gateway problem, not an answer about the rows.
        cls = class_for_status(status)
        return Verdict(
            request_failure=Failure(
                RETRYABLE if cls == PERMANENT else cls,
                str(status),
                body_text(body),
                retry_after_seconds(headers),
            )
        )
    try:
        verdict = PARSERS[(destination, kind)](status, headers, body, rows)
    except Exception as exc:  # a body of a shape no parser expects
        verdict = Verdict(
            request_failure=unexpected_answer(status, body, headers, f"{type(exc).__name__}")
        )
    if is_transient(status):
        failure = verdict.request_failure
        if failure is None or failure.error_class not in RETRIED or verdict.row_failures:
            verdict = Verdict(
                request_failure=_transient(status, headers, failure), trace_id=verdict.trace_id
            )
    return verdict


def is_transient(status: int) -> bool:
    """Statuses that mean "not now": never a final answer about the rows."""
    return status in (408, 425, 429) or status >= 500


def _transient(status: int, headers: Mapping[str, str], said: Failure | None) -> Failure:
    cls = RATE_LIMITED if status == 429 else RETRYABLE
    code = said.code if said else str(status)
    message = said.message if said else f"HTTP {status}"
    return Failure(cls, code, message, retry_after_seconds(headers))

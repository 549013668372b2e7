"""Platform answers -> per-row outcomes.

Each destination answers in its own way: Meta, LinkedIn, TikTok, Snapchat, Reddit, HubSpot
events and Google's Data Manager reject a whole request for one bad row (some name the
row, some do not); Google Ads, HubSpot CRM upserts and Salesforce report per row; TikTok
reports errors inside HTTP 200. ``parse_response`` turns any of them into a ``Verdict``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from trackstack_wh.delivery.taxonomy import (
    BAD_IDENTIFIER,
    CONFIG,
    PERMANENT,
    RATE_LIMITED,
    RETRIED,
    RETRYABLE,
    TOO_OLD,
    class_for_status,
    classify,
)

MAX_MESSAGE = 300
ROW_FAULTS = frozenset({PERMANENT, TOO_OLD, BAD_IDENTIFIER})
"""Classes that, in a whole-request rejection, point at the rows rather than the request."""


@dataclass(frozen=True)
class Failure:
    """Why a request or a row did not go through."""

    error_class: str
    code: str | None
    message: str
    retry_after: float | None = None


@dataclass
class Verdict:
    """The outcome of one request for its rows (by position in the request).

    - ``batch_invalid``: the platform refused the whole request because of some rows; the
      ones it named are in ``row_failures``, the others must be sent again (without the bad
      ones); when it named none, the request is split to find them (``request_failure``
      then holds the platform's words, for a lone row that turns out bad).
    - ``request_failure`` alone: nothing was accepted, for a reason of the request (auth,
      rate limit, outage); every row shares it.
    - otherwise rows in ``row_failures`` failed and every other row was accepted.
    """

    request_failure: Failure | None = None
    batch_invalid: bool = False
    row_failures: dict[int, Failure] = field(default_factory=dict)
    trace_id: str | None = None
    accepted: int | None = None


Parser = Callable[[int, Mapping[str, str], Any, Sequence[str]], Verdict]


EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
LONG_NUMBER = re.compile(r"\+?\d[\d ()-]{6,}\d")


def _message(text: Any) -> str:
    """Platform text, shortened, with e-mail addresses and phone-like numbers masked (CRMs
    echo the values they refuse). Cut before matching: a huge body costs nothing more."""
    masked = EMAIL.sub("<email>", str(text or "")[: 2 * MAX_MESSAGE])
    return LONG_NUMBER.sub("<number>", masked)[:MAX_MESSAGE]


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date), as seconds."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None  # unreadable: back off as if there were none
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _failure(
    destination: str, status: int, code: Any, message: Any, headers: Mapping[str, str]
) -> Failure:
    code_text = None if code is None else str(code)
    text = _message(message)
    return Failure(
        classify(destination, status, code_text, text),
        code_text,
        text,
        retry_after_seconds(headers),
    )


def _dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (bodies come in any shape)."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _request_or_batch(failure: Failure, indices: dict[int, Failure] | None = None) -> Verdict:
    """A whole-request refusal: about rows when the class says so, else about the request."""
    if failure.error_class in ROW_FAULTS:
        return Verdict(request_failure=failure, batch_invalid=True, row_failures=indices or {})
    return Verdict(request_failure=failure)


def _meta(status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]) -> Verdict:
    if status == 200 and isinstance(body, dict) and "events_received" in body:
        received = body.get("events_received")
        return Verdict(
            trace_id=_str_or_none(body.get("fbtrace_id")),
            accepted=received if type(received) is int else None,
        )
    error = _dict(_dict(body).get("error"))
    code = error.get("code")
    if code is not None and error.get("error_subcode"):
        code = f"{code}/{error['error_subcode']}"
    message = error.get("error_user_msg") or error.get("message") or _text(body)
    verdict = _request_or_batch(_failure("meta", status, code, message, headers))
    verdict.trace_id = error.get("fbtrace_id")
    return verdict


def _google_error(status: int, headers: Mapping[str, str], body: Any, prefix: str) -> Verdict:
    error = _dict(_dict(body).get("error"))
    failure = _failure("google_ads", status, error.get("status"), error.get("message"), headers)
    indices: dict[int, Failure] = {}
    for detail in _list(error.get("details")):
        for violation in map(_dict, _list(_dict(detail).get("fieldViolations"))):
            match = re.match(rf"{prefix}\[(\d+)\]", str(violation.get("field", "")))
            if match:
                text = f"{violation.get('field')}: {violation.get('description', '')}"
                cls = classify("google_ads", status, None, text)
                indices[int(match.group(1))] = Failure(cls, "INVALID_ARGUMENT", _message(text))
    if indices:
        return Verdict(batch_invalid=True, row_failures=indices)
    return _request_or_batch(failure)


def _google_data_manager(
    status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]
) -> Verdict:
    if status == 200:
        return Verdict(trace_id=body.get("requestId") if isinstance(body, dict) else None)
    return _google_error(status, headers, body, "events")


def _google_ads(field_name: str) -> Parser:
    def parse(status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]) -> Verdict:
        if status != 200:
            return _google_error(status, headers, body, field_name)
        failures: dict[int, Failure] = {}
        partial = _dict(body).get("partialFailureError")
        for detail in _list(_dict(partial).get("details")):
            for error in map(_dict, _list(_dict(detail).get("errors"))):
                path = map(_dict, _list(_dict(error.get("location")).get("fieldPathElements")))
                index = next(
                    (
                        p.get("index")
                        for p in path
                        if p.get("fieldName")
                        in (field_name, "conversions", "conversion_adjustments")
                    ),
                    None,
                )
                if index is None:
                    continue
                code = next(iter(_dict(error.get("errorCode")).values()), None)
                failures[int(index)] = _failure("google_ads", 400, code, error.get("message"), {})
        if partial and not failures:
            failure = _failure("google_ads", 400, None, _dict(partial).get("message"), headers)
            return Verdict(request_failure=failure)
        return Verdict(row_failures=failures)

    return parse


def _indexed_lines(destination: str, status: int, text: str, pattern: str) -> dict[int, Failure]:
    """Row errors named by index inside one message (LinkedIn ``Index: 3, ...``, TikTok
    ``Batch.3.field: ...``)."""
    found: dict[int, Failure] = {}
    for part in re.split(r"\n|; ", text):
        match = re.search(pattern, part)
        if match and int(match.group(1)) not in found:
            cls = classify(destination, status, None, part)
            if cls not in ROW_FAULTS:
                cls = PERMANENT
            found[int(match.group(1))] = Failure(cls, None, _message(part.strip()))
    return found


def _linkedin(status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]) -> Verdict:
    if status in (200, 201) and isinstance(body, dict):
        failures = {
            i: Failure(class_for_status(e.get("status")), str(e.get("status")), _text(e))
            for i, e in enumerate(_list(body.get("elements")))
            if isinstance(e, dict)
            and isinstance(e.get("status", 201), int)
            and e.get("status", 201) >= 400
        }
        return Verdict(row_failures=failures)
    body = body if isinstance(body, dict) else {}
    message = body.get("message") or ""
    code = body.get("code") or body.get("serviceErrorCode")
    indices = _indexed_lines("linkedin", status, message, r"Index: (\d+)")
    if indices and status in (400, 422):
        return Verdict(batch_invalid=True, row_failures=indices)
    return _request_or_batch(_failure("linkedin", status, code, message, headers))


def _tiktok(status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]) -> Verdict:
    if status != 200 or not isinstance(body, dict) or "code" not in body:
        return Verdict(request_failure=_failure("tiktok", status, None, _text(body), headers))
    code, message, trace = body.get("code"), body.get("message") or "", body.get("request_id")
    if code in (0, 20001):
        return Verdict(trace_id=trace)
    failure = _failure("tiktok", status, code, message, headers)
    indices = _indexed_lines("tiktok", 400, message, r"Batch\.(\d+)\.")
    if indices and failure.error_class in ROW_FAULTS:
        return Verdict(batch_invalid=True, row_failures=indices, trace_id=trace)
    verdict = _request_or_batch(failure)
    verdict.trace_id = trace
    return verdict


def _snapchat(status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]) -> Verdict:
    body = body if isinstance(body, dict) else {}
    if status == 200 and body.get("status") != "INVALID":
        return Verdict()
    if status == 200 and body.get("event_logs"):
        failures = {
            log["event"]: Failure(PERMANENT, "INVALID", _message(log.get("errors")))
            for log in map(_dict, _list(body["event_logs"]))
            if log.get("status") == "INVALID" and isinstance(log.get("event"), int)
        }
        return Verdict(row_failures=failures)
    errors = _dict(body.get("errors"))
    codes = _list(errors.get("codes")) or [None]
    failure = _failure("snapchat", status, codes[0], body.get("reason") or _text(body), headers)
    if failure.error_class not in ROW_FAULTS:
        return Verdict(request_failure=failure)
    indices: dict[int, Failure] = {}
    for text in _list(errors.get("error_msgs")):
        match = re.match(r"event (\d+)", str(text))
        if match:
            indices[int(match.group(1))] = Failure(
                failure.error_class, failure.code, _message(text)
            )
    if isinstance(body.get("event"), int):
        indices.setdefault(body["event"], failure)
    return _request_or_batch(failure, indices)


def _reddit(status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]) -> Verdict:
    body = body if isinstance(body, dict) else {}
    if status == 200:
        return Verdict()
    invalid = [_dict(i) for i in _list(body.get("invalid_events"))]
    if status == 400 and invalid:
        position = {_reddit_id(orjson.loads(r)): i for i, r in enumerate(rows)}
        failures: dict[int, Failure] = {}
        for item in invalid:
            index = position.get(_reddit_id(_dict(item.get("event"))))
            if index is not None:
                message = item.get("error_message") or ""
                cls = classify("reddit", 400, None, message)
                failures[index] = Failure(
                    cls if cls in ROW_FAULTS else PERMANENT, None, _message(message)
                )
        return Verdict(batch_invalid=True, row_failures=failures)
    error = _dict(body.get("error"))
    code = error.get("reason")
    message = error.get("explanation") or body.get("message") or _text(body)
    return _request_or_batch(_failure("reddit", status, code, message, headers))


def _reddit_id(event: dict[str, Any]) -> Any:
    return _dict(event.get("metadata")).get("conversion_id"), event.get("event_at")


def _hubspot(status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]) -> Verdict:
    if status in (200, 201, 204):
        return Verdict()
    body = body if isinstance(body, dict) else {}
    code = body.get("errorType") or body.get("category")
    errors = [_dict(e) for e in _list(body.get("errors"))]
    if status == 207:
        position = {orjson.loads(r).get("id"): i for i, r in enumerate(rows)}
        failures = {}
        for error in errors:
            for key in _list(_dict(error.get("context")).get("id")):
                if key in position:
                    failures[position[key]] = _failure(
                        "hubspot", 400, error.get("category"), error.get("message"), {}
                    )
        return Verdict(row_failures=failures)
    failure = _failure("hubspot", status, code, body.get("message") or _text(body), headers)
    indices = {
        int(i): _failure("hubspot", status, error.get("category"), error.get("message"), {})
        for error in errors
        for i in _list(_dict(error.get("context")).get("index"))
        if str(i).isdigit()
    }
    if indices and status == 400:
        return Verdict(batch_invalid=True, row_failures=indices)
    return _request_or_batch(failure)


def _salesforce(status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]) -> Verdict:
    if status == 200 and isinstance(body, list):
        failures = {}
        for i, result in enumerate(body):
            if isinstance(result, dict) and not result.get("success", False):
                error = _dict((_list(result.get("errors")) or [{}])[0])
                failures[i] = _failure(
                    "salesforce", 400, error.get("statusCode"), error.get("message"), {}
                )
        return Verdict(row_failures=failures)
    error = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
    failure = _failure(
        "salesforce", status, error.get("errorCode"), error.get("message") or _text(body), headers
    )
    return _request_or_batch(failure)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)[:MAX_MESSAGE]


def _text(body: Any) -> str:
    if isinstance(body, bytes):
        return body[:MAX_MESSAGE].decode("utf-8", "replace")
    return _message(
        orjson.dumps(body)[: 2 * MAX_MESSAGE].decode("utf-8", "replace") if body is not None else ""
    )


PARSERS: dict[tuple[str, str], Parser] = {
    ("meta", "event"): _meta,
    ("google_ads", "event"): _google_data_manager,
    ("google_ads", "click_conversion"): _google_ads("conversions"),
    ("google_ads", "conversion_adjustment"): _google_ads("conversionAdjustments"),
    ("linkedin", "event"): _linkedin,
    ("tiktok", "event"): _tiktok,
    ("snapchat", "event"): _snapchat,
    ("reddit", "event"): _reddit,
    ("hubspot", "custom_event"): _hubspot,
    ("hubspot", "deal"): _hubspot,
    ("hubspot", "contact"): _hubspot,
    ("salesforce", "opportunity"): _salesforce,
    ("salesforce", "lead"): _salesforce,
}


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
        return Verdict(request_failure=Failure(RETRYABLE, f"unreadable_{status}", _text(body)))
    if isinstance(body, bytes) and status >= 400:
        # HTML error pages and the like: a gateway problem, not an answer about the rows.
        cls = class_for_status(status)
        return Verdict(
            request_failure=Failure(
                RETRYABLE if cls == PERMANENT else cls,
                str(status),
                _text(body),
                retry_after_seconds(headers),
            )
        )
    try:
        verdict = PARSERS[(destination, kind)](status, headers, body, rows)
    except Exception as exc:  # a body of a shape no parser expects
        verdict = Verdict(request_failure=_unexpected(status, headers, body, exc))
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


def _unexpected(status: int, headers: Mapping[str, str], body: Any, exc: Exception) -> Failure:
    """An answer of a shape no parser knows: by its status, and never permanent (the same
    dedup keys make a resend harmless)."""
    cls = class_for_status(status)
    if cls == PERMANENT:
        cls = RETRYABLE
    message = f"unexpected answer ({type(exc).__name__}): {_text(body)}"
    return Failure(cls, f"unexpected_{status}", message[:MAX_MESSAGE], retry_after_seconds(headers))

"""Each platform's answers -> a ``Verdict`` for the request and its rows.

Meta, LinkedIn, TikTok, Snapchat, Reddit, HubSpot events and Google's Data Manager reject a
whole request for one bad row (some name the row, some do not); Google Ads, HubSpot CRM
upserts and updates and Salesforce report per row; TikTok reports errors inside HTTP 200.
A churn update of a CRM record the platform does not have is rejected ``record_not_found``
(`NOT_FOUND`), the platform's code and message kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from trackstack_wh.delivery.taxonomy import PERMANENT, RETRYABLE, class_for_status, classify
from trackstack_wh.delivery.verdicts import (
    ROW_FAULTS,
    Failure,
    Parser,
    Verdict,
    as_dict,
    as_list,
    body_text,
    failure_of,
    indexed_lines,
    platform_text,
    request_or_batch,
    short_or_none,
    unexpected_answer,
)

NOT_FOUND = "record_not_found"
"""The ``error_code`` of a rejected CRM update whose record the platform does not have
(HubSpot ``OBJECT_NOT_FOUND``, Salesforce ``REQUIRED_FIELD_MISSING`` on a churn)."""


def _meta(status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]) -> Verdict:
    if status == 200 and isinstance(body, dict) and "events_received" in body:
        received = body.get("events_received")
        return Verdict(
            trace_id=short_or_none(body.get("fbtrace_id")),
            accepted=received if type(received) is int else None,
        )
    if 200 <= status < 300:
        return Verdict(request_failure=unexpected_answer(status, body))
    error = as_dict(as_dict(body).get("error"))
    code = error.get("code")
    if code is not None and error.get("error_subcode"):
        code = f"{code}/{error['error_subcode']}"
    message = error.get("error_user_msg") or error.get("message") or body_text(body)
    verdict = request_or_batch(failure_of("meta", status, code, message, headers))
    verdict.trace_id = short_or_none(error.get("fbtrace_id"))
    return verdict


def _google_error(status: int, headers: Mapping[str, str], body: Any, prefix: str) -> Verdict:
    error = as_dict(as_dict(body).get("error"))
    failure = failure_of("google_ads", status, error.get("status"), error.get("message"), headers)
    indices: dict[int, Failure] = {}
    for detail in as_list(error.get("details")):
        for violation in map(as_dict, as_list(as_dict(detail).get("fieldViolations"))):
            match = re.match(rf"{prefix}\[(\d+)\]", str(violation.get("field", "")))
            if match:
                text = f"{violation.get('field')}: {violation.get('description', '')}"
                cls = classify("google_ads", status, None, text)
                indices[int(match.group(1))] = Failure(cls, "INVALID_ARGUMENT", platform_text(text))
    if indices:
        return Verdict(batch_invalid=True, row_failures=indices)
    return request_or_batch(failure)


def _google_data_manager(
    status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]
) -> Verdict:
    if status == 200:
        if not isinstance(body, dict):
            return Verdict(request_failure=unexpected_answer(status, body))
        return Verdict(trace_id=short_or_none(body.get("requestId")))
    return _google_error(status, headers, body, "events")


def _google_ads(field_name: str) -> Parser:
    def parse(status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]) -> Verdict:
        if status != 200:
            return _google_error(status, headers, body, field_name)
        if not isinstance(body, dict):
            return Verdict(request_failure=unexpected_answer(status, body))
        failures: dict[int, Failure] = {}
        partial = as_dict(body).get("partialFailureError")
        for detail in as_list(as_dict(partial).get("details")):
            for error in map(as_dict, as_list(as_dict(detail).get("errors"))):
                path = map(
                    as_dict, as_list(as_dict(error.get("location")).get("fieldPathElements"))
                )
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
                code = next(iter(as_dict(error.get("errorCode")).values()), None)
                failures[int(index)] = failure_of("google_ads", 400, code, error.get("message"), {})
        if partial and not failures:
            failure = failure_of("google_ads", 400, None, as_dict(partial).get("message"), headers)
            return Verdict(request_failure=failure)
        return Verdict(row_failures=failures)

    return parse


def _linkedin(status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]) -> Verdict:
    if 200 <= status < 300:
        elements = as_dict(body).get("elements")
        if not isinstance(elements, list) or len(elements) != len(rows):
            return Verdict(request_failure=unexpected_answer(status, body))
        failures = {
            i: Failure(class_for_status(e.get("status")), str(e.get("status")), body_text(e))
            for i, e in enumerate(elements)
            if isinstance(e, dict)
            and isinstance(e.get("status", 201), int)
            and e.get("status", 201) >= 400
        }
        return Verdict(row_failures=failures)
    body = body if isinstance(body, dict) else {}
    message = body.get("message") or ""
    code = body.get("code") or body.get("serviceErrorCode")
    indices = indexed_lines("linkedin", status, message, r"Index: (\d+)")
    if indices and status in (400, 422):
        return Verdict(batch_invalid=True, row_failures=indices)
    return request_or_batch(failure_of("linkedin", status, code, message, headers))


def _tiktok(status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]) -> Verdict:
    if status == 200 and (not isinstance(body, dict) or "code" not in body):
        return Verdict(request_failure=unexpected_answer(status, body))
    if status != 200 or not isinstance(body, dict):
        return Verdict(request_failure=failure_of("tiktok", status, None, body_text(body), headers))
    code, message = body.get("code"), body.get("message") or ""
    trace = short_or_none(body.get("request_id"))
    if code in (0, 20001):
        return Verdict(trace_id=trace)
    failure = failure_of("tiktok", status, code, message, headers)
    indices = indexed_lines("tiktok", 400, message, r"Batch\.(\d+)\.")
    if indices and failure.error_class in ROW_FAULTS:
        return Verdict(batch_invalid=True, row_failures=indices, trace_id=trace)
    verdict = request_or_batch(failure)
    verdict.trace_id = trace
    return verdict


def _snapchat(status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]) -> Verdict:
    if 200 <= status < 300 and not isinstance(body, dict):
        return Verdict(request_failure=unexpected_answer(status, body))
    body = body if isinstance(body, dict) else {}
    if status == 200 and body.get("status") != "INVALID":
        return Verdict()
    if status == 200 and body.get("event_logs"):
        failures = {
            log["event"]: Failure(PERMANENT, "INVALID", platform_text(log.get("errors")))
            for log in map(as_dict, as_list(body["event_logs"]))
            if log.get("status") == "INVALID" and isinstance(log.get("event"), int)
        }
        return Verdict(row_failures=failures)
    errors = as_dict(body.get("errors"))
    codes = as_list(errors.get("codes")) or [None]
    failure = failure_of(
        "snapchat", status, codes[0], body.get("reason") or body_text(body), headers
    )
    if failure.error_class not in ROW_FAULTS:
        return Verdict(request_failure=failure)
    indices: dict[int, Failure] = {}
    for text in as_list(errors.get("error_msgs")):
        match = re.match(r"event (\d+)", str(text))
        if match:
            indices[int(match.group(1))] = Failure(
                failure.error_class, failure.code, platform_text(text)
            )
    if isinstance(body.get("event"), int):
        indices.setdefault(body["event"], failure)
    return request_or_batch(failure, indices)


def _reddit(status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]) -> Verdict:
    body = body if isinstance(body, dict) else {}
    if status == 200:
        return Verdict()
    invalid = [as_dict(i) for i in as_list(body.get("invalid_events"))]
    if status == 400 and invalid:
        position = {_reddit_id(orjson.loads(r)): i for i, r in enumerate(rows)}
        failures: dict[int, Failure] = {}
        for item in invalid:
            index = position.get(_reddit_id(as_dict(item.get("event"))))
            if index is not None:
                message = item.get("error_message") or ""
                cls = classify("reddit", 400, None, message)
                failures[index] = Failure(
                    cls if cls in ROW_FAULTS else PERMANENT, None, platform_text(message)
                )
        return Verdict(batch_invalid=True, row_failures=failures)
    error = as_dict(body.get("error"))
    code = error.get("reason")
    message = error.get("explanation") or body.get("message") or body_text(body)
    return request_or_batch(failure_of("reddit", status, code, message, headers))


def _reddit_id(event: dict[str, Any]) -> Any:
    return as_dict(event.get("metadata")).get("conversion_id"), event.get("event_at")


def _hubspot(status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]) -> Verdict:
    if status in (200, 201, 204):
        return Verdict()
    body = body if isinstance(body, dict) else {}
    code = body.get("errorType") or body.get("category")
    errors = [as_dict(e) for e in as_list(body.get("errors"))]
    if status == 207:
        ids = [orjson.loads(r).get("id") for r in rows]
        # An ID as sent, or as HubSpot may echo it (an email lowercased).
        position = {str(k).lower(): i for i, k in enumerate(ids)} | {
            str(k): i for i, k in enumerate(ids)
        }
        failures = {}
        for error in errors:
            context = as_dict(error.get("context"))
            for key in [*as_list(context.get("id")), *as_list(context.get("ids"))]:
                index = position.get(str(key), position.get(str(key).lower()))
                if index is not None:
                    failures[index] = _hubspot_row_failure(error)
        if errors and not failures:  # refused rows it does not name: resend them all
            return Verdict(request_failure=unexpected_answer(status, body))
        return Verdict(row_failures=failures)
    failure = failure_of("hubspot", status, code, body.get("message") or body_text(body), headers)
    indices = {
        int(i): failure_of("hubspot", status, error.get("category"), error.get("message"), {})
        for error in errors
        for i in as_list(as_dict(error.get("context")).get("index"))
        if str(i).isdigit()
    }
    if indices and status == 400:
        return Verdict(batch_invalid=True, row_failures=indices)
    return request_or_batch(failure)


def _hubspot_row_failure(error: dict[str, Any]) -> Failure:
    """One input's error in a 207: ``OBJECT_NOT_FOUND`` (a ``batch/update`` naming an ID the
    portal has no record for, in ``context.ids``) rejects the row as `NOT_FOUND`."""
    if error.get("category") == "OBJECT_NOT_FOUND":
        return not_found("OBJECT_NOT_FOUND", error.get("message"))
    return failure_of("hubspot", 400, error.get("category"), error.get("message"), {})


def not_found(code: str, message: Any) -> Failure:
    """A row updating a CRM record the platform does not have (a churn only updates):
    rejected as `NOT_FOUND`, the platform's code and words kept in the message."""
    return Failure(PERMANENT, NOT_FOUND, platform_text(f"{code}: {message or ''}"))


def _salesforce_update(
    status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]
) -> Verdict:
    """Account and Contact churn updates: they carry no Name / LastName, so an upsert of
    an external ID the org does not have is refused ``REQUIRED_FIELD_MISSING`` (nothing
    is created): that row's record was not found."""
    verdict = _salesforce(status, headers, body, rows)
    for i, failure in verdict.row_failures.items():
        if failure.code == "REQUIRED_FIELD_MISSING":
            verdict.row_failures[i] = not_found(failure.code, failure.message)
    return verdict


def _salesforce(status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]) -> Verdict:
    if 200 <= status < 300 and (not isinstance(body, list) or len(body) != len(rows)):
        return Verdict(request_failure=unexpected_answer(status, body))
    if isinstance(body, list) and 200 <= status < 300:
        failures = {}
        for i, result in enumerate(body):
            if isinstance(result, dict) and not result.get("success", False):
                error = as_dict((as_list(result.get("errors")) or [{}])[0])
                failures[i] = failure_of(
                    "salesforce", 400, error.get("statusCode"), error.get("message"), {}
                )
        return Verdict(row_failures=failures)
    error = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
    failure = failure_of(
        "salesforce",
        status,
        error.get("errorCode"),
        error.get("message") or body_text(body),
        headers,
    )
    return request_or_batch(failure)


def _posthog(status: int, headers: Mapping[str, str], body: Any, rows: Sequence[str]) -> Verdict:
    """PostHog's capture answers ``{"status": 1}`` (or ``"Ok"``) for a batch it took
    whole; a ``quota_limited`` list means the project is over its billing limit and
    dropped the events: failed for a later run, never delivered. A 400 refuses the whole
    batch without naming a row (split to find it); 413 is a body over 20 MB (split)."""
    doc = as_dict(body)
    if 200 <= status < 300:
        if doc.get("status") not in (1, "Ok", "ok"):
            return Verdict(request_failure=unexpected_answer(status, body))
        if as_list(doc.get("quota_limited")):
            message = "project over its billing quota: events dropped " + body_text(body)
            return Verdict(request_failure=Failure(RETRYABLE, "quota_limited", message))
        return Verdict(accepted=len(rows))
    code = doc.get("code") or doc.get("type")
    message = doc.get("detail") or doc.get("error") or body_text(body)
    return request_or_batch(failure_of("posthog", status, code, message, headers))


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
    ("hubspot", "company"): _hubspot,
    ("salesforce", "opportunity"): _salesforce,
    ("salesforce", "lead"): _salesforce,
    ("salesforce", "account"): _salesforce_update,
    ("salesforce", "contact"): _salesforce_update,
    ("posthog", "identify"): _posthog,
    ("posthog", "event"): _posthog,
}

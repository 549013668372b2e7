"""Whatever a platform, proxy or load balancer answers, the verdict is by status first:
no body makes a parser fail, and 408/425/429/5xx always stay retryable. And no form of a
credential survives the masker."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from trackstack_wh.delivery.masking import Masker
from trackstack_wh.delivery.responses import PARSERS, is_transient, parse_response
from trackstack_wh.delivery.taxonomy import RETRIED

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(
        st.sampled_from(
            ["error", "errors", "code", "message", "status", "events_received", "elements",
             "event_logs", "invalid_events", "partialFailureError", "details", "context",
             "index", "id", "success", "fieldViolations", "results", "event", "reason"]
        ) | st.text(max_size=8),
        inner,
        max_size=5,
    ),
    max_leaves=12,
)  # fmt: skip
"""JSON of any shape, with the keys the parsers look for, holding values of any type."""

ODD_BODIES = [
    b"",
    b'{"error": "rate limited"}',
    b'{"errors": "too many requests"}',
    b'{"error": {"code": "4", "message": 17}}',
    b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
    b'{"events_received": "12", "fbtrace_id": {"x": 1}}',
    b'{"error": {"code": 100, "message": "Invalid parameter"',
    b"HUGE",
    b"\xff\xfe not utf-8",
    b"null",
    b"[]",
    b'{"code": "40100", "message": null}',
]


def bodies() -> st.SearchStrategy[bytes]:
    return (
        st.sampled_from(ODD_BODIES).map(
            lambda b: b'{"error": "' + b"x" * 1_000_000 + b'"}' if b == b"HUGE" else b
        )
        | JSON_VALUES.map(orjson.dumps)
        | JSON_VALUES.map(lambda v: orjson.dumps(v)[: max(1, len(orjson.dumps(v)) // 2)])
        | st.binary(max_size=64)
        | st.text(max_size=64).map(str.encode)
    )


STATUSES = st.sampled_from([200, 201, 204, 207, 400, 401, 403, 404, 408, 409, 413, 422, 425,
                            429, 500, 502, 503, 504]) | st.integers(100, 599)  # fmt: skip
ROWS = [orjson.dumps({"id": f"k{i}", "event_id": f"e{i}", "metadata": {"conversion_id": f"c{i}"}})
        .decode() for i in range(3)]  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(
    route=st.sampled_from(sorted(PARSERS)),
    status=STATUSES,
    body=bodies(),
    retry_after=st.sampled_from([None, "3", "Wed, 21 Oct 2015 07:28:00 GMT", "soon", "-1"]),
)
def test_any_status_and_body_gives_a_verdict_and_transient_stays_retryable(
    route: tuple[str, str], status: int, body: bytes, retry_after: str | None
) -> None:
    headers = {"retry-after": retry_after} if retry_after else {}
    verdict = parse_response(route[0], route[1], status, headers, body, ROWS)
    if is_transient(status):
        assert verdict.request_failure is not None
        assert verdict.request_failure.error_class in RETRIED
        assert not verdict.batch_invalid and not verdict.row_failures
    if verdict.request_failure is not None and verdict.request_failure.retry_after is not None:
        assert verdict.request_failure.retry_after >= 0
    assert verdict.accepted is None or isinstance(verdict.accepted, int)


def test_a_proxy_429_or_html_503_is_a_retry_for_every_destination() -> None:
    html = ODD_BODIES[4]
    for destination, kind in PARSERS:
        limited = parse_response(destination, kind, 429, {"retry-after": "2"},
                                 b'{"error": "rate limited"}', ROWS)  # fmt: skip
        assert limited.request_failure is not None
        assert limited.request_failure.error_class == "rate_limited"
        assert limited.request_failure.retry_after == 2.0
        outage = parse_response(destination, kind, 503, {}, html, ROWS)
        assert outage.request_failure is not None
        assert outage.request_failure.error_class == "retryable", (destination, kind)


def test_a_platform_code_never_makes_a_server_error_permanent() -> None:
    # Meta code 100 is a permanent "invalid parameter" in a 400; inside a 500 it is not.
    body = b'{"error": {"code": 100, "message": "Invalid parameter", "fbtrace_id": "A"}}'
    verdict = parse_response("meta", "event", 500, {}, body, ROWS)
    assert verdict.request_failure is not None
    assert verdict.request_failure.error_class == "retryable"
    assert parse_response("meta", "event", 400, {}, body, ROWS).batch_invalid


TOKEN = "EAAGm0PX4ZCpsBA+secret/token=="


def echoed_forms(token: str) -> list[str]:
    return [
        token,
        quote(token, safe=""),
        quote_plus(token),
        json.dumps(token)[1:-1],
        json.dumps(json.dumps(token))[1:-1],
        base64.b64encode(f"user:{token}".encode()).decode(),
        base64.b64encode(token.encode()).decode(),
        base64.urlsafe_b64encode(f"{token}:".encode()).decode(),
        "Basic " + base64.b64encode(f"api:{token}".encode()).decode(),
    ]


def test_every_form_of_a_credential_is_masked_and_other_text_kept() -> None:
    mask = Masker([TOKEN, "tiny", None])
    for form in echoed_forms(TOKEN):
        text = f"Invalid OAuth access token - Cannot parse access token: {form} (code 190)"
        masked = mask(text)
        assert form not in masked and TOKEN not in masked, form
        assert masked.startswith("Invalid OAuth access token") and masked.endswith("(code 190)")
    assert mask("a tiny note about base64 dXNlcjpwYXNz") == "a tiny note about base64 dXNlcjpwYXNz"
    body = orjson.dumps({"error": {"message": f"bad token {TOKEN}"}})
    assert TOKEN.encode() not in mask.content(body)
    assert orjson.loads(mask.content(body))["error"]["message"] == "bad token ***"


def test_a_2xx_of_an_unexpected_shape_is_sent_again_never_counted_or_rejected() -> None:
    two = [ROWS[0], ROWS[1]]
    cases = [
        ("meta", "event", 200, b'{"success": true}'),
        ("meta", "event", 202, b""),
        ("salesforce", "opportunity", 200, b"[]"),
        ("salesforce", "lead", 200, b'{"ok": 1}'),
        ("linkedin", "event", 200, b"{}"),
        ("google_ads", "click_conversion", 200, b'"x"'),
        ("snapchat", "event", 200, b'"rate limited"'),
        ("tiktok", "event", 200, b"[]"),
        ("hubspot", "deal", 207, b'{"errors": [{"message": "bad", "context": {}}]}'),
    ]
    for destination, kind, status, body in cases:
        verdict = parse_response(destination, kind, status, {}, body, two)
        failure = verdict.request_failure
        assert failure is not None and failure.error_class == "retryable", (destination, body)
        assert not verdict.batch_invalid and not verdict.row_failures
    tiktok = parse_response("tiktok", "event", 200, {}, b'{"code": 0, "request_id": 12345}', two)
    assert tiktok.request_failure is None and tiktok.trace_id == "12345"

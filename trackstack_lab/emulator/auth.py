"""Credentials on every platform route: where each platform reads the token, how it
answers an expired, revoked or under-scoped one (status and body as it documents them),
and the cheap authenticated "who am I" call each offers.

Token and check routes are the auth plane: they take no queued fault and do not count
in ``stats`` (``/_emulator/auth`` has their counters). A static token the emulator did
not issue is judged by its prefix (``tokens.TokenBook``), so tests can hand in an
``expired-...`` or ``noscope-...`` token without a token endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trackstack_lab.emulator.checks import bearer, new_uuid
from trackstack_lab.emulator.grants import handle_grant
from trackstack_lab.emulator.platforms import (
    google_rpc,
    hubspot,
    linkedin,
    meta,
    posthog,
    reddit,
    salesforce,
    snapchat,
    tiktok,
)
from trackstack_lab.emulator.readback import data_manager_status
from trackstack_lab.emulator.tokens import EXPIRED, INVALID, OK, REVOKED, SCOPE
from trackstack_lab.emulator.wire import Call, Reply, Route, route

Denial = Callable[[str], Reply]


def _query_or_bearer(call: Call) -> str | None:
    return call.query.get("access_token") or bearer(call.headers)


CREDENTIALS: dict[str, Callable[[Call], str | None]] = {
    "meta": lambda call: call.query.get("access_token"),
    "tiktok": lambda call: call.headers.get("access-token"),
    "snapchat": _query_or_bearer,
    "posthog": posthog.body_key,
}
"""Where a platform reads the access token (default: ``Authorization: Bearer``)."""


def _meta(state: str) -> Reply:
    if state == SCOPE:
        error = {"message": "(#200) Requires ads_management permission to manage the object",
                 "type": "OAuthException", "code": 200}  # fmt: skip
        return meta.graph_error(403, error)
    subcode, why = (463, "Session has expired") if state == EXPIRED else (
        458, "The user has not authorized application")  # fmt: skip
    error = {"message": f"Error validating access token: {why}.", "type": "OAuthException",
             "code": 190, "error_subcode": subcode}  # fmt: skip
    return meta.graph_error(401, error)


def _google(state: str) -> Reply:
    info = "type.googleapis.com/google.rpc.ErrorInfo"
    if state == SCOPE:
        detail = {"@type": info, "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}
        return google_rpc.rpc_error(403, "Request had insufficient authentication scopes.",
                                    [detail])  # fmt: skip
    if state == EXPIRED:
        detail = {"@type": info, "reason": "ACCESS_TOKEN_EXPIRED", "domain": "googleapis.com"}
        reply = google_rpc.auth_error()
        reply.body["error"]["details"] = [detail]
        return reply
    return google_rpc.auth_error()


def _linkedin(state: str) -> Reply:
    if state == SCOPE:
        return linkedin.error(403, "Not enough permissions to access: conversionEvents",
                              serviceErrorCode=100, code="ACCESS_DENIED")  # fmt: skip
    if state == EXPIRED:
        return linkedin.error(401, "The token used in the request has expired",
                              serviceErrorCode=65602, code="EXPIRED_ACCESS_TOKEN")  # fmt: skip
    return linkedin.error(401, "The token used in the request has been revoked by the user",
                          serviceErrorCode=65601, code="REVOKED_ACCESS_TOKEN")  # fmt: skip


def _tiktok(state: str) -> Reply:
    if state == SCOPE:
        return tiktok.answer(40001, "No permission to operate this pixel with this access token.")
    if state == EXPIRED:
        return tiktok.answer(40102, "Access token has expired.")
    return tiktok.auth_error()


def _snapchat(state: str) -> Reply:
    if state == SCOPE:
        reply = snapchat.invalid("Forbidden: the access token lacks the required scope", 403)
        reply.headers.append(("WWW-Authenticate", 'Bearer error="insufficient_scope"'))
        return reply
    word = "expired" if state == EXPIRED else "revoked"
    reply = snapchat.invalid(f"Unauthorized: access token {word}", 401)
    challenge = f'Bearer error="invalid_token", error_description="access token {word}"'
    reply.headers.append(("WWW-Authenticate", challenge))
    return reply


def _reddit(state: str) -> Reply:
    if state == SCOPE:
        return reddit.failure(403, "FORBIDDEN", "The access token lacks the adsconversions scope.")
    word = "expired" if state == EXPIRED else "been revoked"
    return reddit.failure(401, "UNAUTHORIZED", f"The access token has {word}.")


def _hubspot(state: str) -> Reply:
    if state == SCOPE:
        message = "This app hasn't been granted all required scopes to make this call."
        return hubspot.error(403, message, "MISSING_SCOPES")
    if state == EXPIRED:
        message = "The OAuth token used to make this call expired 1 second(s) ago."
        return hubspot.error(401, message, "EXPIRED_AUTHENTICATION")
    message = "The OAuth token used to make this call has been revoked."
    return hubspot.error(401, message, "INVALID_AUTHENTICATION")


def _salesforce(state: str) -> Reply:
    if state == SCOPE:
        message = "This session is not valid for use with the REST API"
        return salesforce.error_list(403, message, "INVALID_SESSION_ID")
    return salesforce.auth_error()


DENIALS: dict[str, Denial] = {
    "meta": _meta,
    "google_ads": _google,
    "linkedin": _linkedin,
    "tiktok": _tiktok,
    "snapchat": _snapchat,
    "reddit": _reddit,
    "hubspot": _hubspot,
    "salesforce": _salesforce,
    "posthog": lambda state: posthog.auth_error(),
}
"""Each platform's answer to an expired, revoked or under-scoped token."""
INVALID_ANSWERS: dict[str, Callable[[], Reply]] = {
    "meta": meta.auth_error,
    "google_ads": google_rpc.auth_error,
    "linkedin": linkedin.auth_error,
    "tiktok": tiktok.auth_error,
    "snapchat": snapchat.auth_error,
    "reddit": reddit.auth_error,
    "hubspot": hubspot.auth_error,
    "salesforce": salesforce.auth_error,
    "posthog": posthog.auth_error,
}


def token_state(call: Call) -> str:
    """The state of the request's access token on its platform."""
    token = CREDENTIALS.get(call.destination, lambda c: bearer(c.headers))(call)
    return call.state.tokens.state(token)


def denial(call: Call) -> Reply | None:
    """The platform's answer when the request's token is expired, revoked or lacks the
    scope; None otherwise (an invalid token is the handler's to refuse)."""
    state = token_state(call)
    if state in (EXPIRED, REVOKED, SCOPE):
        return DENIALS[call.destination](state)
    return None


def _checked(success: Callable[[Call], Reply]) -> Callable[[Call], Reply]:
    """A check route: count it, refuse a bad token as the platform does, else answer."""

    def handle(call: Call) -> Reply:
        call.state.tokens.checks += 1
        state = token_state(call)
        if state == INVALID:
            return INVALID_ANSWERS[call.destination]()
        if state != OK:
            return DENIALS[call.destination](state)
        return success(call)

    return handle


def _json(body: Any) -> Callable[[Call], Reply]:
    return lambda call: Reply(200, body)


def _meta_me(call: Call) -> Reply:
    return Reply(200, {"id": call.match["pixel_id"]})


def _accessible_customers(call: Call) -> Reply:
    denied = google_rpc.auth_problem(call, developer_token=True)
    return denied or Reply(200, {"resourceNames": ["customers/1234567890"]})


def _tiktok_user(call: Call) -> Reply:
    data = {"core_user_id": "7000000000000000001", "display_name": "emulator"}
    return Reply(200, {"code": 0, "message": "OK", "request_id": new_uuid(), "data": data})


def _salesforce_limits(call: Call) -> Reply:
    used = call.state.tokens.checks
    reply = Reply(200, {"DailyApiRequests": {"Max": 100_000, "Remaining": 100_000 - used}})
    reply.headers.append(("Sforce-Limit-Info", f"api-usage={used}/100000"))
    return reply


CHECKS: dict[str, tuple[tuple[str, Callable[[Call], Reply]], ...]] = {
    "meta": ((r"/(?P<version>v\d+\.\d+)/(?P<pixel_id>\d+)", _meta_me),),
    "google_ads": (
        (r"/(?P<version>v\d+)/requestStatus:retrieve", data_manager_status),
        (r"/(?P<version>v\d+)/customers:listAccessibleCustomers", _accessible_customers),
    ),
    "linkedin": ((r"/rest/adAccountUsers", _json({
        "elements": [{"account": "urn:li:sponsoredAccount:500000001", "role": "CAMPAIGN_MANAGER",
                      "user": "urn:li:person:emulator"}],
        "paging": {"count": 10, "start": 0, "links": []}})),),
    "tiktok": ((r"/open_api/(?P<version>[^/]+)/user/info/?", _tiktok_user),),
    "snapchat": ((r"/v1/me", _json({"request_status": "SUCCESS", "request_id": "emulator",
                                     "me": {"id": "emulator", "display_name": "Emulator"}})),),
    "reddit": ((r"/api/v3/me", _json({"data": {"id": "t2_emulator", "username": "emulator"}})),),
    "hubspot": ((r"/account-info/v3/details", _json({
        "portalId": 4455667, "accountType": "STANDARD", "timeZone": "US/Eastern",
        "companyCurrency": "USD", "additionalCurrencies": [], "utcOffset": "-05:00",
        "utcOffsetMilliseconds": -18_000_000, "uiDomain": "app.hubspot.com",
        "dataHostingLocation": "na1"})),),
    "salesforce": ((r"/services/data/(?P<version>v\d+\.\d+)/limits", _salesforce_limits),),
    "posthog": ((r"/flags/?", posthog.handle_flags),),
}  # fmt: skip
"""Each platform's cheapest authenticated call (the library's ``platform_auth``)."""
CHECK_METHODS = {"posthog": "post"}
"""Platforms whose check call is not a GET (PostHog's flags call carries its key)."""
TOKEN_PATHS = {
    "google_ads": "/token",
    "linkedin": "/oauth/v2/accessToken",
    "snapchat": "/login/oauth2/access_token",
    "reddit": "/api/v1/access_token",
    "hubspot": "/oauth/v1/token",
    "salesforce": "/services/oauth2/token",
}
"""Each platform's token endpoint below its prefix (Meta and TikTok have none)."""


def auth_routes(destination: str) -> tuple[Route, ...]:
    """The check and token routes of a platform (auth plane: no faults, not counted)."""
    method = CHECK_METHODS.get(destination, "get")
    routes = [
        route(pattern, counted=False, **{method: _checked(success)})
        for pattern, success in CHECKS.get(destination, ())
    ]
    if destination in TOKEN_PATHS:
        routes.append(route(TOKEN_PATHS[destination], counted=False, post=handle_grant))
    return tuple(routes)

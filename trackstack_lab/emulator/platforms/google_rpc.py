"""Google's RPC error envelope and auth, shared by the Data Manager and Google Ads routes."""

from __future__ import annotations

from typing import Any

from trackstack_lab.emulator.checks import bearer, token_ok
from trackstack_lab.emulator.wire import Call, Reply, refused

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def rpc_error(
    status: int, message: str, details: list[dict[str, Any]] | None = None, rejected: int = 0
) -> Reply:
    """``{"error": {"code", "message", "status", "details"?}}`` with that HTTP status."""
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return refused(status, {"error": error}, rejected)


def bad_request(violations: list[tuple[str, str]], rejected: int = 0) -> Reply:
    """HTTP 400 INVALID_ARGUMENT with a ``google.rpc.BadRequest`` of field violations."""
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": f, "description": d} for f, d in violations],
        }
    ]
    return rpc_error(400, "Request contains an invalid argument.", details, rejected)


def auth_error() -> Reply:
    return rpc_error(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential.",
    )


def developer_token_error() -> Reply:
    return rpc_error(401, "The developer token is missing or not valid.")


def rate_limited() -> Reply:
    return rpc_error(429, "Resource has been exhausted (e.g. check quota).")


def server_error(status: int) -> Reply:
    if status == 503:
        return rpc_error(503, "The service is currently unavailable.")
    return rpc_error(status, "Internal error encountered.")


def auth_problem(call: Call, developer_token: bool) -> Reply | None:
    """The auth error for a request without a valid bearer (or developer) token."""
    if not token_ok(bearer(call.headers)):
        return auth_error()
    if developer_token and not token_ok(call.headers.get("developer-token")):
        return developer_token_error()
    return None

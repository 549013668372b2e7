"""The error taxonomy, kept as data: what each platform's status or error code means.

Every failure is one of ``ERROR_CLASSES``. Only ``retryable`` and ``rate_limited`` are
retried in a run; ``auth`` and ``config`` stop the destination (nothing else would
succeed until someone fixes them); the rest reject the row for good.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RETRYABLE = "retryable"
RATE_LIMITED = "rate_limited"
AUTH = "auth"
CONFIG = "config"
TOO_OLD = "too_old"
BAD_IDENTIFIER = "bad_identifier"
PERMANENT = "permanent"
BATCH_REJECTED = "batch_rejected"
"""Not an error of the row: another row made the platform reject the whole request."""
SUPERSEDED = "superseded"
"""Not an error: a later row of the same CRM record carried its state."""

ERROR_CLASSES = (RETRYABLE, RATE_LIMITED, AUTH, CONFIG, TOO_OLD, BAD_IDENTIFIER, PERMANENT)
RETRIED = frozenset({RETRYABLE, RATE_LIMITED})
HALTS_DESTINATION = frozenset({AUTH, CONFIG})


@dataclass(frozen=True)
class Rule:
    """``code`` (a platform error code, exact) or ``pattern`` (regex on the message) -> class."""

    error_class: str
    code: str | None = None
    pattern: str | None = None


def _codes(error_class: str, *codes: str) -> tuple[Rule, ...]:
    return tuple(Rule(error_class, code=c) for c in codes)


PLATFORM_RULES: dict[str, tuple[Rule, ...]] = {
    "meta": (
        *_codes(TOO_OLD, "100/2804003"),
        *_codes(RATE_LIMITED, "4", "17", "32", "613", "80003"),
        *_codes(RETRYABLE, "1", "2", "341", "368", "5000", "21009"),
        *_codes(AUTH, "190", "102", "200", "10"),
        *_codes(CONFIG, "100/33", "803"),
        *_codes(BAD_IDENTIFIER, "100/2804019"),
        *_codes(PERMANENT, "100", "3", "294", "2650", "2655"),
    ),
    "google_ads": (
        *_codes(TOO_OLD, "EXPIRED_EVENT", "EXPIRED_EVENT_TIME"),
        *_codes(RETRYABLE, "TOO_RECENT_EVENT", "TOO_RECENT_CONVERSION_ACTION", "INTERNAL"),
        *_codes(RATE_LIMITED, "RESOURCE_EXHAUSTED", "RATE_EXCEEDED"),
        *_codes(AUTH, "UNAUTHENTICATED", "PERMISSION_DENIED", "DEVELOPER_TOKEN_NOT_APPROVED"),
        *_codes(
            CONFIG,
            "NO_CONVERSION_ACTION_FOUND",
            "INVALID_CUSTOMER_ID",
            "NOT_FOUND",
            "PARTIAL_FAILURE_MODE_REQUIRED",
        ),
        *_codes(
            BAD_IDENTIFIER,
            "UNPARSEABLE_GCLID",
            "INVALID_USER_IDENTIFIER",
            "UNHASHED_OR_INVALID_IDENTIFIER",
        ),
        Rule(TOO_OLD, pattern=r"(?i)too old|older than|expired"),
        Rule(BAD_IDENTIFIER, pattern=r"(?i)user_?identifier|email_address|phone_number|hash"),
    ),
    "linkedin": (
        *_codes(AUTH, "INVALID_ACCESS_TOKEN", "REVOKED_ACCESS_TOKEN", "65600", "65601"),
        *_codes(CONFIG, "VERSION_MISSING", "NONEXISTENT_VERSION"),
        Rule(TOO_OLD, pattern=r"(?i)90 days|too old|older than"),
        Rule(BAD_IDENTIFIER, pattern=r"(?i)/user\b|idValue|SHA256"),
    ),
    "tiktok": (
        *_codes(RATE_LIMITED, "40100", "40133"),
        *_codes(AUTH, "40104", "40105", "40001"),
        *_codes(CONFIG, "40106"),
        Rule(TOO_OLD, pattern=r"(?i)too old|older than|expired"),
        Rule(BAD_IDENTIFIER, pattern=r"(?i)\.user\.|sha256|hash"),
        *_codes(PERMANENT, "40002"),
    ),
    "snapchat": (
        Rule(TOO_OLD, pattern=r"(?i)too old|older than|37 days"),
        Rule(BAD_IDENTIFIER, pattern=r"(?i)user_data|hash"),
    ),
    "reddit": (
        Rule(TOO_OLD, pattern=r"(?i)must be less than .* old|too old"),
        Rule(BAD_IDENTIFIER, pattern=r"(?i)\buser\b|hash|email|phone"),
    ),
    "hubspot": (
        *_codes(RATE_LIMITED, "RATE_LIMIT"),
        *_codes(AUTH, "INVALID_AUTHENTICATION", "MISSING_SCOPES"),
        *_codes(CONFIG, "OBJECT_NOT_FOUND"),
        Rule(BAD_IDENTIFIER, pattern=r"(?i)email|utk|objectId"),
    ),
    "posthog": (
        *_codes(AUTH, "invalid_api_key", "authentication_error"),
        *_codes(RETRYABLE, "quota_limited"),
    ),
    "salesforce": (
        *_codes(AUTH, "INVALID_SESSION_ID", "INVALID_AUTH_HEADER"),
        *_codes(RATE_LIMITED, "REQUEST_LIMIT_EXCEEDED"),
        *_codes(RETRYABLE, "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"),
        *_codes(CONFIG, "INVALID_FIELD", "NOT_FOUND", "INVALID_TYPE", "NO_SUCH_COLUMN"),
        Rule(BAD_IDENTIFIER, pattern=r"(?i)email"),
    ),
}
"""Per platform, the first matching rule wins; then the HTTP status decides."""


def class_for_status(status: int | None) -> str:
    """The class an HTTP status implies when no platform rule matched."""
    if status is None or status in (408, 409, 423, 425) or status >= 500:
        return RETRYABLE
    if status == 429:
        return RATE_LIMITED
    if status in (401, 403):
        return AUTH
    if status in (404, 405, 410, 426) or 300 <= status < 400:
        return CONFIG
    return PERMANENT


def classify(
    destination: str, status: int | None, code: str | None = None, message: str = ""
) -> str:
    """The error class of a platform answer (status, platform code, message)."""
    for rule in PLATFORM_RULES.get(destination, ()):
        if rule.code is not None and code is not None and rule.code == code:
            return rule.error_class
    if code is not None and "/" in code:
        base = code.split("/", 1)[0]
        for rule in PLATFORM_RULES.get(destination, ()):
            if rule.code == base:
                return rule.error_class
    if status is not None and (status >= 500 or status in (401, 429)):
        return class_for_status(status)
    for rule in PLATFORM_RULES.get(destination, ()):
        if rule.pattern is not None and re.search(rule.pattern, message):
            return rule.error_class
    return class_for_status(status)

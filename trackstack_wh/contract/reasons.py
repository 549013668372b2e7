"""Machine-readable quarantine reasons and warnings, each with what to do about it.

A quarantine reason is ``code`` or ``code:field`` (``missing_required:email``). The
catalogue below is what `detail` messages and the docs are built from.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    code: str
    meaning: str
    fix: str


QUARANTINE_REASONS: tuple[Reason, ...] = (
    Reason(
        "invalid_utf8",
        "the line or CSV row is not valid UTF-8 (its bad bytes are kept as \\xNN escapes)",
        "write the file as UTF-8 (e.g. re-export it, or convert it with iconv -f latin1 -t utf-8)",
    ),
    Reason(
        "record_too_large",
        "the record is longer than [ingest] max_record_bytes (default 1 MiB); only its first "
        "1 KiB and its length are kept",
        "drop or shorten the oversized field, or raise [ingest] max_record_bytes",
    ),
    Reason(
        "invalid_json",
        "the line is not valid JSON",
        "send one JSON object per line, without trailing commas, NaN, comments or single quotes",
    ),
    Reason(
        "csv_shape",
        "the CSV row does not match the header (wrong number of cells or broken quoting)",
        "quote fields that contain the delimiter and keep one value per header column",
    ),
    Reason(
        "not_an_object",
        "the record is valid JSON but not an object",
        'send each event as a JSON object {"event": ..., ...}',
    ),
    Reason(
        "missing_required",
        "a field the event's family requires is missing or empty",
        "send the field, or send a PascalCase extension event name if it is not a canonical event",
    ),
    Reason(
        "invalid_type",
        "a field has the wrong JSON type",
        "send numbers as numbers, text as strings, contentIds as a list and "
        "platformParams / consent / userData / customData as objects",
    ),
    Reason(
        "unknown_event",
        "the event name is neither canonical nor PascalCase",
        "use a canonical name (SignUp, Purchase, ...) or a PascalCase extension name",
    ),
    Reason(
        "invalid_email",
        "the email is not a plausible address on an event that requires one",
        "send the address as name@domain.tld, or its SHA-256 hex",
    ),
    Reason(
        "invalid_currency",
        "the currency is not an ISO-4217 code",
        "send a three-letter ISO-4217 code such as USD or EUR",
    ),
    Reason(
        "negative_value",
        "the value is negative",
        "send amounts as non-negative numbers; a refund is a Refund event with a positive value",
    ),
    Reason(
        "identify_without_person",
        "an identify record names nobody: no userId (or externalId), anonymousId or sessionId",
        "send the signed-in user's userId, or the anonymousId of a visitor not signed in",
    ),
    Reason(
        "ts_out_of_range",
        "the timestamp is before 2000 or more than a day in the future",
        "send ts as epoch seconds, epoch milliseconds or ISO-8601 with an offset",
    ),
)

WARNINGS: dict[str, str] = {
    "ts_inferred": "no ts was sent; the received time was used",
    "event_id_generated": "no eventId was sent; a deterministic ID was derived from the content",
    "missing_recommended:pageUrl": "page views should carry pageUrl",
    "invalid_email": "the email is not a plausible address; it will not be used as a match key",
    "unknown_fields": "keys outside the contract were kept in the properties column",
}

REASONS_BY_CODE: dict[str, Reason] = {r.code: r for r in QUARANTINE_REASONS}


def reason_code(reason: str) -> str:
    """The code part of ``code:field``."""
    return reason.split(":", 1)[0]

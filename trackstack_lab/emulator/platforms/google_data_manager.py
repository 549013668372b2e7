"""Google Data Manager API: ``POST /{version}/events:ingest`` (Bearer auth).

Body ``{"destinations": [...], "events": [...], "encoding": "HEX", "validateOnly"?}``.
Any invalid event fails the request with one field violation per bad event; a valid
request answers ``{"requestId"}`` (``validateOnly`` records nothing).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from trackstack_lab.emulator import identity, privacy
from trackstack_lab.emulator.checks import (
    DAY,
    FUTURE_SKEW,
    INJECTED,
    Check,
    Problem,
    Sink,
    age_problem,
    is_number,
    is_text,
    load_json,
    new_uuid,
    parse_rfc3339,
    scan,
    take_digest,
)
from trackstack_lab.emulator.platforms.google_rpc import auth_problem, bad_request
from trackstack_lab.emulator.privacy import DATA_MANAGER_CONSENT
from trackstack_lab.emulator.readback import remember_request
from trackstack_lab.emulator.wire import Call, Reply

MAX_EVENTS = 2000
MAX_AGE = 90 * DAY
EVENT_SOURCES = frozenset({"WEB", "APP", "IN_STORE", "PHONE", "OTHER"})
CLICK_IDS = ("gclid", "gbraid", "wbraid")
REJECTED = Problem("", INJECTED)


def is_base64_sha256(value: Any) -> bool:
    """A SHA-256 digest in standard base64 (44 characters)."""
    try:
        return len(value) == 44 and len(base64.b64decode(value, validate=True)) == 32
    except (TypeError, ValueError, binascii.Error):
        return False


Digest = Callable[[Any, Sink], bool]
ONE_OF = "must set exactly one of email_address, phone_number, address"


def base64_digest(value: Any, sink: Sink) -> bool:
    """A base64 digest, checked on the spot (the sink only batches hex digests)."""
    return is_base64_sha256(value)


def _identifier_problem(
    ident: Any, hashed: Digest, encoding: str, sink: Sink
) -> tuple[str, str] | None:
    """(field below the identifier, message) when one user identifier is invalid."""
    if type(ident) is not dict or len(ident) != 1:
        return "", ONE_OF
    ((key, value),) = ident.items()
    if key == "emailAddress" or key == "phoneNumber":
        if not hashed(value, sink):
            name = "email_address" if key == "emailAddress" else "phone_number"
            return name, f"must be a SHA-256 hash encoded as {encoding}"
        return None
    if key != "address" or type(value) is not dict:
        return "", ONE_OF
    for part, name in (("givenName", "given_name"), ("familyName", "family_name")):
        if part in value and not hashed(value[part], sink):
            return f"address.{name}", f"must be a SHA-256 hash encoded as {encoding}"
    if not is_text(value.get("regionCode")):
        return "address.region_code", "is required"
    return None


def _user_problem(
    user: Any, hashed: Digest, encoding: str, sink: Sink
) -> tuple[Problem | None, bool]:
    """(problem, has identifiers) for ``userData``."""
    if type(user) is not dict:
        return Problem("user_data", "must be an object"), False
    identifiers = user.get("userIdentifiers")
    if type(identifiers) is not list:
        return Problem("user_data.user_identifiers", "must be a list"), False
    for j, ident in enumerate(identifiers):
        bad = _identifier_problem(ident, hashed, encoding, sink)
        if bad is not None:
            field = f"user_data.user_identifiers[{j}]" + (f".{bad[0]}" if bad[0] else "")
            return Problem(field, bad[1]), False
    return None, bool(identifiers)


def _references_ok(refs: Any, references: frozenset[str]) -> bool:
    if refs is None:
        return True
    if type(refs) is not list:
        return False
    return all(type(r) is str and (not references or r in references) for r in refs)


def event_check(encoding: str, references: frozenset[str]) -> Check:
    """The per-event check for a request's encoding and destination references."""
    hashed: Digest = base64_digest if encoding == "BASE64" else take_digest

    def check(e: Any, now: float, sink: Sink) -> Problem | None:
        if type(e) is not dict:
            return Problem("", "each event must be an object")
        at = parse_rfc3339(e.get("eventTimestamp"))
        if at is None:
            return Problem("event_timestamp", "is required, as an RFC 3339 timestamp")
        bad_age = age_problem(at, now, MAX_AGE, FUTURE_SKEW)
        if bad_age is not None:
            return Problem("event_timestamp", f"the event {bad_age[1]}")
        if "transactionId" in e and not is_text(e["transactionId"]):
            return Problem("transaction_id", "must be a non-empty string")
        if not _references_ok(e.get("destinationReferences"), references):
            return Problem("destination_references", "must name destinations of the request")
        if "eventSource" in e and e["eventSource"] not in EVENT_SOURCES:
            return Problem("event_source", f"must be one of {', '.join(sorted(EVENT_SOURCES))}")
        if "conversionValue" in e and not is_number(e["conversionValue"]):
            return Problem("conversion_value", "must be a number")
        bad_consent = privacy.google_consent_problem(e.get("consent"), DATA_MANAGER_CONSENT)
        if bad_consent is not None:
            return Problem("consent", bad_consent)
        currency = e.get("currency")
        if currency is not None and not (type(currency) is str and len(currency) == 3):
            return Problem("currency", "must be an ISO 4217 code")
        matched = False
        if "userData" in e:
            problem, matched = _user_problem(e["userData"], hashed, encoding, sink)
            if problem is not None:
                return problem
        ads = e.get("adIdentifiers")
        if ads is not None:
            if type(ads) is not dict:
                return Problem("ad_identifiers", "must be an object")
            matched = matched or any(is_text(ads.get(k)) for k in CLICK_IDS)
        if not matched:
            return Problem("user_data", "the event needs a user identifier or a click ID")
        return None

    return check


def _references(destinations: Any) -> frozenset[str] | None:
    if type(destinations) is not list or not destinations:
        return None
    if not all(type(d) is dict and type(d.get("operatingAccount")) is dict for d in destinations):
        return None
    return frozenset(d["reference"] for d in destinations if is_text(d.get("reference")))


def handle_ingest(call: Call) -> Reply:
    """Validate an ``events:ingest`` request; record it all or refuse it all."""
    denied = auth_problem(call, developer_token=False)
    if denied is not None:
        return denied
    try:
        body = load_json(call.body)
    except ValueError:
        return bad_request([("", "Invalid JSON payload received.")])
    if type(body) is not dict:
        return bad_request([("", "The request must be a JSON object.")])
    events = body.get("events")
    if type(events) is not list or not events:
        return bad_request([("events", "At least one event is required.")])
    if len(events) > MAX_EVENTS:
        message = f"Too many events: at most {MAX_EVENTS} per request."
        return bad_request([("events", message)], len(events))
    references = _references(body.get("destinations"))
    if references is None:
        message = "At least one destination with an operating account is required."
        return bad_request([("destinations", message)], len(events))
    encoding = body.get("encoding")
    if encoding not in ("HEX", "BASE64") and any(
        type(e) is dict and "userData" in e for e in events
    ):
        message = "HEX or BASE64 is required with user data."
        return bad_request([("encoding", message)], len(events))
    check = event_check(str(encoding), references)
    bad = scan(events, check, call.now, call.reject, REJECTED)
    if bad:
        violations = [
            (f"events[{i}].{p.field}" if p.field else f"events[{i}]", p.message) for i, p in bad
        ]
        return bad_request(violations, len(events))
    request_id = new_uuid()
    if body.get("validateOnly") is not True:
        key = identity.data_manager_event
        call.state.record([key(e) for e in events])
        remember_request(call, request_id, len(events))
    return Reply(200, {"requestId": request_id})

"""HubSpot: custom behavioral events (``/events/{version}/send/batch``), CRM batch
upserts and batch updates of deals, contacts and companies
(``/crm/v3/objects/{deals|contacts|companies}/batch/{upsert|update}``).

Event batches are all-or-nothing (204 with no body when accepted). Upserts and updates
are per record: 200 ``COMPLETE`` when every record is good, 207 with ``errors`` naming
the bad inputs' IDs otherwise; duplicate IDs in one batch refuse the whole batch. An
upsert creates the record its ``idProperty`` value does not find; an update never does:
it names the record by its internal ID, or by a unique property value with
``idProperty``, and every ID with no record is listed in one ``OBJECT_NOT_FOUND`` error
(``context.ids``), as HubSpot answers. Records a portal already has are seeded in the
state's ``objects`` as ``(kind, "<idProperty>=<value>")``.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from typing import Any

from trackstack_lab.emulator import identity
from trackstack_lab.emulator.checks import (
    EMAIL_SHAPE,
    INJECTED,
    Problem,
    Sink,
    bearer,
    is_text,
    iso,
    load_json,
    new_uuid,
    parse_rfc3339,
    scan,
    token_ok,
)
from trackstack_lab.emulator.state import DestinationState
from trackstack_lab.emulator.wire import Call, Platform, Reply, refused, route

MAX_EVENTS = 500
MAX_UPSERTS = 100
EVENT_NAME = re.compile(r"pe\d+_.+")
OBJECT_KINDS = {"deals": "deal", "contacts": "contact", "companies": "company"}
SCALARS = (str, int, float, bool, type(None))
DECIMAL = re.compile(r"-?\d+(\.\d+)?")
VALIDATION = "VALIDATION_ERROR"
REJECTED = Problem("", INJECTED)


def error(status: int, message: str, category: str, rejected: int = 0, **extra: Any) -> Reply:
    """HubSpot's error body ``{"status": "error", "message", "correlationId", "category"}``."""
    body = {
        "status": "error",
        "message": message,
        "correlationId": new_uuid(),
        "category": category,
        **extra,
    }
    return refused(status, body, rejected)


def auth_error() -> Reply:
    return error(401, "Authentication credentials not found.", "INVALID_AUTHENTICATION")


def rate_limited() -> Reply:
    body = {
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": new_uuid(),
        "policyName": "SECONDLY",
    }
    return refused(429, body)


def server_error(status: int) -> Reply:
    if status == 503:
        return error(503, "The service is temporarily unavailable.", "SERVICE_UNAVAILABLE")
    return error(status, "internal error", "INTERNAL_ERROR")


def _properties_problem(properties: Any) -> Problem | None:
    if properties is None:
        return None
    if type(properties) is not dict:
        return Problem("properties", "properties must be an object")
    for name, value in properties.items():
        if not isinstance(value, SCALARS):
            return Problem("properties", f"Property {name!r} must be a string, number or bool")
    return None


def check_event(e: Any, now: float, sink: Sink) -> Problem | None:
    """The first problem of one event occurrence, if any."""
    if type(e) is not dict:
        return Problem("", "Each input must be an object")
    name = e.get("eventName")
    if type(name) is not str or EVENT_NAME.fullmatch(name) is None:
        return Problem(
            "eventName", f"eventName {name!r} must be fully qualified: pe<portal>_<name>"
        )
    if "occurredAt" in e and parse_rfc3339(e["occurredAt"]) is None:
        return Problem("occurredAt", "occurredAt must be an ISO 8601 timestamp with a zone")
    if not (is_text(e.get("email")) or is_text(e.get("utk")) or e.get("objectId")):
        return Problem("email", "One of email, utk or objectId is required")
    if "uuid" in e and not is_text(e["uuid"]):
        return Problem("uuid", "uuid must be a non-empty string")
    return _properties_problem(e.get("properties"))


def _inputs(call: Call, limit: int) -> list[Any] | Reply:
    """The batch's ``inputs`` after the auth, JSON and size checks, or the error reply."""
    if not token_ok(bearer(call.headers)):
        return auth_error()
    try:
        body = load_json(call.body)
    except ValueError:
        return error(400, "Invalid input JSON on line 1", VALIDATION)
    inputs = body.get("inputs") if type(body) is dict else None
    if type(inputs) is not list or not inputs:
        return error(400, "inputs is required and must be a non-empty array", VALIDATION)
    if len(inputs) > limit:
        message = f"Batch size {len(inputs)} exceeds the limit of {limit} inputs"
        return error(400, message, VALIDATION, len(inputs), errors=[])
    return inputs


def handle_send_batch(call: Call) -> Reply:
    """Validate a batch of event occurrences; record it all or refuse it all."""
    inputs = _inputs(call, MAX_EVENTS)
    if isinstance(inputs, Reply):
        return inputs
    bad = scan(inputs, check_event, call.now, call.reject, REJECTED)
    if bad:
        errors = [{"message": p.message, "context": {"index": [str(i)]}} for i, p in bad]
        message = f"{len(bad)} of {len(inputs)} inputs are invalid"
        return error(400, message, VALIDATION, len(inputs), errors=errors)
    key = identity.hubspot_event
    call.state.record([key(e) for e in inputs])
    return Reply(204)


def check_record(e: Any, kind: str, *, upsert: bool = True) -> Problem | None:
    """The first problem of one upsert (or update) input, if any (its ``id`` is already
    checked). An update may leave out ``idProperty`` (its ``id`` is then the record ID)."""
    if (upsert or "idProperty" in e) and not is_text(e.get("idProperty")):
        return Problem("idProperty", "idProperty is required")
    if (
        kind == "contact"
        and e.get("idProperty") == "email"
        and EMAIL_SHAPE.fullmatch(e["id"]) is None
    ):
        return Problem("id", f"Email address {e['id']} is invalid")
    properties = e.get("properties")
    if type(properties) is not dict:
        return Problem("properties", "properties is required and must be an object")
    amount = properties.get("amount")
    if amount is not None and not (
        type(amount) in (int, float) or (type(amount) is str and DECIMAL.fullmatch(amount))
    ):
        return Problem("properties", f"Property values were not valid: amount {amount!r}")
    return _properties_problem(properties)


def _ids_refusal(inputs: list[Any]) -> Reply | None:
    """The whole-batch refusal for inputs without an ``id`` or with one ID twice."""
    if not all(type(e) is dict and is_text(e.get("id")) for e in inputs):
        return error(400, "Every input needs an id (a non-empty string)", VALIDATION, len(inputs))
    duplicates = sorted(i for i, n in Counter(e["id"] for e in inputs).items() if n > 1)
    if duplicates:
        message = f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique"
        return error(400, message, VALIDATION, len(inputs))
    return None


def _validation_errors(inputs: list[Any], bad: dict[int, Problem]) -> list[dict[str, Any]]:
    return [
        {
            "status": "error",
            "category": VALIDATION,
            "message": p.message,
            "context": {"id": [inputs[i]["id"]]},
        }
        for i, p in bad.items()
    ]


def object_id(kind: str, id_property: str, value: str) -> str:
    """A stable numeric HubSpot record ID for an upserted record."""
    raw = hashlib.blake2b(f"{kind}|{id_property}|{value}".encode(), digest_size=8).digest()
    return str(10_000_000_000 + int.from_bytes(raw, "big") % 90_000_000_000)


def _checked(call: Call, *, upsert: bool) -> Reply | tuple[str, list[Any], dict[int, Any]]:
    """A batch upsert's or update's object kind, inputs and the inputs refused by the
    record checks (index -> problem), or the Reply refusing the whole request."""
    kind = OBJECT_KINDS[call.match["object"]]
    inputs = _inputs(call, MAX_UPSERTS)
    if isinstance(inputs, Reply):
        return inputs
    refusal = _ids_refusal(inputs)
    if refusal is not None:
        return refusal

    def check(e: Any, now: float, sink: Sink) -> Problem | None:
        return check_record(e, kind, upsert=upsert)

    return kind, inputs, dict(scan(inputs, check, call.now, call.reject, REJECTED))


def handle_upsert(call: Call) -> Reply:
    """Upsert records one by one: good ones recorded, bad ones listed in ``errors``."""
    started = iso(call.now)
    checked = _checked(call, upsert=True)
    if isinstance(checked, Reply):
        return checked
    kind, inputs, bad = checked
    good = [e for i, e in enumerate(inputs) if i not in bad]
    key = identity.hubspot_record(kind)
    call.state.record([key(e) for e in good])
    for e in good:
        stored = (kind, f"{e['idProperty']}={e['id']}")
        call.state.objects.add(stored)
        call.state.records[stored] = {**call.state.records.get(stored, {}), **e["properties"]}
    results = [
        {
            "id": object_id(kind, e["idProperty"], e["id"]),
            "properties": {**e["properties"], e["idProperty"]: e["id"]},
        }
        for e in good
    ]
    answer: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if bad:
        answer["numErrors"] = len(bad)
        answer["errors"] = _validation_errors(inputs, bad)
    answer["startedAt"] = started
    answer["completedAt"] = iso(call.now)
    return Reply(207 if bad else 200, answer, rejected_events=len(bad))


def _existing(state: DestinationState, kind: str, e: dict[str, Any]) -> tuple[str, str] | None:
    """The state key of the record an update input names (by its unique property value
    with ``idProperty``, else by its record ID), or None when the portal has none."""
    if "idProperty" in e:
        key = (kind, f"{e['idProperty']}={e['id']}")
        return key if key in state.objects else None
    return next(
        (
            (k, ref)
            for k, ref in state.objects
            if k == kind and object_id(kind, *ref.split("=", 1)) == e["id"]
        ),
        None,
    )


def handle_update(call: Call) -> Reply:
    """Update existing records one by one: an input whose record the portal does not have
    is never created, its ID goes in the ``OBJECT_NOT_FOUND`` error (``context.ids``)."""
    started = iso(call.now)
    checked = _checked(call, upsert=False)
    if isinstance(checked, Reply):
        return checked
    kind, inputs, bad = checked
    found = {i: _existing(call.state, kind, e) for i, e in enumerate(inputs) if i not in bad}
    missing = [inputs[i]["id"] for i, key in found.items() if key is None]
    updated = [(inputs[i], key) for i, key in found.items() if key is not None]
    call.state.record([identity.hubspot_record(kind)(e) for e, _ in updated])
    results = []
    for e, key in updated:
        fields = {**call.state.records.get(key, {}), **e["properties"]}
        call.state.records[key] = fields
        id_property, value = key[1].split("=", 1)
        results.append(
            {
                "id": object_id(kind, id_property, value),
                "properties": {**fields, id_property: value},
            }
        )
    errors = _validation_errors(inputs, bad)
    if missing:
        message = (
            f"Could not get some {kind.upper()} objects, they may be deleted or not exist. "
            "Check that ids are valid."
        )
        errors.append(
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": message,
                "context": {"ids": missing},
            }
        )
    answer: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if errors:
        answer["numErrors"] = len(errors)
        answer["errors"] = errors
    answer["startedAt"] = started
    answer["completedAt"] = iso(call.now)
    return Reply(207 if errors else 200, answer, rejected_events=len(bad) + len(missing))


PLATFORM = Platform(
    name="hubspot",
    routes=(
        route(r"/events/(?P<version>[^/]+)/send/batch", post=handle_send_batch),
        route(
            r"/crm/v3/objects/(?P<object>deals|contacts|companies)/batch/upsert",
            post=handle_upsert,
        ),
        route(
            r"/crm/v3/objects/(?P<object>deals|contacts|companies)/batch/update",
            post=handle_update,
        ),
    ),
    auth_error=auth_error,
    rate_limited=rate_limited,
    throttled=rate_limited,
    server_error=server_error,
)

"""Salesforce composite upsert by external ID:
``PATCH /services/data/{version}/composite/sobjects/{SObject}/{ExternalIdField}``.

Body ``{"allOrNone": false, "records": [...]}``; the answer is one UpsertResult per
record, in order (good rows recorded, ``created`` true the first time an external ID is
seen; every written record's fields kept in the state's ``records``, so an update such
as a churn on an existing Account shows there). A record whose external ID is new must
carry the SObject's required fields (an Account its Name), else it is refused
(REQUIRED_FIELD_MISSING). With ``allOrNone`` one bad record rolls every record back. A
malformed request or more than 200 records is a 400 error list.
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
    bearer,
    load_json,
    token_ok,
)
from trackstack_lab.emulator.state import DestinationState
from trackstack_lab.emulator.wire import Call, Platform, Reply, refused, route

MAX_RECORDS = 200
REQUIRED_ON_CREATE = {
    "Lead": ("LastName", "Company"),
    "Opportunity": ("Name", "StageName", "CloseDate"),
    "Contact": ("LastName",),
    "Account": ("Name",),
}
DATE_FIELDS = {"Opportunity": ("CloseDate",)}
DATE_SUFFIX = "_Date__c"
"""Custom fields named ``*_Date__c`` are Date fields: ``YYYY-MM-DD`` or refused."""
ID_PREFIXES = {"Account": "001", "Contact": "003", "Opportunity": "006", "Lead": "00Q"}
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was "
    "using AllOrNone header",
    "fields": [],
}
REJECTED = Problem("", INJECTED, "FIELD_CUSTOM_VALIDATION_EXCEPTION")


def error_list(status: int, message: str, code: str, rejected: int = 0) -> Reply:
    """Salesforce's request-level error: ``[{"message", "errorCode"}]``."""
    return refused(status, [{"message": message, "errorCode": code}], rejected)


def auth_error() -> Reply:
    return error_list(401, "Session expired or invalid", "INVALID_SESSION_ID")


def throttled() -> Reply:
    return error_list(403, "TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED")


def rate_limited() -> Reply:
    return error_list(429, "TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED")


def server_error(status: int) -> Reply:
    return error_list(status, "Server is temporarily unavailable.", "SERVER_UNAVAILABLE")


def record_id(sobject: str, external_id: str) -> str:
    """A stable 18-character record ID with the SObject's key prefix."""
    raw = hashlib.blake2b(f"{sobject}|{external_id}".encode(), digest_size=12).digest()
    number = int.from_bytes(raw, "big")
    chars = []
    for _ in range(15):
        number, digit = divmod(number, 62)
        chars.append(BASE62[digit])
    return ID_PREFIXES.get(sobject, "a00") + "".join(chars)


def check_record(record: Any, sobject: str, field: str, state: DestinationState) -> Problem | None:
    """The first problem of one record, if any."""
    if type(record) is not dict:
        return Problem("", "Each record must be an object", "INVALID_FIELD")
    attributes = record.get("attributes")
    kind = attributes.get("type") if type(attributes) is dict else None
    if kind != sobject:
        message = f"Record type {kind!r} does not match the SObject {sobject} of the URL"
        return Problem("", message, "INVALID_TYPE")
    value = record.get(field)
    if value is None or value == "":
        return Problem(field, f"Required fields are missing: [{field}]", "REQUIRED_FIELD_MISSING")
    if (sobject, str(value)) not in state.objects:
        missing = [f for f in REQUIRED_ON_CREATE.get(sobject, ()) if record.get(f) in (None, "")]
        if missing:
            message = f"Required fields are missing: [{', '.join(missing)}]"
            return Problem(",".join(missing), message, "REQUIRED_FIELD_MISSING")
    email = record.get("Email")
    if email is not None and (type(email) is not str or EMAIL_SHAPE.fullmatch(email) is None):
        return Problem("Email", f"Email: invalid email address: {email}", "INVALID_EMAIL_ADDRESS")
    return None


def _row_error(problem: Problem) -> dict[str, Any]:
    fields = problem.field.split(",") if problem.field else []
    return {"statusCode": problem.code, "message": problem.message, "fields": fields}


def _malformed(records: list[Any], sobject: str) -> str | None:
    for record in records:
        if type(record) is not dict:
            continue
        dated = [*DATE_FIELDS.get(sobject, ()), *(k for k in record if k.endswith(DATE_SUFFIX))]
        for name in dated:
            value = record.get(name)
            if value is not None and (type(value) is not str or DATE.fullmatch(value) is None):
                return f"Cannot deserialize instance of date from VALUE_STRING value {value}"
    return None


def handle_upsert(call: Call) -> Reply:
    """Upsert records by external ID, one UpsertResult per record."""
    if not token_ok(bearer(call.headers)):
        return auth_error()
    sobject, field = call.match["sobject"], call.match["field"]
    try:
        body = load_json(call.body)
    except ValueError:
        return error_list(400, "Unexpected character in the request body", "JSON_PARSER_ERROR")
    records = body.get("records") if type(body) is dict else None
    if type(records) is not list or not records:
        message = "records is required and must be a non-empty array"
        return error_list(400, message, "JSON_PARSER_ERROR")
    if len(records) > MAX_RECORDS:
        message = f"record limit reached. cannot submit more than {MAX_RECORDS} records"
        return error_list(400, message, "EXCEEDED_ID_LIMIT", len(records))
    malformed = _malformed(records, sobject)
    if malformed is not None:
        return error_list(400, malformed, "JSON_PARSER_ERROR", len(records))
    values = Counter(str(r.get(field)) for r in records if type(r) is dict)
    bad: dict[int, Problem] = {}
    for i, record in enumerate(records):
        problem = REJECTED if i in call.reject else check_record(record, sobject, field, call.state)
        if problem is None and values[str(record[field])] > 1:
            message = f"Duplicate external id specified: {record[field]}"
            problem = Problem(field, message, "DUPLICATE_EXTERNAL_ID")
        if problem is not None:
            bad[i] = problem
    if bad and body.get("allOrNone") is True:
        results = [
            {"success": False, "errors": [_row_error(bad[i]) if i in bad else ROLLED_BACK],
             "created": False}
            for i in range(len(records))
        ]  # fmt: skip
        return Reply(200, results, rejected_events=len(records))
    kind = sobject.lower()
    results = []
    identities = []
    for i, record in enumerate(records):
        if i in bad:
            results.append({"success": False, "errors": [_row_error(bad[i])], "created": False})
            continue
        key = (sobject, str(record[field]))
        created = key not in call.state.objects
        call.state.objects.add(key)
        fields = {k: v for k, v in record.items() if k != "attributes"}
        call.state.records[key] = {**call.state.records.get(key, {}), **fields}
        results.append({"id": record_id(*key), "success": True, "errors": [], "created": created})
        identities.append(identity.salesforce_record(kind, record, field))
    call.state.record(identities)
    return Reply(200, results, rejected_events=len(bad))


PATH = (
    r"/services/data/(?P<version>v\d+\.\d+)/composite/sobjects/(?P<sobject>\w+)"
    r"/(?P<field>\w+)"
)

PLATFORM = Platform(
    name="salesforce",
    routes=(route(PATH, patch=handle_upsert),),
    auth_error=auth_error,
    rate_limited=rate_limited,
    throttled=throttled,
    server_error=server_error,
)

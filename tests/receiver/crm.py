"""The CRMs: HubSpot and Salesforce."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Hashable
from typing import Any
from urllib.parse import unquote

from .base import VERSION, Platform, _dig, _list_under, _stable_id
from .messages import Answer, Call, _json


class HubSpot(Platform):
    """HubSpot custom event occurrences and CRM batch upserts (section 9)."""

    name = "hubspot"
    batch_limits = {"deals": 100, "contacts": 100, "companies": 100}

    def route(self, call: Call) -> str | None:
        s = call.segments()
        if call.method == "GET" and s == ["account-info", "v3", "details"]:
            return "whoami"
        if call.method != "POST":
            return None
        if len(s) >= 3 and s[0] == "events" and s[2:] in (["send"], ["send", "batch"]):
            return "events"
        crm = len(s) == 6 and s[0] == "crm" and "objects" in s[1:3]
        return s[3] if crm and s[4:] == ["batch", "upsert"] else None

    def version(self, call: Call) -> str | None:
        s = call.segments()
        return next((x for x in s[1:3] if VERSION.fullmatch(x)), None)

    def error_doc(self, status: int, message: str, code: str | None) -> Any:
        return {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": code or "VALIDATION_ERROR",
        }

    def auth_error(self, missing: str) -> Answer:
        message = (
            "Authentication credentials not found. This API supports OAuth 2.0 authentication."
        )
        return self.error(401, message, "INVALID_AUTHENTICATION")

    def whoami(self, call: Call) -> Answer:
        doc = {"portalId": 4455667, "accountType": "STANDARD", "timeZone": "US/Eastern",
               "companyCurrency": "USD", "additionalCurrencies": [], "utcOffset": "-05:00",
               "utcOffsetMilliseconds": -18_000_000, "uiDomain": "app.hubspot.com",
               "dataHostingLocation": "na1"}  # fmt: skip
        return _json(200, doc)

    def elements(self, kind: str, call: Call) -> list[Any] | None:
        if kind == "events" and isinstance(call.doc, dict) and "inputs" not in call.doc:
            return [call.doc]
        return _list_under(call.doc, "inputs")

    def key(self, kind: str, element: Any, call: Call) -> Hashable:
        if kind != "events":
            return (kind, _dig(element, "id"))
        if _dig(element, "uuid"):
            return element["uuid"]
        who = _dig(element, "objectId") or _dig(element, "email") or _dig(element, "utk")
        return (_dig(element, "eventName"), who, _dig(element, "occurredAt"))

    def check(self, kind: str, call: Call, elements: list[Any]) -> Answer | None:
        if kind == "events":
            return None
        if any(not _dig(e, "idProperty") for e in elements):
            return self.error(400, "idProperty is required for batch upsert")
        ids = Counter(_dig(e, "id") for e in elements)
        repeated = sorted(str(i) for i, n in ids.items() if n > 1)
        if repeated:
            return self.error(
                400, f"Duplicate IDs found in batch input: {repeated}. IDs must be unique"
            )
        return None

    def accept(
        self, kind: str, call: Call, elements: list[Any], keys: list[Hashable], known: set
    ) -> tuple[Answer, list[bool]]:
        if kind == "events":
            return Answer(204, b"", ""), [True] * len(elements)
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        results = [
            {
                "id": _stable_id(k, 11, digits=True),
                "properties": _dig(e, "properties") or {},
                "createdAt": now,
                "updatedAt": now,
                "archived": False,
                "new": k not in known,
            }
            for e, k in zip(elements, keys, strict=True)
        ]
        body = {
            "status": "COMPLETE",
            "results": results,
            "requestedAt": now,
            "startedAt": now,
            "completedAt": now,
        }
        return _json(200, body), [True] * len(elements)


SOBJECT_PREFIX = {"Opportunity": "006", "Lead": "00Q", "Contact": "003", "Account": "001"}


class Salesforce(Platform):
    """Salesforce REST: composite and single upserts by external ID, ``limits`` (section
    10)."""

    name = "salesforce"
    batch_limits = {}
    check_kinds = frozenset({"limits"})

    def route(self, call: Call) -> str | None:
        s = call.segments()
        if len(s) < 4 or s[:2] != ["services", "data"] or not VERSION.fullmatch(s[2]):
            return None
        if call.method == "GET" and s[3:] == ["limits"]:
            return "limits"
        if call.method == "PATCH" and len(s) == 7 and s[3:5] == ["composite", "sobjects"]:
            return s[5]
        if call.method == "PATCH" and len(s) == 7 and s[3] == "sobjects":
            return s[4]
        return None

    def error_doc(self, status: int, message: str, code: str | None) -> Any:
        return [{"message": message, "errorCode": code or "JSON_PARSER_ERROR"}]

    def auth_error(self, missing: str) -> Answer:
        return self.error(401, "Session expired or invalid", "INVALID_SESSION_ID")

    def _single(self, call: Call) -> bool:
        return call.segments()[3] == "sobjects"

    def _field(self, call: Call) -> str:
        """The external ID field named in the path."""
        return unquote(call.segments()[5 if self._single(call) else 6])

    def elements(self, kind: str, call: Call) -> list[Any] | None:
        if kind == "limits":
            return []
        if self._single(call):
            return [call.doc] if isinstance(call.doc, dict) else None
        return _list_under(call.doc, "records")

    def batch_limit(self, kind: str, call: Call) -> int | None:
        return None if self._single(call) else SALESFORCE_BATCH

    def key(self, kind: str, element: Any, call: Call) -> Hashable:
        if self._single(call):
            return (kind, unquote(call.segments()[6]))
        return (kind, _dig(element, self._field(call)))

    def too_many(self, kind: str, count: int, limit: int) -> Answer:
        message = f"record limit reached. cannot submit more than {limit} records into this call"
        return self.error(400, message, "EXCEEDED_ID_LIMIT")

    def accept(
        self, kind: str, call: Call, elements: list[Any], keys: list[Hashable], known: set
    ) -> tuple[Answer, list[bool]]:
        prefix = SOBJECT_PREFIX.get(kind, "a00")
        if self._single(call):
            created = keys[0] not in known
            body = {
                "id": prefix + _stable_id(keys[0], 15),
                "errors": [],
                "success": True,
                "created": created,
            }
            return _json(201 if created else 200, body), [True]
        field_name = self._field(call)
        repeats = Counter(keys)
        results: list[dict[str, Any]] = []
        for element, key in zip(elements, keys, strict=True):
            value = key[1] if isinstance(key, tuple) else None
            if value in (None, ""):
                error = {
                    "statusCode": "MISSING_ARGUMENT",
                    "fields": [],
                    "message": f"{field_name} not specified",
                }
            elif _dig(element, "attributes", "type") not in (None, kind):
                error = {
                    "statusCode": "INVALID_TYPE",
                    "fields": [],
                    "message": f"records must all be of type {kind}",
                }
            elif repeats[key] > 1:
                error = {
                    "statusCode": "DUPLICATE_EXTERNAL_ID",
                    "fields": [],
                    "message": f"Duplicate external id specified: {value}",
                }
            else:
                error = None
            if error:
                results.append({"id": None, "success": False, "errors": [error]})
            else:
                results.append(
                    {
                        "id": prefix + _stable_id(key, 15),
                        "success": True,
                        "errors": [],
                        "created": key not in known,
                    }
                )
        if _dig(call.doc, "allOrNone") is True and any(not r["success"] for r in results):
            rolled = {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "fields": [],
                "message": "Record rolled back because not all records were valid "
                "and the request was using AllOrNone header",
            }
            results = [
                r if not r["success"] else {"id": None, "success": False, "errors": [rolled]}
                for r in results
            ]
        return _json(200, results), [bool(r["success"]) for r in results]


SALESFORCE_BATCH = 200

"""An independent stand-in for the ad platforms' and CRMs' HTTP APIs, for delivery tests.

Written from the platforms' documentation, not from ``trackstack_wh.emulator`` (it
imports nothing from ``trackstack_wh``), so a test against it checks delivery as a
user's real endpoint, proxy or load balancer would answer. A stdlib
``ThreadingHTTPServer`` on 127.0.0.1 serves every destination under
``{base_url}/{destination}``; the project appends each platform's own path.

Answering one request, in this order (``n`` is the destination's request number,
counted from 1 by every request that arrives, whatever it is answered):

1. ``delay`` sleeps first; it never decides the answer, so it combines with the rest.
2. ``drop`` (while it has times left) closes the connection without an answer; with
   ``after_processing`` the platform handles the request first (its elements count as
   received), as when an answer is lost on the way back.
3. ``every`` faults whose ``n`` divides the request number; the first one set wins
   (destination faults before faults for all destinations).
4. ``always`` / ``echo_credential``: the one set last wins (destination first).
5. The platform: unknown path (404), refused API version, body that is not JSON (400),
   missing credential (401 in the platform's shape; Meta answers 400 with a Graph
   ``OAuthException``, TikTok HTTP 200 with a non-zero ``code``), Salesforce daily
   limit (403 ``REQUEST_LIMIT_EXCEEDED``), body not in the documented envelope, batch
   over the documented limit or another documented refusal (400), else the documented
   success (per-row errors inside it where the platform reports rows).

Elements count as received when the answer was a success (2xx, and TikTok ``code`` 0)
and the request was not validate-only (Google ``validateOnly``, Snapchat ``/validate``);
a fault answered with 2xx counts too (the request reached the platform, the answer was
mangled on the way back); a 429/5xx fault does not. Salesforce answers every request
with ``Sforce-Limit-Info: api-usage=N/M``; N counts every answered Salesforce request
(faults included, drops without processing not) plus ``salesforce_usage``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

ALL = "*"
"""Fault scope: every destination."""
JSON = "application/json"
VERSION = re.compile(r"v\d+(?:\.\d+)?|\d{4}-\d{2}(?:-\d{2})?")
DESTINATIONS = (
    "meta",
    "google_ads",
    "linkedin",
    "tiktok",
    "snapchat",
    "reddit",
    "hubspot",
    "salesforce",
)


@dataclass(frozen=True)
class Answer:
    """One HTTP answer."""

    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: int, doc: Any, headers: Iterable[tuple[str, str]] = ()) -> Answer:
    return Answer(status, json.dumps(doc).encode(), JSON, tuple(headers))


@dataclass
class RecordedRequest:
    """One request as it arrived and how it was answered (header names lowercased)."""

    seq: int
    destination: str
    kind: str | None
    method: str
    path: str
    """The path after ``/{destination}``, without the query."""
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    version: str | None = None
    status: int | None = None
    """None when the connection was dropped without an answer."""
    answer: bytes = b""
    fault: str | None = None
    """The fault that answered (``every``, ``always``, ``echo_credential``, ``drop``)."""
    elements: int = 0
    keys: list[Hashable] = field(default_factory=list)
    """Every element's dedup key, in body order."""
    written: int = 0
    """How many of the elements count as received."""
    received_at: float = 0.0
    """``time.time()`` when the request arrived."""
    seconds: float = 0.0
    """Time spent answering (delays included)."""


@dataclass
class Every:
    """The n-th, 2n-th, ... request gets ``answer``."""

    n: int
    answer: Answer


@dataclass
class Always:
    """Every request gets ``answer``."""

    answer: Answer


@dataclass
class EchoCredential:
    """An error in the platform's shape quoting the request's credentials."""

    status: int = 400
    as_text: bool = False


@dataclass
class Delay:
    """The next ``times`` requests (None: all) wait ``seconds`` first."""

    seconds: float
    times: int | None = None


@dataclass
class Drop:
    """The next ``times`` requests get the connection closed without an answer."""

    times: int
    after_processing: bool = False


Fault = Every | Always | EchoCredential | Delay | Drop


@dataclass
class Call:
    """A parsed request."""

    method: str
    destination: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    doc: Any = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def bearer(self) -> str | None:
        value = self.header("authorization") or ""
        scheme, _, token = value.partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None

    def segments(self) -> list[str]:
        return [s for s in self.path.split("/") if s]


def _stable_id(key: Hashable, length: int, digits: bool = False) -> str:
    digest = hashlib.blake2s(repr(key).encode(), digest_size=16).hexdigest()
    return str(int(digest, 16))[:length] if digits else digest[:length]


def _dig(doc: Any, *path: str) -> Any:
    for name in path:
        doc = doc.get(name) if isinstance(doc, dict) else None
    return doc


class Platform:
    """One platform's documented routes, credentials, keys and answers."""

    name = ""
    batch_limits: dict[str, int] = {}

    def route(self, call: Call) -> str | None:
        """The request kind, or None for a path the platform does not serve."""
        raise NotImplementedError

    def version(self, call: Call) -> str | None:
        return next((s for s in call.segments() if VERSION.fullmatch(s)), None)

    def credentials(self, call: Call, kind: str) -> dict[str, str | None]:
        """Every credential the kind requires, None where the request has none."""
        return {"access_token": call.bearer()}

    def error_doc(self, status: int, message: str, code: str | None) -> Any:
        raise NotImplementedError

    def error(self, status: int, message: str, code: str | None = None) -> Answer:
        return _json(status, self.error_doc(status, message, code))

    def auth_error(self, missing: str) -> Answer:
        return self.error(401, f"Missing or invalid {missing}", "UNAUTHORIZED")

    def version_error(self, version: str) -> Answer:
        return self.error(404, f"API version {version} is not available", "NOT_FOUND")

    def elements(self, kind: str, call: Call) -> list[Any] | None:
        """The elements of a body, None when its envelope is not the documented one."""
        raise NotImplementedError

    def batch_limit(self, kind: str, call: Call) -> int | None:
        return self.batch_limits.get(kind)

    def fault_accepted(self, answer: Answer) -> bool:
        """Whether a fault's answer means the platform took the request."""
        return 200 <= answer.status < 300

    def key(self, kind: str, element: Any, call: Call) -> Hashable:
        raise NotImplementedError

    def validate_only(self, kind: str, call: Call) -> bool:
        return False

    def too_many(self, kind: str, count: int, limit: int) -> Answer:
        return self.error(400, f"{count} elements in one request; the limit is {limit}")

    def check(self, kind: str, call: Call, elements: list[Any]) -> Answer | None:
        """A whole-request refusal beyond the envelope and batch size, if any."""
        return None

    def accept(
        self, kind: str, call: Call, elements: list[Any], keys: list[Hashable], known: set
    ) -> tuple[Answer, list[bool]]:
        """The success answer and which elements were written (``known``: keys seen)."""
        raise NotImplementedError


def _trace() -> str:
    return "A" + uuid.uuid4().hex[:22]


def _list_under(doc: Any, name: str) -> list[Any] | None:
    value = doc.get(name) if isinstance(doc, dict) else None
    return value if isinstance(value, list) else None


class Meta(Platform):
    """Meta Conversions API (PLATFORMS.md section 1)."""

    name = "meta"
    batch_limits = {"events": 1000}

    def route(self, call: Call) -> str | None:
        s = call.segments()
        ok = call.method == "POST" and len(s) == 3 and s[2] == "events"
        return "events" if ok and VERSION.fullmatch(s[0]) else None

    def credentials(self, call: Call, kind: str) -> dict[str, str | None]:
        form = call.doc if isinstance(call.doc, dict) else {}
        token = call.param("access_token") or form.get("access_token")
        return {"access_token": token if isinstance(token, str) and token else None}

    def error_doc(self, status: int, message: str, code: str | None) -> Any:
        number = int(code) if code and code.isdigit() else 100
        error = {"message": message, "type": "OAuthException", "code": number}
        return {"error": {**error, "fbtrace_id": _trace()}}

    def auth_error(self, missing: str) -> Answer:
        return self.error(400, "An access token is required to request this resource.", "104")

    def version_error(self, version: str) -> Answer:
        message = f"(#2635) You are calling a deprecated version of the Ads API ({version})."
        return self.error(400, message, "2635")

    def elements(self, kind: str, call: Call) -> list[Any] | None:
        return _list_under(call.doc, "data")

    def key(self, kind: str, element: Any, call: Call) -> Hashable:
        return (_dig(element, "event_name"), _dig(element, "event_id"))

    def accept(
        self, kind: str, call: Call, elements: list[Any], keys: list[Hashable], known: set
    ) -> tuple[Answer, list[bool]]:
        body = {"events_received": len(elements), "messages": [], "fbtrace_id": _trace()}
        return _json(200, body), [True] * len(elements)


class Google(Platform):
    """Google Data Manager ``events:ingest`` and Google Ads API uploads (section 2)."""

    name = "google_ads"
    batch_limits = {
        "ingest": 2000,
        "uploadClickConversions": 2000,
        "uploadConversionAdjustments": 2000,
    }
    METHODS = {
        "uploadClickConversions": "conversions",
        "uploadConversionAdjustments": "conversionAdjustments",
    }

    def route(self, call: Call) -> str | None:
        s = call.segments()
        if call.method != "POST" or not s or not VERSION.fullmatch(s[0]):
            return None
        if s[1:] == ["events:ingest"]:
            return "ingest"
        if len(s) == 3 and s[1] == "customers":
            method = s[2].partition(":")[2]
            return method if method in self.METHODS else None
        return None

    def credentials(self, call: Call, kind: str) -> dict[str, str | None]:
        found = {"access_token": call.bearer()}
        if kind != "ingest":
            found["developer-token"] = call.header("developer-token") or None
        return found

    def error_doc(self, status: int, message: str, code: str | None) -> Any:
        return {"error": {"code": status, "message": message, "status": code or "INVALID_ARGUMENT"}}

    def auth_error(self, missing: str) -> Answer:
        doc = self.error_doc(
            401,
            "Request is missing required authentication credential. Expected OAuth 2 access "
            "token, login cookie or other valid authentication credential.",
            "UNAUTHENTICATED",
        )
        if missing == "developer-token":
            doc["error"]["message"] = "The developer token is not valid."
            doc["error"]["details"] = [
                {
                    "@type": "type.googleapis.com/google.ads.googleads.v24.errors.GoogleAdsFailure",
                    "errors": [
                        {
                            "errorCode": {
                                "authenticationError": "DEVELOPER_TOKEN_PARAMETER_MISSING"
                            },
                            "message": "The developer token parameter is missing.",
                        }
                    ],
                }
            ]
        return _json(401, doc)

    def version_error(self, version: str) -> Answer:
        page = (
            "<!DOCTYPE html><html lang=en><title>Error 404 (Not Found)!!1</title>"
            f"<p><b>404.</b> <ins>That's an error.</ins><p>The requested URL /{version}/... "
            "was not found on this server. <ins>That's all we know.</ins></html>"
        )
        return Answer(404, page.encode(), "text/html; charset=UTF-8")

    def elements(self, kind: str, call: Call) -> list[Any] | None:
        return _list_under(call.doc, "events" if kind == "ingest" else self.METHODS[kind])

    def key(self, kind: str, element: Any, call: Call) -> Hashable:
        if kind == "ingest":
            return _dig(element, "transactionId")
        if _dig(element, "orderId"):
            return element["orderId"]
        if kind == "uploadClickConversions":
            return (_dig(element, "gclid"), _dig(element, "conversionDateTime"))
        pair = _dig(element, "gclidDateTimePair") or {}
        return (_dig(pair, "gclid"), _dig(pair, "conversionDateTime"))

    def validate_only(self, kind: str, call: Call) -> bool:
        return bool(_dig(call.doc, "validateOnly"))

    def too_many(self, kind: str, count: int, limit: int) -> Answer:
        if kind == "ingest":
            return self.error(400, f"{count} events in one request; at most {limit} allowed")
        code = (
            "TOO_MANY_CONVERSIONS_IN_REQUEST"
            if kind == "uploadClickConversions"
            else "TOO_MANY_ADJUSTMENTS_IN_REQUEST"
        )
        doc = self.error_doc(400, "Request contains an invalid argument.", "INVALID_ARGUMENT")
        doc["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.ads.googleads.v24.errors.GoogleAdsFailure",
                "errors": [
                    {
                        "errorCode": {"conversionUploadError": code},
                        "message": f"Upload fewer than {limit + 1} events in a single request.",
                    }
                ],
            }
        ]
        return _json(400, doc)

    def check(self, kind: str, call: Call, elements: list[Any]) -> Answer | None:
        if kind == "ingest":
            has_user_data = any(isinstance(e, dict) and e.get("userData") for e in elements)
            if has_user_data and not _dig(call.doc, "encoding"):
                return self.error(400, "encoding is required when userData is sent")
            return None
        if _dig(call.doc, "partialFailure") is not True:
            return self.error(400, "partial_failure must be true for this request")
        return None

    def accept(
        self, kind: str, call: Call, elements: list[Any], keys: list[Hashable], known: set
    ) -> tuple[Answer, list[bool]]:
        if kind == "ingest":
            return _json(200, {"requestId": str(uuid.uuid4())}), [True] * len(elements)
        if self.validate_only(kind, call):
            return _json(200, {}), [True] * len(elements)
        if kind == "uploadClickConversions":
            fields = (
                "gclid",
                "gbraid",
                "wbraid",
                "conversionAction",
                "conversionDateTime",
                "userIdentifiers",
            )
        else:
            fields = (
                "conversionAction",
                "adjustmentDateTime",
                "adjustmentType",
                "orderId",
                "gclidDateTimePair",
            )
        results = [{f: e[f] for f in fields if isinstance(e, dict) and f in e} for e in elements]
        job_id = str(int(uuid.uuid4().int % 10**12))
        return _json(200, {"results": results, "jobId": job_id}), [True] * len(elements)


class LinkedIn(Platform):
    """LinkedIn Conversions API (section 3): the version is the ``LinkedIn-Version``
    header."""

    name = "linkedin"
    batch_limits = {"conversionEvents": 5000}

    def route(self, call: Call) -> str | None:
        ok = call.method == "POST" and call.segments() == ["rest", "conversionEvents"]
        return "conversionEvents" if ok else None

    def version(self, call: Call) -> str | None:
        return call.header("linkedin-version")

    def error_doc(self, status: int, message: str, code: str | None) -> Any:
        return {"status": status, "code": code or "INVALID_REQUEST", "message": message}

    def auth_error(self, missing: str) -> Answer:
        doc = {
            "status": 401,
            "serviceErrorCode": 65600,
            "code": "INVALID_ACCESS_TOKEN",
            "message": "Invalid access token",
        }
        return _json(401, doc)

    def version_error(self, version: str) -> Answer:
        return self.error(426, f"Requested version {version} is not active", "NONEXISTENT_VERSION")

    def _batch(self, call: Call) -> bool:
        return (call.header("x-restli-method") or "").upper() == "BATCH_CREATE"

    def check(self, kind: str, call: Call, elements: list[Any]) -> Answer | None:
        if not call.header("linkedin-version"):
            return self.error(
                400,
                "A version must be present. Please specify a version by "
                "adding the LinkedIn-Version header.",
                "VERSION_MISSING",
            )
        return None

    def elements(self, kind: str, call: Call) -> list[Any] | None:
        if isinstance(call.doc, dict) and "elements" in call.doc:
            return _list_under(call.doc, "elements")
        return [call.doc] if isinstance(call.doc, dict) else None

    def key(self, kind: str, element: Any, call: Call) -> Hashable:
        return _dig(element, "eventId")

    def accept(
        self, kind: str, call: Call, elements: list[Any], keys: list[Hashable], known: set
    ) -> tuple[Answer, list[bool]]:
        if not self._batch(call):
            return Answer(201, headers=(("x-restli-id", str(uuid.uuid4())),)), [True]
        body = {"elements": [{"status": 201} for _ in elements]}
        return _json(200, body), [True] * len(elements)


class TikTok(Platform):
    """TikTok Events API 2.0 (section 4): errors come as HTTP 200 with a ``code``."""

    name = "tiktok"
    batch_limits = {"event/track": 1000}

    def route(self, call: Call) -> str | None:
        s = call.segments()
        ok = (
            call.method == "POST"
            and len(s) == 4
            and s[0] == "open_api"
            and VERSION.fullmatch(s[1])
            and s[2:] == ["event", "track"]
        )
        return "event/track" if ok else None

    def credentials(self, call: Call, kind: str) -> dict[str, str | None]:
        return {"Access-Token": call.header("access-token") or None}

    def error_doc(self, status: int, message: str, code: str | None) -> Any:
        return {
            "code": int(code or 40002),
            "message": message,
            "request_id": uuid.uuid4().hex,
            "data": {},
        }

    def auth_error(self, missing: str) -> Answer:
        return _json(200, self.error_doc(200, "Access token is null, please check.", "40104"))

    def fault_accepted(self, answer: Answer) -> bool:
        """HTTP 200 with a non-zero ``code`` (e.g. 40100 throttling) took nothing."""
        if not 200 <= answer.status < 300:
            return False
        try:
            return _dig(json.loads(answer.body), "code") in (0, None)
        except ValueError:
            return True

    def elements(self, kind: str, call: Call) -> list[Any] | None:
        return _list_under(call.doc, "data")

    def key(self, kind: str, element: Any, call: Call) -> Hashable:
        return (_dig(element, "event"), _dig(element, "event_id"))

    def accept(
        self, kind: str, call: Call, elements: list[Any], keys: list[Hashable], known: set
    ) -> tuple[Answer, list[bool]]:
        body = {"code": 0, "message": "OK", "request_id": uuid.uuid4().hex, "data": {}}
        return _json(200, body), [True] * len(elements)


class Snapchat(Platform):
    """Snapchat Conversions API v3 (section 5)."""

    name = "snapchat"
    batch_limits = {"events": 2000, "events/validate": 2000}

    def route(self, call: Call) -> str | None:
        s = call.segments()
        if call.method != "POST" or len(s) < 3 or not VERSION.fullmatch(s[0]):
            return None
        if s[2:] == ["events"]:
            return "events"
        return "events/validate" if s[2:] == ["events", "validate"] else None

    def credentials(self, call: Call, kind: str) -> dict[str, str | None]:
        return {"access_token": call.param("access_token") or None}

    def error_doc(self, status: int, message: str, code: str | None) -> Any:
        return {
            "status": "INVALID",
            "reason": message,
            "errors": {"codes": [code or "INVALID_REQUEST"], "error_msgs": [message]},
        }

    def auth_error(self, missing: str) -> Answer:
        return self.error(401, "Unauthorized: missing or invalid access_token", "UNAUTHORIZED")

    def elements(self, kind: str, call: Call) -> list[Any] | None:
        return _list_under(call.doc, "data")

    def key(self, kind: str, element: Any, call: Call) -> Hashable:
        return (_dig(element, "event_name"), _dig(element, "event_id"))

    def validate_only(self, kind: str, call: Call) -> bool:
        return kind == "events/validate"

    def accept(
        self, kind: str, call: Call, elements: list[Any], keys: list[Hashable], known: set
    ) -> tuple[Answer, list[bool]]:
        if kind == "events/validate":
            logs = [
                {"event": i, "status": "VALID", "errors": [], "warnings": []}
                for i in range(len(elements))
            ]
            body = {"status": "VALID", "test_event": True, "reason": "", "event_logs": logs}
            return _json(200, body), [True] * len(elements)
        return _json(200, {"status": "VALID", "reason": ""}), [True] * len(elements)


class Reddit(Platform):
    """Reddit Conversions API v3 (section 6)."""

    name = "reddit"
    batch_limits = {"conversion_events": 1000}

    def route(self, call: Call) -> str | None:
        s = call.segments()
        ok = (
            call.method == "POST"
            and len(s) == 5
            and s[0] == "api"
            and VERSION.fullmatch(s[1])
            and s[2] == "pixels"
            and s[4] == "conversion_events"
        )
        return "conversion_events" if ok else None

    def error_doc(self, status: int, message: str, code: str | None) -> Any:
        if code:
            return {"success": False, "error": {"reason": code, "explanation": message}}
        return {"message": message}

    def elements(self, kind: str, call: Call) -> list[Any] | None:
        return _list_under(_dig(call.doc, "data"), "events")

    def key(self, kind: str, element: Any, call: Call) -> Hashable:
        return _dig(element, "metadata", "conversion_id")

    def accept(
        self, kind: str, call: Call, elements: list[Any], keys: list[Hashable], known: set
    ) -> tuple[Answer, list[bool]]:
        body = {"message": f"Successfully processed {len(elements)} conversion events."}
        return _json(200, body), [True] * len(elements)


class HubSpot(Platform):
    """HubSpot custom event occurrences and CRM batch upserts (section 9)."""

    name = "hubspot"
    batch_limits = {"deals": 100, "contacts": 100, "companies": 100}

    def route(self, call: Call) -> str | None:
        s = call.segments()
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


PLATFORMS: dict[str, type[Platform]] = {
    "meta": Meta,
    "google_ads": Google,
    "linkedin": LinkedIn,
    "tiktok": TikTok,
    "snapchat": Snapchat,
    "reddit": Reddit,
    "hubspot": HubSpot,
    "salesforce": Salesforce,
}
SALESFORCE_BATCH = 200


def _parse_body(call: Call) -> Any:
    """JSON, or a form (Meta documents ``data`` as a JSON-encoded form field)."""
    content_type = (call.header("content-type") or "").lower()
    if "application/x-www-form-urlencoded" in content_type:
        form = {k: v[0] for k, v in parse_qs(call.body.decode("utf-8", "replace")).items()}
        if "data" in form:
            form["data"] = json.loads(form["data"])
        return form
    return json.loads(call.body) if call.body else None


def echo_forms(token: str) -> dict[str, str]:
    """The forms a credential takes when a platform quotes it back."""
    return {
        "raw": token,
        "json": json.dumps(token)[1:-1],
        "url": quote(token, safe=""),
        "base64": base64.b64encode(token.encode()).decode(),
    }


@dataclass
class _Outcome:
    answer: Answer | None
    """None: close the connection without answering."""
    record: RecordedRequest


class Receiver:
    """Platform endpoints on 127.0.0.1 for delivery tests; use as a context manager.

    ``refused_versions``: per destination, API versions answered as the platform answers
    a sunset version. ``faults``: per destination (or ``ALL``), faults set from the start.
    ``salesforce_usage`` / ``salesforce_daily_max``: the org's API usage before the first
    request and its daily limit. ``aliases``: more destination names for a platform
    (``{"meta_eu": "meta"}``). ``keep_bodies=False`` keeps request bodies out of the
    records (long benchmarks).
    """

    def __init__(
        self,
        *,
        refused_versions: Mapping[str, Iterable[str]] | None = None,
        faults: Mapping[str, Sequence[Fault]] | None = None,
        salesforce_usage: int = 0,
        salesforce_daily_max: int = 100_000,
        aliases: Mapping[str, str] | None = None,
        keep_bodies: bool = True,
    ) -> None:
        self._lock = threading.Lock()
        self._closing = threading.Event()
        names = {d: d for d in DESTINATIONS} | dict(aliases or {})
        self._platforms = {alias: PLATFORMS[name]() for alias, name in names.items()}
        self._refused: dict[str, dict[str, Answer | None]] = {
            d: dict.fromkeys(v) for d, v in (refused_versions or {}).items()
        }
        self._faults: dict[str, list[Fault]] = {}
        for scope, items in (faults or {}).items():
            for fault in items:
                self.add_fault(fault, scope)
        self.salesforce_usage = salesforce_usage
        self.salesforce_daily_max = salesforce_daily_max
        self.keep_bodies = keep_bodies
        self.errors: list[str] = []
        """Receiver bugs met while answering (each answered 500)."""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # lifecycle

    def start(self) -> Receiver:
        """Bind a free port on 127.0.0.1 and serve in a background thread."""
        if self._server is not None:
            return self
        self._closing.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.receiver = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, cut open connections and interrupt delays."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.cut_connections()
        self._closing.set()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the receiver is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_for(self, destination: str) -> str:
        """The ``base_url`` to configure for a destination."""
        return f"{self.base_url}/{destination}"

    # records

    def reset(self) -> None:
        """Forget requests, keys, request counters and Salesforce usage (faults stay)."""
        with self._lock:
            self._requests: dict[str, list[RecordedRequest]] = {}
            self._received: dict[str, list[tuple[str | None, Hashable]]] = {}
            self._known: dict[str, set] = {}
            self._seq: Counter[str] = Counter()
            self._sf_count = 0

    def requests(self, destination: str, kind: str | None = None) -> list[RecordedRequest]:
        """Every request to a destination (optionally of one kind), in arrival order."""
        with self._lock:
            found = list(self._requests.get(destination, []))
        return [r for r in found if kind is None or r.kind == kind]

    def received(self, destination: str, kind: str | None = None) -> list[Hashable]:
        """The dedup key of every element received, repeats included."""
        with self._lock:
            found = list(self._received.get(destination, []))
        return [key for k, key in found if kind is None or k == kind]

    def unique(self, destination: str, kind: str | None = None) -> set[Hashable]:
        return set(self.received(destination, kind))

    def counts(self, destination: str, kind: str | None = None) -> Counter[Hashable]:
        return Counter(self.received(destination, kind))

    def salesforce_api_usage(self) -> int:
        """N of ``api-usage=N/M``: the starting usage plus Salesforce requests answered."""
        with self._lock:
            return self.salesforce_usage + self._sf_count

    # configuration

    def refuse_versions(
        self, destination: str, *versions: str, answer: Answer | None = None
    ) -> None:
        """Answer these API versions as the platform answers a sunset version (or with
        ``answer``)."""
        with self._lock:
            refused = self._refused.setdefault(destination, {})
            refused.update(dict.fromkeys(versions, answer))

    def add_fault(self, fault: Fault, destination: str = ALL) -> Fault:
        with self._lock:
            self._faults.setdefault(destination, []).append(fault)
        return fault

    def clear_faults(self, destination: str | None = None) -> None:
        """Remove the faults of one scope (``ALL`` included), or of every scope."""
        with self._lock:
            if destination is None:
                self._faults.clear()
            else:
                self._faults.pop(destination, None)

    def every(
        self,
        n: int,
        status: int,
        body: bytes = b"",
        content_type: str = JSON,
        headers: Mapping[str, str] | None = None,
        *,
        destination: str = ALL,
    ) -> Fault:
        """The n-th, 2n-th, ... request to the destination gets this answer."""
        if n < 1:
            raise ValueError("n must be at least 1")
        answer = Answer(status, body, content_type, tuple((headers or {}).items()))
        return self.add_fault(Every(n, answer), destination)

    def always(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = JSON,
        headers: Mapping[str, str] | None = None,
        *,
        destination: str = ALL,
    ) -> Fault:
        """Every request gets this answer (an outage, a misconfigured proxy)."""
        answer = Answer(status, body, content_type, tuple((headers or {}).items()))
        return self.add_fault(Always(answer), destination)

    def echo_credential(
        self, status: int = 400, *, destination: str = ALL, as_text: bool = False
    ) -> Fault:
        """An error quoting the credentials the request carried, as Meta's "Invalid OAuth
        access token - Cannot parse access token: <token>" does: in the platform's error
        shape (the JSON-escaped form), with the URL-encoded and Base64 forms beside it;
        ``as_text`` answers ``text/plain`` with the raw form too."""
        return self.add_fault(EchoCredential(status, as_text), destination)

    def delay(self, seconds: float, times: int | None = None, *, destination: str = ALL) -> Fault:
        """The next ``times`` requests (None: every one) wait ``seconds`` before answering."""
        return self.add_fault(Delay(seconds, times), destination)

    def drop(self, times: int, *, destination: str = ALL, after_processing: bool = False) -> Fault:
        """Close the connection without answering the next ``times`` requests."""
        return self.add_fault(Drop(times, after_processing), destination)

    # answering

    def _take(self, destination: str) -> tuple[int, float, Drop | None, list[Fault], list[Fault]]:
        """Count the request; its number, delay, drop and the answering faults (the
        destination's, then those for all)."""
        with self._lock:
            self._seq[destination] += 1
            seq = self._seq[destination]
            mine = list(self._faults.get(destination, []))
            everyone = list(self._faults.get(ALL, []))
            delay = 0.0
            drop: Drop | None = None
            for fault in (*mine, *everyone):
                if isinstance(fault, Delay) and (fault.times is None or fault.times > 0):
                    delay = max(delay, fault.seconds)
                    if fault.times is not None:
                        fault.times -= 1
                elif isinstance(fault, Drop) and fault.times > 0 and drop is None:
                    fault.times -= 1
                    drop = fault
        answering = (Every, Always, EchoCredential)
        return (
            seq,
            delay,
            drop,
            [f for f in mine if isinstance(f, answering)],
            [f for f in everyone if isinstance(f, answering)],
        )

    def handle(self, call: Call) -> _Outcome:
        """Answer one request (see the module docstring for the order)."""
        started = time.perf_counter()
        seq, delay, drop, mine, everyone = self._take(call.destination)
        record = RecordedRequest(
            seq,
            call.destination,
            None,
            call.method,
            call.path,
            call.query,
            call.headers,
            call.body if self.keep_bodies else b"",
            received_at=time.time(),
        )
        if delay:
            self._closing.wait(delay)
        platform = self._platforms.get(call.destination)
        if drop is not None and not drop.after_processing:
            record.fault = "drop"
            return self._finish(record, None, [], started)
        answer, written = self._fault_answer(seq, mine, everyone, call, platform, record)
        if answer is None:
            if platform is None:
                answer = _json(404, {"error": f"unknown destination {call.destination!r}"})
            else:
                answer, written = self._platform_answer(platform, call, record)
        if platform is not None and platform.name == "salesforce":
            answer = self._with_limit_info(answer)
        if drop is not None:
            record.fault = "drop"
            return self._finish(record, None, written, started)
        return self._finish(record, answer, written, started)

    def _fault_answer(
        self,
        seq: int,
        mine: list[Fault],
        everyone: list[Fault],
        call: Call,
        platform: Platform | None,
        record: RecordedRequest,
    ) -> tuple[Answer | None, list[bool]]:
        """The answering fault's answer (None when none applies) and the written flags."""
        chosen = next(
            (f for f in (*mine, *everyone) if isinstance(f, Every) and seq % f.n == 0), None
        )
        if chosen is None:
            standing = [f for f in mine if not isinstance(f, Every)] or [
                f for f in everyone if not isinstance(f, Every)
            ]
            chosen = standing[-1] if standing else None
        if chosen is None:
            return None, []
        if isinstance(chosen, EchoCredential):
            answer = self._echo(chosen, call, platform)
            record.fault = "echo_credential"
        else:
            assert isinstance(chosen, Every | Always)
            answer = chosen.answer
            record.fault = "every" if isinstance(chosen, Every) else "always"
        if platform is None or not platform.fault_accepted(answer):
            return answer, []
        return answer, self._elements_of(platform, call, record)

    def _elements_of(self, platform: Platform, call: Call, record: RecordedRequest) -> list[bool]:
        """The elements of a request a fault answered with success (all count)."""
        kind = platform.route(call)
        record.kind = kind
        if kind is None:
            return []
        try:
            call.doc = _parse_body(call)
        except ValueError:
            return []
        elements = platform.elements(kind, call) or []
        record.elements = len(elements)
        record.keys = [platform.key(kind, e, call) for e in elements]
        return [True] * len(elements)

    def _echo(self, fault: EchoCredential, call: Call, platform: Platform | None) -> Answer:
        tokens = [t for t in self._credentials(call, platform) if t]
        first = tokens[0] if tokens else ""
        message = f"Invalid OAuth access token - Cannot parse access token: {first}"
        if fault.as_text:
            lines = [message]
            for token in tokens:
                lines += [f"{name}: {value}" for name, value in echo_forms(token).items()]
            return Answer(fault.status, ("\n".join(lines) + "\n").encode(), "text/plain")
        forms = [echo_forms(t) for t in tokens]
        extra = "; ".join(f"url-encoded: {f['url']}; base64: {f['base64']}" for f in forms)
        message = f"{message} ({extra})" if extra else message
        if platform is None:
            return _json(fault.status, {"error": message})
        return _json(fault.status, platform.error_doc(fault.status, message, None))

    def _credentials(self, call: Call, platform: Platform | None) -> list[str | None]:
        """Every credential the request carried, first the platform's own."""
        found: list[str | None] = []
        if platform is not None:
            kind = platform.route(call) or ""
            if platform.name == "meta":
                try:
                    call.doc = _parse_body(call)
                except ValueError:
                    call.doc = None
            found += platform.credentials(call, kind).values()
        found += [
            call.bearer(),
            call.param("access_token"),
            call.header("access-token"),
            call.header("developer-token"),
        ]
        return list(dict.fromkeys(found))

    def _platform_answer(
        self, platform: Platform, call: Call, record: RecordedRequest
    ) -> tuple[Answer, list[bool]]:
        kind = platform.route(call)
        record.kind = kind
        if kind is None:
            return platform.error(404, f"No route for {call.method} {call.path}", "NOT_FOUND"), []
        record.version = version = platform.version(call)
        with self._lock:
            refused = self._refused.get(call.destination, {})
            if version is not None and version in refused:
                return refused[version] or platform.version_error(version), []
        try:
            call.doc = _parse_body(call) if call.method != "GET" else None
        except ValueError:
            call.doc = None
            if call.body:
                return platform.error(400, "The request body is not valid JSON"), []
        missing = [n for n, v in platform.credentials(call, kind).items() if not v]
        if missing:
            return platform.auth_error(missing[0]), []
        if platform.name == "salesforce":
            with self._lock:
                usage = self.salesforce_usage + self._sf_count + 1
            if usage > self.salesforce_daily_max:
                message = "TotalRequests Limit exceeded."
                return platform.error(403, message, "REQUEST_LIMIT_EXCEEDED"), []
            if kind == "limits":
                return self._limits(usage), []
        elements = platform.elements(kind, call)
        if elements is None:
            return platform.error(400, "The request body is not in the documented shape"), []
        record.elements = len(elements)
        limit = platform.batch_limit(kind, call)
        if limit is not None and len(elements) > limit:
            return platform.too_many(kind, len(elements), limit), []
        record.keys = [platform.key(kind, e, call) for e in elements]
        refusal = platform.check(kind, call, elements)
        if refusal is not None:
            return refusal, []
        with self._lock:
            known = set(self._known.get(call.destination, ()))
        answer, written = platform.accept(kind, call, elements, record.keys, known)
        if platform.validate_only(kind, call):
            written = [False] * len(written)
        return answer, written

    def _limits(self, usage: int) -> Answer:
        cap = self.salesforce_daily_max
        doc = {"DailyApiRequests": {"Max": cap, "Remaining": max(0, cap - usage)}}
        return _json(200, doc)

    def _with_limit_info(self, answer: Answer) -> Answer:
        with self._lock:
            self._sf_count += 1
            usage = self.salesforce_usage + self._sf_count
        info = ("Sforce-Limit-Info", f"api-usage={usage}/{self.salesforce_daily_max}")
        return Answer(answer.status, answer.body, answer.content_type, (*answer.headers, info))

    def _finish(
        self, record: RecordedRequest, answer: Answer | None, written: list[bool], started: float
    ) -> _Outcome:
        record.status = None if answer is None else answer.status
        record.answer = b"" if answer is None or not self.keep_bodies else answer.body
        keys = [k for k, w in zip(record.keys, written, strict=False) if w]
        record.written = len(keys)
        record.seconds = time.perf_counter() - started
        with self._lock:
            self._requests.setdefault(record.destination, []).append(record)
            self._received.setdefault(record.destination, []).extend((record.kind, k) for k in keys)
            self._known.setdefault(record.destination, set()).update(keys)
        return _Outcome(answer, record)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    receiver: Receiver

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: socket errors of connections a test cut (receiver bugs are answered 500
        and kept in ``Receiver.errors``)."""

    def cut_connections(self) -> None:
        """Shut every open connection (keep-alive readers end at once)."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 60
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the records instead."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            for _ in range(1_000_000):
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        receiver = self.server.receiver
        body = self._read_body()
        url = urlsplit(self.path)
        destination, _, rest = url.path.lstrip("/").partition("/")
        call = Call(
            self.command,
            unquote(destination),
            "/" + rest,
            parse_qs(url.query, keep_blank_values=True),
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        try:
            outcome = receiver.handle(call)
        except Exception as exc:  # a receiver bug: answer 500 and keep it for the test
            receiver.errors.append(f"{type(exc).__name__}: {exc}")
            self._write(Answer(500, f"receiver error: {exc}".encode(), "text/plain"))
            return
        if outcome.answer is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write(outcome.answer)

    def _write(self, answer: Answer) -> None:
        self.send_response(answer.status)
        if answer.content_type:
            self.send_header("Content-Type", answer.content_type)
        if answer.status not in (204, 304):
            self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers:
            self.send_header(name, value)
        self.end_headers()
        if answer.status not in (204, 304) and self.command != "HEAD":
            self.wfile.write(answer.body)

"""The ad platforms but Google: Meta, LinkedIn, TikTok, Snapchat and Reddit."""

from __future__ import annotations

import json
import uuid
from collections.abc import Hashable
from typing import Any

from .base import VERSION, Platform, _dig, _list_under, _trace
from .messages import Answer, Call, _json


class Meta(Platform):
    """Meta Conversions API (PLATFORMS.md section 1)."""

    name = "meta"
    batch_limits = {"events": 1000}

    def route(self, call: Call) -> str | None:
        s = call.segments()
        if call.method == "GET" and len(s) == 2 and VERSION.fullmatch(s[0]):
            return "whoami"  # GET /{version}/{pixel_id}?fields=id
        ok = call.method == "POST" and len(s) == 3 and s[2] == "events"
        return "events" if ok and VERSION.fullmatch(s[0]) else None

    def whoami(self, call: Call) -> Answer:
        return _json(200, {"id": call.segments()[1]})

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


class LinkedIn(Platform):
    """LinkedIn Conversions API (section 3): the version is the ``LinkedIn-Version``
    header."""

    name = "linkedin"
    batch_limits = {"conversionEvents": 5000}

    def route(self, call: Call) -> str | None:
        if call.method == "GET" and call.segments() == ["rest", "adAccountUsers"]:
            return "whoami"  # ?q=authenticatedUser: the member's ad account roles
        ok = call.method == "POST" and call.segments() == ["rest", "conversionEvents"]
        return "conversionEvents" if ok else None

    def whoami(self, call: Call) -> Answer:
        element = {"account": "urn:li:sponsoredAccount:507000001", "role": "ACCOUNT_MANAGER",
                   "user": "urn:li:person:receiver"}  # fmt: skip
        return _json(200, {"elements": [element], "paging": {"count": 10, "start": 0}})

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
        api = len(s) == 4 and s[0] == "open_api" and VERSION.fullmatch(s[1]) is not None
        if api and call.method == "GET" and s[2:] == ["user", "info"]:
            return "whoami"
        ok = call.method == "POST" and api and s[2:] == ["event", "track"]
        return "event/track" if ok else None

    def whoami(self, call: Call) -> Answer:
        data = {"core_user_id": "7000000000000000009", "display_name": "receiver"}
        body = {"code": 0, "message": "OK", "request_id": uuid.uuid4().hex, "data": data}
        return _json(200, body)

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
        if call.method == "GET" and s == ["v1", "me"]:
            return "whoami"  # the Marketing API's authenticated user (Bearer)
        if call.method != "POST" or len(s) < 3 or not VERSION.fullmatch(s[0]):
            return None
        if s[2:] == ["events"]:
            return "events"
        return "events/validate" if s[2:] == ["events", "validate"] else None

    def credentials(self, call: Call, kind: str) -> dict[str, str | None]:
        if kind == "whoami":
            return {"access_token": call.bearer()}
        return {"access_token": call.param("access_token") or None}

    def whoami(self, call: Call) -> Answer:
        me = {"id": str(uuid.uuid4()), "display_name": "receiver", "organization_id": "org"}
        return _json(200, {"request_status": "SUCCESS", "request_id": uuid.uuid4().hex, "me": me})

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

    def whoami(self, call: Call) -> Answer:
        return _json(200, {"data": {"id": "t2_receiver", "username": "receiver"}})

    def route(self, call: Call) -> str | None:
        s = call.segments()
        if call.method == "GET" and len(s) == 3 and s[0] == "api" and s[2] == "me":
            return "whoami"
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

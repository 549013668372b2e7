"""PostHog's public capture API: ``POST /batch/`` and the ``/flags/`` credential check,
both with the project API key as the JSON body's ``api_key``."""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Any

from .base import Platform, _dig, _list_under
from .messages import Answer, Call, _json


class PostHog(Platform):
    """PostHog capture (``/batch/``: ``{"api_key", "batch": [...]}``, deduplicated on
    each event's ``uuid``; the whole batch refused for one bad event)."""

    name = "posthog"

    def route(self, call: Call) -> str | None:
        s = call.segments()
        if call.method == "POST" and s == ["flags"]:
            return "whoami"
        return "batch" if call.method == "POST" and s == ["batch"] else None

    def whoami(self, call: Call) -> Answer:
        return _json(200, {"flags": {}, "errorsWhileComputingFlags": False})

    def credentials(self, call: Call, kind: str) -> dict[str, str | None]:
        doc = call.doc
        if doc is None and call.body:  # a check call's body is not parsed for it
            try:
                doc = json.loads(call.body)
            except ValueError:
                doc = None
        key = _dig(doc, "api_key")
        usable = isinstance(key, str) and key != "" and "*" not in key
        return {"api_key": key if usable else None}

    def error_doc(self, status: int, message: str, code: str | None) -> Any:
        kind = {400: "validation_error", 401: "authentication_error"}.get(status, "server_error")
        default = {401: "invalid_api_key", 413: "payload_too_large"}.get(status, "invalid_payload")
        return {"type": kind, "code": code or default, "detail": message, "attr": None}

    def auth_error(self, missing: str) -> Answer:
        return self.error(401, "Project API key invalid.", "invalid_api_key")

    def elements(self, kind: str, call: Call) -> list[Any] | None:
        return _list_under(call.doc, "batch")

    def key(self, kind: str, element: Any, call: Call) -> Hashable:
        return _dig(element, "uuid")

    def accept(
        self, kind: str, call: Call, elements: list[Any], keys: list[Hashable], known: set
    ) -> tuple[Answer, list[bool]]:
        return _json(200, {"status": 1}), [True] * len(elements)

"""The Platform base class every platform module implements, and their helpers."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Hashable
from typing import Any

from .messages import Answer, Call, _json

VERSION = re.compile(r"v\d+(?:\.\d+)?|\d{4}-\d{2}(?:-\d{2})?")


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
    check_kinds: frozenset[str] = frozenset({"whoami"})
    """Kinds of the platform's cheap authenticated reads (credential checks): answered
    at once, never by a fault (see ``answering``)."""

    def route(self, call: Call) -> str | None:
        """The request kind, or None for a path the platform does not serve."""
        raise NotImplementedError

    def whoami(self, call: Call) -> Answer:
        """The documented answer of the credential check (its credential is present)."""
        return _json(200, {})

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

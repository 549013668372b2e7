"""Failures and verdicts: what a platform answer means for a request and its rows,
and the helpers every platform's parser reads answers with (bodies come in any shape)."""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from trackstack_wh.delivery.taxonomy import (
    BAD_IDENTIFIER,
    PERMANENT,
    RETRYABLE,
    TOO_OLD,
    class_for_status,
    classify,
)

MAX_MESSAGE = 300
ROW_FAULTS = frozenset({PERMANENT, TOO_OLD, BAD_IDENTIFIER})
"""Classes that, in a whole-request rejection, point at the rows rather than the request."""


@dataclass(frozen=True)
class Failure:
    """Why a request or a row did not go through."""

    error_class: str
    code: str | None
    message: str
    retry_after: float | None = None


@dataclass
class Verdict:
    """The outcome of one request for its rows (by position in the request).

    - ``batch_invalid``: the platform refused the whole request because of some rows; the
      ones it named are in ``row_failures``, the others must be sent again (without the bad
      ones); when it named none, the request is split to find them (``request_failure``
      then holds the platform's words, for a lone row that turns out bad).
    - ``request_failure`` alone: nothing was accepted, for a reason of the request (auth,
      rate limit, outage); every row shares it.
    - otherwise rows in ``row_failures`` failed and every other row was accepted.
    """

    request_failure: Failure | None = None
    batch_invalid: bool = False
    row_failures: dict[int, Failure] = field(default_factory=dict)
    trace_id: str | None = None
    accepted: int | None = None


Parser = Callable[[int, Mapping[str, str], Any, Sequence[str]], Verdict]


EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
LONG_NUMBER = re.compile(r"\+?\d[\d ()-]{6,}\d")


def platform_text(text: Any) -> str:
    """Platform text, shortened, with e-mail addresses and phone-like numbers masked (CRMs
    echo the values they refuse). Cut before matching: a huge body costs nothing more."""
    masked = EMAIL.sub("<email>", str(text or "")[: 2 * MAX_MESSAGE])
    return LONG_NUMBER.sub("<number>", masked)[:MAX_MESSAGE]


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date), as seconds."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None  # unreadable: back off as if there were none
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def failure_of(
    destination: str, status: int, code: Any, message: Any, headers: Mapping[str, str]
) -> Failure:
    code_text = None if code is None else str(code)
    text = platform_text(message)
    return Failure(
        classify(destination, status, code_text, text),
        code_text,
        text,
        retry_after_seconds(headers),
    )


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (bodies come in any shape)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def request_or_batch(failure: Failure, indices: dict[int, Failure] | None = None) -> Verdict:
    """A whole-request refusal: about rows when the class says so, else about the request."""
    if failure.error_class in ROW_FAULTS:
        return Verdict(request_failure=failure, batch_invalid=True, row_failures=indices or {})
    return Verdict(request_failure=failure)


def indexed_lines(destination: str, status: int, text: str, pattern: str) -> dict[int, Failure]:
    """Row errors named by index inside one message (LinkedIn ``Index: 3, ...``, TikTok
    ``Batch.3.field: ...``)."""
    found: dict[int, Failure] = {}
    for part in re.split(r"\n|; ", text):
        match = re.search(pattern, part)
        if match and int(match.group(1)) not in found:
            cls = classify(destination, status, None, part)
            if cls not in ROW_FAULTS:
                cls = PERMANENT
            found[int(match.group(1))] = Failure(cls, None, platform_text(part.strip()))
    return found


def short_or_none(value: Any) -> str | None:
    return None if value is None else str(value)[:MAX_MESSAGE]


def body_text(body: Any) -> str:
    if isinstance(body, bytes):
        return body[:MAX_MESSAGE].decode("utf-8", "replace")
    return platform_text(
        orjson.dumps(body)[: 2 * MAX_MESSAGE].decode("utf-8", "replace") if body is not None else ""
    )


def unexpected_answer(
    status: int, body: Any, headers: Mapping[str, str] | None = None, why: str = "shape"
) -> Failure:
    """An answer no parser can read (a 2xx not in the platform's success shape, a body a
    parser fails on): judged by its status and never permanent, since whether the
    platform took the rows is unknown and their dedup keys make a resend harmless."""
    cls = class_for_status(status)
    message = f"answer of an unexpected {why}: {body_text(body)}"
    return Failure(
        RETRYABLE if cls == PERMANENT else cls,
        f"unexpected_{status}",
        message[:MAX_MESSAGE],
        retry_after_seconds(headers or {}),
    )

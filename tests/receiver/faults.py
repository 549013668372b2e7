"""Faults a test sets on the receiver, and the forms a credential is echoed in.

Which fault answers a request (their precedence) is decided in ``answering.py``; the
package docstring gives the order.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from urllib.parse import quote

from .messages import Answer

ALL = "*"
"""Fault scope: every destination."""


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


def echo_forms(token: str) -> dict[str, str]:
    """The forms a credential takes when a platform quotes it back."""
    return {
        "raw": token,
        "json": json.dumps(token)[1:-1],
        "url": quote(token, safe=""),
        "base64": base64.b64encode(token.encode()).decode(),
    }

"""A sink config, keys and request helpers shared by the sink tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from trackstack_lab.sink_process import SinkProcess

SECRET = "sk_test_0123456789abcdefSECRET"
PUBLISHABLE = "pk_test_0123456789abcdefPUBLIC"
OTHER_SECRET = "sk_test_fedcba9876543210OTHER"
FULL_IP_SECRET = "sk_test_fullip_0123456789abcd"
KEY_ENV = {
    "TS_TEST_SECRET": SECRET,
    "TS_TEST_PUBLISHABLE": PUBLISHABLE,
    "TS_TEST_OTHER": OTHER_SECRET,
    "TS_TEST_FULLIP": FULL_IP_SECRET,
}
ALLOWED_ORIGIN = "https://app.example.com"

CONFIG = """
[workspace]
allowed_domains = ["*.example.com"]

[sink]
max_body_bytes = {max_body_bytes}
max_events_per_request = 50
segment_max_bytes = {segment_max_bytes}
segment_max_age_seconds = {segment_max_age_seconds}
segment_idle_seconds = {segment_idle_seconds}
{sink_extra}
[projects.acme]
allowed_origins = ["app.example.com", "*.acme.test"]
publishable_key_env = "TS_TEST_PUBLISHABLE"
secret_key_env = "TS_TEST_SECRET"

[projects.tiny]
daily_event_quota = 10
secret_key_env = "TS_TEST_OTHER"

[projects.fullip]
client_ip = "full"
secret_key_env = "TS_TEST_FULLIP"
"""


def write_config(
    path: Path,
    *,
    max_body_bytes: int = 200_000,
    segment_max_bytes: int = 64 << 20,
    segment_max_age_seconds: float = 3600,
    segment_idle_seconds: float = 5,
    **sink_extra: float,
) -> Path:
    """The test config; ``sink_extra`` adds ``[sink]`` settings (``max_depth=8``...)."""
    path.write_text(
        CONFIG.format(
            max_body_bytes=max_body_bytes,
            segment_max_bytes=segment_max_bytes,
            segment_max_age_seconds=segment_max_age_seconds,
            segment_idle_seconds=segment_idle_seconds,
            sink_extra="".join(f"{name} = {value}\n" for name, value in sink_extra.items()),
        )
    )
    return path


@contextmanager
def running_sink(root: Path, **config: Any) -> Iterator[SinkProcess]:
    """A sink process over ``root/landing`` with the test config (``config`` overrides)."""
    with SinkProcess(root / "landing", write_config(root / "sink.toml", **config),
                     env=KEY_ENV) as process:  # fmt: skip
        yield process


def server_headers(key: str = SECRET, **extra: str) -> dict[str, str]:
    return {"content-type": "application/json", "x-ts-key": key, **extra}


def events(n: int, prefix: str = "e", **fields: Any) -> list[dict[str, Any]]:
    """``n`` valid SignUp events with ids ``{prefix}{i}``."""
    return [
        {"event": "SignUp", "eventId": f"{prefix}{i}", "email": f"user{i}@acme.test", **fields}
        for i in range(n)
    ]


def post(client: httpx.Client, body: Any, headers: dict[str, str]) -> httpx.Response:
    return client.post("/events", json=body, headers=headers)

"""Running the emulator in a subprocess, with a small client for its admin API."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from trackstack_lab.emulator.keys import KEY_FILES
from trackstack_lab.process import ServerError, ServerProcess
from trackstack_wh.config import EMULATOR_TARGET, WorkspaceConfig

EMULATOR_TOKEN = "emulator-token"

"""The emulator process failed to start or answer."""


class EmulatorProcess(ServerProcess):
    """``python -m trackstack_lab.emulator`` in a subprocess on a free port.

    Use as a context manager; ``url_for(destination)`` is the base URL to configure for a
    destination, and the methods wrap the ``/_emulator`` admin API.
    """

    name = "emulator"
    module = "trackstack_lab.emulator"
    health_path = "/_emulator/health"

    def __init__(self, clock: datetime | str | None = None, *, host: str = "127.0.0.1") -> None:
        self.clock = clock.isoformat() if isinstance(clock, datetime) else clock
        super().__init__([] if self.clock is None else ["--clock", self.clock], host=host)

    def url_for(self, destination: str) -> str:
        """The base URL a destination's requests go to."""
        return f"{self.base_url}/{destination}"

    def _admin(self, method: str, name: str, **kwargs: Any) -> Any:
        response = self.client.request(method, f"/_emulator/{name}", **kwargs)
        if response.status_code != 200:
            raise ServerError(f"{method} /_emulator/{name}: {response.text}")
        return response.json()

    def health(self) -> dict[str, Any]:
        return self._admin("GET", "health")

    def stats(self) -> dict[str, dict[str, int]]:
        """Per destination: requests, accepted/rejected requests, received, unique, ..."""
        return self._admin("GET", "stats")

    def records(self, destination: str) -> dict[str, int]:
        """Dedup identity -> times received, for one destination."""
        return self._admin("GET", "records", params={"destination": destination})["identities"]

    def inject(self, destination: str, fault: str, times: int = 1, **options: Any) -> None:
        """Queue a fault for the destination's next ``times`` requests."""
        spec = {"destination": destination, "fault": fault, "times": times, **options}
        self._admin("POST", "faults", json=spec)

    def reset(self) -> None:
        """Forget records, stats and queued faults."""
        self._admin("POST", "reset")

    def set_clock(self, now: datetime | str) -> None:
        """Pin the emulator clock at ``now`` (it then advances in real time)."""
        value = now.isoformat() if isinstance(now, datetime) else now
        self._admin("POST", "clock", json={"now": value})

    def set_auth(self, destination: str, **switches: Any) -> dict[str, Any]:
        """Set a destination's ``token_lifetime`` (seconds), ``revoked`` or ``wrong_scope``
        (until ``reset``); returns its auth counters."""
        return self._admin("POST", "auth", json={"destination": destination, **switches})

    def auth_stats(self) -> dict[str, dict[str, Any]]:
        """Per destination: tokens issued, grants refused, check calls and the switches."""
        return self._admin("GET", "auth")


def emulator_secrets(config: WorkspaceConfig, keys: Path | None = None) -> dict[str, str]:
    """A placeholder for every credential variable of the enabled destinations that is
    unset (the emulator accepts any token); real ones are left alone. With ``keys`` (a
    folder), a variable that names a key file gets a throwaway key written there."""
    values: dict[str, str] = {}
    for dest in config.enabled():
        for key, name in dest.credential_envs().items():
            if os.environ.get(name):
                continue
            values[name] = EMULATOR_TOKEN
            if keys is not None and key in KEY_FILES:
                values[name] = str(KEY_FILES[key](keys / f"{dest.name}-{key}"))
    return dict(sorted(values.items()))


@contextlib.contextmanager
def emulated(config: WorkspaceConfig, clock: datetime | None) -> Iterator[WorkspaceConfig]:
    """Start the local platform emulator and point every destination at it (deliveries
    booked under the ``emulator`` target, tokens fetched from its token endpoints), with
    placeholders for unset credentials (throwaway keys for key files). Real credentials
    never leave this machine."""
    with EmulatorProcess(clock=clock) as emulator, tempfile.TemporaryDirectory() as keys:
        print(f"platform emulator: {emulator.base_url}", file=sys.stderr)
        pointed = config.pointed_at(emulator.base_url, target=EMULATOR_TARGET)
        yield pointed.with_secrets(emulator_secrets(config, Path(keys)))

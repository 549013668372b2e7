"""A local emulator of the ad platforms' conversion APIs and the CRMs.

Each destination is served under ``/<destination>`` with the platform's own paths,
auth, validation, batch limits and success/error bodies. Accepted elements are recorded
by the platform's dedup rule; faults are injected on demand through ``/_emulator``.

    with EmulatorProcess() as emu:
        httpx.post(emu.url_for("meta") + "/v25.0/1/events?access_token=t", json=...)
        emu.stats()["meta"]["unique"]
"""

from __future__ import annotations

from trackstack_lab.emulator.app import create_app
from trackstack_lab.emulator.identity import dedup_identity
from trackstack_lab.emulator.process import EmulatorProcess
from trackstack_lab.emulator.server import serve

__all__ = ["EmulatorProcess", "create_app", "dedup_identity", "serve"]

"""Running the sink in a child process (tests, the benchmark, the demo)."""

from __future__ import annotations

import os
from pathlib import Path

from trackstack_lab.process import ServerProcess


class SinkProcess(ServerProcess):
    """``python -m trackstack_wh.sink`` on a free port, over ``landing`` with ``config``.

    ``env`` adds environment variables (the key variables the config names).
    """

    name = "sink"
    module = "trackstack_wh.sink"
    health_path = "/healthz"

    def __init__(
        self,
        landing: str | os.PathLike[str],
        config: str | os.PathLike[str],
        *,
        env: dict[str, str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.landing = Path(landing)
        args = ["--landing", str(self.landing), "--config", str(config)]
        super().__init__(args, host=host, env=env)

    @property
    def events_url(self) -> str:
        return f"{self.base_url}/events"

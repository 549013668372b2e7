"""``[ingest]``: the limits file ingest reads within, so that no input can exhaust memory.

    [ingest]
    max_record_bytes = 1048576       # a longer record is quarantined as record_too_large
    max_document_bytes = 268435456   # a .json document (read whole) larger than this fails

A record longer than ``max_record_bytes`` (a line of NDJSON, an item of a .json array,
a CSV or Parquet row as JSON) is never held whole: its first bytes and its length are
kept in quarantine, and reading goes on at the next record. The default matches the
HTTP sink's body limit.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trackstack_wh.config.checks import KeyTypes, only_keys
from trackstack_wh.config.sink import IpPolicy
from trackstack_wh.errors import ConfigError

INGEST_KEYS: KeyTypes = {"max_record_bytes": int, "max_document_bytes": int}
MIN_RECORD_BYTES = 1024
"""Smaller limits would quarantine ordinary events."""


@dataclass(frozen=True)
class ClientIpPolicy:
    """What file ingest stores of client IPs (`trackstack_wh.ingest.client_ip`): the
    ``client_ip`` policy of each project (``[projects.<id>]``), else of the workspace."""

    default: IpPolicy = IpPolicy.TRUNCATE
    """``workspace.client_ip``: events of no project, or of a project without its own."""
    projects: tuple[tuple[str, IpPolicy], ...] = ()
    """(project id, policy) per configured project."""
    key_envs: tuple[tuple[str, str], ...] = ()
    """(environment variable holding a key, project id) per configured project key: a
    file record names its project by its key (``projectKey``)."""

    def key_hashes(self) -> tuple[list[str], list[str]]:
        """The SHA-256 hex of each configured key whose variable is set now, and its
        project (the keys themselves never reach SQL)."""
        hashes, projects = [], []
        for name, project in self.key_envs:
            if value := os.environ.get(name):
                hashes.append(hashlib.sha256(value.encode()).hexdigest())
                projects.append(project)
        return hashes, projects


@dataclass(frozen=True)
class IngestSettings:
    """Per-record and per-document size limits of file ingest, and its IP policy."""

    max_record_bytes: int = 1 << 20
    max_document_bytes: int = 256 << 20
    client_ip: ClientIpPolicy = field(default_factory=ClientIpPolicy)
    """Set from ``workspace.client_ip`` and the projects (not an ``[ingest]`` key)."""


def parse_ingest(where: str, raw: Mapping[str, Any]) -> IngestSettings:
    """Validate ``[ingest]``."""
    only_keys(where, "ingest.", raw, INGEST_KEYS)
    settings = IngestSettings(**raw)
    if settings.max_record_bytes < MIN_RECORD_BYTES:
        raise ConfigError(
            f"{where}: ingest.max_record_bytes = {settings.max_record_bytes}; "
            f"use at least {MIN_RECORD_BYTES}"
        )
    if settings.max_document_bytes < settings.max_record_bytes:
        raise ConfigError(
            f"{where}: ingest.max_document_bytes = {settings.max_document_bytes} is below "
            f"ingest.max_record_bytes = {settings.max_record_bytes}"
        )
    return settings

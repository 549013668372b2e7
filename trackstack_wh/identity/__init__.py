"""Identity normalization and hashing per platform (see `rules` for the facts)."""

from trackstack_wh.identity.reference import hashed, normalize
from trackstack_wh.identity.rules import PLATFORMS, RULES_VERSION, Key, MatchKey, PlatformIdentity
from trackstack_wh.identity.sql import append_identity, build_identity

__all__ = [
    "PLATFORMS",
    "RULES_VERSION",
    "Key",
    "MatchKey",
    "PlatformIdentity",
    "append_identity",
    "build_identity",
    "hashed",
    "normalize",
]

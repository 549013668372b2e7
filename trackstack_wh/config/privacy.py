"""``[privacy]``: the consent assumed when an event gives none, and where the platforms'
limited-data-use signals apply.

```toml
[privacy]
default_ad_user_data = "granted"        # granted | denied; unset: unspecified
default_ad_personalization = "denied"   # granted | denied; unset: unspecified
ldu_regions = ["US-CA", "US-CO"]        # "*", a country ("US") or "US-CA"; default none
ldu_from_consent = true                 # consent asking for LDU (or denying ad
                                        # personalization) turns LDU on; default true
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trackstack_wh.config.checks import KeyTypes, only_keys, strings
from trackstack_wh.errors import ConfigError

ANSWERS = ("granted", "denied")
PRIVACY_KEYS: KeyTypes = {
    "default_ad_user_data": str,
    "default_ad_personalization": str,
    "ldu_regions": list,
    "ldu_from_consent": bool,
}
REGION = re.compile(r"\*|[A-Z]{2}(?:-[A-Z0-9]{1,3})?")
"""``*`` (every event), an ISO-3166-1 country (``US``) or an ISO-3166-2 region (``US-CA``)."""


@dataclass(frozen=True)
class PrivacySettings:
    """The validated ``[privacy]`` section."""

    default_ad_user_data: str | None = None
    """The ``ad_user_data`` answer of an event whose consent gives none (None: unspecified).
    ``denied`` keeps such events from every ad platform."""
    default_ad_personalization: str | None = None
    """The ``ad_personalization`` answer of an event whose consent gives none."""
    ldu_regions: tuple[str, ...] = ()
    """Events located there (the event's, else its person's, country and state) are sent
    with each platform's limited-data-use signal."""
    ldu_from_consent: bool = True
    """An event whose consent asks for limited data use (``limited_data_use: true``) or
    denies ``ad_personalization`` is sent with the limited-data-use signal."""

    def fingerprint(self) -> dict[str, object]:
        """The settings payloads depend on (for the build's settings hash)."""
        return {
            "ad_user_data": self.default_ad_user_data,
            "ad_personalization": self.default_ad_personalization,
            "ldu_regions": list(self.ldu_regions),
            "ldu_from_consent": self.ldu_from_consent,
        }


def parse_privacy(where: str, raw: Mapping[str, Any]) -> PrivacySettings:
    """Validate ``[privacy]``."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: privacy must be a table")
    only_keys(where, "privacy.", raw, PRIVACY_KEYS)
    answers: dict[str, str | None] = {}
    for key in ("default_ad_user_data", "default_ad_personalization"):
        value = raw.get(key)
        if value is not None and value not in ANSWERS:
            raise ConfigError(
                f"{where}: privacy.{key} = {value!r}; allowed: {ANSWERS} (leave it out for "
                "unspecified)"
            )
        answers[key] = value
    regions = tuple(strings(where, "privacy.ldu_regions", raw.get("ldu_regions", [])))
    for region in regions:
        if REGION.fullmatch(region) is None:
            raise ConfigError(
                f"{where}: privacy.ldu_regions: {region!r} is not '*', a country code like "
                "'US' or a region code like 'US-CA' (upper case)"
            )
    return PrivacySettings(
        answers["default_ad_user_data"],
        answers["default_ad_personalization"],
        regions,
        raw.get("ldu_from_consent", True),
    )

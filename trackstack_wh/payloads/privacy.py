"""Consent and limited-data-use signals, as each ad platform reads them, in SQL over ``src``.

The event's ``consent`` answers (else ``[privacy]`` defaults, parameters
``$default_ad_user_data`` / ``$default_ad_personalization``) decide:

- our gate: ad use denied (``ad_user_data`` or ``marketing``) -> never sent to an ad
  platform (``consent_denied``);
- Google: ``consent.adUserData`` / ``adPersonalization`` (``CONSENT_GRANTED|DENIED`` in
  the Data Manager API; ``GRANTED|DENIED`` and ``adUserData`` only in the Google Ads API,
  whose docs allow ``ad_personalization`` only for user-data uploads), left out when
  unspecified;
- limited data use (LDU), when the event's consent asks for it (``limited_data_use:
  true``) or denies ``ad_personalization`` (``$ldu_from_consent``), when the event's
  location is in ``$ldu_regions`` (``*``, ``US``, ``US-CA``), or when
  ``platformParams.<dest>.limitedDataUse`` is true. It becomes Meta's
  ``data_processing_options: ["LDU"]`` with country/state ``1``/``1000`` for California and
  ``0``/``0`` (Meta geolocates) elsewhere, TikTok's ``limited_data_use: true``, Snapchat's
  ``data_processing_options: ["LDU"]`` and Reddit's ``user.data_processing_options``
  (``modes: ["LDU"]``, ISO country and region when known). LinkedIn documents no such flag.
"""

from __future__ import annotations

from typing import Any

from trackstack_wh.config import WorkspaceConfig
from trackstack_wh.consent import AD_PERSONALIZATION, AD_USE_ANSWER, AD_USER_DATA, consent_status
from trackstack_wh.destinations.overrides import LIMITED, override
from trackstack_wh.payloads.jsonsql import Member, obj, val
from trackstack_wh.sql import lit

LDU_KEYS = ("limited_data_use", "limitedDataUse")
"""Consent keys asking for limited data use (``true``)."""
LDU_JSON = lit('["LDU"]')

AD_USE = f"coalesce({AD_USE_ANSWER}, $default_ad_user_data)"
"""The row's ad-use answer (``granted``/``denied``), else the workspace default."""
AD_USE_DENIED = f"coalesce({AD_USE} = 'denied', false)"
"""Our gate: the row may not go to any ad platform."""
PERSONALIZATION = (
    f"coalesce({consent_status(AD_PERSONALIZATION, 'granted', 'denied')}, "
    "$default_ad_personalization)"
)
USER_DATA = f"coalesce({consent_status(AD_USER_DATA, 'granted', 'denied')}, $default_ad_user_data)"

COUNTRY = "upper(n_country)"
REGION = (
    "case when n_country is not null and n_state is not null "
    "then upper(n_country) || '-' || upper(n_state) end"
)
"""ISO 3166-2 style region of the row (``US-CA``), from its own or stitched location."""
IN_LDU_REGION = (
    "(list_contains($ldu_regions::varchar[], '*') or list_has_any($ldu_regions::varchar[], "
    f"list_filter([{COUNTRY}, {REGION}], lambda r: r is not null)))"
)
LDU_ASKED = f"coalesce({consent_status(LDU_KEYS, 'on', 'off')} = 'on', false)"
LDU_FROM_CONSENT = (
    f"($ldu_from_consent and ({LDU_ASKED} or coalesce({PERSONALIZATION} = 'denied', false)))"
)
META_CALIFORNIA = "coalesce(upper(n_country) = 'US' and upper(n_state) = 'CA', false)"
"""Meta documents numeric location codes for California only (country 1, state 1000)."""


def ldu(destination: str) -> str:
    """SQL: the row is sent to ``destination`` with its limited-data-use signal."""
    forced = f"coalesce({override(destination, LIMITED)}, false)"
    return f"({LDU_FROM_CONSENT} or {IN_LDU_REGION} or {forced})"


def google_consent(granted: str, denied: str, *, personalization: bool = True) -> str:
    """SQL: Google's ``consent`` object (NULL when every answer it takes is unspecified);
    ``personalization=False`` leaves ``adPersonalization`` out."""

    def status(answer: str) -> str:
        return (
            f"case {answer} when 'granted' then {lit(granted)} when 'denied' then {lit(denied)} end"
        )

    members = [("adUserData", val(status(USER_DATA)))]
    if personalization:
        members.append(("adPersonalization", val(status(PERSONALIZATION))))
    return obj(*members)


def meta_members() -> list[Member]:
    """Meta's top-level ``data_processing_options`` with country and state."""
    on = ldu("meta")
    return [
        ("data_processing_options", f"case when {on} then {LDU_JSON} end"),
        (
            "data_processing_options_country",
            f"case when {on} then case when {META_CALIFORNIA} then '1' else '0' end end",
        ),
        (
            "data_processing_options_state",
            f"case when {on} then case when {META_CALIFORNIA} then '1000' else '0' end end",
        ),
    ]


def tiktok_members() -> list[Member]:
    """TikTok's event-level ``limited_data_use``."""
    return [("limited_data_use", f"case when {ldu('tiktok')} then 'true' end")]


def snapchat_members() -> list[Member]:
    """Snapchat's event-level ``data_processing_options``."""
    return [("data_processing_options", f"case when {ldu('snapchat')} then {LDU_JSON} end")]


def reddit_members() -> list[Member]:
    """Reddit's ``user.data_processing_options`` (country and region in ISO form when
    known; their exact format is unconfirmed)."""
    body = obj(
        ("modes", LDU_JSON),
        ("country", val(COUNTRY)),
        ("region", val(REGION)),
    )
    return [("data_processing_options", f"case when {ldu('reddit')} then {body} end")]


def privacy_params(config: WorkspaceConfig) -> dict[str, Any]:
    """The ``$parameters`` of these signals, from ``[privacy]``."""
    p = config.privacy
    return {
        "default_ad_user_data": p.default_ad_user_data,
        "default_ad_personalization": p.default_ad_personalization,
        "ldu_regions": list(p.ldu_regions),
        "ldu_from_consent": p.ldu_from_consent,
    }

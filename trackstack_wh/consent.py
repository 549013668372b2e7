"""The consent answers an event or identify record carries, as SQL over its ``consent``
JSON (keys of Google's consent mode, and ``marketing``)."""

from __future__ import annotations

from trackstack_wh.sql import lit


def consent_status(keys: tuple[str, ...], granted: str, denied: str) -> str:
    """The event's consent answer for one purpose as a platform's enum value (or NULL)."""
    answer = "lower(coalesce(" + ", ".join(f"consent->>{lit(k)}" for k in keys) + "))"
    return (
        f"case when {answer} in ('granted', 'true', 'yes', '1') then {lit(granted)} "
        f"when {answer} in ('denied', 'false', 'no', '0') then {lit(denied)} end"
    )


AD_USER_DATA = ("ad_user_data", "adUserData")
AD_PERSONALIZATION = ("ad_personalization", "adPersonalization")
AD_USE_ANSWER = consent_status(AD_USER_DATA + ("marketing",), "granted", "denied")
"""What the row's consent says about ad use of the user's data: granted, denied or NULL."""
CONSENT_DENIED = f"coalesce({AD_USE_ANSWER} = 'denied', false)"
"""The event's consent object refuses ad use of the user's data."""

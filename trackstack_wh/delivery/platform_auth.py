"""Per platform: where access tokens come from and the cheapest authenticated call.

Facts as the platforms document them (checked December 2026; every URL can be overridden
in ``[destinations.<name>]``: ``token_url``, ``check_url``):

- Google (Data Manager API and Google Ads API): OAuth tokens from
  ``https://oauth2.googleapis.com/token``, valid one hour (``expires_in`` 3599), client
  credentials in the form body. Service accounts sign a JWT (RS256) for the
  ``token_uri`` of their key file; scopes ``.../auth/datamanager`` (Data Manager) and
  ``.../auth/adwords`` (Google Ads API, used for conversion adjustments). Check:
  Data Manager ``GET /v1/requestStatus:retrieve`` for an unknown request ID (a 404
  means the credential was accepted), Google Ads ``GET customers:listAccessibleCustomers``
  (needs the developer token).
- LinkedIn: ``https://www.linkedin.com/oauth/v2/accessToken``; access tokens live 60
  days, programmatic refresh tokens 365 days from consent (a refresh does not extend
  them). The Conversions API needs ``rw_conversions`` and ``r_ads``; check
  ``GET /rest/adAccountUsers?q=authenticatedUser`` (needs only ``r_ads``, unlike
  ``/rest/me``, which needs a profile scope conversions apps rarely have).
- Snapchat: ``https://accounts.snapchat.com/login/oauth2/access_token``; tokens state
  their lifetime in ``expires_in`` (documented as 3600 s; older notes say 1800 s).
  Check: Marketing API ``GET https://adsapi.snapchat.com/v1/me``.
- Reddit: ``https://www.reddit.com/api/v1/access_token`` with the app's ID and secret as
  HTTP Basic auth; one-hour access tokens from a ``permanent`` refresh token (scope
  ``adsconversions``; conversion tokens from Events Manager do not expire: ``static``).
  Check: ``GET /api/v3/me``.
- HubSpot: ``https://api.hubapi.com/oauth/v1/token``; public-app access tokens live 30
  minutes (``expires_in`` 1800; private-app tokens do not expire: ``static``). An
  expired token is answered 401 with ``category: EXPIRED_AUTHENTICATION``. Check:
  ``GET /account-info/v3/details``.
- Salesforce: ``{login_url}/services/oauth2/token`` (default login.salesforce.com) for
  the refresh-token grant and the JWT bearer grant (RS256 assertion: ``iss`` the
  consumer key, ``sub`` the username, ``aud`` the login URL, ``exp`` within 3 minutes).
  Token answers carry no ``expires_in`` (the org's session timeout applies, 15 min to
  24 h), so a token is assumed to last 15 minutes and an ``INVALID_SESSION_ID`` 401
  renews it at once. Check: ``GET /services/data/vXX.X/limits`` (the same call that
  reads the org's API usage before a push).
- PostHog: the project API key is a public write key sent in the body (no grant:
  ``static``). Check: ``POST {host}/flags/?v=2`` with the key and a throw-away
  distinct ID (401 ``invalid_api_key`` for a key PostHog does not know).
- Meta (system-user tokens) and TikTok (Events API long-term tokens) have no refresh
  grant: ``static`` only. Checks: Meta ``GET /{version}/{pixel_id}?fields=id``, TikTok
  ``GET /open_api/{version}/user/info/``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from trackstack_wh.config import LIVE, Destination, GoogleAdsDestination
from trackstack_wh.config.destinations import SALESFORCE_LOGIN
from trackstack_wh.payloads.requests import platform_url

DATA_MANAGER_SCOPE = "https://www.googleapis.com/auth/datamanager"
ADWORDS_SCOPE = "https://www.googleapis.com/auth/adwords"
SERVICE_ACCOUNT_SCOPES = [DATA_MANAGER_SCOPE, ADWORDS_SCOPE]
"""What a Google service account asks for: both APIs a destination calls (conversions
through the Data Manager API, adjustments through the Google Ads API)."""


@dataclass(frozen=True)
class CheckCall:
    """The GET that proves a credential works, and which answers mean it does."""

    url: str
    """Template over ``base``, ``version`` and the account settings (``url_params``)."""
    default_base: str = ""
    api: str = ""
    style: str = "bearer"
    """Where the token goes: ``bearer`` header, ``query`` (``access_token``), ``tiktok``
    (``Access-Token`` header)."""
    accepted: frozenset[int] = frozenset({200})
    """HTTP statuses that mean the credential was accepted."""
    headers: dict[str, str] = field(default_factory=dict)
    developer_token: bool = False
    method: str = "GET"
    body: bytes = b""
    """A POST check's body (PostHog's flags call carries the key in it)."""


@dataclass(frozen=True)
class PlatformAuth:
    """One platform's token endpoint and credential check."""

    destination: str
    token_url: str
    """The token endpoint on the live platform (empty: no refresh grant)."""
    token_path: str
    """The same endpoint's path below a ``base_url`` (emulator, test endpoint)."""
    check: CheckCall
    client_auth: str = "client_secret_post"
    """How the app's ID and secret reach the token endpoint (``client_secret_basic``:
    HTTP Basic)."""
    assumed_lifetime: float = 3600.0
    """Seconds a token is taken to live when its answer states no ``expires_in``."""
    scopes: tuple[str, ...] = ()
    """What a token needs, for the fix a failed check suggests."""


GOOGLE_ADS = "https://googleads.googleapis.com"
PLATFORMS: dict[str, PlatformAuth] = {
    p.destination: p
    for p in (
        PlatformAuth("meta", "", "",
                     CheckCall("{base}/{version}/{pixel_id}?fields=id",
                               "https://graph.facebook.com", "meta_graph", "query"),
                     scopes=("ads_management",)),
        PlatformAuth("google_ads", "https://oauth2.googleapis.com/token", "/token",
                     CheckCall("{base}/{version}/requestStatus:retrieve?requestId={request_id}",
                               "https://datamanager.googleapis.com", "data_manager",
                               accepted=frozenset({200, 404})),
                     scopes=(DATA_MANAGER_SCOPE, ADWORDS_SCOPE)),
        PlatformAuth("linkedin", "https://www.linkedin.com/oauth/v2/accessToken",
                     "/oauth/v2/accessToken",
                     CheckCall("{base}/rest/adAccountUsers?q=authenticatedUser",
                               "https://api.linkedin.com", "linkedin",
                               headers={"X-Restli-Protocol-Version": "2.0.0"}),
                     scopes=("rw_conversions", "r_ads")),
        PlatformAuth("tiktok", "", "",
                     CheckCall("{base}/open_api/{version}/user/info/",
                               "https://business-api.tiktok.com", "tiktok", "tiktok"),
                     scopes=("Events API (pixel) permission",)),
        PlatformAuth("snapchat", "https://accounts.snapchat.com/login/oauth2/access_token",
                     "/login/oauth2/access_token",
                     CheckCall("{base}/v1/me", "https://adsapi.snapchat.com"),
                     scopes=("snapchat-offline-conversions-api", "snapchat-marketing-api")),
        PlatformAuth("reddit", "https://www.reddit.com/api/v1/access_token",
                     "/api/v1/access_token",
                     CheckCall("{base}/api/v3/me", "https://ads-api.reddit.com"),
                     client_auth="client_secret_basic", scopes=("adsconversions", "adsread")),
        PlatformAuth("hubspot", "https://api.hubapi.com/oauth/v1/token", "/oauth/v1/token",
                     CheckCall("{base}/account-info/v3/details", "https://api.hubapi.com"),
                     scopes=("crm.objects.contacts.write", "crm.objects.deals.write",
                             "analytics.behavioral_events.send")),
        PlatformAuth("posthog", "", "",
                     CheckCall("{base}/flags/?v=2", style="body_key",
                               headers={"Content-Type": "application/json"}, method="POST",
                               body=b'{"api_key":"***","distinct_id":"trackstack-check"}'),
                     scopes=("the project API key (phc_...) of the project",)),
        PlatformAuth("salesforce", SALESFORCE_LOGIN + "/services/oauth2/token",
                     "/services/oauth2/token",
                     CheckCall("{base}/services/data/{version}/limits", "", "salesforce_rest"),
                     assumed_lifetime=900.0, scopes=("api", "refresh_token")),
    )
}  # fmt: skip
"""Every destination's token endpoint and credential check."""

CLASSIC_CHECK = CheckCall(
    "{base}/{version}/customers:listAccessibleCustomers",
    GOOGLE_ADS,
    "google_ads_api",
    developer_token=True,
)
"""Google Ads API destinations (``api = "upload_click_conversions"``) check here."""


def token_endpoint(dest: Destination) -> str:
    """Where ``dest`` gets access tokens: ``token_url``, else below ``base_url`` when the
    destination is pointed away from the live platforms (the emulator serves the token
    endpoints there), else the platform's (Salesforce: below ``login_url``)."""
    if dest.token_url:
        return dest.token_url
    platform = PLATFORMS[dest.name]
    if dest.target != LIVE and dest.base_url:
        return dest.base_url.rstrip("/") + platform.token_path
    if dest.name == "salesforce":
        return (dest.login_url or SALESFORCE_LOGIN).rstrip("/") + platform.token_path
    return platform.token_url


def check_call(dest: Destination) -> CheckCall:
    """The credential check of ``dest`` (Google: by the API it sends conversions to)."""
    typed = dest.typed()
    if isinstance(typed, GoogleAdsDestination) and typed.classic:
        return CLASSIC_CHECK
    return PLATFORMS[dest.name].check


def check_url(dest: Destination) -> str:
    """The credential check's URL: ``check_url``, else the platform's call below
    ``base_url`` (or the platform host)."""
    if dest.check_url:
        return dest.check_url
    call = check_call(dest)
    return platform_url(
        call.url, dest, default_base=call.default_base, api=call.api, request_id=uuid.uuid4().hex
    )

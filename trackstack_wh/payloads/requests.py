"""From payload rows to the HTTP requests a destination receives.

Each (destination, request kind) has an endpoint: method, URL, headers, the body
envelope around the payload elements, and the platform's batch limit. ``plan_requests``
groups ready rows into requests exactly as they would be sent; secrets come from the
environment variables the config names and are shown as ``***`` unless
``reveal_secrets`` (only the delivery engine asks for them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

from trackstack_wh.config import (
    Destination,
    GoogleAdsDestination,
    MetaDestination,
    PostHogDestination,
    RedditDestination,
    SalesforceDestination,
    SnapchatDestination,
    TikTokDestination,
)
from trackstack_wh.config.apis import version_for
from trackstack_wh.payloads.google_ads import customer_id

REDACTED = "***"
Body = Callable[[Destination, list[Any]], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    """Where and how one request kind is sent."""

    destination: str
    kind: str
    method: str
    url: str
    """Template over ``base``, ``version`` and the account settings of ``url_params``."""
    batch_size: int
    body: Body
    auth: str = "bearer"
    """``bearer`` header, ``query`` (``access_token`` parameter), ``tiktok`` header or
    ``body_key`` (PostHog: ``api_key`` in the JSON body)."""
    default_base: str = ""
    api: str = ""
    """The versioned API called (``versions.APIS``), whose version fills ``{version}``;
    empty when the URL fixes its version."""
    extra_headers: dict[str, str] = field(default_factory=dict)
    upsert: bool = False
    """Records keyed by ``dedup_key``: one request holds only the latest row per key."""


@dataclass(frozen=True)
class HttpRequest:
    """One request as it would go on the wire."""

    destination: str
    kind: str
    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    event_ids: list[str]
    overrides: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Event ID -> the ``platformParams`` overrides that set fields of its element (param,
    payload field, value); filled by the preview, empty when sending."""

    def body_bytes(self) -> bytes:
        return orjson.dumps(self.body)

    def __repr__(self) -> str:
        return (
            f"<HttpRequest {self.method} {self.url} ({len(self.event_ids)} events, "
            f"{len(self.body_bytes()):,} bytes)>"
        )


def _meta_body(dest: Destination, rows: list[Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"data": rows}
    if dest.test_event_code:
        body["test_event_code"] = dest.test_event_code
    return body


def _data_manager_body(dest: Destination, rows: list[Any]) -> dict[str, Any]:
    ads = GoogleAdsDestination.of(dest)
    account = {"accountType": "GOOGLE_ADS", "accountId": customer_id(ads.customer_id)}
    references = sorted({r for row in rows for r in row.get("destinationReferences", [])})
    destinations = []
    for reference in references:
        target: dict[str, Any] = {"reference": reference, "operatingAccount": account}
        if ads.login_customer_id:
            target["loginAccount"] = {
                "accountType": "GOOGLE_ADS",
                "accountId": customer_id(ads.login_customer_id),
            }
        target["productDestinationId"] = reference
        destinations.append(target)
    body: dict[str, Any] = {"destinations": destinations, "events": rows, "encoding": "HEX"}
    if dest.validate_only:
        body["validateOnly"] = True
    return body


def _google_ads_body(key: str) -> Body:
    def body(dest: Destination, rows: list[Any]) -> dict[str, Any]:
        return {key: rows, "partialFailure": True, "validateOnly": dest.validate_only}

    return body


def _tiktok_body(dest: Destination, rows: list[Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_source": "web",
        "event_source_id": TikTokDestination.of(dest).pixel_code or None,
        "data": rows,
    }
    if dest.test_event_code:
        body["test_event_code"] = dest.test_event_code
    return body


def _reddit_body(dest: Destination, rows: list[Any]) -> dict[str, Any]:
    data: dict[str, Any] = {"events": rows}
    if dest.test_event_code:
        data["test_id"] = dest.test_event_code
    return {"data": data}


def _posthog_body(dest: Destination, rows: list[Any]) -> dict[str, Any]:
    """``{"api_key", "batch"}``: the key stays ``***`` here; the delivery's
    ``PlatformAuth`` writes the real one into the body on the way out (``body_key``)."""
    del dest
    return {"api_key": REDACTED, "batch": rows}


def _key_body(key: str, **extra: Any) -> Body:
    def body(dest: Destination, rows: list[Any]) -> dict[str, Any]:
        del dest
        return {**extra, key: rows}

    return body


GOOGLE_ADS = "https://googleads.googleapis.com"
ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    (e.destination, e.kind): e
    for e in (
        Endpoint("meta", "event", "POST", "{base}/{version}/{pixel_id}/events", 1000, _meta_body,
                 auth="query", default_base="https://graph.facebook.com", api="meta_graph"),
        Endpoint("google_ads", "event", "POST", "{base}/{version}/events:ingest", 2000,
                 _data_manager_body, default_base="https://datamanager.googleapis.com",
                 api="data_manager"),
        Endpoint("google_ads", "click_conversion", "POST",
                 "{base}/{version}/customers/{customer_id}:uploadClickConversions", 2000,
                 _google_ads_body("conversions"), default_base=GOOGLE_ADS, api="google_ads_api"),
        Endpoint("google_ads", "conversion_adjustment", "POST",
                 "{base}/{version}/customers/{customer_id}:uploadConversionAdjustments", 2000,
                 _google_ads_body("conversionAdjustments"), default_base=GOOGLE_ADS,
                 api="google_ads_api"),
        Endpoint("linkedin", "event", "POST", "{base}/rest/conversionEvents", 5000,
                 _key_body("elements"), default_base="https://api.linkedin.com", api="linkedin",
                 extra_headers={"X-Restli-Protocol-Version": "2.0.0",
                                "X-RestLi-Method": "BATCH_CREATE"}),
        Endpoint("tiktok", "event", "POST", "{base}/open_api/{version}/event/track/", 1000,
                 _tiktok_body, auth="tiktok", default_base="https://business-api.tiktok.com",
                 api="tiktok"),
        Endpoint("snapchat", "event", "POST", "{base}/{version}/{pixel_id}/events", 2000,
                 _key_body("data"), auth="query", default_base="https://tr.snapchat.com",
                 api="snapchat"),
        Endpoint("reddit", "event", "POST",
                 "{base}/api/{version}/pixels/{pixel_id}/conversion_events", 1000, _reddit_body,
                 default_base="https://ads-api.reddit.com", api="reddit"),
        Endpoint("hubspot", "custom_event", "POST", "{base}/events/{version}/send/batch", 500,
                 _key_body("inputs"), default_base="https://api.hubapi.com",
                 api="hubspot_events"),
        Endpoint("hubspot", "deal", "POST", "{base}/crm/v3/objects/deals/batch/upsert", 100,
                 _key_body("inputs"), default_base="https://api.hubapi.com", upsert=True),
        Endpoint("hubspot", "contact", "POST", "{base}/crm/v3/objects/contacts/batch/upsert", 100,
                 _key_body("inputs"), default_base="https://api.hubapi.com", upsert=True),
        Endpoint("hubspot", "company", "POST", "{base}/crm/v3/objects/companies/batch/update",
                 100, _key_body("inputs"), default_base="https://api.hubapi.com", upsert=True),
        Endpoint("salesforce", "opportunity", "PATCH",
                 "{base}/services/data/{version}/composite/sobjects/Opportunity/"
                 "{opportunity_external_id_field}", 200, _key_body("records", allOrNone=False),
                 api="salesforce_rest", upsert=True),
        Endpoint("posthog", "identify", "POST", "{base}/batch/", 1000, _posthog_body,
                 auth="body_key"),
        Endpoint("posthog", "event", "POST", "{base}/batch/", 1000, _posthog_body,
                 auth="body_key"),
        Endpoint("salesforce", "lead", "PATCH",
                 "{base}/services/data/{version}/composite/sobjects/Lead/{lead_external_id_field}",
                 200, _key_body("records", allOrNone=False), api="salesforce_rest",
                 upsert=True),
        Endpoint("salesforce", "account", "PATCH",
                 "{base}/services/data/{version}/composite/sobjects/Account/"
                 "{account_external_id_field}", 200, _key_body("records", allOrNone=False),
                 api="salesforce_rest", upsert=True),
        Endpoint("salesforce", "contact", "PATCH",
                 "{base}/services/data/{version}/composite/sobjects/Contact/"
                 "{contact_external_id_field}", 200, _key_body("records", allOrNone=False),
                 api="salesforce_rest", upsert=True),
    )
}  # fmt: skip
"""Every (destination, request kind) the payload builders produce."""


def url_params(dest: Destination) -> dict[str, str]:
    """The account settings endpoint URLs are built from (checked formats: no ``/``,
    ``?`` or ``#`` can reach a URL from the config)."""
    match dest.typed():
        case (
            MetaDestination(pixel_id=pixel)
            | SnapchatDestination(pixel_id=pixel)
            | RedditDestination(pixel_id=pixel)
        ):
            return {"pixel_id": pixel}
        case PostHogDestination(host=host):
            return {"host": host}
        case GoogleAdsDestination(customer_id=customer):
            return {"customer_id": customer_id(customer)}
        case SalesforceDestination() as org:
            return {
                "instance_url": org.instance_url,
                "lead_external_id_field": org.lead_external_id_field,
                "opportunity_external_id_field": org.opportunity_external_id_field,
                "account_external_id_field": org.account_external_id_field,
                "contact_external_id_field": org.contact_external_id_field,
            }
    return {}


def platform_url(
    template: str, dest: Destination, *, default_base: str = "", api: str = "", **extra: str
) -> str:
    """``template`` filled for a destination: ``{base}`` (its ``base_url``, else
    ``default_base``, else the Salesforce instance or the PostHog host), ``{version}`` of
    ``api``, the account settings (`url_params`) and ``extra``."""
    params = url_params(dest)
    own = params.get("instance_url") or params.get("host", "")
    base = dest.base_url or default_base or own
    return template.format(
        base=base.rstrip("/"), version=version_for(dest, api) if api else "", **params, **extra
    )


def platform_headers(
    dest: Destination, *, developer_token: bool, reveal_secrets: bool
) -> dict[str, str]:
    """The headers a platform wants on every call besides the access token: LinkedIn's
    version, and with ``developer_token`` Google Ads' developer token (redacted unless
    revealed) and login customer."""
    headers: dict[str, str] = {}
    if dest.name == "linkedin":
        headers["LinkedIn-Version"] = version_for(dest, "linkedin")
    if developer_token:
        headers["developer-token"] = _secret(dest, "developer_token_env", reveal_secrets)
        login = GoogleAdsDestination.of(dest).login_customer_id
        if login:
            headers["login-customer-id"] = customer_id(login)
    return headers


def endpoint_url(
    endpoint: Endpoint, dest: Destination, *, reveal_secrets: bool = False, credential: bool = True
) -> str:
    """The request URL for a destination (query-string tokens redacted unless revealed;
    left out with ``credential=False``: the delivery engine's ``PlatformAuth`` adds it)."""
    url = platform_url(endpoint.url, dest, default_base=endpoint.default_base, api=endpoint.api)
    if endpoint.destination == "snapchat" and dest.validate_only:
        url += "/validate"
    if endpoint.auth == "query" and credential:
        token = _secret(dest, "access_token_env", reveal_secrets)
        url += "?" + urlencode({"access_token": token})
    return url


def endpoint_headers(
    endpoint: Endpoint, dest: Destination, *, reveal_secrets: bool = False, credential: bool = True
) -> dict[str, str]:
    """Request headers, credentials redacted unless revealed (the access token left out
    with ``credential=False``; the developer token stays)."""
    headers = {"Content-Type": "application/json", **endpoint.extra_headers}
    if credential and endpoint.auth == "bearer":
        headers["Authorization"] = "Bearer " + _secret(dest, "access_token_env", reveal_secrets)
    elif credential and endpoint.auth == "tiktok":
        headers["Access-Token"] = _secret(dest, "access_token_env", reveal_secrets)
    developer_token = endpoint.destination == "google_ads" and endpoint.kind != "event"
    return headers | platform_headers(
        dest, developer_token=developer_token, reveal_secrets=reveal_secrets
    )


def _secret(dest: Destination, key: str, reveal: bool) -> str:
    if not reveal:
        return REDACTED
    return dest.secret(key) or ""


_SPLICE = "__trackstack_rows__"


def request_body(endpoint: Endpoint, dest: Destination, payloads: Sequence[str]) -> bytes:
    """The wire body for payload JSON texts. The rows are spliced in as they are stored
    (no parse and re-encode) unless the envelope is derived from them."""
    if endpoint.body is _data_manager_body:
        return orjson.dumps(endpoint.body(dest, [orjson.loads(p) for p in payloads]))
    envelope = orjson.dumps(endpoint.body(dest, [_SPLICE]))
    marker = b'["' + _SPLICE.encode() + b'"]'
    rows = b"[" + ",".join(payloads).encode() + b"]"
    return envelope.replace(marker, rows, 1)


def plan_requests(
    dest: Destination,
    kind: str,
    rows: list[tuple[str, str]],
    *,
    reveal_secrets: bool = False,
) -> list[HttpRequest]:
    """Batch ``(event_id, payload JSON)`` rows of one kind into requests at the limit."""
    endpoint = ENDPOINTS[(dest.name, kind)]
    url = endpoint_url(endpoint, dest, reveal_secrets=reveal_secrets)
    headers = endpoint_headers(endpoint, dest, reveal_secrets=reveal_secrets)
    requests = []
    for start in range(0, len(rows), endpoint.batch_size):
        batch = rows[start : start + endpoint.batch_size]
        elements = [orjson.loads(payload) for _, payload in batch]
        requests.append(
            HttpRequest(
                dest.name,
                kind,
                endpoint.method,
                url,
                headers,
                endpoint.body(dest, elements),
                [event_id for event_id, _ in batch],
            )
        )
    return requests

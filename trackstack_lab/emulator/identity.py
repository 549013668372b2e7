"""Each platform's deduplication rule, as one identity string per accepted element.

Two elements with the same identity are the same conversion to the platform: it counts
once. Identities start with the request kind (``event:``, ``deal:`` ...). An element
without the fields its platform deduplicates on gets a digest of its whole content
(so an exact re-send still counts once). CRM upserts are identified by object, ID and a
digest of the record contents: re-sending a record counts once, a changed record for the
same ID counts again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson

SALESFORCE_ID_FIELDS = {
    "lead": "TrackStack_Email__c",
    "opportunity": "TrackStack_Order_Id__c",
    "account": "TrackStack_Account_Id__c",
    "contact": "TrackStack_Email__c",
}
"""External-ID fields assumed when `dedup_identity` is not told the one in the URL."""


def digest(value: Any) -> str:
    """A short stable digest of a JSON value (object keys sorted)."""
    raw = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(raw, digest_size=10).hexdigest()


def _unkeyed(kind: str, element: Any) -> str:
    return f"{kind}:#{digest(element)}"


def _missing(value: Any) -> bool:
    return value is None or value == ""


def _name_and_id(name_field: str, id_field: str) -> Callable[[dict[str, Any]], str]:
    """A rule keyed on an event name (or conversion rule) plus an event ID."""

    def identity(e: dict[str, Any]) -> str:
        event_id = e.get(id_field)
        if _missing(event_id):
            return _unkeyed("event", e)
        return f"event:{e.get(name_field)}|{event_id}"

    identity.__doc__ = f"``{name_field}`` + ``{id_field}``."
    return identity


meta_event = _name_and_id("event_name", "event_id")
linkedin_event = _name_and_id("conversion", "eventId")
tiktok_event = _name_and_id("event", "event_id")
snapchat_event = _name_and_id("event_name", "event_id")


def data_manager_event(e: dict[str, Any]) -> str:
    """Google Data Manager: ``transactionId``."""
    transaction = e.get("transactionId")
    return _unkeyed("event", e) if _missing(transaction) else f"event:{transaction}"


def click_conversion(e: dict[str, Any]) -> str:
    """Google Ads click conversion: ``orderId``, else click ID + action + date-time."""
    order = e.get("orderId")
    if not _missing(order):
        return f"click_conversion:order={order}"
    click = e.get("gclid") or e.get("gbraid") or e.get("wbraid")
    action, at = e.get("conversionAction"), e.get("conversionDateTime")
    if _missing(click) or _missing(action) or _missing(at):
        return _unkeyed("click_conversion", e)
    return f"click_conversion:click={click}|{action}|{at}"


def conversion_adjustment(e: dict[str, Any]) -> str:
    """Google Ads adjustment: order ID (or gclid + date-time), type and adjustment time."""
    target = e.get("orderId")
    if _missing(target):
        pair = e.get("gclidDateTimePair")
        if isinstance(pair, dict) and not _missing(pair.get("gclid")):
            target = f"{pair.get('gclid')}@{pair.get('conversionDateTime')}"
    if _missing(target):
        return _unkeyed("conversion_adjustment", e)
    return f"conversion_adjustment:{target}|{e.get('adjustmentType')}|{e.get('adjustmentDateTime')}"


def reddit_event(e: dict[str, Any]) -> str:
    """Reddit: ``metadata.conversion_id``."""
    metadata = e.get("metadata")
    conversion = metadata.get("conversion_id") if isinstance(metadata, dict) else None
    return _unkeyed("event", e) if _missing(conversion) else f"event:{conversion}"


def hubspot_event(e: dict[str, Any]) -> str:
    """HubSpot custom event occurrence: ``uuid``."""
    occurrence = e.get("uuid")
    return _unkeyed("custom_event", e) if _missing(occurrence) else f"custom_event:{occurrence}"


def hubspot_record(kind: str) -> Callable[[dict[str, Any]], str]:
    """HubSpot upsert (``deal`` / ``contact``): ID property, ID and the properties."""

    def identity(e: dict[str, Any]) -> str:
        return f"{kind}:{e.get('idProperty')}={e.get('id')}|{digest(e.get('properties'))}"

    return identity


def posthog_event(e: dict[str, Any]) -> str:
    """PostHog: ``uuid`` (person and group updates are ``identify:``)."""
    profile = e.get("event") in ("$identify", "$groupidentify", "$create_alias", "$set")
    kind = "identify" if profile else "event"
    key = e.get("uuid")
    return _unkeyed(kind, e) if _missing(key) else f"{kind}:{key}"


def salesforce_record(kind: str, e: dict[str, Any], id_field: str | None = None) -> str:
    """Salesforce upsert: SObject, external ID and the record's fields."""
    field = id_field or SALESFORCE_ID_FIELDS.get(kind, "")
    content = {k: v for k, v in e.items() if k != "attributes"}
    return f"{kind}:{field}={e.get(field)}|{digest(content)}"


IDENTITIES: dict[tuple[str, str], Callable[[dict[str, Any]], str]] = {
    ("meta", "event"): meta_event,
    ("google_ads", "event"): data_manager_event,
    ("google_ads", "click_conversion"): click_conversion,
    ("google_ads", "conversion_adjustment"): conversion_adjustment,
    ("linkedin", "event"): linkedin_event,
    ("tiktok", "event"): tiktok_event,
    ("snapchat", "event"): snapchat_event,
    ("reddit", "event"): reddit_event,
    ("hubspot", "custom_event"): hubspot_event,
    ("hubspot", "deal"): hubspot_record("deal"),
    ("hubspot", "contact"): hubspot_record("contact"),
    ("hubspot", "company"): hubspot_record("company"),
    ("posthog", "event"): posthog_event,
    ("posthog", "identify"): posthog_event,
}


def dedup_identity(
    destination: str, kind: str, element: dict[str, Any], *, id_field: str | None = None
) -> str:
    """The identity the emulator records for an element a destination accepted.

    ``kind`` is the request kind (``event``, ``click_conversion``, ``deal``, ``lead`` ...).
    For Salesforce, ``id_field`` is the external-ID field of the URL; it defaults to
    TrackStack's default field for ``lead`` and ``opportunity``.
    """
    if destination == "salesforce":
        return salesforce_record(kind, element, id_field)
    try:
        identity = IDENTITIES[(destination, kind)]
    except KeyError:
        raise ValueError(f"no dedup rule for {destination}/{kind}") from None
    return identity(element)

"""Canonical event -> each destination's event name (the mapping tables of the platform
reference). Events not listed go out under a custom name where the platform allows one;
Google conversion actions and LinkedIn conversion rules are IDs that only the workspace
config (or ``platformParams``) can supply.
"""

from __future__ import annotations

from trackstack_wh.config import (
    AD_DESTINATIONS,
    ANALYTICS_DESTINATIONS,
    CRM_DESTINATIONS,
    DESTINATIONS,
)
from trackstack_wh.contract import REFUND_EVENTS

__all__ = [
    "AD_DESTINATIONS",
    "ANALYTICS_DESTINATIONS",
    "CRM_DESTINATIONS",
    "CUSTOM_NAMES_ALLOWED",
    "DEFAULT_EVENT_NAMES",
    "DESTINATIONS",
    "EVENT_PARAMS_KEY",
    "GOOGLE_ADJUSTMENT",
    "ID_MAPPED",
    "platform_event_name",
]

DEFAULT_EVENT_NAMES: dict[str, dict[str, str]] = {
    "meta": {
        "PageView": "PageView", "ContentView": "ViewContent", "LeadCaptured": "Lead",
        "DemoBooked": "Schedule", "SignUp": "CompleteRegistration", "StartTrial": "StartTrial",
        "Purchase": "Purchase", "SubscriptionStarted": "Subscribe",
        "PlanUpgrade": "PlanUpgrade", "SubscriptionRenew": "SubscriptionRenew",
        "AddPaymentInfo": "AddPaymentInfo", "CheckoutStarted": "InitiateCheckout",
    },
    "tiktok": {
        "ContentView": "ViewContent", "LeadCaptured": "Lead", "DemoBooked": "Schedule",
        "SignUp": "CompleteRegistration", "StartTrial": "StartTrial", "Purchase": "Purchase",
        "SubscriptionStarted": "Subscribe", "PlanUpgrade": "PlanUpgrade",
        "SubscriptionRenew": "SubscriptionRenew", "AddPaymentInfo": "AddPaymentInfo",
        "CheckoutStarted": "InitiateCheckout",
    },
    "snapchat": {
        "PageView": "PAGE_VIEW", "ContentView": "VIEW_CONTENT", "LeadCaptured": "SIGN_UP",
        "DemoBooked": "RESERVE", "SignUp": "SIGN_UP", "StartTrial": "START_TRIAL",
        "Purchase": "PURCHASE", "SubscriptionStarted": "SUBSCRIBE", "PlanUpgrade": "PURCHASE",
        "AddPaymentInfo": "ADD_BILLING", "CheckoutStarted": "START_CHECKOUT",
    },
    "reddit": {
        "PageView": "PAGE_VISIT", "ContentView": "VIEW_CONTENT", "LeadCaptured": "LEAD",
        "DemoBooked": "LEAD", "SignUp": "SIGN_UP", "Purchase": "PURCHASE",
    },
    "linkedin": {},
    "google_ads": {},
    "hubspot": {},
    "salesforce": {},
    "posthog": {"PageView": "$pageview"},
}  # fmt: skip
"""Platform event names per canonical event (Meta: standard events; TikTok: standard or
custom; Snapchat: v3 names; Reddit: v3 ``tracking_type``). LinkedIn and Google Ads map
events to configured conversion rule / conversion action IDs instead."""

CUSTOM_NAMES_ALLOWED = frozenset({"meta", "tiktok", "reddit", "hubspot", "salesforce", "posthog"})
"""Destinations where an unmapped event can go out under its canonical name (Reddit as
``CUSTOM`` with ``custom_event_name``; HubSpot as a custom behavioral event; Salesforce
records it on the Lead as the last event seen; PostHog captures any event name)."""

GOOGLE_ADJUSTMENT = "conversion_adjustment"
"""Google Ads name for refunds: they adjust the original conversion's action, so they need
no conversion action of their own."""

EVENT_PARAMS_KEY = {"google_ads": "conversionActionId", "linkedin": "conversionRuleId"}
"""The ``platformParams.<destination>`` key that overrides one event's mapping (default
``eventName``), e.g. ``platformParams.linkedin.conversionRuleId``; routing reads and
validates it (and the other documented keys) through `trackstack_wh.destinations.overrides`."""

ID_MAPPED = {"google_ads": "conversion_actions", "linkedin": "conversion_rules"}
"""Destinations whose per-event target is an ID from the config table of this name."""


def platform_event_name(
    destination: str, event_name: str, overrides: dict[str, str] | None = None
) -> str | None:
    """The destination's name (or ID) for a canonical event, or None when it has none.

    Order: config overrides (``event_names``, or the ID table for Google Ads and
    LinkedIn), then the default table, then the canonical name where custom names are
    allowed.
    """
    if overrides and event_name in overrides:
        return overrides[event_name]
    if destination == "google_ads" and event_name in REFUND_EVENTS:
        return GOOGLE_ADJUSTMENT
    if destination in ID_MAPPED:
        return None
    default = DEFAULT_EVENT_NAMES[destination].get(event_name)
    if default is not None:
        return default
    return event_name if destination in CUSTOM_NAMES_ALLOWED else None

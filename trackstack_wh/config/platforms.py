"""The settings class of each destination (`Destination` subclasses): its account IDs,
per-event ID tables, credential variable names and options, as typed fields."""

from __future__ import annotations

from dataclasses import dataclass, field

from trackstack_wh.config.checks import (
    GOOGLE_ACTION,
    GOOGLE_CUSTOMER,
    HUBSPOT_PORTAL,
    LINKEDIN_RULE,
    META_PIXEL,
    REDDIT_PIXEL,
    SALESFORCE_CURRENCY_FIELD,
    SALESFORCE_FIELD,
    SALESFORCE_INSTANCE,
    SNAPCHAT_PIXEL,
    TIKTOK_PIXEL,
)
from trackstack_wh.config.destinations import (
    CHOICES,
    JWT_BEARER,
    OAUTH_REFRESH,
    SERVICE_ACCOUNT,
    STATIC,
    URL,
    Destination,
    account_id,
    auth_choice,
    id_table,
    named,
)

GOOGLE_ADS_APIS = ("data_manager", "upload_click_conversions")
CHURN_OBJECTS = ("account", "contact", "both")
"""What a Salesforce churn updates."""
COMPANY_KEYS = ("company_id", "company_domain")
"""The event field a CRM's company record is keyed by."""


@dataclass(frozen=True, kw_only=True)
class MetaDestination(Destination):
    """Meta Conversions API: events to one pixel (dataset)."""

    name: str = "meta"
    pixel_id: str = account_id(META_PIXEL, required=True)
    auth: str = auth_choice(STATIC)
    """System-user tokens do not expire and Meta has no refresh grant: static only."""


@dataclass(frozen=True, kw_only=True)
class GoogleAdsDestination(Destination):
    """Google Ads: conversions of one customer, through the Data Manager API (default) or
    the Google Ads API's ``uploadClickConversions``."""

    name: str = "google_ads"
    customer_id: str = account_id(GOOGLE_CUSTOMER, required=True)
    login_customer_id: str = account_id(GOOGLE_CUSTOMER)
    """The manager account the customer is reached through (when it is one)."""
    conversion_actions: dict[str, str] = id_table(GOOGLE_ACTION)
    api: str = field(default="data_manager", metadata={CHOICES: GOOGLE_ADS_APIS})
    developer_token_env: str = ""
    auth: str = auth_choice(STATIC, OAUTH_REFRESH, SERVICE_ACCOUNT)

    @property
    def classic(self) -> bool:
        """Conversions go through the Google Ads API (``uploadClickConversions``)."""
        return self.api == "upload_click_conversions"

    def event_ids(self) -> dict[str, str]:
        return dict(self.conversion_actions)


@dataclass(frozen=True, kw_only=True)
class LinkedInDestination(Destination):
    """LinkedIn Conversions API: each event to its configured conversion rule."""

    name: str = "linkedin"
    conversion_rules: dict[str, str] = id_table(LINKEDIN_RULE)
    auth: str = auth_choice(STATIC, OAUTH_REFRESH)

    def event_ids(self) -> dict[str, str]:
        return dict(self.conversion_rules)


@dataclass(frozen=True, kw_only=True)
class TikTokDestination(Destination):
    """TikTok Events API: events to one pixel."""

    name: str = "tiktok"
    pixel_code: str = account_id(TIKTOK_PIXEL, required=True)
    auth: str = auth_choice(STATIC)
    """Events API access tokens are long-term (no refresh grant): static only."""


@dataclass(frozen=True, kw_only=True)
class SnapchatDestination(Destination):
    """Snapchat Conversions API: events to one pixel."""

    name: str = "snapchat"
    pixel_id: str = account_id(SNAPCHAT_PIXEL, required=True)
    auth: str = auth_choice(STATIC, OAUTH_REFRESH)


@dataclass(frozen=True, kw_only=True)
class RedditDestination(Destination):
    """Reddit Conversions API: events to one pixel."""

    name: str = "reddit"
    pixel_id: str = account_id(REDDIT_PIXEL, required=True)
    auth: str = auth_choice(STATIC, OAUTH_REFRESH)


@dataclass(frozen=True, kw_only=True)
class HubSpotDestination(Destination):
    """HubSpot: custom events, deals and contacts of one portal."""

    name: str = "hubspot"
    portal_id: str = account_id(HUBSPOT_PORTAL, required=True)
    deal_id_property: str = "trackstack_order_id"
    won_stage: str = "closedwon"
    refund_stage: str = "closedlost"
    pipeline: str = "default"
    churn_property: str = "trackstack_churned_at"
    """Set to the churn time on the company and the contact of a Churned event."""
    company_id_property: str = "trackstack_company_id"
    """A unique-value company property holding the event's ``company_key``."""
    company_key: str = field(default="company_id", metadata={CHOICES: COMPANY_KEYS})
    """Which event field identifies the company: ``company_id`` or ``company_domain``."""
    auth: str = auth_choice(STATIC, OAUTH_REFRESH)
    """``static`` for a private app's token, ``oauth_refresh`` for a public app."""


@dataclass(frozen=True, kw_only=True)
class SalesforceDestination(Destination):
    """Salesforce: Lead and Opportunity upserts by external ID in one org; a churn marks
    the Account (by ``account_key``) and/or the Contact (by email) it names."""

    name: str = "salesforce"
    instance_url: str = account_id(SALESFORCE_INSTANCE, required=True)
    lead_external_id_field: str = named("TrackStack_Email__c", SALESFORCE_FIELD)
    opportunity_external_id_field: str = named("TrackStack_Order_Id__c", SALESFORCE_FIELD)
    won_stage: str = "Closed Won"
    refund_stage: str = "Closed Lost"
    currency_field: str = named("CurrencyIsoCode", SALESFORCE_CURRENCY_FIELD)
    """The Opportunity's currency field; ``""`` for a single-currency org."""
    churn_object: str = field(default="account", metadata={CHOICES: CHURN_OBJECTS})
    """Which records a Churned event updates: ``account``, ``contact`` or ``both``."""
    account_external_id_field: str = named("TrackStack_Account_Id__c", SALESFORCE_FIELD)
    """The Account's external ID field, holding the event's ``account_key``."""
    account_key: str = field(default="company_id", metadata={CHOICES: COMPANY_KEYS})
    """Which event field identifies the Account: ``company_id`` or ``company_domain``."""
    contact_external_id_field: str = named("TrackStack_Email__c", SALESFORCE_FIELD)
    """The Contact's external ID field, holding the normalized email."""
    churn_status_field: str = named("TrackStack_Status__c", SALESFORCE_FIELD)
    churn_status: str = "Churned"
    """The value ``churn_status_field`` is set to."""
    churn_date_field: str = named("TrackStack_Churn_Date__c", SALESFORCE_FIELD)
    """A Date field set to the churn's day (UTC)."""
    auth: str = auth_choice(STATIC, OAUTH_REFRESH, JWT_BEARER)


POSTHOG_US = "https://us.i.posthog.com"
POSTHOG_EU = "https://eu.i.posthog.com"
EMAIL_DISTINCT_IDS = ("sha256", "plain", "off")


@dataclass(frozen=True, kw_only=True)
class PostHogDestination(Destination):
    """PostHog: events and person profiles of one project, through the batch capture API.

    ``host`` is the project's ingestion host (``POSTHOG_US``, ``POSTHOG_EU`` or a
    self-hosted URL); ``project_api_key_env`` names the variable holding the project API
    key (``phc_...``), which travels in the request body. ``distinct_id`` is the event's
    externalId / userId, else its email (``email_distinct_id``: ``sha256`` of the
    normalized email, ``plain`` or ``off``), else its anonymous / session ID.
    ``company_group_type`` (e.g. ``company``) sends the company as a group."""

    name: str = "posthog"
    host: str = named(POSTHOG_US, URL)
    project_api_key_env: str = ""
    person_profiles: bool = True
    """False: events are captured without person processing, and no ``$identify``."""
    email_distinct_id: str = field(default="sha256", metadata={CHOICES: EMAIL_DISTINCT_IDS})
    company_group_type: str = ""
    """The PostHog group type the company goes to (``""``: no groups)."""
    auth: str = auth_choice(STATIC)
    """The project API key is a public write key: no token grant, static only."""

    def credential_envs(self) -> dict[str, str]:
        """The project API key's variable, under ``access_token_env`` (the key the
        delivery's token source reads)."""
        name = self.project_api_key_env or self.access_token_env
        return {"access_token_env": name} if name else {}


DESTINATION_TYPES: dict[str, type[Destination]] = {
    "meta": MetaDestination,
    "google_ads": GoogleAdsDestination,
    "linkedin": LinkedInDestination,
    "tiktok": TikTokDestination,
    "snapchat": SnapchatDestination,
    "reddit": RedditDestination,
    "hubspot": HubSpotDestination,
    "salesforce": SalesforceDestination,
    "posthog": PostHogDestination,
}
"""Destination name -> its settings class, in ``DESTINATIONS`` order."""

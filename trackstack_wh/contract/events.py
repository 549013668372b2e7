"""The 66 canonical TrackStack events (seed "B2B SaaS Events") as data.

Each event carries its funnel stage, description, required-field family and default
routing. Everything else (validation, routing, reports) is derived from this table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    """Funnel stage of a canonical event; ``PRODUCT`` holds the product extensions."""

    AWARENESS = "Awareness"
    INTEREST = "Interest"
    ACQUISITION = "Acquisition"
    ACTIVATION = "Activation"
    REVENUE = "Revenue"
    PRODUCT = "Product"


FUNNEL_STAGES: tuple[Stage, ...] = (
    Stage.AWARENESS,
    Stage.INTEREST,
    Stage.ACQUISITION,
    Stage.ACTIVATION,
    Stage.REVENUE,
)
"""The five funnel stages in order; product extensions sit outside the funnel."""

CUSTOM_STAGE = "Custom"
"""Stage recorded for a PascalCase extension event that is not canonical."""


class Family(StrEnum):
    """Required-field family of an event (seed "Event Payload Contract")."""

    PAGE_VIEW = "page_view"
    CONTENT = "content"
    LEAD = "lead"
    SIGNUP = "signup"
    START_TRIAL = "start_trial"
    FIRST_ACTION = "first_action"
    PURCHASE = "purchase"
    REFUND = "refund"
    NONE = "none"


class Route(StrEnum):
    """Where an event may be delivered by default."""

    ADS = "ads"
    CRM = "crm"
    WAREHOUSE = "warehouse"


ALL_ROUTES = frozenset({Route.ADS, Route.CRM, Route.WAREHOUSE})
NO_ADS = frozenset({Route.CRM, Route.WAREHOUSE})


@dataclass(frozen=True)
class CanonicalEvent:
    """One canonical event of the TrackStack taxonomy."""

    name: str
    stage: Stage
    description: str
    family: Family = Family.NONE
    default_routes: frozenset[Route] = ALL_ROUTES


def _events(
    stage: Stage, rows: list[tuple[str, str, Family]], routes: frozenset[Route]
) -> list[CanonicalEvent]:
    return [CanonicalEvent(name, stage, desc, fam, routes) for name, desc, fam in rows]


_N = Family.NONE
_WAREHOUSE_CRM_ONLY = {"Refund", "Chargeback", "Churned"}

_CORE: list[CanonicalEvent] = [
    *_events(
        Stage.AWARENESS,
        [
            ("PageView", "Page / SPA navigation", Family.PAGE_VIEW),
            ("ContentView", "Blog, guide, comparison viewed", Family.CONTENT),
            ("HighIntentPageView", "Pricing, demo, or security page", Family.PAGE_VIEW),
            ("AdLandingPageView", "Paid campaign landing page", Family.PAGE_VIEW),
            ("CompanyIdentified", "Anonymous visitor matched to company", _N),
            ("ReturningVisitor", "Repeat session from known cookie / externalId", _N),
        ],
        ALL_ROUTES,
    ),
    *_events(
        Stage.INTEREST,
        [
            ("FeatureUsed", "Demo / free tool used", _N),
            ("LeadCaptured", "High-intent form fill or content lead", Family.LEAD),
            ("DemoIntent", "User clicked book demo or opened scheduler", _N),
            ("DemoBooked", "Demo or sales consultation booked", Family.LEAD),
            ("ChatStarted", "Live chat or support widget opened", _N),
            ("PricingInteraction", "Pricing calculator or plan toggle", _N),
            ("DocsInteraction", "Developer docs engagement", _N),
            ("IntegrationViewed", "Integration marketplace page viewed", _N),
        ],
        ALL_ROUTES,
    ),
    *_events(
        Stage.ACQUISITION,
        [
            ("SignUp", "Account created", Family.SIGNUP),
            ("SSOLogin", "First SSO authentication completed", _N),
            ("EmailVerified", "Email verification confirmed", _N),
            ("WorkspaceCreated", "Team workspace provisioned", _N),
            ("InviteSent", "Team invite sent", _N),
            ("StartTrial", "Free trial started", Family.START_TRIAL),
            ("TrialActivated", "Trial fully provisioned with product access", _N),
        ],
        ALL_ROUTES,
    ),
    *_events(
        Stage.ACTIVATION,
        [
            ("FirstAction", "First meaningful product action", Family.FIRST_ACTION),
            ("ApiKeyCreated", "Production API key generated", _N),
            ("ApiCallSucceeded", "Successful API request", _N),
            ("CsvUploaded", "Bulk CSV upload initiated", _N),
            ("EnrichmentStarted", "Enrichment job started", _N),
            ("EnrichmentCompleted", "Enrichment job finished", _N),
            ("CreditConsumed", "Billable credit consumed", _N),
            ("SalesQualifiedLead", "Lead qualified by sales", _N),
            ("OpportunityCreated", "CRM opportunity created", _N),
            ("PipelineQualified", "Deal reached qualified stage", _N),
            ("MeetingHeld", "Sales or onboarding meeting completed", _N),
        ],
        ALL_ROUTES,
    ),
    *[
        CanonicalEvent(
            name, Stage.REVENUE, desc, fam, NO_ADS if name in _WAREHOUSE_CRM_ONLY else ALL_ROUTES
        )
        for name, desc, fam in [
            ("AddPaymentInfo", "Payment method added", _N),
            ("CheckoutStarted", "Checkout flow started", _N),
            ("Purchase", "Initial paid conversion", Family.PURCHASE),
            ("SubscriptionStarted", "Paid subscription activated", Family.PURCHASE),
            ("PlanUpgrade", "Higher plan selected", Family.PURCHASE),
            ("SubscriptionRenew", "Renewal processed", Family.PURCHASE),
            ("ExpansionRevenue", "Expansion MRR from seats or usage", Family.PURCHASE),
            ("TopUpPurchased", "Credit top-up or one-time purchase", Family.PURCHASE),
            ("Refund", "Refund issued", Family.REFUND),
            ("Chargeback", "Payment chargeback", Family.REFUND),
            ("Churned", "Subscription cancelled", _N),
            ("Reactivated", "Churned customer returned to paid plan", _N),
        ]
    ],
]

_PRODUCT: list[CanonicalEvent] = _events(
    Stage.PRODUCT,
    [
        ("ApiDocsViewed", "API reference docs viewed", _N),
        ("ApiPlaygroundUsed", "Interactive API playground used", _N),
        ("FirstSuccessfulApiCall", "Customer first successful API response", _N),
        ("EndpointTested", "Specific API endpoint tested", _N),
        ("EmailFinderUsed", "Email finder tool used", _N),
        ("EmailValidationUsed", "Email validation tool used", _N),
        ("MobileFinderUsed", "Mobile finder tool used", _N),
        ("CompanyEnriched", "Company enrichment completed", _N),
        ("ProfileEnriched", "Person profile enrichment completed", _N),
        ("BulkJobStarted", "Bulk enrichment job started", _N),
        ("BulkJobCompleted", "Bulk enrichment job completed", _N),
        ("CreditsPurchased", "Credit pack purchased", _N),
        ("CreditsLow", "Credit balance crossed low threshold", _N),
        ("CreditsExhausted", "Credit balance reached zero", _N),
        ("TeamMemberInvited", "Team member invited from product", _N),
        ("SalesforceConnected", "Salesforce integration connected", _N),
        ("HubSpotConnected", "HubSpot integration connected", _N),
        ("SmartleadConnected", "Smartlead integration connected", _N),
        ("ClayExportClicked", "Export to Clay initiated", _N),
        ("WebhookCreated", "Outbound webhook endpoint created", _N),
        ("WebhookDelivered", "Webhook delivery succeeded", _N),
        ("WebhookFailed", "Webhook delivery failed", _N),
    ],
    NO_ADS,
)

CANONICAL_EVENTS: tuple[CanonicalEvent, ...] = tuple(_CORE + _PRODUCT)
"""All 66 canonical events, in catalogue order."""

EVENTS_BY_NAME: dict[str, CanonicalEvent] = {e.name: e for e in CANONICAL_EVENTS}

EXTENSION_NAME_PATTERN = r"^[A-Z][A-Za-z0-9]*$"
"""A non-canonical event name is accepted as an extension when it is PascalCase."""

_EXTENSION_RE = re.compile(EXTENSION_NAME_PATTERN)


def is_extension_name(name: str) -> bool:
    """True when ``name`` is a PascalCase extension event name."""
    return bool(_EXTENSION_RE.match(name))


def events_in_family(family: Family) -> tuple[str, ...]:
    """Names of the canonical events in one required-field family."""
    return tuple(e.name for e in CANONICAL_EVENTS if e.family is family)


REVENUE_EVENTS = events_in_family(Family.PURCHASE)
"""Purchases, subscriptions, upgrades, renewals, expansion and top-ups."""
REFUND_EVENTS = events_in_family(Family.REFUND)
"""Refund and Chargeback."""

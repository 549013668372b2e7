"""Every field of a TrackStack event, as data (seed "Event Payload Contract").

The `TrackStackEvent` fields of the contract, plus click IDs, client context, consent,
the project key and the seed 002 session fields. Parsing SQL, the pandera schema and
the `events` DDL are all derived from `FIELDS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """How a field's JSON value is read and stored."""

    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    TIMESTAMP = "timestamp"
    STRING_LIST = "string_list"
    OBJECT = "object"


DUCKDB_TYPES: dict[Kind, str] = {
    Kind.STRING: "VARCHAR",
    Kind.NUMBER: "DOUBLE",
    Kind.INTEGER: "BIGINT",
    Kind.TIMESTAMP: "TIMESTAMPTZ",
    Kind.STRING_LIST: "VARCHAR[]",
    Kind.OBJECT: "JSON",
}


class Group(StrEnum):
    """What a field is about; quality scores and payload builders select by group."""

    CORE = "core"
    IDENTITY = "identity"
    REVENUE = "revenue"
    B2B = "b2b"
    CONTENT = "content"
    PLATFORM = "platform"
    CLICK_ID = "click_id"
    CLIENT = "client"
    TENANCY = "tenancy"
    SESSION = "session"


@dataclass(frozen=True)
class FieldSpec:
    """One event field: its JSON key, warehouse column, kind and accepted aliases.

    ``aliases`` are other keys that carry the same value: top-level keys of the seed 002
    shape (``url`` for ``pageUrl``) or dotted paths into a nested object
    (``event_data.category``). Every field is also looked up inside ``userData``,
    ``customData`` and ``event_data`` when it is absent at the top level.
    """

    name: str
    column: str
    kind: Kind
    group: Group
    description: str
    aliases: tuple[str, ...] = ()

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.kind]


def _f(
    name: str, column: str, kind: Kind, group: Group, description: str, *aliases: str
) -> FieldSpec:
    return FieldSpec(name, column, kind, group, description, tuple(aliases))


S, N, I, T, L, O = (
    Kind.STRING,
    Kind.NUMBER,
    Kind.INTEGER,
    Kind.TIMESTAMP,
    Kind.STRING_LIST,
    Kind.OBJECT,
)
G = Group

FIELDS: tuple[FieldSpec, ...] = (
    _f(
        "event",
        "event_name",
        S,
        G.CORE,
        "Canonical or PascalCase extension event name",
        "event_name",
    ),
    _f(
        "eventId",
        "event_id",
        S,
        G.CORE,
        "Globally unique ID for dedup across retries and platforms",
    ),
    _f(
        "ts", "ts", T, G.CORE, "When the event happened: epoch s, epoch ms or ISO-8601", "timestamp"
    ),
    _f("email", "email", S, G.IDENTITY, "Email address (hashed per platform on delivery)"),
    _f("phone", "phone", S, G.IDENTITY, "Phone number (normalized to E.164 on delivery)"),
    _f("firstName", "first_name", S, G.IDENTITY, "First name"),
    _f("lastName", "last_name", S, G.IDENTITY, "Last name"),
    _f("city", "city", S, G.IDENTITY, "City"),
    _f("state", "state", S, G.IDENTITY, "State or region"),
    _f("zip", "zip", S, G.IDENTITY, "Postal code"),
    _f("country", "country", S, G.IDENTITY, "Country name or ISO-3166 code"),
    _f("gender", "gender", S, G.IDENTITY, "Gender (platform match key)"),
    _f("dateOfBirth", "date_of_birth", S, G.IDENTITY, "Date of birth (platform match key)"),
    _f("externalId", "external_id", S, G.IDENTITY, "Your user or customer ID", "userId"),
    _f("value", "value", N, G.REVENUE, "Monetary value in the configured unit", "event_data.value"),
    _f("currency", "currency", S, G.REVENUE, "ISO-4217 currency code"),
    _f("transactionId", "transaction_id", S, G.REVENUE, "Payment transaction ID"),
    _f("orderId", "order_id", S, G.REVENUE, "Order ID"),
    _f("plan", "plan", S, G.REVENUE, "Plan name"),
    _f("previousPlan", "previous_plan", S, G.REVENUE, "Plan before an upgrade"),
    _f("subscriptionId", "subscription_id", S, G.REVENUE, "Subscription ID"),
    _f("refundId", "refund_id", S, G.REVENUE, "Refund ID"),
    _f("leadId", "lead_id", S, G.B2B, "Lead ID"),
    _f("companyId", "company_id", S, G.B2B, "Company ID"),
    _f("companyName", "company_name", S, G.B2B, "Company name"),
    _f("companyDomain", "company_domain", S, G.B2B, "Company web domain"),
    _f("accountName", "account_name", S, G.B2B, "CRM account name"),
    _f("crmId", "crm_id", S, G.B2B, "CRM record ID"),
    _f("opportunityId", "opportunity_id", S, G.B2B, "CRM opportunity ID"),
    _f("opportunityStage", "opportunity_stage", S, G.B2B, "CRM opportunity stage"),
    _f("pipelineStage", "pipeline_stage", S, G.B2B, "Sales pipeline stage"),
    _f("salesOwner", "sales_owner", S, G.B2B, "Sales owner"),
    _f("pageUrl", "page_url", S, G.CONTENT, "Full page URL", "url"),
    _f("pageTitle", "page_title", S, G.CONTENT, "Page title", "page_title"),
    _f("pagePath", "page_path", S, G.CONTENT, "Page path", "page_path"),
    _f("referrer", "referrer", S, G.CONTENT, "Referring URL"),
    _f("contentType", "content_type", S, G.CONTENT, "Content type"),
    _f("contentId", "content_id", S, G.CONTENT, "Content ID"),
    _f("contentName", "content_name", S, G.CONTENT, "Content name"),
    _f("contentCategory", "content_category", S, G.CONTENT, "Content category"),
    _f("contentIds", "content_ids", L, G.CONTENT, "Content IDs"),
    _f("feature", "feature", S, G.CONTENT, "Feature used"),
    _f("demoType", "demo_type", S, G.CONTENT, "Demo type"),
    _f("actionType", "action_type", S, G.CONTENT, "First-action type"),
    _f("paymentMethod", "payment_method", S, G.CONTENT, "Payment method"),
    _f("leadEventSource", "lead_event_source", S, G.CONTENT, "Lead source system"),
    _f("numItems", "num_items", I, G.CONTENT, "Number of items"),
    _f(
        "eventCategory",
        "event_category",
        S,
        G.CONTENT,
        "Analytics category (seed 002)",
        "event_data.category",
    ),
    _f("eventLabel", "event_label", S, G.CONTENT, "Analytics label (seed 002)", "event_data.label"),
    _f(
        "platformParams",
        "platform_params",
        O,
        G.PLATFORM,
        "Per-platform overrides (conversion rule IDs, sendTo, ...)",
    ),
    _f("fbclid", "fbclid", S, G.CLICK_ID, "Meta click ID from the URL"),
    _f("fbc", "fbc", S, G.CLICK_ID, "Meta _fbc cookie"),
    _f("fbp", "fbp", S, G.CLICK_ID, "Meta _fbp cookie"),
    _f("gclid", "gclid", S, G.CLICK_ID, "Google click ID"),
    _f("gbraid", "gbraid", S, G.CLICK_ID, "Google app-to-web click ID"),
    _f("wbraid", "wbraid", S, G.CLICK_ID, "Google web-to-app click ID"),
    _f("li_fat_id", "li_fat_id", S, G.CLICK_ID, "LinkedIn first-party ad tracking ID"),
    _f("ttclid", "ttclid", S, G.CLICK_ID, "TikTok click ID"),
    _f("ttp", "ttp", S, G.CLICK_ID, "TikTok _ttp cookie"),
    _f("ScCid", "sc_cid", S, G.CLICK_ID, "Snapchat click ID", "sc_click_id"),
    _f("rdt_cid", "rdt_cid", S, G.CLICK_ID, "Reddit click ID"),
    _f("msclkid", "msclkid", S, G.CLICK_ID, "Microsoft click ID"),
    _f("twclid", "twclid", S, G.CLICK_ID, "X click ID"),
    _f("clientIp", "client_ip", S, G.CLIENT, "Client IP address", "ip", "clientIpAddress"),
    _f("userAgent", "user_agent", S, G.CLIENT, "Client user agent", "user_agent"),
    _f("consent", "consent", O, G.CLIENT, "Consent signals (ad storage, ad user data, ...)"),
    _f("projectKey", "project_key", S, G.TENANCY, "Project / workspace key", "workspaceKey"),
    _f("projectId", "project_id", S, G.TENANCY, "Project, set by the HTTP sink from the key"),
    _f("edgeBatchId", "edge_batch_id", S, G.TENANCY, "HTTP sink request the event came in"),
    _f("edgeReceivedAt", "edge_received_at", T, G.TENANCY, "When the HTTP sink received it"),
    _f("sessionId", "session_id", S, G.SESSION, "Session ID (seed 002)"),
    _f("userId", "user_id", S, G.SESSION, "Signed-in user ID (seed 002)"),
)
"""Every input field, in warehouse column order."""

FIELDS_BY_NAME: dict[str, FieldSpec] = {f.name: f for f in FIELDS}

NESTED_OBJECTS: tuple[str, ...] = ("userData", "customData", "event_data")
"""Nested objects whose keys are read as fields (nested SDK shape and seed 002 shape)."""

CLICK_ID_FIELDS: tuple[FieldSpec, ...] = tuple(f for f in FIELDS if f.group is Group.CLICK_ID)

URL_CLICK_PARAMETERS: dict[str, tuple[str, ...]] = {
    "fbclid": ("fbclid",),
    "gclid": ("gclid",),
    "gbraid": ("gbraid",),
    "wbraid": ("wbraid",),
    "li_fat_id": ("li_fat_id",),
    "ttclid": ("ttclid",),
    "ScCid": ("ScCid", "sc_click_id"),
    "rdt_cid": ("rdt_cid",),
    "msclkid": ("msclkid",),
    "twclid": ("twclid",),
}
"""Click-ID fields an ad platform appends to the landing page URL, with their query
parameters: at ingest, a field the record does not carry is read from ``pageUrl``, then
from ``referrer`` (the event's time is the click time). The cookies (``fbc``, ``fbp``,
``ttp``) never come from a URL."""


def known_top_level_keys() -> frozenset[str]:
    """Top-level JSON keys that map to a field or a nested object."""
    keys = {f.name for f in FIELDS} | set(NESTED_OBJECTS)
    keys |= {a for f in FIELDS for a in f.aliases if "." not in a}
    return frozenset(keys)

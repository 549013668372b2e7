"""HubSpot: a custom behavioral event per routed event, a deal upsert per revenue or
refund event, and contact and company updates when a customer churns.

- ``custom_event`` (``/events/v3/send/batch`` ``inputs[]``): ``eventName`` fully
  qualified as ``pe<portal>_<snake_name>``, ``occurredAt`` ISO 8601 UTC, the contact by
  plain email (or ``crmId`` as ``objectId``), ``uuid`` derived from the event ID (stable
  across retries), ``properties`` with lowercase names (text cut to HubSpot's limits;
  a value without a currency is left out, ``value_dropped_missing_currency``). A client
  and a server copy of one purchase (same transaction ID) give one event: the later is a
  ``duplicate``, as on the ad platforms.
- ``deal`` (``/crm/v3/objects/deals/batch/upsert`` ``inputs[]``): keyed by the order ID
  in the ``deal_id_property``; revenue sets amount, currency, close date and the won
  stage (skipped as ``missing_currency`` when the amount has no currency); a refund or
  chargeback moves the deal to ``refund_stage``. Both copies of a purchase upsert the
  same deal, so deals are not marked ``duplicate``.
- ``contact`` (``/crm/v3/objects/contacts/batch/upsert``, ``idProperty`` email) and
  ``company`` (``/crm/v3/objects/companies/batch/update``): Churned stamps
  ``churn_property`` with the churn time on the contact of the email (created when the
  portal has none: a contact is its email) and on the company whose
  ``company_id_property`` (a unique-value property) holds the event's ``companyId`` (or
  its company domain, ``company_key``). The company is only updated, never created (an
  upsert would make a nameless company): HubSpot answers an ID it has no company for
  with a 207 ``OBJECT_NOT_FOUND`` error, and that row is rejected ``record_not_found``.
"""

from __future__ import annotations

from trackstack_wh.config import Destination, HubSpotDestination
from trackstack_wh.contract import REFUND_EVENTS, REVENUE_EVENTS
from trackstack_wh.payloads.jsonsql import const, obj, val
from trackstack_wh.payloads.spec import (
    AMOUNT_TEXT,
    CURRENCY,
    ISO_UTC,
    ORDER_KEY,
    PLAIN_EMAIL,
    VALUE_WITHOUT_CURRENCY,
    PayloadKind,
    PayloadSpec,
    in_events,
)

TEXT_LIMIT = 50
URL_LIMIT = 200
EVENT_NAME = (
    "case when regexp_full_match(platform_event_name, 'pe[0-9]+_[a-z0-9_-]+') "
    "then platform_event_name else 'pe' || $portal_id || '_' || "
    "lower(regexp_replace(platform_event_name, '([a-z0-9])([A-Z])', '\\1_\\2', 'g')) end"
)
OBJECT_ID = "case when regexp_full_match(crm_id, '[0-9]+') then crm_id end"
UUID = (
    "substr(md5(event_id), 1, 8) || '-' || substr(md5(event_id), 9, 4) || '-' || "
    "substr(md5(event_id), 13, 4) || '-' || substr(md5(event_id), 17, 4) || '-' || "
    "substr(md5(event_id), 21, 12)"
)
"""A UUID-shaped MD5 of the event ID: the same occurrence always has the same uuid."""
TEXT_PROPERTIES = ("plan", "transaction_id", "company_domain", "company_name", "content_name")
URL_PROPERTIES = ("page_url", "referrer")
TOO_LONG = " or ".join(
    [f"length({p}) > {TEXT_LIMIT}" for p in TEXT_PROPERTIES]
    + [f"length({p}) > {URL_LIMIT}" for p in URL_PROPERTIES]
)

CUSTOM_EVENT = obj(
    ("eventName", val(EVENT_NAME)),
    ("occurredAt", val(ISO_UTC)),
    ("email", val(PLAIN_EMAIL)),
    ("objectId", val(OBJECT_ID)),
    ("uuid", val(UUID)),
    (
        "properties",
        obj(
            ("value", val("case when currency is not null then value_major end")),
            ("currency", val(CURRENCY)),
            *((p, val(f"left({p}, {TEXT_LIMIT})")) for p in TEXT_PROPERTIES),
            *((p, val(f"left({p}, {URL_LIMIT})")) for p in URL_PROPERTIES),
        ),
    ),
)

IS_REVENUE = in_events(REVENUE_EVENTS)
DEAL = obj(
    ("idProperty", val("$deal_id_property")),
    ("id", val(ORDER_KEY)),
    (
        "properties",
        obj(
            (
                "dealname",
                val(
                    f"coalesce(company_name, company_domain, 'TrackStack') || ' - ' "
                    f"|| coalesce(plan, event_name) || ' ' || {ORDER_KEY}"
                ),
            ),
            ("amount", val(f"case when {IS_REVENUE} then {AMOUNT_TEXT} end")),
            ("deal_currency_code", val(f"case when {IS_REVENUE} then {CURRENCY} end")),
            ("closedate", val(f"case when {IS_REVENUE} then {ISO_UTC} end")),
            ("dealstage", val(f"case when {IS_REVENUE} then $won_stage else $refund_stage end")),
            ("pipeline", val("$pipeline")),
        ),
    ),
)

CONTACT = obj(
    ("idProperty", const("email")),
    ("id", val(PLAIN_EMAIL)),
    ("properties", obj(("$churn_property", val(ISO_UTC)))),
)

COMPANY_KEY = (
    "case when $company_key = 'company_domain' then nullif(lower(trim(company_domain)), '') "
    "else nullif(trim(company_id), '') end"
)
"""The company's ID: the event's company ID (or its domain, per ``company_key``)."""
COMPANY = obj(
    ("idProperty", val("$company_id_property")),
    ("id", val(COMPANY_KEY)),
    ("properties", obj(("$churn_property", val(ISO_UTC)))),
)

NO_CONTACT = ("no_contact_identifier", f"({PLAIN_EMAIL}) is null")


def spec(dest: Destination) -> PayloadSpec:
    """HubSpot's payload spec with the portal's settings (``HubSpotDestination``, whose
    defaults a portal may override) bound as parameters."""
    portal = HubSpotDestination.of(dest)
    return PayloadSpec(
        destination="hubspot",
        ad_platform=False,
        params={
            "portal_id": portal.portal_id,
            "deal_id_property": portal.deal_id_property,
            "won_stage": portal.won_stage,
            "refund_stage": portal.refund_stage,
            "pipeline": portal.pipeline,
            "churn_property": portal.churn_property,
            "company_id_property": portal.company_id_property,
            "company_key": portal.company_key,
        },
        kinds=(
            PayloadKind(
                name="custom_event",
                payload=CUSTOM_EVENT,
                dedup_key=UUID,
                event_name=EVENT_NAME,
                gates=(
                    ("no_contact_identifier", f"({PLAIN_EMAIL}) is null and {OBJECT_ID} is null"),
                ),
                warnings=(
                    ("property_truncated", TOO_LONG),
                    ("value_dropped_missing_currency", VALUE_WITHOUT_CURRENCY),
                ),
            ),
            PayloadKind(
                name="deal",
                payload=DEAL,
                dedup_key=ORDER_KEY,
                where=in_events(REVENUE_EVENTS + REFUND_EVENTS),
                event_name="'deal'",
                gates=(
                    ("missing_transaction_id", f"{ORDER_KEY} is null"),
                    ("missing_currency", f"{IS_REVENUE} and {VALUE_WITHOUT_CURRENCY}"),
                ),
                drop_duplicates=False,
            ),
            PayloadKind(
                name="contact",
                payload=CONTACT,
                dedup_key=PLAIN_EMAIL,
                where="event_name = 'Churned'",
                event_name="'contact'",
                gates=(NO_CONTACT,),
            ),
            PayloadKind(
                name="company",
                payload=COMPANY,
                dedup_key=COMPANY_KEY,
                where="event_name = 'Churned'",
                event_name="'company'",
                gates=(("missing_company_id", f"({COMPANY_KEY}) is null"),),
            ),
        ),
    )

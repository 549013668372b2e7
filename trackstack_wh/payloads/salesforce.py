"""Salesforce: composite upserts by external ID (``PATCH /composite/sobjects/<SObject>/
<ExternalIdField>``), one record per event.

- ``opportunity``: revenue and refund events, keyed by the order ID in
  ``opportunity_external_id_field``; revenue sets Name, Amount (major units), CloseDate
  and the won stage, a refund or chargeback moves it to ``refund_stage``. Revenue also
  sets the currency in ``currency_field`` (``CurrencyIsoCode``; ``""`` for a
  single-currency org, which has no such field), and an amount with no currency is
  skipped as ``missing_currency`` while that field is on.
- ``lead``: every other routed event, keyed by the normalized email in
  ``lead_external_id_field``, with the person's names and company and the last event
  seen. Salesforce requires LastName and Company on a Lead: rows without them are skipped.
"""

from __future__ import annotations

from trackstack_wh.config import Destination, SalesforceDestination
from trackstack_wh.contract import REFUND_EVENTS, REVENUE_EVENTS
from trackstack_wh.payloads.jsonsql import const, obj, val
from trackstack_wh.payloads.spec import (
    CURRENCY,
    DATE_ONLY,
    ISO_UTC,
    ORDER_KEY,
    PLAIN_EMAIL,
    VALUE_WITHOUT_CURRENCY,
    PayloadKind,
    PayloadSpec,
    in_events,
)

IS_REVENUE = in_events(REVENUE_EVENTS)
COMPANY = "coalesce(nullif(trim(company_name), ''), nullif(trim(company_domain), ''))"
LAST_NAME = "nullif(trim(last_name), '')"
CURRENCY_ON = f"$currency_field <> '' and {IS_REVENUE}"
"""SQL: the Opportunity carries its currency (the org's field is configured, revenue)."""

OPPORTUNITY = obj(
    ("attributes", obj(("type", const("Opportunity")))),
    ("$opportunity_external_id_field", val(ORDER_KEY)),
    (
        "Name",
        val(
            f"coalesce({COMPANY}, 'TrackStack') || ' - ' || coalesce(plan, event_name) "
            f"|| ' ' || {ORDER_KEY}"
        ),
    ),
    ("Amount", val(f"case when {IS_REVENUE} then value_major end")),
    ("$currency_field", val(f"case when {CURRENCY_ON} then {CURRENCY} end")),
    ("CloseDate", val(DATE_ONLY)),
    ("StageName", val(f"case when {IS_REVENUE} then $won_stage else $refund_stage end")),
)

LEAD = obj(
    ("attributes", obj(("type", const("Lead")))),
    ("$lead_external_id_field", val(PLAIN_EMAIL)),
    ("Email", val(PLAIN_EMAIL)),
    ("FirstName", val("nullif(trim(first_name), '')")),
    ("LastName", val(LAST_NAME)),
    ("Company", val(COMPANY)),
    ("LeadSource", const("TrackStack")),
    ("TrackStack_Last_Event__c", val("event_name")),
    ("TrackStack_Last_Event_At__c", val(ISO_UTC)),
)


def spec(dest: Destination) -> PayloadSpec:
    """Salesforce's payload spec with the org's field names and stages
    (``SalesforceDestination``, whose defaults an org may override) bound as parameters."""
    org = SalesforceDestination.of(dest)
    money = in_events(REVENUE_EVENTS + REFUND_EVENTS)
    return PayloadSpec(
        destination="salesforce",
        ad_platform=False,
        params={
            "lead_external_id_field": org.lead_external_id_field,
            "opportunity_external_id_field": org.opportunity_external_id_field,
            "won_stage": org.won_stage,
            "refund_stage": org.refund_stage,
            "currency_field": org.currency_field,
        },
        kinds=(
            PayloadKind(
                name="opportunity",
                payload=OPPORTUNITY,
                dedup_key=ORDER_KEY,
                where=money,
                event_name="'Opportunity'",
                gates=(
                    ("missing_transaction_id", f"{ORDER_KEY} is null"),
                    ("missing_currency", f"{CURRENCY_ON} and {VALUE_WITHOUT_CURRENCY}"),
                ),
            ),
            PayloadKind(
                name="lead",
                payload=LEAD,
                dedup_key=PLAIN_EMAIL,
                where=f"not {money}",
                event_name="'Lead'",
                gates=(
                    ("no_contact_identifier", f"({PLAIN_EMAIL}) is null"),
                    ("missing_last_name", f"{LAST_NAME} is null"),
                    ("missing_company", f"{COMPANY} is null"),
                ),
            ),
        ),
    )

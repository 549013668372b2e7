"""Salesforce: composite upserts by external ID (``PATCH /composite/sobjects/<SObject>/
<ExternalIdField>``), one record per event.

- ``opportunity``: revenue and refund events, keyed by the order ID in
  ``opportunity_external_id_field``; revenue sets Name, Amount (major units), CloseDate
  and the won stage, a refund or chargeback moves it to ``refund_stage``. Revenue also
  sets the currency in ``currency_field`` (``CurrencyIsoCode``; ``""`` for a
  single-currency org, which has no such field), and an amount with no currency is
  skipped as ``missing_currency`` while that field is on.
- ``account`` / ``contact``: a Churned event (``churn_object``: ``account``, ``contact``
  or ``both``) sets ``churn_status_field`` to ``churn_status`` and ``churn_date_field``
  to the churn's UTC day on the Account keyed by the event's ``companyId`` (or company
  domain, ``account_key``) in ``account_external_id_field``, and on the Contact keyed by
  the normalized email in ``contact_external_id_field``. Neither carries Name or
  LastName, so a record the org does not have is refused (REQUIRED_FIELD_MISSING), never
  created: a churn only updates.
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
IS_CHURN = "event_name = 'Churned'"
ACCOUNT_KEY = (
    "case when $account_key = 'company_domain' then nullif(lower(trim(company_domain)), '') "
    "else nullif(trim(company_id), '') end"
)
"""The Account's external ID: the event's company ID (or its domain, per ``account_key``)."""

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


def churned(sobject: str, id_field: str, key: str) -> str:
    """A churn update of ``sobject`` keyed by ``key`` in the external ID field ``id_field``
    (a parameter): the configured status and the churn's day."""
    return obj(
        ("attributes", obj(("type", const(sobject)))),
        (id_field, val(key)),
        ("$churn_status_field", val("$churn_status")),
        ("$churn_date_field", val(DATE_ONLY)),
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
            "account_external_id_field": org.account_external_id_field,
            "contact_external_id_field": org.contact_external_id_field,
            "account_key": org.account_key,
            "churn_object": org.churn_object,
            "churn_status_field": org.churn_status_field,
            "churn_status": org.churn_status,
            "churn_date_field": org.churn_date_field,
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
                name="account",
                payload=churned("Account", "$account_external_id_field", ACCOUNT_KEY),
                dedup_key=ACCOUNT_KEY,
                where=f"{IS_CHURN} and $churn_object in ('account', 'both')",
                event_name="'Account'",
                gates=(("missing_company_id", f"({ACCOUNT_KEY}) is null"),),
            ),
            PayloadKind(
                name="contact",
                payload=churned("Contact", "$contact_external_id_field", PLAIN_EMAIL),
                dedup_key=PLAIN_EMAIL,
                where=f"{IS_CHURN} and $churn_object in ('contact', 'both')",
                event_name="'Contact'",
                gates=(("no_contact_identifier", f"({PLAIN_EMAIL}) is null"),),
            ),
            PayloadKind(
                name="lead",
                payload=LEAD,
                dedup_key=PLAIN_EMAIL,
                where=f"not {money} and not {IS_CHURN}",
                event_name="'Lead'",
                gates=(
                    ("no_contact_identifier", f"({PLAIN_EMAIL}) is null"),
                    ("missing_last_name", f"{LAST_NAME} is null"),
                    ("missing_company", f"{COMPANY} is null"),
                ),
            ),
        ),
    )

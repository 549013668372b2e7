"""Google Ads: Data Manager API ``events:ingest`` events (default) or Google Ads API
``uploadClickConversions`` conversions, plus ``uploadConversionAdjustments`` for refunds.

Conversions carry one click ID (gclid, else gbraid, else wbraid; gbraid together with
wbraid and no gclid is ambiguous and skipped), SHA-256 email (gmail dots/+suffix rule)
and E.164 phone with ``+``; the address (names hashed, country and postal code in clear)
only when complete. ``transactionId``/``orderId`` is the dedup key (transaction ID, else
order ID, else event ID). A Refund or Chargeback retracts the original conversion (same
transaction ID) or restates it to the remaining value after a partial refund.
``consent`` carries the event's ad-user-data and ad-personalization answers, else the
``[privacy]`` defaults (`privacy`); ``platformParams.google_ads`` may set the conversion
action (``conversionActionId`` or ``sendTo``), value and currency (`overrides`).
"""

from __future__ import annotations

from trackstack_wh.config import Destination, GoogleAdsDestination
from trackstack_wh.contract import REFUND_EVENTS, REVENUE_EVENTS
from trackstack_wh.payloads import privacy
from trackstack_wh.payloads.jsonsql import const, items, obj, val
from trackstack_wh.payloads.spec import (
    CURRENCY,
    GOOGLE_DATETIME,
    IS_WEB,
    ISO_UTC,
    PayloadKind,
    PayloadSpec,
    in_events,
    major_units,
    present,
)
from trackstack_wh.sql import lit

CLICK_ID = "coalesce(gclid, gbraid, wbraid)"
CLICK_IDS = (
    ("gclid", val("gclid")),
    ("gbraid", val("case when gclid is null then gbraid end")),
    ("wbraid", val("case when gclid is null and gbraid is null then wbraid end")),
)
DEDUP_KEY = "coalesce(transaction_id, order_id, event_id)"
FULL_ADDRESS = (
    "first_name_sha256 is not null and last_name_sha256 is not null "
    "and n_country is not null and n_zip is not null"
)


def customer_id(value: str) -> str:
    """A Google Ads customer ID without hyphens (``123-456-7890`` -> ``1234567890``)."""
    return value.replace("-", "")


def conversion_action(action: str) -> str:
    """SQL: a conversion action resource name from an ID (or an already full name)."""
    return (
        f"case when starts_with({action}, 'customers/') then {action} "
        f"else 'customers/' || $customer_id || '/conversionActions/' || {action} end"
    )


DATA_MANAGER_EVENT = obj(
    ("destinationReferences", val("[regexp_extract(platform_event_name, '([^/]+)$', 1)]")),
    ("transactionId", val(DEDUP_KEY)),
    ("eventTimestamp", val(ISO_UTC)),
    ("eventSource", val(f"case when {IS_WEB} then 'WEB' else 'OTHER' end")),
    ("conversionValue", val("value_major")),
    ("currency", val(CURRENCY)),
    ("consent", privacy.google_consent("CONSENT_GRANTED", "CONSENT_DENIED")),
    (
        "adIdentifiers",
        obj(
            *CLICK_IDS,
            (
                "landingPageDeviceInfo",
                obj(("userAgent", val("user_agent")), ("ipAddress", val("client_ip"))),
            ),
        ),
    ),
    (
        "userData",
        obj(
            (
                "userIdentifiers",
                items(
                    obj(("emailAddress", val("email_google_sha256"))),
                    obj(("phoneNumber", val("phone_e164_sha256"))),
                    f"case when {FULL_ADDRESS} then "
                    + obj(
                        (
                            "address",
                            obj(
                                ("givenName", val("first_name_sha256")),
                                ("familyName", val("last_name_sha256")),
                                ("regionCode", val("upper(n_country)")),
                                ("postalCode", val("n_zip")),
                            ),
                        )
                    )
                    + " end",
                ),
            ),
        ),
    ),
)

CLICK_CONVERSION = obj(
    *CLICK_IDS,
    ("conversionAction", val(conversion_action("platform_event_name"))),
    ("conversionDateTime", val(GOOGLE_DATETIME)),
    ("conversionValue", val("value_major")),
    ("currencyCode", val(CURRENCY)),
    ("orderId", val(DEDUP_KEY)),
    (
        "userIdentifiers",
        items(
            obj(("hashedEmail", val("email_google_sha256"))),
            obj(("hashedPhoneNumber", val("phone_e164_sha256"))),
        ),
    ),
    ("consent", privacy.google_consent("GRANTED", "DENIED", personalization=False)),
    ("conversionEnvironment", f"case when {IS_WEB} then {const('WEB')} end"),
)

ORIGINALS = f"""
left join (
    select o.transaction_id as original_transaction_id,
        arg_min(o.platform_event_name, o.ts) as original_action,
        arg_min(o.value, o.ts) as original_value
    from routed_events_in(null, null, null, null) o
    where o.destination = 'google_ads' and o.reason is null
      and o.transaction_id in (select transaction_id from src where {in_events(REFUND_EVENTS)})
      and o.event_name in ({", ".join(lit(n) for n in REVENUE_EVENTS)})
    group by 1
) originals on originals.original_transaction_id = src.transaction_id"""
"""Per refunded transaction in the build, its original conversion routed to Google: the
action and value of its first revenue event (the routing macro reads only the events of
those transactions)."""
ORIGINAL_MAJOR = major_units("original_value")
REMAINING = f"({ORIGINAL_MAJOR} - coalesce(value_major, {ORIGINAL_MAJOR}))"
ADJUSTMENT_TYPE = f"case when {REMAINING} > 0 then 'RESTATEMENT' else 'RETRACTION' end"

ADJUSTMENT = obj(
    ("adjustmentType", val(ADJUSTMENT_TYPE)),
    ("conversionAction", val(conversion_action("original_action"))),
    ("orderId", val("transaction_id")),
    ("adjustmentDateTime", val(GOOGLE_DATETIME)),
    (
        "restatementValue",
        f"case when {ADJUSTMENT_TYPE} = 'RESTATEMENT' then "
        + obj(("adjustedValue", val(REMAINING)), ("currencyCode", val(CURRENCY)))
        + " end",
    ),
)

CONVERSION_GATES = (
    ("conflicting_click_ids", "gclid is null and gbraid is not null and wbraid is not null"),
    (
        "no_match_keys",
        "not " + present(CLICK_ID, "email_google_sha256", "phone_e164_sha256"),
    ),
)


def spec(dest: Destination) -> PayloadSpec:
    """Conversions in the configured API's shape, plus refund adjustments."""
    ads = GoogleAdsDestination.of(dest)
    classic = ads.classic
    not_refund = f"not {in_events(REFUND_EVENTS)}"
    return PayloadSpec(
        destination="google_ads",
        max_age_days=90,
        params={"customer_id": customer_id(ads.customer_id)},
        kinds=(
            PayloadKind(
                name="click_conversion" if classic else "event",
                payload=CLICK_CONVERSION if classic else DATA_MANAGER_EVENT,
                dedup_key=DEDUP_KEY,
                where=not_refund,
                gates=CONVERSION_GATES,
                warnings=(
                    (
                        "braid_dropped_for_gclid",
                        "gclid is not null and coalesce(gbraid, wbraid) is not null",
                    ),
                ),
            ),
            PayloadKind(
                name="conversion_adjustment",
                payload=ADJUSTMENT,
                dedup_key="event_id",
                where=in_events(REFUND_EVENTS),
                event_name=ADJUSTMENT_TYPE,
                joins=ORIGINALS,
                gates=(
                    ("missing_transaction_id", "transaction_id is null"),
                    ("original_conversion_not_found", "original_action is null"),
                ),
            ),
        ),
    )

"""What a destination's payload builder declares, and the SQL pieces builders share.

A builder is data: for each request kind (Meta has one, Google Ads two, HubSpot three),
which routed events it takes, its dedup key, its JSON payload and its eligibility gates,
all as SQL over the ``src`` relation (one routed event per row: every ``events`` column,
the identity hashes ``<key>_sha256``, plain identity values ``n_<key>``,
``platform_event_name``, ``duplicate_of``, ``value_major``, ``exponent`` and ``as_of``).
`build.py` turns these into one set-based INSERT per destination.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trackstack_wh.contract import REFUND_EVENTS, REVENUE_EVENTS
from trackstack_wh.identity.rules import PLATFORMS, Key
from trackstack_wh.payloads.jsonsql import Member, one_item, val
from trackstack_wh.payloads.privacy import AD_USE_DENIED
from trackstack_wh.sql import lit

Gate = tuple[str, str]
"""(skip reason, SQL condition that makes the row ineligible)."""


@dataclass(frozen=True)
class PayloadKind:
    """One kind of request a destination receives (e.g. Google conversions vs adjustments)."""

    name: str
    payload: str
    dedup_key: str
    where: str = "true"
    event_name: str = "platform_event_name"
    gates: tuple[Gate, ...] = ()
    warnings: tuple[Gate, ...] = ()
    joins: str = ""
    """Extra ``left join`` clauses onto ``src`` (e.g. the original of a refund)."""
    drop_duplicates: bool = True
    """Copies in ``destination_dedup`` get status ``duplicate`` (False for an upsert keyed
    by the order ID: the copy is the same record)."""


PAYLOAD_TABLES = {
    "meta": "capi_meta",
    "google_ads": "capi_google_ads",
    "linkedin": "capi_linkedin",
    "tiktok": "capi_tiktok",
    "snapchat": "capi_snapchat",
    "reddit": "capi_reddit",
    "hubspot": "crm_hubspot",
    "salesforce": "crm_salesforce",
    "posthog": "analytics_posthog",
}
"""Destination -> its payload table."""


@dataclass(frozen=True)
class PayloadSpec:
    """A destination's request kinds and gating settings."""

    destination: str
    kinds: tuple[PayloadKind, ...]
    ad_platform: bool = True
    max_age_days: float | None = None
    future_seconds: int = 300
    params: dict[str, object] = field(default_factory=dict)
    records: tuple[str, ...] = ()
    """INSERTs of rows no routed event drives (PostHog's identify records), run after the
    event rows with the same parameters; each adds only the rows the table lacks."""

    @property
    def table(self) -> str:
        return PAYLOAD_TABLES[self.destination]


def event_spec(
    destination: str,
    payload: str,
    *,
    max_age_days: float,
    gates: tuple[Gate, ...],
    warnings: tuple[Gate, ...] = (),
    future_seconds: int = 300,
) -> PayloadSpec:
    """An ad platform with one request kind, ``event``, deduplicated on the event ID."""
    kind = PayloadKind("event", payload, "event_id", gates=gates, warnings=warnings)
    return PayloadSpec(
        destination, (kind,), max_age_days=max_age_days, future_seconds=future_seconds
    )


EPOCH_S = "(epoch_ms(ts) // 1000)"
EPOCH_MS = "epoch_ms(ts)"
ISO_UTC = "strftime(make_timestamp(epoch_us(ts)), '%Y-%m-%dT%H:%M:%S.%gZ')"
"""RFC 3339 in UTC with milliseconds, e.g. ``2026-10-28T07:53:25.000Z``."""
GOOGLE_DATETIME = "strftime(make_timestamp(epoch_us(ts)), '%Y-%m-%d %H:%M:%S') || '+00:00'"
"""Google Ads ``conversionDateTime``: ``yyyy-mm-dd hh:mm:ss+00:00``."""
DATE_ONLY = "strftime(make_timestamp(epoch_us(ts)), '%Y-%m-%d')"
CURRENCY = "upper(currency)"
"""The row's currency: the event's own, else ``workspace.default_currency`` (`build.py`)."""
VALUE_WITHOUT_CURRENCY = "value is not null and currency is null"
"""SQL: the row has a value but no currency to price it in."""
ORDER_KEY = "coalesce(transaction_id, order_id)"
ORDER_FIELDS: tuple[Member, ...] = (
    ("value", val("value_major")),
    ("currency", val(CURRENCY)),
    ("order_id", val(ORDER_KEY)),
)
"""Value in major units, currency and order ID, named as Meta, TikTok and Snapchat do."""
AMOUNT_TEXT = "format('{:.{}f}', value_major, coalesce(exponent, 2))"
"""A decimal string with the currency's minor digits (USD ``12.50``, JPY ``1250``)."""
PLAIN_EMAIL = (
    "case when email_sha256 is not null and not regexp_full_match(trim(email), "
    "'[0-9a-fA-F]{64}') then lower(trim(email)) end"
)
"""The normalized email in clear, for CRMs (never for ad platforms); NULL if invalid or
already hashed."""
IS_WEB = "page_url is not null"
HAS_IP_AND_AGENT = "(client_ip is not null and user_agent is not null)"


def major_units(column: str) -> str:
    """SQL: an amount in the currency's major units, per ``$value_unit`` (rounded to the
    currency's minor digits; ``exponent`` is the row's ISO-4217 exponent)."""
    return (
        f"round(case when $value_unit = 'minor' then {column} / pow(10, coalesce(exponent, 2)) "
        f"else {column} end, coalesce(exponent, 2))"
    )


def in_events(names: tuple[str, ...]) -> str:
    """SQL: the row's event is one of ``names`` (constants of the contract)."""
    return f"event_name in ({', '.join(lit(n) for n in names)})"


AGE_GATES: tuple[Gate, ...] = (
    ("too_old", "ts < to_timestamp($as_of_s) - to_seconds($max_age_s)"),
    ("future_timestamp", "ts > to_timestamp($as_of_s) + to_seconds($future_s)"),
)
"""Every destination with an age limit applies these first ($max_age_s NULL: no limit)."""

IS_MONEY_EVENT = in_events(REVENUE_EVENTS + REFUND_EVENTS)
AD_GATES: tuple[Gate, ...] = (
    ("consent_denied", AD_USE_DENIED),
    ("missing_value", f"{IS_MONEY_EVENT} and value is null"),
    ("missing_currency", f"({IS_MONEY_EVENT} or value is not null) and currency is null"),
)
"""Ad platforms then refuse denied consent (the event's, else the ``[privacy]`` default),
revenue without a value, and revenue or any other value without a currency (each of them
takes a value only with its currency)."""


def identity_column(key: Key, hashed: bool) -> str:
    """The ``src`` column holding an identity key (its SHA-256, or its plain value)."""
    return f"{key}_sha256" if hashed else f"n_{key}"


def user_fields(platform: str, *, as_lists: bool, scalar: tuple[str, ...] = ()) -> list[Member]:
    """A platform's match keys as JSON members, from the identity rules table.

    Hashed keys come from ``<key>_sha256`` (a list when the platform takes lists), plain
    ones from the normalized clear value.
    """
    members: list[Member] = []
    for match in PLATFORMS[platform].keys:
        column = identity_column(match.key, match.hashed)
        listed = as_lists and match.hashed and match.name not in scalar
        members.append((match.name, one_item(column) if listed else val(column)))
    return members


def any_of(*conditions: str) -> str:
    """SQL: at least one condition holds."""
    return "(" + " or ".join(f"coalesce({c}, false)" for c in conditions) + ")"


def present(*columns: str) -> str:
    """SQL: at least one column is not NULL."""
    return any_of(*(f"{c} is not null" for c in columns))


def no_match_keys(*columns: str, ip_and_agent: bool = False) -> Gate:
    """Skip when none of the platform's match keys is there (IP + user agent counting as
    one when the platform matches on them)."""
    condition = "not " + present(*columns)
    if ip_and_agent:
        condition += f" and not {HAS_IP_AND_AGENT}"
    return ("no_match_keys", condition)

"""The key groups an event can borrow, and what each row carries of them.

Identity groups (one per source field: email, phone, names, address parts, gender and
birth date, external ID; a name or an address always comes from one row), browser
context, and one group per ad platform's click IDs (`CLICK_GROUPS`). ``stitch_flags``
holds, per event, its ad-use consent answer and which groups it carries (identify
records get theirs from ``identify_identity``). `ORDER_KEY` puts a person's rows in one
order every run agrees on.
"""

from __future__ import annotations

from trackstack_wh.config.stitching import StitchSettings
from trackstack_wh.consent import AD_USE_ANSWER
from trackstack_wh.contract import CLICK_ID_FIELDS
from trackstack_wh.identity.rules import HASHED_KEYS, KEY_SOURCE, Key
from trackstack_wh.identity.sql import PLAIN_KEYS


def _identity_columns(source: str) -> tuple[str, ...]:
    keys = [k for k in Key if KEY_SOURCE[k] == source]
    hashed = [f"{k}_sha256" for k in keys if k in HASHED_KEYS]
    return tuple(hashed + [str(k) for k in keys if k in PLAIN_KEYS])


PII_SOURCES: dict[str, tuple[str, ...]] = {
    "email": ("email",),
    "phone": ("phone",),
    "name": ("first_name", "last_name"),
    "address": ("city", "state", "zip", "country"),
    "demographics": ("gender", "date_of_birth"),
    "external_id": ("external_id",),
}
"""Identity group -> the source fields it takes together, from one row (a name or an
address is never assembled from two rows)."""
PII_GROUPS: dict[str, tuple[str, ...]] = {
    group: tuple(c for source in sources for c in _identity_columns(source))
    for group, sources in PII_SOURCES.items()
}
"""Identity group -> its ``event_identity`` columns."""
GROUP_OF_SOURCE = {source: g for g, sources in PII_SOURCES.items() for source in sources}

BROWSER_COLUMNS = ("user_agent", "client_ip", *_identity_columns("client_ip"), "fbp", "ttp")

CLICK_GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fbc": ("meta", ("fbc",)),
    "google_click": ("google_ads", ("gclid", "gbraid", "wbraid")),
    "li_fat_id": ("linkedin", ("li_fat_id",)),
    "ttclid": ("tiktok", ("ttclid",)),
    "sc_cid": ("snapchat", ("sc_cid",)),
    "rdt_cid": ("reddit", ("rdt_cid",)),
}
"""Click group -> (the platform whose window applies, its columns). Google's three IDs
are one group: a conversion carries one of them."""

GROUPS: dict[str, tuple[str, ...]] = {
    **PII_GROUPS,
    "browser": BROWSER_COLUMNS,
    **{name: columns for name, (_, columns) in CLICK_GROUPS.items()},
}
GROUP_CLASS: dict[str, str] = {
    **{g: "pii" for g in PII_GROUPS},
    "browser": "browser",
    **{g: "clicks" for g in CLICK_GROUPS},
}
"""Group -> the stitching class a destination opts into (``stitching = [...]``)."""

STITCH_COLUMNS: tuple[str, ...] = tuple(c for columns in GROUPS.values() for c in columns)

FBC_OF_ROW = (
    "coalesce(e.fbc, case when e.fbclid is not null "
    "then 'fb.1.' || epoch_ms(e.ts) || '.' || e.fbclid end)"
)
"""A row's Meta click: its ``_fbc`` cookie, else one built from its ``fbclid`` at its time."""

PII_COLUMNS = tuple(c for columns in PII_GROUPS.values() for c in columns)
IP_HASHES = _identity_columns("client_ip")


def value_source(column: str, identify: bool = False) -> str:
    """Where a stitchable column comes from in a row's tables: ``i`` (its identity row:
    ``event_identity``, or ``identify_identity`` when ``identify``) or ``e`` (``events``);
    NULL for browser and click columns of an identify record."""
    if column in PII_COLUMNS or column in IP_HASHES:
        return f"i.{column}"
    if identify:
        return "null::varchar"
    return FBC_OF_ROW if column == "fbc" else f"e.{column}"


def identify_has(group: str) -> str:
    """SQL over ``i`` (``identify_identity``): the identify record carries the group."""
    columns = [value_source(c, identify=True) for c in GROUPS[group]]
    return "(" + " or ".join(f"{c} is not null" for c in columns) + ")"


OWN_CLICK = " or ".join(f"e.{f.column} is not null" for f in CLICK_ID_FIELDS)
OWN_NAME_LOCATION = (
    "(e.first_name is not null and e.last_name is not null "
    "and (e.zip is not null or e.city is not null) and e.country is not null)"
)
"""The quality score's click and name-with-location components, on the event itself."""

IS_TARGET = "(list_contains($events, {}.event_name) or list_contains($events, '*'))"
"""The event of table alias ``{}`` may borrow keys (``[stitching] events``, parameter
``$events``)."""

ORDER_KEY = (
    "(epoch_us(ts)::hugeint << 64) + (kind_rank::hugeint << 63) "
    "+ coalesce(row_seq, hash(row_id) >> 1)::hugeint"
)
"""One number per row in the person's order: time, identify records before events at the
same instant, then load order (an identify record's ID hash): unique, so every run picks
the same donor."""


def _carries(group: str) -> str:
    """SQL over ``e`` (``events``): the event carries a value for the group (one it sent,
    usable or not: a stitched value never replaces what the event itself says)."""
    if group in PII_SOURCES:
        columns = list(PII_SOURCES[group])
    else:
        columns = [c for c in GROUPS[group] if not c.endswith("_sha256")]
        columns += ["fbclid"] if group == "fbc" else []
    return "(" + " or ".join(f"e.{c} is not null" for c in columns) + ")"


def flags_sql(events: str) -> str:
    """SELECT of the ``stitch_flags`` rows of the events matching ``events`` (over ``e``)."""
    return f"""
select e.event_seq as row_seq, e.event_name, {AD_USE_ANSWER} as consent_answer,
    {OWN_CLICK} as own_click, {OWN_NAME_LOCATION} as own_name_location,
    {", ".join(f"{_carries(g)} as has_{g}" for g in GROUPS)}
from events e
where {events}"""


def flags_ddl(enabled: bool) -> str:
    """``stitch_flags`` of every event (none when stitching is off), read once from the
    events alone: what it said about ad use, whether it carries a click or a name with a
    location, and which key groups it carries (``has_<group>``)."""
    return f"create or replace table stitch_flags as {flags_sql(str(enabled).lower())}"


NEW_FLAGS = f"insert into stitch_flags {flags_sql('e.event_seq > $through')}"


DONOR_OK = "coalesce({}consent_answer, $default_ad_use) is distinct from 'denied'"
"""A row (of the table alias prefix ``{}``, e.g. ``x.``) may lend keys: its consent
(else ``[privacy] default_ad_user_data``, parameter ``$default_ad_use``) does not deny
ad use."""
MASK = " + ".join(f"(has_{g}::bigint << {i})" for i, g in enumerate(GROUPS))
"""The key groups a row carries, one bit each."""
CLICK_BITS = sum(1 << i for i, g in enumerate(GROUPS) if g in CLICK_GROUPS)


def max_age_days(group: str, settings: StitchSettings) -> float | None:
    """How old a donor of ``group`` may be (days; None: any age)."""
    if group == "browser":
        return settings.browser_window_days
    if group in CLICK_GROUPS:
        return settings.click_window_days[CLICK_GROUPS[group][0]]
    return None

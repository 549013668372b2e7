"""``platformParams``: the documented per-platform overrides, validated set-based in SQL.

An event may carry ``platformParams.<destination>.<key>`` (seed 003: "Per-platform
overrides (conversion rule IDs, sendTo, etc.)"). `PARAMS` lists every key each
destination reads, the payload field it sets and the check its value must pass. A valid
override replaces the field the event would give (the event name, value, currency, ...);
an invalid one is not applied. Either way nothing is silent: `warnings_sql` gives the
``event_quality`` warnings (``platform_param_unknown:<dest>[.<key>]``,
``platform_param_invalid:<dest>.<key>``, ``platform_param_ignored:<dest>.customData.<k>``)
and `applied_sql` the ``overrides`` of a payload row (which field each override set).

A ``customData`` object is sent without the keys it may not carry, each one warned
``platform_param_ignored:<dest>.customData.<key>``: the fields TrackStack builds itself
(``reserved``: value, currency, order ID ...; they are set, validated and gated only from
the event), and anything personal, which must never reach a platform in clear: a key
named like a person field (`PII_KEYS`, or containing email / phone / address / street,
in any case or spelling: ``First Name``, ``customer_email``), a text value that reads
as an email address or a phone number (`PHONE_SHAPE`: 9 to 15 digits written as a
phone number is, with a ``+`` or separators; a bare run of digits stays, it is more
often an ID), or a nested object or list holding any of these.
"""

from __future__ import annotations

from dataclasses import dataclass

from trackstack_wh.config import DESTINATIONS
from trackstack_wh.contract import CURRENCY_CODES
from trackstack_wh.sql import lit

NAME, ID, NUMBER, CURRENCY, CHOICE, OBJECT, FLAG = (
    "name", "id", "number", "currency", "choice", "object", "flag",
)  # fmt: skip
READABLE_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
MAX_NAME = 100
MAX_OBJECT_CHARS = 4000
PII_KEYS = (
    "em", "ph", "fn", "ln", "ge", "db", "ct", "zp", "dob", "zip", "zipcode", "postcode",
    "postalcode", "city", "ip", "ipaddr", "clientip", "firstname", "lastname", "fullname",
    "givenname", "familyname", "surname", "birthdate", "birthday", "dateofbirth", "gender",
    "mobile", "tel", "telephone", "ssn",
)  # fmt: skip
"""customData keys that name a person field (lowercased, letters and digits only: Meta's
and TikTok's user-data keys and their spelled-out forms)."""
PII_KEY_PARTS = ("email", "phone", "address", "street")
"""... and parts that make any key a person field (``customer_email``, ``ipAddress``)."""
PHONE_SHAPE = r"\s*\+?[0-9(][0-9 ().-]*[0-9]\s*"
"""A phone number's characters; it must also have 9 to 15 digits and a ``+`` or a
separator between digits (so ISO dates, amounts and bare numeric IDs are not phones)."""
JSON_KEY = r'"((?:[^"\\]|\\.)*)"\s*:'
JSON_TEXT = r'"((?:[^"\\]|\\.)*)"'


@dataclass(frozen=True)
class Param:
    """One documented ``platformParams.<destination>`` key."""

    key: str
    check: str
    """NAME (text, 1-100 characters), ID (``pattern``), NUMBER (>= 0, the event's value
    unit), CURRENCY (ISO-4217), CHOICE (one of ``choices``), OBJECT (JSON object of at
    most 4000 characters, sent without its reserved and personal keys), FLAG (true/false)."""
    field: str
    """The payload field it sets (for the docs and the preview)."""
    aliases: tuple[str, ...] = ()
    """Other accepted spellings (the platform's own field name)."""
    choices: tuple[str, ...] = ()
    pattern: str = ""
    reserved: tuple[str, ...] = ()
    """OBJECT: keys TrackStack builds itself, which the object never sets (dropped)."""

    @property
    def names(self) -> tuple[str, ...]:
        return (self.key, *self.aliases)


META_ACTION_SOURCES = (
    "email", "website", "app", "phone_call", "chat", "physical_store", "system_generated",
    "business_messaging", "other",
)  # fmt: skip
SNAPCHAT_ACTION_SOURCES = ("WEB", "MOBILE_APP", "OFFLINE")
REDDIT_ACTION_SOURCES = ("WEBSITE", "APP", "PHYSICAL_STORE", "OTHER")
SNAPCHAT_EVENTS = (
    "PAGE_VIEW", "VIEW_CONTENT", "ADD_CART", "ADD_TO_WISHLIST", "SIGN_UP", "SEARCH",
    "PURCHASE", "ADD_BILLING", "START_CHECKOUT", "SUBSCRIBE", "START_TRIAL", "AD_CLICK",
    "AD_VIEW", "LIST_VIEW", "SAVE", "SHARE", "INVITE", "LOGIN", "RESERVE", "RATE",
    "COMPLETE_TUTORIAL", "LEVEL_COMPLETE", "ACHIEVEMENT_UNLOCKED", "SPENT_CREDITS",
    "APP_OPEN", "APP_INSTALL", "CUSTOM_EVENT_1", "CUSTOM_EVENT_2", "CUSTOM_EVENT_3",
    "CUSTOM_EVENT_4", "CUSTOM_EVENT_5",
)  # fmt: skip
GOOGLE_ACTION_ID = r"[0-9]+|customers/[0-9]+/conversionActions/[0-9]+"
LINKEDIN_RULE_ID = r"[0-9]+|urn:lla:llaPartnerConversion:[0-9]+"
"""ID patterns (without braces: the routing SQL is a format string), with `MAX_NAME`."""
LIMITED = "limitedDataUse"


def _money(value_field: str, currency_field: str) -> tuple[Param, Param]:
    return Param("value", NUMBER, value_field), Param("currency", CURRENCY, currency_field)


PARAMS: dict[str, tuple[Param, ...]] = {
    "meta": (
        Param("eventName", NAME, "event_name"),
        *_money("custom_data.value", "custom_data.currency"),
        Param("actionSource", CHOICE, "action_source", ("action_source",), META_ACTION_SOURCES),
        Param(
            "customData",
            OBJECT,
            "custom_data",
            ("custom_data",),
            reserved=(
                "value",
                "currency",
                "order_id",
                "content_ids",
                "content_name",
                "content_category",
                "num_items",
            ),
        ),  # fmt: skip
        Param("optOut", FLAG, "opt_out", ("opt_out",)),
        Param(LIMITED, FLAG, "data_processing_options"),
    ),
    "google_ads": (
        Param("conversionActionId", ID, "conversionAction", ("sendTo",), pattern=GOOGLE_ACTION_ID),
        *_money("conversionValue", "currency"),
    ),
    "linkedin": (
        Param("conversionRuleId", ID, "conversion", pattern=LINKEDIN_RULE_ID),
        *_money("conversionValue.amount", "conversionValue.currencyCode"),
    ),
    "tiktok": (
        Param("eventName", NAME, "event"),
        *_money("properties.value", "properties.currency"),
        Param(
            "customData",
            OBJECT,
            "properties",
            ("properties",),
            reserved=("value", "currency", "order_id", "num_items", "description"),
        ),  # fmt: skip
        Param(LIMITED, FLAG, "limited_data_use"),
    ),
    "snapchat": (
        Param("eventName", CHOICE, "event_name", choices=SNAPCHAT_EVENTS),
        *_money("custom_data.value", "custom_data.currency"),
        Param("actionSource", CHOICE, "action_source", ("action_source",), SNAPCHAT_ACTION_SOURCES),
        Param(
            "customData",
            OBJECT,
            "custom_data",
            ("custom_data",),
            reserved=("value", "currency", "order_id", "content_ids", "num_items"),
        ),  # fmt: skip
        Param(LIMITED, FLAG, "data_processing_options"),
    ),
    "reddit": (
        Param("eventName", NAME, "type"),
        *_money("metadata.value", "metadata.currency"),
        Param("actionSource", CHOICE, "action_source", ("action_source",), REDDIT_ACTION_SOURCES),
        Param(LIMITED, FLAG, "user.data_processing_options"),
    ),
}
"""The documented overrides of each destination (others take only `DEFAULT_PARAMS`)."""

DEFAULT_PARAMS = (Param("eventName", NAME, "event name"),)
"""What a destination not in `PARAMS` reads (CRMs, analytics): its event name."""

EVENT_NAME_PARAMS = {
    d: next(
        p for p in params if p.field in ("conversionAction", "conversion") or p.key == "eventName"
    )
    for d, params in PARAMS.items()
}
"""The override of each destination's event name (or conversion action / rule ID)."""


def params_of(destination: str) -> tuple[Param, ...]:
    """The keys ``platformParams.<destination>`` may hold."""
    return PARAMS.get(destination, DEFAULT_PARAMS)


def param(destination: str, key: str) -> Param | None:
    """One documented key of a destination, or None."""
    return next((p for p in params_of(destination) if p.key == key), None)


def _raw(column: str, destination: str, p: Param) -> str:
    """SQL: the JSON of the override (first spelling present), NULL when absent."""
    picks = [f"({column} -> {destination} -> {lit(name)})" for name in p.names]
    return picks[0] if len(picks) == 1 else f"coalesce({', '.join(picks)})"


def _valid(p: Param, j: str) -> str:
    """SQL: JSON ``j`` is a valid value for ``p``."""
    text = f"({j} ->> '$')"
    if p.check == NAME:
        return f"(json_type({j}) = 'VARCHAR' and length(trim({text})) between 1 and {MAX_NAME})"
    if p.check == ID:
        return (
            f"(json_type({j}) in ('VARCHAR', 'UBIGINT') and length({text}) <= {MAX_NAME} "
            f"and regexp_full_match({text}, {lit(p.pattern)}))"
        )
    if p.check == NUMBER:
        return (
            f"(json_type({j}) in ('UBIGINT', 'BIGINT', 'DOUBLE') "
            f"and isfinite(try_cast({text} as double)) and try_cast({text} as double) >= 0)"
        )
    if p.check == CURRENCY:
        codes = ", ".join(lit(c) for c in sorted(CURRENCY_CODES))
        return f"(json_type({j}) = 'VARCHAR' and upper({text}) in ({codes}))"
    if p.check == CHOICE:
        choices = ", ".join(lit(c) for c in p.choices)
        return f"(json_type({j}) = 'VARCHAR' and {text} in ({choices}))"
    if p.check == OBJECT:
        return f"(json_type({j}) = 'OBJECT' and length({j}::varchar) <= {MAX_OBJECT_CHARS})"
    return f"(json_type({j}) = 'BOOLEAN')"


def _pii_name(name: str) -> str:
    """SQL: text ``name`` (a key) names a person field."""
    norm = f"regexp_replace(lower({name}), '[^a-z0-9]', '', 'g')"
    keys = ", ".join(lit(k) for k in PII_KEYS)
    parts = " or ".join(f"contains({norm}, {lit(part)})" for part in PII_KEY_PARTS)
    return f"({norm} in ({keys}) or {parts})"


def _phone(text: str) -> str:
    """SQL: ``text`` reads as a phone number (`PHONE_SHAPE`)."""
    digits = f"length(regexp_replace({text}, '[^0-9]', '', 'g'))"
    return (
        f"(regexp_full_match({text}, {lit(PHONE_SHAPE)}) and {digits} between 9 and 15 "
        f"and (starts_with(trim({text}), '+') or regexp_matches({text}, '[0-9][ ().-]+[0-9]')))"
    )


def _personal(v: str) -> str:
    """SQL: JSON value ``v`` of a customData key holds personal data: a text reading as
    an email or a phone number, or an object / list with such a text or a person key."""
    text, nested = f"({v} ->> '$')", f"({v}::varchar)"
    inside = (
        f"regexp_matches({nested}, {lit(READABLE_EMAIL)}) "
        f"or len(list_filter(regexp_extract_all({nested}, {lit(JSON_KEY)}, 1), "
        f"lambda n: {_pii_name('n')})) > 0 "
        f"or len(list_filter(regexp_extract_all({nested}, {lit(JSON_TEXT)}, 1), "
        f"lambda t: {_phone('t')})) > 0"
    )
    return (
        f"(case when json_type({v}) = 'VARCHAR' then {_readable(text)} "
        f"when json_type({v}) in ('OBJECT', 'ARRAY') then {inside} else false end)"
    )


def _dropped(p: Param, j: str) -> str:
    """SQL: the keys of object override ``j`` that are not sent: reserved (our fields),
    named like a person field, holding personal data, or unreadable as a key (empty, or
    a JSON path)."""
    reserved = ", ".join(lit(k) for k in p.reserved) or "null"
    drop = (
        f"k in ({reserved}) or k = '' or starts_with(k, '$') or starts_with(k, '/') "
        f"or {_pii_name('k')} or {_readable('k')} "
        f"or coalesce({_personal(f'({j} -> k)')}, false)"
    )
    return f"list_sort(list_filter(list_distinct(json_keys({j})), lambda k: {drop}))"


def _readable(text: str) -> str:
    """SQL: ``text`` reads as an email address or a phone number."""
    return f"(regexp_matches({text}, {lit(READABLE_EMAIL)}) or {_phone(text)})"


def _shown(key: str) -> str:
    """SQL: a dropped key as its warning names it (a key that is itself an email address
    or a phone number is not repeated)."""
    return f"(case when {_readable(key)} then '<personal>' else left({key}, 40) end)"


def _cleaned(p: Param, j: str) -> str:
    """SQL: object override ``j`` without its `_dropped` keys (NULL when none is left)."""
    patch = (
        f"to_json(map_from_entries(list_transform({_dropped(p, j)}, "
        "lambda k: {'k': k, 'v': 'null'::json})))"
    )
    return f"nullif(json_merge_patch({j}, {patch})::varchar, '{{}}')::json"


def _typed(p: Param, j: str) -> str:
    """SQL: the override's value as its SQL type (the JSON itself for an object)."""
    text = f"({j} ->> '$')"
    if p.check == NUMBER:
        return f"try_cast({text} as double)"
    if p.check == CURRENCY:
        return f"upper({text})"
    if p.check == FLAG:
        return f"try_cast({text} as boolean)"
    if p.check == OBJECT:
        return _cleaned(p, j)
    return f"trim({text})" if p.check == NAME else text


def override(destination: str, key: str, column: str = "platform_params") -> str:
    """SQL: the valid override ``platformParams.<destination>.<key>`` of the row, else NULL
    (``destination`` a constant of `PARAMS`)."""
    p = param(destination, key)
    if p is None:
        raise KeyError(f"{destination} has no platformParams key {key!r}")
    j = _raw(column, lit(destination), p)
    return f"(case when {_valid(p, j)} then {_typed(p, j)} end)"


def dynamic_override(key: str, destination: str, column: str = "platform_params") -> str:
    """SQL: as `override`, for the destination named by SQL ``destination`` (a column or
    ``$parameter``), for destinations whose ``key`` has the same check everywhere."""
    found = {(p.check, p.choices, p.pattern) for d in DESTINATIONS if (p := param(d, key))}
    if len(found) != 1:
        raise KeyError(f"platformParams key {key!r} is not checked alike everywhere")
    p = next(q for d in DESTINATIONS if (q := param(d, key)) is not None)
    takes = ", ".join(lit(d) for d in DESTINATIONS if param(d, key) is not None)
    j = _raw(column, destination, p)
    return f"(case when {destination} in ({takes}) and {_valid(p, j)} then {_typed(p, j)} end)"


def event_name_override(destination: str, column: str) -> str:
    """SQL: the valid override of the event name (or conversion action / rule ID) of the
    destination named by SQL ``destination``, for routing."""
    whens = " ".join(
        f"when {lit(d)} then {override(d, p.key, column)}" for d, p in EVENT_NAME_PARAMS.items()
    )
    generic = _raw(column, destination, DEFAULT_PARAMS[0])
    fallback = f"case when {_valid(DEFAULT_PARAMS[0], generic)} then trim({generic} ->> '$') end"
    return (
        f"(case when {column} is null then null "
        f"else case {destination} {whens} else {fallback} end end)"
    )


def warnings_sql(column: str = "e.platform_params") -> str:
    """SQL: the ``platformParams`` warnings of an event (an empty list when it has none)."""
    dests = ", ".join(lit(d) for d in DESTINATIONS)
    unknown_dests = (
        f"list_transform(list_filter(json_keys({column}), lambda d: d not in ({dests})), "
        "lambda d: 'platform_param_unknown:' || left(d, 40))"
    )
    per_destination = []
    for d in DESTINATIONS:
        own = f"({column} -> {lit(d)})"
        names = ", ".join(lit(n) for p in params_of(d) for n in p.names)
        unknown = (
            f"list_transform(list_filter(json_keys({own}), lambda k: k not in ({names})), "
            f"lambda k: {lit(f'platform_param_unknown:{d}.')} || left(k, 40))"
        )
        invalid, ignored = [], []
        for p in params_of(d):
            j = _raw(column, lit(d), p)
            invalid.append(
                f"case when {j} is not null and not {_valid(p, j)} "
                f"then {lit(f'platform_param_invalid:{d}.{p.key}')} end"
            )
            if p.check == OBJECT:
                ignored.append(
                    f"coalesce(case when {_valid(p, j)} then list_transform({_dropped(p, j)}, "
                    f"lambda k: {lit(f'platform_param_ignored:{d}.{p.key}.')} || {_shown('k')}) "
                    "end, [])"
                )
        checks = " || ".join(
            [unknown, f"list_filter([{', '.join(invalid)}], lambda w: w is not null)", *ignored]
        )
        # Only the destinations the event names are checked (most name one or two).
        per_destination.append(
            f"coalesce(case when {own} is null then [] "
            f"when json_type({own}) <> 'OBJECT' then [{lit(f'platform_param_invalid:{d}')}] "
            f"else {checks} end, [])"
        )
    values = " || ".join(per_destination)
    return (
        f"(case when {column} is null or json_type({column}) <> 'OBJECT' then []::varchar[] "
        f"else {unknown_dests} || {values} end)"
    )


def applied_sql(destination: str, column: str = "platform_params") -> str:
    """SQL over a payload build's ``src``: the ``overrides`` JSON of a row: per override
    applied, the ``platformParams`` key, the payload field it set and the field's value
    (a value in major units, as sent); NULL when none."""
    entries = []
    for p in params_of(destination):
        value = override(destination, p.key, column)
        shown = "value_major" if p.check == NUMBER else value
        entries.append(
            f"case when {value} is not null then {{'param': {lit(f'{destination}.{p.key}')}, "
            f"'field': {lit(p.field)}, 'value': to_json({shown})}} end"
        )
    listed = f"list_filter([{', '.join(entries)}], lambda x: x is not null)"
    return (
        f"(case when ({column} -> {lit(destination)}) is not null and len({listed}) > 0 "
        f"then to_json({listed}) end)"
    )


def merged_object(destination: str, key: str, built: str) -> str:
    """SQL: the JSON object ``built`` (our fields) with the valid object override
    ``platformParams.<destination>.<key>`` merged in, its reserved and personal keys
    already dropped (`_cleaned`): a reserved key never comes from the override, even
    where ``built`` leaves the field out (a NULL member is not in ``built``)."""
    extra = override(destination, key)
    return (
        f"(case when {extra} is null then {built} "
        f"else json_merge_patch({extra}, coalesce({built}, '{{}}'))::varchar end)"
    )

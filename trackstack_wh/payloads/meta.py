"""Meta Conversions API: one ``data[]`` element per event.

``event_time`` in Unix seconds, match keys SHA-256 in lists (em, ph without ``+``, fn,
ln, ge, db, ct, st, zp, country, external_id), client IP / user agent / fbc / fbp in
clear. Dedup: ``event_id`` + ``event_name`` (48 h). ``fbc`` is built from ``fbclid`` when
only the click ID was captured; an ``fbc`` whose click time is after the event is
dropped with a warning. Website events need a user agent and a source URL.
Limited data use goes in ``data_processing_options`` (`privacy`); ``platformParams.meta``
may set the event name, value, currency, ``action_source``, ``opt_out`` and add
``custom_data`` fields (`overrides`).
"""

from __future__ import annotations

from trackstack_wh.destinations.overrides import merged_object, override
from trackstack_wh.payloads import privacy
from trackstack_wh.payloads.jsonsql import obj, val
from trackstack_wh.payloads.spec import (
    EPOCH_S,
    ORDER_FIELDS,
    event_spec,
    no_match_keys,
    user_fields,
)

ACTION_SOURCE = (
    f"coalesce({override('meta', 'actionSource')}, "
    "case when page_url is not null then 'website' else 'system_generated' end)"
)
FBC_CANDIDATE = (
    "coalesce(fbc, case when fbclid is not null then 'fb.1.' || epoch_ms(ts) || '.' || fbclid end)"
)
FBC_CLICK_MS = (
    f"try_cast(regexp_extract({FBC_CANDIDATE}, '^fb\\.[0-9]+\\.([0-9]{{10,13}})\\.', 1) as bigint)"
)
FBC_VALID = f"{FBC_CLICK_MS} is not null and {FBC_CLICK_MS} <= epoch_ms(ts) + 60000"
"""An fbc is ``fb.<subdomain index>.<click time ms>.<fbclid>`` with the click before the event
(a minute of clock skew allowed)."""
FBC = f"case when {FBC_VALID} then {FBC_CANDIDATE} end"

PAYLOAD = obj(
    ("event_name", val("platform_event_name")),
    ("event_time", val(EPOCH_S)),
    ("event_id", val("event_id")),
    ("action_source", val(ACTION_SOURCE)),
    ("event_source_url", val("page_url")),
    ("referrer_url", val("referrer")),
    ("opt_out", val(override("meta", "optOut"))),
    *privacy.meta_members(),
    (
        "user_data",
        obj(
            *user_fields("meta", as_lists=True),
            ("client_ip_address", val("client_ip")),
            ("client_user_agent", val("user_agent")),
            ("fbc", val(FBC)),
            ("fbp", val("fbp")),
        ),
    ),
    (
        "custom_data",
        merged_object(
            "meta",
            "customData",
            obj(
                *ORDER_FIELDS,
                ("content_ids", val("content_ids")),
                ("content_name", val("content_name")),
                ("content_category", val("content_category")),
                ("num_items", val("num_items")),
            ),
        ),
    ),
)


SPEC = event_spec(
    "meta",
    PAYLOAD,
    max_age_days=7,
    future_seconds=60,
    gates=(
        ("missing_user_agent", f"{ACTION_SOURCE} = 'website' and user_agent is null"),
        ("missing_event_source_url", f"{ACTION_SOURCE} = 'website' and page_url is null"),
        no_match_keys(
            "email_sha256",
            "phone_digits_sha256",
            "external_id_lower_sha256",
            FBC,
            "fbp",
            ip_and_agent=True,
        ),
    ),
    warnings=(("invalid_fbc_dropped", f"{FBC_CANDIDATE} is not null and {FBC} is null"),),
)

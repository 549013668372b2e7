"""Snapchat Conversions API v3: one ``data[]`` entry per event.

``event_time`` in Unix seconds, ``event_id`` at the top level (the dedup key shared with
the Pixel), ``user_data`` lists of SHA-256 values (phone digits without ``+``; ``db`` a
single value) plus IP, user agent and ``sc_click_id`` in clear. Events older than 37 days
are not eligible; a match needs email, phone, or IP together with user agent.
Limited data use sets ``data_processing_options: ["LDU"]`` (`privacy`);
``platformParams.snapchat`` may set the event name (a v3 name), value, currency,
``action_source`` and add ``custom_data`` fields (`overrides`).
"""

from __future__ import annotations

from trackstack_wh.destinations.overrides import merged_object, override
from trackstack_wh.payloads import privacy
from trackstack_wh.payloads.jsonsql import obj, val
from trackstack_wh.payloads.spec import (
    EPOCH_S,
    IS_WEB,
    ORDER_FIELDS,
    event_spec,
    no_match_keys,
    user_fields,
)

PAYLOAD = obj(
    ("event_name", val("platform_event_name")),
    ("event_time", val(EPOCH_S)),
    ("event_id", val("event_id")),
    (
        "action_source",
        val(
            f"coalesce({override('snapchat', 'actionSource')}, "
            f"case when {IS_WEB} then 'WEB' else 'OFFLINE' end)"
        ),
    ),
    ("event_source_url", val("page_url")),
    *privacy.snapchat_members(),
    (
        "user_data",
        obj(
            *user_fields("snapchat", as_lists=True, scalar=("db",)),
            ("client_ip_address", val("client_ip")),
            ("client_user_agent", val("user_agent")),
            ("sc_click_id", val("sc_cid")),
        ),
    ),
    (
        "custom_data",
        merged_object(
            "snapchat",
            "customData",
            obj(
                *ORDER_FIELDS,
                ("content_ids", val("content_ids")),
                ("num_items", val("num_items")),
            ),
        ),
    ),
)


SPEC = event_spec(
    "snapchat",
    PAYLOAD,
    max_age_days=37,
    gates=(no_match_keys("email_sha256", "phone_digits_sha256", ip_and_agent=True),),
)

"""Reddit Conversions API v3: one ``data.events[]`` entry per event.

``event_at`` in epoch milliseconds (at most 7 days old, 5 minutes ahead); ``type`` a v3
``tracking_type`` or ``CUSTOM`` with ``custom_event_name``; ``metadata.conversion_id``
the dedup key (the event ID, as the Pixel sends it); ``user`` with SHA-256 email (Reddit's
canonical form), phone (E.164), external ID and IP, user agent in clear; ``click_id``
the ``rdt_cid``. Limited data use sets ``user.data_processing_options`` (`privacy`);
``platformParams.reddit`` may set the event name, value, currency and ``action_source``
(`overrides`).
"""

from __future__ import annotations

from trackstack_wh.destinations.overrides import override
from trackstack_wh.payloads import privacy
from trackstack_wh.payloads.jsonsql import obj, val
from trackstack_wh.payloads.spec import (
    CURRENCY,
    EPOCH_MS,
    IS_WEB,
    event_spec,
    no_match_keys,
    user_fields,
)
from trackstack_wh.sql import lit

TRACKING_TYPES = (
    "PAGE_VISIT", "VIEW_CONTENT", "SEARCH", "ADD_TO_CART", "ADD_TO_WISHLIST", "LEAD",
    "PURCHASE", "SIGN_UP",
)  # fmt: skip
IS_STANDARD = f"platform_event_name in ({', '.join(lit(t) for t in TRACKING_TYPES)})"

PAYLOAD = obj(
    ("event_at", val(EPOCH_MS)),
    (
        "action_source",
        val(
            f"coalesce({override('reddit', 'actionSource')}, "
            f"case when {IS_WEB} then 'WEBSITE' else 'OTHER' end)"
        ),
    ),
    ("event_source_url", val("page_url")),
    ("click_id", val("rdt_cid")),
    (
        "type",
        obj(
            (
                "tracking_type",
                val(f"case when {IS_STANDARD} then platform_event_name else 'CUSTOM' end"),
            ),
            ("custom_event_name", val(f"case when not {IS_STANDARD} then platform_event_name end")),
        ),
    ),
    (
        "metadata",
        obj(
            ("conversion_id", val("event_id")),
            ("currency", val(CURRENCY)),
            ("value", val("value_major")),
            ("item_count", val("num_items")),
        ),
    ),
    (
        "user",
        obj(
            *user_fields("reddit", as_lists=False),
            ("user_agent", val("user_agent")),
            *privacy.reddit_members(),
        ),
    ),
)


SPEC = event_spec(
    "reddit",
    PAYLOAD,
    max_age_days=7,
    gates=(
        no_match_keys(
            "rdt_cid",
            "email_reddit_sha256",
            "phone_e164_sha256",
            "external_id_sha256",
            "client_ip_sha256",
        ),
    ),
)

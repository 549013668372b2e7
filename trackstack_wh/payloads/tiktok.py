"""TikTok Events API 2.0: one ``data[]`` entry per event (``event_source: web``).

``event_time`` in Unix seconds; ``user`` has SHA-256 email, phone (E.164 with ``+``),
external ID, names and zip, and in clear ttclid, ttp, IP, user agent, city, state and
country. Dedup: ``event`` + ``event_id`` (48 h). The web age limit is unconfirmed:
28 days by default (the documented offline limit), ``max_event_age_days`` to change it.
Limited data use sets ``limited_data_use: true`` (`privacy`); ``platformParams.tiktok``
may set the event name, value, currency and add ``properties`` fields (`overrides`).
"""

from __future__ import annotations

from trackstack_wh.destinations.overrides import merged_object
from trackstack_wh.payloads import privacy
from trackstack_wh.payloads.jsonsql import obj, val
from trackstack_wh.payloads.spec import (
    EPOCH_S,
    ORDER_FIELDS,
    event_spec,
    no_match_keys,
    user_fields,
)

PAYLOAD = obj(
    ("event", val("platform_event_name")),
    ("event_time", val(EPOCH_S)),
    ("event_id", val("event_id")),
    *privacy.tiktok_members(),
    (
        "user",
        obj(
            *user_fields("tiktok", as_lists=False),
            ("ttclid", val("ttclid")),
            ("ttp", val("ttp")),
            ("ip", val("client_ip")),
            ("user_agent", val("user_agent")),
        ),
    ),
    (
        "properties",
        merged_object(
            "tiktok",
            "customData",
            obj(
                *ORDER_FIELDS,
                ("num_items", val("num_items")),
                ("description", val("content_name")),
            ),
        ),
    ),
    ("page", obj(("url", val("page_url")), ("referrer", val("referrer")))),
)


SPEC = event_spec(
    "tiktok",
    PAYLOAD,
    max_age_days=28,
    gates=(
        no_match_keys(
            "email_sha256",
            "phone_e164_sha256",
            "external_id_lower_sha256",
            "ttclid",
            "ttp",
            ip_and_agent=True,
        ),
    ),
)

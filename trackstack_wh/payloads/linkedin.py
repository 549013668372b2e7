"""LinkedIn Conversions API: one ``elements[]`` entry per event (BATCH_CREATE).

``conversionHappenedAt`` in epoch milliseconds, ``conversionValue.amount`` a decimal
string, ``eventId`` the dedup key. ``user.userIds`` holds the SHA-256 email and the
``li_fat_id`` click ID in clear (one of them is required); ``userInfo`` (plain first and
last name, company, country) only when both names are known, as LinkedIn requires.
The conversion rule comes from the config (or ``platformParams.linkedin.conversionRuleId``);
``platformParams.linkedin`` may also set the value and currency (`overrides`). LinkedIn
documents no limited-data-use flag: only our consent gate applies.
"""

from __future__ import annotations

from trackstack_wh.payloads.jsonsql import const, items, obj, val
from trackstack_wh.payloads.spec import (
    AMOUNT_TEXT,
    CURRENCY,
    EPOCH_MS,
    event_spec,
    no_match_keys,
)

CONVERSION = (
    "case when starts_with(platform_event_name, 'urn:') then platform_event_name "
    "else 'urn:lla:llaPartnerConversion:' || platform_event_name end"
)
FIRST_NAME = "nullif(trim(first_name), '')"
LAST_NAME = "nullif(trim(last_name), '')"

PAYLOAD = obj(
    ("conversion", val(CONVERSION)),
    ("conversionHappenedAt", val(EPOCH_MS)),
    (
        "conversionValue",
        "case when value_major is not null then "
        + obj(("currencyCode", val(CURRENCY)), ("amount", val(AMOUNT_TEXT)))
        + " end",
    ),
    ("eventId", val("event_id")),
    (
        "user",
        obj(
            (
                "userIds",
                "coalesce("
                + items(
                    "case when email_sha256 is not null then "
                    + obj(("idType", const("SHA256_EMAIL")), ("idValue", val("email_sha256")))
                    + " end",
                    "case when li_fat_id is not null then "
                    + obj(
                        ("idType", const("LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID")),
                        ("idValue", val("li_fat_id")),
                    )
                    + " end",
                )
                + ", '[]')",
            ),
            (
                "userInfo",
                f"case when {FIRST_NAME} is not null and {LAST_NAME} is not null then "
                + obj(
                    ("firstName", val(FIRST_NAME)),
                    ("lastName", val(LAST_NAME)),
                    ("companyName", val("nullif(trim(company_name), '')")),
                    ("countryCode", val("upper(n_country)")),
                )
                + " end",
            ),
            ("externalIds", val("case when external_id is not null then [trim(external_id)] end")),
        ),
    ),
)


SPEC = event_spec(
    "linkedin",
    PAYLOAD,
    max_age_days=90,
    gates=(no_match_keys("email_sha256", "li_fat_id"),),
)

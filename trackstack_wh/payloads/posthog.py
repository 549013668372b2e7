"""PostHog: every routed event as a captured event, and person / group profiles.

- ``event`` (``/batch/`` ``batch[]``): ``event`` (canonical name, ``$pageview`` for
  PageView, or the configured one), ``distinct_id`` (`DISTINCT_ID`), ``timestamp`` ISO
  8601 UTC, ``uuid`` derived from the event ID (`uuid_of`: PostHog drops a second event
  with the same uuid), and ``properties``: ``$current_url``, ``$referrer``,
  ``$raw_user_agent``, value (major units, only with its currency) and currency, plan,
  transaction ID and company, ``$groups`` when ``company_group_type`` is set, and
  ``$process_person_profile: false`` when ``person_profiles = false``. An event with
  no ID at all (no user ID, no usable email, no session) is skipped ``no_distinct_id``.
- ``identify`` (the same endpoint): rows no event drives, built by `posthog_profiles`
  (``$identify`` per identify record, with ``$set`` traits and ``$anon_distinct_id``;
  ``$identify`` merging a session whose anonymous events later name a user; with groups
  on, one ``$groupidentify`` per company).
"""

from __future__ import annotations

from trackstack_wh.config import Destination, PostHogDestination
from trackstack_wh.payloads.jsonsql import literal_obj, obj, val
from trackstack_wh.payloads.posthog_profiles import LIB, records_sql, uuid_of
from trackstack_wh.payloads.spec import (
    CURRENCY,
    ISO_UTC,
    PLAIN_EMAIL,
    VALUE_WITHOUT_CURRENCY,
    PayloadKind,
    PayloadSpec,
)

UUID = uuid_of("event_id", "event")
USER_ID = "nullif(trim(coalesce(external_id, user_id)), '')"
EMAIL_ID = (
    f"case $email_distinct_id when 'sha256' then email_sha256 when 'plain' then {PLAIN_EMAIL} end"
)
ANONYMOUS_ID = "nullif(trim(session_id), '')"
DISTINCT_ID = f"coalesce({USER_ID}, {EMAIL_ID}, {ANONYMOUS_ID})"
"""externalId / userId, else the email (per ``email_distinct_id``), else the session:
the anonymous ID an identify record later merges into the person."""
COMPANY_KEY = "coalesce(nullif(lower(trim(company_domain)), ''), nullif(trim(company_name), ''))"
"""A company's group key: its domain (lower case), else its name."""
GROUPS = (
    f"case when $company_group_type <> '' and {COMPANY_KEY} is not null then "
    + obj(("$company_group_type", val(COMPANY_KEY)))
    + " end"
)

EVENT = literal_obj(
    ("event", val("platform_event_name")),
    ("distinct_id", val(DISTINCT_ID)),
    ("timestamp", val(ISO_UTC)),
    ("uuid", val(UUID)),
    (
        "properties",
        literal_obj(
            ("$current_url", val("page_url")),
            ("$referrer", val("referrer")),
            ("$raw_user_agent", val("user_agent")),
            ("$groups", GROUPS),
            ("$process_person_profile", "case when not $person_profiles then 'false' end"),
            ("$lib", val(f"'{LIB}'")),
            ("trackstack_event", val("event_name")),
            ("event_id", val("event_id")),
            ("value", val("case when currency is not null then value_major end")),
            ("currency", val(CURRENCY)),
            ("plan", val("plan")),
            ("transaction_id", val("coalesce(transaction_id, order_id)")),
            ("company_domain", val("company_domain")),
            ("company_name", val("company_name")),
        ),
    ),
)


def spec(dest: Destination) -> PayloadSpec:
    """PostHog's payload spec with the project's settings bound as parameters (and, when
    person profiles are on, the identify records' INSERT)."""
    project = PostHogDestination.of(dest)
    return PayloadSpec(
        destination="posthog",
        ad_platform=False,
        params={
            "email_distinct_id": project.email_distinct_id,
            "person_profiles": project.person_profiles,
            "company_group_type": project.company_group_type,
        },
        kinds=(
            PayloadKind(
                name="event",
                payload=EVENT,
                dedup_key=UUID,
                gates=(("no_distinct_id", f"({DISTINCT_ID}) is null"),),
                warnings=(("value_dropped_missing_currency", VALUE_WITHOUT_CURRENCY),),
            ),
        ),
        records=records_sql(
            persons=project.person_profiles, groups=bool(project.company_group_type)
        ),
    )

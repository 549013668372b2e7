from collections import Counter

from trackstack_wh.contract import (
    CANONICAL_EVENTS,
    CLICK_ID_FIELDS,
    EVENTS_BY_NAME,
    FIELDS,
    FIELDS_BY_NAME,
    Route,
    Stage,
    is_extension_name,
)
from trackstack_wh.contract.ddl import events_ddl
from trackstack_wh.people import people_ddl
from trackstack_wh.sql import load


def test_66_canonical_events_with_seed_stage_counts() -> None:
    assert len(CANONICAL_EVENTS) == 66
    assert len(EVENTS_BY_NAME) == 66
    counts = Counter(e.stage for e in CANONICAL_EVENTS)
    assert [counts[s] for s in Stage] == [6, 8, 7, 11, 12, 22]


def test_default_routing_keeps_refunds_churn_and_extensions_off_ad_platforms() -> None:
    no_ads = {e.name for e in CANONICAL_EVENTS if Route.ADS not in e.default_routes}
    product = {e.name for e in CANONICAL_EVENTS if e.stage is Stage.PRODUCT}
    assert no_ads == product | {"Refund", "Chargeback", "Churned"}
    assert all(
        Route.CRM in e.default_routes and Route.WAREHOUSE in e.default_routes
        for e in CANONICAL_EVENTS
    )


def test_every_seed_003_field_and_click_id_is_in_the_contract() -> None:
    seed_fields = [
        "event",
        "eventId",
        "ts",
        "email",
        "phone",
        "firstName",
        "lastName",
        "city",
        "state",
        "zip",
        "country",
        "externalId",
        "value",
        "currency",
        "transactionId",
        "orderId",
        "plan",
        "previousPlan",
        "subscriptionId",
        "refundId",
        "leadId",
        "companyId",
        "companyName",
        "companyDomain",
        "accountName",
        "crmId",
        "opportunityId",
        "opportunityStage",
        "pipelineStage",
        "salesOwner",
        "pageUrl",
        "pageTitle",
        "referrer",
        "contentType",
        "contentId",
        "contentName",
        "contentCategory",
        "contentIds",
        "feature",
        "demoType",
        "actionType",
        "paymentMethod",
        "leadEventSource",
        "numItems",
        "platformParams",
    ]
    assert set(seed_fields) <= set(FIELDS_BY_NAME)
    click_ids = {
        "fbclid",
        "fbc",
        "fbp",
        "gclid",
        "gbraid",
        "wbraid",
        "li_fat_id",
        "ttclid",
        "ttp",
        "ScCid",
        "rdt_cid",
        "msclkid",
        "twclid",
    }
    assert {f.name for f in CLICK_ID_FIELDS} == click_ids
    assert {"clientIp", "userAgent", "consent", "projectKey"} <= set(FIELDS_BY_NAME)
    assert len({f.column for f in FIELDS}) == len(FIELDS)


def test_extension_names_must_be_pascal_case() -> None:
    assert is_extension_name("ButtonClick")
    assert not is_extension_name("button_click")
    assert not is_extension_name("not a real event")


def test_committed_events_ddl_matches_the_contract() -> None:
    assert load("ddl/002_events") == events_ddl(), (
        "regenerate: python -m trackstack_wh.contract.ddl > sql/ddl/002_events.sql"
    )


def test_committed_people_ddl_matches_the_person_graph_rules() -> None:
    assert load("ddl/007_people") == people_ddl(), (
        "regenerate: python -m trackstack_wh.people > sql/ddl/007_people.sql"
    )

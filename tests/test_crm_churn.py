"""CRM churn and refunds: Salesforce ``Churned`` updates the Account (and/or Contact) by
external ID with the configured status and date, Refund/Chargeback still move the
Opportunity; HubSpot ``Churned`` stamps the churn property on the contact and the
company (a batch update, never an upsert). End to end against the emulator served
in-process: the churn lands on the Account, contact and company the CRMs already have;
a churn naming an unknown Account or company creates nothing (the row is rejected
``record_not_found``), one naming an unknown HubSpot contact creates it by its email."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import httpx

import trackstack_wh as tw
from tests.helpers import event_line, write_lines
from trackstack_lab.emulator.app import create_app
from trackstack_lab.emulator.process import emulator_secrets
from trackstack_wh.config import EMULATOR_TARGET

AS_OF = dt.datetime(2026, 10, 28, 12, 0, tzinfo=dt.UTC)
T = AS_OF - dt.timedelta(days=1)
CONFIG = """
[workspace]
value_unit = "minor"

[destinations.salesforce]
enabled = true
instance_url = "https://acme.my.salesforce.com"
access_token_env = "TRACKSTACK_CHURN_TEST_SF_TOKEN"
events = ["Purchase", "Refund", "Churned", "SignUp"]
churn_object = "both"
churn_status_field = "Customer_Status__c"
churn_status = "Former Customer"

[destinations.hubspot]
enabled = true
portal_id = "4455667"
access_token_env = "TRACKSTACK_CHURN_TEST_HS_TOKEN"
events = ["Purchase", "Refund", "Churned"]
"""
PERSON = {"email": "Pat@Acme.example", "firstName": "Pat", "lastName": "Lee",
          "companyName": "Acme", "companyDomain": "acme.example"}  # fmt: skip


def events() -> list[str]:
    return [
        event_line("SignUp", "signup", T - dt.timedelta(days=9), **PERSON),
        event_line("Purchase", "buy", T - dt.timedelta(days=5), value=9900, currency="USD",
                   transactionId="ord_1", companyId="co_1", **PERSON),
        event_line("Refund", "refund", T - dt.timedelta(days=2), value=9900, currency="USD",
                   transactionId="ord_1", refundId="rf_1", **PERSON),
        event_line("Churned", "churn", T, companyId="co_1", **PERSON),
        event_line("Churned", "stranger", T, companyId="co_404", email="x@nowhere.example"),
        event_line("Churned", "stranger_before", T - dt.timedelta(hours=1),
                   email="x@nowhere.example"),
        event_line("Churned", "anonymous", T, email="y@nowhere.example"),
    ]  # fmt: skip


def built(tmp_path: Path) -> tw.Warehouse:
    config = tmp_path / "trackstack.toml"
    config.write_text(CONFIG)
    wh = tw.connect(tmp_path / "wh.duckdb", config=config)
    wh.ingest(write_lines(tmp_path / "events.ndjson", events()))
    wh.build_payloads(as_of=AS_OF)
    return wh


def rows(wh: tw.Warehouse, destination: str) -> dict[tuple[str, str], dict[str, Any]]:
    frame = wh.sql(
        f"select event_id, request_kind, status, skip_reason, payload::varchar as payload "
        f"from {'crm_' + destination}"
    )
    return {
        (r["event_id"], r["request_kind"]): {
            **r,
            "body": json.loads(r["payload"]) if r["payload"] else None,
        }
        for r in frame.to_dicts()
    }


def test_salesforce_churn_updates_account_and_contact_not_a_lead(tmp_path: Path) -> None:
    with built(tmp_path) as wh:
        sf = rows(wh, "salesforce")
    assert ("churn", "lead") not in sf
    assert sf[("churn", "account")]["body"] == {
        "attributes": {"type": "Account"},
        "TrackStack_Account_Id__c": "co_1",
        "Customer_Status__c": "Former Customer",
        "TrackStack_Churn_Date__c": "2026-10-27",
    }
    assert sf[("churn", "contact")]["body"] == {
        "attributes": {"type": "Contact"},
        "TrackStack_Email__c": "pat@acme.example",
        "Customer_Status__c": "Former Customer",
        "TrackStack_Churn_Date__c": "2026-10-27",
    }
    assert sf[("anonymous", "account")]["skip_reason"] == "missing_company_id"
    assert sf[("anonymous", "contact")]["status"] == "ready"
    refund = sf[("refund", "opportunity")]["body"]
    assert refund["TrackStack_Order_Id__c"] == "ord_1" and refund["StageName"] == "Closed Lost"
    assert sf[("signup", "lead")]["status"] == "ready"


def test_account_key_and_churn_object_are_configurable(tmp_path: Path) -> None:
    config = CONFIG.replace('churn_object = "both"', 'churn_object = "account"\n'
                            'account_key = "company_domain"\n'
                            'account_external_id_field = "Domain__c"')  # fmt: skip
    (tmp_path / "trackstack.toml").write_text(config)
    with tw.connect(tmp_path / "wh.duckdb", config=tmp_path / "trackstack.toml") as wh:
        wh.ingest(write_lines(tmp_path / "events.ndjson", events()))
        wh.build_payloads(as_of=AS_OF)
        sf = rows(wh, "salesforce")
    assert sf[("churn", "account")]["body"]["Domain__c"] == "acme.example"
    assert not any(kind == "contact" for _, kind in sf)


def test_hubspot_churn_sets_the_property_on_contact_and_company(tmp_path: Path) -> None:
    with built(tmp_path) as wh:
        hs = rows(wh, "hubspot")
    stamp = {"trackstack_churned_at": "2026-10-27T12:00:00.000Z"}
    assert hs[("churn", "contact")]["body"] == {
        "idProperty": "email",
        "id": "pat@acme.example",
        "properties": stamp,
    }
    assert hs[("churn", "company")]["body"] == {
        "idProperty": "trackstack_company_id",
        "id": "co_1",
        "properties": stamp,
    }
    assert hs[("anonymous", "company")]["skip_reason"] == "missing_company_id"
    assert hs[("refund", "deal")]["body"]["properties"]["dealstage"] == "closedlost"


def test_hubspot_churn_updates_companies_and_upserts_contacts(tmp_path: Path) -> None:
    with built(tmp_path) as wh:
        urls = {r.kind: r.url for r in wh.preview("hubspot")}
    assert urls["contact"] == "https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert"
    assert urls["company"] == "https://api.hubapi.com/crm/v3/objects/companies/batch/update"
    assert urls["deal"] == "https://api.hubapi.com/crm/v3/objects/deals/batch/upsert"


def test_a_push_marks_the_existing_account_churned_in_the_emulator(tmp_path: Path) -> None:
    app = create_app(AS_OF)
    org = app.states["salesforce"]
    org.objects.add(("Account", "co_1"))
    org.records[("Account", "co_1")] = {"TrackStack_Account_Id__c": "co_1", "Name": "Acme"}
    portal = app.states["hubspot"]
    portal.objects |= {
        ("company", "trackstack_company_id=co_1"),
        ("contact", "email=pat@acme.example"),
    }
    portal.records[("company", "trackstack_company_id=co_1")] = {"name": "Acme"}
    with built(tmp_path) as wh, tempfile.TemporaryDirectory() as keys:
        pointed = wh.config.pointed_at("http://emulator.test", target=EMULATOR_TARGET)
        wh.config = pointed.with_secrets(emulator_secrets(wh.config, Path(keys)))
        report = wh.push(["salesforce", "hubspot"], as_of=AS_OF,
                         transport=httpx.ASGITransport(app=app))  # fmt: skip
        outcomes = dict(
            wh.sql(
                "select event_id || '/' || request_kind, outcome from delivery_status "
                "where destination = 'salesforce'"
            ).rows()
        )
        hubspot = {
            f"{r['event_id']}/{r['request_kind']}": r
            for r in wh.sql(
                "select event_id, request_kind, outcome, error_class, error_code, error_message "
                "from delivery_status where destination = 'hubspot'"
            ).to_dicts()
        }
        stranger = wh.sql(
            "select error_class, error_code, error_message from delivery_status "
            "where destination = 'salesforce' and event_id = 'stranger' "
            "and request_kind = 'account'"
        ).to_dicts()[0]
        again = wh.push(["salesforce", "hubspot"], as_of=AS_OF,
                        transport=httpx.ASGITransport(app=app))  # fmt: skip
    assert report.ok, report
    assert org.records[("Account", "co_1")] == {
        "TrackStack_Account_Id__c": "co_1",
        "Name": "Acme",
        "Customer_Status__c": "Former Customer",
        "TrackStack_Churn_Date__c": "2026-10-27",
    }
    assert outcomes["churn/account"] == "delivered"
    assert outcomes["stranger/account"] == "rejected"  # no such Account: nothing created
    assert ("Account", "co_404") not in org.objects
    assert stranger["error_class"] == "permanent" and stranger["error_code"] == "record_not_found"
    assert stranger["error_message"].startswith("REQUIRED_FIELD_MISSING: ")
    assert org.records[("Opportunity", "ord_1")]["StageName"] == "Closed Lost"
    stamp = {"trackstack_churned_at": "2026-10-27T12:00:00.000Z"}
    company = portal.records[("company", "trackstack_company_id=co_1")]
    assert company == {"name": "Acme", **stamp}
    assert portal.records[("contact", "email=pat@acme.example")] == stamp
    assert hubspot["churn/company"]["outcome"] == hubspot["churn/contact"]["outcome"] == "delivered"
    # An unknown company is rejected, never created (an upsert would make a nameless
    # company); a contact is its email, so an unknown one is created with the stamp.
    unknown = hubspot["stranger/company"]
    assert (unknown["outcome"], unknown["error_class"]) == ("rejected", "permanent")
    assert unknown["error_code"] == "record_not_found"
    assert unknown["error_message"].startswith("OBJECT_NOT_FOUND: Could not get some")
    assert ("company", "trackstack_company_id=co_404") not in portal.objects
    assert ("company", "trackstack_company_id=co_404") not in portal.records
    assert portal.records[("contact", "email=x@nowhere.example")] == stamp
    assert hubspot["stranger/contact"]["outcome"] == "delivered"
    assert report["hubspot"].rejected == 1 and not report["hubspot"].halted
    assert sum(d.delivered for d in again.destinations) == 0

"""The whole Dagster graph, in process, against a live platform emulator on loopback."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest

import trackstack_wh as tw
from dagster_defs.defs.capi.assets import delivery_asset
from dagster_defs.defs.capi.jobs import CRM_UPLOAD_EVENTS, crm_refund_churn_upload
from dagster_defs.defs.reports.assets import funnel_daily
from dagster_defs.defs.reports.html_report import html_report
from dagster_defs.defs.warehouse.assets import event_quality
from dagster_defs.lib.resources import (
    FoldersResource,
    PlatformsResource,
    WarehouseResource,
    WorkspaceResource,
)
from tests.dagster_support import (
    CLOCK,
    CONFIG,
    DAYS,
    all_assets,
    check_evaluations,
    make_inbox,
    materialized,
    partitioned,
    resources,
    unpartitioned,
    write_config,
)
from trackstack_lab.emulator import EmulatorProcess
from trackstack_wh.payloads import PAYLOAD_TABLES

PAYLOAD_TABLES_SQL = (
    "capi_meta", "capi_google_ads", "capi_linkedin", "capi_tiktok", "capi_snapchat",
    "capi_reddit", "crm_hubspot", "crm_salesforce", "analytics_posthog",
)  # fmt: skip


def day_range(first: str, last: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(clock=CLOCK) as emu:
        yield emu


@pytest.fixture
def setup(tmp_path: Path, emulator: EmulatorProcess) -> tuple[Path, dict]:
    emulator.reset()
    emulator.set_clock(CLOCK)
    make_inbox(tmp_path)
    return tmp_path, resources(tmp_path, emulator.base_url)


def fingerprint(db: Path) -> dict[str, object]:
    """Row counts and a content hash of every table a partition run writes."""
    conn = duckdb.connect(str(db), read_only=True)
    try:
        out: dict[str, object] = {}
        for table in (*PAYLOAD_TABLES_SQL, "funnel_daily", "quality_daily",
                      "reconciliation_daily", "delivery_log", "events"):  # fmt: skip
            out[table] = conn.execute(
                f"select count(*), sum(hash(columns(* exclude (built_at))::varchar)) from {table}"
                if table.startswith(("capi_", "crm_"))
                else f"select count(*) from {table}"
            ).fetchall()[0]
        return out
    finally:
        conn.close()


def test_whole_graph_for_two_days_with_every_check_green(
    setup: tuple[Path, dict], emulator: EmulatorProcess
) -> None:
    tmp_path, res = setup
    assets = all_assets()
    first = dg.materialize(unpartitioned(assets), resources=res)
    assert first.success
    second = dg.materialize(partitioned(assets), resources=res, tags=day_range(*DAYS))
    assert second.success

    evaluations = {**check_evaluations(first), **check_evaluations(second)}
    assert len(evaluations) == 3 + 2 * len(PAYLOAD_TABLES) + 1
    assert all(passed for passed, _ in evaluations.values()), evaluations
    ingest_meta = first.get_asset_materialization_events()[0].materialization.metadata
    assert ingest_meta["files_loaded"].value == 3
    assert ingest_meta["rows_in"].value == (
        ingest_meta["rows_valid"].value
        + ingest_meta["rows_quarantined"].value
        + ingest_meta["rows_duplicate"].value
    )

    with tw.connect(tmp_path / "wh.duckdb", read_only=True, config=CONFIG) as wh:
        delivered = wh.sql(
            "select s.destination, min(e.event_date) as first, max(e.event_date) as last, "
            "count(*) as n from delivery_status s join events e using (event_id) "
            "where s.outcome = 'delivered' group by 1 order by 1"
        )
        assert set(delivered["destination"]) == set(PAYLOAD_TABLES)
        assert delivered["first"].min() == dt.date.fromisoformat(DAYS[0])
        assert delivered["last"].max() == dt.date.fromisoformat(DAYS[1])
        not_delivered = wh.sql(
            "select count(*) from delivery_status where outcome not in ('delivered', 'superseded')"
        ).item()
        assert not_delivered == 0
        read_back = wh.sql(
            "select destination, status from diagnostics_runs group by all order by 1"
        ).rows()
        assert read_back == [("google_ads", "ok"), ("meta", "ok")]
        assert wh.diagnostics("meta").filter(metric="event_match_quality").height > 0
        funnel_days = wh.sql("select distinct day from funnel_daily order by 1")["day"]
        assert [d.isoformat() for d in funnel_days] == list(DAYS)
        per_day = dict(
            wh.sql(
                "select event_date, count(*) from events where event_date between $a and $b "
                "group by 1",
                a=DAYS[0],
                b=DAYS[1],
            ).iter_rows()
        )
    exported = duckdb.sql(
        f"select event_date, count(*) from read_parquet('{tmp_path / 'export'}/events/*/*.parquet',"
        " hive_partitioning = true) group by 1"
    ).fetchall()
    assert dict(exported) == per_day

    # A second run of the same days changes nothing and sends nothing again.
    before, sent = fingerprint(tmp_path / "wh.duckdb"), emulator.stats()
    again = dg.materialize(partitioned(assets), resources=res, tags=day_range(*DAYS))
    assert again.success
    assert fingerprint(tmp_path / "wh.duckdb") == before
    assert emulator.stats() == sent


def test_backfill_of_old_days_skips_events_past_each_platforms_age_limit(
    setup: tuple[Path, dict], emulator: EmulatorProcess
) -> None:
    tmp_path, _ = setup
    late = "2026-11-23T12:00:00+00:00"  # 7 weeks after the days below
    emulator.set_clock(late)
    res = resources(tmp_path, emulator.base_url, clock=late)
    assets = all_assets()
    assert dg.materialize(unpartitioned(assets), resources=res).success
    result = dg.materialize(
        partitioned(assets), resources=res, tags=day_range("2026-10-01", "2026-10-02")
    )
    assert result.success
    assert all(passed for passed, _ in check_evaluations(result).values())
    with tw.connect(tmp_path / "wh.duckdb", read_only=True, config=CONFIG) as wh:
        meta = wh.sql("select status, skip_reason, count(*) as n from capi_meta group by all")
        in_days = wh.sql(
            "select count(*) from capi_meta where event_time >= '2026-10-01' "
            "and event_time < '2026-10-03'"
        ).item()
        assert in_days > 0
        assert meta.filter(status="ready").height == 0
        assert set(meta["skip_reason"].drop_nulls()) == {"too_old"}
        outcomes = wh.sql("select destination, outcome, count(*) from delivery_status group by all")
        assert set(outcomes["outcome"]) <= {"delivered", "superseded"}  # Google, CRMs: in limits
        assert "meta" not in set(outcomes["destination"])


def test_rows_built_in_time_but_pushed_too_late_are_rejected_unsent(
    setup: tuple[Path, dict], emulator: EmulatorProcess
) -> None:
    tmp_path, res = setup
    assets = all_assets()
    assert dg.materialize(unpartitioned(assets), resources=res).success
    payloads = [a for a in assets if a.group_names_by_key and "capi_payloads" in
                set(a.group_names_by_key.values())]  # fmt: skip
    assert dg.materialize(payloads, resources=res, tags=day_range(*DAYS)).success
    late = "2026-11-23T12:00:00+00:00"
    emulator.set_clock(late)
    late_res = resources(tmp_path, emulator.base_url, clock=late)
    delivery = [a for a in partitioned(assets) if a not in payloads]
    result = dg.materialize(delivery, resources=late_res, tags=day_range(*DAYS))
    assert result.success
    evaluations = check_evaluations(result)
    assert evaluations["delivery_meta:success_rate"] == (True, "WARN")
    assert emulator.stats()["meta"]["requests"] == 0
    with tw.connect(tmp_path / "wh.duckdb", read_only=True, config=CONFIG) as wh:
        meta = wh.sql(
            "select outcome, error_class, count(*) as n from delivery_status "
            "where destination = 'meta' group by all"
        )
        assert meta.rows() == [("rejected", "too_old", meta["n"][0])]


def test_crm_refund_churn_upload_sends_only_refund_chargeback_and_churned(
    setup: tuple[Path, dict], emulator: EmulatorProcess
) -> None:
    tmp_path, res = setup
    assets = all_assets()
    assert dg.materialize(unpartitioned(assets), resources=res).success
    job = dg.Definitions(
        assets=assets, jobs=[crm_refund_churn_upload], resources=res
    ).resolve_job_def("crm_refund_churn_upload")
    result = job.execute_in_process(tags=day_range("2026-10-01", "2026-10-21"))
    assert result.success
    with tw.connect(tmp_path / "wh.duckdb", read_only=True, config=CONFIG) as wh:
        sent = wh.sql(
            "select distinct s.destination, e.event_name from delivery_status s "
            "join events e using (event_id)"
        )
        refunds = wh.sql(
            "select count(*) from events where event_name in ('Refund', 'Chargeback', "
            "'Churned') and event_date between '2026-10-01' and '2026-10-21'"
        ).item()
    assert refunds > 0
    assert set(sent["destination"]) == {"hubspot", "salesforce"}
    assert set(sent["event_name"]) <= set(CRM_UPLOAD_EVENTS)
    assert emulator.stats()["meta"]["requests"] == 0


def test_assets_called_directly_on_a_temporary_warehouse(tmp_path: Path) -> None:
    db = tmp_path / "direct.duckdb"
    with tw.connect(db, config=CONFIG) as wh:
        wh.ingest("data/samples")
    warehouse = WarehouseResource(database=str(db))
    workspace = WorkspaceResource(config_path=str(CONFIG), clock=CLOCK)
    quality = event_quality(warehouse=warehouse, workspace=workspace)
    assert quality.metadata["rebuilt"].value is True
    assert quality.metadata["dagster/row_count"].value > 0
    again = event_quality(warehouse=warehouse, workspace=workspace)
    assert again.metadata["rebuilt"].value is False  # nothing changed, nothing rebuilt

    folders = FoldersResource(export=str(tmp_path / "export"))
    report = html_report(warehouse=warehouse, workspace=workspace, folders=folders)
    page = tmp_path / "export" / "report.html"
    assert report.metadata["bytes"].value == page.stat().st_size > 10_000
    html = page.read_text()  # nothing pushed yet: the delivery section says so, no charts
    # the six report charts and the conversion funnel's two (bars, time to convert)
    assert html.count("<figure class='chart'") == 8 and "No data yet." in html

    context = dg.build_asset_context(partition_key=DAYS[0])
    funnel = funnel_daily(context, warehouse=warehouse, workspace=workspace)
    with tw.connect(db, read_only=True) as wh:
        stages = wh.sql("select * from funnel_daily order by stage")
        expected = wh.sql(
            "select stage, count(*) as events from events where event_date = $d "
            "group by 1 order by 1",
            d=DAYS[0],
        )
    assert funnel.metadata["dagster/row_count"].value == stages.height
    assert stages.select("stage", "events").rows() == expected.rows()


def run_logs(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> list[str]:
    return [entry.user_message for entry in instance.all_logs(result.run_id)]


def test_disabled_destinations_are_not_materialized_and_their_checks_not_evaluated(
    setup: tuple[Path, dict], emulator: EmulatorProcess
) -> None:
    """Every destination has its assets, but a disabled one's steps yield nothing: no
    materialization, no check result (neither green nor red), the run log says why, and
    the fan-ins after every destination still run."""
    tmp_path, _ = setup
    disabled = {"capi_meta", "delivery_meta", "crm_hubspot", "delivery_hubspot"}
    config = write_config(tmp_path, disabled=("meta", "hubspot"))
    res = resources(tmp_path, emulator.base_url, config=config)
    assets = all_assets()
    assert dg.materialize(unpartitioned(assets), resources=res).success
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            partitioned(assets), resources=res, tags=day_range(*DAYS), instance=instance
        )
        logs = run_logs(instance, result)
    assert result.success
    done = materialized(result)
    assert not done & disabled
    assert {"capi_google_ads", "delivery_google_ads", "delivery_log", "parquet_export",
            "reconciliation_daily", "funnel_daily"} <= done  # fmt: skip
    evaluations = check_evaluations(result)
    assert not [key for key in evaluations if key.split(":")[0] in disabled]
    assert len(evaluations) == 2 * (len(PAYLOAD_TABLES) - len(disabled) // 2) + 1
    assert all(passed for passed, _ in evaluations.values()), evaluations
    assert any(m.startswith(f"meta is not enabled in {config}") for m in logs), logs
    skipped = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SKIPPED"}
    assert skipped == {"delivery_meta", "delivery_hubspot"}  # their payloads yielded nothing
    assert emulator.stats()["meta"]["requests"] == 0

    # Alone, as its daily push schedule starts it: a successful run that materializes nothing.
    alone = dg.materialize([delivery_asset("meta")], resources=res, partition_key=DAYS[0])
    assert alone.success
    assert not materialized(alone) and not check_evaluations(alone)

    # A check run on its own (from the UI): evaluated for an enabled destination only.
    checks = dg.AssetSelection.checks(
        dg.AssetCheckKey(dg.AssetKey("capi_google_ads"), "conforms"),
        dg.AssetCheckKey(dg.AssetKey("capi_meta"), "conforms"),
    )
    only_checks = dg.materialize(partitioned(assets), selection=checks, resources=res)
    assert only_checks.success and not materialized(only_checks)
    assert check_evaluations(only_checks) == {"capi_google_ads:conforms": (True, "ERROR")}


GOOGLE_ADS_ONLY = """
[workspace]
value_unit = "minor"
allowed_domains = ["*.example.com"]

[destinations.google_ads]
enabled = true
customer_id = "123-456-7890"
api = "upload_click_conversions"
access_token_env = "ACME_ADS_OAUTH"
developer_token_env = "ACME_ADS_DEVELOPER"
delivery = { max_attempts = 1 }

[destinations.google_ads.conversion_actions]
LeadCaptured = "700000001"
DemoBooked = "700000002"
SignUp = "700000003"
StartTrial = "700000004"
Purchase = "700000005"
SubscriptionStarted = "700000006"
PlanUpgrade = "700000007"
SubscriptionRenew = "700000008"
"""


def test_credentials_the_config_names_reach_the_platform_and_never_the_event_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The credentials resource reads, when the step runs, every variable the config
    names (here under names of the deployment's choosing, a developer token included);
    the request carries them, and neither the run config nor the event log does."""
    make_inbox(tmp_path)
    config = tmp_path / "google_ads.toml"
    config.write_text(GOOGLE_ADS_ONLY)
    secrets = {"ACME_ADS_OAUTH": "oauth-7f3a9c01", "ACME_ADS_DEVELOPER": "devtoken-51e0b2"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    sent: list[httpx.Request] = []

    def platform(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        error = {"code": 401, "message": "invalid credentials", "status": "UNAUTHENTICATED"}
        return httpx.Response(401, json={"error": error})

    class CapturingPlatforms(PlatformsResource):
        def transport(self) -> httpx.AsyncBaseTransport | None:
            return httpx.MockTransport(platform)

    res = {
        **resources(tmp_path, "live", config=config),
        "platforms": CapturingPlatforms(target="live"),
    }
    assets = all_assets()
    assert dg.materialize(unpartitioned(assets), resources=res).success
    google = [a for a in assets if {"capi_google_ads", "delivery_google_ads"} & {
        k.to_user_string() for k in a.keys
    }]  # fmt: skip
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(google, resources=res, tags=day_range(*DAYS), instance=instance)
        logs = run_logs(instance, result)
    assert result.success
    assert sent, "no request reached the platform"
    assert {r.headers["authorization"] for r in sent} == {"Bearer oauth-7f3a9c01"}
    assert {r.headers["developer-token"] for r in sent} == {"devtoken-51e0b2"}
    deliveries = [
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("delivery_google_ads")
    ]
    assert len(deliveries) == len(DAYS)  # one per partition of the range
    assert all(d["credentials_set"].value == sorted(secrets) for d in deliveries)
    recorded = "\n".join([*logs, *map(repr, result.all_events), repr(result.dagster_run)])
    for value in secrets.values():
        assert value not in recorded

"""Shared fixtures: every test gets its own warehouse file under tmp_path.

Lanes: ``pytest -m "not integration"`` is the fast lane. Tests are marked ``integration``
here, by module (``INTEGRATION_MODULES``) and by the fixtures they use
(``INTEGRATION_FIXTURES``), when they start servers or processes, run Dagster, kill
things or load large data; the notebooks run by nbmake are marked in
tests/test_notebooks.py, which (loaded as a plugin) also keeps every run, notebooks
included, off the repository's own data/warehouse.duckdb.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import trackstack_wh as tw
from tests.helpers import ROOT, run_in_terminal, samples_with_payloads
from trackstack_lab.emulator import EmulatorProcess

INTEGRATION_MODULES = frozenset({
    "test_api_versions",  # the CLI in subprocesses, the emulator
    "test_dagster_backfill",
    "test_dagster_defs",
    "test_dagster_intraday",
    "test_dagster_pipeline",
    "test_dagster_sensors",
    "test_delivery",  # against the emulator process
    "test_delivery_kill",
    "test_delivery_receiver",
    "test_demo",
    "test_emulator",
    "test_ingest_kill",
    "test_receiver",
    "test_run_command",  # ingest, build and push against the emulator process
    "test_credentials_emulator",
    "test_credentials_endpoints",
    "test_sink",
    "test_sink_kill",
    "test_sink_openapi",
    "test_warehouse_busy",  # a second process holding the file
    "test_ingest_properties",  # property tests: thousands of generated files
})  # fmt: skip
"""Modules whose tests are integration tests, wholly."""

INTEGRATION_TESTS = frozenset({
    # Property tests with hundreds of generated cases.
    "test_identity::test_set_based_sql_agrees_with_the_reference",
    "test_delivery_answers::test_any_status_and_body_gives_a_verdict_and_transient_stays_retryable",
    # The committed samples loaded and built (several times), the demo run in-process.
    "test_payloads::test_demo_samples_give_ready_rows_for_every_enabled_destination",
    "test_payloads::test_an_undone_load_takes_the_payload_rows_built_from_it",
    "test_payloads::test_a_warehouse_from_before_event_seq_is_numbered_and_rebuilt",
    "test_payloads::test_building_is_incremental_and_rebuilding_is_identical",
    "test_payloads::test_a_build_in_parts_or_with_kept_identities_equals_the_default",
    "test_ingest::test_many_small_chunks_account_like_one_chunk",
    # Randomized batches, each refreshed and built, against a full rebuild.
    "test_incremental::test_incremental_runs_equal_a_full_rebuild",
    # A process killed mid-load; a CLI in a subprocess.
    "test_ingest::test_a_killed_load_is_undone_when_the_warehouse_is_next_opened",
    "test_cli_errors::test_a_closed_pipe_is_quiet",
})  # fmt: skip
"""Single tests (``module::function``, every parametrization) in otherwise fast modules."""

INTEGRATION_FIXTURES = frozenset(
    {"demo_run", "demo_db", "emulator", "live_sink", "receiver", "sample"}
)
"""Fixtures that start a server, run the demo or load the committed samples (``sample``):
any test using one is an integration test."""


def is_integration(item: pytest.Item) -> bool:
    if item.path.suffix != ".py":
        return False
    module = item.path.stem
    name = getattr(item, "originalname", item.name)
    fixtures = set(getattr(item, "fixturenames", ()))
    return (
        module in INTEGRATION_MODULES
        or f"{module}::{name}" in INTEGRATION_TESTS
        or bool(fixtures & INTEGRATION_FIXTURES)
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The fast lane (exactly ``-m "not integration"``) does not even import the modules
    it would deselect wholly (Dagster, schemathesis, the emulator: ~5 s)."""
    fast_lane = " ".join(config.getoption("markexpr", "").split()) == "not integration"
    if (
        fast_lane
        and collection_path.suffix == ".py"
        and collection_path.stem in INTEGRATION_MODULES
    ):
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if is_integration(item):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _isolated_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKSTACK_DB", str(tmp_path / "env.duckdb"))
    empty = tmp_path / "no_destinations.toml"
    empty.write_text("")
    monkeypatch.setenv("TRACKSTACK_CONFIG", str(empty))


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[tw.Warehouse]:
    with tw.connect(tmp_path / "wh.duckdb") as warehouse:
        yield warehouse


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dt.datetime]:
    """The committed samples ingested, with payloads built at the samples' clock: (the
    warehouse file, that clock). Tests copy the file before changing it."""
    db = tmp_path_factory.mktemp("source") / "source.duckdb"
    return db, samples_with_payloads(db)


@pytest.fixture(scope="module")
def emulator(source: tuple[Path, dt.datetime]) -> Iterator[EmulatorProcess]:
    """A platform emulator process at the samples' clock (modules may define their own)."""
    with EmulatorProcess(clock=source[1]) as emu:
        yield emu


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, float]:
    """``trackstack-wh demo`` run once on a terminal into a fresh warehouse: (warehouse,
    what it printed, seconds). Tests only read the warehouse (or run the demo again)."""
    root = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKSTACK_")}
    env.update(TERM="xterm")
    db = root / "warehouse.duckdb"
    code, out, seconds = run_in_terminal(
        [sys.executable, "-m", "trackstack_wh.cli", "--db", str(db), "demo"], env=env, cwd=ROOT
    )
    assert code == 0, out
    return db, out, seconds

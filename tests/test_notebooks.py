"""The notebooks are committed clean, paired with a reviewable text version, use only the
public API, and never write the repository's own warehouse.

Their execution is part of the suite through nbmake. This module is also loaded as a
pytest plugin (``-p tests.test_notebooks`` in pyproject's addopts), so that its hooks
apply to every run, ``pytest notebooks/`` included (which loads no tests/conftest.py):

- the whole session points $TRACKSTACK_DB at a temporary file, which notebook kernels
  and processes started outside a test's fixtures inherit;
- each notebook runs with $TRACKSTACK_DB at a fresh temporary warehouse, and fails unless
  it wrote that one;
- the notebooks are marked ``integration`` (not in the fast lane);
- the session fails if the repository's ``data/warehouse.duckdb`` was created or changed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Generator
from pathlib import Path

import pytest

from tests.helpers import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
DB_ENV = "TRACKSTACK_DB"
REPO_WAREHOUSES = (
    ROOT / "data" / "warehouse.duckdb",
    ROOT / "data" / "warehouse.duckdb.wal",
    ROOT / "notebooks" / "data" / "warehouse.duckdb",  # data/ relative to a notebook's cwd
)
"""The repository's warehouse files (the demo's and notebooks' default), which the suite
must never create or write."""

_SESSION_DIR = pytest.StashKey[Path]()
_REPO_FILES_BEFORE = pytest.StashKey[dict[Path, tuple[int, int] | None]]()
_DB_BEFORE = pytest.StashKey[str | None]()
_WRITTEN = pytest.StashKey[list[str]]()


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_mtime_ns, found.st_size


def pytest_configure(config: pytest.Config) -> None:
    session_dir = Path(tempfile.mkdtemp(prefix="trackstack-tests-"))
    config.stash[_SESSION_DIR] = session_dir
    config.stash[_REPO_FILES_BEFORE] = {path: _stat(path) for path in REPO_WAREHOUSES}
    config.stash[_DB_BEFORE] = os.environ.get(DB_ENV)
    os.environ[DB_ENV] = str(session_dir / "session.duckdb")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _DB_BEFORE in config.stash:
        before = config.stash[_DB_BEFORE]
        if before is None:
            os.environ.pop(DB_ENV, None)
        else:
            os.environ[DB_ENV] = before
    if _SESSION_DIR in config.stash:
        shutil.rmtree(config.stash[_SESSION_DIR], ignore_errors=True)


def repo_warehouses_written(config: pytest.Config) -> list[str]:
    """The repository's warehouse files created or changed since the session started."""
    before = config.stash[_REPO_FILES_BEFORE]
    return [str(p.relative_to(ROOT)) for p, stat in before.items() if _stat(p) != stat]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    written = repo_warehouses_written(session.config)
    if written:
        session.config.stash[_WRITTEN] = written
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    written = terminalreporter.config.stash.get(_WRITTEN, [])
    if written:
        message = f"the test suite wrote the repository's warehouse: {', '.join(written)}"
        terminalreporter.write_sep("=", message, red=True, bold=True)


def is_notebook(item: pytest.Item) -> bool:
    return item.path.suffix == ".ipynb"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if is_notebook(item):
            item.add_marker(pytest.mark.integration)


def notebook_db(item: pytest.Item) -> Path:
    """The warehouse a notebook run by nbmake writes (fresh per notebook)."""
    return item.config.stash[_SESSION_DIR] / "notebooks" / item.path.stem / "warehouse.duckdb"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """nbmake starts each notebook's kernel with this process's environment: point it at
    a temporary warehouse, and check the notebook wrote there and nowhere else."""
    if not is_notebook(item):
        return (yield)
    db = notebook_db(item)
    db.parent.mkdir(parents=True, exist_ok=True)
    session_db = os.environ.get(DB_ENV)
    os.environ[DB_ENV] = str(db)
    try:
        result = yield
    finally:
        if session_db is None:
            os.environ.pop(DB_ENV, None)
        else:
            os.environ[DB_ENV] = session_db
    assert db.exists(), f"{item.path.name} did not write its warehouse at ${DB_ENV} ({db})"
    written = repo_warehouses_written(item.config)
    assert not written, f"{item.path.name} wrote the repository's warehouse: {written}"
    return result


def test_the_three_notebooks_exist() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_funnel_analysis.ipynb",
        "03_delivery_and_reconciliation.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_clean_and_matches_its_text_version(path: Path) -> None:
    import jupytext
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    paired = jupytext.read(path.with_suffix(".py"))
    assert [(c.cell_type, c.source) for c in paired.cells] == [
        (c.cell_type, c.source) for c in notebook.cells
    ], f"{path.name} and its .py differ: run `jupytext --sync {path}`"
    imports = re.findall(r"^(?:from|import) (\S+)", "\n".join(c.source for c in code), re.M)
    assert not [m for m in imports if m.startswith("trackstack_wh.")], imports


CONNECT = re.compile(r"^wh = tw\.connect\(.*$", re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_opens_the_warehouse_named_by_trackstack_db(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notebook's set-up (up to its ``tw.connect`` line), run from notebooks/ as
    Jupyter does, opens $TRACKSTACK_DB (else it would open the demo's data/warehouse.duckdb)."""
    import nbformat

    import trackstack_wh as tw

    cells = nbformat.read(path, as_version=4).cells
    setup = next(c.source for c in cells if c.cell_type == "code" and CONNECT.search(c.source))
    found = CONNECT.search(setup)
    assert found is not None
    db = tmp_path / "nb.duckdb"
    monkeypatch.setenv(DB_ENV, str(db))
    monkeypatch.chdir(ROOT / "notebooks")
    namespace: dict[str, object] = {}
    exec(compile(setup[: found.end()], str(path), "exec"), namespace)
    wh = namespace["wh"]
    assert isinstance(wh, tw.Warehouse)
    wh.close()
    assert wh.path == db and db.exists()


def test_the_suite_has_not_written_the_repository_warehouse(request: pytest.FixtureRequest) -> None:
    """So far in this session (the session itself fails if a later test does)."""
    assert os.environ[DB_ENV] != str(ROOT / "data" / "warehouse.duckdb")
    if _REPO_FILES_BEFORE in request.config.stash:  # loaded as a plugin, as configured
        assert repo_warehouses_written(request.config) == []

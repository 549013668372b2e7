"""The notebooks are committed clean, paired with a reviewable text version, and use
only the public API (their execution is part of the suite through nbmake)."""

from __future__ import annotations

import re

import jupytext
import nbformat
import pytest

from tests.helpers import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_the_three_notebooks_exist() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_funnel_analysis.ipynb",
        "03_delivery_and_reconciliation.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_clean_and_matches_its_text_version(path) -> None:
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    paired = jupytext.read(path.with_suffix(".py"))
    assert [(c.cell_type, c.source) for c in paired.cells] == [
        (c.cell_type, c.source) for c in notebook.cells
    ], f"{path.name} and its .py differ: run `jupytext --sync {path}`"
    imports = re.findall(r"^(?:from|import) (\S+)", "\n".join(c.source for c in code), re.M)
    assert not [m for m in imports if m.startswith("trackstack_wh.")], imports

"""The README runs as written (issue 28).

Every ```bash and ```python block of README.md is run, in README order, in a copy of what a
fresh clone has (``FRESH_CLONE``), as a new user with the venv active would type it: the
copy's own ``data/warehouse.duckdb``, no ``TRACKSTACK_*`` variable set, state carried from
block to block through the files (the ingest before the reports). A block whose line before
is ``<!-- not run: reason -->`` is left out for that reason. Each bash block runs in its own
``bash -e -o pipefail``; each Python block in its own interpreter, after the session start
the README's Notebook section says the snippets assume (``PRELUDE``). Whatever a block
started must be stopped by the block itself (that test is ``integration``).

The static checks are in the fast lane: the ```toml excerpts parse, and no code is left in
an indented block, where it would be neither run nor marked.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.helpers import ROOT

README = ROOT / "README.md"
FRESH_CLONE = ("README.md", "trackstack.toml", "data/samples")
"""What the runnable blocks read from the repository (the package is the venv's install)."""
RUNNABLE = frozenset({"bash", "python"})
LANGUAGES = RUNNABLE | {"toml", "text"}
NOT_RUN = re.compile(r"<!-- not run: (?P<reason>\S.*?) -->")
PRELUDE = ("import trackstack_wh as tw", "wh = tw.connect()")
"""The session start the README's Python snippets assume, as its Notebook section says: the
import unless a block has it, the connection unless a block connects itself."""
BLOCK_TIMEOUT = 120.0
OUTPUT_TAIL = 4000


@dataclass(frozen=True)
class Block:
    line: int
    """README line of the opening fence."""
    lang: str
    code: str
    not_run: str | None
    """The reason given by a ``<!-- not run: ... -->`` line right before the fence."""

    def listing(self) -> str:
        """The block's code with its README line numbers."""
        lines = self.code.splitlines()
        return "\n".join(f"{self.line + n:>5} | {text}" for n, text in enumerate(lines, 1))


def fenced_blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = re.fullmatch(r"```(\S*)\s*", lines[i])
        if not opening:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        assert end is not None, f"README.md:{i + 1}: fence never closed"
        marker = NOT_RUN.fullmatch(lines[i - 1].strip()) if i else None
        code = "".join(f"{line}\n" for line in lines[i + 1 : end])
        blocks.append(Block(i + 1, opening[1], code, marker["reason"] if marker else None))
        i = end + 1
    return blocks


def indented_blocks(text: str) -> list[int]:
    """README lines that open an indented code block (outside fences)."""
    found, in_fence, previous = [], False, ""
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and line.startswith("    ") and line.strip() and not previous.strip():
            found.append(number)
        previous = line
    return found


BLOCKS = fenced_blocks(README.read_text())


def test_every_code_block_is_fenced_and_says_whether_it_runs() -> None:
    text = README.read_text()
    assert not indented_blocks(text), (
        "indented code blocks are neither run nor marked: fence them as ```bash or ```python "
        "(with <!-- not run: reason --> before them if they cannot run) or ```toml / ```text; "
        f"README.md lines {indented_blocks(text)}"
    )
    assert not [b.line for b in BLOCKS if b.lang not in LANGUAGES], (
        f"fence languages other than {sorted(LANGUAGES)}"
    )
    marked = {b.line - 1 for b in BLOCKS if b.not_run is not None}
    stray = [
        number
        for number, line in enumerate(text.splitlines(), 1)
        if line.lstrip().startswith("<!-- not run") and number not in marked
    ]
    assert not stray, f"<!-- not run: reason --> must be the line right before a fence: {stray}"
    assert not [b.line for b in BLOCKS if b.not_run and b.lang not in RUNNABLE], (
        "only bash and python blocks are run, so only they can be marked not run"
    )
    for block in BLOCKS:
        for cited in re.findall(r"tests/[\w*]+\.py", block.not_run or ""):
            assert list(ROOT.glob(cited)), f"README.md:{block.line}: {cited} does not exist"
        if block.lang == "python":
            compile(block.code, f"README.md:{block.line}", "exec")
    assert len([b for b in BLOCKS if b.lang in RUNNABLE and b.not_run is None]) >= 15


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.lang == "toml"], ids=lambda b: f"line{b.line}"
)
def test_toml_excerpts_parse(block: Block) -> None:
    try:
        tomllib.loads(block.code)
    except tomllib.TOMLDecodeError as exc:
        pytest.fail(f"README.md:{block.line}: {exc}\n{block.listing()}")


def fresh_clone(root: Path) -> Path:
    clone = root / "clone"
    for name in FRESH_CLONE:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, clone / name)
        else:
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    return clone


def user_environment() -> dict[str, str]:
    """A shell with the venv active (as ``source .venv/bin/activate`` leaves it) and none of
    the variables the suite sets for itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKSTACK_")}
    venv_bin = Path(sys.executable).parent
    env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv_bin.parent)
    env.pop("PYTHONHOME", None)
    return env


def with_prelude(code: str) -> str:
    """The block behind the session start it assumes, on one line (so a traceback's line N
    is the block's line N - 1): the whole ``PRELUDE`` unless the block connects itself,
    then the import unless it has it."""
    if "tw.connect(" not in code:
        missing = list(PRELUDE)
    else:
        missing = [PRELUDE[0]] if PRELUDE[0] not in code else []
    return f"{'; '.join(missing)}\n{code}" if missing else code


@dataclass
class Outcome:
    code: int | None
    """Exit code; None when the block ran past ``BLOCK_TIMEOUT``."""
    seconds: float
    stdout: str
    stderr: str
    left_running: list[str]


def left_in_group(pgid: int) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if os.getpgid(proc.pid) == pgid:
                found.append(f"{proc.pid}: {' '.join(proc.info['cmdline'] or [])}")
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def run_block(block: Block, clone: Path, env: dict[str, str], logs: Path) -> Outcome:
    if block.lang == "bash":
        argv = ["bash", "-e", "-o", "pipefail", "-c", block.code]
    else:
        argv = [sys.executable, "-c", with_prelude(block.code)]
    out, err = logs / f"{block.line}.out", logs / f"{block.line}.err"
    started = time.monotonic()
    # Output to files, not pipes: a server the block left running cannot hold the test up.
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            argv, cwd=clone, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
            start_new_session=True,
        )  # fmt: skip
    try:
        code: int | None = proc.wait(timeout=BLOCK_TIMEOUT)
    except subprocess.TimeoutExpired:
        code = None
    seconds = time.monotonic() - started
    left: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # a stopped server may take a moment to exit
        left = left_in_group(proc.pid)
        if not left:
            break
        time.sleep(0.1)
    if left:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return Outcome(code, seconds, out.read_text(), err.read_text(), left)


def failure(block: Block, outcome: Outcome, clone: Path, timings: list[str]) -> str:
    if outcome.code is None:
        what = f"ran longer than {BLOCK_TIMEOUT:.0f} s"
    elif outcome.code:
        what = f"failed (exit {outcome.code})"
    else:
        what = "left processes running (a block must stop what it starts)"
    listing = block.listing()
    if block.lang == "python" and with_prelude(block.code) != block.code:
        prelude = with_prelude(block.code).splitlines()[0]
        listing = f"{'':>5} | {prelude}  # run first (see PRELUDE)\n{listing}"
    parts = [
        f"README.md:{block.line}: this ```{block.lang} block {what} after "
        f"{outcome.seconds:.1f} s, in {clone}:\n{listing}",
        *(["--- left running ---", *outcome.left_running] if outcome.left_running else []),
        "--- stdout (end) ---", outcome.stdout[-OUTPUT_TAIL:],
        "--- stderr (end) ---", outcome.stderr[-OUTPUT_TAIL:],
        "--- blocks run ---", *timings,
    ]  # fmt: skip
    return "\n".join(parts)


@pytest.mark.integration
def test_the_readme_runs_as_written(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path)
    logs = tmp_path / "logs"
    logs.mkdir()
    env = user_environment()
    timings: list[str] = []
    for block in BLOCKS:
        if block.lang not in RUNNABLE or block.not_run is not None:
            continue
        outcome = run_block(block, clone, env, logs)
        timings.append(f"README.md:{block.line} {block.lang} {outcome.seconds:.1f} s")
        if outcome.code != 0 or outcome.left_running:
            pytest.fail(failure(block, outcome, clone, timings), pytrace=False)
    print("\n".join(timings))

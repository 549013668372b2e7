"""How ``trackstack-wh`` fails: one line and an exit code per error, ``--debug`` for the
traceback, Ctrl-C and a closed pipe quietly; and the library itself never prints."""

from __future__ import annotations

import argparse
import ast
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from trackstack_wh import cli
from trackstack_wh.cli_delivery import parse_time
from trackstack_wh.errors import (
    ConfigError,
    NotFoundError,
    StaleDataError,
    TrackstackError,
    UnreadableFileError,
    UsageError,
    WarehouseBusyError,
)
from trackstack_wh.quality import quality_summary_sql
from trackstack_wh.serving import LISTENING, listening_line
from trackstack_wh.timewindow import TimeWindow

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "trackstack_wh"
MAY_PRINT = {"cli.py", "cli_delivery.py", "cli_quarantine.py", "cli_report.py", "cli_run.py",
             "cli_trace.py", "sink/cli.py", "sink/__main__.py", "demo.py",
             "cli_doctor.py"}  # fmt: skip
"""The command-line modules and the demo; everything else logs or returns."""


def command(monkeypatch: pytest.MonkeyPatch, body: Callable[[argparse.Namespace], int]) -> None:
    """Make ``trackstack-wh ingest`` run ``body``."""
    monkeypatch.setattr(cli, "cmd_ingest", body)


def raising(exc: BaseException) -> Callable[[argparse.Namespace], int]:
    def body(args: argparse.Namespace) -> int:
        raise exc

    return body


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (UsageError("period='fortnight'; choose from ('week', 'month')"), 2),
        (NotFoundError("no table 'nope' in Funnel; choose from ['stages']"), 2),
        (StaleDataError("no quality scores yet: run wh.refresh_quality() first"), 2),
        (ConfigError("trackstack.toml: meta.pixel_id is required"), 2),
        (WarehouseBusyError("data/warehouse.duckdb", 4242, 5.0), 3),
        (UnreadableFileError("events.csv", "the CSV file has no header row"), 1),
        (TrackstackError("the run failed; see above"), 1),
    ],
)
def test_a_trackstack_error_is_one_line_and_an_exit_code(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    exc: TrackstackError,
    code: int,
) -> None:
    command(monkeypatch, raising(exc))
    assert cli.main(["ingest"]) == code
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: {exc}\n"
    assert "'" + str(exc) not in err  # a KeyError would quote its message


def test_real_usage_errors_from_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--db", str(tmp_path / "none.duckdb"), "report", "funnel"]) == 2
    assert capsys.readouterr().err == (
        f"error: no warehouse at {tmp_path / 'none.duckdb'}; "
        "run `trackstack-wh demo` or `ingest` first\n"
    )
    assert cli.main(["report"]) == 2
    assert capsys.readouterr().err.startswith("error: name a report")
    assert cli.main(["--db", str(tmp_path / "x.duckdb"), "ingest"]) == 2
    assert (
        capsys.readouterr().err == "error: give files or directories to ingest, or --landing DIR\n"
    )
    assert not (tmp_path / "x.duckdb").exists()
    assert cli.main(["payloads", "--preview", "3"]) == 2
    assert capsys.readouterr().err == "error: --preview needs --destination\n"


@pytest.mark.parametrize("argv", [["--debug", "ingest"], ["ingest", "--debug"]])
def test_debug_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    command(monkeypatch, raising(UsageError("bad window")))
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.rstrip().endswith("trackstack_wh.errors.UsageError: bad window")
    assert "error: bad window" not in err


def test_an_unexpected_exception_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    command(monkeypatch, raising(ZeroDivisionError("division by zero")))
    assert cli.main(["ingest"]) == 70
    assert capsys.readouterr().err == (
        "internal error: ZeroDivisionError: division by zero (run with --debug for the traceback)\n"
    )
    assert cli.main(["ingest", "--debug"]) == 70
    err = capsys.readouterr().err
    assert "Traceback (most recent call last):" in err and "ZeroDivisionError" in err


def test_ctrl_c_exits_130_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    command(monkeypatch, raising(KeyboardInterrupt()))
    assert cli.main(["ingest"]) == 130
    assert capsys.readouterr() == ("", "")


FLOOD = """\
import sys
from trackstack_wh import cli

def flood(args):
    for i in range(200_000):
        print(f"line {i}")
    return 0

cli.cmd_ingest = flood
sys.exit(cli.main(["ingest"]))
"""


def test_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    """``trackstack-wh ... | head -1``: no traceback, exit 141 (128 + SIGPIPE, as ``cat``)."""
    script = tmp_path / "flood.py"
    script.write_text(FLOOD)
    shell = f'"{sys.executable}" "{script}" | head -1; exit "${{PIPESTATUS[0]}}"'
    done = subprocess.run(
        ["bash", "-c", shell], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert (done.returncode, done.stdout, done.stderr) == (141, "line 0\n", "")


def test_verbose_and_debug_set_the_log_level(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = logging.getLogger("trackstack_wh.somewhere")

    def body(args: argparse.Namespace) -> int:
        log.debug("detail")
        log.info("loaded 3 rows")
        log.warning("undid 1 interrupted load")
        return 0

    command(monkeypatch, body)
    before = logging.getLogger("trackstack_wh").level
    assert cli.main(["ingest"]) == 0
    assert capsys.readouterr().err == "WARNING trackstack_wh.somewhere: undid 1 interrupted load\n"
    assert cli.main(["-v", "ingest"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "INFO trackstack_wh.somewhere: loaded 3 rows",
        "WARNING trackstack_wh.somewhere: undid 1 interrupted load",
    ]
    assert cli.main(["ingest", "--debug"]) == 0
    assert len(capsys.readouterr().err.splitlines()) == 3
    assert logging.getLogger("trackstack_wh").level == before
    assert not logging.getLogger("trackstack_wh").handlers


def test_the_error_classes_are_also_the_builtins_callers_catch() -> None:
    assert issubclass(UsageError, ValueError) and issubclass(UsageError, TrackstackError)
    assert issubclass(NotFoundError, KeyError) and issubclass(NotFoundError, UsageError)
    assert str(NotFoundError("no chart 'pie'")) == "no chart 'pie'"
    with pytest.raises(UsageError, match="before first day"):
        TimeWindow.days("2026-10-21", "2026-10-20")
    with pytest.raises(UsageError, match="one of"):
        quality_summary_sql("country")
    with pytest.raises(UsageError, match="not an ISO date or time"):
        parse_time("yesterday")


def test_help_is_a_sentence_and_every_option_is_explained() -> None:
    parser = cli.build_parser()
    assert parser.description is not None and parser.description.endswith(".")
    assert "``" not in parser.description
    missing = []

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    walk(sub, f"{name} {sub_name}")
            elif action.help is None:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")

    walk(parser, "trackstack-wh")
    assert missing == []


def test_the_listening_line() -> None:
    assert (
        listening_line("sink", "http://127.0.0.1:8787") == "sink listening on http://127.0.0.1:8787"
    )
    assert LISTENING in listening_line("emulator", "http://[::1]:1")


def _prints(path: Path) -> list[int]:
    """Lines of ``print(...)`` calls, except under ``if __name__ == "__main__":``."""
    tree = ast.parse(path.read_text(), str(path))
    script: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name)
            and node.test.left.id == "__name__"
        ):
            script |= {id(inner) for inner in ast.walk(node)}
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "print"
        and id(node) not in script
    ]


def test_the_library_never_prints() -> None:
    found = {
        f"{rel}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if (rel := path.relative_to(PACKAGE).as_posix()) not in MAY_PRINT
        for line in _prints(path)
    }
    assert found == set(), "log (logging.getLogger(__name__)) instead of printing"
    assert _prints(PACKAGE / "cli.py")  # the check does find calls

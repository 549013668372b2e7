"""Help that helps: every command and option says what it does, and the top-level help
lists the commands and points at the README."""

from __future__ import annotations

import argparse

import pytest

from trackstack_wh.cli import build_parser, main


def _undocumented(parser: argparse.ArgumentParser, path: str) -> list[str]:
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, command in action.choices.items():
                if not helps.get(name):
                    missing.append(f"{path} {name}")
                missing += _undocumented(command, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction) and not action.help:
            missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_command_and_option_has_help() -> None:
    assert _undocumented(build_parser(), "trackstack-wh") == []


def test_the_top_level_help_lists_commands_and_points_at_the_readme(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    for command in ("ingest", "doctor", "trace", "quarantine", "payloads", "push", "serve"):
        assert f"    {command}" in out
    assert "README.md" in out and "The ``trackstack-wh`` command line" not in out

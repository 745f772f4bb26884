"""Command lines that cannot be parsed exit 64 (sysexits EX_USAGE) in one line, never 2 (`plan`'s "changes")."""

from __future__ import annotations

import pytest

from controller.cli import main

BAD = {
    "parallelism-word": ["plan", "--parallelism", "abc"],
    "parallelism-zero": ["apply", "--parallelism", "0"],
    "parallelism-fullwidth": ["plan", "--parallelism", "２２"],
    "max-deletes-negative": ["apply", "--max-deletes", "-1"],
    "specs-no-value": ["validate", "--specs"],
    "unknown-option": ["plan", "--nope"],
    "unknown-command": ["bogus"],
    "no-command": [],
    "resync-nan": ["daemon", "--resync", "nan"],
    "resync-negative": ["daemon", "--resync", "-5"],
    "resync-zero": ["daemon", "--resync", "0"],
    "workers-zero": ["daemon", "--workers", "0"],
    "lease-zero": ["daemon", "--lease-seconds", "0"],
    "port-word": ["local-aws", "--port", "http"],
    "control-chars": ["plan", "--parallelism", "1\x1b[2J"],
    "missing-required": ["onboard", "--region", "us-east-1"],
}


@pytest.mark.parametrize("argv", list(BAD.values()), ids=list(BAD))
def test_usage_error_exits_64_in_one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 64
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "--help" in lines[0], out.err
    assert "\x1b" not in out.err and "Traceback" not in out.err and out.out == ""


@pytest.mark.parametrize("argv", [["--help"], ["plan", "--help"], ["--version"]])
def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    assert capsys.readouterr().out


def test_options_that_disagree_are_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    assert main(["plan", "--specs", str(tmp_path), "--json", "--format", "markdown"]) == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "disagree" in err, err


def test_a_valid_command_line_is_not_a_usage_error(cli, tmp_path) -> None:
    """Through the real entry point: the process exit code is 64, and a good line still parses."""
    r = cli("plan", "--parallelism", "x")
    assert r.code == 64 and r.err.count("\n") == 1, r.err
    r = cli("validate", "--specs", str(tmp_path), "--allow-empty")
    assert r.code == 0, r.err

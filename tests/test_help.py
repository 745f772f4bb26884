"""`controller --help` as a new user reads it: what the tool is, the everyday commands first."""

from __future__ import annotations

import re


def test_help_says_what_the_tool_is_with_the_everyday_commands_first(cli) -> None:
    r = cli("--help")
    assert r.code == 0, r.err
    intro = r.out.split("\n\n")[1]
    assert "YAML" in intro and "AWS" in intro and "apply" in intro
    assert "Command line" not in r.out and "render" not in intro
    listed = re.findall(r"^    (\S+)", r.out.split("\ncommands:\n", 1)[1], flags=re.M)
    assert listed[:3] == ["validate", "plan", "apply"], listed
    assert {"daemon", "onboard", "sync", "billing", "schemas", "local-aws"} <= set(listed)
    assert listed.index("local-aws") > listed.index("billing")
    epilog = r.out.rsplit("getting started:", 1)[1]
    assert "controller plan" in epilog and "pip install 'controller[local]'" in epilog


def test_a_command_without_arguments_names_the_missing_command(cli) -> None:
    r = cli()
    assert r.code == 64 and "COMMAND" in r.err and "Traceback" not in r.err  # EX_USAGE, not plan's 2

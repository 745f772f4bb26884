"""What a long apply shows while it runs: on a terminal a progress bar (done / planned, failures so
far, elapsed) under the per-object lines; without a terminal the plain lines only."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults import FaultProxy, Rule
from tests.helpers import enterprise_doc, write_specs
from tests.test_faults import VDC

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


@pytest.fixture
def proxy(aws) -> Iterator[FaultProxy]:
    p = FaultProxy(aws.url)
    yield p
    p.stop()


def on_terminal(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its stdin, stdout and stderr; its exit code and screen text."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    full = {k: v for k, v in {**os.environ, **env}.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS")}
    p = subprocess.Popen([sys.executable, "-m", "controller", *args], stdin=slave, stdout=slave, stderr=slave,
                         env={**full, "TERM": "xterm-256color"}, cwd=cwd, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return p.wait(timeout=120), ANSI.sub("\n", b"".join(chunks).decode(errors="replace"))


def test_on_a_terminal_apply_shows_done_of_planned_and_failures_so_far(proxy: FaultProxy, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": VDC})
    env = {"AWS_ENDPOINT_URL": proxy.url}
    r = cli("plan", "--specs", str(specs), "--json", env=env)
    planned = sum(n for a, n in json.loads(r.out)["summary"].items() if a != "no-op")
    assert planned >= 6
    proxy.add(Rule("CreateSubnet", "InvalidParameterValue", 400, times=-1, match="10.10.0.0%2F24"))
    code, screen = on_terminal(["apply", "--specs", str(specs), "--auto-approve"], env, tmp_path)
    assert code == 1, screen
    bars = re.findall(r"Applying\W+(\d+)/(\d+)\s+(\d+) failed\s+(\d+:\d\d:\d\d)", screen)
    assert bars, screen
    assert {int(total) for _, total, _, _ in bars} == {planned}
    done, _, failed, _ = bars[-1]
    assert int(done) == planned and int(failed) == 1, bars[-1]  # every change finished: done, failed or skipped
    assert "cannot create subnet acme/web/PrivateNetwork/public" in screen  # the lines are still there
    assert "Apply complete" in screen


def test_without_a_terminal_apply_prints_plain_lines(cli, aws, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": VDC})
    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 0, r.out + r.err
    lines = r.out[r.out.index("Applying:"):].splitlines()
    assert any("✓ acme/VirtualDatacenter/web" in line for line in lines)
    assert "\x1b" not in r.out and "━" not in r.out and not re.search(r"\d+/\d+ +\d+ failed", r.out)

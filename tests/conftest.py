"""Shared fixtures: one real local AWS endpoint (moto server subprocess) per test worker."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.awsserver import AwsServer, start_server

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def aws_server() -> Iterator[AwsServer]:
    server = start_server()
    yield server
    server.stop()


@pytest.fixture
def aws(aws_server: AwsServer, monkeypatch: pytest.MonkeyPatch) -> AwsServer:
    """A clean local AWS endpoint, and this process's environment pointed at it."""
    aws_server.reset()
    for k, v in aws_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return aws_server


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(tmp_path: Path):
    """Run the real `controller` CLI as a subprocess; returns (exit code, stdout, stderr)."""

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300) -> Run:
        p = subprocess.run([sys.executable, "-m", "controller", *args], capture_output=True, text=True,
                           env={**os.environ, **(env or {})}, cwd=cwd or tmp_path, timeout=timeout)
        return Run(p.returncode, p.stdout, p.stderr)

    return run

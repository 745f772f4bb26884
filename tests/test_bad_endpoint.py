"""Hostile or broken endpoints and credentials: one line naming the endpoint (or the variable) and what
to check, a bounded wait, and no part of a credential in any output. Loopback addresses only."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import enterprise_doc, write_specs

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ENV_ENTERPRISE = """\
apiVersion: controller/v1
kind: Enterprise
metadata: {name: acme}
spec:
  credentials:
    env: {accessKeyId: ACME_KEY_ID, secretAccessKey: ACME_SECRET}
  regions: [us-east-1]
"""


class Listener:
    """A loopback TCP server: `silent` accepts and never answers; `garbage` answers a web page."""

    def __init__(self, mode: str):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.mode = mode
        self.held: list[socket.socket] = []
        self.stopped = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.mode == "silent":
                self.held.append(conn)
                continue
            try:
                conn.settimeout(5)
                conn.recv(65536)
                body = b"<html><body>Welcome to nginx!</body></html>"
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self.stopped = True
        self.sock.close()
        for c in self.held:
            c.close()


@pytest.fixture
def listener(request: pytest.FixtureRequest) -> Iterator[Listener]:
    server = Listener(request.param)
    yield server
    server.close()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there any more: connections are refused
    return port


def base_env(url: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
            "CONTROLLER_AWS_READ_TIMEOUT": "1", "CONTROLLER_AWS_CONNECT_TIMEOUT": "1"}


def one_line(r) -> str:
    text = r.out + r.err
    assert "internal error" not in text and "Traceback" not in text, text
    assert KEY_ID not in text and SECRET not in text and "Signature=" not in text, text
    assert KEY_ID[4:12] not in text and SECRET[:10] not in text, text
    lines = [ln for ln in r.err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.err
    return lines[0]


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    return write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc()})


@pytest.mark.parametrize("listener", ["silent"], indirect=True)
def test_endpoint_that_never_answers(specs: Path, cli, listener: Listener) -> None:
    url = f"http://127.0.0.1:{listener.port}"
    r = cli("plan", "--specs", str(specs), env=base_env(url), timeout=120)
    line = one_line(r)
    assert r.code == 1 and f"127.0.0.1:{listener.port}" in line and "no answer within 1 s" in line, line
    assert "AWS_ENDPOINT_URL" in line


@pytest.mark.parametrize("listener", ["garbage"], indirect=True)
def test_endpoint_that_is_not_aws(specs: Path, cli, listener: Listener) -> None:
    url = f"http://127.0.0.1:{listener.port}"
    r = cli("plan", "--specs", str(specs), env=base_env(url), timeout=120)
    line = one_line(r)
    assert r.code == 1 and f"127.0.0.1:{listener.port}" in line and "not as an AWS API does" in line, line


def test_closed_port(specs: Path, cli) -> None:
    port = closed_port()
    r = cli("plan", "--specs", str(specs), env=base_env(f"http://127.0.0.1:{port}"), timeout=120)
    line = one_line(r)
    assert r.code == 1 and f"127.0.0.1:{port}" in line and "cannot connect" in line, line


@pytest.mark.parametrize("url", ["not a url", "ftp://127.0.0.1", "http://127.0.0.1:99999", "http://", " http://x",
                                 "http://127.0.0.1:1\n/x"],
                         ids=["words", "ftp", "port-range", "no-host", "leading-space", "newline"])
def test_endpoint_that_is_not_a_url(specs: Path, cli, url: str) -> None:
    r = cli("plan", "--specs", str(specs), env=base_env(url), timeout=120)
    line = one_line(r)
    assert r.code == 1 and "AWS_ENDPOINT_URL=" in line and "is not an endpoint URL" in line, line


@pytest.mark.parametrize("where", ["ambient-key", "ambient-secret", "enterprise-key", "enterprise-secret"])
@pytest.mark.parametrize("bad", ["\n", " ", "\r\nX-Injected: 1"], ids=["newline", "space", "header-injection"])
def test_credential_that_cannot_be_sent_is_named_never_shown(tmp_path: Path, cli, where: str, bad: str) -> None:
    port = closed_port()
    env = base_env(f"http://127.0.0.1:{port}")
    files = {"ent.yaml": enterprise_doc()}
    if where.startswith("enterprise"):
        files = {"ent.yaml": ENV_ENTERPRISE}
        env.update({"ACME_KEY_ID": KEY_ID, "ACME_SECRET": SECRET})
    var = {"ambient-key": "AWS_ACCESS_KEY_ID", "ambient-secret": "AWS_SECRET_ACCESS_KEY",
           "enterprise-key": "ACME_KEY_ID", "enterprise-secret": "ACME_SECRET"}[where]
    env[var] = env[var][:8] + bad + env[var][8:]
    specs = write_specs(tmp_path / "specs", files)
    r = cli("plan", "--specs", str(specs), env=env, timeout=120)
    line = one_line(r)
    assert r.code == 1 and var in line, line


@pytest.mark.parametrize("listener", ["garbage"], indirect=True)
def test_env_credentials_against_a_hostile_endpoint_stay_secret(tmp_path: Path, cli, listener: Listener) -> None:
    specs = write_specs(tmp_path / "specs", {"ent.yaml": ENV_ENTERPRISE})
    env = {**base_env(f"http://127.0.0.1:{listener.port}"), "ACME_KEY_ID": KEY_ID, "ACME_SECRET": SECRET}
    for command in (["plan"], ["apply", "--auto-approve"], ["plan", "-v"]):
        r = cli(*command, "--specs", str(specs), env=env, timeout=120)
        assert r.code == 1
        text = r.out + r.err
        assert KEY_ID not in text and SECRET not in text and "Signature=" not in text, text


def test_scrub_cuts_every_shape_of_credential() -> None:
    from controller.aws.errors import remember_secret, scrub

    remember_secret("averyprivatetokenvalue123")
    text = scrub(f"Invalid header value b'AWS4-HMAC-SHA256 Credential={KEY_ID}/20261201/us-east-1/sts/aws4_request, "
                 "SignedHeaders=host, Signature=26feb127b8f7a240dd' and averyprivatetokenvalue123 and ASIAXXXXXXXXXXXXXXXX")
    assert KEY_ID not in text and "26feb127" not in text and "averyprivate" not in text and "ASIAXXXX" not in text
    assert "\n" not in scrub("two\nlines")


@pytest.mark.parametrize("setting", ["AWS_STS_REGIONAL_ENDPOINTS=bogus", "AWS_DEFAULTS_MODE=bogus",
                                     "AWS_CONFIG_FILE=/etc/passwd", "AWS_PROFILE=nope", "HTTP_PROXY=http://127.0.0.1:1",
                                     "AWS_ENDPOINT_URL_STS=bad url"])
def test_odd_aws_settings_are_one_line(specs: Path, cli, setting: str) -> None:
    var, _, value = setting.partition("=")
    env = {**base_env(f"http://127.0.0.1:{closed_port()}"), var: value}
    r = cli("plan", "--specs", str(specs), env=env, timeout=120)
    line = one_line(r)
    assert r.code == 1 and line.startswith("error: "), line

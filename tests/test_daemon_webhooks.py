"""Signed webhooks: POST /hooks/git with --webhook-secret-env, through a real daemon over a git repository."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from controller.daemon.http import MAX_HOOK_BODY, check_signature, is_loopback
from tests.helpers import enterprise_doc
from tests.test_daemon import DaemonProc, Repo, firewall_doc, ingress_ports, vdc_doc, vpcs, wait_for

SECRET = b"It's a Secret to Everybody"
BODY = b'{"ref": "refs/heads/main", "after": "0000"}'
GOOD = "sha256=" + hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("headers,refused", [
    ({"X-Hub-Signature-256": GOOD}, None),
    ({"X-Hub-Signature-256": GOOD.upper().replace("SHA256=", "sha256=")}, None),  # hex case does not matter
    ({"X-Gitlab-Token": SECRET.decode()}, None),
    ({}, "unsigned"),
    ({"X-Hub-Signature-256": GOOD[:-1] + ("0" if GOOD[-1] != "0" else "1")}, "bad_signature"),
    ({"X-Hub-Signature-256": GOOD.replace("sha256=", "sha1=")}, "bad_signature"),
    ({"X-Hub-Signature-256": ""}, "bad_signature"),
    ({"X-Gitlab-Token": "It's a secret to everybody"}, "bad_signature"),
    ({"X-Gitlab-Token": ""}, "bad_signature"),
    ({"X-Hub-Signature": "sha1=abc"}, "unsigned"),  # the old SHA-1 header alone is not accepted
], ids=["github", "github-upper-hex", "gitlab", "missing", "github-wrong", "github-sha1-prefix", "github-empty",
        "gitlab-wrong", "gitlab-empty", "sha1-only"])
def test_check_signature(headers, refused):
    assert check_signature(SECRET, BODY, headers) == refused


def test_a_signature_covers_the_body():
    assert check_signature(SECRET, BODY + b" ", {"X-Hub-Signature-256": GOOD}) == "bad_signature"


@pytest.mark.parametrize("host,loop", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                       ("localhost", True), ("0.0.0.0", False), ("::", False),
                                       ("10.0.0.1", False), ("example.com", False)])
def test_is_loopback(host, loop):
    assert is_loopback(host) is loop


def post(url: str, body: bytes, headers: dict[str, str], length: int | None = None) -> int:
    """A raw POST (a Content-Length may announce more than is sent: the server must not wait for it)."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.putrequest("POST", "/hooks/git")
    conn.putheader("Content-Length", str(len(body) if length is None else length))
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    try:
        conn.send(body)
    except OSError:
        pass
    status = conn.getresponse().status
    conn.close()
    return status


def test_signed_hooks_fetch_unsigned_and_oversized_ones_are_refused(aws, tmp_path: Path):
    repo = Repo(tmp_path / "repo")
    repo.commit({"ent.yaml": enterprise_doc(), "vdc.yaml": vdc_doc(), "fw.yaml": firewall_doc("base")}, "first")
    d = DaemonProc(["--git", str(repo.path), "--poll", "600", "--resync", "600", "--workdir", str(tmp_path / "w"),
                    "--webhook-secret-env", "HOOK_SECRET"], {**aws.env(), "HOOK_SECRET": SECRET.decode()},
                   tmp_path / "daemon.log")
    try:
        wait_for(lambda: ingress_ports("acme/web/Firewall/base") == {22}, 30, "the first commit applied")
        c2 = repo.commit({"fw.yaml": firewall_doc("base", "2222")}, "second")
        assert post(d.url, BODY, {}) == 401
        assert post(d.url, BODY, {"X-Hub-Signature-256": "sha256=" + "ab" * 32}) == 401
        assert post(d.url, BODY, {"X-Gitlab-Token": "guess"}) == 401
        # announced over the cap: refused before the body is read (the server does not wait for 2 MiB)
        started = time.monotonic()
        assert post(d.url, b"x" * 1000, {"X-Hub-Signature-256": GOOD}, length=2 * MAX_HOOK_BODY) == 413
        assert time.monotonic() - started < 5
        big = b"x" * (MAX_HOOK_BODY + 1)
        big_sig = "sha256=" + hmac.new(SECRET, big, hashlib.sha256).hexdigest()
        assert post(d.url, big, {"X-Hub-Signature-256": big_sig}) == 413  # even signed
        time.sleep(2)  # what a fetch and apply would have taken, had one happened
        assert ingress_ports("acme/web/Firewall/base") == {22}
        assert d.status()["commit"] != c2
        assert d.metric("controller_webhooks_total", result="unsigned") == 1
        assert d.metric("controller_webhooks_total", result="bad_signature") == 2
        assert d.metric("controller_webhooks_total", result="too_large") == 2
        refused = d.events("webhook_refused")
        assert len(refused) == 5 and SECRET.decode() not in d.logs_text()

        assert post(d.url, BODY, {"X-Hub-Signature-256": GOOD}) == 202
        wait_for(lambda: ingress_ports("acme/web/Firewall/base") == {2222}, 15, "the signed hook's commit applied")
        repo.commit({"vdc2.yaml": vdc_doc("two", cidr="10.2.0.0/16")}, "third")
        assert post(d.url, BODY, {"X-Gitlab-Token": SECRET.decode()}) == 202
        wait_for(lambda: vpcs("acme/VirtualDatacenter/two"), 15, "the GitLab hook's commit applied")
        assert d.metric("controller_webhooks_total", result="accepted") == 2
    finally:
        assert d.stop() == 0


def test_start_up_checks_of_the_secret_and_the_listen_address(aws, tmp_path: Path):
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "ent.yaml").write_text(enterprise_doc())
    cmd = [sys.executable, "-m", "controller", "daemon", "--specs", str(specs), "--listen", "127.0.0.1:0"]
    p = subprocess.run([*cmd, "--webhook-secret-env", "NO_SUCH_VAR_SET"], capture_output=True, text=True,
                       timeout=60, env={**aws.env(), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 1 and "NO_SUCH_VAR_SET" in p.stderr and "not set" in p.stderr
    assert "Traceback" not in p.stderr
    # any address but loopback, without a secret: a warning, and the daemon runs
    d = DaemonProc(["--specs", str(specs), "--listen", "0.0.0.0:0"], aws.env(), tmp_path / "open.log")
    try:
        wait_for(lambda: "warning: --listen 0.0.0.0:0 is not a loopback address" in d.logs_text(), 10,
                 "the warning")
        assert d.events("webhook_unsigned")
        assert d.get("/hooks/git", "POST", b"{}")[0] == 404  # a directory source: no fetch to trigger
    finally:
        assert d.stop() == 0
    quiet = DaemonProc(["--specs", str(specs)], aws.env(), tmp_path / "loopback.log")
    try:
        wait_for(lambda: quiet.events("daemon_started"), 10, "started")
        assert "warning:" not in quiet.logs_text() and not quiet.events("webhook_unsigned")
    finally:
        assert quiet.stop() == 0

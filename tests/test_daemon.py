"""`controller daemon` end to end: a real daemon subprocess, a git repository or a spec directory, and
the local AWS endpoint. Waits poll with deadlines; nothing sleeps for a fixed long time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import by_address, client, enterprise_doc, write_specs

# ------------------------------------------------------------------------------------------------
# helpers (also used by test_daemon_replicas.py and the benchmark)


def wait_for(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except (OSError, KeyError, IndexError) as e:  # not up yet
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class DaemonProc:
    """`python -m controller daemon ...` as a subprocess; its JSON logs go to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, cwd: Path | None = None):
        self.log_path = log
        self.log_file = open(log, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen([sys.executable, "-m", "controller", "daemon", "--listen", "127.0.0.1:0",
                                      *args], env={**os.environ, **env}, cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=self.log_file, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("listening on http://"), (line, self.logs_text())
        self.url = line.split()[-1]

    def logs_text(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def events(self, event: str | None = None, **match: Any) -> list[dict[str, Any]]:
        out = []
        for line in self.logs_text().splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event is not None and e.get("event") != event:
                continue
            if all(e.get(k) == v for k, v in match.items()):
                out.append(e)
        return out

    def get(self, path: str, method: str = "GET", data: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, str]:
        req = urllib.request.Request(self.url + path, method=method, data=data, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def hook(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """POST /hooks/git with these headers (a signature, a token)."""
        return self.get("/hooks/git", "POST", body, headers)

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        code, body = self.get("/metrics")
        assert code == 200
        out = {}
        for fam in text_string_to_metric_families(body):
            for s in fam.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    def metric(self, name: str, **labels: str) -> float:
        want = set(labels.items())
        return sum(v for (n, ls), v in self.metrics().items() if n == name and want <= set(ls))

    def status(self) -> dict[str, Any]:
        return json.loads(self.get("/status")[1])

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.log_file.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self.log_file.close()


class Repo:
    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "test@example.com")
        self.git("config", "user.name", "test")

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-C", str(self.path), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    def commit(self, files: dict[str, str | None], message: str) -> str:
        for rel, text in files.items():
            p = self.path / rel
            if text is None:
                p.unlink()
            else:
                write_specs(self.path, {rel: text})
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


def vdc_doc(name: str = "web", enterprise: str = "acme", cidr: str = "10.1.0.0/16") -> str:
    return f"""\
apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {{name: {name}, enterprise: {enterprise}}}
spec: {{region: us-east-1, addressRange: {cidr}, network: {{type: none}}}}
"""


def firewall_doc(name: str, ports: str = "22", vdc: str = "web", enterprise: str = "acme") -> str:
    return f"""\
apiVersion: controller/v1
kind: Firewall
metadata: {{name: {name}, enterprise: {enterprise}, vdc: {vdc}}}
spec:
  ingress: [{{protocol: tcp, ports: "{ports}", from: [203.0.113.0/24]}}]
"""


def vpcs(address: str, account: str = "111111111111") -> list[dict[str, Any]]:
    return by_address(client("ec2", account).describe_vpcs()["Vpcs"], address)


def group(address: str, account: str = "111111111111") -> dict[str, Any] | None:
    found = by_address(client("ec2", account).describe_security_groups()["SecurityGroups"], address)
    return found[0] if found else None


def ingress_ports(address: str) -> set[int]:
    g = group(address)
    return {p["FromPort"] for p in g["IpPermissions"]} if g else set()


# ------------------------------------------------------------------------------------------------


def test_git_commits_applied_drift_reverted_invalid_commit_held_back_prune_off(aws, tmp_path: Path):
    repo = Repo(tmp_path / "repo")
    c1 = repo.commit({"ent.yaml": enterprise_doc(), "vdc.yaml": vdc_doc(), "fw.yaml": firewall_doc("base"),
                      "extra.yaml": firewall_doc("extra", "443")}, "first")
    d = DaemonProc(["--git", str(repo.path), "--branch", "main", "--poll", "1", "--resync", "3",
                    "--workdir", str(tmp_path / "work")], aws.env(), tmp_path / "daemon.log")
    try:
        assert d.get("/healthz") == (200, "ok\n")
        wait_for(lambda: ingress_ports("acme/web/Firewall/base") == {22}, 30, "the first commit applied")
        assert len(vpcs("acme/VirtualDatacenter/web")) == 1
        wait_for(lambda: d.get("/readyz")[0] == 200, 5, "/readyz")
        wait_for(lambda: d.status()["enterprises"]["acme"]["commit"] == c1, 5, "status names the commit")
        assert d.metric("controller_reconciles_total", enterprise="acme", result="success") >= 1
        assert d.metric("controller_enterprise_commit_info", enterprise="acme", commit=c1) == 1
        created = d.events("resource_created", address="acme/web/Firewall/base")
        assert created and created[0]["enterprise"] == "acme" and created[0]["commit"] == c1
        assert created[0]["action"] == "create"

        # a new commit is applied within about one poll interval
        t0 = time.monotonic()
        c2 = repo.commit({"fw.yaml": firewall_doc("base", "2222")}, "ssh on 2222")
        wait_for(lambda: ingress_ports("acme/web/Firewall/base") == {2222}, 10, "the second commit applied")
        took = time.monotonic() - t0
        wait_for(lambda: d.status()["enterprises"]["acme"]["commit"] == c2, 5, "status names the new commit")
        print(f"commit to applied: {took:.1f} s")

        # drift made in AWS: reverted on the next resync
        ec2 = client("ec2")
        gid = group("acme/web/Firewall/base")["GroupId"]
        ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 2222, "ToPort": 2222, "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}])
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        wait_for(lambda: ingress_ports("acme/web/Firewall/base") == {2222}, 15, "drift reverted by a resync")
        assert d.metric("controller_drift_found_total", enterprise="acme") >= 1
        assert d.events("drift_found", address="acme/web/FirewallRules/base")

        # a commit with an invalid file: nothing of it is applied, the error is reported
        bad = repo.commit({"vdc2.yaml": vdc_doc("two", cidr="10.2.0.0/16"),
                           "bad.yaml": "apiVersion: controller/v1\nkind: Firewall\nmetadata: {name: Bad!, "
                                       "enterprise: acme, vdc: web}\nspec: {colour: blue}\n"}, "broken")
        invalid = wait_for(lambda: d.events("tree_invalid", commit=bad), 10, "the invalid tree reported")
        assert any("bad.yaml" in x for x in invalid[0]["diagnostics"]), invalid[0]
        assert invalid[0]["in_force"] == c2
        assert d.metric("controller_invalid_trees_total") == 1
        # a resync after the bad commit still runs the last good tree, and creates nothing from the bad one
        seen = len(d.events("reconcile_finished"))
        wait_for(lambda: len(d.events("reconcile_finished", commit=c2)) > seen, 15, "a resync on the good tree")
        assert vpcs("acme/VirtualDatacenter/two") == []
        assert d.status()["commit"] == c2

        # the fix is applied on the next cycle
        c4 = repo.commit({"bad.yaml": None}, "fix")
        wait_for(lambda: vpcs("acme/VirtualDatacenter/two"), 10, "the fixed commit applied")
        wait_for(lambda: d.status()["enterprises"]["acme"]["commit"] == c4, 5, "status names the fix")

        # prune is off by default: a removed document is reported, not deleted
        c5 = repo.commit({"extra.yaml": None}, "drop extra")
        withheld = wait_for(lambda: d.events("prune_withheld", address="acme/web/Firewall/extra"), 10,
                            "the prune reported")
        assert withheld[0]["commit"] == c5 and withheld[0]["action"] == "delete"
        assert group("acme/web/Firewall/extra") is not None
        assert d.metric("controller_actions_withheld_total", enterprise="acme", policy="prune") >= 1
        assert d.get("/nope")[0] == 404
    finally:
        code = d.stop()
    assert code == 0, d.logs_text()[-3000:]
    assert d.events("daemon_stopped")
    assert group("acme/web/Firewall/extra") is not None


def test_dir_watch_self_heal_off_and_suspended_enterprise(aws, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {
        "ent.yaml": enterprise_doc(), "vdc.yaml": vdc_doc(), "fw.yaml": firewall_doc("base"),
        "paused.yaml": enterprise_doc("paused", "222222222222") + "  policies: {suspend: true}\n",
        "paused-vdc.yaml": vdc_doc("web", "paused"),
    })
    d = DaemonProc(["--specs", str(specs), "--resync", "2", "--no-self-heal", "--debounce", "0.3"], aws.env(),
                   tmp_path / "daemon.log")
    try:
        wait_for(lambda: ingress_ports("acme/web/Firewall/base") == {22}, 30, "the tree applied")
        # the suspended enterprise is observed and reported, never changed
        wait_for(lambda: d.events("change_withheld", enterprise="paused"), 10, "suspend reported")
        assert vpcs("paused/VirtualDatacenter/web", "222222222222") == []
        assert d.metric("controller_reconciles_total", enterprise="paused", result="suspended") >= 1
        commit = d.status()["enterprises"]["acme"]["commit"]
        assert commit.startswith("dir:")

        # an edit is picked up by the watcher and applied (a changed tree is applied even without selfHeal)
        write_specs(specs, {"fw.yaml": firewall_doc("base", "2222")})
        wait_for(lambda: ingress_ports("acme/web/Firewall/base") == {2222}, 10, "the edit applied")

        # drift with selfHeal off: reported on resync, not reverted
        gid = group("acme/web/Firewall/base")["GroupId"]
        client("ec2").authorize_security_group_ingress(GroupId=gid, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        wait_for(lambda: d.events("drift_reported", enterprise="acme"), 10, "the drift reported")
        assert ingress_ports("acme/web/Firewall/base") == {2222, 8080}
        assert d.metric("controller_reconciles_total", enterprise="acme", result="drift_reported") >= 1
    finally:
        assert d.stop() == 0


def test_webhook_fetch_and_sigterm_mid_apply_leaves_nothing_half_done(aws, cli, tmp_path: Path):
    repo = Repo(tmp_path / "repo")
    repo.commit({"ent.yaml": enterprise_doc(), "vdc.yaml": vdc_doc()}, "first")
    d = DaemonProc(["--git", str(repo.path), "--poll", "600", "--resync", "600", "--parallelism", "1"],
                   aws.env(), tmp_path / "daemon.log")
    try:
        wait_for(lambda: vpcs("acme/VirtualDatacenter/web"), 30, "the first commit applied")
        many = "---\n".join(firewall_doc(f"fw{i}", str(1000 + i)) for i in range(25))
        c2 = repo.commit({"fw.yaml": many}, "25 firewalls")
        code, body = d.get("/hooks/git", "POST", b'{"ref": "refs/heads/main"}')
        assert code == 202, body
        # the webhook fetched at once (the poll is 600 s): stop it as soon as its apply is under way
        wait_for(lambda: d.events("resource_created", commit=c2), 15, "the webhook's commit being applied",
                 interval=0.02)
    finally:
        code = d.stop()
    assert code == 0
    assert d.events("daemon_stopped")
    done = {e["address"] for e in d.events("resource_created", commit=c2)}
    assert done
    # every object it started is complete (tags and all); the rest was not started; a later run finishes
    specs = tmp_path / "repo"
    r = cli("plan", "--specs", str(specs), "--json")
    plan = json.loads(r.out)
    pending = {c["id"] for c in plan["changes"] if c["action"] != "no-op"}
    # what is left is only what was never started: creates (or the rules of a group made just before)
    assert {c["action"] for c in plan["changes"]} <= {"create", "update", "no-op"}, plan["changes"]
    assert all(c["action"] == "create" or "/FirewallRules/" in c["id"] for c in plan["changes"]
               if c["action"] != "no-op"), plan["changes"]
    assert not (pending & done), "an object the daemon reported created is complete"
    if len(done) < 50:
        assert d.events("reconcile_interrupted") or pending == set()
    assert cli("apply", "--specs", str(specs), "--auto-approve").code == 0
    assert cli("plan", "--specs", str(specs)).code == 0


def test_prune_on_is_guarded_by_max_deletes_and_a_newer_tree_replaces_a_failing_one(aws, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": vdc_doc(),
                                             "a.yaml": firewall_doc("a"), "b.yaml": firewall_doc("b", "443")})
    d = DaemonProc(["--specs", str(specs), "--resync", "60", "--prune", "--max-deletes", "0", "--debounce", "0.3"],
                   aws.env(), tmp_path / "daemon.log")
    try:
        wait_for(lambda: group("acme/web/Firewall/b"), 30, "the tree applied")
        (specs / "b.yaml").unlink()
        # prune is on, but deleting 2 objects (group and rules) is more than --max-deletes 0: refused, retried
        failed = wait_for(lambda: d.events("reconcile_failed", enterprise="acme"), 15, "the refusal reported")
        assert "--max-deletes" in failed[0]["error"]
        wait_for(lambda: d.status()["enterprises"]["acme"]["backoff_failures"] >= 4, 30, "backing off")
        assert group("acme/web/Firewall/b") is not None
        assert d.metric("controller_reconciles_total", enterprise="acme", result="error") >= 4
        # a newer tree resets the backoff (now 16 s or more) and is reconciled at once
        t0 = time.monotonic()
        write_specs(specs, {"b.yaml": firewall_doc("b", "443")})
        wait_for(lambda: d.status()["enterprises"]["acme"]["last_result"] == "success", 8, "the fix reconciled")
        assert time.monotonic() - t0 < 8
        assert d.status()["enterprises"]["acme"]["backoff_failures"] == 0
        assert group("acme/web/Firewall/b") is not None
    finally:
        assert d.stop() == 0

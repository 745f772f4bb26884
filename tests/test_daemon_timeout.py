"""--reconcile-timeout and stuck reconciles, with the fault proxy's latency in front of the local AWS endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.faults import FaultProxy, Rule
from tests.helpers import by_address, client, enterprise_doc, write_specs
from tests.test_daemon import DaemonProc, firewall_doc, group, ingress_ports, vdc_doc, wait_for


@pytest.fixture
def proxy(aws):
    p = FaultProxy(aws.url)
    yield p
    p.stop()


def env(aws: Any, proxy: FaultProxy) -> dict[str, str]:
    return {**aws.env(), "AWS_ENDPOINT_URL": proxy.url}


def groups(address: str) -> list[dict[str, Any]]:
    return by_address(client("ec2").describe_security_groups()["SecurityGroups"], address)


def test_past_the_timeout_no_new_object_starts_the_report_says_what_was_not_done_and_it_is_retried(
        aws, proxy, tmp_path: Path):
    names = [f"fw{i}" for i in range(5)]
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": vdc_doc(),
                                             **{f"{n}.yaml": firewall_doc(n, str(1000 + i)) for i, n in enumerate(names)}})
    slow = proxy.add(Rule("CreateSecurityGroup", code="", latency_ms=3000, times=-1))
    # 6 s: room for observing on a loaded machine (a cold endpoint's first EC2 call takes seconds), not for 5 creates
    d = DaemonProc(["--specs", str(specs), "--reconcile-timeout", "6", "--parallelism", "1", "--resync", "600",
                    "--backoff-max", "2"], env(aws, proxy), tmp_path / "daemon.log")
    try:
        timed_out = wait_for(lambda: d.events("reconcile_timed_out"), 60, "a reconcile timing out")[0]
        fws = {f"acme/web/Firewall/{n}" for n in names}
        assert timed_out["not_started"], timed_out
        assert set(timed_out["not_started"]) | set(timed_out["done"]) | set(timed_out["running"]) >= fws
        started = set(timed_out["done"]) | set(timed_out["running"])
        assert len(started & fws) < len(fws)  # past the deadline the other firewalls were not started
        failed = [e for e in d.events("reconcile_failed", result="timed_out") if "not started" in e["error"]][0]
        assert failed["error"].startswith("timed out after 6 s (--reconcile-timeout): ")
        assert failed["retry_in"] >= 1
        page = d.get("/enterprises/acme")[1]
        assert "not started: the reconcile timed out (--reconcile-timeout 6 s)" in page
        assert d.metric("controller_reconciles_total", enterprise="acme", result="timed_out") >= 1
        # retried with backoff, each retry getting further; without the latency it converges
        slow.times = 0
        wait_for(lambda: d.status()["enterprises"]["acme"]["sync_status"] == "Synced", 60, "converged")
        for i, n in enumerate(names):
            assert len(groups(f"acme/web/Firewall/{n}")) == 1, n  # nothing made twice
            assert ingress_ports(f"acme/web/Firewall/{n}") == {1000 + i}
    finally:
        assert d.stop() == 0


def test_an_observation_past_the_timeout_is_left_behind_and_nothing_is_changed(aws, proxy, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": vdc_doc(),
                                             "fw.yaml": firewall_doc("base")})
    proxy.add(Rule("DescribeSecurityGroups", code="", latency_ms=8000, times=-1))
    d = DaemonProc(["--specs", str(specs), "--reconcile-timeout", "1.5", "--resync", "600"], env(aws, proxy),
                   tmp_path / "daemon.log")
    try:
        failed = wait_for(lambda: d.events("reconcile_failed", result="timed_out"), 30, "the timeout")[0]
        assert "while observing AWS" in failed["error"] and "nothing was changed" in failed["error"]
        started = d.events("reconcile_started")[0]["t"]
        assert failed["t"] - started < 8, "the reconcile waited for the slow describe"
        assert group("acme/web/Firewall/base") is None and not d.events("resource_created")
        assert d.status()["enterprises"]["acme"]["sync_status"] == "Failed"
    finally:
        assert d.stop() == 0


def test_a_newer_commit_does_not_wait_behind_a_stuck_reconcile_of_an_older_one(aws, proxy, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": vdc_doc(),
                                             "fw.yaml": firewall_doc("base")})
    d = DaemonProc(["--specs", str(specs), "--resync", "600", "--debounce", "0.2"], env(aws, proxy),
                   tmp_path / "daemon.log")
    try:
        wait_for(lambda: ingress_ports("acme/web/Firewall/base") == {22}, 30, "the first tree applied")
        stuck = proxy.add(Rule("CreateSecurityGroup", code="", latency_ms=15000, times=1, match="Firewall%2Fslow"))
        write_specs(specs, {"slow.yaml": firewall_doc("slow", "1111")})
        wait_for(lambda: stuck.hits == 1, 15, "the slow create under way (held in the proxy)")
        write_specs(specs, {"fast.yaml": firewall_doc("fast", "2222")})
        wait_for(lambda: ingress_ports("acme/web/Firewall/fast") == {2222}, 10, "the newer tree's firewall")
        assert group("acme/web/Firewall/slow") is None, "the newer tree waited for the stuck create"
        assert d.events("reconcile_superseded")
        busy = [e for e in d.events("resource_created") if e["address"] == "acme/web/Firewall/slow"]
        assert busy == []  # nobody created it a second time while the first create was in flight
        assert "an earlier reconcile is still changing it" in d.get("/enterprises/acme")[1]
        # the stuck create finishes in its own time; the next reconcile completes the object, once
        wait_for(lambda: ingress_ports("acme/web/Firewall/slow") == {1111}, 40, "the slow firewall completed")
        wait_for(lambda: d.status()["enterprises"]["acme"]["sync_status"] == "Synced", 20, "in sync")
        assert len(groups("acme/web/Firewall/slow")) == 1
        assert len(groups("acme/web/Firewall/fast")) == 1
    finally:
        assert d.stop() == 0

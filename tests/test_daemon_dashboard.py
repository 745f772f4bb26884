"""The daemon's dashboard in a real browser (headless Chromium, page scripts off), against a real daemon
subprocess over a git repository and the local AWS endpoint, with a local notification receiver, a dead
one, and signed webhooks. What is asserted is what a person sees and what the receiver got."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

from tests.browser import artifacts, browser, require_browser, resources_loaded
from tests.helpers import client, enterprise_doc
from tests.receiver import Receiver, dead_url
from tests.test_daemon import DaemonProc, Repo, firewall_doc, group, ingress_ports, vdc_doc, wait_for

SECRET = "hook-secret-value-0123"
BAD = "apiVersion: controller/v1\nkind: Firewall\nmetadata: {name: Bad!, enterprise: acme, vdc: web}\nspec: {}\n"


def open_port(address: str, account: str, port: int = 8080) -> None:
    gid = group(address, account)["GroupId"]  # type: ignore[index]
    client("ec2", account).authorize_security_group_ingress(GroupId=gid, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])


def statuses(b) -> dict[str, str]:
    from selenium.webdriver.common.by import By

    return {tr.get_attribute("data-enterprise"): tr.find_element(By.CSS_SELECTOR, ".badge").text
            for tr in b.find_elements(By.CSS_SELECTOR, "#enterprises tbody tr")}


def text_of(b, css: str) -> str:
    from selenium.webdriver.common.by import By

    return b.find_element(By.CSS_SELECTOR, css).text


def signed(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_dashboard_shows_statuses_drift_and_a_rejected_commit_and_notifies(aws, tmp_path: Path):
    require_browser()
    from selenium.webdriver.common.by import By

    shots = artifacts(tmp_path)
    live, dead = Receiver(), dead_url()
    repo = Repo(tmp_path / "repo")
    paused = enterprise_doc("paused", "333333333333") + "  policies: {suspend: true}\n"
    c1 = repo.commit({
        "acme.yaml": enterprise_doc(), "acme-vdc.yaml": vdc_doc(), "acme-fw.yaml": firewall_doc("base"),
        "globex.yaml": enterprise_doc("globex", "222222222222") + "  policies: {selfHeal: false}\n",
        "globex-vdc.yaml": vdc_doc("web", "globex"), "globex-fw.yaml": firewall_doc("base", enterprise="globex"),
        "paused.yaml": paused, "paused-vdc.yaml": vdc_doc("web", "paused")}, "three enterprises")
    d = DaemonProc(["--git", str(repo.path), "--poll", "600", "--resync", "2", "--workdir", str(tmp_path / "work"),
                    "--notify", live.url, "--notify", dead, "--webhook-secret-env", "HOOK_SECRET"],
                   {**aws.env(), "HOOK_SECRET": SECRET}, tmp_path / "daemon.log")
    try:
        want = {"acme": "Synced", "globex": "Synced", "paused": "Suspended"}
        wait_for(lambda: {n: e["sync_status"] for n, e in d.status()["enterprises"].items()} == want, 60,
                 "every enterprise reconciled")
        with browser() as b:
            b.get(d.url + "/")
            assert statuses(b) == want
            assert resources_loaded(b) == [], "the page loads nothing from anywhere"
            row = text_of(b, "tr[data-enterprise=acme]")
            assert c1[:12] in row and "success" in row and "VirtualDatacenter 1" in row and "Firewall 1" in row
            assert "resync" in row
            b.save_screenshot(str(shots / "dashboard-synced.png"))

            # drift made by hand: globex (selfHeal off) stays OutOfSync, acme (selfHeal on) is reverted
            open_port("globex/web/Firewall/base", "222222222222")
            open_port("acme/web/Firewall/base", "111111111111")
            wait_for(lambda: d.status()["enterprises"]["globex"]["sync_status"] == "OutOfSync", 20, "globex drift")
            b.get(d.url + "/enterprises/globex")
            assert text_of(b, "#status") == "OutOfSync"
            drift = text_of(b, "#drift")
            assert "~ globex/web/FirewallRules/base" in drift and "# ingress not as specified" in drift
            assert '- {"peer": "0.0.0.0/0", "ports": "8080", "protocol": "tcp"}' in drift
            assert "selfHeal policy" in drift
            b.save_screenshot(str(shots / "dashboard-globex-drift.png"))

            wait_for(lambda: ingress_ports("acme/web/Firewall/base") == {22}, 20, "acme's drift reverted")
            wait_for(lambda: d.status()["enterprises"]["acme"]["sync_status"] == "Synced", 20, "acme synced")
            b.get(d.url + "/")
            assert "drift found" in text_of(b, "tr[data-enterprise=acme]")  # corrected, and still told
            b.get(d.url + "/enterprises/acme")
            drift = text_of(b, "#drift")
            assert "acme/web/FirewallRules/base" in drift and '"ports": "8080"' in drift  # the last drift found
            applied = text_of(b, "#apply")
            assert "done acme/web/FirewallRules/base" in applied and "updated ingress" in applied
            assert "drift found in 1 object(s): acme/web/FirewallRules/base (update)" in text_of(b, "#events")

            # a bad commit; an unsigned or wrongly signed webhook is refused and fetches nothing
            bad = repo.commit({"bad.yaml": BAD}, "a broken file")
            body = b'{"ref": "refs/heads/main"}'
            assert d.get("/hooks/git", "POST", body)[0] == 401
            assert d.hook(body, {"X-Hub-Signature-256": "sha256=" + "0" * 64})[0] == 401
            assert d.hook(body, {"X-Gitlab-Token": "wrong"})[0] == 401
            time.sleep(2)  # what a fetch would have taken, had it happened
            assert not d.events("tree_invalid"), "a refused webhook fetched"
            assert d.metric("controller_webhooks_total", result="unsigned") == 1
            assert d.metric("controller_webhooks_total", result="bad_signature") == 2
            code, _ = d.hook(body, {"X-Hub-Signature-256": signed(body)})
            assert code == 202
            wait_for(lambda: d.events("tree_invalid", commit=bad), 15, "the bad commit fetched and rejected")

            b.get(d.url + "/")
            banner = text_of(b, "#rejected")
            assert f"Commit {bad[:12]} rejected" in banner and f"{c1[:12]} stays in force" in banner
            assert "bad.yaml:3" in banner and "'Bad!' is not a valid name" in banner
            assert f"rejected: {bad[:12]}" in text_of(b, "tr[data-enterprise=acme]")
            assert f"{c1[:12]}" in text_of(b, "tr[data-enterprise=acme]")  # still the commit in force

            # filtering and sorting are links: no script needed
            b.find_element(By.PARTIAL_LINK_TEXT, "OutOfSync").click()
            assert list(statuses(b)) == ["globex"]
            b.find_element(By.PARTIAL_LINK_TEXT, "All (3)").click()
            b.find_element(By.LINK_TEXT, "Status").click()
            assert list(statuses(b)) == ["globex", "paused", "acme"]  # OutOfSync, Suspended, Synced
            b.save_screenshot(str(shots / "dashboard-rejected.png"))

            # the fix, and paused resumed
            c3 = repo.commit({"bad.yaml": None, "paused.yaml": enterprise_doc("paused", "333333333333")}, "fix")
            assert d.hook(body, {"X-Gitlab-Token": SECRET})[0] == 202
            wait_for(lambda: d.status()["enterprises"]["paused"]["sync_status"] == "Synced", 30, "paused resumed")
            b.get(d.url + "/")
            assert b.find_elements(By.ID, "rejected") == []
            assert statuses(b)["paused"] == "Synced" and c3[:12] in text_of(b, "tr[data-enterprise=paused]")
            pages = [b.page_source]
            for n in want:
                b.get(d.url + f"/enterprises/{n}")
                pages.append(b.page_source)
        for page in pages:
            assert SECRET not in page and "SECRET-PATH-TOKEN" not in page

        # what the receiver got: one event per happening, each with a Slack-compatible text
        drift = live.wait(lambda: live.of("drift_found", enterprise="acme"), 10, "acme's drift notified")
        assert [c["address"] for c in drift[0]["changes"]] == ["acme/web/FirewallRules/base"]
        assert drift[0]["commit"] == c1 and "acme/web/FirewallRules/base" in drift[0]["text"]
        assert live.of("apply_done", enterprise="acme", commit=c1)
        assert len(live.of("drift_found", enterprise="globex")) == 1, "the same drift is notified once"
        rejected = live.wait(lambda: live.of("commit_rejected", commit=bad), 10, "the rejected commit notified")
        assert rejected[0]["in_force"] == c1 and any("bad.yaml:3" in e for e in rejected[0]["errors"])
        assert live.of("enterprise_suspended", enterprise="paused")
        live.wait(lambda: live.of("enterprise_resumed", enterprise="paused"), 10, "paused's resume notified")
        assert all(isinstance(e["text"], str) and e["text"] for e in live.events)
        # the dead receiver slowed nothing down, and what it could not get was counted
        wait_for(lambda: d.metric("controller_notifications_dropped_total", reason="undeliverable") >= 1, 30,
                 "the dead receiver's events counted as dropped")
        assert "SECRET-PATH-TOKEN" not in d.get("/metrics")[1] + d.logs_text()
    finally:
        code = d.stop()
        live.stop()
    assert code == 0, d.logs_text()[-3000:]

"""The dashboard's pages rendered in process from a daemon's recorded state (no AWS, no browser):
escaping, redaction, filtering, sorting, and a fleet of 500 enterprises. The browser test is
test_daemon_dashboard.py; the timing of 500 is tests/bench/bench_dashboard.py."""

from __future__ import annotations

import re
import time
from pathlib import Path

from controller.daemon.dashboard import enterprise_page, index_page, visible_text
from controller.daemon.loop import Daemon, EnterpriseState, Options, Record, Rejected, Tree
from controller.engine.apply import Outcome
from controller.engine.diff import Change, FieldChange
from controller.engine.plan import Plan
from controller.spec.validate import load_specs
from tests.helpers import enterprise_doc, write_specs
from tests.test_daemon import firewall_doc, vdc_doc

KEY = "AKIA" + "IOSFODNN7EXAMPLE"  # a literal access key id shape (the documented example)


def fleet(root: Path, n: int) -> Daemon:
    """A daemon (not started) holding a tree of n enterprises and a recorded state for each."""
    files: dict[str, str] = {}
    for i in range(n):
        name = f"e{i:03d}"
        files[f"{name}.yaml"] = (enterprise_doc(name, f"{100000000000 + i}")
                                 + ("  policies: {suspend: true}\n" if i % 50 == 7 else "")
                                 + "---\n" + vdc_doc("web", name) + "---\n" + firewall_doc("base", enterprise=name))
    specs = load_specs(write_specs(root, files))
    from controller.daemon.loop import enterprise_summary

    summaries = {e.name: enterprise_summary(specs, e.name) for e in specs.catalog.enterprises()}
    d = Daemon(Options())
    d.tree = Tree("c" * 40, specs, {k: v[0] for k, v in summaries.items()}, counts={k: v[1] for k, v in summaries.items()})
    now = time.time()
    for i, name in enumerate(sorted(summaries)):
        st = d.states.setdefault(name, EnterpriseState())
        st.last_started, st.last_finished, st.last_seconds = now - 10 - i, now - 9 - i, 1.0
        st.reconciles = 3
        drift = Change(id=f"{name}/web/FirewallRules/base", kind="FirewallRules", enterprise=name, action="update",
                       reason="ingress not as specified", aws_id="sg-0123",
                       fields=[FieldChange("ingress", [{"ports": "22"}, {"ports": "8080"}], [{"ports": "22"}])])
        same = Change(id=f"{name}/VirtualDatacenter/web", kind="VirtualDatacenter", enterprise=name, action="no-op",
                      reason="up to date")
        st.plan = Plan(changes=[same], enterprises=[name], desired_digest="d", fingerprint="f")
        st.plan_at, st.plan_commit = now - 9, "c" * 40
        if i % 10 == 3:  # drift, selfHeal off
            st.plan = Plan(changes=[drift, same], enterprises=[name], desired_digest="d", fingerprint="f")
            st.withheld = [(drift, "selfHeal")]
            st.last_result = "drift_reported"
        elif i % 25 == 5:
            st.last_result, st.last_error = "error", f"cannot create Firewall {name}/web/Firewall/base: Boom: <b>no</b>"
        else:
            st.last_result = "success"
        if i % 50 == 7:
            st.last_result = "suspended"
        if st.last_result != "error":
            st.applied_digest, st.commit = d.tree.digests[name], "c" * 40
        st.outcomes = [Outcome(f"{name}/web/Firewall/base", "create", "done", "created", 0.4, "sg-0123")]
        st.apply_at, st.apply_commit = now - 100, "c" * 40
        st.events.appendleft(Record(now - 100, "applied", "applied commit cccccccccccc: 1 create", "c" * 40))
    return d


def rows(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr class="row-(\w+)" data-enterprise="([^"]+)"', page)


def test_a_fleet_of_500_every_status_and_every_filter(tmp_path: Path):
    d = fleet(tmp_path / "specs", 500)
    page = index_page(d, {})
    got = rows(page)
    assert len(got) == 500
    counts: dict[str, int] = {}
    for status, _ in got:
        counts[status] = counts.get(status, 0) + 1
    assert counts == {"Synced": 420, "OutOfSync": 50, "Failed": 20, "Suspended": 10}, counts
    text = visible_text(page)
    for s, n in {**counts, "Progressing": 0}.items():
        assert f"{s} ({n})" in " ".join(text.split())
    failed = rows(index_page(d, {"status": ["Failed"]}))
    assert failed and {s for s, _ in failed} == {"Failed"} and len(failed) == counts["Failed"]
    two = rows(index_page(d, {"status": ["Failed", "Suspended"]}))
    assert len(two) == counts["Failed"] + counts["Suspended"]
    assert [n for _, n in rows(index_page(d, {"q": ["e49"]}))] == [f"e49{i}" for i in range(10)]
    by_status = [s for s, _ in rows(index_page(d, {"sort": ["status"]}))]
    order = ["Failed", "OutOfSync", "Progressing", "Suspended", "Synced"]
    assert by_status == sorted(by_status, key=order.index)
    latest = [n for _, n in rows(index_page(d, {"sort": ["last"]}))]
    assert latest[0] == "e000" and latest[-1] == "e499"  # most recent first
    assert [n for _, n in rows(index_page(d, {"sort": ["name"], "desc": ["1"]}))][0] == "e499"


def test_everything_is_escaped_and_nothing_secret_shows(tmp_path: Path):
    d = fleet(tmp_path / "specs", 3)
    st = d.states["e001"]
    st.last_result, st.last_error = "error", f"<script>alert(1)</script> key {KEY} & more"
    assert d.tree is not None
    d.rejected = Rejected("b" * 40, [f'bad.yaml:1:1: error: "<img src=x onerror=alert(1)>" {KEY}'], time.time(),
                          d.tree.commit)
    pages = [index_page(d, {"q": ['"><script>x</script>']}), enterprise_page(d, "e001", {}) or ""]
    for page in pages:
        assert "<script" not in page and "<img" not in page
        assert KEY not in page
        assert not re.search(r"<[a-z][^>]*\ssrc=", page), "nothing to load"
        assert not re.search(r'href="(?![/?])', page), "links stay on the daemon"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[1] and "[redacted access key id]" in pages[1]
    assert "&quot;&gt;&lt;script&gt;" in pages[0]  # the filter box echoes the query, escaped
    assert enterprise_page(d, "nope", {}) is None


def test_the_enterprise_page_shows_the_plan_as_plan_prints_it(tmp_path: Path):
    d = fleet(tmp_path / "specs", 4)
    page = enterprise_page(d, "e003", {"refresh": ["0"]}) or ""
    text = visible_text(page)
    assert 'http-equiv="refresh"' not in page
    assert "~ e003/web/FirewallRules/base (sg-0123)  # ingress not as specified" in text
    assert '- {"ports": "8080"}' in text
    assert "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete. 1 unchanged." in text
    assert "(selfHeal policy)" in text
    assert "done" in text and "e003/web/Firewall/base" in text and "created" in text
    assert "applied commit cccccccccccc: 1 create" in text
    assert re.search(r"Firewall\s+1", text) and re.search(r"VirtualDatacenter\s+1", text)
    assert 'http-equiv="refresh" content="5"' in index_page(d, {})

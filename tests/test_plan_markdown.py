"""`controller plan --format markdown`: the pull-request comment, against golden files, and through the CLI.

Regenerate the golden files after an intended change: UPDATE_GOLDEN=1 pytest tests/test_plan_markdown.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from controller.engine.diff import Change, FieldChange
from controller.engine.plan import Plan
from controller.render.markdown import LIMIT, render_markdown
from tests.helpers import enterprise_doc, write_specs
from tests.test_daemon import firewall_doc, vdc_doc

GOLDEN = Path(__file__).parent / "golden"


def plan_of(changes: list[Change], enterprises: list[str], hints: list[dict] | None = None) -> Plan:
    return Plan(changes=changes, enterprises=enterprises, desired_digest="d", fingerprint="f",
                created_at="2024-05-01T12:00:00+00:00", controller_version="0.1.0", cost_hints=hints or [])


def ch(address: str, action: str, reason: str, fields: list[FieldChange] | None = None, **kw) -> Change:
    parts = address.split("/")
    return Change(id=address, kind=parts[-2], enterprise=parts[0], action=action, reason=reason,
                  fields=fields or [], **kw)


def mixed() -> Plan:
    return plan_of([
        ch("acme/web/Firewall/base", "create", "not in AWS",
           [FieldChange("description", None, "web tier"), FieldChange("ports", None, ["22", "443"])]),
        ch("acme/web/FirewallRules/base", "update", "ingress not as specified",
           [FieldChange("ingress", [{"ports": "22", "protocol": "tcp"}, {"ports": "8080", "protocol": "tcp"}],
                        [{"ports": "22", "protocol": "tcp"}, {"ports": "443", "protocol": "tcp"}])],
           aws_id="sg-0123456789abcdef0"),
        ch("acme/web/PrivateNetwork/db", "replace", "cidr changed: forces replacement",
           [FieldChange("cidr", "10.1.2.0/24", "10.1.3.0/24", forces_replacement=True)], aws_id="subnet-0a1b2c3d"),
        ch("acme/web/VirtualMachine/old", "delete", "not in the specs", aws_id="i-0abc", protected=True),
        ch("acme/web/Volume/data", "adopt", "exists in AWS without ownership tags: adopt it",
           [FieldChange("tags", {"controller:address": None}, {"controller:address": "acme/web/Volume/data"})],
           aws_id="vol-0def"),
        ch("acme/web/VirtualMachine/app", "update", "userData not as specified",
           [FieldChange("userData", "(sensitive, sha256:aaaaaaaaaaaa)", "(sensitive, sha256:bbbbbbbbbbbb)")],
           aws_id="i-0123", error="hardware profile m1.small is not offered in us-east-1c"),
        ch("acme/web/VirtualDatacenter/web", "no-op", "up to date", aws_id="vpc-1"),
        ch("globex/VirtualDatacenter/edge", "create", "not in AWS | with a pipe and `ticks`",
           [FieldChange("addressRange", None, "10.9.0.0/16"), FieldChange("note", None, "```not a fence```")]),
        ch("quiet/VirtualDatacenter/web", "no-op", "up to date", aws_id="vpc-2"),
    ], ["acme", "globex", "quiet"],
        hints=[{"id": "acme/web/PublicIp/nat", "what": "an idle Elastic IP", "usd_month": 3.6}])


def many(n_ents: int, n_changes: int) -> Plan:
    changes = [ch(f"e{e:03d}/web/Firewall/fw-{i:03d}", "create", "not in AWS",
                  [FieldChange("description", None, "x" * 60), FieldChange("ingress", None, [{"ports": str(i)}])])
               for e in range(n_ents) for i in range(n_changes)]
    return plan_of(changes, [f"e{e:03d}" for e in range(n_ents)])


CASES = {
    "mixed": lambda: render_markdown(mixed()),
    "no-changes": lambda: render_markdown(plan_of([ch("acme/web/VirtualDatacenter/web", "no-op", "up to date")],
                                                  ["acme"])),
    "cut-enterprises": lambda: render_markdown(many(6, 4), limit=3000),
    "cut-inside-one": lambda: render_markdown(many(1, 40), limit=2500),
}


@pytest.mark.parametrize("case", sorted(CASES), ids=sorted(CASES))
def test_markdown_matches_golden_file(case: str):
    text = CASES[case]()
    path = GOLDEN / f"plan-{case}.md"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{path} differs: UPDATE_GOLDEN=1 after an intended change"


def test_summary_comes_first_and_every_section_is_folded_and_closed():
    text = render_markdown(mixed())
    assert text.startswith("### controller plan — Plan: 2 to create, 2 to update, 1 to replace, 1 to delete, "
                           "1 to adopt")
    assert text.index("| Enterprise |") < text.index("<details>")
    assert text.count("<details>") == text.count("</details>") == 2  # acme and globex; quiet has no changes
    assert "1 enterprise(s) without changes: `quiet`" in text
    assert "1 change(s) cannot be applied" in text
    # the table's pipes are not broken by a reason holding one; a value cannot close the diff fence
    assert "````diff" in text
    assert "sensitive, sha256:" in text and "m1.small" in text


def test_a_huge_plan_is_cut_below_the_limit_with_a_count():
    text = render_markdown(many(300, 10))
    assert len(text) <= LIMIT
    m = re.search(r":scissors: (\d+) more enterprise\(s\) with changes not shown", text)
    assert m, text[-600:]
    shown = text.count("<details>")
    assert shown + int(m.group(1)) == 300
    assert text.count("<details>") == text.count("</details>")
    assert text.rstrip().endswith("</sub>")
    one = render_markdown(many(1, 2000))
    assert len(one) <= LIMIT and "more change(s) of e000 not shown" in one
    assert one.count("<details>") == one.count("</details>") == 1


def test_plan_format_markdown_and_json_through_the_cli(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": vdc_doc(),
                                             "fw.yaml": firewall_doc("base")})
    r = cli("plan", "--specs", str(specs), "--format", "markdown")
    assert r.code == 2, r.err
    assert r.out.startswith("### controller plan — Plan: 3 to create, 0 to update, 0 to replace, 0 to delete")
    assert "<details><summary><b>acme</b>: 3 to create</summary>" in r.out
    assert "+ acme/web/Firewall/base  # not in AWS" in r.out
    j1 = cli("plan", "--specs", str(specs), "--json")
    j2 = cli("plan", "--specs", str(specs), "--format", "json")
    assert j1.code == j2.code == 2
    strip = lambda out: {k: v for k, v in json.loads(out).items() if k not in ("created_at", "observe_seconds")}  # noqa: E731
    assert strip(j1.out) == strip(j2.out)
    bad = cli("plan", "--specs", str(specs), "--json", "--format", "markdown")
    assert bad.code == 64 and "disagree" in bad.err  # a usage error (docs/limits.md)

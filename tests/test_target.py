"""plan --target / --exclude end to end, checked in AWS: a targeted plan touches only what it names and
what that needs (planned too, and named as such), a saved partial plan keeps its targets through
`apply FILE`, an exclude takes out what cannot go without the excluded object, and a target that
matches nothing is an error."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import client, enterprise_doc, plan_json, write_specs
from tests.test_kind_vm import NETWORK

SPECS = {
    "ent.yaml": enterprise_doc(),
    "web.yaml": NETWORK + """\
---
apiVersion: controller/v1
kind: VirtualMachine
metadata: {name: vm-1, enterprise: acme, vdc: web}
spec:
  template: ami-03c3da4cfa8e8943a
  hardwareProfile: t3.micro
  nics: [{network: a}]
  firewall: web
""",
    "other.yaml": """\
apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {name: other, enterprise: acme}
spec: {region: us-east-1, addressRange: 10.1.0.0/16, network: {type: none}}
""",
}


def vpcs() -> set[str]:
    out = set()
    for v in client("ec2").describe_vpcs()["Vpcs"]:
        tags = {t["Key"]: t["Value"] for t in v.get("Tags", [])}
        if "controller:address" in tags:
            out.add(tags["controller:address"])
    return out


def owned(call: str, key: str) -> set[str]:
    items = getattr(client("ec2"), call)(Filters=[{"Name": "tag-key", "Values": ["controller:address"]}])[key]
    return {t["Value"] for i in items for t in i.get("Tags", []) if t["Key"] == "controller:address"}


def test_targeted_plan_and_its_dependencies(aws, cli, tmp_path: Path) -> None:
    specs = write_specs(tmp_path / "specs", SPECS)
    r = cli("plan", "--specs", str(specs), "--target", "acme/web/VirtualMachine/*", "--json")
    assert r.code == 2, r.out + r.err
    plan = json.loads(r.out)
    assert plan["partial"] and plan["targets"] == ["acme/web/VirtualMachine/*"]
    acting = {c["id"]: c for c in plan["changes"] if c["action"] != "no-op"}
    assert set(acting) == {"acme/web/VirtualMachine/vm-1", "acme/VirtualDatacenter/web", "acme/web/PrivateNetwork/a",
                           "acme/web/Firewall/web"}, sorted(acting)
    assert acting["acme/web/VirtualMachine/vm-1"]["needed_by"] is None
    assert acting["acme/web/PrivateNetwork/a"]["needed_by"] == "acme/web/VirtualMachine/vm-1"
    assert acting["acme/VirtualDatacenter/web"]["needed_by"] in ("acme/web/VirtualMachine/vm-1",
                                                                 "acme/web/PrivateNetwork/a")
    assert plan["left_out"] == 3  # network b, the firewall's rules, VDC other

    r = cli("plan", "--specs", str(specs), "--target", "acme/web/VirtualMachine/*")
    assert "This plan is partial (--target acme/web/VirtualMachine/*): 3 other changes" in r.out, r.out
    assert "not targeted: acme/web/VirtualMachine/vm-1 needs it" in r.out

    saved = tmp_path / "partial.json"
    assert cli("plan", "--specs", str(specs), "--target", "acme/web/VirtualMachine/*", "--out", str(saved)).code == 2
    r = cli("apply", str(saved), "--specs", str(specs))
    assert r.code == 0, r.out + r.err
    assert vpcs() == {"acme/VirtualDatacenter/web"}, "the untargeted VDC was not created"
    assert owned("describe_subnets", "Subnets") == {"acme/web/PrivateNetwork/a"}
    assert len([i for res in client("ec2").describe_instances()["Reservations"] for i in res["Instances"]]) == 1

    # a full plan now carries what the partial one left out, and nothing it did
    code, plan = plan_json(cli, specs)
    assert not plan["partial"]
    assert {c["id"] for c in plan["changes"] if c["action"] != "no-op"} == {
        "acme/VirtualDatacenter/other", "acme/web/PrivateNetwork/b", "acme/web/FirewallRules/web"}

    # --exclude: the excluded object, and what needs it created first, are left out
    r = cli("plan", "--specs", str(specs), "--exclude", "acme/VirtualDatacenter/other", "--json")
    plan = json.loads(r.out)
    assert {c["id"] for c in plan["changes"] if c["action"] != "no-op"} == {
        "acme/web/PrivateNetwork/b", "acme/web/FirewallRules/web"}
    assert plan["excludes"] == ["acme/VirtualDatacenter/other"] and plan["left_out"] == 1
    r = cli("apply", "--specs", str(specs), "--auto-approve", "--exclude", "acme/VirtualDatacenter/other")
    assert r.code == 0, r.out + r.err
    assert vpcs() == {"acme/VirtualDatacenter/web"}
    assert owned("describe_subnets", "Subnets") == {"acme/web/PrivateNetwork/a", "acme/web/PrivateNetwork/b"}


def test_exclude_takes_out_what_needs_the_excluded(aws, cli, tmp_path: Path) -> None:
    specs = write_specs(tmp_path / "specs", SPECS)
    r = cli("plan", "--specs", str(specs), "--exclude", "acme/web/PrivateNetwork/a", "--json")
    plan = json.loads(r.out)
    acting = {c["id"] for c in plan["changes"] if c["action"] != "no-op"}
    assert "acme/web/VirtualMachine/vm-1" not in acting and "acme/web/PrivateNetwork/a" not in acting
    assert {"acme/VirtualDatacenter/web", "acme/web/PrivateNetwork/b", "acme/VirtualDatacenter/other"} <= acting


def test_target_matching_nothing_is_an_error(aws, cli, tmp_path: Path) -> None:
    specs = write_specs(tmp_path / "specs", SPECS)
    r = cli("plan", "--specs", str(specs), "--target", "acme/web/VirtualMachin/*")
    assert r.code == 1
    assert "--target acme/web/VirtualMachin/* matches no object of the plan" in r.err, r.err
    r = cli("plan", "--specs", str(specs), "--target", "acme/web/*", "--format", "markdown")
    assert r.code == 2 and "**This plan is partial** (`--target acme/web/*`): 1 other change(s)" in r.out, r.out
    saved = tmp_path / "p.json"
    assert cli("plan", "--specs", str(specs), "--target", "acme/web/*", "--out", str(saved)).code == 2
    r = cli("apply", str(saved), "--specs", str(specs), "--target", "acme/*")
    assert r.code == 64 and "apply FILE takes no --target" in r.err  # a usage error (docs/limits.md)
    assert vpcs() == set()

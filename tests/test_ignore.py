"""Ignore rules end to end, checked in AWS: a VM whose state, first nic's secondary IPs and Owner tag
are ignored (the document's metadata.ignore and the Enterprise's spec.ignore). Creation uses the
values; changed by hand they are not drift, counted as ignored, and neither a fresh apply, a saved
plan nor the daemon writes them back, while the fields that are not ignored still converge."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.helpers import NONE_VDC, apply_ok, client, enterprise_doc, no_changes, plan_json, write_specs
from tests.test_daemon import DaemonProc, wait_for

ENTERPRISE = enterprise_doc(extra="""\
  ignore:
    - {kind: VirtualMachine, paths: [tags.Own*]}
""")
NETWORK = NONE_VDC


def vm(profile: str = "t3.micro", cost: str = "1", ignore: str = '[spec.state, "spec.nics[0].secondaryIps"]') -> str:
    return f"""\
apiVersion: controller/v1
kind: VirtualMachine
metadata: {{name: vm-1, enterprise: acme, vdc: web, ignore: {ignore}, tags: {{Owner: alice, CostCenter: "{cost}"}}}}
spec:
  template: ami-03c3da4cfa8e8943a
  hardwareProfile: {profile}
  state: deployed
  nics: [{{network: a, secondaryIps: [10.0.1.10]}}]
"""


def instance() -> dict:
    found = [i for r in client("ec2").describe_instances(Filters=[
        {"Name": "tag:controller:address", "Values": ["acme/web/VirtualMachine/vm-1"]}])["Reservations"]
        for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    assert len(found) == 1, found
    return found[0]


def secondary_ips(inst: dict) -> set[str]:
    return {a["PrivateIpAddress"] for n in inst["NetworkInterfaces"] for a in n["PrivateIpAddresses"]
            if not a["Primary"]}


def tags(inst: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in inst["Tags"]}


def drift_by_hand() -> str:
    ec2 = client("ec2")
    inst = instance()
    iid = inst["InstanceId"]
    ec2.stop_instances(InstanceIds=[iid])
    ec2.assign_private_ip_addresses(NetworkInterfaceId=inst["NetworkInterfaces"][0]["NetworkInterfaceId"],
                                    PrivateIpAddresses=["10.0.1.11"])
    ec2.create_tags(Resources=[iid], Tags=[{"Key": "Owner", "Value": "bob"}])
    return iid


def test_ignored_fields_in_plan_apply_and_saved_plan(aws, cli, tmp_path: Path) -> None:
    specs = write_specs(tmp_path / "specs", {"ent.yaml": ENTERPRISE, "net.yaml": NETWORK, "vm.yaml": vm()})
    apply_ok(cli, specs)
    inst = instance()  # creation uses the ignored values
    assert inst["State"]["Name"] == "running" and secondary_ips(inst) == {"10.0.1.10"}
    assert tags(inst)["Owner"] == "alice"
    no_changes(cli, specs)

    iid = drift_by_hand()
    code, plan = plan_json(cli, specs)
    assert code == 0 and plan["ignored"] == 3, plan
    vm_change = next(c for c in plan["changes"] if c["id"] == "acme/web/VirtualMachine/vm-1")
    assert vm_change["action"] == "no-op" and vm_change["ignored"] == 3 and vm_change["fields"] == []
    r = cli("plan", "--specs", str(specs))
    assert r.code == 0 and "No changes" in r.out and "Ignored: 3 live differences" in r.out, r.out
    r = cli("plan", "--specs", str(specs), "--all")
    assert re.search(r"acme/web/VirtualMachine/vm-1 \(i-\w+\)  # up to date; 3 ignored differences", r.out), r.out
    apply_ok(cli, specs)  # a fresh apply: nothing to do, nothing written back
    inst = instance()
    assert inst["State"]["Name"] == "stopped" and secondary_ips(inst) == {"10.0.1.10", "10.0.1.11"}
    assert tags(inst)["Owner"] == "bob"

    # other fields still converge, through a saved plan; the update writes none of the ignored ones
    specs = write_specs(tmp_path / "specs", {"vm.yaml": vm(profile="t3.small", cost="2")})
    out = tmp_path / "plan.json"
    r = cli("plan", "--specs", str(specs), "--out", str(out))
    assert r.code == 2, r.out + r.err
    saved = json.loads(out.read_text())
    vm_change = next(c for c in saved["changes"] if c["id"] == "acme/web/VirtualMachine/vm-1")
    assert {f["path"] for f in vm_change["fields"]} == {"instanceType", "tags.CostCenter"}, vm_change
    r = cli("apply", str(out), "--specs", str(specs))
    assert r.code == 0, r.out + r.err
    inst = instance()
    assert inst["InstanceId"] == iid and inst["InstanceType"] == "t3.small"
    assert inst["State"]["Name"] == "stopped", "the update left the ignored state as it found it"
    assert secondary_ips(inst) == {"10.0.1.10", "10.0.1.11"}
    assert tags(inst)["Owner"] == "bob" and tags(inst)["CostCenter"] == "2"
    no_changes(cli, specs)

    # no longer ignored: the same differences are drift again, and corrected
    specs = write_specs(tmp_path / "specs", {"vm.yaml": vm(profile="t3.small", cost="2", ignore="[]"),
                                             "ent.yaml": ENTERPRISE.split("  ignore:")[0]})
    code, plan = plan_json(cli, specs)
    vm_change = next(c for c in plan["changes"] if c["id"] == "acme/web/VirtualMachine/vm-1")
    assert code == 2 and {f["path"] for f in vm_change["fields"]} == {"state", "secondaryIps", "tags.Owner"}
    assert plan["ignored"] == 0
    apply_ok(cli, specs)
    inst = instance()
    assert inst["State"]["Name"] == "running" and secondary_ips(inst) == {"10.0.1.10"}
    assert tags(inst)["Owner"] == "alice"


def test_daemon_never_corrects_an_ignored_state(aws, tmp_path: Path) -> None:
    specs = write_specs(tmp_path / "specs", {"ent.yaml": ENTERPRISE, "net.yaml": NETWORK,
                                             "vm.yaml": vm(ignore="[spec.state]")})
    d = DaemonProc(["--specs", str(specs), "--resync", "1", "--debounce", "0.3"], aws.env(), tmp_path / "d.log")
    try:
        wait_for(lambda: d.events("resource_created", address="acme/web/VirtualMachine/vm-1"), 60, "the VM created")
        wait_for(lambda: instance()["State"]["Name"] == "running", 30, "the VM running")
        client("ec2").stop_instances(InstanceIds=[instance()["InstanceId"]])
        seen = len(d.events("reconcile_finished"))
        wait_for(lambda: len(d.events("reconcile_finished")) >= seen + 3, 60, "three resyncs after the stop")
        assert instance()["State"]["Name"] == "stopped"
        assert not d.events("drift_found", address="acme/web/VirtualMachine/vm-1")
        assert not d.events("resource_updated", address="acme/web/VirtualMachine/vm-1")
    finally:
        d.stop()


def test_ignore_paths_that_match_no_field_are_errors(cli, tmp_path: Path) -> None:
    bad_ent = ENTERPRISE.replace("paths: [tags.Own*]", "paths: [spec.stat]") + """\
    - {kind: VirtualMachin, paths: [spec.state]}
"""
    specs = write_specs(tmp_path / "specs", {"ent.yaml": bad_ent, "net.yaml": NETWORK,
                                             "vm.yaml": vm(ignore='["spec.nics[0].secondaryIp", status, "spec.*"]')})
    r = cli("validate", "--specs", str(specs))
    assert r.code == 1
    assert "ignore path 'spec.stat' matches no field of this kind" in r.err
    assert "unknown kind 'VirtualMachin' in spec.ignore" in r.err and "did you mean 'VirtualMachine'?" in r.err
    assert "vm.yaml:3:" in r.err and "'spec.nics[0].secondaryIp' matches no field" in r.err
    assert "ignore path 'status' must start with spec. or tags." in r.err
    assert "spec.*" not in r.err  # a glob that matches fields is fine
    assert r.err.count("error:") == 4, r.err

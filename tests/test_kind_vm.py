"""VirtualMachine end to end through the CLI against a real moto server: the round trip (drift in
state and instance type corrected, delete terminates), addresses on the ENIs, two nics, powered-off
and undeployed, and user data that is never printed."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.helpers import NONE_VDC, by_address, client, enterprise_doc, no_changes, plan_json, write_specs
from tests.helpers import apply_ok as apply

AMI = "ami-03c3da4cfa8e8943a"
VM = "acme/web/VirtualMachine/vm-1"

NETWORK = NONE_VDC + """\
---
apiVersion: controller/v1
kind: PrivateNetwork
metadata: {name: b, enterprise: acme, vdc: web}
spec: {cidr: 10.0.2.0/24}
---
apiVersion: controller/v1
kind: Firewall
metadata: {name: web, enterprise: acme, vdc: web}
spec:
  ingress: [{protocol: tcp, ports: "22", from: [0.0.0.0/0]}]
"""

SECRET = "TOKEN-7f3c9a-do-not-print"


def user_doc() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"""\
apiVersion: controller/v1
kind: User
metadata: {{name: alice, enterprise: acme}}
spec: {{sshPublicKey: {key} alice@laptop}}
"""


def vm_doc(spec: str, name: str = "vm-1") -> str:
    head = f"apiVersion: controller/v1\nkind: VirtualMachine\nmetadata: {{name: {name}, enterprise: acme, vdc: web}}\n"
    return head + "spec:\n" + "".join(f"  {line}\n" for line in spec.strip().splitlines())


def specs_with(tmp_path: Path, vm: str | None) -> Path:
    files = {"ent.yaml": enterprise_doc(), "net.yaml": NETWORK}
    files["vm.yaml"] = vm or "# no VM\n"
    return write_specs(tmp_path / "specs", files)


def instances(ec2, address: str = VM, live_only: bool = True) -> list[dict]:
    out = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    out = by_address(out, address)
    if live_only:
        out = [i for i in out if i["State"]["Name"] not in ("terminated", "shutting-down")]
    return out


def one_instance(ec2, address: str = VM) -> dict:
    found = instances(ec2, address)
    assert len(found) == 1, f"expected one instance tagged {address}, found {len(found)}"
    return found[0]


def change(plan: dict, cid: str) -> dict:
    return next(c for c in plan["changes"] if c["id"] == cid)


def test_vm_round_trip_drift_corrected_and_terminated(aws, cli, tmp_path: Path):
    """create -> no changes -> stopped out of band -> corrected -> type changed out of band -> corrected
    -> document removed -> terminated, its boot disk with it. User data never shows in any plan."""
    user_data = f"#!/bin/sh\necho {SECRET} > /etc/token\n"
    spec = f"""
template: {AMI}
hardwareProfile: t3.micro
state: deployed
nics: [{{network: a}}]
firewall: web
sshKey: alice
bootDisk: {{sizeGiB: 12, type: gp3}}
userData: {json.dumps(user_data)}
"""
    specs = specs_with(tmp_path, vm_doc(spec))
    write_specs(specs, {"user.yaml": user_doc()})
    r = cli("plan", "--specs", str(specs))
    assert r.code == 2, r.out + r.err
    assert f"+ {VM}" in r.out and f"+ acme/Template/{AMI}" not in r.out  # the AMI exists: nothing to do
    assert SECRET not in r.out and "userData: (sensitive, sha256:" in r.out
    r = cli("plan", "--specs", str(specs), "--json")
    assert SECRET not in r.out and "echo" not in r.out
    apply(cli, specs)

    ec2 = client("ec2")
    inst = one_instance(ec2)
    assert inst["InstanceType"] == "t3.micro" and inst["ImageId"] == AMI and inst["KeyName"] == "alice"
    assert inst["State"]["Name"] == "running"
    sgs = by_address(ec2.describe_security_groups()["SecurityGroups"], "acme/web/Firewall/web")
    assert [g["GroupId"] for g in inst["SecurityGroups"]] == [sgs[0]["GroupId"]]
    root = next(m for m in inst["BlockDeviceMappings"] if m["DeviceName"] == inst["RootDeviceName"])
    assert root["Ebs"]["DeleteOnTermination"] is True
    boot_id = root["Ebs"]["VolumeId"]
    boot = ec2.describe_volumes(VolumeIds=[boot_id])["Volumes"][0]
    assert (boot["Size"], boot["VolumeType"]) == (12, "gp3")
    assert {"Key": "controller:address", "Value": VM} in boot["Tags"]
    no_changes(cli, specs)

    # stopped out of band: state drift, started again
    ec2.stop_instances(InstanceIds=[inst["InstanceId"]])
    code, plan = plan_json(cli, specs)
    assert code == 2
    ch = change(plan, VM)
    assert ch["action"] == "update"
    assert [(f["path"], f["before"], f["after"]) for f in ch["fields"]] == [("state", "powered-off", "deployed")]
    apply(cli, specs)
    assert one_instance(ec2)["State"]["Name"] == "running"
    no_changes(cli, specs)

    # instance type changed out of band: corrected in place (same instance)
    ec2.stop_instances(InstanceIds=[inst["InstanceId"]])
    ec2.modify_instance_attribute(InstanceId=inst["InstanceId"], InstanceType={"Value": "t3.small"})
    ec2.start_instances(InstanceIds=[inst["InstanceId"]])
    code, plan = plan_json(cli, specs)
    assert code == 2
    ch = change(plan, VM)
    assert ch["action"] == "update"
    assert [(f["path"], f["before"], f["after"]) for f in ch["fields"]] == [("instanceType", "t3.small", "t3.micro")]
    apply(cli, specs)
    now = one_instance(ec2)
    assert now["InstanceId"] == inst["InstanceId"]
    assert now["InstanceType"] == "t3.micro" and now["State"]["Name"] == "running"
    no_changes(cli, specs)

    # the document removed: terminated, with its boot disk
    specs = specs_with(tmp_path, None)
    r = cli("plan", "--specs", str(specs))
    assert r.code == 2, r.out + r.err
    assert f"- {VM}" in r.out and "not in the specs" in r.out
    apply(cli, specs)
    assert instances(ec2) == []
    gone = [i for i in instances(ec2, live_only=False) if i["InstanceId"] == inst["InstanceId"]]
    assert gone and gone[0]["State"]["Name"] == "terminated"
    assert ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [boot_id]}])["Volumes"] == []
    no_changes(cli, specs)


def test_static_and_secondary_ips_on_two_nics(aws, cli, tmp_path: Path):
    """A fixed primary IP and secondary IPs on nic 0, AWS's pick on nic 1; secondary IPs change in
    place; the firewall set on every nic and restored when changed out of band."""
    spec = """
template: {ami}
hardwareProfile: t3.small
nics:
  - {{network: a, ip: 10.0.1.10, secondaryIps: [{ips}]}}
  - {{network: b}}
firewall: web
"""
    specs = specs_with(tmp_path, vm_doc(spec.format(ami=AMI, ips="10.0.1.12, 10.0.1.11")))
    apply(cli, specs)
    ec2 = client("ec2")
    inst = one_instance(ec2)
    nics = sorted(inst["NetworkInterfaces"], key=lambda n: n["Attachment"]["DeviceIndex"])
    assert len(nics) == 2
    subnets = {s["SubnetId"]: s["CidrBlock"] for s in ec2.describe_subnets()["Subnets"]}
    assert [subnets[n["SubnetId"]] for n in nics] == ["10.0.1.0/24", "10.0.2.0/24"]

    def addresses(eni_id: str) -> tuple[str, list[str]]:
        eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0]
        return eni["PrivateIpAddress"], sorted(a["PrivateIpAddress"] for a in eni["PrivateIpAddresses"]
                                               if not a["Primary"])

    assert addresses(nics[0]["NetworkInterfaceId"]) == ("10.0.1.10", ["10.0.1.11", "10.0.1.12"])
    assert addresses(nics[1]["NetworkInterfaceId"])[1] == []
    no_changes(cli, specs)

    # one secondary IP swapped: updated in place on the ENI, not replaced
    specs = specs_with(tmp_path, vm_doc(spec.format(ami=AMI, ips="10.0.1.11, 10.0.1.13")))
    code, plan = plan_json(cli, specs)
    assert code == 2
    ch = change(plan, VM)
    assert ch["action"] == "update" and [f["path"] for f in ch["fields"]] == ["secondaryIps"]
    apply(cli, specs)
    assert one_instance(ec2)["InstanceId"] == inst["InstanceId"]
    assert addresses(nics[0]["NetworkInterfaceId"]) == ("10.0.1.10", ["10.0.1.11", "10.0.1.13"])
    no_changes(cli, specs)

    # the firewall swapped out of band for the VPC's default group: restored
    vpc_id = inst["VpcId"]
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                    {"Name": "group-name", "Values": ["default"]}])
    ec2.modify_instance_attribute(InstanceId=inst["InstanceId"], Groups=[default["SecurityGroups"][0]["GroupId"]])
    code, plan = plan_json(cli, specs)
    assert code == 2
    ch = change(plan, VM)
    assert ch["action"] == "update" and [f["path"] for f in ch["fields"]] == ["firewall"]
    apply(cli, specs)
    web = by_address(ec2.describe_security_groups()["SecurityGroups"], "acme/web/Firewall/web")[0]["GroupId"]
    assert [g["GroupId"] for g in one_instance(ec2)["SecurityGroups"]] == [web]
    no_changes(cli, specs)


def test_powered_off_then_undeployed_keeps_data_volume(aws, cli, tmp_path: Path):
    spec = """
template: {ami}
hardwareProfile: t3.micro
state: {state}
nics: [{{network: a}}]
"""
    specs = specs_with(tmp_path, vm_doc(spec.format(ami=AMI, state="powered-off")))
    apply(cli, specs)
    ec2 = client("ec2")
    inst = one_instance(ec2)
    assert inst["State"]["Name"] == "stopped"
    no_changes(cli, specs)
    assert len(inst["BlockDeviceMappings"]) == 1  # the boot disk (moto puts it on /dev/sda1 whatever the AMI says)
    boot_id = inst["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    # a data volume attached outside the controller (the Volume kind's business) must survive
    data = ec2.create_volume(Size=5, AvailabilityZone=inst["Placement"]["AvailabilityZone"])["VolumeId"]
    ec2.attach_volume(VolumeId=data, InstanceId=inst["InstanceId"], Device="/dev/sdf")

    specs = specs_with(tmp_path, vm_doc(spec.format(ami=AMI, state="undeployed")))
    code, plan = plan_json(cli, specs)
    assert code == 2
    ch = change(plan, VM)
    assert ch["action"] == "delete" and ch["reason"] == "state: undeployed"
    apply(cli, specs)
    assert instances(ec2) == []
    assert ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [boot_id]}])["Volumes"] == []
    vol = ec2.describe_volumes(VolumeIds=[data])["Volumes"][0]
    assert vol["State"] == "available"
    no_changes(cli, specs)

    # deployed again: a new instance
    specs = specs_with(tmp_path, vm_doc(spec.format(ami=AMI, state="deployed")))
    apply(cli, specs)
    again = one_instance(ec2)
    assert again["InstanceId"] != inst["InstanceId"] and again["State"]["Name"] == "running"

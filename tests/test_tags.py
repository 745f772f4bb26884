"""Your own tags end to end, read back from AWS itself: an estate with every kind that makes AWS
objects (a default VDC with its gateways, route tables and NAT Elastic IP, networks, a firewall, a
VM with its root volume, nic and automatic public IP, a volume, a public IP, a key pair, an ALB
with its target group, a VPN with its gateways).

Round trip: created with the enterprise's defaultTags and each document's own tags (they win) ->
a foreign tag added by hand on every object stays and is not drift -> a value changed by hand on
every object is drift, shown key by key, corrected by an update (never a replacement) -> a key
removed from the specs disappears from AWS -> the `controller:tags` list edited by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.helpers import DEFAULT_VDC, apply_ok, client, enterprise_doc, no_changes, plan_json, write_specs

ENTERPRISE = enterprise_doc(extra='  defaultTags: {Team: web, CostCenter: "100"}\n')

VM_TAGS = '{CostCenter: "200", Owner: alice, "team x": "a=b c"}'


KEY = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
    serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def estate(vm_tags: str = VM_TAGS) -> dict[str, str]:
    vdc = DEFAULT_VDC.replace("metadata: {name: web, enterprise: acme}",
                              "metadata: {name: web, enterprise: acme, tags: {Tier: net}}")
    return {"ent.yaml": ENTERPRISE, "vdc.yaml": vdc, "rest.yaml": f"""\
apiVersion: controller/v1
kind: PrivateNetwork
metadata: {{name: public-b, enterprise: acme, vdc: web}}
spec: {{cidr: 10.10.10.0/24, availabilityZone: us-east-1b, internetGateway: true}}
---
apiVersion: controller/v1
kind: Firewall
metadata: {{name: web, enterprise: acme, vdc: web, tags: {{Tier: front}}}}
spec:
  ingress: [{{protocol: tcp, ports: "80", from: [0.0.0.0/0]}}]
---
apiVersion: controller/v1
kind: User
metadata: {{name: alice, enterprise: acme}}
spec: {{sshPublicKey: {KEY}}}
---
apiVersion: controller/v1
kind: VirtualMachine
metadata: {{name: vm-1, enterprise: acme, vdc: web, tags: {vm_tags}}}
spec:
  template: ami-03c3da4cfa8e8943a
  hardwareProfile: t3.micro
  nics: [{{network: public, publicIp: auto}}]
  firewall: web
  sshKey: alice
  volumes: [data]
---
apiVersion: controller/v1
kind: Volume
metadata: {{name: data, enterprise: acme, vdc: web, tags: {{Backup: daily}}}}
spec: {{sizeGiB: 1}}
---
apiVersion: controller/v1
kind: PublicIp
metadata: {{name: spare, enterprise: acme, vdc: web}}
spec: {{}}
---
apiVersion: controller/v1
kind: LoadBalancer
metadata: {{name: web-lb, enterprise: acme, vdc: web}}
spec:
  networks: [public, public-b]
  firewall: web
  listeners: [{{protocol: HTTP, port: 80, targetPort: 8080}}]
  members: [vm-1]
---
apiVersion: controller/v1
kind: Vpn
metadata: {{name: office, enterprise: acme, vdc: web}}
spec: {{remoteAddress: 198.51.100.7}}
"""}


def _tags(obj: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in obj.get("Tags") or obj.get("TagSet") or []}


EC2_LISTINGS = [  # (describe call, list key, id field)
    ("describe_vpcs", "Vpcs", "VpcId"), ("describe_subnets", "Subnets", "SubnetId"),
    ("describe_internet_gateways", "InternetGateways", "InternetGatewayId"),
    ("describe_route_tables", "RouteTables", "RouteTableId"), ("describe_nat_gateways", "NatGateways", "NatGatewayId"),
    ("describe_addresses", "Addresses", "AllocationId"), ("describe_security_groups", "SecurityGroups", "GroupId"),
    ("describe_volumes", "Volumes", "VolumeId"), ("describe_network_interfaces", "NetworkInterfaces",
                                                  "NetworkInterfaceId"),
    ("describe_key_pairs", "KeyPairs", "KeyPairId"), ("describe_vpn_gateways", "VpnGateways", "VpnGatewayId"),
    ("describe_customer_gateways", "CustomerGateways", "CustomerGatewayId"),
    ("describe_vpn_connections", "VpnConnections", "VpnConnectionId"),
]


def aws_tags() -> dict[str, dict[str, str]]:
    """Every object in the account, by AWS id: its tags (read from AWS, not from the controller)."""
    ec2, v2 = client("ec2"), client("elbv2")
    out: dict[str, dict[str, str]] = {}
    for call, key, id_field in EC2_LISTINGS:
        for o in getattr(ec2, call)()[key]:
            if o.get("State") in ("deleted", "terminated") or o.get("State", {}) == {"Name": "terminated"}:
                continue
            out[o[id_field]] = _tags(o)
    for r in ec2.describe_instances()["Reservations"]:
        for i in r["Instances"]:
            if i["State"]["Name"] != "terminated":
                out[i["InstanceId"]] = _tags(i)
    arns = [lb["LoadBalancerArn"] for lb in v2.describe_load_balancers()["LoadBalancers"]]
    arns += [tg["TargetGroupArn"] for tg in v2.describe_target_groups()["TargetGroups"]]
    if arns:
        for d in v2.describe_tags(ResourceArns=arns)["TagDescriptions"]:
            out[d["ResourceArn"]] = _tags(d)
    return out


def ours(tags: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {i: t for i, t in tags.items() if "controller:address" in t}


def expected(address: str, vm_tags: dict[str, str]) -> dict[str, str]:
    """The user tags an object with this ownership address must carry."""
    base = {"Team": "web", "CostCenter": "100"}
    if "/VirtualMachine/vm-1" in address or "/PublicIp/vm-1.nic0" in address:
        return {**base, **vm_tags}
    if "/Firewall/" in address:
        return {**base, "Tier": "front"}
    if "/Volume/data" in address:
        return {**base, "Backup": "daily"}
    parts = ("/VirtualDatacenter/", "/InternetGateway/", "/RouteTable/", "/NatGateway/", "/PrivateNetwork/public",
             "/PrivateNetwork/default")
    if any(p in address for p in parts) and "public-b" not in address:
        return {**base, "Tier": "net"}
    return base


def is_part(aws_id: str, address: str) -> bool:
    """An object that carries another one's tags: a VM's nic and root volume, a VPN's gateways, an ALB's
    target group, the NAT gateway's own Elastic IP."""
    return (aws_id.startswith(("eni-", "vgw-", "cgw-")) or ":targetgroup/" in aws_id
            or (aws_id.startswith("vol-") and "/VirtualMachine/" in address)
            or (aws_id.startswith("eipalloc-") and "/NatGateway/" in address))


def check_estate(vm_tags: dict[str, str]) -> dict[str, dict[str, str]]:
    tags = ours(aws_tags())
    kinds = {t["controller:address"].split("@")[0].split("/")[-2] for t in tags.values()}
    assert kinds >= {"VirtualDatacenter", "PrivateNetwork", "InternetGateway", "RouteTable", "NatGateway", "Firewall",
                     "VirtualMachine", "Volume", "PublicIp", "User", "LoadBalancer", "Vpn"}, kinds
    for aws_id, t in tags.items():
        want = expected(t["controller:address"], vm_tags)
        have = {k: v for k, v in t.items() if k in want or k in ("Owner", "team x", "Tier", "Backup")}
        assert have == want, (aws_id, t)
        assert set(t["controller:tags"].split(" ")) == {k.replace(" ", "=20") for k in want}, (aws_id, t)
    return tags


def test_tags_round_trip_on_every_object(aws, cli, tmp_path: Path) -> None:
    files = estate()
    specs = write_specs(tmp_path / "specs", files)
    apply_ok(cli, specs)
    vm_tags = {"CostCenter": "200", "Owner": "alice", "team x": "a=b c"}
    tags = check_estate(vm_tags)
    # the VM's parts: its root volume and its nic carry the VM's tags from creation, the NAT's own EIP the VDC's
    vm_parts = [i for i, t in tags.items() if t["controller:address"] == "acme/web/VirtualMachine/vm-1"]
    assert {i.split("-")[0] for i in vm_parts} == {"i", "vol", "eni"}, vm_parts
    assert any(i.startswith("eipalloc-") and t["controller:address"] == "acme/web/NatGateway/nat"
               for i, t in tags.items())
    no_changes(cli, specs)

    ec2, v2 = client("ec2"), client("elbv2")

    def tag(aws_id: str, key: str, value: str) -> None:
        if aws_id.startswith("arn:"):
            v2.add_tags(ResourceArns=[aws_id], Tags=[{"Key": key, "Value": value}])
        else:
            ec2.create_tags(Resources=[aws_id], Tags=[{"Key": key, "Value": value}])

    # a foreign tag (another tool's, a person's) on every object: left alone, not drift, survives an apply
    for aws_id in tags:
        tag(aws_id, "kubernetes.io/cluster", "shared")
    no_changes(cli, specs)

    # a value changed by hand on every object that has an address of its own: drift, key by key, an update
    top = {t["controller:address"]: i for i, t in tags.items() if not is_part(i, t["controller:address"])}
    for aws_id in top.values():
        tag(aws_id, "Team", "hacked")
    code, plan = plan_json(cli, specs)
    assert code == 2
    changed = {c["id"].split("@")[0]: c for c in plan["changes"] if c["action"] != "no-op"}
    assert set(changed) >= {a.split("@")[0] for a in top}, sorted(set(top) - set(changed))
    for c in changed.values():
        assert c["action"] == "update", c
        assert c["fields"] == [{"path": "tags.Team", "before": "hacked", "after": "web", "forces_replacement": False}]
    r = cli("plan", "--specs", str(specs))
    assert "tags.Team: hacked → web" in r.out
    apply_ok(cli, specs)
    after = ours(aws_tags())
    assert set(after) == set(tags), "nothing was replaced"
    assert all(t["Team"] == "web" and t["kubernetes.io/cluster"] == "shared" for t in after.values()), after
    no_changes(cli, specs)

    # a key removed from the specs is removed from AWS (from the VM's root volume and nic too); others stay
    specs = write_specs(tmp_path / "specs", estate('{CostCenter: "300"}'))
    code, plan = plan_json(cli, specs)
    vm = next(c for c in plan["changes"] if c["id"] == "acme/web/VirtualMachine/vm-1")
    paths = {f["path"]: (f["before"], f["after"]) for f in vm["fields"]}
    assert paths["tags.Owner"] == ("alice", None) and paths["tags.team x"] == ("a=b c", None)
    assert paths["tags.CostCenter"] == ("200", "300")
    apply_ok(cli, specs)
    check_estate({"CostCenter": "300"})
    final = ours(aws_tags())
    for i in vm_parts:
        assert "Owner" not in final[i] and "team x" not in final[i] and final[i]["kubernetes.io/cluster"] == "shared"
    no_changes(cli, specs)

    # someone edits the list by hand: a foreign key added to it is then the controller's, and removed
    vpc = top["acme/VirtualDatacenter/web"]
    tag(vpc, "controller:tags", "CostCenter Team Tier kubernetes.io/cluster")
    code, plan = plan_json(cli, specs)
    ch = next(c for c in plan["changes"] if c["id"] == "acme/VirtualDatacenter/web")
    assert {f["path"] for f in ch["fields"]} == {"tags.kubernetes.io/cluster", "tags.controller:tags"}
    # ... and the whole list deleted by hand: restored, nothing else changes
    ec2.delete_tags(Resources=[vpc], Tags=[{"Key": "controller:tags"}])
    code, plan = plan_json(cli, specs)
    ch = next(c for c in plan["changes"] if c["id"] == "acme/VirtualDatacenter/web")
    assert [f["path"] for f in ch["fields"]] == ["tags.controller:tags"]
    apply_ok(cli, specs)
    assert ours(aws_tags())[vpc]["kubernetes.io/cluster"] == "shared"
    no_changes(cli, specs)


"""PublicIp and PublicIpAssociation end to end through the CLI against a real moto server, asserted on AWS."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import DEFAULT_VDC, apply_ok, by_address, client, enterprise_doc, no_changes, write_specs
from tests.helpers import changes_by_id as plan_json

AMI = "ami-03c3da4cfa8e8943a"  # al2023 x86_64 in us-east-1

VDC = """\
apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {name: web, enterprise: acme}
spec: {region: us-east-1, availabilityZone: us-east-1a, addressRange: 10.10.0.0/16, network: {type: none}}
---
apiVersion: controller/v1
kind: PrivateNetwork
metadata: {name: dmz, enterprise: acme, vdc: web}
spec: {cidr: 10.10.0.0/24, internetGateway: true}
"""


def public_ip(name: str, spec: str = "{}", vdc: str | None = "web") -> str:
    where = f", vdc: {vdc}" if vdc else ""
    return f"""\
apiVersion: controller/v1
kind: PublicIp
metadata: {{name: {name}, enterprise: acme{where}}}
spec: {spec}
"""


def vm(name: str, nic: str, state: str = "deployed") -> str:
    return f"""\
apiVersion: controller/v1
kind: VirtualMachine
metadata: {{name: {name}, enterprise: acme, vdc: web}}
spec:
  template: {AMI}
  hardwareProfile: t3.micro
  state: {state}
  nics: [{nic}]
"""


def eips(ec2, address: str) -> list[dict]:
    return by_address(ec2.describe_addresses()["Addresses"], address)


def one_eip(ec2, address: str) -> dict:
    found = eips(ec2, address)
    assert len(found) == 1, f"expected one Elastic IP tagged {address}, found {len(found)}"
    return found[0]


def instance(ec2, address: str) -> dict:
    found = [i for i in by_address([i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]],
                                   address) if i["State"]["Name"] != "terminated"]
    assert len(found) == 1, f"expected one instance tagged {address}, found {len(found)}"
    return found[0]


def test_public_ip_round_trip(aws, cli, tmp_path: Path):
    root = tmp_path / "specs"
    specs = write_specs(root, {"ent.yaml": enterprise_doc(), "vdc.yaml": VDC,
                               "ips.yaml": public_ip("web-ip") + "---\n"
                               + public_ip("fixed", "{region: us-east-1, address: 127.1.2.3}", vdc=None)})
    r = cli("plan", "--specs", str(specs))
    assert r.code == 2 and "+ acme/web/PublicIp/web-ip" in r.out and "+ acme/PublicIp/fixed" in r.out, r.out
    apply_ok(cli, specs)
    ec2 = client("ec2")
    web = one_eip(ec2, "acme/web/PublicIp/web-ip")
    assert web["Domain"] == "vpc" and {t["Key"]: t["Value"] for t in web["Tags"]}["Name"] == "web-ip"
    assert one_eip(ec2, "acme/PublicIp/fixed")["PublicIp"] == "127.1.2.3"
    no_changes(cli, specs)

    # renamed in the console: the Name tag is restored
    ec2.create_tags(Resources=[web["AllocationId"]], Tags=[{"Key": "Name", "Value": "renamed"}])
    ch = plan_json(cli, specs)["acme/web/PublicIp/web-ip"]
    assert ch["action"] == "update" and ch["fields"][0]["path"] == "tags.Name"
    assert ch["fields"][0]["before"] == "renamed" and ch["fields"][0]["after"] == "web-ip"
    apply_ok(cli, specs)
    assert {t["Key"]: t["Value"] for t in one_eip(ec2, "acme/web/PublicIp/web-ip")["Tags"]}["Name"] == "web-ip"
    no_changes(cli, specs)

    # released out of band: allocated again, with its address
    ec2.release_address(AllocationId=one_eip(ec2, "acme/PublicIp/fixed")["AllocationId"])
    assert plan_json(cli, specs)["acme/PublicIp/fixed"]["action"] == "create"
    apply_ok(cli, specs)
    assert one_eip(ec2, "acme/PublicIp/fixed")["PublicIp"] == "127.1.2.3"
    no_changes(cli, specs)

    # the documents removed: released
    write_specs(root, {"ips.yaml": public_ip("fixed", "{region: us-east-1, address: 127.1.2.3}", vdc=None)})
    changes = plan_json(cli, specs)
    assert changes["acme/web/PublicIp/web-ip"]["action"] == "delete"
    apply_ok(cli, specs)
    assert eips(ec2, "acme/web/PublicIp/web-ip") == []
    assert ec2.describe_addresses(Filters=[{"Name": "allocation-id", "Values": [web["AllocationId"]]}])[
        "Addresses"] == []
    no_changes(cli, specs)


def test_vm_nics_with_named_and_auto_public_ips(aws, cli, tmp_path: Path):
    root = tmp_path / "specs"
    specs = write_specs(root, {
        "ent.yaml": enterprise_doc(), "vdc.yaml": VDC, "ips.yaml": public_ip("web-ip"),
        "vms.yaml": vm("web-1", "{network: dmz, ip: 10.10.0.10, publicIp: web-ip}") + "---\n"
        + vm("web-2", "{network: dmz, publicIp: auto}"),
    })
    apply_ok(cli, specs)
    ec2 = client("ec2")
    web1, web2 = instance(ec2, "acme/web/VirtualMachine/web-1"), instance(ec2, "acme/web/VirtualMachine/web-2")
    named, auto = one_eip(ec2, "acme/web/PublicIp/web-ip"), one_eip(ec2, "acme/web/PublicIp/web-2.nic0")
    assert (named.get("InstanceId"), named.get("PrivateIpAddress")) == (web1["InstanceId"], "10.10.0.10")
    assert named["NetworkInterfaceId"] == web1["NetworkInterfaces"][0]["NetworkInterfaceId"]
    assert auto.get("InstanceId") == web2["InstanceId"]
    assert {t["Key"]: t["Value"] for t in auto["Tags"]}["Name"] == "web-2.nic0"
    no_changes(cli, specs)

    # disassociated out of band: drift, and apply associates it again
    ec2.disassociate_address(AssociationId=named["AssociationId"])
    changes = plan_json(cli, specs)
    ch = changes["acme/web/PublicIpAssociation/web-ip"]
    assert ch["action"] == "create" and ch["reason"] == "not in AWS"
    assert [c for c in changes.values() if c["action"] != "no-op"] == [ch]
    apply_ok(cli, specs)
    assert one_eip(ec2, "acme/web/PublicIp/web-ip").get("InstanceId") == web1["InstanceId"]
    no_changes(cli, specs)

    # moved to another instance out of band: drift on the instance, apply moves it back
    ec2.associate_address(AllocationId=auto["AllocationId"], InstanceId=web1["InstanceId"], AllowReassociation=True)
    ch = plan_json(cli, specs)["acme/web/PublicIpAssociation/web-2.nic0"]
    assert ch["action"] == "update" and "instance" in [f["path"] for f in ch["fields"]]
    apply_ok(cli, specs)
    assert one_eip(ec2, "acme/web/PublicIp/web-2.nic0").get("InstanceId") == web2["InstanceId"]
    no_changes(cli, specs)

    # the named IP taken off the nic: disassociated, still allocated; web-2 undeployed: its auto IP released
    write_specs(root, {"vms.yaml": vm("web-1", "{network: dmz, ip: 10.10.0.10}") + "---\n"
                       + vm("web-2", "{network: dmz, publicIp: auto}", state="undeployed")})
    changes = plan_json(cli, specs)
    assert changes["acme/web/PublicIpAssociation/web-ip"]["action"] == "delete"
    assert changes["acme/web/PublicIp/web-ip"]["action"] == "no-op"
    assert changes["acme/web/PublicIp/web-2.nic0"]["action"] == "delete"
    apply_ok(cli, specs)
    named = one_eip(ec2, "acme/web/PublicIp/web-ip")
    assert "AssociationId" not in named or not named.get("InstanceId")
    assert eips(ec2, "acme/web/PublicIp/web-2.nic0") == []
    no_changes(cli, specs)


def test_nat_gateway_eips_are_not_public_ips(aws, cli, tmp_path: Path):
    """The NAT's own Elastic IP (tagged with the NAT's address) and a region-level PublicIp a NAT reuses stay
    with their NAT gateways: the public IP kinds neither adopt, disassociate nor release them."""
    other = DEFAULT_VDC.replace("name: web", "name: ops").replace("10.10.0.0/16", "10.20.0.0/16")
    root = tmp_path / "specs"
    specs = write_specs(root, {
        "ent.yaml": enterprise_doc(), "vdc.yaml": DEFAULT_VDC + "---\n" + other,
        "ips.yaml": public_ip("spare", "{region: us-east-1}", vdc=None),
        "vms.yaml": vm("web-1", "{network: public, publicIp: auto}"),
    })
    apply_ok(cli, specs)
    ec2 = client("ec2")
    nats = {n["NatGatewayId"]: n for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] == "available"}
    assert len(nats) == 2
    spare = one_eip(ec2, "acme/PublicIp/spare")
    own = eips(ec2, "acme/web/NatGateway/nat") + eips(ec2, "acme/ops/NatGateway/nat")
    assert len(own) == 1, "one VDC's NAT reuses the spare PublicIp, the other allocates its own"
    nat_allocations = {a["AllocationId"] for n in nats.values() for a in n["NatGatewayAddresses"]}
    assert nat_allocations == {spare["AllocationId"], own[0]["AllocationId"]}
    assert one_eip(ec2, "acme/web/PublicIp/web-1.nic0").get("InstanceId")
    changes = plan_json(cli, specs, code=0)
    assert all(c["action"] == "no-op" for c in changes.values())
    assert not any("NatGateway" in k and "PublicIp" in k for k in changes)
    no_changes(cli, specs)

    # the VM goes: its auto IP is released, the NATs' Elastic IPs stay where they are
    (root / "vms.yaml").unlink()
    changes = plan_json(cli, specs)
    assert {k for k, c in changes.items() if c["action"] != "no-op"} == {
        "acme/web/VirtualMachine/web-1", "acme/web/PublicIp/web-1.nic0", "acme/web/PublicIpAssociation/web-1.nic0"}
    apply_ok(cli, specs)
    after = {a["AllocationId"]: a for a in ec2.describe_addresses()["Addresses"]}
    assert spare["AllocationId"] in after and own[0]["AllocationId"] in after
    assert after[spare["AllocationId"]].get("NetworkInterfaceId") == spare.get("NetworkInterfaceId")
    no_changes(cli, specs)

"""`controller onboard`: VPCs built by hand (no controller tags) -> YAML -> validate -> plan exits 0 ->
apply only adds tags (same AWS ids, same counts) -> plan exits 0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.helpers import client, enterprise_doc, write_specs

AMI = "ami-03c3da4cfa8e8943a"
ACCOUNT = "111111111111"


def new_key() -> bytes:
    pub = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return pub + b" ops@example"


def name_tag(name: str) -> list[dict[str, Any]]:
    return [{"Key": "Name", "Value": name}]


def tagspec(kind: str, name: str) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": name_tag(name)}]


def make_vpc(ec2: Any, cidr: str, name: str) -> str:
    return ec2.create_vpc(CidrBlock=cidr, TagSpecifications=tagspec("vpc", name))["Vpc"]["VpcId"]


def make_subnet(ec2: Any, vpc: str, cidr: str, zone: str, name: str, public: bool = False) -> str:
    sid = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone,
                            TagSpecifications=tagspec("subnet", name))["Subnet"]["SubnetId"]
    if public:
        ec2.modify_subnet_attribute(SubnetId=sid, MapPublicIpOnLaunch={"Value": True})
    return sid


def main_table(ec2: Any, vpc: str) -> str:
    return ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                              {"Name": "association.main", "Values": ["true"]}]
                                     )["RouteTables"][0]["RouteTableId"]


def gateways(ec2: Any, vpc: str, public: list[str], nat: bool) -> str:
    """An internet gateway, a public route table for `public`, and the main table -> NAT (or -> igw)."""
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    for s in public:
        ec2.associate_route_table(RouteTableId=rt, SubnetId=s)
    main = main_table(ec2, vpc)
    if nat:
        eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat_id = ec2.create_nat_gateway(SubnetId=public[0], AllocationId=eip)["NatGateway"]["NatGatewayId"]
        ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat_id)
    else:
        ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    return igw


def group(ec2: Any, vpc: str, name: str, desc: str) -> str:
    return ec2.create_security_group(VpcId=vpc, GroupName=name, Description=desc)["GroupId"]


def run(ec2: Any, subnet: str, sg: str, name: str, count: int = 1, **kw: Any) -> list[str]:
    res = ec2.run_instances(ImageId=AMI, InstanceType=kw.pop("itype", "t3.large"), MinCount=count, MaxCount=count,
                            SubnetId=subnet, SecurityGroupIds=[sg], TagSpecifications=tagspec("instance", name), **kw)
    return [i["InstanceId"] for i in res["Instances"]]


def build_estate(ec2: Any) -> dict[str, Any]:
    """One VPC of each network type, plus a messy one. Returns the ids tests look at."""
    ids: dict[str, Any] = {}
    # default: public 10.1.0.0/24 (own table -> igw), private 10.1.1.0/24 (main -> NAT), one zone
    v = make_vpc(ec2, "10.1.0.0/16", "Shop")
    pub = make_subnet(ec2, v, "10.1.0.0/24", "us-east-1a", "shop-public", public=True)
    priv = make_subnet(ec2, v, "10.1.1.0/24", "us-east-1a", "shop-private")
    gateways(ec2, v, [pub], nat=True)
    sg = group(ec2, v, "shop_web", "web servers")
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    run(ec2, priv, sg, "shop-app")
    ids["default"] = v
    # custom: one public network (not the first /24), main table -> igw
    v = make_vpc(ec2, "10.2.0.0/16", "edge")
    pub = make_subnet(ec2, v, "10.2.5.0/24", "us-east-1b", "edge-net", public=True)
    gateways(ec2, v, [pub], nat=False)
    ids["custom"] = v
    # none: the range only
    ids["none"] = make_vpc(ec2, "10.3.0.0/16", "empty")
    # messy: two ranges, subnets in three zones, groups referring to each other, secondary IPs, an EIP on a
    # secondary IP, attached and loose volumes, a loose Elastic IP, a key pair
    v = make_vpc(ec2, "10.4.0.0/16", "Messy Prod!")
    ec2.associate_vpc_cidr_block(VpcId=v, CidrBlock="10.5.0.0/16")
    pub = make_subnet(ec2, v, "10.4.0.0/24", "us-east-1a", "front", public=True)
    a = make_subnet(ec2, v, "10.4.10.0/24", "us-east-1a", "app-a")
    b = make_subnet(ec2, v, "10.4.11.0/24", "us-east-1b", "app-b")
    c = make_subnet(ec2, v, "10.5.1.0/24", "us-east-1c", "data-c")
    gateways(ec2, v, [pub], nat=True)
    web = group(ec2, v, "Web SG", "web tier")
    db = group(ec2, v, "db", "database tier")
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8090, "UserIdGroupPairs": [{"GroupId": db}]}])
    ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": web}]},
        {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "10.4.0.0/16"}]}])
    ec2.revoke_security_group_egress(GroupId=db, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.authorize_security_group_egress(GroupId=db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    key = ec2.import_key_pair(KeyName="ops", PublicKeyMaterial=new_key())
    ids["key"] = key["KeyPairId"]
    w = run(ec2, pub, web, "web-1", PrivateIpAddress="10.4.0.10", KeyName="ops")[0]
    eni = ec2.describe_instances(InstanceIds=[w])["Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]
    ec2.assign_private_ip_addresses(NetworkInterfaceId=eni["NetworkInterfaceId"],
                                    PrivateIpAddresses=["10.4.0.11", "10.4.0.12"])
    e1 = ec2.allocate_address(Domain="vpc", TagSpecifications=tagspec("elastic-ip", "web-main"))["AllocationId"]
    ec2.associate_address(AllocationId=e1, NetworkInterfaceId=eni["NetworkInterfaceId"], PrivateIpAddress="10.4.0.10")
    # (moto ignores PrivateIpAddress when associating through an ENI: an EIP on a secondary IP reads as on the
    # primary there, so that case is covered by test_onboard_writer_secondary_public_ip below)
    ids["loose_eip"] = ec2.allocate_address(Domain="vpc")["AllocationId"]
    run(ec2, a, web, "app", count=2)
    d = run(ec2, b, db, "db-1", itype="t3.medium")[0]
    run(ec2, c, db, "db-2", itype="t3.medium")
    w2 = run(ec2, pub, web, "web-2")[0]
    e2 = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=e2, InstanceId=w2)
    vol = ec2.create_volume(AvailabilityZone="us-east-1b", Size=20, VolumeType="gp3",
                            TagSpecifications=tagspec("volume", "db-data"))["VolumeId"]
    ec2.attach_volume(VolumeId=vol, InstanceId=d, Device="/dev/sdf")
    ids["loose_volume"] = ec2.create_volume(AvailabilityZone="us-east-1c", Size=5, VolumeType="gp2")["VolumeId"]
    ids["attached_volume"] = vol
    ids["messy"] = v
    return ids


def snapshot(ec2: Any) -> dict[str, list[str]]:
    """Every AWS id of the region, by type (the default VPC's objects included)."""
    inst = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
            if i["State"]["Name"] != "terminated"]
    return {
        "vpcs": sorted(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]),
        "subnets": sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]),
        "groups": sorted(g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]),
        "tables": sorted(t["RouteTableId"] for t in ec2.describe_route_tables()["RouteTables"]),
        "igws": sorted(g["InternetGatewayId"] for g in ec2.describe_internet_gateways()["InternetGateways"]),
        "nats": sorted(n["NatGatewayId"] for n in ec2.describe_nat_gateways()["NatGateways"]
                       if n["State"] == "available"),
        "instances": sorted(inst),
        "volumes": sorted(v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]),
        "addresses": sorted((a["AllocationId"], a.get("AssociationId") or "") for a in
                            ec2.describe_addresses()["Addresses"]),
        "keys": sorted(k["KeyPairId"] for k in ec2.describe_key_pairs()["KeyPairs"]),
    }


def rules(ec2: Any) -> list[Any]:
    return sorted((g["GroupId"], json.dumps(g["IpPermissions"], sort_keys=True),
                   json.dumps(g["IpPermissionsEgress"], sort_keys=True))
                  for g in ec2.describe_security_groups()["SecurityGroups"])


def test_onboard_all_network_types_then_adopt(aws, cli, tmp_path: Path) -> None:
    ec2 = client("ec2", ACCOUNT)
    ids = build_estate(ec2)
    # the user tags found go into metadata.tags; AWS's own and the Name do not
    ec2.create_tags(Resources=[ids["messy"], ids["attached_volume"]],
                    Tags=[{"Key": "CostCenter", "Value": "4711"}, {"Key": "aws:cloudformation:stack-name", "Value": "x"}])
    specs = write_specs(tmp_path / "specs", {"acme/enterprise.yaml": enterprise_doc()})
    before, before_rules = snapshot(ec2), rules(ec2)

    r = cli("onboard", "--specs", str(specs), "--enterprise", "acme", "--region", "us-east-1", "--vpc", "all")
    assert r.code == 0, r.err
    assert snapshot(ec2) == before  # onboarding reads only
    files = sorted(p.name for p in (specs / "acme").glob("*.yaml"))
    assert files == ["edge.yaml", "empty.yaml", "enterprise.yaml", "messy-prod.yaml", "region-us-east-1.yaml",
                     "shop.yaml"]
    shop = (specs / "acme" / "shop.yaml").read_text()
    assert "type: default" in shop and f"# {ids['default']}" in shop and "groupName: shop_web" in shop
    assert "type: none" in (specs / "acme" / "edge.yaml").read_text()
    assert "type: none" in (specs / "acme" / "empty.yaml").read_text()
    messy = (specs / "acme" / "messy-prod.yaml").read_text()
    assert "addressRanges:\n  - 10.5.0.0/16" in messy
    assert "fromFirewall: db" in messy and "fromFirewall: web-sg" in messy
    assert "publicIp: web-main" in messy
    assert "sshKey: ops" in messy and "- db-data" in messy
    assert messy.count("tags:\n    CostCenter: '4711'") == 2 and "aws:cloudformation" not in messy, messy
    region = (specs / "acme" / "region-us-east-1.yaml").read_text()
    assert ids["loose_volume"] in region and ids["loose_eip"] in region and "kind: User" in region

    assert cli("validate", "--specs", str(specs)).code == 0
    r = cli("plan", "--specs", str(specs), "--json")
    assert r.code == 0, r.out + r.err
    plan = json.loads(r.out)
    acting = [c for c in plan["changes"] if c["action"] != "no-op"]
    assert acting and {c["action"] for c in acting} == {"adopt"}, [(c["id"], c["action"], c["fields"]) for c in acting]
    assert all(f["path"].startswith("tags.") for c in acting for f in c["fields"])
    hints = {h["id"]: h for h in plan["cost_hints"]}  # what keeps costing while idle
    assert hints["acme/shop/NatGateway/nat"]["usd_month"] > 0
    assert hints[f"acme/Volume/{ids['loose_volume']}"]["usd_month"] > 0
    assert f"acme/PublicIp/{ids['loose_eip']}" in hints and "acme/messy-prod/PublicIp/web-main" not in hints
    human = cli("plan", "--specs", str(specs))
    assert human.code == 0 and "to adopt (tags only)" in human.out

    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 0, r.out + r.err
    assert snapshot(ec2) == before and rules(ec2) == before_rules  # nothing created, deleted or changed
    vpc = ec2.describe_vpcs(VpcIds=[ids["messy"]])["Vpcs"][0]
    assert {"Key": "controller:address", "Value": "acme/VirtualDatacenter/messy-prod"} in vpc["Tags"]
    vol = ec2.describe_volumes(VolumeIds=[ids["attached_volume"]])["Volumes"][0]
    assert {"Key": "controller:address", "Value": "acme/messy-prod/Volume/db-data"} in vol["Tags"]
    r = cli("plan", "--specs", str(specs))
    assert r.code == 0 and "No changes." in r.out and "adopt" not in r.out, r.out
    vpc = ec2.describe_vpcs(VpcIds=[ids["messy"]])["Vpcs"][0]
    assert {"Key": "CostCenter", "Value": "4711"} in vpc["Tags"]
    assert {"Key": "controller:tags", "Value": "CostCenter"} in vpc["Tags"]  # now managed: a removal is applied


def test_onboard_one_vpc_and_refusals(aws, cli, tmp_path: Path) -> None:
    ec2 = client("ec2", ACCOUNT)
    ids = build_estate(ec2)
    specs = write_specs(tmp_path / "specs", {"acme/enterprise.yaml": enterprise_doc()})
    out = tmp_path / "onboarded"
    r = cli("onboard", "--specs", str(specs), "--enterprise", "acme", "--region", "us-east-1",
            "--vpc", ids["default"], "--out", str(out), "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["documents"]["VirtualDatacenter"] == 1 and report["api_calls"] < 20
    assert (out / "acme" / "shop.yaml").exists() and not (specs / "acme" / "shop.yaml").exists()
    # a VPC that is not there, and a region the enterprise does not have
    assert cli("onboard", "--specs", str(specs), "--enterprise", "acme", "--region", "us-east-1",
               "--vpc", "vpc-0123456789abcdef0").code == 1
    assert cli("onboard", "--specs", str(specs), "--enterprise", "acme", "--region", "eu-west-1",
               "--vpc", "all").code == 1


def test_onboard_writer_secondary_public_ip() -> None:
    """An Elastic IP on a secondary IP goes to the nic's secondaryPublicIps (moto cannot make one)."""
    from controller.onboard.read import Estate
    from controller.onboard.write import onboard_estate

    eni = {"NetworkInterfaceId": "eni-1", "SubnetId": "subnet-1", "PrivateIpAddress": "10.0.0.10",
           "Attachment": {"DeviceIndex": 0},
           "PrivateIpAddresses": [{"PrivateIpAddress": "10.0.0.10", "Primary": True},
                                  {"PrivateIpAddress": "10.0.0.12", "Primary": False}]}
    est = Estate(region="us-east-1", vpcs=[{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16"}],
                 subnets=[{"SubnetId": "subnet-1", "VpcId": "vpc-1", "CidrBlock": "10.0.0.0/24",
                           "AvailabilityZone": "us-east-1a"}],
                 instances=[{"InstanceId": "i-1", "VpcId": "vpc-1", "ImageId": AMI, "InstanceType": "t3.large",
                             "State": {"Name": "running"}, "NetworkInterfaces": [eni]}],
                 addresses=[{"AllocationId": "eipalloc-1", "AssociationId": "a-1", "NetworkInterfaceId": "eni-1",
                             "PrivateIpAddress": "10.0.0.12", "PublicIp": "1.2.3.4"}])
    out = onboard_estate(est, "acme", set(), {})
    vm = next(d for d in out.files["acme/vpc-1.yaml"] if d.kind == "VirtualMachine")
    assert vm.body["spec"]["nics"][0]["secondaryPublicIps"] == {"10.0.0.12": "eipalloc-1"}
    assert "publicIp" not in vm.body["spec"]["nics"][0]

"""End to end through the CLI against a real moto server: the three VDC network types, asserted on
the AWS state itself, and the round trips of the network kinds (VDC, network, firewall)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import DEFAULT_VDC, by_address, client, enterprise_doc, write_specs


def vpc_of(ec2, address: str) -> dict:
    vpcs = by_address(ec2.describe_vpcs()["Vpcs"], address)
    assert len(vpcs) == 1, f"expected one VPC tagged {address}, found {len(vpcs)}"
    return vpcs[0]


def test_default_network_is_vpc_scenario_2(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": DEFAULT_VDC})
    r = cli("plan", "--specs", str(specs))
    assert r.code == 2, r.err
    assert "+ acme/VirtualDatacenter/web" in r.out and "not in AWS" in r.out
    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 0, r.out + r.err

    ec2 = client("ec2")
    vpc = vpc_of(ec2, "acme/VirtualDatacenter/web")
    subnets = {s["CidrBlock"]: s for s in ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]}
    assert set(subnets) == {"10.10.0.0/24", "10.10.1.0/24"}
    public, private = subnets["10.10.0.0/24"], subnets["10.10.1.0/24"]
    assert {t["Value"] for t in public["Tags"] if t["Key"] == "Name"} == {"public"}
    assert {t["Value"] for t in private["Tags"] if t["Key"] == "Name"} == {"default"}
    assert public["AvailabilityZone"] == private["AvailabilityZone"] == "us-east-1a"

    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["RouteTables"]
    assert len(tables) == 2, "exactly two route tables: the public one and the private main one"
    main = [t for t in tables if any(a.get("Main") for a in t["Associations"])]
    other = [t for t in tables if t not in main]
    assert len(main) == 1 and len(other) == 1
    nats = [n for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] == "available"]
    assert len(nats) == 1 and nats[0]["SubnetId"] == public["SubnetId"], "the NAT gateway is in the public subnet"
    default_routes = {r["DestinationCidrBlock"]: r for t in main for r in t["Routes"]}
    assert default_routes["0.0.0.0/0"].get("NatGatewayId") == nats[0]["NatGatewayId"]
    igws = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])
    igw_id = igws["InternetGateways"][0]["InternetGatewayId"]
    public_routes = {r["DestinationCidrBlock"]: r for r in other[0]["Routes"]}
    assert public_routes["0.0.0.0/0"].get("GatewayId") == igw_id
    assert [a["SubnetId"] for a in other[0]["Associations"] if a.get("SubnetId")] == [public["SubnetId"]]
    eips = ec2.describe_addresses()["Addresses"]
    assert len(eips) == 1, "the NAT gateway's Elastic IP, and no other"

    r = cli("plan", "--specs", str(specs))
    assert r.code == 0, r.out + r.err
    assert "No changes" in r.out


def test_none_network_has_no_subnet_gateway_or_eip(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": """\
        apiVersion: controller/v1
        kind: VirtualDatacenter
        metadata: {name: vault, enterprise: acme}
        spec: {region: us-east-1, addressRange: 172.20.0.0/16, network: {type: none}}
        """})
    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 0, r.out + r.err
    ec2 = client("ec2")
    vpc = vpc_of(ec2, "acme/VirtualDatacenter/vault")
    assert vpc["CidrBlock"] == "172.20.0.0/16"
    f = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
    assert ec2.describe_subnets(Filters=f)["Subnets"] == []
    assert ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id",
                                                    "Values": [vpc["VpcId"]]}])["InternetGateways"] == []
    assert [n for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] != "deleted"] == []
    assert ec2.describe_addresses()["Addresses"] == []
    assert cli("plan", "--specs", str(specs)).code == 0


def test_custom_network_with_nat_and_secondary_range(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": """\
        apiVersion: controller/v1
        kind: VirtualDatacenter
        metadata: {name: lab, enterprise: acme}
        spec:
          region: us-east-1
          addressRange: 10.30.0.0/16
          addressRanges: [10.31.0.0/16]
          network: {type: custom, cidr: 10.30.7.0/24, natGateway: true}
        ---
        apiVersion: controller/v1
        kind: PrivateNetwork
        metadata: {name: edge, enterprise: acme, vdc: lab}
        spec: {cidr: 10.31.0.0/24, internetGateway: true}
        """})
    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 0, r.out + r.err
    ec2 = client("ec2")
    vpc = vpc_of(ec2, "acme/VirtualDatacenter/lab")
    ranges = {a["CidrBlock"] for a in vpc["CidrBlockAssociationSet"] if a["CidrBlockState"]["State"] == "associated"}
    assert ranges == {"10.30.0.0/16", "10.31.0.0/16"}
    edge = by_address(ec2.describe_subnets()["Subnets"], "acme/lab/PrivateNetwork/edge")[0]
    nats = [n for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] == "available"]
    assert [n["SubnetId"] for n in nats] == [edge["SubnetId"]], "the NAT goes in the public network"
    assert cli("plan", "--specs", str(specs)).code == 0

    # round trip of the VDC: an address range removed by hand is drift, and apply puts it back
    assoc = [a for a in vpc["CidrBlockAssociationSet"] if a["CidrBlock"] == "10.31.0.0/16"][0]
    ec2.disassociate_vpc_cidr_block(AssociationId=assoc["AssociationId"])
    r = cli("plan", "--specs", str(specs))
    assert r.code == 2 and "secondaryCidrs" in r.out and "10.31.0.0/16" in r.out, r.out
    assert cli("apply", "--specs", str(specs), "--auto-approve").code == 0
    assert cli("plan", "--specs", str(specs)).code == 0


def test_firewall_round_trip(aws, cli, tmp_path: Path):
    fw = """\
        apiVersion: controller/v1
        kind: Firewall
        metadata: {name: web, enterprise: acme, vdc: web}
        spec:
          description: web
          ingress:
            - {protocol: tcp, ports: "443", from: [0.0.0.0/0]}
            - {protocol: tcp, ports: "22", fromFirewall: admin}
        ---
        apiVersion: controller/v1
        kind: Firewall
        metadata: {name: admin, enterprise: acme, vdc: web}
        spec:
          ingress:
            - {protocol: tcp, ports: "22", from: [203.0.113.0/24]}
            - {protocol: all, fromFirewall: web}
        """
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": DEFAULT_VDC, "fw.yaml": fw})
    assert cli("apply", "--specs", str(specs), "--auto-approve").code == 0
    assert cli("plan", "--specs", str(specs)).code == 0
    ec2 = client("ec2")
    web = by_address(ec2.describe_security_groups()["SecurityGroups"], "acme/web/Firewall/web")[0]
    admin = by_address(ec2.describe_security_groups()["SecurityGroups"], "acme/web/Firewall/admin")[0]
    assert any(p.get("UserIdGroupPairs", [{}])[0].get("GroupId") == web["GroupId"]
               for p in admin["IpPermissions"] if p.get("UserIdGroupPairs")), "firewalls that refer to each other"

    # out of band: a rule added, a rule removed
    ec2.authorize_security_group_ingress(GroupId=web["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.revoke_security_group_ingress(GroupId=web["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    r = cli("plan", "--specs", str(specs), "--json")
    assert r.code == 2
    plan = json.loads(r.out)
    changed = [c for c in plan["changes"] if c["action"] != "no-op"]
    assert [c["id"] for c in changed] == ["acme/web/FirewallRules/web"]
    assert [f["path"] for f in changed[0]["fields"]] == ["ingress"]
    assert changed[0]["reason"] == "ingress not as specified"
    assert cli("apply", "--specs", str(specs), "--auto-approve").code == 0
    assert cli("plan", "--specs", str(specs)).code == 0
    perms = ec2.describe_security_groups(GroupIds=[web["GroupId"]])["SecurityGroups"][0]["IpPermissions"]
    assert sorted(p.get("FromPort") for p in perms if p.get("IpRanges")) == [443]

    # rule order and descriptions are not drift
    fw_reordered = fw.replace('- {protocol: tcp, ports: "443", from: [0.0.0.0/0]}\n'
                              '            - {protocol: tcp, ports: "22", fromFirewall: admin}',
                              '- {protocol: tcp, ports: "22", fromFirewall: admin, description: from admins}\n'
                              '            - {protocol: tcp, ports: "443", from: [0.0.0.0/0]}')
    assert fw_reordered != fw
    write_specs(specs, {"fw.yaml": fw_reordered})
    assert cli("plan", "--specs", str(specs)).code == 0

    # the document removed: the group (and its rules) deleted
    (specs / "fw.yaml").unlink()
    r = cli("plan", "--specs", str(specs))
    assert r.code == 2 and "- acme/web/Firewall/admin" in r.out and "not in the specs" in r.out, r.out
    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 0, r.out + r.err
    assert by_address(ec2.describe_security_groups()["SecurityGroups"], "acme/web/Firewall/web") == []


def test_network_round_trip_and_replacement(aws, cli, tmp_path: Path):
    net = """\
        apiVersion: controller/v1
        kind: PrivateNetwork
        metadata: {name: app, enterprise: acme, vdc: web}
        spec: {cidr: 10.10.20.0/24, availabilityZone: us-east-1b, natGateway: true}
        """
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": DEFAULT_VDC, "net.yaml": net})
    assert cli("apply", "--specs", str(specs), "--auto-approve").code == 0
    ec2 = client("ec2")
    sub = by_address(ec2.describe_subnets()["Subnets"], "acme/web/PrivateNetwork/app")[0]
    ec2.delete_subnet(SubnetId=sub["SubnetId"])
    r = cli("plan", "--specs", str(specs))
    assert r.code == 2 and "+ acme/web/PrivateNetwork/app" in r.out
    assert cli("apply", "--specs", str(specs), "--auto-approve").code == 0
    assert cli("plan", "--specs", str(specs)).code == 0

    write_specs(specs, {"net.yaml": net.replace("10.10.20.0/24", "10.10.21.0/24")})
    r = cli("plan", "--specs", str(specs))
    assert r.code == 2 and "-/+ acme/web/PrivateNetwork/app" in r.out and "forces replacement" in r.out, r.out
    assert cli("apply", "--specs", str(specs), "--auto-approve").code == 0
    subs = by_address(ec2.describe_subnets()["Subnets"], "acme/web/PrivateNetwork/app")
    assert [s["CidrBlock"] for s in subs] == ["10.10.21.0/24"]


def test_whole_vdc_deleted_bottom_up(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": DEFAULT_VDC})
    assert cli("apply", "--specs", str(specs), "--auto-approve").code == 0
    (specs / "vdc.yaml").unlink()
    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 0, r.out + r.err
    ec2 = client("ec2")
    assert by_address(ec2.describe_vpcs()["Vpcs"], "acme/VirtualDatacenter/web") == []
    assert [n for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] != "deleted"] == []
    assert ec2.describe_addresses()["Addresses"] == [], "the NAT gateway's Elastic IP is released"
    assert cli("plan", "--specs", str(specs)).code == 0


def test_route_and_nat_gateway_drift_corrected(aws, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": DEFAULT_VDC})
    assert cli("apply", "--specs", str(specs), "--auto-approve").code == 0
    ec2 = client("ec2")
    main = by_address(ec2.describe_route_tables()["RouteTables"], "acme/web/RouteTable/main")[0]
    ec2.delete_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
    r = cli("plan", "--specs", str(specs), "--json")
    assert r.code == 2
    changed = [c for c in json.loads(r.out)["changes"] if c["action"] != "no-op"]
    assert [(c["id"], c["reason"]) for c in changed] == [("acme/web/RouteTable/main", "routes not as specified")]
    assert cli("apply", "--specs", str(specs), "--auto-approve").code == 0
    assert cli("plan", "--specs", str(specs)).code == 0

    nat = [n for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] == "available"][0]
    ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
    r = cli("plan", "--specs", str(specs))
    assert r.code == 2 and "+ acme/web/NatGateway/nat" in r.out, r.out
    assert cli("apply", "--specs", str(specs), "--auto-approve").code == 0
    assert cli("plan", "--specs", str(specs)).code == 0
    nats = [n for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] == "available"]
    assert len(nats) == 1
    main = by_address(ec2.describe_route_tables()["RouteTables"], "acme/web/RouteTable/main")[0]
    assert [r.get("NatGatewayId") for r in main["Routes"] if r["DestinationCidrBlock"] == "0.0.0.0/0"] == [
        nats[0]["NatGatewayId"]]
    assert len(ec2.describe_addresses()["Addresses"]) == 1, "the new NAT gateway adopted the free Elastic IP"

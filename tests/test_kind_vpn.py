"""Vpn end to end through the CLI against the local AWS endpoint.

Round trip: create (gateway attached to the VPC, customer gateway, connection) -> up to date ->
the connection deleted out of band -> planned as a create -> applied (the gateways are adopted,
not made twice) -> document removed -> every part gone. Static routes need
create_vpn_connection_route, which moto does not implement: that test is skipped, and a separate
test checks that apply then fails with a clear error instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import apply_ok as apply
from tests.helpers import by_address, client, enterprise_doc, plan_json, write_specs

ADDRESS = "acme/shop/Vpn/office"

VDC = """\
apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {name: shop, enterprise: acme}
spec:
  region: us-east-1
  addressRange: 10.50.0.0/16
  network: {type: none}
"""

VPN = """\
apiVersion: controller/v1
kind: Vpn
metadata: {name: office, enterprise: acme, vdc: shop}
spec:
  remoteAddress: 198.51.100.7
  bgpAsn: 65010
"""


def specs(tmp_path: Path, vpn: str | None) -> Path:
    root = tmp_path / "specs"
    if root.exists():
        for old in root.glob("*.yaml"):
            old.unlink()
    files = {"enterprise.yaml": enterprise_doc(), "vdc.yaml": VDC}
    if vpn:
        files["vpn.yaml"] = vpn
    return write_specs(root, files)


def alive(items: list[dict]) -> list[dict]:
    return [i for i in items if i["State"] not in ("deleted", "deleting")]


def parts(ec2) -> tuple[list[dict], list[dict], list[dict]]:
    return (alive(by_address(ec2.describe_vpn_connections()["VpnConnections"], ADDRESS)),
            alive(by_address(ec2.describe_vpn_gateways()["VpnGateways"], ADDRESS)),
            alive(by_address(ec2.describe_customer_gateways()["CustomerGateways"], ADDRESS)))


def test_vpn_round_trip(aws, cli, tmp_path):
    root = specs(tmp_path, VPN)
    apply(cli, root)
    ec2 = client("ec2")
    (conn,), (vgw,), (cgw,) = parts(ec2)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:controller:address", "Values": ["acme/VirtualDatacenter/shop"]}]
                            )["Vpcs"][0]["VpcId"]
    assert [(a["VpcId"], a["State"]) for a in vgw["VpcAttachments"]] == [(vpc, "attached")]
    assert (cgw["IpAddress"], cgw["BgpAsn"]) == ("198.51.100.7", "65010")
    assert (conn["VpnGatewayId"], conn["CustomerGatewayId"], conn["Type"]) == (
        vgw["VpnGatewayId"], cgw["CustomerGatewayId"], "ipsec.1")

    code, plan = plan_json(cli, root)
    assert code == 0, [c for c in plan["changes"] if c["action"] != "no-op"]

    # out of band: the connection deleted -> planned as a create, which adopts the gateways
    ec2.delete_vpn_connection(VpnConnectionId=conn["VpnConnectionId"])
    code, plan = plan_json(cli, root)
    assert code == 2
    (ch,) = [c for c in plan["changes"] if c["action"] != "no-op"]
    assert (ch["id"], ch["action"]) == (ADDRESS, "create")
    apply(cli, root)
    (conn2,), (vgw2,), (cgw2,) = parts(ec2)
    assert conn2["VpnConnectionId"] != conn["VpnConnectionId"]
    assert (vgw2["VpnGatewayId"], cgw2["CustomerGatewayId"]) == (vgw["VpnGatewayId"], cgw["CustomerGatewayId"])
    assert cli("plan", "--specs", str(root)).code == 0

    # a changed remote address forces replacement of the whole VPN
    root = specs(tmp_path, VPN.replace("198.51.100.7", "198.51.100.9"))
    code, plan = plan_json(cli, root)
    (ch,) = [c for c in plan["changes"] if c["action"] != "no-op"]
    assert ch["action"] == "replace" and [f["path"] for f in ch["fields"]] == ["remoteAddress"]

    # document removed: every part deleted (the VPC stays)
    root = specs(tmp_path, None)
    code, plan = plan_json(cli, root)
    (ch,) = [c for c in plan["changes"] if c["action"] != "no-op"]
    assert (ch["id"], ch["action"]) == (ADDRESS, "delete")
    apply(cli, root)
    assert parts(ec2) == ([], [], [])
    assert all(not a or a[0]["State"] == "detached" for a in
               [g["VpcAttachments"] for g in ec2.describe_vpn_gateways()["VpnGateways"]])
    assert cli("plan", "--specs", str(root)).code == 0


def test_no_vpn_plan_skips_the_gateway_listings(aws, cli, tmp_path):
    root = specs(tmp_path, None)
    apply(cli, root)
    code, plan = plan_json(cli, root)
    assert code == 0
    ops = plan["api_calls"]["by_operation"]
    assert not [op for op in ops if "VpnGateways" in op or "CustomerGateways" in op], ops


def test_half_made_vpn_is_adopted(aws, cli, tmp_path):
    """A crash after the gateways were made: the next apply reuses them instead of making new ones."""
    root = specs(tmp_path, None)
    apply(cli, root)
    ec2 = client("ec2")
    tags = [{"Key": "controller:address", "Value": ADDRESS}, {"Key": "controller:enterprise", "Value": "acme"},
            {"Key": "controller:managed-by", "Value": "controller"}, {"Key": "Name", "Value": "office"}]
    vgw = ec2.create_vpn_gateway(Type="ipsec.1", TagSpecifications=[
        {"ResourceType": "vpn-gateway", "Tags": tags}])["VpnGateway"]["VpnGatewayId"]
    cgw = ec2.create_customer_gateway(Type="ipsec.1", BgpAsn=65010, PublicIp="198.51.100.7", TagSpecifications=[
        {"ResourceType": "customer-gateway", "Tags": tags}])["CustomerGateway"]["CustomerGatewayId"]

    root = specs(tmp_path, VPN)
    code, plan = plan_json(cli, root)
    (ch,) = [c for c in plan["changes"] if c["action"] != "no-op"]
    assert (ch["id"], ch["action"]) == (ADDRESS, "create")
    apply(cli, root)
    (conn,), (g,), (c,) = parts(ec2)
    assert (g["VpnGatewayId"], c["CustomerGatewayId"]) == (vgw, cgw)
    assert cli("plan", "--specs", str(root)).code == 0


def test_leftover_gateways_are_deleted_with_the_document(aws, cli, tmp_path):
    """Gateways without a connection (a crashed create) are seen, and deleted, when the region has a desired Vpn."""
    other = VPN.replace("name: office", "name: branch").replace("198.51.100.7", "198.51.100.20")
    root = specs(tmp_path, other)
    apply(cli, root)
    ec2 = client("ec2")
    tags = [{"Key": "controller:address", "Value": ADDRESS}, {"Key": "controller:enterprise", "Value": "acme"},
            {"Key": "controller:managed-by", "Value": "controller"}, {"Key": "Name", "Value": "office"}]
    ec2.create_customer_gateway(Type="ipsec.1", BgpAsn=65010, PublicIp="198.51.100.7", TagSpecifications=[
        {"ResourceType": "customer-gateway", "Tags": tags}])
    code, plan = plan_json(cli, root)
    (ch,) = [c for c in plan["changes"] if c["action"] != "no-op"]
    assert (ch["id"], ch["action"]) == (ADDRESS, "delete")
    apply(cli, root)
    assert parts(ec2) == ([], [], [])
    assert cli("plan", "--specs", str(root)).code == 0


@pytest.mark.skip(reason="moto does not implement create_vpn_connection_route / delete_vpn_connection_route "
                         "(HTTP 500 NotImplementedError), nor does it report a connection's Routes")
def test_vpn_static_routes(aws, cli, tmp_path):
    root = specs(tmp_path, VPN + "  staticRoutes: [192.168.10.0/24]\n")
    apply(cli, root)
    ec2 = client("ec2")
    (conn,), _, _ = parts(ec2)
    assert [r["DestinationCidrBlock"] for r in conn["Routes"]] == ["192.168.10.0/24"]
    assert cli("plan", "--specs", str(root)).code == 0


def test_vpn_static_routes_unsupported_endpoint_fails_clearly(aws, cli, tmp_path):
    """On moto, a VPN with static routes is made, then its routes fail with a one-line error, no traceback."""
    root = specs(tmp_path, VPN + "  staticRoutes: [192.168.10.0/24]\n")
    r = cli("apply", "--specs", str(root), "--auto-approve")
    assert r.code == 1
    text = r.out + r.err
    assert "Traceback" not in text
    assert f"cannot create static route 192.168.10.0/24 {ADDRESS}: NotImplemented" in " ".join(text.split())
    # the plan names the missing route (moto reports none) instead of failing
    code, plan = plan_json(cli, root)
    (ch,) = [c for c in plan["changes"] if c["action"] != "no-op"]
    assert ch["action"] == "update" and [f["path"] for f in ch["fields"]] == ["staticRoutes"]

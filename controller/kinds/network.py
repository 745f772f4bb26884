"""PrivateNetwork: a subnet. Public networks are associated with the VDC's public route table;
NAT'd and plain private networks use the VPC's main route table (which routes to the NAT gateway).
"""

from __future__ import annotations

from typing import Any

from controller.aws import tags as tag_style
from controller.graph import Node, Ref
from controller.kinds.base import AwsFacts, Kind, Live, Observation, Op, ownership_tags, register
from controller.kinds.vdc import ROUTE_TABLES, part
from controller.spec.catalog import Catalog, vdc_zone
from controller.spec.models import Resource

SUBNETS = AwsFacts("ec2", "describe_subnets", "Subnets", "SubnetId", tag_style.EC2, resource_type="subnet",
                   adopt_filter="subnet-id", id_prefix="subnet-")


@register
class PrivateNetwork(Kind):
    name = "PrivateNetwork"
    spec_kinds = ("PrivateNetwork",)
    force_new = frozenset({"vpc", "cidr", "availabilityZone"})
    ignore_props = {"internetGateway": ("routeTable", "mapPublicIp")}
    facts = (SUBNETS, ROUTE_TABLES)

    def expand(self, r: Resource, catalog: Catalog) -> list[Node]:
        vdc = catalog.vdc_required(r)
        s = r.spec
        props: dict[str, Any] = {
            "vpc": Ref(vdc.address),
            "cidr": s.cidr,
            "availabilityZone": s.availability_zone or vdc_zone(vdc.spec),
            "routeTable": Ref(part(vdc, "RouteTable", "public")) if s.internet_gateway else None,
            "mapPublicIp": bool(s.internet_gateway),
        }
        return [self.node(self.name, r, props, region=vdc.spec.region)]

    def observe(self, obs: Observation) -> list[Live]:
        tables = obs.owned(ROUTE_TABLES)
        assoc = {a["SubnetId"]: (rt["RouteTableId"], a["RouteTableAssociationId"])
                 for rt in tables for a in rt.get("Associations", []) if a.get("SubnetId")}
        out = []
        for s in obs.owned(SUBNETS):
            rt, assoc_id = assoc.get(s["SubnetId"], (None, None))
            live = self.live_from(self.name, s, s["SubnetId"], {**self.decode(s), "routeTable": rt},
                                  refs=[s["VpcId"]], association=assoc_id)
            if live:
                out.append(live)
        return out

    @staticmethod
    def decode(s: dict[str, Any]) -> dict[str, Any]:
        """A subnet as props (its route table comes from the route tables' associations)."""
        return {"vpc": s["VpcId"], "cidr": s["CidrBlock"], "availabilityZone": s.get("AvailabilityZone"),
                "mapPublicIp": bool(s.get("MapPublicIpOnLaunch"))}

    def create(self, op: Op) -> Live:
        node = op.want
        ec2 = op.client()
        p = op.props
        sub = op.call("create subnet", ec2.create_subnet, VpcId=p["vpc"], CidrBlock=p["cidr"],
                      AvailabilityZone=p["availabilityZone"], **self.tags_at_create(node),
                      retry_codes=["InvalidVpcID.NotFound"])["Subnet"]
        sid = sub["SubnetId"]
        live = Live(id=node.id, kind=self.name, aws_id=sid, tags=ownership_tags(node),
                    props={**p, "routeTable": None, "mapPublicIp": False})
        op.live = live
        self.update(op, ["routeTable", "mapPublicIp"])
        live.props = dict(p)
        return live

    def update(self, op: Op, changes: list[str]) -> None:
        assert op.live is not None
        ec2 = op.client()
        sid = op.live.aws_id
        if "mapPublicIp" in changes and op.props["mapPublicIp"] != op.live.props.get("mapPublicIp"):
            op.call("set public IP on launch", ec2.modify_subnet_attribute, SubnetId=sid,
                    MapPublicIpOnLaunch={"Value": bool(op.props["mapPublicIp"])},
                    retry_codes=["InvalidSubnetID.NotFound"])
        if "routeTable" in changes:
            want = op.props["routeTable"]
            assoc = op.live.attrs.get("association")
            if want and assoc:
                op.call("replace route table association", ec2.replace_route_table_association,
                        AssociationId=assoc, RouteTableId=want)
            elif want:
                op.call("associate route table", ec2.associate_route_table, SubnetId=sid, RouteTableId=want,
                        retry_codes=["InvalidSubnetID.NotFound", "InvalidRouteTableID.NotFound"])
            elif assoc:  # back to the main route table
                op.call("disassociate route table", ec2.disassociate_route_table, AssociationId=assoc,
                        ok_not_found=True)

    def delete(self, op: Op) -> None:
        assert op.live is not None
        op.call("delete subnet", op.client().delete_subnet, SubnetId=op.live.aws_id, ok_not_found=True,
                retry_codes=["DependencyViolation"], attempts=12)

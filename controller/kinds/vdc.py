"""VirtualDatacenter: a VPC, its secondary address ranges, and the gateways its networks need.

A VDC expands to:
  VirtualDatacenter      the VPC (primary CIDR forces replacement; secondary ranges update in place)
  InternetGateway/igw    when any network of the VDC is public
  RouteTable/public      0.0.0.0/0 -> igw; the public networks are associated with it
  NatGateway/nat         when any network is NAT'd: in the VDC's first public network, with an
                         Elastic IP (a region-level PublicIp no nic uses is reused before allocating)
  RouteTable/main        the VPC's main route table, adopted: 0.0.0.0/0 -> nat (or -> igw when the
                         VDC has no NAT any more but an internet gateway)
"""

from __future__ import annotations

from typing import Any

from controller.aws import tags as tag_style
from controller.graph import Node, Ref
from controller.kinds.base import (
    TAG_ADDRESS,
    AwsFacts,
    Kind,
    Live,
    Observation,
    Op,
    client_token,
    ownership_tags,
    register,
    tags_at_create,
    tags_of,
)
from controller.kinds.public_ip import ADDRESSES
from controller.spec.catalog import Catalog, vdc_zone
from controller.spec.models import Resource, address_of
from controller.spec.tags import managed_keys

DEFAULT_ROUTE = "0.0.0.0/0"

VPCS = AwsFacts("ec2", "describe_vpcs", "Vpcs", "VpcId", tag_style.EC2, resource_type="vpc",
                adopt_filter="vpc-id", id_prefix="vpc-")
INTERNET_GATEWAYS = AwsFacts("ec2", "describe_internet_gateways", "InternetGateways", "InternetGatewayId",
                             tag_style.EC2, resource_type="internet-gateway", adopt_filter="internet-gateway-id",
                             id_prefix="igw-")
ROUTE_TABLES = AwsFacts("ec2", "describe_route_tables", "RouteTables", "RouteTableId", tag_style.EC2,
                        resource_type="route-table", adopt_filter="route-table-id", id_prefix="rtb-")
# a VPC's main route table, looked up by its VPC's id (batched, as waits are: one call for the VDCs made together)
MAIN_ROUTE_TABLES = AwsFacts("ec2", "describe_route_tables", "RouteTables", "VpcId", tag_style.EC2,
                             adopt_filter="vpc-id", wait_filters=(("association.main", ("true",)),))
NAT_GATEWAYS = AwsFacts("ec2", "describe_nat_gateways", "NatGateways", "NatGatewayId", tag_style.EC2,
                        resource_type="natgateway", adopt_filter="nat-gateway-id", id_prefix="nat-")


def part(vdc: Resource, kind: str, name: str) -> str:
    return address_of(kind, name, vdc.metadata.enterprise, vdc.name)


def vdc_networks(vdc: Resource, catalog: Catalog) -> list[Resource]:
    return sorted(catalog.in_vdc(vdc.metadata.enterprise, vdc.name, "PrivateNetwork").values(),
                  key=lambda n: (n.address not in catalog.implied, n.name))


def nat_public_ip(vdc: Resource, catalog: Catalog) -> Resource | None:
    """A region-level PublicIp of the enterprise that no nic and no other VDC's NAT uses, to reuse."""
    used = {vm.spec.nics[i].public_ip for vm in catalog.of_kind("VirtualMachine")
            if vm.enterprise == vdc.enterprise for i in range(len(vm.spec.nics))}
    candidates = sorted(
        (p for p in catalog.of_kind("PublicIp") if p.enterprise == vdc.enterprise and not p.metadata.vdc
         and p.spec.region == vdc.spec.region and p.name not in used), key=lambda p: p.name)
    vdcs = sorted((v for v in catalog.of_kind("VirtualDatacenter")
                   if v.enterprise == vdc.enterprise and v.spec.region == vdc.spec.region
                   and any(n.spec.nat_gateway for n in vdc_networks(v, catalog))), key=lambda v: v.name)
    # hand the candidates out to the VDCs with a NAT gateway in name order, one each
    for v, p in zip(vdcs, candidates, strict=False):
        if v.address == vdc.address:
            return p
    return None


@register
class VirtualDatacenter(Kind):
    name = "VirtualDatacenter"
    spec_kinds = ("VirtualDatacenter",)
    force_new = frozenset({"cidr"})
    set_fields = frozenset({"secondaryCidrs"})
    ignore_props = {"addressRange": "cidr", "addressRanges": "secondaryCidrs"}
    facts = (VPCS,)

    def expand(self, r: Resource, catalog: Catalog) -> list[Node]:
        s = r.spec
        region = s.region
        nodes = [self.node(self.name, r, {"cidr": s.address_range, "secondaryCidrs": sorted(s.address_ranges),
                                          "onboardVpcId": s.onboard.vpc_id if s.onboard else None},
                           region=region, compared=["cidr", "secondaryCidrs"])]
        nets = vdc_networks(r, catalog)
        public = [n for n in nets if n.spec.internet_gateway]
        natd = [n for n in nets if n.spec.nat_gateway]
        vpc = Ref(r.address)
        igw_id, nat_id = part(r, "InternetGateway", "igw"), part(r, "NatGateway", "nat")
        if public:
            nodes.append(self.node("InternetGateway", r, {"vpc": vpc}, id=igw_id, region=region))
            nodes.append(self.node("RouteTable", r, {"vpc": vpc, "main": False,
                                                     "routes": [{"destination": DEFAULT_ROUTE, "target": Ref(igw_id)}]},
                                   id=part(r, "RouteTable", "public"), region=region))
        if natd and public:
            zone = natd[0].spec.availability_zone or vdc_zone(s)
            host = next((n for n in public if (n.spec.availability_zone or vdc_zone(s)) == zone), public[0])
            eip = nat_public_ip(r, catalog)
            props: dict[str, Any] = {"subnet": Ref(host.address),
                                     "allocation": Ref(eip.address) if eip else None}
            nodes.append(self.node("NatGateway", r, props, id=nat_id, region=region, compared=["subnet"],
                                   extra_deps=[igw_id]))
        if public or natd:
            target = Ref(nat_id) if (natd and public) else Ref(igw_id)
            nodes.append(self.node("RouteTable", r, {"vpc": vpc, "main": True,
                                                     "routes": [{"destination": DEFAULT_ROUTE, "target": target}]},
                                   id=part(r, "RouteTable", "main"), region=region))
        if s.onboard:  # an onboarded VPC: adopt it and the parts it already has (docs/onboarding.md)
            nodes[0].adopt = s.onboard.vpc_id
            prefix = f"{r.metadata.enterprise}/{r.name}/"
            for n in nodes[1:]:
                n.adopt = s.onboard.parts.get(n.id.removeprefix(prefix))
        return nodes

    def observe(self, obs: Observation) -> list[Live]:
        out = []
        vpcs = obs.owned(VPCS)
        onboard = sorted({n.props["onboardVpcId"] for n in obs.desired.values()
                          if n.kind == self.name and n.props.get("onboardVpcId")})
        seen = {v["VpcId"] for v in vpcs}
        if onboard:
            extra = [v for v in obs.list("ec2", "describe_vpcs", "Vpcs", Filters=[{"Name": "vpc-id", "Values": onboard}])
                     if v["VpcId"] not in seen]
            by_vpc = {n.props["onboardVpcId"]: n.id for n in obs.desired.values() if n.kind == self.name}
            for v in extra:  # not tagged yet: adopted by the first apply
                out.append(Live(id=by_vpc[v["VpcId"]], kind=self.name, aws_id=v["VpcId"], props=self.decode(v),
                                tags=tags_of(v)))
        for v in vpcs:
            live = self.live_from(self.name, v, v["VpcId"], self.decode(v))
            if live:
                out.append(live)
        return out

    @staticmethod
    def decode(v: dict[str, Any]) -> dict[str, Any]:
        """A VPC as props: its primary and secondary address ranges (also what onboarding writes)."""
        secondary = sorted(a["CidrBlock"] for a in v.get("CidrBlockAssociationSet", [])
                           if a["CidrBlock"] != v["CidrBlock"] and a["CidrBlockState"]["State"] in ("associated",
                                                                                                   "associating"))
        return {"cidr": v["CidrBlock"], "secondaryCidrs": secondary}

    def create(self, op: Op) -> Live:
        node = op.want
        ec2 = op.client()
        vpc = op.call("create VPC", ec2.create_vpc, CidrBlock=op.props["cidr"],
                      **self.tags_at_create(node))["Vpc"]
        vpc_id = vpc["VpcId"]
        for attr in ("EnableDnsSupport", "EnableDnsHostnames"):
            setting: dict[str, Any] = {attr: {"Value": True}}
            op.call("modify VPC attribute", ec2.modify_vpc_attribute, VpcId=vpc_id, **setting,
                    retry_codes=["InvalidVpcID.NotFound"])
        for cidr in op.props["secondaryCidrs"]:
            op.call("associate address range", ec2.associate_vpc_cidr_block, VpcId=vpc_id, CidrBlock=cidr,
                    retry_codes=["InvalidVpcID.NotFound"])
        return Live(id=node.id, kind=self.name, aws_id=vpc_id, props=dict(op.props), tags=ownership_tags(node))

    def update(self, op: Op, changes: list[str]) -> None:
        assert op.live is not None and op.node is not None
        ec2 = op.client()
        vpc_id = op.live.aws_id
        if "secondaryCidrs" in changes:
            want, have = set(op.props["secondaryCidrs"]), set(op.live.props["secondaryCidrs"])
            for cidr in sorted(want - have):
                op.call("associate address range", ec2.associate_vpc_cidr_block, VpcId=vpc_id, CidrBlock=cidr)
            if have - want:
                vpc = op.call("describe VPC", ec2.describe_vpcs, VpcIds=[vpc_id])["Vpcs"][0]
                for a in vpc.get("CidrBlockAssociationSet", []):
                    if a["CidrBlock"] in have - want and a["CidrBlockState"]["State"] == "associated":
                        op.call("disassociate address range", ec2.disassociate_vpc_cidr_block,
                                AssociationId=a["AssociationId"])

    def delete(self, op: Op) -> None:
        assert op.live is not None
        op.call("delete VPC", op.client().delete_vpc, VpcId=op.live.aws_id, ok_not_found=True,
                retry_codes=["DependencyViolation"], attempts=12)


@register
class InternetGateway(Kind):
    name = "InternetGateway"
    force_new = frozenset({"vpc"})
    facts = (INTERNET_GATEWAYS,)

    def observe(self, obs: Observation) -> list[Live]:
        out = []
        for g in obs.owned(INTERNET_GATEWAYS):
            vpcs = [a["VpcId"] for a in g.get("Attachments", []) if a.get("State") in ("available", "attached")]
            live = self.live_from(self.name, g, g["InternetGatewayId"], {"vpc": vpcs[0] if vpcs else None}, refs=vpcs)
            if live:
                out.append(live)
        return out

    def create(self, op: Op) -> Live:
        node = op.want
        ec2 = op.client()
        igw = op.call("create internet gateway", ec2.create_internet_gateway,
                      **self.tags_at_create(node))["InternetGateway"]
        gid = igw["InternetGatewayId"]
        op.call("attach internet gateway", ec2.attach_internet_gateway, InternetGatewayId=gid,
                VpcId=op.props["vpc"], retry_codes=["InvalidInternetGatewayID.NotFound"])
        return Live(id=node.id, kind=self.name, aws_id=gid, props={"vpc": op.props["vpc"]}, tags=ownership_tags(node))

    def delete(self, op: Op) -> None:
        assert op.live is not None
        ec2 = op.client()
        if op.live.props.get("vpc"):
            op.call("detach internet gateway", ec2.detach_internet_gateway, InternetGatewayId=op.live.aws_id,
                    VpcId=op.live.props["vpc"], ok_not_found=True, retry_codes=["DependencyViolation"], attempts=12)
        op.call("delete internet gateway", ec2.delete_internet_gateway, InternetGatewayId=op.live.aws_id,
                ok_not_found=True, retry_codes=["DependencyViolation"])


def decode_routes(rt: dict[str, Any]) -> list[dict[str, Any]]:
    """The routes we manage: the default route, with its target (the one place a route table's routes
    are read: observe compares them, onboarding writes them)."""
    out = []
    for r in rt.get("Routes", []):
        if r.get("DestinationCidrBlock") != DEFAULT_ROUTE:
            continue
        target = r.get("NatGatewayId") or r.get("GatewayId") or r.get("TransitGatewayId") or r.get("InstanceId")
        out.append({"destination": DEFAULT_ROUTE, "target": target})
    return out


@register
class RouteTable(Kind):
    """A route table of a VDC. `main: true` adopts the VPC's main table (created by AWS, never deleted)."""

    name = "RouteTable"
    force_new = frozenset({"vpc", "main"})
    set_fields = frozenset({"routes"})
    facts = (ROUTE_TABLES,)

    def observe(self, obs: Observation) -> list[Live]:
        out = []
        for rt in obs.owned(ROUTE_TABLES):
            main = any(a.get("Main") for a in rt.get("Associations", []))
            live = self.live_from(self.name, rt, rt["RouteTableId"],
                                  {"vpc": rt["VpcId"], "main": main, "routes": decode_routes(rt)},
                                  refs=[rt["VpcId"]],
                                  associations={a["SubnetId"]: a["RouteTableAssociationId"]
                                                for a in rt.get("Associations", []) if a.get("SubnetId")})
            if live:
                out.append(live)
        return out

    def create(self, op: Op) -> Live:
        node = op.want
        ec2 = op.client()
        if op.props["main"]:
            # a new VPC's main table may not be visible yet: polled again, and a Timeout error names it
            table = op.wait_for(MAIN_ROUTE_TABLES, op.props["vpc"], "the VPC's main route table", ready=lambda _: True,
                                timeout=120)
            rt_id = table["RouteTableId"]
            op.retag(ROUTE_TABLES, rt_id, ownership_tags(node))
            current = decode_routes(table)
        else:
            rt = op.call("create route table", ec2.create_route_table, VpcId=op.props["vpc"],
                         **self.tags_at_create(node))["RouteTable"]
            rt_id, current = rt["RouteTableId"], []
        self._set_routes(op, rt_id, current, op.props["routes"])
        return Live(id=node.id, kind=self.name, aws_id=rt_id, props=dict(op.props), tags=ownership_tags(node))

    def _set_routes(self, op: Op, rt_id: str, have: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
        ec2 = op.client()
        have_by = {r["destination"]: r["target"] for r in have}
        for r in want:
            kw = {"RouteTableId": rt_id, "DestinationCidrBlock": r["destination"],
                  _target_arg(r["target"]): r["target"]}
            if r["destination"] not in have_by:
                op.call("create route", ec2.create_route, **kw,
                        retry_codes=["InvalidRouteTableID.NotFound", "InvalidNatGatewayID.NotFound",
                                     "InvalidGatewayID.NotFound"])
            elif have_by[r["destination"]] != r["target"]:
                op.call("replace route", ec2.replace_route, **kw)
        for dest in set(have_by) - {r["destination"] for r in want}:
            op.call("delete route", ec2.delete_route, RouteTableId=rt_id, DestinationCidrBlock=dest,
                    ok_not_found=True)

    def update(self, op: Op, changes: list[str]) -> None:
        assert op.live is not None
        self._set_routes(op, op.live.aws_id, op.live.props["routes"], op.props["routes"])

    def delete(self, op: Op) -> None:
        assert op.live is not None
        ec2 = op.client()
        if op.live.props.get("main"):  # never delete the VPC's main table: hand it back
            self._set_routes(op, op.live.aws_id, op.live.props["routes"], [])
            op.retag(ROUTE_TABLES, op.live.aws_id, {k: None for k in op.live.tags
                                                    if k.startswith("controller:") or k in managed_keys(op.live.tags)})
            return
        for assoc in (op.live.attrs.get("associations") or {}).values():
            op.call("disassociate route table", ec2.disassociate_route_table, AssociationId=assoc,
                    ok_not_found=True)
        op.call("delete route table", ec2.delete_route_table, RouteTableId=op.live.aws_id, ok_not_found=True,
                retry_codes=["DependencyViolation"])


def _target_arg(target: str) -> str:
    if target.startswith("nat-"):
        return "NatGatewayId"
    if target.startswith("tgw-"):
        return "TransitGatewayId"
    return "GatewayId"


@register
class NatGateway(Kind):
    name = "NatGateway"
    force_new = frozenset({"subnet"})
    facts = (NAT_GATEWAYS, ADDRESSES)  # the gateway, and the Elastic IP it allocates for itself

    def observe(self, obs: Observation) -> list[Live]:
        out = []
        eips: dict[str, list[dict[str, Any]]] = {}  # this enterprise's Elastic IPs by their address tag
        for a in obs.owned(ADDRESSES):
            eips.setdefault(tags_of(a).get(TAG_ADDRESS, ""), []).append(a)
        nats = obs.owned(NAT_GATEWAYS)
        for n in nats:
            if n.get("State") in ("deleted", "deleting", "failed"):
                continue
            allocs = [a.get("AllocationId") for a in n.get("NatGatewayAddresses", [])]
            address = tags_of(n).get(TAG_ADDRESS)
            # its own Elastic IP carries its tags (a reused PublicIp has a document of its own)
            own_eips = [a["AllocationId"] for a in eips.get(address, [])] if address else []
            live = self.live_from(self.name, n, n["NatGatewayId"],
                                  {"subnet": n.get("SubnetId"), "allocation": allocs[0] if allocs else None},
                                  refs=[n.get("SubnetId", ""), n.get("VpcId", "")], state=n.get("State"),
                                  tagged_parts=own_eips)
            if live:
                out.append(live)
        # A gateway to make: the plan's listing of this enterprise's Elastic IPs already shows whether an
        # earlier, interrupted apply left it one (tagged with its address); create reads that instead of
        # asking again (a tag-filtered DescribeAddresses per gateway, 0.4 s each on moto at 1,000 VMs).
        made = {lv.id for lv in out}
        for nid, node in obs.desired.items():
            if node.kind == self.name and nid not in made and not node.props.get("allocation"):
                node.props["leftEips"] = [{"AllocationId": a["AllocationId"], "AssociationId": a.get("AssociationId")}
                                          for a in eips.get(nid, [])]
        return out

    def create(self, op: Op) -> Live:
        node = op.want
        ec2 = op.client()
        allocation = op.props.get("allocation")
        if not allocation:
            allocation = self._own_eip(op, node)
        nat = op.call("create NAT gateway", ec2.create_nat_gateway, SubnetId=op.props["subnet"],
                      AllocationId=allocation, ClientToken=client_token(node, op.props),
                      **self.tags_at_create(node))["NatGateway"]
        nat_id = nat["NatGatewayId"]
        if nat.get("State") != "available":  # AWS answers "pending": wait (batched)
            op.wait_for(NAT_GATEWAYS, nat_id, "NAT gateway available", ready=lambda n: n["State"] == "available",
                        failed=lambda n: n.get("FailureMessage") if n["State"] == "failed" else None)
        return Live(id=node.id, kind=self.name, aws_id=nat_id,
                    props={"subnet": op.props["subnet"], "allocation": allocation}, tags=ownership_tags(node))

    def _own_eip(self, op: Op, node: Node) -> str:
        """The NAT's own Elastic IP: one left by an earlier try is adopted, never allocated twice."""
        ec2 = op.client()
        found = op.props.get("leftEips")  # what the plan saw (NatGateway.observe), else ask
        if found is None:
            found = op.call("find NAT Elastic IP", ec2.describe_addresses,
                            Filters=[{"Name": "tag:controller:address", "Values": [node.id]}])["Addresses"]
        free = [a for a in found if not a.get("AssociationId")]
        if not free and found:
            # associated, but maybe to a NAT gateway that is gone (AWS frees it; moto does not): ask
            nats = op.call("find NAT gateways", ec2.describe_nat_gateways,
                           Filters=[{"Name": "tag:controller:address", "Values": [node.id]}])["NatGateways"]
            in_use = {a.get("AllocationId") for n in nats if n["State"] in ("pending", "available")
                      for a in n.get("NatGatewayAddresses", [])}
            for a in found:
                if a["AllocationId"] not in in_use:
                    op.call("disassociate stale NAT Elastic IP", ec2.disassociate_address,
                            AssociationId=a["AssociationId"], ok_not_found=True)
                    free.append(a)
        if free:
            return str(free[0]["AllocationId"])
        eip = op.call("allocate NAT Elastic IP", ec2.allocate_address, Domain="vpc",
                      **tags_at_create(node, ADDRESSES))
        return str(eip["AllocationId"])

    def delete(self, op: Op) -> None:
        assert op.live is not None
        ec2 = op.client()
        nat_id = op.live.aws_id
        op.call("delete NAT gateway", ec2.delete_nat_gateway, NatGatewayId=nat_id, ok_not_found=True)
        op.wait_for(NAT_GATEWAYS, nat_id, "NAT gateway deleted", ready=lambda n: n["State"] == "deleted",
                    absent_ok=True)
        # release the Elastic IP it allocated itself (a reused PublicIp stays: it has a document)
        found = op.call("find NAT Elastic IP", ec2.describe_addresses,
                        Filters=[{"Name": "tag:controller:address", "Values": [op.live.id]}])["Addresses"]
        for a in found:
            if a.get("AssociationId"):
                op.call("disassociate NAT Elastic IP", ec2.disassociate_address, AssociationId=a["AssociationId"],
                        ok_not_found=True)
            op.call("release NAT Elastic IP", ec2.release_address, AllocationId=a["AllocationId"],
                    ok_not_found=True, retry_codes=["InvalidIPAddress.InUse"])

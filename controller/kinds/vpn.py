"""Vpn: a site-to-site VPN as ONE node: a virtual private gateway attached to the VDC's VPC, a
customer gateway (the remote side: remoteAddress, bgpAsn) and the VPN connection between them.

Identity: all three parts carry the node's ownership tags (set at creation); aws_id is the VPN
connection id (vpn-...). A create looks each part up by its tag first, so a re-run after a crash
adopts a half-made VPN instead of making a second gateway.

Static routes (`staticRoutes`) are the connection's routes (create/delete_vpn_connection_route);
the connection is made with StaticRoutesOnly when there are any. The local AWS endpoint (moto)
does not implement those calls: apply then fails with a clear NotImplemented error for this VPN.

Observe, per region: describe_vpn_connections (tag filter); the gateway describes only when this
region has a desired Vpn or the connection listing found one of ours. Parts in state deleted or
deleting are ignored. Gateways left without a connection (a crashed create) are deleted with
the document; while the document exists, the next create adopts them.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.exceptions
import botocore.parsers

from controller.aws import tags as tag_style
from controller.aws.errors import is_not_found
from controller.errors import ResourceError
from controller.graph import Node, Ref
from controller.kinds.base import (
    TAG_ADDRESS,
    AwsFacts,
    Kind,
    Live,
    Observation,
    Op,
    ownership_tags,
    register,
    tags_at_create,
    tags_of,
)
from controller.spec.catalog import Catalog
from controller.spec.models import Resource

GONE = ("deleted", "deleting")
# listed only when a Vpn is desired or the tagging API shows a part of one (`rare`)
VPN_CONNECTIONS = AwsFacts("ec2", "describe_vpn_connections", "VpnConnections", "VpnConnectionId", tag_style.EC2,
                           resource_type="vpn-connection", id_prefix="vpn-", rare="ec2:vpn-connection")
VPN_GATEWAYS = AwsFacts("ec2", "describe_vpn_gateways", "VpnGateways", "VpnGatewayId", tag_style.EC2,
                        resource_type="vpn-gateway", id_prefix="vgw-", rare="ec2:vpn-gateway")
CUSTOMER_GATEWAYS = AwsFacts("ec2", "describe_customer_gateways", "CustomerGateways", "CustomerGatewayId",
                             tag_style.EC2, resource_type="customer-gateway", id_prefix="cgw-",
                             rare="ec2:customer-gateway")
# what a botocore client reports for an HTTP 500 page (moto's NotImplementedError) it cannot parse
UNSUPPORTED = {"ResponseParserError", "InternalError", "InternalFailure", "NotImplemented", "500"}


def _alive(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in items if i.get("State") not in GONE]


def _attached_vpc(vgw: dict[str, Any] | None) -> str | None:
    for a in (vgw or {}).get("VpcAttachments", []):
        if a.get("State") in ("attached", "attaching"):
            return str(a["VpcId"])
    return None


@register
class Vpn(Kind):
    name = "Vpn"
    spec_kinds = ("Vpn",)
    force_new = frozenset({"remoteAddress", "bgpAsn", "vpc"})
    set_fields = frozenset({"staticRoutes"})
    facts = (VPN_CONNECTIONS, VPN_GATEWAYS, CUSTOMER_GATEWAYS)

    def expand(self, r: Resource, catalog: Catalog) -> list[Node]:
        vdc = catalog.vdc_required(r)
        s = r.spec
        props = {"vpc": Ref(vdc.address), "remoteAddress": s.remote_address, "bgpAsn": s.bgp_asn,
                 "staticRoutes": sorted(s.static_routes)}
        return [self.node(self.name, r, props, region=vdc.spec.region)]

    # -- observe ---------------------------------------------------------------------------------

    def observe(self, obs: Observation) -> list[Live]:
        if not obs.needs(self.name, *self.facts):
            return []  # nothing desired, nothing of ours tagged: no listing calls
        conns = [c for c in _alive(obs.owned(VPN_CONNECTIONS))
                 if tags_of(c).get(TAG_ADDRESS)]
        wanted = {i for i, n in obs.desired.items() if n.kind == self.name}
        if not conns and not wanted:
            return []
        vgws = [g for g in _alive(obs.owned(VPN_GATEWAYS))
                if tags_of(g).get(TAG_ADDRESS)]
        cgws = [g for g in _alive(obs.owned(CUSTOMER_GATEWAYS))
                if tags_of(g).get(TAG_ADDRESS)]
        vgw_by = {g["VpnGatewayId"]: g for g in vgws}
        cgw_by = {g["CustomerGatewayId"]: g for g in cgws}
        out = []
        used: set[str] = set()
        for c in conns:
            vgw, cgw = vgw_by.get(c.get("VpnGatewayId", "")), cgw_by.get(c.get("CustomerGatewayId", ""))
            used |= {c.get("VpnGatewayId", ""), c.get("CustomerGatewayId", "")}
            vpc = _attached_vpc(vgw)
            routes = sorted(r["DestinationCidrBlock"] for r in c.get("Routes", []) if r.get("State") not in GONE)
            props = {"vpc": vpc, "remoteAddress": cgw.get("IpAddress") if cgw else None,
                     "bgpAsn": int(cgw["BgpAsn"]) if cgw and cgw.get("BgpAsn") else None, "staticRoutes": routes}
            live = self.live_from(self.name, c, c["VpnConnectionId"], props, refs=[vpc or ""],
                                  vgw=c.get("VpnGatewayId"), cgw=c.get("CustomerGatewayId"), vpcId=vpc,
                                  tagged_parts=[g for g in (c.get("VpnGatewayId"), c.get("CustomerGatewayId")) if g])
            if live:
                out.append(live)
        # gateways of a VPN whose connection is gone: adopted by a create, or deleted with the document
        have = {lv.id for lv in out}
        orphans: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for kind, items, key in (("vgw", vgws, "VpnGatewayId"), ("cgw", cgws, "CustomerGatewayId")):
            for g in items:
                address = tags_of(g)[TAG_ADDRESS]
                if g[key] in used or address in have or address in wanted:
                    continue
                orphans.setdefault(address, {"vgw": [], "cgw": []})[kind].append(g)
        for address, parts in sorted(orphans.items()):
            first = (parts["vgw"] or parts["cgw"])[0]
            aws_id = first.get("VpnGatewayId") or first["CustomerGatewayId"]
            vpcs = [v for v in (_attached_vpc(g) for g in parts["vgw"]) if v]
            out.append(Live(id=address, kind=self.name, aws_id=aws_id, tags=tags_of(first), refs=vpcs,
                            props={"vpc": vpcs[0] if vpcs else None},
                            attrs={"orphanVgws": [(g["VpnGatewayId"], _attached_vpc(g)) for g in parts["vgw"]],
                                   "orphanCgws": [g["CustomerGatewayId"] for g in parts["cgw"]]}))
        return out

    # -- create ----------------------------------------------------------------------------------

    def create(self, op: Op) -> Live:
        node = op.want
        ec2 = op.client()
        p = op.props
        mine = [{"Name": f"tag:{TAG_ADDRESS}", "Values": [node.id]}]
        # the virtual private gateway, attached to the VPC
        vgws = _alive(op.call("find VPN gateway", ec2.describe_vpn_gateways, Filters=mine)["VpnGateways"])
        if vgws:
            vgw = next((g for g in vgws if _attached_vpc(g) == p["vpc"]), vgws[0])
        else:
            vgw = op.call("create VPN gateway", ec2.create_vpn_gateway, Type="ipsec.1",
                          **tags_at_create(node, VPN_GATEWAYS))["VpnGateway"]
        vgw_id = vgw["VpnGatewayId"]
        if _attached_vpc(vgw) != p["vpc"]:
            op.call("attach VPN gateway", ec2.attach_vpn_gateway, VpnGatewayId=vgw_id, VpcId=p["vpc"],
                    retry_codes=["InvalidVpnGatewayID.NotFound", "IncorrectState"])
            op.wait("VPN gateway attached",
                    lambda: ec2.describe_vpn_gateways(VpnGatewayIds=[vgw_id])["VpnGateways"][0],
                    ready=lambda g: _attached_vpc(g) == p["vpc"] and all(
                        a["State"] == "attached" for a in g.get("VpcAttachments", []) if a["VpcId"] == p["vpc"]))
        # the customer gateway (the remote end)
        cgws = _alive(op.call("find customer gateway", ec2.describe_customer_gateways,
                              Filters=mine)["CustomerGateways"])
        cgw = next((g for g in cgws if g.get("IpAddress") == p["remoteAddress"]
                    and str(g.get("BgpAsn")) == str(p["bgpAsn"])), None)
        if cgw is None:
            cgw = op.call("create customer gateway", ec2.create_customer_gateway, Type="ipsec.1",
                          BgpAsn=p["bgpAsn"], PublicIp=p["remoteAddress"],
                          **tags_at_create(node, CUSTOMER_GATEWAYS))["CustomerGateway"]
        cgw_id = cgw["CustomerGatewayId"]
        # the connection
        conns = _alive(op.call("find VPN connection", ec2.describe_vpn_connections, Filters=mine)["VpnConnections"])
        conn = next((c for c in conns if c.get("VpnGatewayId") == vgw_id and c.get("CustomerGatewayId") == cgw_id),
                    None)
        if conn is None:
            conn = op.call("create VPN connection", ec2.create_vpn_connection, Type="ipsec.1",
                           CustomerGatewayId=cgw_id, VpnGatewayId=vgw_id,
                           Options={"StaticRoutesOnly": bool(p["staticRoutes"])},
                           **self.tags_at_create(node),
                           retry_codes=["InvalidCustomerGatewayID.NotFound", "InvalidVpnGatewayID.NotFound"]
                           )["VpnConnection"]
        vpn_id = conn["VpnConnectionId"]
        op.wait("VPN connection available",
                lambda: ec2.describe_vpn_connections(VpnConnectionIds=[vpn_id])["VpnConnections"][0],
                ready=lambda c: c["State"] == "available",
                failed=lambda c: f"the VPN connection is {c['State']}" if c["State"] in GONE else None)
        live = Live(id=node.id, kind=self.name, aws_id=vpn_id, tags=ownership_tags(node),
                    props={**p, "staticRoutes": sorted(r["DestinationCidrBlock"] for r in conn.get("Routes", []))},
                    attrs={"vgw": vgw_id, "cgw": cgw_id, "vpcId": p["vpc"]})
        op.live = live
        if p["staticRoutes"]:
            self.update(op, ["staticRoutes"])
        live.props = dict(p)
        return live

    # -- update: the static routes ------------------------------------------------------------

    def update(self, op: Op, changes: list[str]) -> None:
        assert op.live is not None
        if "staticRoutes" not in changes:
            return
        ec2 = op.client()
        want, have = set(op.props["staticRoutes"]), set(op.live.props.get("staticRoutes") or [])
        for cidr in sorted(want - have):
            self._route(op, "create static route", ec2.create_vpn_connection_route, cidr)
        for cidr in sorted(have - want):
            self._route(op, "delete static route", ec2.delete_vpn_connection_route, cidr)

    @staticmethod
    def _route(op: Op, what: str, fn: Any, cidr: str) -> None:
        assert op.live is not None
        try:
            op.call(f"{what} {cidr}", fn, VpnConnectionId=op.live.aws_id, DestinationCidrBlock=cidr,
                    ok_not_found=what.startswith("delete"))
        except (ResourceError, botocore.parsers.ResponseParserError) as e:
            # an HTTP 500 page (moto: NotImplementedError) is a ResponseParserError, which aws_call lets through
            if isinstance(e, ResourceError) and e.code not in UNSUPPORTED:
                raise
            raise ResourceError(op.address, f"{what} {cidr}", "NotImplemented",
                                f"this AWS endpoint does not implement VPN static routes ({fn.__name__}); "
                                "remove staticRoutes or use real AWS") from e

    # -- delete ----------------------------------------------------------------------------------

    def delete(self, op: Op) -> None:
        assert op.live is not None
        ec2 = op.client()
        live = op.live
        if "orphanVgws" in live.attrs or "orphanCgws" in live.attrs:
            vgws = list(live.attrs.get("orphanVgws") or [])
            cgws = list(live.attrs.get("orphanCgws") or [])
        else:
            vgw, cgw, vpc = live.attrs.get("vgw"), live.attrs.get("cgw"), live.attrs.get("vpcId")
            if not vgw or not cgw:  # a bare Live (a duplicate): read the parts from the connection
                found = op.call("read VPN connection", ec2.describe_vpn_connections, VpnConnectionIds=[live.aws_id],
                                ok_not_found=True)
                c = ((found or {}).get("VpnConnections") or [{}])[0]
                vgw, cgw = c.get("VpnGatewayId"), c.get("CustomerGatewayId")
                vpc = None
            op.call("delete VPN connection", ec2.delete_vpn_connection, VpnConnectionId=live.aws_id,
                    ok_not_found=True)
            op.wait("VPN connection deleted", lambda: self._state(ec2, live.aws_id),
                    ready=lambda s: s in ("deleted", "gone"))
            vgws = [(vgw, vpc)] if vgw else []
            cgws = [cgw] if cgw else []
            if vgw and not vpc:
                g = op.call("read VPN gateway", ec2.describe_vpn_gateways, VpnGatewayIds=[vgw], ok_not_found=True)
                vgws = [(vgw, _attached_vpc(((g or {}).get("VpnGateways") or [{}])[0]))]
        for vgw_id, vpc in vgws:
            if vpc:
                op.call("detach VPN gateway", ec2.detach_vpn_gateway, VpnGatewayId=vgw_id, VpcId=vpc,
                        ok_not_found=True)
                op.wait("VPN gateway detached", functools.partial(self._vgw, ec2, vgw_id),
                        ready=lambda g: _attached_vpc(g) is None)
            op.call("delete VPN gateway", ec2.delete_vpn_gateway, VpnGatewayId=vgw_id, ok_not_found=True,
                    retry_codes=["IncorrectState"])
        for cgw_id in cgws:
            op.call("delete customer gateway", ec2.delete_customer_gateway, CustomerGatewayId=cgw_id,
                    ok_not_found=True, retry_codes=["IncorrectState"])

    @staticmethod
    def _vgw(ec2: Any, vgw_id: str) -> dict[str, Any]:
        found = ec2.describe_vpn_gateways(VpnGatewayIds=[vgw_id])["VpnGateways"]
        return dict(found[0]) if found else {}

    @staticmethod
    def _state(ec2: Any, vpn_id: str) -> str:
        try:
            found = ec2.describe_vpn_connections(VpnConnectionIds=[vpn_id])["VpnConnections"]
        except botocore.exceptions.ClientError as e:
            if is_not_found(e):
                return "gone"
            raise
        return str(found[0]["State"]) if found else "gone"

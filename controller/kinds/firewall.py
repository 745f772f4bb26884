"""Firewall: a security group, and its rules as a separate node.

The rules are their own node (FirewallRules) so firewalls that refer to each other (`fromFirewall`)
never form a cycle: every group is created first, then the rules. Rule sets compare as normalized
sets of (protocol, ports, peer): order, grouping and descriptions are not drift.
"""

from __future__ import annotations

import json
from typing import Any

from controller.aws import tags as tag_style
from controller.errors import ResourceError
from controller.graph import Node, Ref
from controller.kinds.base import AwsFacts, Kind, Live, Observation, Op, ownership_tags, register
from controller.kinds.vdc import part
from controller.spec.catalog import Catalog
from controller.spec.models import Resource, Rule

ALL_OUT = [{"protocol": "all", "ports": "all", "peer": "0.0.0.0/0"}]
SECURITY_GROUPS = AwsFacts("ec2", "describe_security_groups", "SecurityGroups", "GroupId", tag_style.EC2,
                           resource_type="security-group", adopt_filter="group-id", id_prefix="sg-")
PROTOCOLS = {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp"}


def group_name(name: str) -> str:
    return "controller-default" if name == "default" else name


def _atoms(rules: list[Rule], direction: str, r: Resource) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for rule in rules:
        lo, hi = rule.port_range()
        ports = "all" if rule.protocol == "all" or (rule.protocol == "icmp" and rule.ports is None) else (
            f"{lo}" if lo == hi else f"{lo}-{hi}")
        cidrs = rule.from_ if direction == "ingress" else rule.to
        group = rule.from_firewall if direction == "ingress" else rule.to_firewall
        for c in cidrs:
            out.append({"protocol": rule.protocol, "ports": ports, "peer": c})
        if group:
            out.append({"protocol": rule.protocol, "ports": ports,
                        "peer": Ref(part_of(r, "Firewall", group))})
    return _unique(out)


def part_of(r: Resource, kind: str, name: str) -> str:
    from controller.spec.models import address_of

    return address_of(kind, name, r.metadata.enterprise, r.metadata.vdc)


def _unique(atoms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for a in atoms:
        seen.setdefault(json.dumps(a, sort_keys=True, default=str), a)
    return list(seen.values())


def protocol_of(perm: dict[str, Any]) -> str:
    """A permission's protocol as the spec names it (all, tcp, udp, icmp; else AWS's own name or number)."""
    return PROTOCOLS.get(str(perm.get("IpProtocol")), str(perm.get("IpProtocol")))


def decode_rule(perm: dict[str, Any]) -> tuple[str, str | None, list[str], list[str]]:
    """One AWS permission as (protocol, ports, CIDR peers, group peers): ports None for all ports.

    The one place a rule is read from AWS (observe compares it, onboarding writes it)."""
    proto = protocol_of(perm)
    lo, hi = perm.get("FromPort", -1), perm.get("ToPort", -1)
    ports = None if proto == "all" or lo in (-1, None) else (f"{lo}" if lo == hi else f"{lo}-{hi}")
    return (proto, ports, [r["CidrIp"] for r in perm.get("IpRanges", [])],
            [g["GroupId"] for g in perm.get("UserIdGroupPairs", []) if g.get("GroupId")])


def _live_atoms(perms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for p in perms:
        proto, ports, cidrs, groups = decode_rule(p)
        for peer in [*cidrs, *groups]:
            out.append({"protocol": proto, "ports": ports or "all", "peer": peer})
    return _unique(out)


def _permission(atom: dict[str, Any]) -> dict[str, Any]:
    proto = {"all": "-1"}.get(atom["protocol"], atom["protocol"])
    perm: dict[str, Any] = {"IpProtocol": proto}
    if proto != "-1":
        if atom["ports"] == "all":
            perm["FromPort"], perm["ToPort"] = -1, -1
        else:
            lo, _, hi = atom["ports"].partition("-")
            perm["FromPort"], perm["ToPort"] = int(lo), int(hi or lo)
    peer = atom["peer"]
    if peer.startswith("sg-"):
        perm["UserIdGroupPairs"] = [{"GroupId": peer}]
    else:
        perm["IpRanges"] = [{"CidrIp": peer}]
    return perm


@register
class Firewall(Kind):
    name = "Firewall"
    spec_kinds = ("Firewall",)
    force_new = frozenset({"vpc", "groupName", "description"})
    facts = (SECURITY_GROUPS,)

    def expand(self, r: Resource, catalog: Catalog) -> list[Node]:
        vdc = catalog.vdc_required(r)
        s = r.spec
        group = self.node(self.name, r, {"vpc": Ref(vdc.address), "groupName": s.group_name or group_name(r.name),
                                          "description": s.description or f"firewall {r.name}"},
                          region=vdc.spec.region, compared=["vpc", "groupName", "description"])
        rules = self.node("FirewallRules", r, {
            "group": Ref(r.address),
            "ingress": _atoms(s.ingress, "ingress", r),
            "egress": ALL_OUT if s.egress is None else _atoms(s.egress, "egress", r),
        }, id=part(vdc, "FirewallRules", r.name), region=vdc.spec.region)
        return [group, rules]

    def observe(self, obs: Observation) -> list[Live]:
        out = []
        for g in obs.owned(SECURITY_GROUPS):
            live = self.live_from(self.name, g, g["GroupId"], {
                "vpc": g.get("VpcId"), "groupName": g["GroupName"], "description": g.get("Description", "")},
                refs=[g.get("VpcId", "")])
            if live:
                out.append(live)
        return out

    def create(self, op: Op) -> Live:
        node = op.want
        ec2 = op.client()
        p = op.props
        sg = op.call("create security group", ec2.create_security_group, GroupName=p["groupName"],
                     Description=p["description"], VpcId=p["vpc"], **self.tags_at_create(node),
                     retry_codes=["InvalidVpcID.NotFound"])
        return Live(id=node.id, kind=self.name, aws_id=sg["GroupId"], props=dict(p), tags=ownership_tags(node))

    def delete(self, op: Op) -> None:
        assert op.live is not None
        op.call("delete security group", op.client().delete_security_group, GroupId=op.live.aws_id,
                ok_not_found=True, retry_codes=["DependencyViolation"], attempts=12)


@register
class FirewallRules(Kind):
    name = "FirewallRules"
    tagged = False
    set_fields = frozenset({"ingress", "egress"})
    facts = (SECURITY_GROUPS,)  # the group's rules: no tags of their own (derived)

    def observe(self, obs: Observation) -> list[Live]:
        out = []
        for g in obs.owned(SECURITY_GROUPS):
            owner = self.live_from("Firewall", g, g["GroupId"], {})
            if owner is None:
                continue
            ingress, egress = g.get("IpPermissions", []), g.get("IpPermissionsEgress", [])
            refs = [g["GroupId"]] + [p["GroupId"] for perm in ingress + egress for p in perm.get("UserIdGroupPairs", [])]
            out.append(Live(id=owner.id.replace("/Firewall/", "/FirewallRules/"), kind=self.name,
                            aws_id=g["GroupId"], tags=owner.tags, refs=refs,
                            props={"group": g["GroupId"], "ingress": _live_atoms(ingress),
                                   "egress": _live_atoms(egress)},
                            attrs={"raw": {"ingress": ingress, "egress": egress}}, derived=True))
        return out

    def create(self, op: Op) -> Live:
        node = op.want
        gid = op.props["group"]
        # a new group comes with the default "all outbound" egress rule: start from what is there, read
        # with one describe shared by the rule sets being made at the same time (batched like a wait; a
        # group not visible yet is polled again)
        g = op.wait_for(SECURITY_GROUPS, gid, "security group visible", ready=lambda _: True, timeout=120)
        op.live = Live(id=node.id, kind=self.name, aws_id=gid,
                       props={"group": gid, "ingress": _live_atoms(g.get("IpPermissions", [])),
                              "egress": _live_atoms(g.get("IpPermissionsEgress", []))},
                       attrs={"raw": {"ingress": g.get("IpPermissions", []),
                                      "egress": g.get("IpPermissionsEgress", [])}})
        self.update(op, ["ingress", "egress"])
        return Live(id=node.id, kind=self.name, aws_id=gid, props=dict(op.props), tags=ownership_tags(node),
                    derived=True)

    def update(self, op: Op, changes: list[str]) -> None:
        assert op.live is not None
        ec2 = op.client()
        gid = op.live.aws_id
        calls = {"ingress": (ec2.authorize_security_group_ingress, ec2.revoke_security_group_ingress),
                 "egress": (ec2.authorize_security_group_egress, ec2.revoke_security_group_egress)}
        for direction in ("ingress", "egress"):
            if direction not in changes:
                continue
            key = lambda a: json.dumps(a, sort_keys=True)  # noqa: E731
            want = {key(a): a for a in op.props[direction]}
            have = {key(a): a for a in op.live.props[direction]}
            authorize, revoke = calls[direction]
            add = [_permission(want[k]) for k in sorted(set(want) - set(have))]
            gone = set(have) - set(want)
            if gone:
                # revoke exactly what AWS holds (with its descriptions), one permission per atom removed
                raw = op.live.attrs.get("raw", {}).get(direction, [])
                perms = [p for p in _split(raw) if key(_live_atoms([p])[0]) in gone]
                if perms:  # a rule already gone is success; a group gone (this one or a peer) is not
                    try:
                        op.call(f"revoke {direction} rules", revoke, GroupId=gid, IpPermissions=perms)
                    except ResourceError as e:
                        if e.code != "InvalidPermission.NotFound":
                            raise
            if add:
                op.call(f"authorize {direction} rules", authorize, GroupId=gid, IpPermissions=add,
                        retry_codes=["InvalidGroup.NotFound"])

    def delete(self, op: Op) -> None:
        """Revoke every rule (so groups that refer to each other can then be deleted)."""
        assert op.live is not None
        ec2 = op.client()
        raw = op.live.attrs.get("raw", {})
        if raw.get("ingress"):
            op.call("revoke ingress rules", ec2.revoke_security_group_ingress, GroupId=op.live.aws_id,
                    IpPermissions=_split(raw["ingress"]), ok_not_found=True)
        if raw.get("egress"):
            op.call("revoke egress rules", ec2.revoke_security_group_egress, GroupId=op.live.aws_id,
                    IpPermissions=_split(raw["egress"]), ok_not_found=True)


def _split(perms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One permission per peer, as AWS returned it (descriptions kept, empty lists dropped)."""
    out = []
    for p in perms:
        base = {k: v for k, v in p.items() if k in ("IpProtocol", "FromPort", "ToPort")}
        for rng in p.get("IpRanges", []):
            out.append({**base, "IpRanges": [rng]})
        for g in p.get("UserIdGroupPairs", []):
            out.append({**base, "UserIdGroupPairs": [{k: v for k, v in g.items() if k in ("GroupId", "Description")}]})
    return out

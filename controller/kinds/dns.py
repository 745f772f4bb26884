"""DnsZone: a Route 53 hosted zone; DnsRecord: one record set in it. Both global (Route 53 has no
regions): observed once per enterprise, in its first region.

Zones carry the ownership tags (the Route 53 tag style: list_tags_for_resources,
change_tags_for_resource, written right after the create). Records cannot carry tags, so ownership is
written beside each record, as external-dns's TXT registry does (registry/txt.go): a TXT record
`_ctl-<type>.<name>` (`_ctl-<type>-wildcard.<zone>` for `*.<zone>`) whose value holds the ownership
tags (`heritage=controller,controller:address=...,controller:enterprise=...`). A record without such a
TXT is foreign: the controller never changes or deletes it, even in a zone it created; creating a
record where a foreign one is refused; the apex SOA and NS are never touched. A record and its owner
TXT are created, changed and deleted in one change batch (Route 53 applies a batch atomically), so
there is never one without the other. Deleting a zone that still holds foreign records is refused
while planning, naming them.

Record values given as a `target` are references to another object's attribute (a PublicIp's
address, a VM's public address, a load balancer's DNS name for an alias, a database's endpoint):
the diff compares the attribute's live value, and when that object is created or replaced the
record is updated after it in the same apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.aws import tags as tag_style
from controller.errors import ResourceError
from controller.graph import Node, Ref
from controller.kinds.base import (
    TAG_ADDRESS,
    TAG_ENTERPRISE,
    TAG_MANAGED_BY,
    TAG_PROTECT,
    AwsFacts,
    Kind,
    Live,
    Observation,
    Op,
    client_token,
    ownership_tags,
    register,
    set_by_user,
    tags_of,
)
from controller.kinds.public_ip import association_id
from controller.spec.catalog import Catalog
from controller.spec.models import Resource, address_of

HERITAGE = "heritage=controller"
OWNER_PREFIX = "_ctl-"
OWNED_TAGS = (TAG_ADDRESS, TAG_ENTERPRISE, TAG_MANAGED_BY, TAG_PROTECT)
# global: observed once per enterprise (engine/observe.py), not once per region
# listed only when a zone or record is desired or the tagging API shows a zone of ours (`rare`): most
# enterprises have none, and a no-change plan then asks Route 53 nothing
HOSTED_ZONES = AwsFacts("route53", "list_hosted_zones", "HostedZones", "Id", tag_style.ROUTE53,
                        resource_type="hostedzone", scope="global", listed_prefix="/hostedzone/",
                        rare="route53:hostedzone")
# records carry no tags: their ownership is an owner TXT beside each (DnsRecord.retag writes it)
RECORD_SETS = AwsFacts("route53", "list_resource_record_sets", "ResourceRecordSets", "Name", tag_style.ROUTE53,
                       scope="global")


def fqdn(name: str) -> str:
    """Route 53's form of a name: lower case, `*` unescaped, no trailing dot."""
    return name.replace("\\052", "*").rstrip(".").lower()


def record_fqdn(name: str, domain: str) -> str:
    domain = fqdn(domain)
    return domain if name == "@" else f"{name}.{domain}"


def owner_name(name: str, rtype: str) -> str:
    """The owner TXT's name for record `name` (a full name) of type `rtype`."""
    prefix = f"{OWNER_PREFIX}{rtype.lower()}"
    if name.startswith("*."):
        return f"{prefix}-wildcard.{name[2:]}"
    return f"{prefix}.{name}"


def owner_value(tags: dict[str, str]) -> str:
    body = ",".join([HERITAGE, *(f"{k}={tags[k]}" for k in OWNED_TAGS if tags.get(k))])
    return f'"{body}"'


def parse_owner(values: list[str]) -> dict[str, str] | None:
    """The ownership tags an owner TXT holds, or None if the TXT is not one of ours."""
    text = "".join(unquote(v) for v in values)
    parts = text.split(",")
    if not parts or parts[0] != HERITAGE:
        return None
    out = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    return out if out.get(TAG_ADDRESS) else None


def unquote(value: str) -> str:
    v = value.strip()
    if len(v) >= 2 and v[0] == v[-1] == '"':
        return "".join(chunk for chunk in v[1:-1].split('" "')).replace('\\"', '"')
    return v


def quote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value
    return '"' + value.replace('"', '\\"') + '"'


def _zone_id(raw: str) -> str:
    return raw.rsplit("/", 1)[-1]


def _global_region(r: Resource, catalog: Catalog) -> str:
    """The region a global object's node carries: its enterprise's first (where it is observed)."""
    ent = catalog.get("Enterprise", r.enterprise, None)
    assert ent is not None, f"{r.address}: no Enterprise {r.enterprise!r} after validation"
    return str(ent.spec.regions[0])


# -- one listing per observe pass, shared by both kinds -------------------------------------------

def _owned_zones(obs: Observation) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """This enterprise's zones with their tags (tagged, or untagged and named by a document's awsId:
    adopted): one listing and its tags, shared by both kinds (the query layer); none asked for when no
    zone or record is desired and the tagging API shows no zone of this enterprise."""
    if not (obs.needs("DnsZone", HOSTED_ZONES) or obs.needs("DnsRecord")):
        return []
    return [(z, tags_of(z)) for z in obs.owned(HOSTED_ZONES)]


def _records(obs: Observation, zone_id: str) -> list[dict[str, Any]]:
    return obs.list(RECORD_SETS.service, RECORD_SETS.describe, RECORD_SETS.key, HostedZoneId=zone_id)


def _split(records: list[dict[str, Any]], domain: str, enterprise: str
           ) -> tuple[dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any], dict[str, str]]], list[str]]:
    """A zone's records -> ours {(name, type): (record, owner TXT, tags)} and the foreign ones' names.

    A record is ours when its owner TXT names this enterprise; the apex SOA/NS are nobody's."""
    by_key = {(fqdn(r["Name"]), r["Type"]): r for r in records}
    ours: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any], dict[str, str]]] = {}
    owners: set[tuple[str, str]] = set()
    for (name, rtype), r in by_key.items():
        if rtype != "TXT" or not name.startswith(OWNER_PREFIX):
            continue
        tags = parse_owner([v["Value"] for v in r.get("ResourceRecords") or []])
        if tags is None:
            continue
        owners.add((name, rtype))
        for (n2, t2), rec in by_key.items():
            if owner_name(n2, t2) == name and tags.get(TAG_ENTERPRISE) == enterprise:
                ours[(n2, t2)] = (rec, r, tags)
    apex = fqdn(domain)
    foreign = [f"{n} {t}" for (n, t) in sorted(by_key) if (n, t) not in ours and (n, t) not in owners
               and not (n == apex and t in ("SOA", "NS"))]
    return ours, foreign


@register
class DnsZone(Kind):
    name = "DnsZone"
    spec_kinds = ("DnsZone",)
    force_new = frozenset({"domain", "private"})
    set_fields = frozenset({"vpcs"})
    facts = (HOSTED_ZONES,)

    def expand(self, r: Resource, catalog: Catalog) -> list[Node]:
        s, ent = r.spec, r.metadata.enterprise
        vdcs = [catalog.get("VirtualDatacenter", v, ent) for v in s.vdcs]
        props: dict[str, Any] = {
            "domain": fqdn(s.domain), "private": s.private, "comment": s.comment or "",
            "vpcs": [Ref(v.address) for v in vdcs if v is not None],
            "vpcRegions": [v.spec.region for v in vdcs if v is not None],
        }
        compared = ["domain", "private", "vpcs", *set_by_user(s, "comment")]
        return [self.node(self.name, r, props, region=_global_region(r, catalog), compared=compared)]

    def observe(self, obs: Observation) -> list[Live]:
        out = []
        for z, tags in _owned_zones(obs):
            zid, config = _zone_id(z["Id"]), z.get("Config") or {}
            private = bool(config.get("PrivateZone"))
            vpcs: dict[str, str] = {}
            if private:
                got = obs.list("route53", "get_hosted_zone", "VPCs", Id=zid)
                vpcs = {v["VPCId"]: v.get("VPCRegion", "") for v in got}
            _, foreign = _split(_records(obs, zid), z["Name"], obs.enterprise)
            out.append(Live(id=tags[TAG_ADDRESS], kind=self.name, aws_id=zid, tags=tags, refs=sorted(vpcs),
                            props={"domain": fqdn(z["Name"]), "private": private,
                                   "comment": config.get("Comment") or "", "vpcs": sorted(vpcs)},
                            attrs={"vpcRegions": vpcs, "foreign": foreign, "domain": fqdn(z["Name"])}))
        return out

    def check_delete(self, live: Live) -> str | None:
        foreign = live.attrs.get("foreign") or []
        if foreign:
            more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
            return (f"the zone holds records the controller did not create ({', '.join(foreign[:5])}{more}): "
                    "it never deletes them; delete them by hand, or keep the zone's document")
        return None

    def create(self, op: Op) -> Live:
        node, p = op.want, op.props
        r53 = op.client("route53")
        ref = client_token(node, p)[:128]
        kw: dict[str, Any] = {"Name": p["domain"], "CallerReference": ref,
                              "HostedZoneConfig": {"Comment": p["comment"], "PrivateZone": p["private"]}}
        if p["private"]:
            kw["VPC"] = {"VPCRegion": p["vpcRegions"][0], "VPCId": p["vpcs"][0]}
        try:
            zid = _zone_id(op.call("create hosted zone", r53.create_hosted_zone, **kw)["HostedZone"]["Id"])
        except ResourceError as e:
            if e.code != "HostedZoneAlreadyExists":
                raise
            zid = self._by_reference(op, p["domain"], ref)  # an interrupted apply made it, untagged
        op.tag_new(HOSTED_ZONES, zid)  # create_hosted_zone takes no tags
        live = Live(id=node.id, kind=self.name, aws_id=zid, tags=ownership_tags(node),
                    props={k: p[k] for k in ("domain", "private", "comment")} | {"vpcs": p["vpcs"][:1]},
                    attrs={"vpcRegions": dict(zip(p["vpcs"][:1], p["vpcRegions"][:1], strict=True)),
                           "domain": p["domain"], "foreign": []})
        op.live = live
        if p["private"] and len(p["vpcs"]) > 1:
            self.update(op, ["vpcs"])
        live.props["vpcs"] = list(p["vpcs"])
        return live

    @staticmethod
    def _by_reference(op: Op, domain: str, ref: str) -> str:
        r53 = op.client("route53")
        for page in r53.get_paginator("list_hosted_zones").paginate():
            for z in page["HostedZones"]:
                if z.get("CallerReference") == ref and fqdn(z["Name"]) == domain:
                    return _zone_id(z["Id"])
        raise ResourceError(op.address, "create hosted zone", "HostedZoneAlreadyExists",
                            "a zone with this caller reference exists but cannot be found")

    def update(self, op: Op, changes: list[str]) -> None:
        assert op.live is not None
        p, r53, zid = op.props, op.client("route53"), op.live.aws_id
        if "comment" in changes:
            op.call("update hosted zone comment", r53.update_hosted_zone_comment, Id=zid, Comment=p["comment"])
        if "vpcs" in changes:
            have: dict[str, str] = dict(op.live.attrs.get("vpcRegions") or {})
            want = dict(zip(p["vpcs"], p["vpcRegions"], strict=True))
            for vpc in sorted(set(want) - set(have)):  # associate first: a private zone keeps at least one VPC
                op.call("associate VPC", r53.associate_vpc_with_hosted_zone, HostedZoneId=zid,
                        VPC={"VPCRegion": want[vpc], "VPCId": vpc})
            for vpc in sorted(set(have) - set(want)):
                op.call("disassociate VPC", r53.disassociate_vpc_from_hosted_zone, HostedZoneId=zid,
                        VPC={"VPCRegion": have[vpc], "VPCId": vpc}, ok_not_found=True)
            op.live.attrs["vpcRegions"] = want

    def delete(self, op: Op) -> None:
        assert op.live is not None
        r53, zid = op.client("route53"), op.live.aws_id
        records = []
        for page in op.call("list records", r53.get_paginator("list_resource_record_sets").paginate, HostedZoneId=zid):
            records.extend(page["ResourceRecordSets"])
        _, foreign = _split(records, op.live.attrs.get("domain") or op.live.props.get("domain", ""), "")
        if foreign:  # made by hand since the plan
            raise ResourceError(op.address, "delete hosted zone", "ForeignRecords",
                                self.check_delete(Live(op.live.id, self.name, zid, attrs={"foreign": foreign})) or "")
        orphans = [r for r in records if r["Type"] == "TXT" and fqdn(r["Name"]).startswith(OWNER_PREFIX)
                   and parse_owner([v["Value"] for v in r.get("ResourceRecords") or []]) is not None]
        if orphans:  # owner TXTs of records gone by hand
            op.call("delete owner records", r53.change_resource_record_sets, HostedZoneId=zid,
                    ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": r} for r in orphans]})
        op.call("delete hosted zone", r53.delete_hosted_zone, Id=zid, ok_not_found=True)


@register
class DnsRecord(Kind):
    name = "DnsRecord"
    tagged = False  # Route 53 records have no tags (their owner TXT says whose they are)
    spec_kinds = ("DnsRecord",)
    force_new = frozenset({"zone", "name", "type"})
    set_fields = frozenset({"values"})
    facts = (RECORD_SETS,)

    def expand(self, r: Resource, catalog: Catalog) -> list[Node]:
        s, ent = r.spec, r.metadata.enterprise
        zone = catalog.get("DnsZone", s.zone, ent)
        assert zone is not None, f"{r.address}: no DnsZone {s.zone!r} after validation"
        name = record_fqdn(s.name, zone.spec.domain)
        props: dict[str, Any] = {"zone": Ref(zone.address), "name": name, "type": s.type, "ttl": s.ttl}
        deps: list[str] = []
        if s.values is not None:
            props["values"] = [normal_value(s.type, v) for v in s.values]
        else:
            t = s.target
            kind, vdc = t.kind, t.vdc
            if kind == "LoadBalancer":
                lb = address_of(kind, t.name, ent, vdc)
                props["alias"] = {"dnsName": Ref(lb, "dnsName"), "zoneId": Ref(lb, "zoneId")}
            elif kind == "Database":
                props["values"] = [Ref(address_of(kind, t.name, ent, vdc), "endpoint")]
            elif kind == "PublicIp":
                pip = catalog.public_ip(ent, vdc, t.name)
                assert pip is not None, f"{r.address}: no PublicIp {t.name!r} after validation"
                props["values"] = [Ref(pip.address, "publicIp")]
            else:
                vm = catalog.get(kind, t.name, ent, vdc)
                assert vm is not None, f"{r.address}: no VirtualMachine {t.name!r} after validation"
                pip = vm.spec.nics[0].public_ip
                if pip:  # the VM's Elastic IP, once it is on the VM
                    pid = (address_of("PublicIp", f"{vm.name}.nic0", ent, vdc) if pip == "auto"
                           else getattr(catalog.public_ip(ent, vdc, pip), "address", ""))
                    props["values"] = [Ref(pid, "publicIp")]
                    deps.append(association_id(pid))
                else:  # the address AWS gives the instance on a public network
                    props["values"] = [Ref(vm.address, "publicIp")]
                    props["instance"] = Ref(vm.address)
        compared = ["zone", "name", "type", *(["alias"] if "alias" in props else ["ttl", "values"])]
        return [self.node(self.name, r, props, region=_global_region(r, catalog), compared=compared,
                          extra_deps=deps)]

    def observe(self, obs: Observation) -> list[Live]:
        out = []
        for z, _ in _owned_zones(obs):
            zid = _zone_id(z["Id"])
            ours, _ = _split(_records(obs, zid), z["Name"], obs.enterprise)
            for (name, rtype), (rec, owner, tags) in ours.items():
                tags = {**tags, "Name": tags[TAG_ADDRESS].rsplit("/", 1)[-1]}
                out.append(Live(id=tags[TAG_ADDRESS], kind=self.name, aws_id=f"{zid}:{name}:{rtype}", tags=tags,
                                props=record_props(rec, zid), refs=[zid],
                                attrs={"record": rec, "owner": owner, "zoneId": zid}))
        return out

    # -- verbs -----------------------------------------------------------------------------------

    def _record_set(self, op: Op) -> dict[str, Any]:
        p = op.props
        rs: dict[str, Any] = {"Name": p["name"], "Type": p["type"]}
        if "alias" in p:
            alias = p["alias"]
            if not alias.get("zoneId") or not alias.get("dnsName"):
                raise ResourceError(op.address, "resolve alias target", "NoHostedZoneId",
                                    "the load balancer has no DNS name or canonical hosted zone id (yet)")
            rs["AliasTarget"] = {"HostedZoneId": alias["zoneId"], "DNSName": alias["dnsName"],
                                 "EvaluateTargetHealth": False}
            return rs
        values = list(p["values"])
        if any(v is None for v in values) and p.get("instance"):
            values = [self._instance_address(op, p["instance"])]
        if any(v is None for v in values):
            raise ResourceError(op.address, "resolve target", "NoAddress", "the target has no address (yet)")
        rs["TTL"] = p["ttl"]
        rs["ResourceRecords"] = [{"Value": quote(v) if p["type"] == "TXT" else v} for v in values]
        return rs

    @staticmethod
    def _instance_address(op: Op, instance: str) -> str:
        """A VM just created gets its public address from AWS shortly after launch."""
        ec2 = op.client()

        def probe() -> str | None:
            res = ec2.describe_instances(InstanceIds=[instance])["Reservations"]
            return next((i.get("PublicIpAddress") for r in res for i in r["Instances"]), None)
        return str(op.wait("a public address", probe, lambda a: bool(a), timeout=300))

    def _owner_set(self, op: Op, tags: dict[str, str]) -> dict[str, Any]:
        p = op.props
        return {"Name": owner_name(p["name"], p["type"]), "Type": "TXT", "TTL": 300,
                "ResourceRecords": [{"Value": owner_value(tags)}]}

    def _change(self, op: Op, what: str, changes: list[tuple[str, dict[str, Any]]]) -> None:
        zone = op.props["zone"] if op.node is not None else op.live.attrs["zoneId"]  # type: ignore[union-attr]
        op.call(what, op.client("route53").change_resource_record_sets, HostedZoneId=zone,
                ChangeBatch={"Comment": f"controller: {op.address}",
                             "Changes": [{"Action": a, "ResourceRecordSet": rs} for a, rs in changes]})

    def create(self, op: Op) -> Live:
        node, p = op.want, op.props
        rs = self._record_set(op)
        r53 = op.client("route53")
        found = op.call("find record", r53.list_resource_record_sets, HostedZoneId=p["zone"], StartRecordName=p["name"],
                        StartRecordType=p["type"], MaxItems="1")["ResourceRecordSets"]
        if found and fqdn(found[0]["Name"]) == p["name"] and found[0]["Type"] == p["type"]:
            raise ResourceError(op.address, "create record", "ForeignRecord",
                                f"{p['name']} {p['type']} exists and the controller did not create it: it never "
                                "changes such a record; delete it by hand, or name another record")
        tags = ownership_tags(node)
        owner = self._owner_set(op, tags)
        self._change(op, "create record", [("CREATE", rs), ("CREATE", owner)])
        return Live(id=node.id, kind=self.name, aws_id=f"{p['zone']}:{p['name']}:{p['type']}", tags=tags,
                    props=record_props(rs, p["zone"]), refs=[p["zone"]],
                    attrs={"record": rs, "owner": owner, "zoneId": p["zone"]})

    def update(self, op: Op, changes: list[str]) -> None:
        assert op.live is not None
        rs = self._record_set(op)
        self._change(op, "update record", [("UPSERT", rs)])
        op.live.attrs["record"] = rs

    def retag(self, op: Op, tags: Mapping[str, str | None]) -> None:
        """The ownership "tags" of a record are its owner TXT (records cannot carry tags)."""
        assert op.live is not None
        have = {k: v for k, v in op.live.tags.items() if k in OWNED_TAGS}
        merged = {k: v for k, v in {**have, **tags}.items() if v is not None}
        owner = {**op.live.attrs["owner"], "ResourceRecords": [{"Value": owner_value(merged)}]}
        self._change(op, "tag record", [("UPSERT", owner)])
        op.live.attrs["owner"] = owner
        op.live.tags.update({k: v for k, v in tags.items() if v is not None})

    def delete(self, op: Op) -> None:
        assert op.live is not None
        rec, owner = op.live.attrs.get("record"), op.live.attrs.get("owner")
        if not rec or not owner:
            return
        try:
            self._change(op, "delete record", [("DELETE", rec), ("DELETE", owner)])
        except ResourceError as e:
            if e.code != "NoSuchHostedZone" and not (e.code == "InvalidChangeBatch" and "not found" in str(e)):
                raise  # else: already gone


def normal_value(rtype: str, value: str) -> str:
    """Values as Route 53 gives them back: host names without the trailing dot, TXT unquoted."""
    if rtype in ("CNAME", "MX"):
        return value.rstrip(".").lower()
    if rtype == "TXT":
        return unquote(value)
    return value


def record_props(rs: dict[str, Any], zone_id: str) -> dict[str, Any]:
    rtype = rs["Type"]
    props: dict[str, Any] = {"zone": zone_id, "name": fqdn(rs["Name"]), "type": rtype, "ttl": rs.get("TTL")}
    if rs.get("AliasTarget"):
        a = rs["AliasTarget"]
        props["alias"] = {"dnsName": a["DNSName"].rstrip("."), "zoneId": a["HostedZoneId"]}
    else:
        props["values"] = sorted(normal_value(rtype, v["Value"]) for v in rs.get("ResourceRecords") or [])
    return props

"""Read a region's estate with batched describe calls: one paginated call per object type, never one
call per object, through the query layer and the kinds' AWS facts (the listing call, its key
and fixed arguments come from the kind). Read-only: only Describe* operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controller.aws import query
from controller.kinds.base import TAG_ADDRESS, AwsFacts, tags_of
from controller.kinds.database import DB_INSTANCES
from controller.kinds.dns import RECORD_SETS
from controller.kinds.firewall import SECURITY_GROUPS
from controller.kinds.network import SUBNETS
from controller.kinds.public_ip import ADDRESSES
from controller.kinds.user import KEY_PAIRS
from controller.kinds.vdc import INTERNET_GATEWAYS, NAT_GATEWAYS, ROUTE_TABLES, VPCS
from controller.kinds.vm import GONE, INSTANCES
from controller.kinds.volume import GONE_STATES as VOLUME_GONE
from controller.kinds.volume import VOLUMES


@dataclass
class Estate:
    """What one region holds, indexed for the writers (every list as AWS returned it)."""

    region: str
    vpcs: list[dict[str, Any]] = field(default_factory=list)
    subnets: list[dict[str, Any]] = field(default_factory=list)
    route_tables: list[dict[str, Any]] = field(default_factory=list)
    igws: list[dict[str, Any]] = field(default_factory=list)
    nats: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    instances: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    addresses: list[dict[str, Any]] = field(default_factory=list)
    key_pairs: list[dict[str, Any]] = field(default_factory=list)
    databases: list[dict[str, Any]] = field(default_factory=list)  # RDS instances in the VPCs, untagged
    zones: list[dict[str, Any]] = field(default_factory=list)  # private zones of the VPCs: zone, VPCs, records

    def in_vpc(self, items: list[dict[str, Any]], vpc_id: str) -> list[dict[str, Any]]:
        return [i for i in items if i.get("VpcId") == vpc_id]

    def igw_of(self, vpc_id: str) -> dict[str, Any] | None:
        return next((g for g in self.igws if any(a.get("VpcId") == vpc_id for a in g.get("Attachments", []))), None)


def read(client: Any, facts: AwsFacts, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a kind's listing in the client's region (paged, retried: the query layer)."""
    return query.listing(client, facts, f"region {client.meta.region_name}", f"onboard ({facts.describe})", **kwargs)


def untagged(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objects the controller does not manage yet (no ownership tag): the only ones onboarded."""
    return [i for i in items if TAG_ADDRESS not in tags_of(i)]


def read_estate(ec2: Any, region: str, vpc: str, rds: Any = None, route53: Any = None) -> Estate:
    """`vpc`: one VPC id, or `all` (every VPC of the region but the default one). With `rds` and
    `route53` clients, also the VPCs' RDS instances and the private hosted zones associated with them."""
    est = Estate(region=region)
    vpc_filter = [] if vpc == "all" else [{"Name": "vpc-id", "Values": [vpc]}]
    est.vpcs = [v for v in read(ec2, VPCS, Filters=vpc_filter)
                if not v.get("IsDefault") and TAG_ADDRESS not in tags_of(v)]
    ids = sorted(v["VpcId"] for v in est.vpcs)
    if not ids:
        return est
    by_vpc = [{"Name": "vpc-id", "Values": ids}]
    est.subnets = read(ec2, SUBNETS, Filters=by_vpc)
    est.route_tables = read(ec2, ROUTE_TABLES, Filters=by_vpc)
    est.igws = read(ec2, INTERNET_GATEWAYS, Filters=[{"Name": "attachment.vpc-id", "Values": ids}])
    est.nats = [n for n in read(ec2, NAT_GATEWAYS, Filters=by_vpc) if n.get("State") in ("pending", "available")]
    est.groups = read(ec2, SECURITY_GROUPS, Filters=by_vpc)
    est.instances = [i for i in read(ec2, INSTANCES, Filters=by_vpc) if i.get("State", {}).get("Name") not in GONE]
    # volumes and Elastic IPs of the whole region: the loose ones go to the region level
    est.volumes = [v for v in read(ec2, VOLUMES) if v.get("State") not in VOLUME_GONE]
    est.addresses = read(ec2, ADDRESSES)
    est.key_pairs = read(ec2, KEY_PAIRS)
    if rds is not None:
        est.databases = [d for d in read(rds, DB_INSTANCES)
                         if (d.get("DBSubnetGroup") or {}).get("VpcId") in ids
                         and d.get("DBInstanceStatus") not in ("deleting", "deleted")
                         and TAG_ADDRESS not in tags_of({"Tags": d.get("TagList")})]
    if route53 is not None:
        est.zones = _private_zones(route53, region, ids)
    return est


def _private_zones(route53: Any, region: str, vpcs: list[str]) -> list[dict[str, Any]]:
    """The private hosted zones serving these VPCs, untagged: {zone, vpcs, records}."""
    where = f"region {region}"
    out, seen = [], set()
    for vid in vpcs:
        for z in query.pages(route53, "list_hosted_zones_by_vpc", "HostedZoneSummaries", where,
                             "onboard (list_hosted_zones_by_vpc)", VPCId=vid, VPCRegion=region):
            zid = z["HostedZoneId"].rsplit("/", 1)[-1]
            if zid in seen:
                continue
            seen.add(zid)
            tags = query.call(where, "onboard (list_tags_for_resource)", route53.list_tags_for_resource,
                              ResourceType="hostedzone", ResourceId=zid, read=True)["ResourceTagSet"]
            if TAG_ADDRESS in tags_of(tags):
                continue
            got = query.call(where, "onboard (get_hosted_zone)", route53.get_hosted_zone, Id=zid, read=True)
            out.append({"zone": got["HostedZone"], "vpcs": got.get("VPCs", []),
                        "records": read(route53, RECORD_SETS, HostedZoneId=zid)})
    return out

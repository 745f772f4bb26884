"""Read a region's estate with batched describe calls: one paginated call per object type, never one
call per object. Read-only: only Describe* operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controller.aws.errors import aws_call
from controller.kinds.base import TAG_ADDRESS, tags_of


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


def pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a describe call, through its paginator when it has one."""
    head, _, rest = key.partition("[].")
    with aws_call(f"region {client.meta.region_name}", f"onboard ({operation})"):
        if client.can_paginate(operation):
            got = [p for page in client.get_paginator(operation).paginate(**kwargs) for p in page.get(head, [])]
        else:
            got = list(getattr(client, operation)(**kwargs).get(head, []))
    return [x for item in got for x in item.get(rest, [])] if rest else got


def untagged(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objects the controller does not manage yet (no ownership tag): the only ones onboarded."""
    return [i for i in items if TAG_ADDRESS not in tags_of(i)]


def read_estate(ec2: Any, region: str, vpc: str, rds: Any = None, route53: Any = None) -> Estate:
    """`vpc`: one VPC id, or `all` (every VPC of the region but the default one). With `rds` and
    `route53` clients, also the VPCs' RDS instances and the private hosted zones associated with them."""
    est = Estate(region=region)
    vpc_filter = [] if vpc == "all" else [{"Name": "vpc-id", "Values": [vpc]}]
    est.vpcs = [v for v in pages(ec2, "describe_vpcs", "Vpcs", Filters=vpc_filter)
                if not v.get("IsDefault") and TAG_ADDRESS not in tags_of(v)]
    ids = sorted(v["VpcId"] for v in est.vpcs)
    if not ids:
        return est
    by_vpc = [{"Name": "vpc-id", "Values": ids}]
    est.subnets = pages(ec2, "describe_subnets", "Subnets", Filters=by_vpc)
    est.route_tables = pages(ec2, "describe_route_tables", "RouteTables", Filters=by_vpc)
    est.igws = pages(ec2, "describe_internet_gateways", "InternetGateways",
                     Filters=[{"Name": "attachment.vpc-id", "Values": ids}])
    est.nats = [n for n in pages(ec2, "describe_nat_gateways", "NatGateways", Filters=by_vpc)
                if n.get("State") in ("pending", "available")]
    est.groups = pages(ec2, "describe_security_groups", "SecurityGroups", Filters=by_vpc)
    est.instances = [i for i in pages(ec2, "describe_instances", "Reservations[].Instances", Filters=by_vpc)
                     if i.get("State", {}).get("Name") not in ("terminated", "shutting-down")]
    # volumes and Elastic IPs of the whole region: the loose ones go to the region level
    est.volumes = [v for v in pages(ec2, "describe_volumes", "Volumes")
                   if v.get("State") not in ("deleting", "deleted", "error")]
    est.addresses = pages(ec2, "describe_addresses", "Addresses")
    est.key_pairs = pages(ec2, "describe_key_pairs", "KeyPairs", IncludePublicKey=True)
    if rds is not None:
        est.databases = [d for d in pages(rds, "describe_db_instances", "DBInstances")
                         if (d.get("DBSubnetGroup") or {}).get("VpcId") in ids
                         and d.get("DBInstanceStatus") not in ("deleting", "deleted")
                         and TAG_ADDRESS not in tags_of({"Tags": d.get("TagList")})]
    if route53 is not None:
        seen: set[str] = set()
        for vid in ids:
            for z in pages(route53, "list_hosted_zones_by_vpc", "HostedZoneSummaries", VPCId=vid, VPCRegion=region):
                zid = z["HostedZoneId"].rsplit("/", 1)[-1]
                if zid in seen:
                    continue
                seen.add(zid)
                with aws_call(f"region {region}", "onboard (list_tags_for_resource)"):
                    tags = route53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zid)["ResourceTagSet"]
                if TAG_ADDRESS in tags_of(tags):
                    continue
                with aws_call(f"region {region}", "onboard (get_hosted_zone)"):
                    got = route53.get_hosted_zone(Id=zid)
                records = pages(route53, "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=zid)
                est.zones.append({"zone": got["HostedZone"], "vpcs": got.get("VPCs", []), "records": records})
    return est

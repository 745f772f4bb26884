"""Database: an RDS DB instance and its DB subnet group, as ONE node (like a load balancer and its
target groups).

Identity:
  identifier  `<vdc>-<name>` (RDS rules: a letter first, no `--`, at most 63), or the onboarded
              instance's own (metadata.awsId); the DB subnet group has the same name.
  aws_id      the identifier; attrs: arn, endpoint, port, secretArn (what other documents may use).
  tags        the ownership tags on both (the RDS tag style: TagList, add_tags_to_resource).

The master password is AWS-managed (`ManageMasterUserPassword`): the controller never sees it, and
only the ARN of its Secrets Manager secret is an attribute. `skipFinalSnapshot` lives in a tag
(`controller:skip-final-snapshot`), so a delete after the document is gone still knows it; else the
delete takes a final snapshot `<identifier>-final-<UTC time>`. `metadata.protect` also sets
DeletionProtection.

RDS has no server-side tag filter: one describe_db_instances per region (only when a Database is
desired there or the tagging API shows one of ours), filtered on its TagList by the query layer (obs.owned; adoption by identifier there too) (the instance carries its DBSubnetGroup and VPC security groups, so no other call). A database that RDS
is still creating or modifying is reported as in progress; a pending modification counts as done
(PendingModifiedValues overlays what is observed), so a modification in flight is not drift.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from controller.aws import tags as tag_style
from controller.errors import ResourceError
from controller.graph import Node, Ref
from controller.kinds.base import (
    TAG_ADDRESS,
    AwsFacts,
    Kind,
    Live,
    Observation,
    Op,
    register,
    set_by_user,
    tags_at_create,
    tags_of,
)
from controller.spec.catalog import Catalog
from controller.spec.models import Resource, address_of

# listed only when a Database is desired or the tagging API shows one of ours (`rare`): most estates have none
DB_INSTANCES = AwsFacts("rds", "describe_db_instances", "DBInstances", "DBInstanceIdentifier", tag_style.RDS,
                        tag_field="DBInstanceArn", rare="rds:db")
DB_SUBNET_GROUPS = AwsFacts("rds", "describe_db_subnet_groups", "DBSubnetGroups", "DBSubnetGroupName",
                            tag_style.RDS, tag_field="DBSubnetGroupArn")
TAG_SKIP_SNAPSHOT = "controller:skip-final-snapshot"
BUSY = ("creating", "modifying", "backing-up", "upgrading", "configuring-enhanced-monitoring", "rebooting",
        "resetting-master-credentials", "renaming", "storage-optimization", "maintenance")
GONE = ("deleting", "deleted")
# spec prop -> (RDS field of the instance, RDS field of PendingModifiedValues, modify_db_instance argument)
FIELDS = {
    "instanceClass": ("DBInstanceClass", "DBInstanceClass", "DBInstanceClass"),
    "storageGiB": ("AllocatedStorage", "AllocatedStorage", "AllocatedStorage"),
    "storageType": ("StorageType", "StorageType", "StorageType"),
    "multiAz": ("MultiAZ", "MultiAZ", "MultiAZ"),
    "backupRetentionDays": ("BackupRetentionPeriod", "BackupRetentionPeriod", "BackupRetentionPeriod"),
    "engineVersion": ("EngineVersion", "EngineVersion", "EngineVersion"),
    "deletionProtection": ("DeletionProtection", None, "DeletionProtection"),
}


def db_identifier(vdc: str, name: str) -> str:
    """An RDS identifier: letters, digits, single hyphens, a letter first, at most 63 characters."""
    base = re.sub(r"-+", "-", f"{vdc}-{name}").strip("-")
    if not base[0].isalpha():
        base = f"db-{base}"
    return base[:63].rstrip("-")


def final_snapshot_id(identifier: str, now: float | None = None) -> str:
    return f"{identifier}-final-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now))}"


def _version_matches(want: str | None, have: str | None) -> bool:
    """`16` or `16.3` as written matches the live `16.3`: a version is compared as far as it is written."""
    return bool(want and have and (have == want or have.startswith(want + ".")))


@register
class Database(Kind):
    name = "Database"
    spec_kinds = ("Database",)
    force_new = frozenset({"engine", "identifier", "masterUsername", "vpc"})
    set_fields = frozenset({"subnets"})
    facts = (DB_INSTANCES, DB_SUBNET_GROUPS)
    ignore_props = {"networks": "subnets"}

    def expand(self, r: Resource, catalog: Catalog) -> list[Node]:
        vdc = catalog.vdc_required(r)
        s, ent, vdc_name = r.spec, r.metadata.enterprise, r.metadata.vdc
        firewall = s.firewall or vdc.spec.default_firewall
        props: dict[str, Any] = {
            "identifier": r.metadata.aws_id or db_identifier(vdc.name, r.name),
            "engine": s.engine,
            "engineVersion": s.engine_version,
            "instanceClass": s.instance_class,
            "storageGiB": s.storage_gi_b,
            "storageType": s.storage_type,
            "multiAz": s.multi_az,
            "backupRetentionDays": s.backup_retention_days,
            "masterUsername": s.master_username,
            "vpc": Ref(vdc.address),
            "subnets": [Ref(address_of("PrivateNetwork", n, ent, vdc_name)) for n in s.networks],
            "firewall": Ref(address_of("Firewall", firewall, ent, vdc_name)) if firewall else None,
            "deletionProtection": r.metadata.protect,
            "skipFinalSnapshot": s.skip_final_snapshot,
        }
        compared = ["identifier", "engine", "instanceClass", "storageGiB", "storageType", "multiAz",
                    "backupRetentionDays", "masterUsername", "vpc", "subnets", "deletionProtection",
                    "skipFinalSnapshot", *set_by_user(s, "engine_version"), *(["firewall"] if firewall else [])]
        return [self.node(self.name, r, props, region=vdc.spec.region, compared=compared)]

    def check(self, node: Node, live: Live | None) -> str | None:
        if live is not None and (live.props.get("storageGiB") or 0) > node.props["storageGiB"]:
            return (f"RDS cannot shrink storage ({live.props['storageGiB']} GiB now, {node.props['storageGiB']} "
                    f"GiB written): write storageGiB: {live.props['storageGiB']} or more")
        return None

    # -- observe ---------------------------------------------------------------------------------

    def observe(self, obs: Observation) -> list[Live]:
        if not obs.needs(self.name, DB_INSTANCES):
            return []  # nothing desired, nothing of ours tagged: no listing call
        out = []
        for db in obs.owned(DB_INSTANCES):
            tags = tags_of(db)
            if db.get("DBInstanceStatus") in GONE:
                continue
            live = self._live(db, tags)
            want = obs.desired.get(live.id)
            if want is not None and _version_matches(want.props.get("engineVersion"), live.props["engineVersion"]):
                live.props["engineVersion"] = want.props["engineVersion"]
            out.append(live)
        return out

    def _live(self, db: dict[str, Any], tags: dict[str, str]) -> Live:
        pending = db.get("PendingModifiedValues") or {}
        props: dict[str, Any] = {
            "identifier": db["DBInstanceIdentifier"],
            "engine": db.get("Engine"),
            "masterUsername": db.get("MasterUsername"),
            "vpc": (db.get("DBSubnetGroup") or {}).get("VpcId"),
            "subnets": sorted(s["SubnetIdentifier"] for s in (db.get("DBSubnetGroup") or {}).get("Subnets") or []),
            "skipFinalSnapshot": tags.get(TAG_SKIP_SNAPSHOT) == "true",
        }
        for prop, (field, pending_field, _) in FIELDS.items():
            props[prop] = pending.get(pending_field, db.get(field)) if pending_field else db.get(field)
        props["deletionProtection"] = bool(props["deletionProtection"])
        groups = sorted(g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups") or []
                        if g.get("Status") in (None, "active", "adding"))
        props["firewall"] = (groups[0] if len(groups) == 1 else groups) if groups else None
        status = db.get("DBInstanceStatus")
        endpoint = db.get("Endpoint") or {}
        return Live(id=tags[TAG_ADDRESS], kind=self.name, aws_id=db["DBInstanceIdentifier"], props=props, tags=tags,
                    refs=[*props["subnets"], *groups], busy=status if status in BUSY else None,
                    attrs={"arn": db.get("DBInstanceArn"), "endpoint": endpoint.get("Address"),
                           "port": endpoint.get("Port"), "status": status,
                           "secretArn": (db.get("MasterUserSecret") or {}).get("SecretArn"),
                           "subnetGroup": (db.get("DBSubnetGroup") or {}).get("DBSubnetGroupName")})

    # -- verbs -----------------------------------------------------------------------------------

    @staticmethod
    def _extra_tags(props: dict[str, Any]) -> dict[str, str]:
        """Beside the ownership tags: skipFinalSnapshot, so a delete after the document is gone knows it."""
        return {TAG_SKIP_SNAPSHOT: "true"} if props.get("skipFinalSnapshot") else {}

    def create(self, op: Op) -> Live:
        node, p = op.want, op.props
        rds = op.client("rds")
        ident = p["identifier"]
        extra = self._extra_tags(p)
        try:
            op.call("create DB subnet group", rds.create_db_subnet_group, DBSubnetGroupName=ident,
                    DBSubnetGroupDescription=f"{node.id} (controller)", SubnetIds=p["subnets"],
                    **tags_at_create(node, DB_SUBNET_GROUPS, extra))
        except ResourceError as e:
            if e.code != "DBSubnetGroupAlreadyExists":
                raise
            # left by an interrupted apply: make it what is wanted
            op.call("modify DB subnet group", rds.modify_db_subnet_group, DBSubnetGroupName=ident,
                    SubnetIds=p["subnets"])
        kw: dict[str, Any] = {
            "DBInstanceIdentifier": ident, "Engine": p["engine"], "DBInstanceClass": p["instanceClass"],
            "AllocatedStorage": p["storageGiB"], "StorageType": p["storageType"], "MultiAZ": p["multiAz"],
            "BackupRetentionPeriod": p["backupRetentionDays"], "MasterUsername": p["masterUsername"],
            "ManageMasterUserPassword": True, "DBSubnetGroupName": ident, "PubliclyAccessible": False,
            "DeletionProtection": bool(p["deletionProtection"]), "CopyTagsToSnapshot": True,
            **self.tags_at_create(node, extra),
        }
        if p.get("engineVersion"):
            kw["EngineVersion"] = p["engineVersion"]
        if p.get("firewall"):
            kw["VpcSecurityGroupIds"] = [p["firewall"]]
        try:
            op.call("create DB instance", rds.create_db_instance, **kw)
        except ResourceError as e:
            if e.code != "DBInstanceAlreadyExists":
                raise
            found = self._describe(op, ident)
            if found is None or tags_of(found).get(TAG_ADDRESS) != node.id:
                raise ResourceError(op.address, "create DB instance", e.code,
                                    f"a DB instance {ident!r} exists that is not this document's: rename the "
                                    "document or onboard that instance") from None
        # the endpoint is what other objects (a CNAME) need; RDS publishes it while still creating
        db = op.wait("an endpoint", lambda: self._describe(op, ident),
                     lambda d: bool((d.get("Endpoint") or {}).get("Address")), timeout=3600,
                     failed=lambda d: f"status {d.get('DBInstanceStatus')}"
                     if d.get("DBInstanceStatus") in ("failed", "incompatible-parameters") else None)
        live = self._live(db, tags_of(db))
        live.props["engineVersion"] = p.get("engineVersion") or live.props["engineVersion"]
        return live

    @staticmethod
    def _describe(op: Op, ident: str) -> dict[str, Any] | None:
        try:
            got = op.client("rds").describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"]
        except op.client("rds").exceptions.DBInstanceNotFoundFault:
            return None
        return got[0] if got else None

    def _wait_available(self, op: Op, ident: str) -> None:
        """RDS refuses a modification while the instance is busy (InvalidDBInstanceState)."""
        op.wait("available", lambda: self._describe(op, ident),
                lambda d: d.get("DBInstanceStatus") not in BUSY, timeout=3600)

    def update(self, op: Op, changes: list[str]) -> None:
        assert op.live is not None
        p, rds, ident = op.props, op.client("rds"), op.live.aws_id
        if "subnets" in changes:
            op.call("modify DB subnet group", rds.modify_db_subnet_group,
                    DBSubnetGroupName=op.live.attrs.get("subnetGroup") or ident, SubnetIds=p["subnets"])
        if "skipFinalSnapshot" in changes:
            self.retag(op, {TAG_SKIP_SNAPSHOT: "true" if p["skipFinalSnapshot"] else None})
        kw: dict[str, Any] = {FIELDS[c][2]: p[c] for c in changes if c in FIELDS}
        if "firewall" in changes and p.get("firewall"):
            kw["VpcSecurityGroupIds"] = [p["firewall"]]
        if "engineVersion" in kw:
            have = str(op.live.props.get("engineVersion") or "")
            kw["AllowMajorVersionUpgrade"] = have.split(".")[0] != str(p["engineVersion"]).split(".")[0]
        if kw:
            self._wait_available(op, ident)
            op.call("modify DB instance", rds.modify_db_instance, DBInstanceIdentifier=ident, ApplyImmediately=True,
                    **kw, retry_codes=["InvalidDBInstanceState"])

    def retag(self, op: Op, tags: Mapping[str, str | None]) -> None:
        """Tags on the instance and on its subnet group (the RDS tag style, on each one's ARN)."""
        assert op.live is not None
        arn = op.live.attrs.get("arn")
        if not arn:
            raise ResourceError(op.address, "tag", "NoArn", "the DB instance's ARN is not known")
        op.retag(DB_INSTANCES, arn, tags)
        group = op.live.attrs.get("subnetGroup") or op.live.aws_id  # an onboarded one has its own name
        op.retag(DB_SUBNET_GROUPS, f"{arn.split(':db:')[0]}:subgrp:{group}", tags)

    def delete(self, op: Op) -> None:
        assert op.live is not None
        rds, ident = op.client("rds"), op.live.aws_id
        skip = op.live.tags.get(TAG_SKIP_SNAPSHOT) == "true" or bool(op.live.props.get("skipFinalSnapshot"))
        kw: dict[str, Any] = {"SkipFinalSnapshot": True} if skip else {
            "SkipFinalSnapshot": False, "FinalDBSnapshotIdentifier": final_snapshot_id(ident)}
        self._wait_available(op, ident)
        op.call("delete DB instance", rds.delete_db_instance, DBInstanceIdentifier=ident,
                DeleteAutomatedBackups=False, **kw, ok_not_found=True, retry_codes=["InvalidDBInstanceState"])
        # the subnet group (and the VPC's subnets and groups after it) can go only once the instance has
        op.wait("deleted", lambda: self._describe(op, ident) or "gone", lambda d: d == "gone", timeout=3600)
        op.call("delete DB subnet group", rds.delete_db_subnet_group,
                DBSubnetGroupName=op.live.attrs.get("subnetGroup") or ident, ok_not_found=True,
                retry_codes=["InvalidDBSubnetGroupStateFault"])

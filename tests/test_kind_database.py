"""Database end to end through the CLI against the local AWS endpoint (moto's RDS).

Round trip: create (subnet group over two zones, the firewall as VPC security group, an AWS-managed
password) -> no changes -> the class changed by hand -> exactly that drift -> corrected in place
-> the engine changed -> a replacement -> removed -> deleted with a final snapshot. Beside it: the
secret canary (the managed password and its secret never show in any output), protect sets
DeletionProtection, skipFinalSnapshot, a plan refusing to shrink storage.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.helpers import (
    DEFAULT_VDC,
    changes_by_id,
    client,
    enterprise_doc,
    no_changes,
    plan_json,
    write_specs,
)
from tests.helpers import apply_ok as apply

ADDRESS = "acme/web/Database/orders"

VDC = DEFAULT_VDC + """\
---
apiVersion: controller/v1
kind: PrivateNetwork
metadata: {name: data-b, enterprise: acme, vdc: web}
spec: {cidr: 10.10.8.0/24, availabilityZone: us-east-1b}
---
apiVersion: controller/v1
kind: Firewall
metadata: {name: db, enterprise: acme, vdc: web}
spec:
  description: the database
  ingress:
    - {protocol: tcp, ports: "5432", from: [10.10.0.0/16]}
"""

DB = """\
apiVersion: controller/v1
kind: Database
metadata: {{name: orders, enterprise: acme, vdc: web{meta}}}
spec:
  engine: {engine}
  engineVersion: "{version}"
  instanceClass: db.t3.micro
  storageGiB: {storage}
  networks: [default, data-b]
  firewall: db
  backupRetentionDays: 3
  masterUsername: orders{extra}
"""


def db_doc(engine: str = "postgres", version: str = "16.3", storage: int = 20, meta: str = "",
           extra: str = "") -> str:
    return DB.format(engine=engine, version=version, storage=storage, meta=meta, extra=extra)


def specs(tmp_path: Path, db: str | None) -> Path:
    root = tmp_path / "specs"
    for old in root.glob("*.yaml") if root.exists() else []:
        old.unlink()
    files = {"enterprise.yaml": enterprise_doc(), "vdc.yaml": VDC}
    if db:
        files["db.yaml"] = db
    return write_specs(root, files)


def instances(rds) -> list[dict]:
    return [d for d in rds.describe_db_instances()["DBInstances"]
            if {"Key": "controller:address", "Value": ADDRESS} in d.get("TagList", [])
            and d["DBInstanceStatus"] not in ("deleting", "deleted")]


def test_database_round_trip(aws, cli, tmp_path):
    root = specs(tmp_path, db_doc())
    apply(cli, root)
    rds, ec2 = client("rds"), client("ec2")
    (db,) = instances(rds)
    assert db["DBInstanceIdentifier"] == "web-orders"
    assert (db["Engine"], db["DBInstanceClass"], db["AllocatedStorage"], db["MasterUsername"]) == (
        "postgres", "db.t3.micro", 20, "orders")
    assert db["MasterUserSecret"]["SecretArn"]
    zones = sorted(s["SubnetAvailabilityZone"]["Name"] for s in db["DBSubnetGroup"]["Subnets"])
    assert zones == ["us-east-1a", "us-east-1b"]
    sg = ec2.describe_security_groups(Filters=[{"Name": "tag:controller:address",
                                                "Values": ["acme/web/Firewall/db"]}])["SecurityGroups"][0]
    assert [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]] == [sg["GroupId"]]
    assert db["DeletionProtection"] is False
    no_changes(cli, root)
    # the cost hint: the class's hours (dated table) plus the storage
    code, plan = plan_json(cli, root)
    (hint,) = [h for h in plan["cost_hints"] if h["id"] == ADDRESS]
    assert hint["usd_month"] == round(0.018 * 730 + 0.115 * 20, 2)
    assert "db.t3.micro" in hint["what"]

    # out of band: the class changed by hand -> exactly that drift, an in-place update
    rds.modify_db_instance(DBInstanceIdentifier="web-orders", DBInstanceClass="db.m5.large", ApplyImmediately=True)
    ch = changes_by_id(cli, root)
    assert [k for k, c in ch.items() if c["action"] != "no-op"] == [ADDRESS]
    assert ch[ADDRESS]["action"] == "update"
    assert [(f["path"], f["before"], f["after"]) for f in ch[ADDRESS]["fields"]] == [
        ("instanceClass", "db.m5.large", "db.t3.micro")]
    apply(cli, root)
    (db,) = instances(rds)
    assert db["DBInstanceClass"] == "db.t3.micro"
    no_changes(cli, root)

    # storage grows in place; a shrink is refused while planning
    apply(cli, specs(tmp_path, db_doc(storage=50)))
    assert instances(rds)[0]["AllocatedStorage"] == 50
    r = cli("plan", "--specs", str(specs(tmp_path, db_doc(storage=30))))
    assert r.code == 1 and "cannot shrink storage" in r.out + r.err, r.out + r.err

    # the engine changes: a replacement (the old one goes with a final snapshot)
    root = specs(tmp_path, db_doc(engine="mysql", version="8.0", storage=50))
    ch = changes_by_id(cli, root)
    assert ch[ADDRESS]["action"] == "replace"
    assert "engine" in [f["path"] for f in ch[ADDRESS]["fields"] if f["forces_replacement"]]
    apply(cli, root)
    (db,) = instances(rds)
    assert db["Engine"] == "mysql"
    snaps = rds.describe_db_snapshots(DBInstanceIdentifier="web-orders", SnapshotType="manual")["DBSnapshots"]
    assert len(snaps) == 1 and re.fullmatch(r"web-orders-final-\d{8}-\d{6}", snaps[0]["DBSnapshotIdentifier"])
    no_changes(cli, root)

    # removed from the specs -> deleted, with a second final snapshot; the subnet group goes too
    root = specs(tmp_path, None)
    ch = changes_by_id(cli, root)
    assert ch[ADDRESS]["action"] == "delete"
    apply(cli, root)
    assert instances(rds) == []
    assert len(rds.describe_db_snapshots(DBInstanceIdentifier="web-orders", SnapshotType="manual")["DBSnapshots"]) == 2
    assert "web-orders" not in [g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]]
    no_changes(cli, root)


def test_protect_and_skip_final_snapshot(aws, cli, tmp_path):
    root = specs(tmp_path, db_doc(meta=", protect: true", extra="\n  skipFinalSnapshot: true"))
    apply(cli, root)
    rds = client("rds")
    (db,) = instances(rds)
    assert db["DeletionProtection"] is True
    no_changes(cli, root)
    # a protected database is not deleted
    r = cli("apply", "--specs", str(specs(tmp_path, None)), "--auto-approve")
    assert r.code != 0 and "protect" in r.out + r.err
    assert len(instances(rds)) == 1
    # protection lifted: DeletionProtection off in place, then deleted without a snapshot
    root = specs(tmp_path, db_doc(extra="\n  skipFinalSnapshot: true"))
    ch = changes_by_id(cli, root)
    assert ch[ADDRESS]["action"] == "update"
    apply(cli, root)
    assert instances(rds)[0]["DeletionProtection"] is False
    apply(cli, specs(tmp_path, None))
    assert instances(rds) == []
    assert rds.describe_db_snapshots(DBInstanceIdentifier="web-orders", SnapshotType="manual")["DBSnapshots"] == []


def test_secret_canary(aws, cli, tmp_path):
    """The AWS-managed password never appears in a plan, an apply, the logs or onboarded YAML."""
    root = specs(tmp_path, db_doc())
    outputs = []
    r = cli("plan", "--specs", str(root))
    outputs.append(r.out + r.err)
    r = cli("apply", "--specs", str(root), "--auto-approve", "--verbose")
    assert r.code == 0, r.out + r.err
    outputs.append(r.out + r.err)
    (db,) = instances(client("rds"))
    secret = json.loads(client("secretsmanager").get_secret_value(
        SecretId=db["MasterUserSecret"]["SecretArn"])["SecretString"])
    password = secret["password"]
    assert len(password) >= 8
    code, plan = plan_json(cli, root)
    outputs.append(json.dumps(plan))
    r = cli("plan", "--specs", str(root), "--all", "--verbose")
    outputs.append(r.out + r.err)
    vpc = client("ec2").describe_vpcs(Filters=[{"Name": "tag:controller:address",
                                                "Values": ["acme/VirtualDatacenter/web"]}])["Vpcs"][0]["VpcId"]
    out = tmp_path / "onboarded"
    r = cli("onboard", "--specs", str(root), "--enterprise", "acme", "--region", "us-east-1", "--vpc", vpc, "--out", str(out))
    outputs.append(r.out + r.err)
    outputs += [p.read_text() for p in out.rglob("*.yaml")] if out.exists() else []
    for text in outputs:
        assert password not in text
    assert not any("password" in t.lower() and password in t for t in outputs)


def test_daemon_reconciles_a_database_and_its_pages_hold_no_password(aws, tmp_path):
    from tests.test_daemon import DaemonProc, wait_for

    root = specs(tmp_path, db_doc())
    d = DaemonProc(["--specs", str(root), "--resync", "2", "--debounce", "0.3"], aws.env(), tmp_path / "daemon.log")
    try:
        rds = client("rds")
        wait_for(lambda: instances(rds), 60, "the database created")
        rds.modify_db_instance(DBInstanceIdentifier="web-orders", BackupRetentionPeriod=1, ApplyImmediately=True)
        wait_for(lambda: instances(rds)[0]["BackupRetentionPeriod"] == 3, 60, "the drift reverted")
        (db,) = instances(rds)
        password = json.loads(client("secretsmanager").get_secret_value(
            SecretId=db["MasterUserSecret"]["SecretArn"])["SecretString"])["password"]
        pages = [d.get(p)[1] for p in ("/status", "/metrics", "/")]
        for text in [*pages, d.logs_text()]:
            assert password not in text
    finally:
        assert d.stop() == 0

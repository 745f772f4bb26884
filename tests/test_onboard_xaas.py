"""Onboarding a VPC built by hand with an RDS instance and a private hosted zone in it: the
Database and DnsZone documents adopt them (tags only, the password never read or written), and a
record made by hand in that zone is listed as not managed and left as it is."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import client, enterprise_doc, write_specs


def build(ec2, rds, r53) -> dict[str, str]:
    vpc = ec2.create_vpc(CidrBlock="10.70.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "billing"}])
    subnets = []
    for i, zone in enumerate(("us-east-1a", "us-east-1b")):
        s = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.70.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        ec2.create_tags(Resources=[s], Tags=[{"Key": "Name", "Value": f"data-{zone[-1]}"}])
        subnets.append(s)
    sg = ec2.create_security_group(GroupName="pg", Description="postgres", VpcId=vpc)["GroupId"]
    rds.create_db_subnet_group(DBSubnetGroupName="billing-db", DBSubnetGroupDescription="by hand", SubnetIds=subnets)
    rds.create_db_instance(DBInstanceIdentifier="billing-pg", Engine="postgres", EngineVersion="16.3",
                           DBInstanceClass="db.t3.small", AllocatedStorage=50, StorageType="gp3",
                           MasterUsername="billing", ManageMasterUserPassword=True, DBSubnetGroupName="billing-db",
                           VpcSecurityGroupIds=[sg], BackupRetentionPeriod=5, DeletionProtection=True)
    zone = r53.create_hosted_zone(Name="billing.internal", CallerReference="by-hand",
                                  HostedZoneConfig={"PrivateZone": True, "Comment": "billing"},
                                  VPC={"VPCRegion": "us-east-1", "VPCId": vpc})["HostedZone"]["Id"]
    endpoint = rds.describe_db_instances(DBInstanceIdentifier="billing-pg")["DBInstances"][0]["Endpoint"]["Address"]
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "pg.billing.internal", "Type": "CNAME", "TTL": 300,
                                                   "ResourceRecords": [{"Value": endpoint}]}}]})
    return {"vpc": vpc, "zone": zone.rsplit("/", 1)[-1], "sg": sg}


def test_onboard_vpc_with_rds_and_private_zone(aws, cli, tmp_path: Path) -> None:
    ec2, rds, r53 = client("ec2"), client("rds"), client("route53")
    ids = build(ec2, rds, r53)
    specs = write_specs(tmp_path / "specs", {"acme/enterprise.yaml": enterprise_doc()})
    r = cli("onboard", "--specs", str(specs), "--enterprise", "acme", "--region", "us-east-1", "--vpc", ids["vpc"],
            "--json")
    assert r.code == 0, r.out + r.err
    report = json.loads(r.out)
    assert report["documents"]["Database"] == 1 and report["documents"]["DnsZone"] == 1
    assert any("pg.billing.internal CNAME" in w and "not managed" in w for w in report["warnings"])
    text = (specs / "acme" / "billing.yaml").read_text()
    assert "kind: Database" in text and "awsId: billing-pg" in text and "protect: true" in text
    assert "networks:\n  - data-a\n  - data-b" in text and "instanceClass: db.t3.small" in text
    assert f"awsId: {ids['zone']}" in text and "private: true" in text and "- billing\n" in text
    secret = json.loads(client("secretsmanager").get_secret_value(SecretId=rds.describe_db_instances(
        DBInstanceIdentifier="billing-pg")["DBInstances"][0]["MasterUserSecret"]["SecretArn"])["SecretString"])
    assert secret["password"] not in text and "password" not in text.lower().replace("master password", "")

    assert cli("validate", "--specs", str(specs)).code == 0
    r = cli("plan", "--specs", str(specs), "--json")
    assert r.code == 0, r.out + r.err
    acting = {c["id"]: c for c in json.loads(r.out)["changes"] if c["action"] != "no-op"}
    assert acting["acme/billing/Database/billing-pg"]["action"] == "adopt"
    assert acting["acme/DnsZone/billing-internal"]["action"] == "adopt"
    assert {c["action"] for c in acting.values()} == {"adopt"}, {k: (c["action"], c["fields"]) for k, c in acting.items()}

    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 0, r.out + r.err
    db = rds.describe_db_instances(DBInstanceIdentifier="billing-pg")["DBInstances"][0]
    assert {"Key": "controller:address", "Value": "acme/billing/Database/billing-pg"} in db["TagList"]
    assert (db["DBInstanceClass"], db["AllocatedStorage"], db["DeletionProtection"]) == ("db.t3.small", 50, True)
    tags = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=ids["zone"])["ResourceTagSet"]["Tags"]
    assert {"Key": "controller:address", "Value": "acme/DnsZone/billing-internal"} in tags
    names = [(x["Name"], x["Type"]) for x in r53.list_resource_record_sets(HostedZoneId=ids["zone"])["ResourceRecordSets"]]
    assert ("pg.billing.internal.", "CNAME") in names and not any(n.startswith("_ctl") for n, _ in names)
    r = cli("plan", "--specs", str(specs))
    assert r.code == 0 and "No changes." in r.out, r.out


VDC = """\
apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {name: shop, enterprise: acme}
spec: {region: us-east-1, addressRange: 10.80.0.0/16, network: {type: none}}
---
apiVersion: controller/v1
kind: PrivateNetwork
metadata: {name: data-a, enterprise: acme, vdc: shop}
spec: {cidr: 10.80.1.0/24, availabilityZone: us-east-1a}
---
apiVersion: controller/v1
kind: PrivateNetwork
metadata: {name: data-b, enterprise: acme, vdc: shop}
spec: {cidr: 10.80.2.0/24, availabilityZone: us-east-1b}
"""


def test_sync_reports_a_database_made_by_hand_in_a_managed_vpc(aws, cli, tmp_path: Path) -> None:
    specs = write_specs(tmp_path / "specs", {"acme/enterprise.yaml": enterprise_doc(), "acme/shop.yaml": VDC})
    assert cli("apply", "--specs", str(specs), "--auto-approve").code == 0
    r = cli("sync", "--specs", str(specs), "--enterprise", "acme", "--json")
    assert r.code == 0, r.out + r.err
    assert [f for f in json.loads(r.out)["findings"] if f["what"] == "database-new"] == []
    ec2, rds = client("ec2"), client("rds")
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "tag:controller:enterprise",
                                                                     "Values": ["acme"]}])["Subnets"]]
    rds.create_db_subnet_group(DBSubnetGroupName="side", DBSubnetGroupDescription="by hand", SubnetIds=subnets)
    rds.create_db_instance(DBInstanceIdentifier="side-project", Engine="mysql", DBInstanceClass="db.t3.micro",
                           AllocatedStorage=20, MasterUsername="side", ManageMasterUserPassword=True,
                           DBSubnetGroupName="side")
    r = cli("sync", "--specs", str(specs), "--enterprise", "acme", "--json")
    assert r.code in (0, 2), r.out + r.err
    (f,) = [f for f in json.loads(r.out)["findings"] if f["what"] == "database-new"]
    assert f["aws_id"] == "side-project" and "acme/VirtualDatacenter/shop" in f["detail"] and f["cost"] > 0

"""DnsZone and DnsRecord end to end through the CLI against the local AWS endpoint (moto's Route 53).

Round trip per kind (create, no changes, changed out of band, exactly that drift, corrected,
removed, deleted); a record by hand in the controller's own zone survives every apply and is never
overwritten; the apex SOA/NS are never touched; a record targeting a VM follows the VM when it is
replaced, in the same apply; a private zone follows its VDCs; deleting a zone that still holds a
foreign record is refused, naming it.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import DEFAULT_VDC, changes_by_id, client, enterprise_doc, no_changes, write_specs
from tests.helpers import apply_ok as apply

ZONE_ADDR = "acme/DnsZone/example"
WWW = "acme/DnsRecord/www"
TXT = "acme/DnsRecord/spf"

VDC = DEFAULT_VDC + """\
---
apiVersion: controller/v1
kind: VirtualMachine
metadata: {name: web-1, enterprise: acme, vdc: web}
spec:
  template: ami-12c6146b
  hardwareProfile: t3.micro
  nics: [{network: public, publicIp: auto}]
"""

ZONE = """\
apiVersion: controller/v1
kind: DnsZone
metadata: {name: example, enterprise: acme}
spec: {domain: example.com, comment: the shop}
"""

RECORDS = """\
apiVersion: controller/v1
kind: DnsRecord
metadata: {name: www, enterprise: acme}
spec:
  zone: example
  name: www
  type: A
  ttl: 60
  target: {virtualMachine: web-1, vdc: web}
---
apiVersion: controller/v1
kind: DnsRecord
metadata: {name: spf, enterprise: acme}
spec: {zone: example, name: "@", type: TXT, ttl: 300, values: ["v=spf1 -all"]}
"""


def specs(tmp_path: Path, *docs: str, vdc: str = VDC) -> Path:
    root = tmp_path / "specs"
    for old in root.glob("*.yaml") if root.exists() else []:
        old.unlink()
    files = {"enterprise.yaml": enterprise_doc(), "vdc.yaml": vdc}
    files.update({f"doc{i}.yaml": d for i, d in enumerate(docs)})
    return write_specs(root, files)


def zone_id(r53) -> str:
    (z,) = [z for z in r53.list_hosted_zones()["HostedZones"] if z["Name"] == "example.com."]
    return z["Id"].rsplit("/", 1)[-1]


def records(r53, zid: str) -> dict[tuple[str, str], dict]:
    return {(r["Name"].rstrip("."), r["Type"]): r
            for r in r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"]}


def values(rec: dict) -> list[str]:
    return sorted(v["Value"] for v in rec.get("ResourceRecords", []))


def vm_public_ip(ec2) -> str:
    res = ec2.describe_instances(Filters=[{"Name": "tag:controller:address", "Values": ["acme/web/VirtualMachine/web-1"]},
                                          {"Name": "instance-state-name", "Values": ["running", "pending"]}])
    (inst,) = [i for r in res["Reservations"] for i in r["Instances"]]
    return str(inst["PublicIpAddress"])


def eip_of(ec2) -> str:
    (a,) = ec2.describe_addresses(Filters=[{"Name": "tag:controller:address",
                                            "Values": ["acme/web/PublicIp/web-1.nic0"]}])["Addresses"]
    return str(a["PublicIp"])


def test_zone_and_records_round_trip(aws, cli, tmp_path):
    root = specs(tmp_path, ZONE, RECORDS)
    apply(cli, root)
    r53, ec2 = client("route53"), client("ec2")
    zid = zone_id(r53)
    tags = {t["Key"]: t["Value"] for t in r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zid)
            ["ResourceTagSet"]["Tags"]}
    assert tags["controller:address"] == ZONE_ADDR
    recs = records(r53, zid)
    assert values(recs[("www.example.com", "A")]) == [eip_of(ec2)]
    assert recs[("www.example.com", "A")]["TTL"] == 60
    assert values(recs[("example.com", "TXT")]) == ['"v=spf1 -all"']
    assert ("_ctl-a.www.example.com", "TXT") in recs  # the owner record beside it
    soa_ns = {k: values(v) for k, v in recs.items() if k[0] == "example.com" and k[1] in ("SOA", "NS")}
    assert set(soa_ns) == {("example.com", "SOA"), ("example.com", "NS")}
    no_changes(cli, root)

    # a record made by hand in the controller's own zone, and the TXT changed out of band
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "mail.example.com", "Type": "A", "TTL": 300,
                                                   "ResourceRecords": [{"Value": "192.0.2.25"}]}},
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": "example.com", "Type": "TXT", "TTL": 300,
                                                   "ResourceRecords": [{"Value": '"v=spf1 +all"'}]}}]})
    ch = changes_by_id(cli, root)
    assert [k for k, c in ch.items() if c["action"] != "no-op"] == [TXT]
    assert [(f["path"], f["before"], f["after"]) for f in ch[TXT]["fields"]] == [
        ("values", ["v=spf1 +all"], ["v=spf1 -all"])]
    apply(cli, root)
    recs = records(r53, zid)
    assert values(recs[("example.com", "TXT")]) == ['"v=spf1 -all"']
    assert values(recs[("mail.example.com", "A")]) == ["192.0.2.25"]
    assert soa_ns == {k: values(v) for k, v in recs.items() if k[0] == "example.com" and k[1] in ("SOA", "NS")}
    no_changes(cli, root)

    # a document for the hand-made record's name: refused, the foreign record stays as it is
    mail = RECORDS.split("---")[0].replace("name: www", "name: mail").replace("target: {virtualMachine: web-1, vdc: web}",
                                                                             "values: [198.51.100.9]")
    r = cli("apply", "--specs", str(specs(tmp_path, ZONE, RECORDS, mail)), "--auto-approve")
    assert r.code != 0 and "did not create" in r.out + r.err, r.out + r.err
    assert values(records(r53, zid)[("mail.example.com", "A")]) == ["192.0.2.25"]
    root = specs(tmp_path, ZONE, RECORDS)

    # the zone's comment changed out of band -> exactly that drift
    r53.update_hosted_zone_comment(Id=zid, Comment="changed")
    ch = changes_by_id(cli, root)
    assert [k for k, c in ch.items() if c["action"] != "no-op"] == [ZONE_ADDR]
    assert [(f["path"], f["before"], f["after"]) for f in ch[ZONE_ADDR]["fields"]] == [
        ("comment", "changed", "the shop")]
    apply(cli, root)
    no_changes(cli, root)

    # records removed from the specs: deleted with their owner TXT; the foreign one stays
    root = specs(tmp_path, ZONE)
    ch = changes_by_id(cli, root)
    assert {k for k, c in ch.items() if c["action"] == "delete"} == {WWW, TXT}
    apply(cli, root)
    recs = records(r53, zid)
    assert set(recs) == {("example.com", "SOA"), ("example.com", "NS"), ("mail.example.com", "A")}

    # the zone removed while it holds the hand-made record: refused while planning, naming it
    root = specs(tmp_path)
    r = cli("plan", "--specs", str(root))
    assert "mail.example.com A" in r.out + r.err and "did not create" in r.out + r.err, r.out + r.err
    r = cli("apply", "--specs", str(root), "--auto-approve")
    assert r.code != 0
    assert zone_id(r53) == zid
    # once the hand-made record is gone, the zone goes
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
        {"Action": "DELETE", "ResourceRecordSet": recs[("mail.example.com", "A")]}]})
    apply(cli, root)
    assert [z for z in r53.list_hosted_zones()["HostedZones"] if z["Name"] == "example.com."] == []


VDC_NO_EIP = VDC.replace("nics: [{network: public, publicIp: auto}]", "nics: [{network: public}]")


def test_record_follows_a_replaced_vm(aws, cli, tmp_path):
    """A VM on a public network without an Elastic IP: its new address is in the record after the
    apply that replaced it."""
    root = specs(tmp_path, ZONE, RECORDS, vdc=VDC_NO_EIP)
    apply(cli, root)
    r53, ec2 = client("route53"), client("ec2")
    zid = zone_id(r53)
    before = vm_public_ip(ec2)
    assert values(records(r53, zid)[("www.example.com", "A")]) == [before]
    no_changes(cli, root)

    # the VM is replaced (a new instance type family would be in place; a new AMI forces it)
    root = specs(tmp_path, ZONE, RECORDS, vdc=VDC_NO_EIP.replace("ami-12c6146b", "ami-1e749f67"))
    ch = changes_by_id(cli, root)
    assert ch["acme/web/VirtualMachine/web-1"]["action"] == "replace"
    assert ch[WWW]["action"] == "update"
    apply(cli, root)
    after = vm_public_ip(ec2)
    assert after != before
    assert values(records(r53, zid)[("www.example.com", "A")]) == [after]
    no_changes(cli, root)


PRIVATE = """\
apiVersion: controller/v1
kind: DnsZone
metadata: {name: internal, enterprise: acme}
spec: {domain: internal.example, private: true, vdcs: [web]}
"""

SECOND_VDC = """\
---
apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {name: lab, enterprise: acme}
spec: {region: us-east-1, addressRange: 10.20.0.0/16, network: {type: none}}
"""


def test_private_zone_follows_its_vdcs(aws, cli, tmp_path):
    root = specs(tmp_path, PRIVATE, vdc=VDC + SECOND_VDC)
    apply(cli, root)
    r53, ec2 = client("route53"), client("ec2")
    vpcs = {v["Tags"][0]["Value"] if False else next(t["Value"] for t in v["Tags"] if t["Key"] == "controller:address"):
            v["VpcId"] for v in ec2.describe_vpcs(Filters=[{"Name": "tag:controller:enterprise", "Values": ["acme"]}])
            ["Vpcs"]}
    (z,) = [z for z in r53.list_hosted_zones()["HostedZones"] if z["Name"] == "internal.example."]
    got = r53.get_hosted_zone(Id=z["Id"])
    assert z["Config"]["PrivateZone"] is True
    assert [v["VPCId"] for v in got["VPCs"]] == [vpcs["acme/VirtualDatacenter/web"]]
    no_changes(cli, root)
    root = specs(tmp_path, PRIVATE.replace("vdcs: [web]", "vdcs: [web, lab]"), vdc=VDC + SECOND_VDC)
    ch = changes_by_id(cli, root)
    assert ch["acme/DnsZone/internal"]["action"] == "update"
    apply(cli, root)
    got = r53.get_hosted_zone(Id=z["Id"])
    assert sorted(v["VPCId"] for v in got["VPCs"]) == sorted(
        [vpcs["acme/VirtualDatacenter/web"], vpcs["acme/VirtualDatacenter/lab"]])
    no_changes(cli, root)


XAAS_VDC = VDC_NO_EIP + """\
---
apiVersion: controller/v1
kind: PrivateNetwork
metadata: {name: public-b, enterprise: acme, vdc: web}
spec: {cidr: 10.10.10.0/24, availabilityZone: us-east-1b, internetGateway: true}
---
apiVersion: controller/v1
kind: LoadBalancer
metadata: {name: front, enterprise: acme, vdc: web}
spec:
  networks: [public, public-b]
  listeners: [{protocol: HTTP, port: 80, targetPort: 80}]
  members: [web-1]
---
apiVersion: controller/v1
kind: Database
metadata: {name: orders, enterprise: acme, vdc: web}
spec: {engine: mariadb, engineVersion: "10.11", networks: [default, public-b], skipFinalSnapshot: true}
"""

TARGETS = """\
apiVersion: controller/v1
kind: DnsRecord
metadata: {name: shop, enterprise: acme}
spec: {zone: example, name: shop, type: A, target: {loadBalancer: front, vdc: web}}
---
apiVersion: controller/v1
kind: DnsRecord
metadata: {name: db, enterprise: acme}
spec: {zone: example, name: db, type: CNAME, ttl: 120, target: {database: orders, vdc: web}}
"""


def test_alias_to_a_load_balancer_and_cname_to_a_database(aws, cli, tmp_path):
    root = specs(tmp_path, ZONE, TARGETS, vdc=XAAS_VDC)
    apply(cli, root)
    r53, elb, rds = client("route53"), client("elbv2"), client("rds")
    zid = zone_id(r53)
    (lb,) = [x for x in elb.describe_load_balancers()["LoadBalancers"] if x["LoadBalancerName"] == "web-front"]
    endpoint = rds.describe_db_instances(DBInstanceIdentifier="web-orders")["DBInstances"][0]["Endpoint"]["Address"]
    recs = records(r53, zid)
    alias = recs[("shop.example.com", "A")]["AliasTarget"]
    assert alias["DNSName"].rstrip(".").lower() == lb["DNSName"].lower()
    assert alias["HostedZoneId"] == lb["CanonicalHostedZoneId"]
    assert values(recs[("db.example.com", "CNAME")]) == [endpoint]
    no_changes(cli, root)

    # the alias pointed elsewhere by hand -> that drift, corrected
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": "shop.example.com", "Type": "A", "AliasTarget": {
            "HostedZoneId": lb["CanonicalHostedZoneId"], "DNSName": "elsewhere.example.net",
            "EvaluateTargetHealth": False}}}]})
    ch = changes_by_id(cli, root)
    assert [k for k, c in ch.items() if c["action"] != "no-op"] == ["acme/DnsRecord/shop"]
    assert [f["path"] for f in ch["acme/DnsRecord/shop"]["fields"]] == ["alias"]
    apply(cli, root)
    assert records(r53, zid)[("shop.example.com", "A")]["AliasTarget"]["DNSName"].rstrip(".").lower() == \
        lb["DNSName"].lower()
    no_changes(cli, root)


def test_zones_are_global_in_a_two_region_enterprise(aws, cli, tmp_path):
    """Observed once per enterprise: no duplicate, no second zone, no changes after the apply."""
    root = tmp_path / "specs"
    write_specs(root, {"enterprise.yaml": enterprise_doc(regions="eu-west-1, us-east-1"), "zone.yaml": ZONE,
                       "records.yaml": RECORDS.split("---")[1]})
    apply(cli, root)
    r53 = client("route53")
    assert [z["Name"] for z in r53.list_hosted_zones()["HostedZones"]].count("example.com.") == 1
    no_changes(cli, root)
    r = cli("plan", "--specs", str(root), "--json")
    ids = [c["id"] for c in json.loads(r.out)["changes"]]
    assert sorted(ids) == [TXT, ZONE_ADDR]


def test_an_enterprise_without_dns_asks_route53_nothing(aws, cli, tmp_path):
    """Route 53 is listed only when a zone or record is desired, or the tagging API (one call, shared with
    the region's other rare kinds) shows a zone of the enterprise: then a zone whose documents are gone is
    still found, and planned for deletion."""
    def ops(root: Path) -> dict[str, int]:
        r = cli("plan", "--specs", str(root), "--json")
        assert r.code in (0, 2), r.out + r.err
        return json.loads(r.out)["api_calls"]["by_operation"]

    root = specs(tmp_path)
    apply(cli, root)
    calls = ops(root)
    assert not [op for op in calls if op.startswith("route-53.")], calls
    assert calls["resource-groups-tagging-api.GetResources"] == 1, calls

    apply(cli, specs(tmp_path, ZONE))
    root = specs(tmp_path)
    calls = ops(root)
    assert calls["resource-groups-tagging-api.GetResources"] == 1 and calls["route-53.ListHostedZones"] == 1, calls
    ch = changes_by_id(cli, root)
    assert ch[ZONE_ADDR]["action"] == "delete", ch

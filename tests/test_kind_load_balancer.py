"""LoadBalancer end to end through the CLI against the local AWS endpoint.

Round trip for an application load balancer (create -> up to date -> listeners and health check
changed out of band -> drift -> corrected -> no duplicate ALB -> document removed -> deleted), a
duplicate ALB (moto makes one on a repeated create with the same name) planned as a delete, and
a classic load balancer (create -> up to date -> deleted).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import DEFAULT_VDC, client, enterprise_doc, plan_json, write_specs
from tests.helpers import apply_ok as apply

ADDRESS = "acme/web/LoadBalancer/web-lb"

VDC = DEFAULT_VDC + """\
---
apiVersion: controller/v1
kind: PrivateNetwork
metadata: {name: public-b, enterprise: acme, vdc: web}
spec:
  cidr: 10.10.10.0/24
  availabilityZone: us-east-1b
  internetGateway: true
---
apiVersion: controller/v1
kind: Firewall
metadata: {name: web, enterprise: acme, vdc: web}
spec:
  description: HTTP from anywhere
  ingress:
    - {protocol: tcp, ports: "80", from: [0.0.0.0/0]}
"""

ALB = """\
apiVersion: controller/v1
kind: LoadBalancer
metadata: {name: web-lb, enterprise: acme, vdc: web}
spec:
  type: application
  networks: [public, public-b]
  firewall: web
  listeners:
    - {protocol: HTTP, port: 80, targetPort: 8080}
  healthCheck: {protocol: HTTP, path: /health, interval: 15}
"""

CLASSIC = """\
apiVersion: controller/v1
kind: LoadBalancer
metadata: {name: old-lb, enterprise: acme, vdc: web}
spec:
  type: classic
  networks: [public]
  firewall: web
  listeners:
    - {protocol: HTTP, port: 80, targetPort: 8080}
    - {protocol: TCP, port: 2222, targetPort: 22}
  healthCheck: {protocol: TCP, port: 22}
"""


def specs(tmp_path: Path, lb: str | None) -> Path:
    files = {"enterprise.yaml": enterprise_doc(), "vdc.yaml": VDC}
    if lb:
        files["lb.yaml"] = lb
    root = tmp_path / "specs"
    for old in root.glob("*.yaml") if root.exists() else []:
        old.unlink()
    return write_specs(root, files)


def lb_change(plan: dict, address: str = ADDRESS) -> dict:
    found = [c for c in plan["changes"] if c["id"] == address and c["action"] != "no-op"]
    assert len(found) == 1, [c for c in plan["changes"] if c["action"] != "no-op"]
    return found[0]


def ours(v2) -> list[dict]:
    lbs = v2.describe_load_balancers()["LoadBalancers"]
    if not lbs:
        return []
    tags = v2.describe_tags(ResourceArns=[lb["LoadBalancerArn"] for lb in lbs])["TagDescriptions"]
    mine = {d["ResourceArn"] for d in tags if {"Key": "controller:address", "Value": ADDRESS} in d["Tags"]}
    return [lb for lb in lbs if lb["LoadBalancerArn"] in mine]


def test_application_load_balancer_round_trip(aws, cli, tmp_path):
    root = specs(tmp_path, ALB)
    apply(cli, root)
    v2 = client("elbv2")

    # created once, with its listener, target group and health check
    (lb,) = ours(v2)
    arn = lb["LoadBalancerArn"]
    assert lb["LoadBalancerName"] == "web-web-lb"
    assert lb["Scheme"] == "internet-facing" and len(lb["AvailabilityZones"]) == 2 and lb["SecurityGroups"]
    (tg,) = v2.describe_target_groups(LoadBalancerArn=arn)["TargetGroups"]
    assert (tg["TargetGroupName"], tg["Port"], tg["HealthCheckPath"]) == ("web-web-lb-8080", 8080, "/health")
    (listener,) = v2.describe_listeners(LoadBalancerArn=arn)["Listeners"]
    assert listener["Port"] == 80 and listener["DefaultActions"][0]["TargetGroupArn"] == tg["TargetGroupArn"]

    code, plan = plan_json(cli, root)
    assert code == 0, [c for c in plan["changes"] if c["action"] != "no-op"]
    # no-change plan: one listing per API family for the region (the enterprise has one region)
    calls = plan["api_calls"]["by_operation"]
    assert sum(n for op, n in calls.items() if "DescribeLoadBalancers" in op) <= 2, calls

    # out of band: an extra listener and another health check path
    v2.create_listener(LoadBalancerArn=arn, Protocol="HTTP", Port=8081,
                       DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
    v2.modify_target_group(TargetGroupArn=tg["TargetGroupArn"], HealthCheckPath="/other")
    v2.add_tags(ResourceArns=[arn], Tags=[{"Key": "Name", "Value": "renamed"}])
    code, plan = plan_json(cli, root)
    assert code == 2
    ch = lb_change(plan)
    assert ch["action"] == "update"
    assert {f["path"] for f in ch["fields"]} == {"listeners", "healthCheck", "tags.Name"}
    hc = next(f for f in ch["fields"] if f["path"] == "healthCheck")
    assert hc["before"]["path"] == "/other" and hc["after"]["path"] == "/health"
    r = cli("plan", "--specs", str(root))
    assert r.code == 2 and "listeners" in r.out and "healthCheck" in r.out

    apply(cli, root)
    assert cli("plan", "--specs", str(root)).code == 0
    assert [li["Port"] for li in v2.describe_listeners(LoadBalancerArn=arn)["Listeners"]] == [80]
    assert v2.describe_target_groups(LoadBalancerArn=arn)["TargetGroups"][0]["HealthCheckPath"] == "/health"
    assert {"Key": "Name", "Value": "web-lb"} in v2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]

    # a second apply of an unchanged spec creates nothing (moto would make a duplicate ALB)
    apply(cli, root)
    assert [x["LoadBalancerArn"] for x in ours(v2)] == [arn]

    # document removed: planned as a delete, then gone from AWS with its target group
    root = specs(tmp_path, None)
    code, plan = plan_json(cli, root)
    assert code == 2 and lb_change(plan)["action"] == "delete"
    apply(cli, root)
    assert ours(v2) == []
    assert v2.describe_target_groups()["TargetGroups"] == []
    assert cli("plan", "--specs", str(root)).code == 0


def test_duplicate_application_load_balancer_is_planned_as_delete(aws, cli, tmp_path):
    root = specs(tmp_path, ALB)
    apply(cli, root)
    v2 = client("elbv2")
    (lb,) = ours(v2)
    tags = v2.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"][0]["Tags"]
    subnets = [z["SubnetId"] for z in lb["AvailabilityZones"]]
    # what a repeated create does on moto: a second ALB with the same name and the same tags
    dup = v2.create_load_balancer(Name=lb["LoadBalancerName"], Subnets=subnets, Tags=tags)["LoadBalancers"][0]
    assert len(ours(v2)) == 2

    code, plan = plan_json(cli, root)
    assert code == 2
    (ch,) = [c for c in plan["changes"] if c["action"] != "no-op"]
    assert ch["action"] == "delete" and "duplicate" in ch["reason"]
    apply(cli, root)
    left = ours(v2)
    assert [x["LoadBalancerArn"] for x in left] == [lb["LoadBalancerArn"]]
    assert ch["aws_id"] == dup["LoadBalancerArn"]
    # the survivor keeps its target group and listener
    arn = left[0]["LoadBalancerArn"]
    assert len(v2.describe_listeners(LoadBalancerArn=arn)["Listeners"]) == 1
    assert len(v2.describe_target_groups()["TargetGroups"]) == 1
    assert cli("plan", "--specs", str(root)).code == 0


def test_classic_load_balancer_create_and_delete(aws, cli, tmp_path):
    root = specs(tmp_path, CLASSIC)
    apply(cli, root)
    elb = client("elb")
    (lb,) = elb.describe_load_balancers()["LoadBalancerDescriptions"]
    assert lb["LoadBalancerName"] == "web-old-lb"
    assert sorted(d["Listener"]["LoadBalancerPort"] for d in lb["ListenerDescriptions"]) == [80, 2222]
    assert lb["HealthCheck"]["Target"] == "TCP:22"
    tags = elb.describe_tags(LoadBalancerNames=["web-old-lb"])["TagDescriptions"][0]["Tags"]
    assert {"Key": "controller:address", "Value": "acme/web/LoadBalancer/old-lb"} in tags

    code, plan = plan_json(cli, root)
    assert code == 0, [c for c in plan["changes"] if c["action"] != "no-op"]

    # the Name tag renamed out of band is drift, restored with the elb tagging API
    elb.add_tags(LoadBalancerNames=["web-old-lb"], Tags=[{"Key": "Name", "Value": "renamed"}])
    code, plan = plan_json(cli, root)
    assert code == 2
    assert [f["path"] for f in lb_change(plan, "acme/web/LoadBalancer/old-lb")["fields"]] == ["tags.Name"]
    apply(cli, root)
    assert cli("plan", "--specs", str(root)).code == 0

    root = specs(tmp_path, None)
    apply(cli, root)
    assert elb.describe_load_balancers()["LoadBalancerDescriptions"] == []


@pytest.mark.skipif(not Path(__file__).resolve().parent.parent.joinpath("controller/kinds/vm.py").exists(),
                    reason="the VirtualMachine kind is not written yet")
def test_application_load_balancer_members(aws, cli, tmp_path):
    vms = """\
    apiVersion: controller/v1
    kind: VirtualMachine
    metadata: {name: web-1, enterprise: acme, vdc: web}
    spec:
      template: ami-03c3da4cfa8e8943a
      hardwareProfile: t3.micro
      nics: [{network: public}]
      firewall: web
    ---
    apiVersion: controller/v1
    kind: VirtualMachine
    metadata: {name: web-2, enterprise: acme, vdc: web}
    spec:
      template: ami-03c3da4cfa8e8943a
      hardwareProfile: t3.micro
      nics: [{network: public-b}]
      firewall: web
    """
    import textwrap

    members = ALB + "  members: [web-1, web-2]\n"
    root = specs(tmp_path, members)
    (root / "vms.yaml").write_text(textwrap.dedent(vms))
    apply(cli, root)
    ec2, v2 = client("ec2"), client("elbv2")
    ids = {t["Value"]: i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
           for t in i.get("Tags", []) if t["Key"] == "Name" and i["State"]["Name"] != "terminated"}
    (lb,) = ours(v2)
    (tg,) = v2.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]
    registered = {h["Target"]["Id"] for h in v2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])[
        "TargetHealthDescriptions"]}
    assert registered == {ids["web-1"], ids["web-2"]}
    assert cli("plan", "--specs", str(root)).code == 0

    # a member deregistered out of band is drift, registered again
    v2.deregister_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": ids["web-2"]}])
    code, plan = plan_json(cli, root)
    assert code == 2 and [f["path"] for f in lb_change(plan)["fields"]] == ["members"]
    apply(cli, root)
    assert cli("plan", "--specs", str(root)).code == 0

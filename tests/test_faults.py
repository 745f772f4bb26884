"""What moto never does, injected by a proxy in front of it: throttling, eventual consistency,
failures half-way. The CLI talks to the proxy; the assertions read AWS directly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults import FaultProxy, Rule
from tests.helpers import by_address, client, enterprise_doc, write_specs

VDC = """\
apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {name: web, enterprise: acme}
spec: {region: us-east-1, availabilityZone: us-east-1a, addressRange: 10.10.0.0/16, defaultFirewall: base}
---
apiVersion: controller/v1
kind: Firewall
metadata: {name: base, enterprise: acme, vdc: web}
spec:
  ingress: [{protocol: tcp, ports: "22", from: [203.0.113.0/24]}]
---
apiVersion: controller/v1
kind: PrivateNetwork
metadata: {name: other, enterprise: acme, vdc: web}
spec: {cidr: 10.10.9.0/24}
"""


@pytest.fixture
def proxy(aws) -> Iterator[FaultProxy]:
    p = FaultProxy(aws.url)
    yield p
    p.stop()


def test_throttled_observe_is_retried(proxy: FaultProxy, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": VDC})
    proxy.add(Rule("DescribeVpcs", "RequestLimitExceeded", 503, times=3))
    r = cli("plan", "--specs", str(specs), "--json", env={"AWS_ENDPOINT_URL": proxy.url})
    assert r.code == 2, r.err
    plan = json.loads(r.out)
    assert plan["api_calls"]["by_operation"]["ec2.DescribeVpcs"] == 4, "3 throttled answers, then the real one"


def test_a_failure_skips_its_dependents_and_independent_branches_finish(proxy: FaultProxy, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": VDC})
    env = {"AWS_ENDPOINT_URL": proxy.url}
    proxy.add(Rule("CreateSubnet", "InvalidParameterValue", 400, times=-1, match="10.10.0.0%2F24"))
    r = cli("apply", "--specs", str(specs), "--auto-approve", env=env)
    assert r.code == 1
    out = r.out
    assert "cannot create subnet acme/web/PrivateNetwork/public: InvalidParameterValue" in out, out
    assert "skipped acme/web/NatGateway/nat: because acme/web/PrivateNetwork/public failed" in out
    assert "1 failed" in out
    ec2 = client("ec2")
    assert len(by_address(ec2.describe_subnets()["Subnets"], "acme/web/PrivateNetwork/other")) == 1
    assert len(by_address(ec2.describe_security_groups()["SecurityGroups"], "acme/web/Firewall/base")) == 1

    # the fault is gone: a re-run converges, with no duplicates
    proxy.clear()
    r = cli("apply", "--specs", str(specs), "--auto-approve", env=env)
    assert r.code == 0, r.out + r.err
    assert cli("plan", "--specs", str(specs), env=env).code == 0
    for cidr in ("10.10.0.0/24", "10.10.1.0/24", "10.10.9.0/24"):
        assert len(ec2.describe_subnets(Filters=[{"Name": "cidr-block", "Values": [cidr]}])["Subnets"]) == 1
    assert len([n for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] == "available"]) == 1


def test_not_found_right_after_create_is_waited_out(proxy: FaultProxy, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": VDC})
    proxy.add(Rule("AttachInternetGateway", "InvalidInternetGatewayID.NotFound", 400, times=2))
    proxy.add(Rule("CreateSubnet", "InvalidVpcID.NotFound", 400, times=1))
    r = cli("apply", "--specs", str(specs), "--auto-approve", env={"AWS_ENDPOINT_URL": proxy.url})
    assert r.code == 0, r.out + r.err
    assert proxy.rules[0].hits == 2 and proxy.rules[1].hits == 1


def test_not_found_on_delete_is_success(proxy: FaultProxy, cli, tmp_path: Path):
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "vdc.yaml": VDC})
    env = {"AWS_ENDPOINT_URL": proxy.url}
    assert cli("apply", "--specs", str(specs), "--auto-approve", env=env).code == 0
    write_specs(specs, {"vdc.yaml": VDC.split("---\napiVersion: controller/v1\nkind: Firewall")[0]
                        .replace(", defaultFirewall: base", "")})
    proxy.add(Rule("DeleteSecurityGroup", "InvalidGroup.NotFound", 400, times=1))
    r = cli("apply", "--specs", str(specs), "--auto-approve", env=env)
    assert r.code == 0, r.out + r.err
    assert "deleted" in r.out

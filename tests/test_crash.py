"""kill -9 of an apply at several points, then a re-run: it converges, with no duplicate anything.

The kill lands on a request, not on a wall-clock time: the fault proxy holds the Nth request of an
action (RunInstances, CreateVolume, AllocateAddress...), the test kills the apply while it waits for
the answer, then lets the request go on to AWS, so the object exists although the apply that asked
for it never learnt its id. moto ignores ClientToken, so what is tested here is the controller's own
idempotency: tags set at creation, and the observe before every apply that finds what an
interrupted run made.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.faults import FaultProxy
from tests.helpers import client, enterprise_doc, write_specs

ROOT = Path(__file__).resolve().parent.parent

ESTATE = """\
apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {name: web, enterprise: acme}
spec: {region: us-east-1, availabilityZone: us-east-1a, addressRange: 10.10.0.0/16}
---
apiVersion: controller/v1
kind: PrivateNetwork
metadata: {name: public-b, enterprise: acme, vdc: web}
spec: {cidr: 10.10.10.0/24, availabilityZone: us-east-1b, internetGateway: true}
---
apiVersion: controller/v1
kind: Firewall
metadata: {name: web, enterprise: acme, vdc: web}
spec:
  ingress: [{protocol: tcp, ports: "443", from: [0.0.0.0/0]}]
---
apiVersion: controller/v1
kind: Firewall
metadata: {name: app, enterprise: acme, vdc: web}
spec:
  ingress: [{protocol: tcp, ports: "8080", fromFirewall: web}]
"""

VM_PARTS = """\
---
apiVersion: controller/v1
kind: VirtualMachine
metadata: {name: web-1, enterprise: acme, vdc: web}
spec:
  template: ami-03c3da4cfa8e8943a
  hardwareProfile: t3.micro
  nics: [{network: public, ip: 10.10.0.10, publicIp: web-ip}]
  firewall: web
  volumes: [data]
---
apiVersion: controller/v1
kind: VirtualMachine
metadata: {name: web-2, enterprise: acme, vdc: web}
spec:
  template: ami-03c3da4cfa8e8943a
  hardwareProfile: t3.micro
  nics: [{network: public-b, publicIp: auto}]
  firewall: web
---
apiVersion: controller/v1
kind: PublicIp
metadata: {name: web-ip, enterprise: acme, vdc: web}
spec: {}
---
apiVersion: controller/v1
kind: Volume
metadata: {name: data, enterprise: acme, vdc: web}
spec: {sizeGiB: 10, availabilityZone: us-east-1a}
"""


def _has_vm_kinds() -> bool:
    kinds = ROOT / "controller" / "kinds"
    return all((kinds / f).exists() for f in ("vm.py", "volume.py", "public_ip.py"))


def owned_counts() -> Counter[tuple[str, str]]:
    """How many AWS objects of each type carry each ownership address (a duplicate shows as 2)."""
    ec2 = client("ec2")
    counts: Counter[tuple[str, str]] = Counter()

    def tally(kind, items, gone=None):
        for i in items:
            if gone and gone(i):
                continue
            for t in i.get("Tags") or []:
                if t["Key"] == "controller:address":
                    counts[(kind, t["Value"])] += 1

    tally("vpc", ec2.describe_vpcs()["Vpcs"])
    tally("subnet", ec2.describe_subnets()["Subnets"])
    tally("igw", ec2.describe_internet_gateways()["InternetGateways"])
    tally("rtb", ec2.describe_route_tables()["RouteTables"])
    tally("sg", ec2.describe_security_groups()["SecurityGroups"])
    tally("nat", ec2.describe_nat_gateways()["NatGateways"], gone=lambda n: n["State"] in ("deleted", "deleting"))
    tally("eip", ec2.describe_addresses()["Addresses"])
    tally("volume", ec2.describe_volumes()["Volumes"], gone=lambda v: v["State"] in ("deleted", "deleting"))
    tally("instance", [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]],
          gone=lambda i: i["State"]["Name"] in ("terminated", "shutting-down"))
    return counts


KILL_POINTS = [("CreateSecurityGroup", 2), ("CreateNatGateway", 1), ("AllocateAddress", 2), ("RunInstances", 2),
               ("CreateVolume", 1), ("AssociateAddress", 1)]


@pytest.mark.parametrize(("action", "nth"), KILL_POINTS, ids=lambda v: str(v))
def test_apply_killed_then_rerun_converges_without_duplicates(aws, cli, tmp_path: Path, action: str, nth: int):
    estate = ESTATE + (VM_PARTS if _has_vm_kinds() else "")
    specs = write_specs(tmp_path / "specs", {"ent.yaml": enterprise_doc(), "estate.yaml": estate})
    proxy = FaultProxy(aws.url)
    hold = proxy.hold(action, nth)
    try:
        env = {**os.environ, "AWS_ENDPOINT_URL": proxy.url, "PYTHONUNBUFFERED": "1"}
        p = subprocess.Popen([sys.executable, "-m", "controller", "apply", "--specs", str(specs), "--auto-approve",
                              "--parallelism", "4"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        reached = hold.reached.wait(240)
        p.send_signal(signal.SIGKILL)
        out, err = p.communicate(timeout=60)
        assert reached, f"the apply never sent {action} #{nth}:\n{out}{err}"
        # killed mid-apply: by the signal (not exited), after the apply started, before its report
        assert p.returncode == -signal.SIGKILL, (p.returncode, out, err)
        assert "Applying:" in out and "Apply complete" not in out, out
        hold.release.set()  # the request reaches AWS after its client died
        assert hold.forwarded.wait(60), f"the held {action} never reached AWS"
    finally:
        proxy.stop()
    r = cli("apply", "--specs", str(specs), "--auto-approve")
    assert r.code == 0, r.out + r.err
    r = cli("plan", "--specs", str(specs))
    assert r.code == 0, r.out
    counts = owned_counts()
    dupes = {a: n for a, n in counts.items() if n > 1}
    assert dupes == {}, f"duplicates after kill -9 at {action} #{nth}: {dupes}"
    assert counts[("nat", "acme/web/NatGateway/nat")] == 1
    assert counts[("eip", "acme/web/NatGateway/nat")] == 1, "the NAT gateway's own Elastic IP, allocated once"
    if _has_vm_kinds():
        for vm in ("web-1", "web-2"):
            assert counts[("instance", f"acme/web/VirtualMachine/{vm}")] == 1
        assert counts[("volume", "acme/web/Volume/data")] == 1
        assert counts[("eip", "acme/web/PublicIp/web-ip")] == 1

"""Benchmark: `controller onboard --vpc all` over a region with 50 VPCs and 1,000 instances.

Each VPC gets a public and a private subnet, an internet gateway, two security groups and 20
instances (one run_instances call with MinCount=MaxCount=20). The real CLI onboards the region in a
subprocess; the wall time and the AWS API calls (from `--json`) are reported, then the YAML is
validated. Target: under 60 s.

Run: `.venv/bin/python -m tests.bench.bench_onboard`. Numbers go to tests/bench/results/onboard.txt.
BENCH_ONBOARD_VPCS / BENCH_ONBOARD_PER_VPC override the size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.awsserver import start_server
from tests.helpers import client, enterprise_doc, write_specs
from tests.test_onboard import AMI, gateways, group, make_subnet, make_vpc

VPCS = int(os.environ.get("BENCH_ONBOARD_VPCS", "50"))
PER_VPC = int(os.environ.get("BENCH_ONBOARD_PER_VPC", "20"))
TARGET_SECONDS = 60.0
RESULTS = Path(__file__).parent / "results" / "onboard.txt"


def build(ec2) -> None:
    for v in range(VPCS):
        vpc = make_vpc(ec2, f"10.{v}.0.0/16", f"vpc-{v:02d}")
        pub = make_subnet(ec2, vpc, f"10.{v}.0.0/24", "us-east-1a", "public", public=True)
        priv = make_subnet(ec2, vpc, f"10.{v}.1.0/24", "us-east-1a", "private")
        gateways(ec2, vpc, [pub], nat=False)
        web = group(ec2, vpc, "web", "web")
        group(ec2, vpc, "db", "db")
        ec2.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=PER_VPC, MaxCount=PER_VPC,
                          SubnetId=priv, SecurityGroupIds=[web])


def main() -> int:
    server = start_server()
    try:
        os.environ.update(server.env())
        ec2 = client("ec2")
        t0 = time.monotonic()
        build(ec2)
        built = time.monotonic() - t0
        with tempfile.TemporaryDirectory() as tmp:
            specs = write_specs(Path(tmp) / "specs", {"acme/enterprise.yaml": enterprise_doc()})
            env = {**os.environ, **server.env()}
            t0 = time.monotonic()
            p = subprocess.run([sys.executable, "-m", "controller", "onboard", "--specs", str(specs), "--enterprise",
                                "acme", "--region", "us-east-1", "--vpc", "all", "--json"],
                               capture_output=True, text=True, env=env)
            seconds = time.monotonic() - t0
            if p.returncode != 0:
                print(p.stderr, file=sys.stderr)
                return 1
            report = json.loads(p.stdout)
            t0 = time.monotonic()
            v = subprocess.run([sys.executable, "-m", "controller", "validate", "--specs", str(specs)],
                               capture_output=True, text=True, env=env)
            validate_s = time.monotonic() - t0
        lines = [
            f"onboard benchmark ({time.strftime('%Y-%m-%d')}, moto server on this machine)",
            f"estate: {VPCS} VPCs, {VPCS * PER_VPC} instances (built in {built:.1f} s)",
            f"onboard --vpc all: {seconds:.1f} s wall (CLI subprocess, start-up included), "
            f"{report['api_calls']} AWS API calls; target < {TARGET_SECONDS:.0f} s: "
            f"{'met' if seconds < TARGET_SECONDS else 'MISSED'}",
            f"documents: {json.dumps(report['documents'], sort_keys=True)}; files: {len(report['files'])}",
            f"validate: exit {v.returncode} in {validate_s:.1f} s ({v.stdout.strip() or v.stderr.strip()[:200]})",
        ]
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        return 0 if seconds < TARGET_SECONDS and v.returncode == 0 else 1
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())

"""Engine benchmarks against a local moto server, through the real CLI.

1. The 20-VM estate (the one the peers were measured on): apply, then a no-change plan.
   Targets: apply < 5 s with < 120 API requests; no-change plan < 1 s with < 15 requests.
2. 1,000 VMs in 20 VDCs (networks, firewalls, 200 public IPs, 500 volumes): first apply at
   parallelism 1 and 10, a no-change plan (calls and seconds) against the bare describe calls it
   needs, and peak memory.

Run with `make bench` (or `python -m tests.bench engine`). Results go to tests/bench/results/engine.txt.
`python -m tests.bench.bench_engine small-only`: the 20-VM estate alone (engine-small.txt);
`python -m tests.bench.bench_engine --vms 1000 [--vdcs 20 --public-ips 200 --volumes 500 --parallelism 10]`:
one estate, its apply against the bare replay of its writes, and its no-change plan (engine-1000.txt).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

from tests.awsserver import AwsServer, start_server
from tests.bench.replay import RECORDER, replay

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).parent / "results"
AMI = "ami-03c3da4cfa8e8943a"
ACCOUNT = "111111111111"

# Runs the CLI and reports its own peak RSS on stderr as the last line.
RSS_WRAPPER = (
    "import atexit, resource, runpy, sys;"
    "atexit.register(lambda: print(f'peak_rss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}',"
    " file=sys.stderr));"
    "sys.argv = ['controller'] + sys.argv[1:];"
    "runpy.run_module('controller', run_name='__main__')"
)


def enterprise() -> str:
    return f"""apiVersion: controller/v1
kind: Enterprise
metadata: {{name: acme}}
spec:
  account: "{ACCOUNT}"
  credentials: {{assumeRole: {{roleArn: "arn:aws:iam::{ACCOUNT}:role/controller"}}}}
  regions: [us-east-1]
"""


def estate(vms: int, vdcs: int, public_ips: int, volumes: int) -> dict[str, str]:
    """A realistic estate: per VDC a default network (public + NAT'd), two firewalls, VMs spread
    over both networks; every fifth VM on the public network gets a public IP; volumes attached."""
    files = {"enterprise.yaml": enterprise()}
    per_vdc = vms // vdcs
    eip_left, vol_left = public_ips, volumes
    for v in range(vdcs):
        docs = [f"""apiVersion: controller/v1
kind: VirtualDatacenter
metadata: {{name: vdc{v}, enterprise: acme}}
spec: {{region: us-east-1, availabilityZone: us-east-1a, addressRange: 10.{v}.0.0/16, defaultFirewall: base}}
""", f"""apiVersion: controller/v1
kind: Firewall
metadata: {{name: base, enterprise: acme, vdc: vdc{v}}}
spec: {{ingress: [{{protocol: tcp, ports: "22", from: [203.0.113.0/24]}}]}}
""", f"""apiVersion: controller/v1
kind: Firewall
metadata: {{name: web, enterprise: acme, vdc: vdc{v}}}
spec:
  ingress:
    - {{protocol: tcp, ports: "443", from: [0.0.0.0/0]}}
    - {{protocol: tcp, ports: "22", fromFirewall: base}}
"""]
        for i in range(per_vdc):
            public = i % 2 == 0
            net = "public" if public else "default"
            host = 10 + i // 2
            nic = f"{{network: {net}, ip: 10.{v}.{0 if public else 1}.{host}"
            if public and eip_left > 0 and i % 5 == 0:
                nic += f", publicIp: ip{i}"
                docs.append(f"""apiVersion: controller/v1
kind: PublicIp
metadata: {{name: ip{i}, enterprise: acme, vdc: vdc{v}}}
spec: {{}}
""")
                eip_left -= 1
            nic += "}"
            vols = ""
            if vol_left > 0 and i % 2 == 1:
                vols = f"\n  volumes: [data{i}]"
                docs.append(f"""apiVersion: controller/v1
kind: Volume
metadata: {{name: data{i}, enterprise: acme, vdc: vdc{v}}}
spec: {{sizeGiB: 10, availabilityZone: us-east-1a}}
""")
                vol_left -= 1
            docs.append(f"""apiVersion: controller/v1
kind: VirtualMachine
metadata: {{name: vm{i}, enterprise: acme, vdc: vdc{v}}}
spec:
  template: {AMI}
  hardwareProfile: t3.micro
  nics: [{nic}]
  firewall: web{vols}
""")
        files[f"vdc{v}.yaml"] = "---\n".join(docs)
    return files


def write(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (the local endpoint's), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_cli(server: AwsServer, *args: str, record: Path | None = None) -> tuple[int, dict, float, int]:
    env = {**os.environ, **server.env(), **({"RECORD_TO": str(record)} if record else {})}
    t = time.monotonic()
    p = subprocess.run([sys.executable, "-c", RECORDER if record else RSS_WRAPPER, *args], env=env,
                       capture_output=True, text=True, cwd=ROOT)
    seconds = time.monotonic() - t
    rss = int(p.stderr.strip().rsplit("peak_rss_kb=", 1)[-1]) if "peak_rss_kb=" in p.stderr else 0
    try:
        data = json.loads(p.stdout) if p.stdout.strip() else {}
    except json.JSONDecodeError:
        data = {}
    if p.returncode not in (0, 2):
        print(p.stdout[-3000:], p.stderr[-3000:], file=sys.stderr)
    return p.returncode, data, seconds, rss


def bare_describes(server: AwsServer) -> tuple[float, int]:
    """The describe calls a no-change plan needs, made directly with boto3, paginated, no processing."""
    sts = boto3.client("sts", endpoint_url=server.url, region_name="us-east-1")
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/bench", RoleSessionName="bench")["Credentials"]
    ec2 = boto3.client("ec2", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=c["AccessKeyId"],
                       aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
    f = [{"Name": "tag:controller:enterprise", "Values": ["acme"]}]
    calls = 0
    t = time.monotonic()
    for op in ("describe_vpcs", "describe_subnets", "describe_security_groups", "describe_route_tables",
               "describe_internet_gateways", "describe_nat_gateways", "describe_instances", "describe_volumes"):
        for _ in ec2.get_paginator(op).paginate(Filters=f):
            calls += 1
    ec2.describe_addresses(Filters=f)
    ec2.describe_key_pairs(Filters=f)
    calls += 2
    return time.monotonic() - t, calls


def scenario(server: AwsServer, name: str, files: dict[str, str], parallelisms: list[int], lines: list[str],
             plans: bool = True) -> None:
    for par in parallelisms:
        server.reset()
        with tempfile.TemporaryDirectory() as tmp:
            specs = write(Path(tmp) / "specs", files)
            record = Path(tmp) / "writes.json" if par == parallelisms[0] else None
            srv0, cli0 = cpu_seconds(server.proc.pid), children_cpu()
            code, rep, secs, rss = run_cli(server, "apply", "--specs", str(specs), "--auto-approve", "--json",
                                           "--parallelism", str(par), record=record)
            srv_cpu, cli_cpu = cpu_seconds(server.proc.pid) - srv0, children_cpu() - cli0
            lines.append(f"{name}: apply (parallelism {par}): exit {code}, {secs:.2f} s wall "
                         f"({rep.get('seconds', 0):.2f} s applying), {rep.get('api_calls', '?')} API calls in apply, "
                         f"{rep.get('failed', '?')} failed" + (f", peak RSS {rss / 1024:.0f} MB" if rss else "")
                         + f"; CPU: the command {cli_cpu:.1f} s, the endpoint {srv_cpu:.1f} s")
            print(lines[-1], flush=True)
            if record is not None and record.exists():
                writes = json.loads(record.read_text())
                reads = int(rep.get("api_calls", 0)) - len(writes)
                by_op = json.loads(Path(f"{record}.reads").read_text()) if Path(f"{record}.reads").exists() else {}
                lines.append(f"{name}: during apply {len(writes)} write calls and {reads} read calls "
                             f"(reads: {reads / max(len(writes), 1):.3f} per write); the command's reads, its plan "
                             f"included: {dict(sorted(by_op.items()))}")
                print(lines[-1], flush=True)
                server.reset()
                srv0, own0 = cpu_seconds(server.proc.pid), time.process_time()
                bare_s, ops, failed = replay(writes, server.url, par, ACCOUNT)
                srv_cpu, own_cpu = cpu_seconds(server.proc.pid) - srv0, time.process_time() - own0
                lines.append(f"{name}: bare boto3 replay of the same {len(writes)} write calls at parallelism {par}: "
                             f"{bare_s:.2f} s ({failed} failed); apply/bare = {rep.get('seconds', 0) / bare_s:.2f}x; "
                             f"CPU: the replay {own_cpu:.1f} s (client set-up included), the endpoint {srv_cpu:.1f} s"
                             + "; failed: " + (", ".join(f"{k.removeprefix('failed ')} x{v}" for k, v in sorted(ops.items())
                                                         if k.startswith("failed ")) or "none"))
                print(lines[-1], flush=True)
                server.reset()
                code, rep, secs, rss = run_cli(server, "apply", "--specs", str(specs), "--auto-approve", "--json",
                                               "--parallelism", str(par))  # the state the plans below read
                lines.append(f"{name}: apply again on a fresh server, not recorded (parallelism {par}): "
                             f"{rep.get('seconds', 0):.2f} s applying, {rep.get('api_calls', '?')} API calls, "
                             f"apply/bare = {rep.get('seconds', 0) / bare_s:.2f}x, peak RSS {rss / 1024:.0f} MB")
                print(lines[-1], flush=True)
            for attempt in range(2 if plans else 0):
                code, plan, secs, rss = run_cli(server, "plan", "--specs", str(specs), "--json")
                calls = plan.get("api_calls", {})
                lines.append(f"{name}: no-change plan #{attempt + 1}: exit {code}, {secs:.2f} s wall, "
                             f"observe {plan.get('observe_seconds', 0):.2f} s, {calls.get('total', '?')} API calls "
                             f"{calls.get('by_operation', {})}, peak RSS {rss / 1024:.0f} MB")
                print(lines[-1], flush=True)
            if not plans:
                continue
            bare_s, bare_calls = bare_describes(server)
            lines.append(f"{name}: bare describe calls: {bare_s:.2f} s for {bare_calls} calls")
            print(lines[-1], flush=True)


def main(argv: list[str] | None = None) -> None:
    """`small-only`: the 20-VM estate alone. `--vms N` (with --vdcs, --public-ips, --volumes, --parallelism):
    one estate of that size at one parallelism, to tests/bench/results/engine-N.txt."""
    import argparse

    ap = argparse.ArgumentParser(prog="bench_engine")
    ap.add_argument("--vms", type=int)
    ap.add_argument("--vdcs", type=int, default=20)
    ap.add_argument("--public-ips", type=int, default=200)
    ap.add_argument("--volumes", type=int, default=500)
    ap.add_argument("--parallelism", type=int, default=10)
    ap.add_argument("--no-plans", action="store_true", help="skip the no-change plans and the bare describes")
    args, rest = ap.parse_known_args(sys.argv[1:] if argv is None else argv)  # `python -m tests.bench engine` too
    big = "small-only" not in rest
    RESULTS.mkdir(exist_ok=True)
    lines = [f"# engine benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
             f"load average {os.getloadavg()[0]:.1f} at start"]
    server = start_server()
    os.environ.update(server.env())
    try:
        if args.vms:
            out = f"engine-{args.vms}.txt"
            scenario(server, f"{args.vms} VMs / {args.vdcs} VDCs / {args.public_ips} EIPs / {args.volumes} volumes",
                     estate(vms=args.vms, vdcs=args.vdcs, public_ips=args.public_ips, volumes=args.volumes),
                     [args.parallelism], lines, plans=not args.no_plans)
        else:
            out = "engine.txt" if big else "engine-small.txt"
            scenario(server, "20 VMs", estate(vms=20, vdcs=1, public_ips=4, volumes=10), [10], lines)
            if big:
                scenario(server, "1000 VMs / 20 VDCs / 200 EIPs / 500 volumes",
                         estate(vms=1000, vdcs=20, public_ips=200, volumes=500), [10, 1], lines)
    finally:
        server.stop()
    (RESULTS / out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])

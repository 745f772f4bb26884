"""Benchmark: `controller billing` over one month of 2,000,000 CUR line items (~1 GB of CSV).

The month is generated streaming into a GZ file on disk (cached in the temp folder between runs),
uploaded to a local AWS endpoint (moto server) with its manifest, and reported by the real CLI in a
subprocess whose wall time and peak RSS (ru_maxrss, from wait4) are measured. The parser alone is
measured the same way on the local file (no S3). Targets: under 30 s and under 300 MB.

Run: `.venv/bin/python -m tests.bench.bench_billing` (or `make bench`). Numbers go to
tests/bench/results/billing.txt. BENCH_BILLING_LINES overrides the line count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import boto3

from controller.billing.money import cents, discounted
from controller.billing.sample import COLUMNS, generated_lines, period, write_gz
from tests.awsserver import start_server

LINES = int(os.environ.get("BENCH_BILLING_LINES", "2000000"))
MONTH = date(2024, 5, 1)
ACCOUNTS = {"111111111111": "acme", "222222222222": "globex"}
TARGET_SECONDS = 30.0
TARGET_MB = 300.0
RESULTS = Path(__file__).parent / "results" / "billing.txt"

SPECS = """
apiVersion: controller/v1
kind: Enterprise
metadata: {name: acme}
spec:
  account: "111111111111"
  credentials: {assumeRole: {roleArn: "arn:aws:iam::111111111111:role/x"}}
  regions: [us-east-1]
  billing: {discount: 5, bucket: bench-cur, bucketPrefix: cur, reportName: bench, compressFormat: GZ}
  budgets: [{name: monthly, monthlyLimit: 500000, alertAt: [50, 80, 100]}]
---
apiVersion: controller/v1
kind: Enterprise
metadata: {name: globex}
spec:
  account: "222222222222"
  reseller: acme
  credentials: {assumeRole: {roleArn: "arn:aws:iam::222222222222:role/x"}}
  regions: [us-east-1]
  billing: {discount: 10}
"""

PARSE_ONLY = """
import sys, time
from controller.billing.cur import Cells, Source, _parse
import gzip
src = Source("acme", "local", "us-east-1", "", "bench", "GZ")
cells = Cells()
t = time.perf_counter()
with open(sys.argv[1], "rb") as f, gzip.GzipFile(fileobj=f) as gz:
    _parse(gz, src, sys.argv[1], cells)
print(time.perf_counter() - t, cells.lines, len(cells.cells))
"""


def month_file() -> tuple[Path, dict[str, Decimal], int]:
    """The generated month: (gz path, exact cost per account, uncompressed CSV bytes); cached."""
    path = Path(tempfile.gettempdir()) / f"controller-bench-billing-v2-{LINES}.csv.gz"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        m = json.loads(meta.read_text())
        return path, {a: Decimal(v) for a, v in m["per_account"].items()}, m["csv_bytes"]
    print(f"generating {LINES:,} lines into {path} ...", flush=True)
    per_account: dict[str, Decimal] = {a: Decimal(0) for a in ACCOUNTS}

    def counted():
        for ln in generated_lines(LINES, MONTH, ACCOUNTS):
            per_account[ln.account] += ln.cost
            yield ln

    t = time.perf_counter()
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        size, _ = write_gz(f, counted())
    tmp.rename(path)
    meta.write_text(json.dumps({"per_account": {a: str(v) for a, v in per_account.items()}, "csv_bytes": size}))
    print(f"generated in {time.perf_counter() - t:.0f} s", flush=True)
    return path, per_account, size


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str, str, int, float]:
    """(wall seconds, peak RSS MB, stdout, stderr, exit code, CPU seconds) of a subprocess."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    cpu = usage.ru_utime + usage.ru_stime
    return wall, usage.ru_maxrss / 1024, out.read().decode(), err.read().decode(), p.returncode, cpu


def main() -> int:
    path, per_account, csv_size = month_file()
    gz_size = path.stat().st_size
    results = [f"billing benchmark: {LINES:,} CUR lines, {csv_size / 1e9:.2f} GB CSV, {gz_size / 1e6:.0f} MB GZ "
               f"({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
               f"Python {sys.version.split()[0]})"]

    # 1. the parser alone on the local stream
    wall, rss, out, err, code, cpu = run_measured([sys.executable, "-c", PARSE_ONLY, str(path)], dict(os.environ))
    assert code == 0, err
    parse_s, n, ncells = out.split()
    results.append(f"parser only (local GZ file): {float(parse_s):.1f} s parsing, {wall:.1f} s process "
                   f"({cpu:.1f} s CPU), "
                   f"peak RSS {rss:.0f} MB, {int(n):,} lines -> {int(ncells):,} cells")

    # 2. the real CLI against the local AWS endpoint
    server = start_server()
    try:
        env = {**os.environ, **server.env()}
        os.environ.update(server.env())
        sts = boto3.client("sts", region_name="us-east-1")
        c = sts.assume_role(RoleArn="arn:aws:iam::111111111111:role/bench", RoleSessionName="bench")["Credentials"]
        s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id=c["AccessKeyId"],
                          aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
        s3.create_bucket(Bucket="bench-cur")
        folder = f"cur/bench/{period(MONTH)}"
        key = f"{folder}/bench-assembly/bench-1.csv.gz"
        t = time.perf_counter()
        s3.upload_file(str(path), "bench-cur", key)
        upload = time.perf_counter() - t
        s3.put_object(Bucket="bench-cur", Key=f"{folder}/bench-Manifest.json", Body=json.dumps(
            {"reportKeys": [key], "compression": "GZIP", "columns": COLUMNS}).encode())
        results.append(f"upload to the local endpoint: {upload:.1f} s (not part of the report time)")
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "e.yaml").write_text(SPECS)
            wall, rss, out, err, code, cpu = run_measured(
                [sys.executable, "-m", "controller", "billing", "--specs", d, "--month", "2024-05",
                 "--format", "json"], env)
        assert code == 0, err
    finally:
        server.stop()
    doc = json.loads(out)
    bills = {b["name"]: b for b in doc["enterprises"]}
    want_acme = cents(discounted(per_account["111111111111"], Decimal(5)))
    want_globex = cents(discounted(per_account["222222222222"], Decimal(10)))
    ok_money = (Decimal(bills["acme"]["charge"]) == want_acme and Decimal(bills["globex"]["charge"]) == want_globex
                and Decimal(bills["acme"]["total"]) == want_acme + want_globex)
    ok = wall < TARGET_SECONDS and rss < TARGET_MB and ok_money and doc["lines"] == LINES
    results.append(f"controller billing (CLI subprocess, S3 from the local endpoint, JSON out): {wall:.1f} s "
                   f"({cpu:.1f} s CPU), "
                   f"peak RSS {rss:.0f} MB; totals to the cent: {'yes' if ok_money else 'NO'} "
                   f"(acme {bills['acme']['total']}, globex {bills['globex']['total']})")
    results.append(f"targets: < {TARGET_SECONDS:.0f} s and < {TARGET_MB:.0f} MB: {'met' if ok else 'NOT MET'} "
                   f"(load average at the end {os.getloadavg()[0]:.1f})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(results) + "\n")
    print("\n".join(results))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""The catalogue: `controller catalog hardware` of one region (API calls, seconds), and `validate` of
the 10,000-document estate of bench_validate with a written hardware catalogue against the built-in
table.

Targets: `catalog hardware` makes only the paginated listings it needs (DescribeInstanceTypes and
DescribeInstanceTypeOfferings, one request per page, plus the credentials check); validate with a
catalogue is no more than 10 % slower than with the built-in table. Writes
tests/bench/results/catalog.txt.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

from controller.offerings.hardware import fetch_profiles
from controller.spec.hardware import catalogue_path, render_catalogue
from controller.spec.validate import load_specs
from tests.awsserver import start_server
from tests.bench.bench_validate import generate
from tests.helpers import enterprise_doc, write_specs

RESULTS = Path(__file__).parent / "results" / "catalog.txt"
RUNS = 7
MAX_SLOWDOWN = 0.10


def catalog_hardware(env: dict[str, str], specs: Path) -> tuple[float, dict[str, object]]:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "controller", "catalog", "hardware", "--specs", str(specs),
                        "--enterprise", "acme", "--region", "us-east-1", "--json"],
                       capture_output=True, text=True, env={**os.environ, **env}, check=True)
    return time.perf_counter() - t0, json.loads(p.stdout)


def pages_needed(ec2: object) -> dict[str, int]:
    """How many pages the two listings have on this endpoint (what a minimal client must request)."""
    out = {}
    for op, kw in (("describe_instance_types", {}),
                   ("describe_instance_type_offerings", {"LocationType": "availability-zone"})):
        out[op] = sum(1 for _ in ec2.get_paginator(op).paginate(**kw))  # type: ignore[attr-defined]
    return out


def timed_validate(root: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one in-process load + validate. The comparison is on CPU time: on a shared
    machine, other work inflates wall time by far more than the 10 % measured here."""
    t0, c0 = time.perf_counter(), time.process_time()
    load_specs(root)
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> int:
    lines = ["bench_catalog: `catalog hardware` of one region, and validate with a written catalogue",
             f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}"]
    server = start_server()
    ok = True
    try:
        env = server.env()
        os.environ.update(env)
        with tempfile.TemporaryDirectory(prefix="bench-catalog-") as tmp:
            specs = write_specs(Path(tmp) / "specs", {"ent.yaml": enterprise_doc()})
            runs = [catalog_hardware(env, specs) for _ in range(3)]
            ec2 = boto3.client("ec2", region_name="us-east-1")
            need = pages_needed(ec2)
            seconds = [s for s, _ in runs]
            calls = runs[-1][1]["api_calls"]  # type: ignore[index]
            by_op = calls["by_operation"]  # type: ignore[index]
            minimal = (by_op.get("ec2.DescribeInstanceTypes") == need["describe_instance_types"]
                       and by_op.get("ec2.DescribeInstanceTypeOfferings") == need["describe_instance_type_offerings"]
                       and calls["total"] == sum(need.values()) + 1)  # type: ignore[index]
            ok = ok and minimal
            lines += [
                f"catalog hardware us-east-1: {runs[-1][1]['total']} profiles; wall {seconds[0]:.2f} s on a cold "
                f"endpoint, then {', '.join(f'{s:.2f}' for s in seconds[1:])} s (whole CLI process)",
                f"  API calls: {calls['total']} ({', '.join(f'{k} {v}' for k, v in by_op.items())}); pages the "  # type: ignore[index]
                f"listings have: {need['describe_instance_types']} + {need['describe_instance_type_offerings']}: "
                f"{'only the paginated calls it needs' if minimal else 'MISSED'}",
            ]
            profiles = fetch_profiles(ec2, "us-east-1")

        with tempfile.TemporaryDirectory(prefix="bench-catalog-validate-") as tmp:
            root = Path(tmp) / "specs"
            documents = generate(root)
            path = catalogue_path(root, "us-east-1")
            path.parent.mkdir(parents=True)
            text = render_catalogue("us-east-1", "aws", "bench", profiles)
            with_cat, without = [], []
            timed_validate(root)  # warm-up (imports, caches)
            for _ in range(RUNS):  # alternate, so that load on the machine hits both alike
                path.write_text(text)
                with_cat.append(timed_validate(root))
                path.unlink()
                without.append(timed_validate(root))
            path.write_text(text)
            specs_obj = load_specs(root)
            note = specs_obj.hardware_note()
        cpu_with, cpu_without = [c for _, c in with_cat], [c for _, c in without]
        ratio = statistics.median(cpu_with) / statistics.median(cpu_without) - 1
        best_ratio = min(cpu_with) / min(cpu_without) - 1
        ok = ok and ratio <= MAX_SLOWDOWN
        lines += [
            f"validate {documents} documents, {RUNS} runs each, alternating, CPU seconds (wall in brackets): "
            f"built-in table best {min(cpu_without):.2f} s / median {statistics.median(cpu_without):.2f} s "
            f"[{statistics.median(w for w, _ in without):.2f} s]; with the catalogue ({len(text) // 1024} KiB, "
            f"{len(profiles)} profiles) best {min(cpu_with):.2f} s / median {statistics.median(cpu_with):.2f} s "
            f"[{statistics.median(w for w, _ in with_cat):.2f} s]",
            f"  slowdown: {ratio * 100:+.1f} % median, {best_ratio * 100:+.1f} % best "
            f"(target <= {MAX_SLOWDOWN * 100:.0f} %: {'ok' if ratio <= MAX_SLOWDOWN else 'MISSED'}); {note}",
            f"load average when done: {' '.join(f'{x:.1f}' for x in os.getloadavg())}",
        ]
    finally:
        server.stop()
    report = "\n".join(lines) + "\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)
    sys.stdout.write(report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

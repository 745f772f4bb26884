"""Daemon fleet benchmarks against a local moto server: N enterprises (one `none` VDC each).

One replica (default: 500 enterprises, resync 60 s, 10 minutes): the daemon's RSS from /proc/PID/status
at boot, once every enterprise was reconciled once, and every 15 s after; per enterprise, the reconciles
counted in /metrics against the elapsed/resync expected and the longest gap between two of its
reconciles (from the daemon's JSON log), which must stay within one resync period (+10 % jitter, plus
the time a pass over the fleet is late by).

Replicas (--replicas 3, e.g. 1,000 enterprises): the replicas share the enterprises through a DynamoDB
lease table. The table is scanned every few seconds: once every enterprise was held, the longest time an
enterprise went without a live lease (must stay under one lease period); from the replicas' logs, no
enterprise's leases of two replicas overlap (never held twice); RSS per replica.

    python -m tests.bench.bench_daemon [--enterprises N] [--resync S] [--minutes M] [--workers W]
    python -m tests.bench.bench_daemon --replicas 3 --enterprises 1000 --minutes 5
    make bench                                           (every benchmark; this one with its defaults)

Results go to tests/bench/results/daemon[-N][-rR].txt.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import botocore.exceptions

from controller.daemon.lease import REPLICA_PREFIX, LeaseTable
from tests.awsserver import start_server
from tests.helpers import enterprise_doc, write_specs
from tests.test_daemon import DaemonProc, vdc_doc, wait_for
from tests.test_daemon_replicas import assert_no_overlap

RESULTS = Path(__file__).parent / "results"


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def per_enterprise(d: DaemonProc, metric: str, **labels: str) -> dict[str, float]:
    out: dict[str, float] = {}
    want = set(labels.items())
    for (name, ls), v in d.metrics().items():
        lab = dict(ls)
        if name == metric and want <= set(ls) and "enterprise" in lab:
            out[lab["enterprise"]] = out.get(lab["enterprise"], 0) + v
    return out


def fleet(n: int) -> tuple[list[str], dict[str, str]]:
    """n enterprise names and their spec files; 12-digit account ids for any n."""
    width = max(2, len(str(n)))
    names = [f"b{i:0{width}d}" for i in range(1, n + 1)]
    files = {f"{name}.yaml": enterprise_doc(name, f"{200000000000 + i:012d}") + "---\n" + vdc_doc("web", name)
             for i, name in enumerate(names, start=1)}
    return names, files


def finished_times(d: DaemonProc) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for e in d.events("reconcile_finished"):
        out[e["enterprise"]].append(e["t"])
    return out


def one_replica(args: argparse.Namespace) -> tuple[list[str], bool]:
    names, files = fleet(args.enterprises)
    server = start_server()
    try:
        tmp = Path(tempfile.mkdtemp(prefix="bench-daemon-"))
        specs = write_specs(tmp / "specs", files)
        d = DaemonProc(["--specs", str(specs), "--resync", str(args.resync), "--workers", str(args.workers)],
                       server.env(), tmp / "daemon.log")
        pid = d.proc.pid
        rss_boot = rss_kb(pid)
        t0 = time.monotonic()
        wait_for(lambda: len(per_enterprise(d, "controller_reconciles_total", result="success")) == len(names),
                 3600, "every enterprise reconciled once", interval=2)
        first_pass = time.monotonic() - t0
        rss_start = rss_kb(pid)
        base = per_enterprise(d, "controller_reconciles_total")
        started, wall_started = time.monotonic(), time.time()
        samples = [rss_start]
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(min(15.0, max(0.1, args.minutes * 60 - (time.monotonic() - started))))
            samples.append(rss_kb(pid))
        elapsed = time.monotonic() - started
        rss_end = rss_kb(pid)
        total = per_enterprise(d, "controller_reconciles_total")
        errors = per_enterprise(d, "controller_reconciles_total", result="error")
        counts = {n: total.get(n, 0) - base.get(n, 0) for n in names}
        expected = elapsed / args.resync
        lost = [n for n, c in counts.items() if c < expected * 0.8]
        times = finished_times(d)
        gaps = {n: max((b - a for a, b in zip(ts, ts[1:], strict=False) if b >= wall_started), default=0.0)
                for n, ts in times.items()}
        dur = d.metrics()
        h_sum = sum(v for (n, _), v in dur.items() if n == "controller_reconcile_duration_seconds_sum")
        h_cnt = sum(v for (n, _), v in dur.items() if n == "controller_reconcile_duration_seconds_count")
        code = d.stop()
    finally:
        server.stop()
    vals = list(counts.values())
    half = len(samples) // 2
    lines = [
        f"# daemon fleet, one replica: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"enterprises: {len(names)} (one VirtualDatacenter of network type none each), resync {args.resync:g} s "
        f"(±10% jitter), {args.workers} workers, local moto server",
        f"duration: {elapsed / 60:.1f} min measured (after the first pass), --minutes {args.minutes:g}",
        f"first pass (boot -> every enterprise reconciled once): {first_pass:.1f} s",
        f"RSS: at boot {rss_boot / 1024:.1f} MiB, start {rss_start / 1024:.1f} MiB, end {rss_end / 1024:.1f} MiB, "
        f"max {max(samples) / 1024:.1f} MiB, growth start->end {(rss_end - rss_start) / 1024:+.1f} MiB, "
        f"mean of first half {statistics.mean(samples[:max(half, 1)]) / 1024:.1f} MiB vs second half "
        f"{statistics.mean(samples[half:]) / 1024:.1f} MiB ({len(samples)} samples every 15 s)",
        f"RSS per enterprise (start - boot) / enterprises: {(rss_start - rss_boot) / len(names):.0f} KiB",
        f"reconciles per enterprise: expected ~{expected:.1f}; min {min(vals):.0f}, "
        f"median {statistics.median(vals):.0f}, max {max(vals):.0f}; total {sum(vals):.0f}",
        f"longest gap between two reconciles of one enterprise: max {max(gaps.values(), default=0):.1f} s, "
        f"median {statistics.median(gaps.values()) if gaps else 0:.1f} s (resync {args.resync:g} s)",
        f"reconcile duration: mean {h_sum / max(h_cnt, 1):.3f} s over {h_cnt:.0f} reconciles",
        f"errors: {sum(errors.values()):.0f}",
        f"lost (fewer than 80% of the expected reconciles): {', '.join(lost[:20]) or 'none'}"
        + (f" (+{len(lost) - 20} more)" if len(lost) > 20 else ""),
        f"daemon exit code after SIGTERM: {code}",
    ]
    return lines, not lost and code == 0


def replicas(args: argparse.Namespace) -> tuple[list[str], bool]:
    names, files = fleet(args.enterprises)
    lease = args.lease_seconds
    server = start_server()
    os.environ.update(server.env())  # the bench's own lease-table scans
    reps: list[DaemonProc] = []
    ended: dict[int, float] = {}
    try:
        tmp = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
        specs = write_specs(tmp / "specs", files)
        cmd = ["--specs", str(specs), "--resync", str(args.resync), "--workers", str(args.workers),
               "--lease-table", "leases", "--lease-seconds", str(lease)]
        reps = [DaemonProc(cmd, server.env(), tmp / f"r{i}.log") for i in range(args.replicas)]
        table = LeaseTable("leases", owner="bench")
        t0 = time.monotonic()
        unowned_since: dict[str, float] = {}
        longest: dict[str, float] = defaultdict(float)
        samples: dict[int, list[int]] = {i: [] for i in range(len(reps))}
        scans = 0
        failed_scans: list[float] = []
        all_held_at: float | None = None
        stop = threading.Event()

        def sample() -> None:
            nonlocal scans, all_held_at
            while not stop.wait(2.0):
                now = time.time()
                try:
                    items = table.scan()
                except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                    failed_scans.append(now)  # a loaded endpoint: this scan says nothing, the next may
                    continue
                held = {i["enterprise"] for i in items if not i["enterprise"].startswith(REPLICA_PREFIX)
                        and float(i["expires_at"]) > now}
                scans += 1
                for i, d in enumerate(reps):
                    samples[i].append(rss_kb(d.proc.pid))
                if all_held_at is None:
                    if held >= set(names):
                        all_held_at = now
                    continue
                for n in names:
                    if n in held:
                        if n in unowned_since:
                            longest[n] = max(longest[n], now - unowned_since.pop(n))
                    else:
                        unowned_since.setdefault(n, now)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        wait_for(lambda: {e["enterprise"] for d in reps for e in d.events("reconcile_finished", result="success")}
                 >= set(names), 3600, "every enterprise reconciled once", interval=5)
        first_pass = time.monotonic() - t0
        time.sleep(args.minutes * 60)
        stop.set()
        sampler.join(30)
        now = time.time()
        for n, since in unowned_since.items():
            longest[n] = max(longest[n], now - since)
        recs = [finished_times(d) for d in reps]
        per_rep = [len(r) for r in recs]
        stops: list[str] = []
        for d in reps:  # all at once, as a rollout would: each gets SIGTERM, then up to 60 s
            if d.proc.poll() is None:
                d.proc.send_signal(signal.SIGTERM)
        for i, d in enumerate(reps):
            t = time.monotonic()
            try:
                code = d.stop()
                stops.append(f"r{i} exit {code} in {time.monotonic() - t:.1f} s")
            except subprocess.TimeoutExpired:
                d.kill()
                stops.append(f"r{i} still running 60 s after SIGTERM: killed")
            ended[i] = time.time()
    finally:  # nothing outlives the bench: a replica left running loads the machine for every later run
        for i, d in enumerate(reps):
            if i not in ended:
                try:
                    d.stop()
                except subprocess.TimeoutExpired:
                    d.kill()
                ended[i] = time.time()
        server.stop()
    overlaps = "none"
    try:
        n_leases = assert_no_overlap(reps, ended, "lease_acquired", ("lease_released", "lease_lost"))
    except AssertionError as e:
        overlaps, n_leases = str(e), 0
    worst = max(longest.values(), default=0.0)
    lines = [
        f"# daemon fleet, {len(reps)} replicas: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"enterprises: {len(names)} (one VirtualDatacenter of network type none each), resync {args.resync:g} s, "
        f"{args.workers} workers per replica, lease {lease:g} s, one local moto server",
        f"first pass (boot -> every enterprise reconciled once by some replica): {first_pass:.1f} s; then "
        f"{args.minutes:g} min measured, {scans} scans of the lease table ({len(failed_scans)} failed)",
        "enterprises reconciled per replica (distinct): " + ", ".join(str(c) for c in per_rep),
        f"leases acquired in all: {n_leases}; overlapping leases of two replicas on one enterprise: {overlaps}",
        f"longest time an enterprise had no live lease (after all were held): {worst:.1f} s "
        f"(lease {lease:g} s; {sum(v > 0 for v in longest.values())} enterprises ever unowned)",
        "after SIGTERM: " + "; ".join(stops),
        "RSS per replica (start -> end, max): " + "; ".join(
            f"r{i} {s[0] / 1024:.0f} -> {s[-1] / 1024:.0f} MiB, max {max(s) / 1024:.0f}" for i, s in samples.items() if s),
    ]
    return lines, overlaps == "none" and worst <= lease


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_daemon")
    ap.add_argument("--enterprises", type=int, default=500)
    ap.add_argument("--resync", type=float, default=60.0)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--replicas", type=int, default=1)
    ap.add_argument("--lease-seconds", type=float, default=30.0)
    args, _ = ap.parse_known_args(sys.argv[1:] if argv is None else argv)  # `python -m tests.bench daemon` too
    lines, ok = (replicas if args.replicas > 1 else one_replica)(args)
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    suffix = f"-{args.enterprises}" + (f"-r{args.replicas}" if args.replicas > 1 else "")
    (RESULTS / f"daemon{suffix}.txt").write_text(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

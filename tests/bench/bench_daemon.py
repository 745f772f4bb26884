"""Daemon soak benchmark: 50 enterprises (one `none` VDC each), resync every 10 s, for 10 minutes.

Reports the daemon's RSS at the start (once every enterprise was reconciled once) and at the end
(VmRSS from /proc/PID/status), and that no reconcile was lost: per enterprise, the reconciles counted
in /metrics against the about minutes*60/10 resyncs expected.

    python -m tests.bench.bench_daemon [--minutes N]     (default 10)
    make bench                                           (every benchmark, 10 minutes for this one)

Results go to tests/bench/results/daemon.txt.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.awsserver import start_server
from tests.helpers import enterprise_doc, write_specs
from tests.test_daemon import DaemonProc, vdc_doc, wait_for

RESULTS = Path(__file__).parent / "results"
ENTERPRISES = 50
RESYNC = 10.0


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def per_enterprise(d: DaemonProc, metric: str, **labels: str) -> dict[str, float]:
    out: dict[str, float] = {}
    want = set(labels.items())
    for (name, ls), v in d.metrics().items():
        lab = dict(ls)
        if name == metric and want <= set(ls) and "enterprise" in lab:
            out[lab["enterprise"]] = out.get(lab["enterprise"], 0) + v
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_daemon")
    ap.add_argument("--minutes", type=float, default=10.0)
    args, _ = ap.parse_known_args(sys.argv[1:] if argv is None else argv)  # `python -m tests.bench daemon` too
    names = [f"b{i:02d}" for i in range(1, ENTERPRISES + 1)]
    server = start_server()
    lines: list[str] = []
    try:
        tmp = Path(tempfile.mkdtemp(prefix="bench-daemon-"))
        specs = write_specs(tmp / "specs", {f"{n}.yaml": enterprise_doc(n, f"2000000000{n[1:]}") + "---\n"
                                            + vdc_doc("web", n) for n in names})
        d = DaemonProc(["--specs", str(specs), "--resync", str(RESYNC), "--workers", "4"], server.env(),
                       tmp / "daemon.log")
        pid = d.proc.pid
        rss_boot = rss_kb(pid)
        t0 = time.monotonic()
        wait_for(lambda: len(per_enterprise(d, "controller_reconciles_total", result="success")) == ENTERPRISES,
                 600, "every enterprise reconciled once", interval=1)
        first_pass = time.monotonic() - t0
        rss_start = rss_kb(pid)
        base = per_enterprise(d, "controller_reconciles_total")
        started = time.monotonic()
        samples = [rss_start]
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(min(15.0, max(0.1, args.minutes * 60 - (time.monotonic() - started))))
            samples.append(rss_kb(pid))
        elapsed = time.monotonic() - started
        rss_end = rss_kb(pid)
        total = per_enterprise(d, "controller_reconciles_total")
        errors = per_enterprise(d, "controller_reconciles_total", result="error")
        counts = {n: total.get(n, 0) - base.get(n, 0) for n in names}
        expected = elapsed / RESYNC
        lost = [n for n, c in counts.items() if c < expected * 0.8]
        dur = d.metrics()
        h_sum = sum(v for (n, _), v in dur.items() if n == "controller_reconcile_duration_seconds_sum")
        h_cnt = sum(v for (n, _), v in dur.items() if n == "controller_reconcile_duration_seconds_count")
        code = d.stop()
        vals = list(counts.values())
        lines = [
            f"# daemon soak: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
            f"enterprises: {ENTERPRISES} (one VirtualDatacenter of network type none each), resync {RESYNC:.0f} s "
            f"(±10% jitter), 4 workers, local moto server",
            f"duration: {elapsed / 60:.1f} min measured (after the first pass), --minutes {args.minutes:g}",
            f"first pass (boot -> every enterprise reconciled once): {first_pass:.1f} s",
            f"RSS: at boot {rss_boot / 1024:.1f} MiB, start {rss_start / 1024:.1f} MiB, end {rss_end / 1024:.1f} MiB, "
            f"max {max(samples) / 1024:.1f} MiB, growth start->end {(rss_end - rss_start) / 1024:+.1f} MiB",
            f"reconciles per enterprise: expected ~{expected:.1f}; min {min(vals):.0f}, "
            f"median {statistics.median(vals):.0f}, max {max(vals):.0f}; total {sum(vals):.0f}",
            f"reconcile duration: mean {h_sum / max(h_cnt, 1):.3f} s over {h_cnt:.0f} reconciles",
            f"errors: {sum(errors.values()):.0f}",
            f"lost (fewer than 80% of the expected reconciles): {', '.join(lost) or 'none'}",
            f"daemon exit code after SIGTERM: {code}",
        ]
    finally:
        server.stop()
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "daemon.txt").write_text(text)
    return 0 if lines and not lost and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

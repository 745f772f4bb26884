"""Dashboard benchmark: render GET / and GET /enterprises/E for a fleet of 500 enterprises.

The daemon's recorded state is built in process (tests/test_dashboard_render.py's fleet: a tree of 500
enterprises, each with a VDC and a firewall, a last plan, an apply, events; 50 with drift, 20 failed,
10 suspended). Times the page functions (what the HTTP handler calls), median and max of 20 runs.

    python -m tests.bench.bench_dashboard

Results go to tests/bench/results/dashboard.txt.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from controller.daemon.dashboard import enterprise_page, index_page
from tests.test_dashboard_render import fleet

RESULTS = Path(__file__).parent / "results"
FLEET = 500
RUNS = 20


def timed(fn, runs: int = RUNS) -> tuple[float, float, int]:
    times, size = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        size = len(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times), max(times), size


def main(argv: list[str] | None = None) -> int:
    d = fleet(Path(tempfile.mkdtemp(prefix="bench-dashboard-")) / "specs", FLEET)
    cases = {
        "GET / (500 rows)": lambda: index_page(d, {}),
        "GET /?status=Failed": lambda: index_page(d, {"status": ["Failed"]}),
        "GET /?sort=status&desc=1": lambda: index_page(d, {"sort": ["status"], "desc": ["1"]}),
        "GET /enterprises/e003 (drift)": lambda: enterprise_page(d, "e003", {}) or "",
    }
    lines = [f"# dashboard, {FLEET} enterprises, {RUNS} runs each, {dt.date.today().isoformat()}"]
    for what, fn in cases.items():
        med, worst, size = timed(fn)
        lines.append(f"{what}: median {med * 1000:.1f} ms, max {worst * 1000:.1f} ms, {size / 1024:.0f} KiB")
    print("\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dashboard.txt").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run the benchmarks: every ``bench_*.py`` module's ``main()``, or those whose name contains an argument.

    python -m tests.bench            # all
    python -m tests.bench validate   # bench_validate.py only
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    names = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    wanted = [n for n in names if not argv or any(a in n for a in argv)]
    if not wanted:
        print(f"no benchmark matches {' '.join(argv)!r}; known: {', '.join(names)}", file=sys.stderr)
        return 1
    status = 0
    for name in wanted:
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"tests.bench.{name}")
        status = max(status, int(module.main() or 0))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

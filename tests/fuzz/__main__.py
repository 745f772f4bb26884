"""`python -m tests.fuzz [CAMPAIGN ...]`: run every campaign module in this package (or the named ones)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = [m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_")]
    chosen = [a for a in argv if not a.startswith("-")] or names
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        print(f"unknown campaign(s): {', '.join(unknown)} (known: {', '.join(names) or 'none'})", file=sys.stderr)
        return 64
    rc = 0
    for name in chosen:
        print(f"== fuzz campaign {name}", flush=True)
        rc |= int(importlib.import_module(f"tests.fuzz.{name}").main([a for a in argv if a.startswith("-")]))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

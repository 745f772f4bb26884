"""Cost hints from a small, dated, offline price table (prices.json: its `_date`, `_source` and
`_assumptions` say where the numbers come from and what they leave out). Estimates, never a bill.
A region missing from the table uses the fallback region's prices (the hint says so).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any


@cache
def table() -> dict[str, Any]:
    return json.loads((Path(__file__).parent / "prices.json").read_text())


def _region(region: str) -> dict[str, Any]:
    t = table()
    return t["regions"].get(region) or t["regions"][t["fallback_region"]]


def monthly(what: str, region: str, size_gib: float = 0, volume_type: str = "gp3", instance_class: str = "",
            multi_az: bool = False) -> float:
    """Estimated USD per month: `eip` (idle), `nat` (hours only, 0 GB processed), `ebs` (size x type),
    `rds` (the class's hours, twice for multi-AZ, plus storage; storage only for a class the table lacks)."""
    t, r = table(), _region(region)
    hours = t["hours_per_month"]
    if what == "eip":
        return round(r["eip_idle_hour"] * hours, 2)
    if what == "nat":
        return round(r["nat_hour"] * hours, 2)
    if what == "ebs":
        per_gb = r["ebs_gb_month"].get(volume_type, r["ebs_gb_month"]["gp3"])
        return round(per_gb * size_gib, 2)
    if what == "rds":
        hour = r["rds_hour"].get(instance_class, 0.0)
        per_gb = r["rds_gb_month"].get(volume_type, r["rds_gb_month"]["gp3"])
        return round(hour * hours * (2 if multi_az else 1) + per_gb * size_gib * (2 if multi_az else 1), 2)
    raise ValueError(f"unknown priced item {what!r}")


def note() -> str:
    t = table()
    return f"prices of {t['_date']} (controller/pricing/prices.json), NAT without traffic: estimates"


def priced_class(region: str, instance_class: str) -> bool:
    return instance_class in _region(region)["rds_hour"]

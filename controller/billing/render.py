"""Render a Report as a table (people), JSON or CSV (machines). Money in JSON/CSV is a string."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from controller.billing.money import fmt, plain
from controller.billing.report import Bill, BudgetStatus, Report


class _Titles(dict[str, str]):
    def __missing__(self, by: str) -> str:  # tag:KEY
        return f"TAG {by.removeprefix('tag:')}"


BY_TITLE = _Titles({"service": "SERVICE", "vdc": "VDC", "vm": "VM", "account": "ACCOUNT"})


def _origin(report: Report, b: Bill) -> str:
    parts = []
    if b.customers:
        parts.append("reseller")
    if b.organization:
        parts.append(f"organization {b.organization}")
    if b.reseller:
        parts.append(f"customer of {b.reseller}")
    parts.append(f"discount {b.discount.normalize():f}%")
    if b.source is None:
        parts.append("no billing report")
    elif b.source.enterprise == b.name:
        parts.append(b.source.url)
    else:
        parts.append(f"from {b.source.enterprise}'s report")
    return " · ".join(parts)


def _budget_line(report: Report, s: BudgetStatus) -> str:
    crossed = ", ".join(f"{t}%" for t in s.crossed) or "none"
    fc = [t for t in s.forecast_crossed if t not in s.crossed]
    ahead = f"; forecast crosses {', '.join(f'{t}%' for t in fc)}" if fc else ""
    return (f"budget {s.name}: spend {fmt(s.spend)} of {fmt(s.limit)} ({s.percent}%), forecast {fmt(s.forecast)}; "
            f"crossed: {crossed}{ahead}")


def table(report: Report) -> str:
    out: list[str] = []
    seen = (f"data to {report.month:%Y-%m}-{report.days_seen:02d} ({report.days_seen} of {report.days_in_month} "
            "days)") if report.days_seen else "no data for the month"
    out.append(f"Billing {report.month:%Y-%m} · {report.currency} · by {report.by} · {seen}")
    for depth, b in report.walk():
        pad = "  " * depth
        out.append("")
        out.append(f"{pad}{b.name}  ({_origin(report, b)})")
        rows = b.rows(report.by)
        width = max([len(BY_TITLE[report.by]), 14, *(len(k) for k, _, _ in rows),
                     *(len("customer " + c) for c in b.customers)])
        out.append(f"{pad}  {BY_TITLE[report.by]:<{width}}  {'COST':>14}  {'CHARGE':>14}")
        for key, cost, charge in rows:
            out.append(f"{pad}  {key:<{width}}  {fmt(cost):>14}  {fmt(charge):>14}")
        label = "own bill" if b.customers else "bill"
        out.append(f"{pad}  {label:<{width}}  {fmt(b.cost):>14}  {fmt(b.charge):>14}")
        if b.customers:
            for c in b.customers:
                cb = report.bills[c]
                out.append(f"{pad}  {'customer ' + c:<{width}}  {fmt(cb.total_cost):>14}  {fmt(cb.total):>14}")
            out.append(f"{pad}  {'total':<{width}}  {fmt(b.total_cost):>14}  {fmt(b.total):>14}")
        for s in b.budgets:
            out.append(f"{pad}  {_budget_line(report, s)}")
    for n in report.notes:
        out.append(f"note: {n}")
    return "\n".join(out) + "\n"


def to_dict(report: Report) -> dict[str, Any]:
    def bill(b: Bill) -> dict[str, Any]:
        return {
            "name": b.name,
            "reseller": b.reseller,
            "organization": b.organization,
            "account": b.account,
            "discount": f"{b.discount.normalize():f}",
            "source": b.source.url if b.source else None,
            "customers": b.customers,
            "cost": plain(b.cost),
            "charge": plain(b.charge),
            "totalCost": plain(b.total_cost),
            "total": plain(b.total),
            "rows": [{"key": k, "cost": plain(c), "charge": plain(ch)} for k, c, ch in b.rows(report.by)],
            "daily": {d: plain(v) for d, v in b.daily_total.items()},
            "budgets": [{
                "name": s.name, "limit": plain(s.limit), "alertAt": s.alert_at, "spend": plain(s.spend),
                "percent": int(s.percent), "forecast": plain(s.forecast), "crossed": s.crossed,
                "forecastCrossed": s.forecast_crossed, "over": bool(s.over),
            } for s in b.budgets],
        }

    return {
        "month": f"{report.month:%Y-%m}",
        "currency": report.currency,
        "by": report.by,
        "daysSeen": report.days_seen,
        "daysInMonth": report.days_in_month,
        "lines": report.lines,
        "roots": report.roots,
        "enterprises": [bill(b) for _, b in report.walk()],
        "notes": report.notes,
    }


def to_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2) + "\n"


CSV_COLUMNS = ["month", "enterprise", "reseller", "by", "key", "cost", "charge"]


def to_csv(report: Report) -> str:
    """One row per group of each bill; then `(bill)` (its own lines) and, for a reseller, one
    `(customer NAME)` row per customer and `(total)`."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    month = f"{report.month:%Y-%m}"
    for _, b in report.walk():
        base = [month, b.name, b.reseller or "", report.by]
        for k, c, ch in b.rows(report.by):
            w.writerow([*base, k, plain(c), plain(ch)])
        w.writerow([*base, "(bill)", plain(b.cost), plain(b.charge)])
        if b.customers:
            for name in b.customers:
                cb = report.bills[name]
                w.writerow([*base, f"(customer {name})", plain(cb.total_cost), plain(cb.total)])
            w.writerow([*base, "(total)", plain(b.total_cost), plain(b.total)])
    return buf.getvalue()


def budget_verdict(report: Report) -> list[str]:
    """The lines `--check` prints: each budget over a threshold of 100 % or more."""
    return [f"over budget: enterprise {b.name!r} budget {s.name!r}: spend {fmt(s.spend)} of {fmt(s.limit)} "
            f"({s.percent}%), crossed {', '.join(f'{t}%' for t in s.over)}"
            for b, s in report.over_budget()]

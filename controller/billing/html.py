"""One self-contained HTML file: inline CSS and inline SVG charts, no script, no network.

Per enterprise: the bill (by the chosen dimension), its customers, and four charts drawn from the
data: charge per day, per service, per VDC, and the month's cumulative spend against its budgets.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from html import escape

from controller.billing.money import ZERO, fmt
from controller.billing.render import BY_TITLE, _origin
from controller.billing.report import Bill, Report

PALETTE = ["#3b6ea8", "#e07b39", "#4c9a5b", "#b84a62", "#7d5ba6", "#c2a33e", "#3c9aa5", "#8c6d4f"]

CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 -apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f4f6f9;color:#1d2533}
header{background:#1d2b45;color:#fff;padding:20px 32px}
header h1{margin:0;font-size:22px;font-weight:600}
header p{margin:4px 0 0;color:#b9c4d8}
main{padding:16px 32px 40px;max-width:1280px}
section.ent{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);margin:18px 0;padding:18px 22px}
section.ent.depth1{margin-left:28px}section.ent.depth2{margin-left:56px}section.ent.depth3{margin-left:84px}
h2{margin:0;font-size:18px}h3{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:#5b6778;margin:14px 0 6px}
.origin{color:#5b6778;margin:2px 0 12px}
.kpis{display:flex;gap:14px;flex-wrap:wrap;margin:8px 0 4px}
.kpi{background:#f4f6f9;border-radius:6px;padding:8px 14px;min-width:150px}
.kpi b{display:block;font-size:20px;font-variant-numeric:tabular-nums}
.kpi span{color:#5b6778;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:12px 28px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid #e6e9ef;text-align:left}
th{font-size:12px;color:#5b6778;font-weight:600}
td.n,th.n{text-align:right}
tr.sum td{font-weight:600;border-top:2px solid #c9cfd9}
.ok{color:#2f7d45}.warn{color:#b7791f}.over{color:#c0392b;font-weight:600}
svg text{font-family:inherit;fill:#3a4556}
.notes{color:#5b6778}
"""


def _svg(width: int, height: int, body: str, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(title)}"><title>{escape(title)}</title>{body}</svg>')


def _nice_max(v: Decimal) -> float:
    x = float(v)
    if x <= 0:
        return 1.0
    mag = 10 ** (len(str(int(x))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if step * mag >= x:
            return float(step * mag)
    return float(10 * mag)


def daily_chart(report: Report, b: Bill) -> str:
    w, h, left, bottom, top = 560, 220, 56, 28, 12
    days = report.days_in_month
    values = [b.daily_total.get(f"{report.month:%Y-%m}-{d:02d}", ZERO) for d in range(1, days + 1)]
    vmax = _nice_max(max(values, default=ZERO))
    plot_w, plot_h = w - left - 8, h - top - bottom
    bw = plot_w / days
    parts = _y_axis(left, top, plot_w, plot_h, vmax)
    for i, v in enumerate(values):
        bh = max(0.0, float(v) / vmax * plot_h)
        x = left + i * bw
        parts.append(f'<rect x="{x + 1:.1f}" y="{top + plot_h - bh:.1f}" width="{max(bw - 2, 1):.1f}" '
                     f'height="{bh:.1f}" fill="{PALETTE[0]}"><title>{report.month:%Y-%m}-{i + 1:02d}: '
                     f'{fmt(v)}</title></rect>')
        if (i + 1) in (1, 5, 10, 15, 20, 25, days):
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{h - 10}" font-size="11" text-anchor="middle">{i + 1}</text>')
    return _svg(w, h, "".join(parts), f"{b.name}: charge per day")


def _y_axis(left: int, top: int, plot_w: float, plot_h: float, vmax: float) -> list[str]:
    parts = []
    for i in range(5):
        v = vmax * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e6e9ef"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{v:,.0f}</text>')
    return parts


def bar_chart(rows: list[tuple[str, Decimal, Decimal]], title: str, limit: int = 8) -> str:
    rows = [r for r in rows if r[2] > 0]
    if len(rows) > limit:
        rest = sum((r[2] for r in rows[limit - 1:]), ZERO)
        rows = [*rows[:limit - 1], (f"{len(rows) - limit + 1} more", ZERO, rest)]
    w, row_h, label_w = 560, 26, 190
    h = max(1, len(rows)) * row_h + 8
    vmax = max((float(r[2]) for r in rows), default=1.0) or 1.0
    parts = []
    if not rows:
        parts.append(f'<text x="{label_w}" y="18" font-size="12">no charges</text>')
    for i, (key, _, charge) in enumerate(rows):
        y = 4 + i * row_h
        bw = float(charge) / vmax * (w - label_w - 90)
        label = key if len(key) <= 28 else "…" + key[-27:]
        parts.append(f'<text x="{label_w - 8}" y="{y + 16}" font-size="12" text-anchor="end">{escape(label)}'
                     f'<title>{escape(key)}</title></text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{max(bw, 1):.1f}" height="{row_h - 8}" rx="3" '
                     f'fill="{PALETTE[(i + 1) % len(PALETTE)]}"/>')
        parts.append(f'<text x="{label_w + bw + 6:.1f}" y="{y + 16}" font-size="12">{fmt(charge)}</text>')
    return _svg(w, h, "".join(parts), title)


def budget_chart(report: Report, b: Bill) -> str:
    w, h, left, bottom, top = 560, 220, 56, 28, 12
    days = report.days_in_month
    cum, run = [], ZERO
    for d in range(1, (report.days_seen or 0) + 1):
        run += b.daily_total.get(f"{report.month:%Y-%m}-{d:02d}", ZERO)
        cum.append(run)
    lines = [(s.name, s.limit * t / 100, t) for s in b.budgets for t in s.alert_at]
    forecast = max((s.forecast for s in b.budgets), default=run)
    vmax = _nice_max(max([run, forecast, *(v for _, v, _ in lines)], default=ZERO) * Decimal("1.05"))
    plot_w, plot_h = w - left - 8, h - top - bottom
    parts = _y_axis(left, top, plot_w, plot_h, vmax)

    def xy(day: float, v: Decimal | float) -> str:
        return f"{left + plot_w * day / days:.1f},{top + plot_h - float(v) / vmax * plot_h:.1f}"

    labelled: list[float] = []
    for name, v, t in sorted(lines, key=lambda x: -x[1]):
        y = top + plot_h - float(v) / vmax * plot_h
        color = "#c0392b" if t >= 100 else "#b7791f"
        label = f"{escape(name)} {t}% ({fmt(v)})"
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="{color}" '
                     f'stroke-dasharray="{"0" if t >= 100 else "4 3"}" stroke-width="1.2"><title>{label}</title>'
                     "</line>")
        if all(abs(y - other) >= 11 for other in labelled):  # no label over another
            labelled.append(y)
            parts.append(f'<text x="{left + 4}" y="{y - 3:.1f}" font-size="10" fill="{color}">{label}</text>')
    if cum:
        pts = " ".join([xy(0, 0), *(xy(d + 1, v) for d, v in enumerate(cum))])
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{PALETTE[0]}" stroke-width="2.5"/>')
        parts.append(f'<polyline points="{xy(len(cum), run)} {xy(days, forecast)}" fill="none" '
                     f'stroke="{PALETTE[0]}" stroke-width="2" stroke-dasharray="6 4" opacity=".7"/>')
    for d in (1, 5, 10, 15, 20, 25, days):
        parts.append(f'<text x="{left + plot_w * d / days:.1f}" y="{h - 10}" font-size="11" '
                     f'text-anchor="middle">{d}</text>')
    return _svg(w, h, "".join(parts), f"{b.name}: cumulative spend, forecast and budgets")


def _rows_table(report: Report, b: Bill) -> str:
    head = (f'<tr><th>{BY_TITLE[report.by].title()}</th><th class="n">Cost</th>'
            f'<th class="n">Charge</th></tr>')
    body = "".join(f'<tr><td>{escape(k)}</td><td class="n">{fmt(c)}</td><td class="n">{fmt(ch)}</td></tr>'
                   for k, c, ch in b.rows(report.by))
    body += (f'<tr class="sum"><td>{"own bill" if b.customers else "bill"}</td><td class="n">{fmt(b.cost)}</td>'
             f'<td class="n">{fmt(b.charge)}</td></tr>')
    for c in b.customers:
        cb = report.bills[c]
        body += (f'<tr><td>customer <a href="#ent-{escape(c)}">{escape(c)}</a></td>'
                 f'<td class="n">{fmt(cb.total_cost)}</td><td class="n">{fmt(cb.total)}</td></tr>')
    if b.customers:
        body += (f'<tr class="sum"><td>total</td><td class="n">{fmt(b.total_cost)}</td>'
                 f'<td class="n">{fmt(b.total)}</td></tr>')
    return f"<table>{head}{body}</table>"


def _budgets_table(b: Bill) -> str:
    if not b.budgets:
        return ""
    rows = []
    for s in b.budgets:
        cls = "over" if s.over else ("warn" if s.crossed else "ok")
        crossed = ", ".join(f"{t}%" for t in s.crossed) or "none"
        rows.append(f'<tr><td>{escape(s.name)}</td><td class="n">{fmt(s.limit)}</td><td class="n">{fmt(s.spend)}</td>'
                    f'<td class="n">{s.percent}%</td><td class="n">{fmt(s.forecast)}</td>'
                    f'<td class="{cls}">{crossed}</td></tr>')
    return ('<h3>Budgets</h3><table><tr><th>Budget</th><th class="n">Limit</th><th class="n">Spend</th>'
            '<th class="n">Used</th><th class="n">Forecast</th><th>Crossed</th></tr>' + "".join(rows) + "</table>")


def _section(report: Report, depth: int, b: Bill) -> str:
    over = any(s.over for s in b.budgets)
    kpis = [("Charge" if not b.customers else "Total charge", fmt(b.total)),
            ("AWS cost", fmt(b.total_cost)), ("Discount", f"{b.discount.normalize():f}%")]
    if b.budgets:
        f = max(s.forecast for s in b.budgets)
        kpis.append(("Forecast", fmt(f)))
    kpi_html = "".join(f'<div class="kpi"><b{" class=over" if over and i == 0 else ""}>{v}</b>'
                       f'<span>{escape(k)} ({escape(report.currency)})</span></div>' if k != "Discount" else
                       f'<div class="kpi"><b>{v}</b><span>{k}</span></div>' for i, (k, v) in enumerate(kpis))
    charts = [("Charge per day", daily_chart(report, b)),
              ("Per service", bar_chart(b.rows("service"), f"{b.name}: charge per service")),
              ("Per VDC", bar_chart(b.rows("vdc"), f"{b.name}: charge per VDC"))]
    if b.budgets:
        charts.append(("Budgets: cumulative spend and forecast", budget_chart(report, b)))
    chart_html = "".join(f"<div><h3>{escape(t)}</h3>{svg}</div>" for t, svg in charts)
    return (f'<section class="ent depth{min(depth, 3)}" id="ent-{escape(b.name)}"><h2>{escape(b.name)}</h2>'
            f'<p class="origin">{escape(_origin(report, b))}</p><div class="kpis">{kpi_html}</div>'
            f'<div class="grid"><div><h3>Bill by {escape(report.by)}</h3>{_rows_table(report, b)}'
            f'{_budgets_table(b)}</div>{chart_html}</div></section>')


def to_html(report: Report, generated: date | None = None) -> str:
    seen = (f"data to day {report.days_seen} of {report.days_in_month}" if report.days_seen
            else "no data for the month yet")
    sections = "".join(_section(report, d, b) for d, b in report.walk())
    notes = "".join(f"<li>{escape(n)}</li>" for n in report.notes)
    gen = f" · generated {generated:%Y-%m-%d}" if generated else ""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width,initial-scale=1"><title>Billing {report.month:%Y-%m}</title>'
            f"<style>{CSS}</style></head><body><header><h1>Billing {report.month:%Y-%m}</h1>"
            f"<p>{escape(report.currency)} · {report.lines:,} report lines · {seen}{gen}</p></header><main>"
            f"{sections}" + (f'<ul class="notes">{notes}</ul>' if notes else "") + "</main></body></html>\n")

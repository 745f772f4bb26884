"""From CUR cells to bills: attribution, the reseller hierarchy, discounts and budgets.

Attribution of one line read from the report of enterprise S:

1. the owner is the enterprise whose ``account`` equals ``lineItem/UsageAccountId``; else the
   enterprise named by the ``controller:enterprise`` tag (or the first part of the
   ``controller:address`` tag) when it is S or one of S's customers; else S itself.
2. an enterprise's lines come from one report only, so nothing is counted twice: its own report when
   it has billing settings, else the report of its nearest reseller that has. A line whose owner is
   billed from another report is skipped here (and counted in the notes).
3. inside the owner's bill: VDC and VM come from the address tag (``acme/web/VirtualMachine/web-1``);
   an untagged line takes the address of another line of the same ``lineItem/ResourceId`` that
   carries it; otherwise it goes to "(untagged)".

Each enterprise's own lines are discounted by its own ``billing.discount``. A reseller's total is
its own bill plus its customers' totals (recursively); a customer gets one bill.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from controller.billing import NO_VDC, NOT_A_VM, TAG_DIMENSION, UNTAGGED
from controller.billing.cur import Cells, Source
from controller.billing.money import ZERO, allocate, cents, discounted
from controller.spec.models import Resource


@dataclass
class BudgetStatus:
    name: str
    limit: Decimal
    alert_at: list[int]
    spend: Decimal  # cents
    forecast: Decimal  # cents
    crossed: list[int]  # thresholds crossed by actual spend
    forecast_crossed: list[int]  # thresholds the forecast crosses

    @property
    def percent(self) -> Decimal:
        return (self.spend * 100 / self.limit).quantize(Decimal(1)) if self.limit else ZERO

    @property
    def over(self) -> list[int]:
        """Crossed thresholds of 100 % or more: what `--check` fails on."""
        return [t for t in self.crossed if t >= 100]


@dataclass
class Bill:
    """One enterprise's month."""

    name: str
    reseller: str | None
    organization: str | None
    account: str | None
    discount: Decimal
    source: Source | None
    customers: list[str] = field(default_factory=list)
    lines: int = 0
    cost: Decimal = ZERO  # exact, before discount: the AWS list cost of its own lines
    groups: dict[str, dict[str, Decimal]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(Decimal)))
    daily: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))  # exact cost per day
    # filled by Report.finish
    charge: Decimal = ZERO  # cents: its own lines after discount (its bill before customers)
    total: Decimal = ZERO  # cents: charge + the customers' totals
    total_cost: Decimal = ZERO  # exact: cost + the customers' total costs
    daily_total: dict[str, Decimal] = field(default_factory=dict)  # exact charge per day, customers included
    budgets: list[BudgetStatus] = field(default_factory=list)
    budget_specs: list[Any] = field(default_factory=list, repr=False)

    def rows(self, by: str) -> list[tuple[str, Decimal, Decimal]]:
        """(key, cost, charge) per group, both rounded so that they add up to the bill exactly."""
        exact = dict(self.groups.get(by, {}))
        cost = allocate(exact, cents(self.cost))
        charge = allocate({k: discounted(v, self.discount) for k, v in exact.items()}, self.charge)
        return sorted(((k, cost[k], charge[k]) for k in exact), key=lambda r: (-r[2], r[0]))


@dataclass
class Report:
    month: date
    by: str
    bills: dict[str, Bill]
    roots: list[str]  # the top of each hierarchy shown, in order
    currency: str = "USD"
    days_seen: int = 0
    lines: int = 0
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def days_in_month(self) -> int:
        return calendar.monthrange(self.month.year, self.month.month)[1]

    def walk(self) -> list[tuple[int, Bill]]:
        """Every bill shown, depth first: (depth, bill)."""
        out: list[tuple[int, Bill]] = []

        def visit(name: str, depth: int) -> None:
            out.append((depth, self.bills[name]))
            for c in self.bills[name].customers:
                visit(c, depth + 1)

        for r in self.roots:
            visit(r, 0)
        return out

    def over_budget(self) -> list[tuple[Bill, BudgetStatus]]:
        return [(b, s) for _, b in self.walk() for s in b.budgets if s.over]


# ------------------------------------------------------------------------------------------------
# The hierarchy


class Estate:
    """The enterprises of a spec tree as a billing hierarchy."""

    def __init__(self, enterprises: list[Resource]):
        self.ents: dict[str, Resource] = {e.name: e for e in enterprises}
        self.children: dict[str, list[str]] = defaultdict(list)
        for e in sorted(self.ents):
            parent = self.ents[e].spec.reseller
            if parent in self.ents and parent != e:
                self.children[parent].append(e)
        self.by_account = {e.spec.account: n for n, e in self.ents.items() if e.spec.account}
        own = {n: s for n in self.ents if (s := self._settings(n)) is not None}
        # Enterprises whose settings name the same export share it: it is read once, as the report of
        # the highest of them in the hierarchy (with that enterprise's billing credentials).
        canonical: dict[tuple[str, str, str], Source] = {}
        for n in sorted(own, key=lambda n: (len(self.ancestors(n)), n)):
            canonical.setdefault(own[n].key, own[n])
        self.own_source = {n: canonical[s.key] for n, s in own.items()}

    def _settings(self, name: str) -> Source | None:
        spec = self.ents[name].spec
        b = spec.billing
        if b is None or not b.bucket or not b.report_name:
            return None
        return Source(enterprise=name, bucket=b.bucket, region=b.bucket_region or spec.regions[0],
                      prefix=b.bucket_prefix, report_name=b.report_name, compress_format=b.compress_format)

    def ancestors(self, name: str) -> list[str]:
        out: list[str] = []
        cur = self.ents[name].spec.reseller
        while cur in self.ents and cur not in out and cur != name:
            out.append(cur)
            cur = self.ents[cur].spec.reseller
        return out

    def subtree(self, name: str) -> list[str]:
        out: list[str] = []
        todo = [name]
        while todo:
            n = todo.pop(0)
            if n in out:
                continue
            out.append(n)
            todo.extend(self.children.get(n, []))
        return out

    def roots(self) -> list[str]:
        return [n for n in sorted(self.ents) if not self.ancestors(n)]

    def source_of(self, name: str) -> Source | None:
        """The report an enterprise's lines come from: its own, else its nearest reseller's."""
        for n in [name, *self.ancestors(name)]:
            if n in self.own_source:
                return self.own_source[n]
        return None


# ------------------------------------------------------------------------------------------------
# Building the report


def build(estate: Estate, selected: list[str], roots: list[str], month: date, by: str,
          read: dict[tuple[str, str, str], tuple[Source, Cells]]) -> Report:
    """Attribute the cells read from each source to the selected enterprises' bills."""
    bills = {n: _bill(estate, n, selected) for n in selected}
    report = Report(month=month, by=by, bills=bills, roots=roots)
    prefix = f"{month:%Y-%m}-"
    skipped: dict[tuple[str, str], int] = defaultdict(int)
    currencies: set[str] = set()
    for skey, (src, data) in read.items():
        report.lines += data.lines
        report.files += data.files
        if data.currency:
            currencies.add(data.currency)
        holders = {n for n, s in estate.own_source.items() if s.key == skey}
        home = src.enterprise
        family = set(estate.subtree(home))
        for (day, product, account, ent_tag, addr, rid, tag), cost in data.cells.items():
            in_month = day.startswith(prefix)
            if in_month:  # how far the reports read go, whoever the line belongs to
                report.days_seen = max(report.days_seen, int(day[8:10]))
            if not addr and rid:
                addr = data.resource_address.get(rid, "")
            if not ent_tag and addr:
                ent_tag = addr.split("/", 1)[0]
            owner = estate.by_account.get(account)
            if owner is None:
                owner = ent_tag if ent_tag in family else home
            owner_src = estate.source_of(owner)
            if owner not in holders and owner_src is not None and owner_src.key != skey:
                skipped[(owner, owner_src.url)] += 1
                continue
            bill = bills.get(owner)
            if bill is None:
                continue  # not selected
            bill.cost += cost
            if in_month:
                bill.daily[day] += cost
            g = bill.groups
            g["service"][product or "(none)"] += cost
            g["account"][account or "(none)"] += cost
            vdc, vm = _place(addr)
            g["vdc"][vdc] += cost
            g["vm"][vm] += cost
            if by.startswith(TAG_DIMENSION):
                g[by][tag or UNTAGGED] += cost
    for (owner, url), n in sorted(skipped.items()):
        report.notes.append(f"{n} cell(s) of enterprise {owner!r} skipped in another report: it is billed "
                            f"from its own report {url}")
    if len(currencies) > 1:
        report.notes.append(f"the reports mix currencies ({', '.join(sorted(currencies))}); amounts are summed "
                            "as they are")
    report.currency = sorted(currencies)[0] if currencies else "USD"
    for r in roots:
        _finish(report, r)
    return report


def _bill(estate: Estate, name: str, selected: list[str]) -> Bill:
    spec = estate.ents[name].spec
    return Bill(name=name, reseller=spec.reseller, organization=spec.organization, account=spec.account,
                discount=Decimal(spec.billing.discount) if spec.billing else ZERO, source=estate.source_of(name),
                customers=[c for c in estate.children.get(name, []) if c in selected],
                budget_specs=list(spec.budgets))


def _place(addr: str) -> tuple[str, str]:
    """(vdc, vm) of an address tag."""
    if not addr:
        return UNTAGGED, UNTAGGED
    parts = addr.split("/")
    vdc = parts[1] if len(parts) >= 4 else NO_VDC
    vm = addr if len(parts) >= 3 and parts[-2] == "VirtualMachine" else NOT_A_VM
    return vdc, vm


def _finish(report: Report, name: str) -> None:
    b = report.bills[name]
    for c in b.customers:
        _finish(report, c)
    b.charge = cents(discounted(b.cost, b.discount))
    b.total = b.charge + sum((report.bills[c].total for c in b.customers), ZERO)
    b.total_cost = b.cost + sum((report.bills[c].total_cost for c in b.customers), ZERO)
    daily: dict[str, Decimal] = defaultdict(Decimal)
    for day, v in b.daily.items():
        daily[day] += discounted(v, b.discount)
    for c in b.customers:
        for day, v in report.bills[c].daily_total.items():
            daily[day] += v
    b.daily_total = dict(sorted(daily.items()))
    b.budgets = [_budget(report, b, bud) for bud in b.budget_specs]


def _budget(report: Report, bill: Bill, budget: Any) -> BudgetStatus:
    spend = bill.total
    days = report.days_seen
    forecast = cents(spend * report.days_in_month / days) if days else spend
    limit = Decimal(budget.monthly_limit)
    thresholds = sorted(set(budget.alert_at))
    crossed = [t for t in thresholds if spend * 100 >= limit * t]
    fcrossed = [t for t in thresholds if forecast * 100 >= limit * t]
    return BudgetStatus(name=budget.name, limit=limit, alert_at=thresholds, spend=spend, forecast=forecast,
                        crossed=crossed, forecast_crossed=fcrossed)

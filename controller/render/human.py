"""Terraform-like text: `+ ~ -/+ -` per object, field-level before -> after, a summary line."""

from __future__ import annotations

import json
import threading
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from controller.engine.apply import Outcome, Report
from controller.engine.diff import Change
from controller.engine.plan import SYMBOLS, Plan

STYLE = {"create": "green", "update": "yellow", "replace": "magenta", "delete": "red", "adopt": "cyan",
         "no-op": "dim"}


def console(stderr: bool = False) -> Console:
    return Console(highlight=False, stderr=stderr, soft_wrap=True)


def _value(v: Any) -> str:
    if isinstance(v, str):
        return v
    return json.dumps(v, sort_keys=True, default=str, ensure_ascii=False)


def field_rows(ch: Change) -> list[tuple[str, str, bool]]:
    """A change's fields as rows (what, text, forces replacement), for every plan view: what is `set`
    (a create's value, text `path: value`), `changed` (`path: before → after`), `list` (`path:`, then its
    `added` and `removed` items, compared as sets)."""
    rows: list[tuple[str, str, bool]] = []
    for f in ch.fields:
        force = f.forces_replacement
        if ch.action == "create":
            rows.append(("set", f"{f.path}: {_value(f.after)}", False))
        elif isinstance(f.before, list) and isinstance(f.after, list):
            before = {_value(x) for x in f.before}
            after = {_value(x) for x in f.after}
            rows.append(("list", f"{f.path}:", force))
            rows += [("added", x, False) for x in sorted(after - before)]
            rows += [("removed", x, False) for x in sorted(before - after)]
        else:
            rows.append(("changed", f"{f.path}: {_value(f.before)} → {_value(f.after)}", force))
    return rows


def _field_lines(ch: Change) -> list[str]:
    lines = []
    for what, text, force in field_rows(ch):
        mark = " [magenta](forces replacement)[/]" if force else ""
        if what == "added":
            lines.append(f"        [green]+ {escape(text)}[/]")
        elif what == "removed":
            lines.append(f"        [red]- {escape(text)}[/]")
        else:
            lines.append(f"      {escape(text)}{mark}")
    return lines


def render_plan(plan: Plan, con: Console | None = None, verbose: bool = False) -> None:
    con = con or console()
    calls = sum(plan.api_calls.values())
    con.print(f"Plan for {', '.join(plan.enterprises) or 'no enterprise'} "
              f"(observed in {plan.observe_seconds:.2f} s with {calls} AWS API calls)")
    if plan.partial:
        con.print(f"[bold yellow]This plan is partial[/] ({escape(_selection(plan))}): {plan.left_out} other "
                  f"change{'s' * (plan.left_out != 1)} a full plan would make {'is' if plan.left_out == 1 else 'are'} "
                  "left out, and apply will not make them.")
    con.print()
    for ch in plan.changes:
        if ch.action == "no-op" and not verbose:
            continue
        style = STYLE[ch.action]
        aws = f" ({ch.aws_id})" if ch.aws_id and ch.action != "create" else ""
        ignored = f"; {ch.ignored} ignored difference{'s' * (ch.ignored != 1)}" if ch.ignored and verbose else ""
        if ch.needed_by:
            ignored += f"; not targeted: {ch.needed_by} needs it"
        con.print(f"  [{style}]{SYMBOLS[ch.action]:>3} {escape(ch.address)}[/]{escape(aws)}  "
                  f"[dim]# {escape(ch.reason)}{ignored}[/]")
        for line in _field_lines(ch):
            con.print(line)
        if ch.protected and ch.action in ("delete", "replace"):
            con.print("      [bold red]! protected (metadata.protect: true): apply refuses to "
                      f"{ch.action} it[/]")
        if ch.error:
            con.print(f"      [bold red]! {escape(ch.error)}[/]")
    render_warnings(plan, con)
    s = plan.summary()
    if plan.ignored:
        con.print(f"[dim]Ignored: {plan.ignored} live difference{'s' * (plan.ignored != 1)} on ignored fields "
                  f"(metadata.ignore, spec.ignore): not shown, never corrected"
                  f"{'' if verbose else '; --all lists them per object'}.[/]")
    if not plan.has_changes:
        con.print(f"No changes. {s['no-op']} objects up to date.")
        return
    if plan.tags_only:
        con.print()
        con.print(f"No changes. {s['no-op']} objects up to date, {s['adopt']} to adopt (tags only): the next "
                  "apply adds the ownership tags to these onboarded objects and changes nothing else.")
        return
    con.print()
    con.print(f"Plan: {s['create']} to create, {s['update']} to update, {s['replace']} to replace, "
              f"{s['delete']} to delete" + (f", {s['adopt']} to adopt" if s["adopt"] else "")
              + f". {s['no-op']} unchanged.")
    render_cost_hints(plan, con)


def _selection(plan: Plan) -> str:
    return " ".join([*(f"--target {t}" for t in plan.targets), *(f"--exclude {e}" for e in plan.excludes)])


def render_warnings(plan: Plan, con: Console) -> None:
    """Warnings never refuse a plan: shown above its summary, with where they come from."""
    if not plan.warnings:
        return
    con.print()
    for w in plan.warnings:
        where = w.get("address") or f"{w.get('file')}:{w.get('line')}"
        fix = f" (fix: {w['fix']})" if w.get("fix") else ""
        con.print(f"  [yellow]warning:[/] {escape(str(where))}: {escape(str(w['message']))}{escape(fix)}")
    con.print()


def render_cost_hints(plan: Plan, con: Console) -> None:
    """A footer: what the planned estate keeps paying for while idle (estimates from a dated table)."""
    if not plan.cost_hints:
        return
    from controller.pricing import note

    total = sum(h["usd_month"] for h in plan.cost_hints)
    con.print()
    con.print(f"[dim]Cost hints ({note()}): about {total:.2f} USD/month for resources that cost while idle:[/]")
    for h in plan.cost_hints:
        con.print(f"[dim]  {escape(h['id'])}: {escape(h['what'])}, ~{h['usd_month']:.2f} USD/month[/]")


def render_outcome(o: Outcome, con: Console) -> None:
    mark = {"done": "[green]✓[/]", "failed": "[red]✗[/]", "skipped": "[yellow]↷[/]"}[o.status]
    aws = f" ({o.aws_id})" if o.aws_id else ""
    con.print(f"  {mark} {escape(o.id)}{escape(aws)}: {escape(o.detail)} [dim]{o.seconds:.1f}s[/]")


class ApplyProgress:
    """What an apply shows while it runs: a line per finished object, as always; on a terminal also a
    progress bar below them (changes done / planned, failures so far, elapsed), the way rich does it.
    Without a terminal (CI logs, pipes) only the lines.

    Called once per finished step: a replacement is two (the old one deleted, the new one created), so
    it counts as finished at its second step, or at a failed or skipped first one."""

    def __init__(self, plan: Plan, con: Console):
        self.con = con
        self.steps = {c.id: 2 if c.action == "replace" else 1 for c in plan.changes if c.action != "no-op"}
        self.seen: dict[str, int] = {}
        self.finished: set[str] = set()
        self.failed: set[str] = set()
        self.lock = threading.Lock()
        self.bar: Progress | None = None
        if con.is_terminal:
            self.bar = Progress(TextColumn("Applying"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(), console=con)
            self.task = self.bar.add_task("apply", total=len(self.steps), failed=0)

    def __enter__(self) -> ApplyProgress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, o: Outcome) -> None:
        with self.lock:
            render_outcome(o, self.con)
            self.seen[o.id] = n = self.seen.get(o.id, 0) + 1
            if o.status == "failed":
                self.failed.add(o.id)
            if o.status != "done" or n >= self.steps.get(o.id, 1):
                self.finished.add(o.id)
            if self.bar is not None:
                self.bar.update(self.task, completed=len(self.finished & self.steps.keys()),
                                failed=len(self.failed))


def render_report(report: Report, con: Console | None = None) -> None:
    con = con or console()
    counts = report.counts()
    past = {"create": "created", "update": "updated", "replace": "replaced", "delete": "deleted", "adopt": "adopted"}
    done = ", ".join(f"{n} {past.get(a, a)}" for a, n in sorted(counts.items()))
    con.print()
    con.print(f"Apply complete in {report.seconds:.1f} s ({report.api_calls} AWS API calls): "
              f"{done or 'nothing done'}; {len(report.failed)} failed, {len(report.skipped)} skipped.")
    for o in report.failed:
        con.print(f"  [red]failed[/] {escape(o.id)}: {escape(o.detail)}")
    for o in report.skipped:
        con.print(f"  [yellow]skipped[/] {escape(o.id)}: {escape(o.detail)}")

"""`controller plan` and `controller apply`: load -> validate -> desired -> observe -> diff -> plan -> apply."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.commands import command, load_or_report, positive
from controller.engine.guard import DEFAULT_MAX_DELETES, DeleteLimitError, check_plan
from controller.errors import ConfigError, UsageError

if TYPE_CHECKING:  # the engine (boto3, ...) is imported when a command runs, not to parse arguments
    from controller.engine.apply import Report
    from controller.engine.plan import Plan
    from controller.spec.validate import Specs



def _target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", action="append", default=[], metavar="GLOB",
                   help="a partial plan: only the objects whose address matches (repeatable; e.g. "
                        "'acme/web/VirtualMachine/*'), and the creates they need")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="leave out the objects whose address matches, and what cannot go without them (repeatable)")


def _plan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--enterprise", help="plan only this enterprise")
    _target_args(p)
    p.add_argument("--out", help="save the plan to FILE (apply it later with `controller apply FILE`)")
    p.add_argument("--format", choices=("text", "json", "markdown"), default=None,
                   help="text (default), json (docs/plan-format.md) or markdown (a pull-request comment, docs/ci.md)")
    p.add_argument("--json", action="store_true", help="the same as --format json")
    p.add_argument("--all", action="store_true", help="also list objects that are up to date")
    p.add_argument("--parallelism", type=positive, default=10, help="parallel AWS calls (default 10)")


@command("plan", "show what apply would change in AWS, and why")(_plan_args)
def cmd_plan(args: argparse.Namespace) -> int:
    from controller.render.human import render_plan

    fmt = plan_format(args)  # options that disagree are a usage error, before anything else
    if args.out:  # before any AWS call: a plan that cannot be saved is not made
        from controller.engine.plan import check_out_path

        check_out_path(Path(args.out))
    specs = load_or_report(args.specs, args.allow_empty)
    if specs is None:
        return 1
    from controller.engine.plan import make_plan

    planned = make_plan(specs, args.enterprise, parallelism=args.parallelism, targets=args.target,
                        excludes=args.exclude)
    plan = planned.plan
    if args.out:
        plan.save(Path(args.out))
    if fmt == "json":
        print(json.dumps(plan.to_json(), indent=2, default=str))
    elif fmt == "markdown":
        from controller.render.markdown import render_markdown

        sys.stdout.write(render_markdown(plan))
    else:
        render_plan(plan, verbose=args.all)
        if args.out:
            print(f"\nSaved the plan to {args.out}: apply exactly it with `controller apply {args.out}`.")
    if any(c.error for c in plan.changes):
        return 1
    return 2 if plan.has_changes and not plan.tags_only else 0


def plan_format(args: argparse.Namespace) -> str:
    """--format, with --json as its older spelling; both at once must agree."""
    if args.json and args.format not in (None, "json"):
        raise UsageError(f"--json and --format {args.format} disagree: pass one of them")
    return "json" if args.json else (args.format or "text")


def _apply_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("plan_file", nargs="?", metavar="FILE", help="a plan saved with `plan --out`")
    p.add_argument("--enterprise", help="apply only this enterprise")
    _target_args(p)
    p.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    p.add_argument("--parallelism", type=positive, default=10, help="objects changed at once (default 10)")
    p.add_argument("--max-deletes", type=int, default=DEFAULT_MAX_DELETES,
                   help=f"refuse a plan that deletes or replaces more objects than this (default {DEFAULT_MAX_DELETES})")
    p.add_argument("--allow-deletes", action="store_true", help="lift the --max-deletes guard")
    p.add_argument("--json", action="store_true", help="print the apply report as JSON")
    # leases shared with `controller daemon` (controller/daemon/lease.py, docs/daemon.md)
    p.add_argument("--lease-table", default=os.environ.get("CONTROLLER_LEASE_TABLE"),
                   help="hold each enterprise's lease in this DynamoDB table while applying, as the daemon "
                        "does; refuse if another process holds it (env CONTROLLER_LEASE_TABLE)")
    p.add_argument("--lease-region", help="region of the lease table (default AWS_DEFAULT_REGION)")


@command("apply", "make AWS match the specs (a fresh plan, or exactly a saved one)")(_apply_args)
def cmd_apply(args: argparse.Namespace) -> int:
    from controller.engine.plan import Plan
    from controller.render.human import console

    saved = Plan.load(Path(args.plan_file)) if args.plan_file else None  # a bad file fails before anything
    specs = load_or_report(args.specs, args.allow_empty)
    if specs is None:
        return 1
    out = console()
    only = args.enterprise
    if saved is not None and only is None and len(saved.enterprises) == 1:
        only = saved.enterprises[0]
    if args.lease_table:  # never act on an enterprise a daemon (or another apply) is acting on
        from controller.daemon.lease import cli_leases
        from controller.engine.observe import select_enterprises

        with cli_leases(args.lease_table, select_enterprises(specs.catalog, only), region=args.lease_region):
            return _apply(args, specs, saved, only, out)
    return _apply(args, specs, saved, only, out)


def _apply(args: argparse.Namespace, specs: Specs, saved: Plan | None, only: str | None, out: Any) -> int:
    from controller.engine.apply import Applier
    from controller.engine.plan import make_plan, verify_saved
    from controller.render.human import ApplyProgress, render_plan, render_report

    if saved is not None and (args.target or args.exclude):
        raise UsageError("a saved plan keeps the targets it was made with: apply FILE takes no --target or --exclude")
    targets, excludes = (saved.targets, saved.excludes) if saved is not None else (args.target, args.exclude)
    planned = make_plan(specs, only, parallelism=args.parallelism, targets=targets, excludes=excludes)
    plan = planned.plan  # always the fresh plan: a saved one is only compared with it, never acted on
    if saved is not None:
        verify_saved(saved, planned)
    elif not args.json:
        render_plan(plan, out)
    try:
        check_plan(plan, args.max_deletes, args.allow_deletes)
    except DeleteLimitError as e:
        raise ConfigError(f"{e}. Check the plan, then pass --allow-deletes (or a higher --max-deletes)") from None
    if not plan.has_changes:
        if args.json:
            print(json.dumps({"planned": 0, "outcomes": [], "summary": {}, "failed": 0, "skipped": 0}))
        return 0
    if not args.auto_approve and saved is None:
        if not sys.stdin.isatty():
            raise ConfigError("apply needs confirmation: run it in a terminal, or pass --auto-approve")
        answer = input("\nApply these changes? Only 'yes' is accepted: ")
        if answer.strip() != "yes":
            print("Apply cancelled; nothing was changed.")
            return 1
    if args.json:
        report = Applier(planned.session, planned.graph, planned.observed, args.parallelism).apply(plan.changes)
    else:
        out.print("\nApplying:")
        with ApplyProgress(plan, out) as progress:
            applier = Applier(planned.session, planned.graph, planned.observed, args.parallelism, on_event=progress)
            report = applier.apply(plan.changes)
    if args.json:
        print(json.dumps(_report_json(report, len(plan.actionable)), indent=2))
    else:
        render_report(report, out)
    return 1 if report.failed else 0


def _report_json(report: Report, planned: int) -> dict[str, object]:
    return {
        "planned": planned,
        "seconds": round(report.seconds, 3),
        "api_calls": report.api_calls,
        "summary": report.counts(),
        "failed": len(report.failed),
        "skipped": len(report.skipped),
        "outcomes": [o.__dict__ for o in report.outcomes],
    }

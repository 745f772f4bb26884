"""`controller onboard` and `controller sync`: read what exists in AWS, write the YAML that describes it.

Neither command changes anything in AWS: they only call Describe*/List*/Get* operations.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from controller.commands import command, load_or_report
from controller.errors import ConfigError

OWN_HEADER = "# Written by `controller onboard`"


def open_enterprise(specs_dir: Path, enterprise: str, purpose: str = "onboarding") -> tuple[Any, Any, Any]:
    """(specs, session, enterprise resource): the specs must load, and name the enterprise."""
    from controller.engine.observe import Session, select_enterprises

    specs = load_or_report(specs_dir)
    if specs is None:
        raise ConfigError(f"the specs must validate before {purpose} (they hold the enterprise's credentials)")
    names = select_enterprises(specs.catalog, enterprise)
    session = Session.open(specs.catalog, names)
    return specs, session, session.enterprises[enterprise]


def _onboard_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--enterprise", required=True, help="the enterprise (its Enterprise document has the credentials)")
    p.add_argument("--region", required=True, help="the region of the VPC")
    p.add_argument("--vpc", required=True, help="a VPC id, or `all` (every VPC of the region but the default one)")
    p.add_argument("--out", help="folder to write to (default: the --specs folder)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")


@command("onboard", "write the YAML of existing VPCs and their resources (reads AWS, changes nothing)")(_onboard_args)
def cmd_onboard(args: argparse.Namespace) -> int:
    from controller.onboard.read import read_estate
    from controller.onboard.write import onboard_estate, render_file

    specs, session, ent = open_enterprise(Path(args.specs), args.enterprise)
    if args.region not in ent.spec.regions:
        raise ConfigError(f"region {args.region} is not one of {args.enterprise}'s regions "
                          f"({', '.join(ent.spec.regions)}): add it to the Enterprise document first")
    out = Path(args.out or args.specs)
    ctx = session.contexts[args.enterprise]
    est = read_estate(ctx.client("ec2", args.region), args.region, args.vpc, rds=ctx.client("rds", args.region),
                      route53=ctx.client("route53", args.region))
    if args.vpc != "all" and not est.vpcs:
        raise ConfigError(f"VPC {args.vpc} is not in {args.region}, is the default VPC, or is already managed "
                          "(it carries the controller's tags)")
    catalog = specs.catalog

    def other_files(kind: str, vdc_level: bool) -> set[str]:
        """Names already used by documents that onboarding will not rewrite."""
        return {r.name for r in catalog.of_kind(kind) if r.enterprise == args.enterprise
                and (r.metadata.vdc is not None) == vdc_level
                and not _ours(Path(r.file))}

    taken_region = {k: other_files(k, False) for k in ("Volume", "PublicIp", "User")}
    result = onboard_estate(est, args.enterprise, other_files("VirtualDatacenter", False), taken_region)
    written = []
    for rel, docs in sorted(result.files.items()):
        path = out / rel
        if path.exists() and not _ours(path):
            raise ConfigError(f"{path} exists and was not written by `controller onboard`: move it, or pass --out")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_file(docs, f"{args.region}, enterprise {args.enterprise}"))
        written.append(str(path))
    calls = session.counter.total
    if args.json:
        print(json.dumps({"files": written, "documents": dict(result.counts), "warnings": result.warnings,
                          "api_calls": calls}, indent=2))
        return 0
    for w in written:
        print(f"wrote {w}")
    print("onboarded: " + (", ".join(f"{n} {k}" for k, n in sorted(result.counts.items())) or "nothing")
          + f" ({calls} AWS API calls)")
    for w in result.warnings:
        print(f"note: {w}", file=sys.stderr)
    print("next: `controller validate`, then `controller plan` (only adoptions, tags only), then "
          "`controller apply` to add the ownership tags.")
    return 0


def _ours(path: Path) -> bool:
    try:
        with path.open() as f:
            return f.readline().startswith(OWN_HEADER)
    except OSError:
        return False


def _sync_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--enterprise", required=True, help="the enterprise to synchronize")
    p.add_argument("--write", action="store_true", help="update and add YAML so that the next plan shows no changes")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")


@command("sync", "find Elastic IPs, volumes and IPs changed outside the controller (reads AWS, changes nothing)"
         )(_sync_args)
def cmd_sync(args: argparse.Namespace) -> int:
    from controller.engine.plan import make_plan
    from controller.onboard.sync import apply_edits, find_changes

    specs, session, _ = open_enterprise(Path(args.specs), args.enterprise)
    planned = make_plan(specs, args.enterprise, session=session)
    resources = specs.catalog.resources
    findings, edits = find_changes(planned, resources, args.enterprise)
    written = apply_edits(edits, resources, Path(args.specs), args.enterprise) if args.write else []
    calls = session.counter.snapshot()
    if args.json:
        print(json.dumps({"findings": [f.__dict__ for f in findings], "written": written,
                          "api_calls": {"total": sum(calls.values()), "by_operation": calls}}, indent=2))
        return 0
    from rich.table import Table

    from controller.pricing import note
    from controller.render.human import console

    con = console()
    if not findings:
        con.print(f"In sync: nothing changed outside the controller ({sum(calls.values())} AWS API calls).")
        return 0
    t = Table(title=f"Changed outside the controller: {args.enterprise}")
    for col in ("what", "AWS id", "detail", "document", "--write", "USD/month"):
        t.add_column(col)
    for f in findings:
        t.add_row(f.what, f.aws_id, f.detail, f.address, f.fix, "" if f.cost is None else f"{f.cost:.2f}")
    con.print(t)
    costs = [f.cost for f in findings if f.cost]
    if costs:
        con.print(f"Idle resources cost about {sum(costs):.2f} USD/month ({note()}).")
    for w in written:
        con.print(f"wrote {w}")
    if not args.write:
        con.print("Run with --write to update the YAML (AWS is never changed by sync).")
    return 0

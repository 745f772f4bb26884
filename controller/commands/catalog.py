"""`controller catalog hardware` and `controller catalog templates`: what AWS offers an enterprise in
a region (instance types and their zones, machine images). Read-only: Describe* calls only.

`hardware --write` stores the region's hardware catalogue in the spec tree (validate then uses it);
`templates --write DIR` writes Template documents. See docs/catalog.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from controller.commands import command
from controller.errors import ConfigError


def _common(p: argparse.ArgumentParser) -> None:
    # --specs again below the sub-command (SUPPRESS: an absent one keeps the value given before it)
    p.add_argument("--specs", default=argparse.SUPPRESS, help="spec directory (default: specs/)")
    p.add_argument("--enterprise", required=True, help="the enterprise (its Enterprise document has the credentials)")
    p.add_argument("--region", required=True, help="one of the enterprise's regions")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def _catalog_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", required=True, metavar="hardware|templates")
    hw = sub.add_parser("hardware", help="the region's hardware profiles (instance types) and the zones offering them")
    _common(hw)
    hw.add_argument("--write", action="store_true",
                    help="store the whole catalogue in the spec tree (catalog/hardware-REGION.json): validate uses it")
    hw.add_argument("--family", help="only this family (t3) or glob (m*, c7*.large)")
    hw.add_argument("--min-vcpus", type=int, default=0, help="at least this many vCPUs")
    hw.add_argument("--min-memory", type=float, default=0, metavar="GIB", help="at least this much memory (GiB)")
    hw.add_argument("--current-only", action="store_true", help="only profiles of the current generation")
    hw.add_argument("--zone", help="only profiles offered in this availability zone")
    hw.set_defaults(catalog=_hardware)
    tp = sub.add_parser("templates", help="machine images (AMIs) for the template catalogue")
    _common(tp)
    tp.add_argument("--owner", default="amazon", help="amazon (default), self, or an AWS account id")
    tp.add_argument("--name", help="image name glob, matched by AWS (al2023-ami-*, *ubuntu*)")
    tp.add_argument("--arch", choices=("x86_64", "arm64"), help="only this architecture")
    tp.add_argument("--latest", action="store_true", help="only the newest image of each name family")
    tp.add_argument("--write", metavar="DIR", help="write a Template document per image into DIR")
    tp.set_defaults(catalog=_templates)


@command("catalog", "what AWS offers in a region: hardware profiles and VM templates (reads AWS, changes nothing)"
         )(_catalog_args)
def cmd_catalog(args: argparse.Namespace) -> int:
    specs, session, ent = _open(Path(args.specs), args.enterprise)
    if args.region not in ent.spec.regions:
        raise ConfigError(f"region {args.region} is not one of {args.enterprise}'s regions "
                          f"({', '.join(ent.spec.regions)}): add it to the Enterprise document first")
    ec2 = session.contexts[args.enterprise].client("ec2", args.region)
    return int(args.catalog(args, specs, session, ent, ec2))


def _open(specs_dir: Path, enterprise: str) -> tuple[Any, Any, Any]:
    """(specs, session, enterprise) like onboard's open_enterprise, but the rest of the tree may be invalid:
    refreshing the catalogue is how a user fixes an error that an old catalogue causes. Only the
    Enterprise document itself must be valid (it holds the credentials)."""
    from controller.commands import print_diagnostics
    from controller.engine.observe import Session, select_enterprises
    from controller.spec.catalog import Catalog
    from controller.spec.diagnostics import SpecError
    from controller.spec.loader import load_tree
    from controller.spec.validate import Specs, load_specs, parse_documents

    try:
        specs = load_specs(specs_dir)
    except SpecError as e:
        resources, _ = parse_documents(load_tree(specs_dir)[0])
        ents = [r for r in resources if r.kind == "Enterprise" and r.name == enterprise]
        if not ents:  # it did not parse (or is not there): its own errors say why
            print_diagnostics(e.diagnostics)
            raise ConfigError(f"enterprise {enterprise!r} needs a valid Enterprise document (it holds the "
                              "credentials)") from None
        print(f"note: the specs have {sum(d.severity == 'error' for d in e.diagnostics)} error(s) "
              "(`controller validate`); reading the catalogue with the Enterprise document as written",
              file=sys.stderr)
        specs = Specs(catalog=Catalog(ents))
    names = select_enterprises(specs.catalog, enterprise)
    session = Session.open(specs.catalog, names)
    return specs, session, session.enterprises[enterprise]


def _hardware(args: argparse.Namespace, specs: Any, session: Any, ent: Any, ec2: Any) -> int:
    import datetime as dt

    from controller.offerings.hardware import Filter, fetch_profiles, profile_json
    from controller.spec.hardware import catalogue_path, render_catalogue

    profiles = fetch_profiles(ec2, args.region)
    written = None
    if args.write:
        path = catalogue_path(Path(args.specs), args.region)
        path.parent.mkdir(parents=True, exist_ok=True)
        fetched = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        path.write_text(render_catalogue(args.region, ent.spec.provider, fetched, profiles))
        written = str(path)
    shown = Filter(args.family, args.min_vcpus, args.min_memory, args.current_only, args.zone)(profiles)
    calls = session.counter.snapshot()
    if args.json:
        print(json.dumps({"enterprise": args.enterprise, "region": args.region, "partition": ent.spec.provider,
                          "total": len(profiles), "shown": len(shown), "written": written,
                          "api_calls": {"total": sum(calls.values()), "by_operation": calls},
                          "profiles": [profile_json(p) for p in shown]}, indent=2))
        return 0
    from rich.table import Table

    from controller.render.human import console

    con = console()
    if not con.is_terminal:  # a pipe or a file: one line per profile, whatever the width
        con.width = max(con.width, 160)
    t = Table(title=f"Hardware profiles of {args.region} ({args.enterprise}): {len(shown)} of {len(profiles)}")
    for col, just in (("profile", "left"), ("vCPUs", "right"), ("memory GiB", "right"), ("NICs", "right"),
                      ("IPv4/NIC", "right"), ("current", "left"), ("zones", "left")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for p in shown:
        zones = " ".join(sorted(p.zones or ())) or "none"
        current = {True: "yes", False: "no (previous)", None: "?"}[p.current]
        t.add_row(p.name, str(p.vcpus), f"{p.memory_mib / 1024:g}", str(p.max_nics), str(p.ipv4_per_nic), current,
                  zones)
    con.print(t)
    con.print(f"{sum(calls.values())} AWS API calls")
    if written:
        con.print(f"wrote {written} ({len(profiles)} profiles): `controller validate` now uses it for "
                  f"{args.region}, and checks the zones that offer each profile")
    return 0


def _templates(args: argparse.Namespace, specs: Any, session: Any, ent: Any, ec2: Any) -> int:
    from controller.offerings.images import OWN_HEADER, fetch_images, latest, render_template, template_names

    images = fetch_images(ec2, args.region, args.owner, args.name, args.arch)
    if args.latest:
        images = latest(images)
    names = template_names(images, family=args.latest)
    written: list[str] = []
    if args.write:
        out = Path(args.write)
        targets = {im.ami: out / f"{names[im.ami]}.yaml" for im in images}
        mine = {p.resolve() for p in targets.values()}
        for r in specs.catalog.of_kind("Template"):  # a name taken by a document this run does not rewrite
            if r.enterprise == args.enterprise and r.name in names.values() and Path(r.file).resolve() not in mine:
                raise ConfigError(f"Template {r.name!r} already exists in {r.file}: rename it, or narrow --name; "
                                  "nothing was written")
        for p in targets.values():
            if p.exists() and not p.read_text().startswith(OWN_HEADER):
                raise ConfigError(f"{p} exists and was not written by `controller catalog templates`: move it, "
                                  "or pass another --write DIR; nothing was written")
        out.mkdir(parents=True, exist_ok=True)
        for im in images:
            targets[im.ami].write_text(render_template(im, names[im.ami], args.enterprise, args.region))
            written.append(str(targets[im.ami]))
    calls = session.counter.snapshot()
    rows = []
    for im in images:
        inferred = im.os_user()
        rows.append({"template": names[im.ami], "ami": im.ami, "name": im.name, "owner": im.owner,
                     "architecture": im.architecture, "created": im.created, "deprecationTime": im.deprecation_time,
                     "os": inferred[0] if inferred else None, "username": inferred[1] if inferred else None})
    if args.json:
        print(json.dumps({"enterprise": args.enterprise, "region": args.region, "owner": args.owner,
                          "images": rows, "written": written,
                          "api_calls": {"total": sum(calls.values()), "by_operation": calls}}, indent=2))
        return 0
    from rich.table import Table

    from controller.render.human import console

    con = console()
    t = Table(title=f"Images of {args.owner} in {args.region}" + (" (newest of each family)" if args.latest else "")
              + f": {len(rows)}")
    for col in ("ami", "name", "arch", "os", "username", "created", "deprecated"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["ami"], r["name"], r["architecture"], r["os"] or "?", r["username"] or "? (fill in)",
                  r["created"], r["deprecationTime"] or "")
    con.print(t)
    for w in written:
        con.print(f"wrote {w}")
    if written:
        unknown = sum(1 for r in rows if r["os"] is None)
        con.print(f"wrote {len(written)} Template documents" + (f"; {unknown} need os and username filled in "
                                                                 "(see the comment in each)" if unknown else ""))
    if not rows:
        print("no image matches: check --owner, --name and --arch", file=sys.stderr)
    return 0

"""`controller validate` and `controller schemas`: no AWS call."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from controller.commands import command, print_diagnostics


def _validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the errors as a JSON list")


@command("validate", "check the specs: schema and rules, no AWS call")(_validate_args)
def cmd_validate(args: argparse.Namespace) -> int:
    from controller.spec.validate import validate_tree

    specs, diags = validate_tree(Path(args.specs), args.allow_empty)
    if diags:
        print_diagnostics(diags, args.json)
        return 1
    assert specs is not None
    if args.json:  # the warnings (an empty list: nothing to say)
        print_diagnostics(specs.warnings, as_json=True)
        return 0
    print(specs.summary())
    if specs.warnings:  # warnings never change the exit code
        print_diagnostics(specs.warnings)
    print(specs.hardware_note(), file=sys.stderr)
    return 0


def _schemas_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="schemas", help="folder to write to (default: schemas/)")


@command("schemas", "write the JSON Schema of every kind")(_schemas_args)
def cmd_schemas(args: argparse.Namespace) -> int:
    from controller.spec.schema import write_schemas

    for p in write_schemas(Path(args.out)):
        print(f"wrote {p}")
    return 0

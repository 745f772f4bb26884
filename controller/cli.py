"""Command line: parse arguments, run the engine, render, return the exit code.

Exit codes follow SPEC.md: validate 0/1; plan 0 (no changes) / 2 (changes) / 1 (error); apply 0/1.
No command prints a traceback for bad input: errors name file, line and field, or the resource
address and the AWS operation.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from controller.spec.diagnostics import Diagnostic

Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(name: str, help: str) -> Callable[[Callable[[argparse.ArgumentParser], None]], Callable[[Command], Command]]:
    """Register a sub-command: ``@command(name, help)(add_arguments)(run)``."""

    def with_args(add: Callable[[argparse.ArgumentParser], None]) -> Callable[[Command], Command]:
        def register(fn: Command) -> Command:
            COMMANDS[name] = (fn, add, help)
            return fn

        return register

    return with_args


def print_diagnostics(diags: Sequence[Diagnostic], as_json: bool = False) -> None:
    if as_json:
        print(json.dumps([d.to_json() for d in diags], indent=2))
        return
    for d in diags:
        print(d.render(), file=sys.stderr)
    errors = sum(d.severity == "error" for d in diags)
    files = len({d.file for d in diags})
    print(f"{errors} error(s) in {files} file(s)", file=sys.stderr)


# ------------------------------------------------------------------------------------------------
# validate / schemas


def _validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the errors as a JSON list")


@command("validate", "check the specs: schema and rules, no AWS call")(_validate_args)
def cmd_validate(args: argparse.Namespace) -> int:
    from controller.spec.validate import validate_tree

    specs, diags = validate_tree(Path(args.specs))
    if diags:
        print_diagnostics(diags, args.json)
        return 1
    assert specs is not None
    if args.json:
        print("[]")
    else:
        print(specs.summary())
    return 0


def _schemas_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="schemas", help="folder to write to (default: schemas/)")


@command("schemas", "write the JSON Schema of every kind")(_schemas_args)
def cmd_schemas(args: argparse.Namespace) -> int:
    from controller.spec.schema import write_schemas

    for p in write_schemas(Path(args.out)):
        print(f"wrote {p}")
    return 0


# ------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    _load_command_modules()
    parser = argparse.ArgumentParser(prog="controller", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--specs", default="specs", help="spec directory (default: specs/)")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logs on stderr")
    for name, (fn, add, help) in COMMANDS.items():
        p = sub.add_parser(name, help=help, description=help, parents=[common])
        add(p)
        p.set_defaults(func=fn)
    return parser


def _version() -> str:
    from controller import __version__

    return f"controller {__version__}"


def _load_command_modules() -> None:
    """Commands defined outside this module register themselves on import."""
    import importlib

    for mod in ("controller.engine.commands", "controller.localaws", "controller.billing.cli",
                "controller.onboard.cli", "controller.daemon.cli"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name is None or not mod.startswith(e.name):
                raise


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "verbose", False):  # otherwise logging sets itself up when first used
        from controller.logs import configure

        configure(verbose=True)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # the last guard: an unexpected error is one line, not a traceback
        from controller.errors import ControllerError

        if isinstance(e, ControllerError):
            print(f"error: {e}", file=sys.stderr)
            return 1
        if getattr(args, "verbose", False):
            raise
        print(f"internal error: {type(e).__name__}: {e} (run with -v for the traceback)", file=sys.stderr)
        return 1

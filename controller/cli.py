"""The `controller` entry point: build the parser from controller.commands, run one command.

Exit codes follow SPEC.md: validate 0/1; plan 0 (no changes) / 2 (changes) / 1 (error); apply 0/1.
No command prints a traceback for bad input: errors name file, line and field, or the resource
address and the AWS operation.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

DESCRIPTION = "controller: declarative AWS virtual datacenters from YAML in git (validate, plan, apply)."


def build_parser() -> argparse.ArgumentParser:
    from controller.commands import load_all

    parser = argparse.ArgumentParser(prog="controller", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--specs", default="specs", help="spec directory (default: specs/)")
    common.add_argument("--allow-empty", action="store_true",
                        help="a spec directory with no document is not an error (it plans nothing)")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logs on stderr")
    for name, (fn, add, help) in load_all().items():
        p = sub.add_parser(name, help=help, description=help, parents=[common])
        add(p)
        p.set_defaults(func=fn)
    return parser


def _version() -> str:
    from controller import __version__

    return f"controller {__version__}"


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
